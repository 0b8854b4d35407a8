// `npm run traffic -- --app movies --count 50 [--cookie user=test] [--url URL]`:
// the tutorials' requests against the stack's URL, with a progress bar and a
// summary of status codes and latency percentiles.
import { demoApp } from "../../components/apps.ts";
import { curlCommand } from "../../components/ingress.ts";
import { loadStackConfig } from "../../components/stackFiles.ts";
import { parseTrafficArgs, type TrafficOptions } from "./cli.ts";
import { progressReporter, type ProgressStream } from "./progress.ts";
import { defaultStateFile } from "./state.ts";
import { formatSummary, requestFor, resolveTargetUrl, sendRequests, summarize, type TargetSources } from "./traffic.ts";

export async function runTraffic(
  options: TrafficOptions,
  projectDir: string,
  out: ProgressStream,
  sources: Partial<TargetSources> = {},
): Promise<number> {
  const say = (line: string) => void out.write(line + "\n");
  const target = await resolveTargetUrl({
    flag: options.url,
    env: process.env,
    stack: options.stack,
    projectDir,
    stateFile: defaultStateFile(projectDir),
    ...sources,
  });
  const app = demoApp(options.app);
  const settings = loadStackConfig(projectDir, options.stack).config.apps[app.name];
  const spec = requestFor(target.url, app, settings, { cookie: options.cookie, host: options.host, timeoutMs: options.timeout });
  say(`target ${target.url} (from ${target.source})`);
  say(`sending ${options.count} × ${curlCommand(target.url, app, { ...settings, hosts: spec.host ? [spec.host] : ["*"] }, options.cookie)}  (${options.concurrency} at a time)`);
  const progress = progressReporter(app.name, options.count, out);
  const started = performance.now();
  const results = await sendRequests(spec, options.count, options.concurrency, (done) => progress.tick(done));
  progress.finish();
  const summary = summarize(results);
  for (const line of formatSummary(summary, (performance.now() - started) / 1000)) say(line);
  if (summary.failures) say(`${summary.failures} of ${summary.count} requests failed (no answer or HTTP 5xx)`);
  return summary.failures ? 1 : 0;
}

export async function main(args: string[], projectDir: string): Promise<number> {
  const options = parseTrafficArgs(args, (text) => process.stdout.write(text));
  try {
    return await runTraffic(options, projectDir, process.stdout);
  } catch (error) {
    process.stderr.write(`npm run traffic: ${(error as Error).message}\n`);
    return 1;
  }
}

