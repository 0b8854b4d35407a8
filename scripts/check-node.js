// Fails early, with the fix, when the Node running npm scripts is too old.
// npm puts node_modules/.bin first on PATH, so the `node` package (Node 24) wins.
const major = Number(process.versions.node.split(".")[0]);
if (major < 22) {
  console.error(
    `traffic-mirroring needs Node >= 22 (Node 24 LTS recommended); this is ${process.version} at ${process.execPath}.\n` +
      "Run `npm ci` first: it installs Node 24 from the npm package `node` into node_modules/.bin.",
  );
  process.exit(1);
}
