import { availableParallelism } from 'node:os';
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['src/**/*.test.ts', 'test/**/*.test.ts'],
    // Temporary folders under one of the run's own, removed at its end.
    globalSetup: ['test/helpers/tmp-dir.ts'],
    testTimeout: 120_000,
    hookTimeout: 120_000,
    pool: 'forks',
    // One fork a core (Vitest's default leaves one core free): on 2 cores the unit tests took 230 s
    // with one fork, 172 s with two.
    maxWorkers: availableParallelism(),
  },
});
