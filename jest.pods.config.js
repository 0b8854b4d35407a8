/** `npm run test:pods`: the pod-level tests (podman), apart from `npm test` because they take minutes. */
const base = require("./jest.config.js");
module.exports = {
  ...base,
  roots: ["<rootDir>/test/pods"],
  testPathIgnorePatterns: ["/node_modules/"],
  testTimeout: 120000,
  // One podman at a time: the suites share the machine's podman.
  maxWorkers: 1,
};
