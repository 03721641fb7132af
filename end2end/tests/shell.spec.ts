// The console shell: server rendering, hydration, live updates over server-sent events, navigation.
import { expect, test } from "@playwright/test";
import { act, BACKEND, check, find } from "./helpers";

const SECTIONS = ["Overview", "Instances", "Interventions", "SLA", "Bottlenecks", "Definitions", "Services"];

test("the server renders the console before any JavaScript runs", async ({ browser, request }) => {
  const html = await (await request.get("/")).text();
  expect(html).toContain("Live updates");
  expect(html).toContain("/pkg/switchboard.js");

  const context = await browser.newContext({ javaScriptEnabled: false });
  const page = await context.newPage();
  await page.goto("/");
  await expect(find.heading(page)).toHaveText("Overview");
  for (const section of SECTIONS) {
    await expect(find.navLink(page, section)).toBeVisible();
  }
  await expect(page.getByTestId("footer-backend")).toHaveText(BACKEND.label);
  await expect(find.connection(page)).toHaveText("Connecting…");
  await context.close();
});

test("after hydration the live panel follows the server heartbeat and can be paused", async ({ page }) => {
  const errors = check.collectErrors(page);
  await act.openHydrated(page, "/");

  // Heartbeats arrive over /api/events once a second: the clock shows a time and keeps moving.
  await expect(find.serverTime(page)).toHaveText(/\d\d:\d\d:\d\d UTC/);
  const first = await find.serverTime(page).textContent();
  await expect(find.serverTime(page)).not.toHaveText(first ?? "", { timeout: 5_000 });

  // The toggle is a client-side control: it only responds once the bundle has hydrated the page.
  await find.liveToggle(page).click();
  await expect(find.liveToggle(page)).toHaveText("Resume");
  await expect(page.getByTestId("live-detail")).toContainText("Paused");
  const held = await find.serverTime(page).textContent();
  await page.waitForTimeout(2_200); // two heartbeats pass; the paused clock must not move
  await expect(find.serverTime(page)).toHaveText(held ?? "");

  await find.liveToggle(page).click();
  await expect(find.liveToggle(page)).toHaveText("Pause");
  await expect(page.getByTestId("live-detail")).toContainText("Server heartbeat #");

  await page.screenshot({ path: "test-results/overview.png", fullPage: true });
  expect(errors).toEqual([]);
});

test("the navigation reaches every section without a reload", async ({ page }) => {
  // Each section renders its own data: a budget per section, not one shared by all of them (a busy
  // 2-core machine once took longer than 30 s for the whole walk).
  test.setTimeout(30_000 + SECTIONS.length * 15_000);
  const errors = check.collectErrors(page);
  await act.openHydrated(page, "/");
  await page.evaluate(() => ((window as any).__sameDocument = true));
  for (const section of SECTIONS) {
    await find.navLink(page, section).click();
    await expect(find.heading(page)).toHaveText(section, { timeout: 15_000 });
    await expect(find.navLink(page, section)).toHaveAttribute("aria-current", "page");
  }
  // Client-side routing kept the same document (and its live connection) the whole time.
  expect(await page.evaluate(() => (window as any).__sameDocument)).toBe(true);
  await expect(find.connection(page)).toHaveText("Live");
  expect(errors).toEqual([]);
});

test("an unknown address shows the not-found page with a way back", async ({ page }) => {
  const response = await page.goto("/no/such/page");
  expect(response?.status()).toBe(404);
  await expect(find.heading(page)).toHaveText("Page not found");
  await page.getByRole("main").getByRole("link", { name: "overview" }).click();
  await expect(find.heading(page)).toHaveText("Overview");
});

test("the health endpoint answers JSON", async ({ request }) => {
  const response = await request.get("/api/health");
  expect(response.status()).toBe(200);
  expect(await response.json()).toMatchObject({ status: "ok", backend: BACKEND.name, database_reachable: true });
});

test("the overview lists the node this console runs on, leading, with its heartbeat", async ({ page }) => {
  await act.openHydrated(page, "/");
  const nodes = page.getByTestId("cluster-nodes");
  await expect(nodes.getByRole("heading", { name: "Nodes" })).toBeVisible();
  // The test server is one node on either backend: up, leading, and the one this console talks to.
  const rows = nodes.getByTestId("cluster-node");
  await expect(rows).toHaveCount(1);
  await expect(rows.first()).toContainText("this console");
  await expect(rows.first()).toContainText("leader", { timeout: 15_000 });
  await expect(rows.first()).toContainText("up");
  await expect(rows.first()).toContainText(/\d+ ms ago|\d+(\.\d+)? s ago/);
  const summary = nodes.getByTestId("cluster-summary");
  if (BACKEND.label === "PostgreSQL") {
    await expect(summary).toContainText("1 of 1 up");
  } else {
    await expect(summary).toContainText("One node on the embedded SQLite database");
  }
});
