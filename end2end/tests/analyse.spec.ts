// The analysis pages: the overview's live counters, the SLA report (targets against actuals, trends,
// editing targets) and the bottleneck ranking. The test server runs with --no-demo on a fresh database,
// so each test starts the instances it needs through the API.
import { expect, test, type APIRequestContext, type Locator, type Page } from "@playwright/test";
import { act, check, find } from "./helpers";

let started = 0;

const analyse = {
  counter: (page: Page, status: string) =>
    page.getByTestId("instance-counts").locator(`[data-status="${status}"] .tile-value`),
  workflowPanel: (page: Page, workflow: string) => page.locator(`section[data-workflow="${workflow}"]`),
  target: (page: Page, workflow: string, description: RegExp) =>
    analyse.workflowPanel(page, workflow).getByTestId("sla-target").filter({ has: page.getByRole("heading", { name: description }) }),
};

const start = {
  /** Starts a buyer onboarding that completes by itself (good documents and credit) and waits for it. */
  async buyerOnboarding(request: APIRequestContext): Promise<string> {
    started += 1;
    const buyer = `buyer-e2e-analyse-${Date.now()}-${started}`;
    const response = await request.post("/api/instances", {
      data: {
        workflow: "buyer-onboarding",
        input: {
          buyer_id: buyer, name: "Analyse Leads", email: "ops@analyse.test", document_id: "DOC-24680",
          credit_score: 760, campaign_id: `${buyer}-solar`, campaign_name: "Analyse solar",
          daily_budget_minor: 50_000, vertical: "solar", bid_minor: 120, region: "US-CA",
        },
      },
    });
    expect(response.status()).toBe(201);
    const { id } = await response.json();
    const settled = await request.get(`/api/instances/${id}/wait?timeout_ms=20000`);
    expect((await settled.json()).status).toBe("completed");
    return id;
  },
};

const verify = {
  /** The image has loaded and decoded to a real picture. */
  async imageLoaded(image: Locator) {
    await expect(image).toBeVisible();
    await expect.poll(() => image.evaluate((img: HTMLImageElement) => img.complete && img.naturalWidth)).toBeGreaterThan(0);
  },
  /** A full-page screenshot from the top (sticky bars would otherwise be drawn mid-page). */
  async screenshot(page: Page, name: string) {
    await page.evaluate(() => window.scrollTo(0, 0));
    await page.screenshot({ path: test.info().outputPath(name), fullPage: true });
  },
  async number(locator: Locator): Promise<number> {
    return Number(((await locator.textContent()) ?? "").replace(/[^0-9]/g, ""));
  },
};

test("the overview's counters follow new instances without a reload", async ({ page, request }) => {
  const errors = check.collectErrors(page);
  await act.openHydrated(page, "/");
  await expect(find.heading(page)).toHaveText("Overview");
  await page.evaluate(() => ((window as any).__sameDocument = true));

  const completed = analyse.counter(page, "completed");
  const before = await verify.number(completed);
  await start.buyerOnboarding(request);
  await start.buyerOnboarding(request);
  // The counters refresh on the live feed's heartbeats: the new completions show without a reload.
  await expect.poll(() => verify.number(completed), { timeout: 15_000 }).toBeGreaterThanOrEqual(before + 2);
  await expect(page.getByTestId("instance-total")).toContainText("instances in all");
  expect(await page.evaluate(() => (window as any).__sameDocument)).toBe(true);

  // The rest of the overview is there: throughput chart, SLA tiles, bottlenecks, queue, failures.
  await verify.imageLoaded(page.getByTestId("throughput-chart"));
  await expect(page.getByTestId("hour-figures")).toContainText("completed");
  for (const standing of ["breached", "at_risk", "met"]) {
    await expect(page.getByTestId("sla-overview").locator(`a[data-standing="${standing}"]`)).toHaveAttribute("href", "/sla");
  }
  await expect(page.getByTestId("top-bottlenecks")).toBeVisible();
  await expect(page.getByTestId("queue-count")).toHaveText(/^\d+\+?$/);
  await expect(page.getByTestId("recent-failures")).toBeVisible();

  await verify.screenshot(page, "overview.png");
  expect(errors).toEqual([]);
});

