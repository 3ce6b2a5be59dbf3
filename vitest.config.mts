import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts", "policies/**/*.test.ts"],
    exclude: ["**/node_modules/**", "dist/**", "examples/**"],
    // Real-daemon tests (test/l5) start PostgreSQL, Redis, HAProxy and Prometheus;
    // two workers match the two cores these machines have.
    pool: "forks",
    maxWorkers: 2,
    testTimeout: 120_000,
    hookTimeout: 180_000,
  },
});
