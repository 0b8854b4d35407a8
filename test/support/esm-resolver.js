// kubernetes-models and @kubernetes-models/* publish only an "import" export
// condition. Jest resolves with CommonJS conditions, so for those packages we
// add "import"; Node 24 with --experimental-vm-modules then require()s the ESM.
const ESM_ONLY = /^(kubernetes-models|@kubernetes-models\/[^/]+)(\/|$)/;
// Sources import siblings as "./x.ts" (so Node 24 runs them directly); ts-jest
// rewrites that to "./x.js" (rewriteRelativeImportExtensions), which only
// exists as x.ts: fall back to it.
const RELATIVE_JS = /^\.{1,2}\/.*\.js$/;

module.exports = (request, options) => {
  if (ESM_ONLY.test(request)) {
    return options.defaultResolver(request, {
      ...options,
      conditions: [...(options.conditions ?? ["require", "default"]), "import"],
    });
  }
  try {
    return options.defaultResolver(request, options);
  } catch (error) {
    if (!RELATIVE_JS.test(request)) throw error;
    return options.defaultResolver(request.replace(/\.js$/, ".ts"), options);
  }
};
