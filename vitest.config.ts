import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 30_000,
    hookTimeout: 30_000,
    // Integration and e2e tests share one Redis; each uses its own key prefix, but files run
    // one at a time on this 2-core machine so timing-sensitive tests stay honest.
    fileParallelism: false,
  },
});
