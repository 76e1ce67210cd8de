import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // One file at a time: the lab's end-to-end files (swarms, containers) load both cores, and the
    // loopback integration tests measure makespans against a bound; side by side they starved each
    // other (a 15 % tolerance failed under a concurrent swarm and docker run).
    fileParallelism: false,
    maxWorkers: 1,
  },
});
