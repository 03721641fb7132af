// Playwright drives Debian's Chromium (/usr/bin/chromium) against a freshly started `switchboard` on a
// free port with a temporary database. scripts/test.sh picks the port and the database and builds the
// server first; the browser is never downloaded.
import { defineConfig } from "@playwright/test";

const port = Number(process.env.SWITCHBOARD_E2E_PORT ?? 3999);
const database = process.env.SWITCHBOARD_E2E_DATABASE_URL ?? "sqlite:target/e2e/switchboard.db";
const baseURL = `http://127.0.0.1:${port}`;
// The binary and the site it serves; a copy can be pinned while the workspace is rebuilt meanwhile.
const binary = process.env.SWITCHBOARD_E2E_BINARY ?? "target/debug/switchboard";
const siteRoot = process.env.SWITCHBOARD_E2E_SITE_ROOT ?? "target/site";
// The first admin's password (the server creates `admin` with it on its empty database). Tests sign in
// once as admin in the `sign-in` project; its cookie is the default for every page and API request.
export const ADMIN_PASSWORD = "e2e admin password";
export const ADMIN_STATE = `.auth/admin-${port}.json`;

export default defineConfig({
  testDir: "./tests",
  timeout: 30_000,
  expect: { timeout: 10_000 },
  fullyParallel: false,
  workers: 1,
  forbidOnly: !!process.env.CI,
  retries: 0,
  reporter: "list",
  outputDir: "test-results",
  projects: [
    { name: "sign-in", testMatch: /sign-in\.setup\.ts/ },
    { name: "console", dependencies: ["sign-in"], use: { storageState: ADMIN_STATE } },
  ],
  use: {
    baseURL,
    // Browsers send Origin on every POST; API requests from the tests do the same, so the server's
    // cross-origin check sees what it sees from the console.
    extraHTTPHeaders: { Origin: baseURL },
    viewport: { width: 1366, height: 768 },
    trace: "retain-on-failure",
    screenshot: "only-on-failure",
    launchOptions: {
      executablePath: "/usr/bin/chromium",
      args: [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
      ],
    },
  },
  webServer: {
    env: { SWITCHBOARD_ADMIN_PASSWORD: ADMIN_PASSWORD },
    command: `${binary} serve --log warn --no-demo --listen 127.0.0.1:${port} --database-url ${database} --site-root ${siteRoot}`,
    cwd: "..",
    url: `${baseURL}/api/health`,
    reuseExistingServer: false,
    timeout: 60_000,
    stdout: "ignore", // request logs; failures show in stderr and the traces
    stderr: "pipe",
  },
});
