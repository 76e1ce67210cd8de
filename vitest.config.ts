import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // Integration tests bind ports and spawn processes; keep files from starving each other on 2 cores.
    fileParallelism: true,
    maxWorkers: 2,
  },
});
