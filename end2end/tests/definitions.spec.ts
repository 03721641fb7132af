// The Definitions page: the registered workflows; a workflow's flow with its monitoring figures, state by
// state; its versions and what changed between two of them. The server runs without demo traffic on a
// fresh database, so every figure here comes from the instances these tests start (in file order).
import { expect, test, type APIRequestContext, type Page } from "@playwright/test";
import { act, check, find } from "./helpers";

const WORKFLOWS = [
  "buyer-onboarding",
  "call-lifecycle",
  "daily-settlement",
  "dispute-resolution",
  "payout-processing",
  "quality-monitoring",
  "seller-onboarding",
];

const defs = {
  card: (page: Page, workflow: string) => page.locator(`[data-workflow="${workflow}"]`),
  title: (page: Page) => page.getByTestId("workflow-title"),
  box: (page: Page, state: string) => page.locator(`.flow-diagram [data-state="${state}"]`),
  row: (page: Page, state: string) => page.locator(`[data-testid=state-table] tr[data-row="${state}"]`),
  detail: (page: Page) => page.getByTestId("state-detail"),
  diff: (page: Page) => page.getByTestId("diff"),
};

/** The state names of a workflow's definition (branch states included), as the API serves it. */
async function stateNames(request: APIRequestContext, workflow: string, version = 1): Promise<string[]> {
  const response = await request.get(`/api/definitions/${workflow}/versions/${version}`);
  expect(response.status()).toBe(200);
  const names: string[] = [];
  const walk = (states: Record<string, any>) => {
    for (const [name, state] of Object.entries(states)) {
      names.push(name);
      for (const branch of state.branches ?? []) walk(branch.states ?? {});
    }
  };
  walk((await response.json()).definition.states);
  return names;
}

/** Starts a quality check that passes every rule and waits until it has finished. */
async function runQualityCheck(request: APIRequestContext, seller: string) {
  const started = await request.post("/api/instances", {
    data: {
      workflow: "quality-monitoring",
      input: { seller_id: seller, silence_s: 1, calls: 100, conversions: 50, complaints: 0 },
    },
  });
  expect(started.status()).toBe(201);
  const { id } = await started.json();
  const settled = await request.get(`/api/instances/${id}/wait?timeout_ms=20000`);
  expect((await settled.json()).status).toBe("completed");
}

test("the page lists the seven workflows and reads without JavaScript", async ({ browser }) => {
  const context = await browser.newContext({ javaScriptEnabled: false });
  const page = await context.newPage();
  await page.goto("/definitions");
  await expect(find.heading(page)).toHaveText("Definitions");
  await expect(page.locator("[data-workflow]")).toHaveCount(WORKFLOWS.length);
  for (const workflow of WORKFLOWS) {
    await expect(defs.card(page, workflow)).toContainText(workflow);
    await expect(defs.card(page, workflow)).toContainText("v1 · 1 version");
  }
  // The first workflow is shown until another is chosen, with its flow, states and versions.
  await expect(defs.card(page, "buyer-onboarding")).toHaveAttribute("aria-current", "true");
  await expect(defs.title(page)).toContainText("buyer-onboarding");
  await expect(defs.box(page, "registration")).toBeVisible();
  await expect(page.getByTestId("versions")).toContainText("v1");
  await page.screenshot({ path: test.info().outputPath("definitions-no-js.png"), fullPage: true });
  await context.close();
});

// The browser tests hydrate a debug bundle, often on a busy machine: the tests that hydrate and then
// navigate or wait for a refresh get the slow budget (a deadline, never a sleep).
test("choosing a workflow shows its flow with a box per state, and a state's definition", async ({ page, request }) => {
  test.slow();
  const errors = check.collectErrors(page);
  await act.openHydrated(page, "/definitions");
  await defs.card(page, "dispute-resolution").click();
  await expect(page).toHaveURL(/workflow=dispute-resolution/);
  await expect(defs.title(page)).toContainText("dispute-resolution");

  const states = await stateNames(request, "dispute-resolution");
  await expect(page.locator(".flow-diagram [data-state]")).toHaveCount(states.length);
  for (const state of states) {
    await expect(defs.box(page, state)).toHaveCount(1);
  }

  // Nothing ran this workflow on the fresh database: the page says so instead of a table of zeros.
  await expect(page.getByTestId("figures-empty")).toContainText("No instance ran dispute-resolution in the last 24 h");

  // Clicking a box selects its state: its definition beside the diagram, and the choice in the URL.
  const first = states[0];
  await defs.box(page, first).click();
  await expect(defs.detail(page).getByTestId("detail-state")).toHaveText(first);
  await expect(defs.detail(page).getByTestId("state-json")).toContainText('"type"');
  await expect(page).toHaveURL(new RegExp(`state=${first}`));

  // The keyboard reaches the boxes too: Enter selects the focused one.
  const second = states[1];
  await defs.box(page, second).focus();
  await page.keyboard.press("Enter");
  await expect(defs.detail(page).getByTestId("detail-state")).toHaveText(second);

  // Another period is a link; the empty state offers the longer ones.
  await page.getByTestId("figures-empty").getByRole("link", { name: "Show 7 days" }).click();
  await expect(page).toHaveURL(/period=7d/);
  await expect(page.getByTestId("figures-empty")).toContainText("in the last 7 days");
  await page.screenshot({ path: test.info().outputPath("definitions-flow.png"), fullPage: true });
  expect(errors).toEqual([]);
});

