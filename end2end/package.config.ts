import { defineConfig } from "@playwright/test";
import base from "./playwright.config";

// The release tarball's test (scripts/package-test): the script unpacks the package and
// starts its server itself, so there is no webServer here; it passes the URL in PACKAGE_URL.
export default defineConfig({
  testDir: "./package",
  workers: 1,
  timeout: 60_000,
  expect: { timeout: 10_000 },
  reporter: [["list"]],
  use: { ...base.use, baseURL: process.env.PACKAGE_URL },
});
