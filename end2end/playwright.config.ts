import { defineConfig, devices } from "@playwright/test";

const baseURL = process.env.MUSTER_URL ?? "http://127.0.0.1:3000";
const chromium = {
  ...devices["Desktop Chrome"],
  launchOptions: {
    executablePath: process.env.CHROMIUM_PATH ?? "/usr/bin/chromium",
    args: [
      "--no-sandbox",
      "--disable-gpu",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
      "--disable-quic",
      "--no-first-run",
    ],
  },
};
const admin = "tests/.auth/admin.json";

export default defineConfig({
  testDir: "./tests",
  globalSetup: "./tests/support/wait-for-server.ts",
  timeout: 30_000,
  expect: { timeout: 10_000 },
  fullyParallel: false,
  workers: 1,
  forbidOnly: !!process.env.CI,
  retries: 0,
  reporter: [["list"]],
  use: {
    baseURL,
    trace: "retain-on-failure",
    screenshot: "only-on-failure",
  },
  projects: [
    { name: "setup", testMatch: /setup\.spec\.ts/, use: chromium },
    {
      name: "hydrated",
      testMatch: /(contacts|auth|layout|upload|integrations|provisioning|scenarios|settings)\.spec\.ts/,
      dependencies: ["setup"],
      use: { ...chromium, storageState: admin },
    },
    {
      name: "no-javascript",
      testMatch: /readonly\.spec\.ts/,
      dependencies: ["setup"],
      use: { ...chromium, storageState: admin, javaScriptEnabled: false },
    },
    {
      name: "hydrated-readonly",
      testMatch: /readonly\.spec\.ts/,
      dependencies: ["setup"],
      use: { ...chromium, storageState: admin },
    },
    {
      // Last: it changes the password and ends every session.
      name: "account",
      testMatch: /account\.spec\.ts/,
      dependencies: ["hydrated", "no-javascript", "hydrated-readonly"],
      use: { ...chromium, storageState: admin },
    },
  ],
});