test("the figures show the passes of the instances that ran, and follow new ones live", async ({ page, request }) => {
  test.slow();
  const errors = check.collectErrors(page);
  await runQualityCheck(request, "seller-e2e-1");

  await act.openHydrated(page, "/definitions?workflow=quality-monitoring&period=1h");
  await expect(page.getByTestId("figures-empty")).toHaveCount(0);
  // A passing check goes through the three evaluations and their rules, and ends monitored.
  for (const state of ["evaluate-silence", "silence-rule", "evaluate-conversion", "evaluate-complaints", "monitored"]) {
    await expect(defs.row(page, state).locator("[data-col=passed]")).toHaveText("1");
    await expect(defs.box(page, state)).toContainText("1 · p95");
  }
  // Branches it did not take stay at zero.
  await expect(defs.row(page, "silence-alert").locator("[data-col=passed]")).toHaveText("0");
  await expect(defs.box(page, "silence-alert")).toContainText("not entered");
  await expect(page.locator("[data-kpi=started]")).toHaveText("1");

  // Selecting a row's state highlights the row and its box.
  await defs.row(page, "evaluate-conversion").getByRole("link", { name: "evaluate-conversion" }).click();
  await expect(defs.row(page, "evaluate-conversion")).toHaveClass(/selected/);
  await expect(defs.box(page, "evaluate-conversion")).toHaveAttribute("aria-pressed", "true");
  await expect(defs.detail(page).getByTestId("detail-figures")).toContainText("once");

  // Another run while the page is open: the figures refresh without a reload.
  await runQualityCheck(request, "seller-e2e-2");
  await expect(defs.row(page, "monitored").locator("[data-col=passed]")).toHaveText("2", { timeout: 15_000 });
  await expect(page.locator("[data-kpi=started]")).toHaveText("2");
  await page.screenshot({ path: test.info().outputPath("definitions-figures.png"), fullPage: true });
  expect(errors).toEqual([]);
});

test("a second version shows what changed, state by state", async ({ page, request }) => {
  test.slow();
  const errors = check.collectErrors(page);
  // With one version there is nothing to compare, and the page says so.
  await act.openHydrated(page, "/definitions?workflow=payout-processing");
  await expect(page.getByTestId("single-version")).toContainText("only one version");

  const v1 = (await (await request.get("/api/definitions/quality-monitoring/versions/1")).json()).definition;
  const v2 = structuredClone(v1);
  v2.states["evaluate-silence"].timeout_ms = 45000;
  v2.states["evaluate-silence"].retry.max_attempts = 5;
  v2.timeouts.workflow_ms = 86400000;
  const registered = await request.post("/api/definitions", { data: v2 });
  expect(registered.status()).toBe(201);
  expect((await registered.json()).version).toBe(2);

  await act.openHydrated(page, "/definitions?workflow=quality-monitoring");
  await expect(defs.card(page, "quality-monitoring")).toContainText("v2 · 2 versions");
  await expect(page.getByTestId("shown-version")).toContainText("version 2 · latest");
  await expect(page.locator("[data-version-row]")).toHaveCount(2);

  // By default the two latest versions are compared.
  const changed = defs.diff(page).locator('[data-diff-state="evaluate-silence"]');
  await expect(page.getByTestId("diff-summary")).toContainText("1 state changed · 1 workflow setting changed");
  await expect(changed.locator('[data-field="timeout_ms"]')).toContainText("30000");
  await expect(changed.locator('[data-field="timeout_ms"]')).toContainText("45000");
  await expect(changed.locator('[data-field="retry.max_attempts"]')).toContainText("5");
  await expect(defs.diff(page).locator('[data-field="timeouts.workflow_ms"]')).toContainText("86400000");
  await expect(defs.diff(page).locator('[data-diff-state="evaluate-conversion"]')).toHaveCount(0);

  // Compare the other way round with the form: the choice goes to the URL.
  await page.getByTestId("diff-from").selectOption("2");
  await page.getByTestId("diff-to").selectOption("1");
  await page.getByRole("button", { name: "Compare" }).click();
  await expect(page).toHaveURL(/diff=2\.\.1/);
  await expect(defs.diff(page)).toHaveAttribute("data-from", "2");
  await expect(changed.locator('[data-field="timeout_ms"] .diff-new')).toContainText("30000");

  // The older version's flow is a link away; the page says the figures are not split by version.
  await page.locator('.segmented [data-version="1"]').click();
  await expect(page.getByTestId("shown-version")).toContainText("version 1");
  await expect(page.getByRole("note")).toContainText("the latest is 2");
  await page.screenshot({ path: test.info().outputPath("definitions-diff.png"), fullPage: true });
  expect(errors).toEqual([]);
});

test("an unknown workflow in the address says so and keeps the list to choose from", async ({ page }) => {
  await page.goto("/definitions?workflow=no-such-flow");
  await expect(page.getByTestId("unknown-workflow")).toContainText("No workflow named “no-such-flow”");
  await expect(page.locator("[data-workflow]")).toHaveCount(WORKFLOWS.length);
  await page.screenshot({ path: test.info().outputPath("definitions-unknown.png"), fullPage: true });
});
