import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    globalSetup: ["test/helpers/global-setup.ts"],
    include: ["test/**/*.test.ts"],
    testTimeout: 90_000,
    hookTimeout: 120_000,
    pool: "forks",
    env: { PROVISIO_LOG_LEVEL: process.env.PROVISIO_LOG_LEVEL ?? "silent" },
  },
});
