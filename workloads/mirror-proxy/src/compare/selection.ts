/**
 * What the running proxy takes from validated `spec.compare` settings (settings.ts): which
 * routes are compared, and the diff options. No zod here: the serving process loads it.
 */
import type { CompareOptions } from "./diff.ts";
import type { CompareSettings } from "./settings.ts";

export const ALL_ROUTES = "*";

/** A predicate over route ids (`<VirtualService>/<name or index>`, the metrics label). */
export function compileRouteSelector(routes: readonly string[]): (routeId: string) => boolean {
  if (routes.includes(ALL_ROUTES)) return () => true;
  const wanted = new Set(routes);
  return (routeId) => wanted.has(routeId) || wanted.has(routeId.slice(routeId.indexOf("/") + 1));
}

/** The diff options these settings ask for (compile them once with `compileCompareOptions`). */
export function compareOptionsFrom(settings: CompareSettings): CompareOptions {
  return { headers: settings.headers, ignoreHeaders: settings.ignoreHeaders, ignorePaths: settings.ignorePaths };
}
