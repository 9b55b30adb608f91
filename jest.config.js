/** Two projects: unit tests of pure logic, integration tests against the box. */
const transform = { '^.+\\.ts$': 'ts-jest' };
module.exports = {
  // Integration tests start simulators and VMs under TCG; jest ignores this inside `projects`.
  testTimeout: 120000,
  projects: [
    { displayName: 'unit', testMatch: ['<rootDir>/test/unit/**/*.test.ts'], transform, testEnvironment: 'node' },
    {
      displayName: 'integration',
      testMatch: ['<rootDir>/test/integration/**/*.test.ts'],
      transform,
      testEnvironment: 'node',
    },
  ],
};
