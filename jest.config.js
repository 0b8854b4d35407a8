/** Jest runs the TypeScript sources directly; type checking is `npm run typecheck`. */
module.exports = {
  testEnvironment: "node",
  roots: ["<rootDir>/test"],
  testMatch: ["**/*.test.ts"],
  // test/pods runs on podman and takes minutes: `npm run test:pods` (jest.pods.config.js).
  testPathIgnorePatterns: ["/node_modules/", "<rootDir>/test/pods/"],
  transform: {
    "^.+\\.ts$": ["ts-jest", { tsconfig: "tsconfig.json" }],
  },
  // kubernetes-models ships ESM only; Node 24 + --experimental-vm-modules (see the
  // "test" script) lets jest require() it natively
  // once the resolver accepts the package's "import" export condition.
  resolver: "<rootDir>/test/support/esm-resolver.js",
  testTimeout: 30000,
};
