/** Answers for the comparison tests. */
import type { Answer } from "../../../workloads/mirror-proxy/src/compare/diff.ts";

export function jsonAnswer(value: unknown, headers: Record<string, string> = {}, status = 200): Answer {
  return { status, headers: { "content-type": "application/json; charset=utf-8", ...headers }, body: Buffer.from(JSON.stringify(value)) };
}

export function textAnswer(text: string, headers: Record<string, string> = {}, status = 200): Answer {
  return { status, headers: { "content-type": "text/plain", ...headers }, body: Buffer.from(text) };
}

export const movies = (version: string, overrides: (m: Record<string, unknown>, i: number) => void = () => undefined) =>
  ["Alien", "Heat", "Ran"].map((title, i) => {
    const m: Record<string, unknown> = { id: i + 1, title, rating: 8, version, cast: ["a", "b"] };
    overrides(m, i);
    return m;
  });
