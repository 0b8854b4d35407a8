/**
 * Renders the Go-template placeholders of the manifests cut out of istio/istio's integration
 * tests (tests/integration/pilot/common/routing.go), with the values that test harness uses:
 * the destination service is `b` (`c`, `d` for further services), the absurd header of
 * "weird header matches", the splits of "shifting-%d", the mirror template's variables.
 */
export const ABSURD_HEADER = "a!#$%&'*+-.^_`|~z";

export interface TemplateVars {
  split?: number[];
  Name?: string;
  MirrorHost?: string;
  Percent?: number;
  Absent?: boolean;
}

export function render(text: string, vars: TemplateVars = {}): string {
  let out = text
    .replaceAll("{{ .dstSvc }}", "b")
    .replaceAll("{{ (index .dst 0).Config.Service }}", "b")
    .replaceAll("{{ ( index .dstSvcs 0) }}", "b")
    .replaceAll("{{.header|quote}}", JSON.stringify(ABSURD_HEADER));
  if (vars.split) {
    const svcs = ["b", "c", "d"];
    const body = vars.split.map((w, i) => `\n    - destination:\n        host: ${svcs[i]}\n      weight: ${w}`).join("");
    out = out.replace(/\{\{- range \$idx, \$svc := \.dstSvcs \}\}[\s\S]*?\{\{- end \}\}/, body).replace("{{ $split := .split }}\n", "");
  }
  if (vars.Name !== undefined) {
    out = out.replaceAll("{{.Name}}", vars.Name).replaceAll("{{.MirrorHost}}", vars.MirrorHost ?? "c");
    out = out.replace(/\{\{- if not \.Absent \}\}([\s\S]*?)\{\{- end \}\}/, vars.Absent ? "" : "$1").replaceAll("{{.Percent}}", String(vars.Percent ?? 100));
  }
  if (out.includes("{{")) throw new Error(`unrendered template placeholder in:\n${out}`);
  return out;
}