test("a manager opens the SLA report and sees targets against actuals", async ({ page, request }) => {
  test.setTimeout(60_000); // three onboardings run first
  const errors = check.collectErrors(page);
  for (let i = 0; i < 3; i++) await start.buyerOnboarding(request);

  await act.openHydrated(page, "/sla");
  await expect(find.heading(page)).toHaveText("SLA");
  await expect(page.getByTestId("sla-summary")).toContainText("Where the targets stand now");

  // Buyer onboarding ran: both its default targets have an actual value and a standing in words.
  const panel = analyse.workflowPanel(page, "buyer-onboarding");
  await expect(panel.getByTestId("sla-target")).toHaveCount(2);
  for (const card of await panel.getByTestId("sla-target").all()) {
    await expect(card.getByTestId("sla-actual")).toHaveText(/\d/);
    await expect(card.getByTestId("sla-status")).toHaveText(/^(Met|At risk|Breached)$/);
    await expect(card.getByTestId("sla-threshold")).toHaveText(/^[≤≥] /);
    await verify.imageLoaded(card.getByTestId("sla-trend"));
  }
  await expect(panel.getByTestId("delivery")).toContainText("finished");
  // A workflow type that never ran says so instead of inventing a value.
  const idle = analyse.workflowPanel(page, "daily-settlement").getByTestId("sla-target").first();
  await expect(idle.getByTestId("sla-status")).toHaveText("No data");

  // The period is in the URL: picking one keeps the same document and can be shared.
  await page.evaluate(() => ((window as any).__sameDocument = true));
  await page.getByTestId("period-picker").getByRole("link", { name: "7 d" }).click();
  await expect(page).toHaveURL(/\/sla\?period=7d$/);
  await expect(page.getByTestId("period-picker").locator('[aria-current="true"]')).toHaveText("7 d");
  await expect(panel.getByTestId("delivery")).toContainText("The last 7 days");
  expect(await page.evaluate(() => (window as any).__sameDocument)).toBe(true);

  await verify.screenshot(page, "sla-report.png");
  expect(errors).toEqual([]);
});

test("a manager changes a target, sees the server's objection, then the change", async ({ page, request }) => {
  test.setTimeout(90_000); // a long journey: two saves, a reload, an addition and a removal
  const errors = check.collectErrors(page);
  await start.buyerOnboarding(request);
  await act.openHydrated(page, "/sla");

  const card = analyse.target(page, "buyer-onboarding", /^p95 duration/);
  await card.getByTestId("edit-target").click();
  const form = card.getByTestId("target-form");
  await expect(form.getByTestId("threshold-input")).toHaveValue("1");

  // The server validates: its message appears next to the field it concerns.
  await form.getByTestId("threshold-input").fill("-5");
  await form.getByRole("button", { name: "Save target" }).click();
  await expect(form.getByTestId("field-error")).toHaveText("must be a number of at least 0");
  await expect(form.getByTestId("threshold-input")).toHaveAttribute("aria-invalid", "true");
  await verify.screenshot(page, "sla-edit-error.png");

  await form.getByTestId("threshold-input").fill("45");
  await form.getByLabel("Unit of the threshold").selectOption("s");
  await form.getByTestId("window-input").fill("2");
  await form.getByLabel("Unit of the window").selectOption("h");
  await form.getByRole("button", { name: "Save target" }).click();
  await expect(page.getByTestId("sla-notice")).toContainText("Saved buyer-onboarding");

  // The card shows the new target (its description written anew by the server), also after a reload.
  const changed = analyse.target(page, "buyer-onboarding", /^p95 duration at most 45(\.0)? s over 2 h$/);
  await expect(changed.getByTestId("sla-threshold")).toHaveText("≤ 45.0 s");
  await verify.imageLoaded(changed.getByTestId("sla-trend"));
  await page.reload();
  await expect(find.connection(page)).toHaveText("Live", { timeout: 20_000 });
  await act.ready(page);
  await expect(analyse.target(page, "buyer-onboarding", /over 2 h$/).getByTestId("sla-threshold")).toHaveText("≤ 45.0 s");

  // Add a target, then remove it again.
  const add = page.getByTestId("add-target");
  await add.getByLabel("Workflow").selectOption("buyer-onboarding");
  await add.getByLabel("Measures").selectOption("error_rate");
  await add.getByTestId("threshold-input").fill("5");
  await add.getByTestId("window-input").fill("1");
  await add.getByLabel("Unit of the window").selectOption("h");
  await add.getByRole("button", { name: "Add target" }).click();
  await expect(page.getByTestId("sla-notice")).toContainText("Added to buyer-onboarding");
  const added = analyse.target(page, "buyer-onboarding", /^error rate at most 5(\.0)?% over 1 h$/);
  await expect(added.getByTestId("sla-threshold")).toHaveText("≤ 5.0 %");

  // Adding the same metric and window again is refused by the server, and the form says why.
  await add.getByRole("button", { name: "Add target" }).click();
  await expect(add.getByTestId("form-error")).toContainText("already has a target");

  await added.getByTestId("remove-target").click();
  await added.getByRole("button", { name: "Remove target" }).click();
  await expect(page.getByTestId("sla-notice")).toContainText("Removed from buyer-onboarding");
  await expect(added).toHaveCount(0);

  await verify.screenshot(page, "sla-edited.png");
  // The browser logs the refused requests (422, 409) it was asked to make; nothing else went wrong.
  expect(errors.filter((e) => !/status of (409|422)/.test(e))).toEqual([]);
});

