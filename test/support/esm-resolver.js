// kubernetes-models and @kubernetes-models/* publish only an "import" export
// condition. Jest resolves with CommonJS conditions, so for those packages we
// add "import" (and jest.config.js transforms their ESM into CommonJS).
const ESM_ONLY = /^(kubernetes-models|@kubernetes-models\/[^/]+)(\/|$)/;

module.exports = (request, options) => {
  if (ESM_ONLY.test(request)) {
    return options.defaultResolver(request, {
      ...options,
      conditions: [...(options.conditions ?? ["require", "default"]), "import"],
    });
  }
  return options.defaultResolver(request, options);
};
