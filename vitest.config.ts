import { defineConfig } from "vitest/config";

// One runner for the whole repo. The global setup starts the real parts the tests talk to
// (Samba AD DC, slapd, PostgreSQL, an SMTP sink) once per run; see test-env/README.md.
export default defineConfig({
  resolve: { conditions: ["source"] },
  ssr: { resolve: { conditions: ["source"] } },
  test: {
    include: [
      "packages/*/src/**/*.test.ts",
      "e2e/**/*.test.ts",
      "test-env/**/*.test.ts",
      "bench/**/*.test.ts",
    ],
    globalSetup: ["test-env/global-setup.ts"],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    pool: "forks",
    maxWorkers: 2,
  },
});
