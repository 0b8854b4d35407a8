// Shares of the mirror proxy's CPU by part, from V8 CPU profiles:
//
//   node bench/profile-shares.ts bench/results/profiles/          # every .cpuprofile in a directory
//   node bench/profile-shares.ts a.cpuprofile b.cpuprofile
//
// Prints one markdown table (a column per profile). `npm run bench -- --profile DIR`
// writes one profile per proxy case and prints the same table. See profile.ts for how
// a sample is attributed.
import fs from "node:fs";
import path from "node:path";
import { profileShares, renderShares, type CpuProfile } from "./profile.ts";

export function sharesOfFiles(files: string[]): string {
  return renderShares(
    files.map((f) => ({ name: path.basename(f).replace(/\.cpuprofile$/, ""), shares: profileShares(JSON.parse(fs.readFileSync(f, "utf8")) as CpuProfile) })),
  );
}

export function profileFiles(args: string[]): string[] {
  return args.flatMap((a) =>
    fs.statSync(a).isDirectory()
      ? fs
          .readdirSync(a)
          .filter((f) => f.endsWith(".cpuprofile"))
          .sort()
          .map((f) => path.join(a, f))
      : [a],
  );
}

if (path.basename(process.argv[1] ?? "") === "profile-shares.ts") {
  const files = profileFiles(process.argv.slice(2));
  if (files.length === 0) {
    console.error("usage: node bench/profile-shares.ts FILE.cpuprofile|DIR ...");
    process.exit(2);
  }
  console.log(sharesOfFiles(files));
}