test("the bottlenecks page explains what it checked, with the step chart", async ({ page, request }) => {
  const errors = check.collectErrors(page);
  await start.buyerOnboarding(request);
  await act.openHydrated(page, "/bottlenecks");
  await expect(find.heading(page)).toHaveText("Bottlenecks");

  // A fresh database has too little history for a rule to fire: the designed empty state says so, and
  // how many steps it looked at.
  const empty = page.getByTestId("bottlenecks-empty");
  const ranked = page.getByTestId("bottleneck-row");
  await expect(empty.or(ranked.first())).toBeVisible();
  if (await empty.isVisible()) {
    await expect(empty).toContainText(/No bottleneck|Too little history|No step history/);
    await expect(empty).toContainText("steps");
  }
  await verify.imageLoaded(page.getByTestId("steps-chart"));

  // The workflow and the period are in the URL.
  await page.getByTestId("workflow-chips").getByRole("link", { name: "buyer-onboarding" }).click();
  await expect(page).toHaveURL(/workflow=buyer-onboarding/);
  await page.getByTestId("period-picker").getByRole("link", { name: "7 d" }).click();
  await expect(page).toHaveURL(/period=7d/);
  await expect(page).toHaveURL(/workflow=buyer-onboarding/);
  await expect(page.getByTestId("step-chart")).toContainText("buyer-onboarding");
  await verify.imageLoaded(page.getByTestId("steps-chart"));

  await verify.screenshot(page, "bottlenecks.png");
  expect(errors).toEqual([]);
});

test("the analysis pages are complete without JavaScript", async ({ browser }) => {
  const context = await browser.newContext({ javaScriptEnabled: false });
  const page = await context.newPage();
  await page.goto("/");
  await expect(page.getByTestId("instance-counts")).toBeVisible();
  await expect(page.getByTestId("sla-overview").locator("a.tile")).toHaveCount(3);
  await verify.imageLoaded(page.getByTestId("throughput-chart"));
  await page.goto("/sla?period=24h");
  await expect(page.getByTestId("sla-target").first()).toBeVisible();
  await verify.imageLoaded(page.getByTestId("sla-trend").first());
  await page.goto("/bottlenecks?period=1h");
  await expect(page.getByTestId("period-picker").locator('[aria-current="true"]')).toHaveText("1 h");
  await verify.imageLoaded(page.getByTestId("steps-chart"));
  await verify.screenshot(page, "no-javascript.png");
  await context.close();
});
