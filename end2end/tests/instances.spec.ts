// Instances and instance detail: find a run by business key, open it, watch its diagram move live, act on
// many runs at once with a preview.
import { expect, test } from "@playwright/test";
import { act, api, check, HEALTHY, unique } from "./helpers";

test("support finds an instance by business key, opens it and watches its diagram change live", async ({ page, request }) => {
  test.setTimeout(60_000);
  const errors = check.collectErrors(page);
  // A slow telephony service keeps the first step in flight long enough to pause the run behind it.
  const before = await api.setFaults(request, "telephony", { ...HEALTHY, latency: { p50_ms: 1200, p99_ms: 1300 } });
  const callId = unique("call");
  const started = await api.start(request, "call-lifecycle", api.callInput(callId));
  const paused = await request.post(`/api/instances/${started.id}/pause`, { data: { reason: "hold for the test" } });
  expect(paused.ok(), await paused.text()).toBeTruthy();

  // Find it by its call id, as support staff would.
  await act.openHydrated(page, "/instances");
  await page.getByLabel("Business key").fill(callId);
  await page.getByRole("button", { name: "Search" }).click();
  await expect(page).toHaveURL(new RegExp(`key=${callId}`));
  await act.ready(page);
  const rows = page.getByTestId("instances-table").locator("tbody tr");
  await expect(rows).toHaveCount(1);
  await page.screenshot({ path: test.info().outputPath("instances-search.png"), fullPage: true });
  await rows.first().getByRole("link").click();
  await expect(page).toHaveURL(new RegExp(`/instances/${started.id}$`));
  await act.ready(page);
  await expect(page.getByTestId("instance-id")).toHaveText(started.id);

  // The first call finished; the run waits, paused, in find-buyer: current, with the path drawn to it.
  const findBuyer = page.locator('[data-state="find-buyer"]');
  await expect(findBuyer).toHaveClass(/current/, { timeout: 10_000 });
  await expect(page.locator('[data-state="validate-call"]')).toHaveClass(/succeeded/);
  await expect(page.locator(".pill.paused")).toBeVisible();
  await page.evaluate(() => ((window as unknown as { stillHere: boolean }).stillHere = true));
  // Note when the box turns red, to compare with when the server committed the failure.
  await page.evaluate(() => {
    const box = document.querySelector('[data-state="find-buyer"]')!;
    new MutationObserver(() => {
      const w = window as unknown as { turnedRedAt?: number };
      if (w.turnedRedAt === undefined && box.getAttribute("class")!.includes("failed")) w.turnedRedAt = Date.now();
    }).observe(box, { attributes: true, attributeFilter: ["class"] });
  });
  await page.screenshot({ path: test.info().outputPath("instance-paused.png"), fullPage: true });

  // Someone else resumes it: the page follows without a reload. There is no buyer for the call, so
  // find-buyer fails and the run ends in no-buyer after disconnecting the caller.
  const resumed = await request.post(`/api/instances/${started.id}/resume`, { data: { reason: "go on" } });
  expect(resumed.ok(), await resumed.text()).toBeTruthy();
  await expect(findBuyer).toHaveClass(/failed/, { timeout: 10_000 });
  await expect(page.locator('[data-state="no-buyer"]')).toHaveClass(/failed/, { timeout: 15_000 });
  // How long after the commit the page showed it (the figure is printed, never asserted: timings vary).
  const turnedRedAt = await page.evaluate(() => (window as unknown as { turnedRedAt?: number }).turnedRedAt);
  const history = await (await request.get(`/api/instances/${started.id}/history`)).json();
  const failure = history.find((e: { event: string; records: { record: { record: string; state?: string } }[] }) =>
    e.event === "step_failed" && e.records.some((r) => r.record.record === "state_left" && r.record.state === "find-buyer"));
  if (turnedRedAt && failure) console.log(`live update: find-buyer turned red ${turnedRedAt - Date.parse(failure.at)} ms after the commit`);
  await expect(page.getByTestId("status-pill").first()).toHaveAttribute("data-status", "failed");
  expect(await page.evaluate(() => (window as unknown as { stillHere?: boolean }).stillHere)).toBe(true);
  await expect(page.getByTestId("timeline")).toContainText("resume requested");
  await expect(page.getByTestId("timeline")).toContainText("go on");

  // Clicking a state shows its attempts.
  await findBuyer.click();
  await expect(page.getByTestId("step-name")).toHaveText("find-buyer");
  await expect(page.getByTestId("step-attempts")).toContainText("permanent");
  await page.screenshot({ path: test.info().outputPath("instance-failed.png"), fullPage: true });

  await api.setFaults(request, "telephony", before);
  expect(errors).toEqual([]);
});

test("an operator pauses an instance from its page, with a reason", async ({ page, request }) => {
  const errors = check.collectErrors(page);
  // A slow ledger keeps a settlement in its first step (its timeout is a minute) while the page acts.
  const before = await api.setFaults(request, "ledger", { ...HEALTHY, latency: { p50_ms: 20_000, p99_ms: 20_000 } });
  const day = `21${String(Math.floor(Math.random() * 90) + 10)}-0${Math.floor(Math.random() * 9) + 1}-1${Math.floor(Math.random() * 9)}`;
  const started = await api.start(request, "daily-settlement", { date: day });
  await act.openHydrated(page, `/instances/${started.id}`);
  await expect(page.locator('[data-state="aggregate-transactions"]')).toHaveClass(/current/);
  await page.getByRole("button", { name: "Pause" }).click();
  await page.getByLabel(/Why pause/).fill("checking the ledger");
  await page.getByRole("button", { name: "Confirm pause" }).click();
  await expect(page.getByRole("status").filter({ hasText: "Done" })).toBeVisible();
  await expect(page.locator(".pill.paused")).toBeVisible();
  await expect(page.getByTestId("timeline")).toContainText("checking the ledger");
  await expect(page.getByRole("button", { name: "Resume" })).toBeVisible();
  await page.screenshot({ path: test.info().outputPath("instance-paused-by-operator.png"), fullPage: true });
  await api.setFaults(request, "ledger", before);
  await request.post(`/api/instances/${started.id}/cancel`, { data: { reason: "test over" } });
  expect(errors).toEqual([]);
});

test("a bulk retry shows how many instances it will touch before it acts", async ({ page, request }) => {
  test.setTimeout(90_000);
  const errors = check.collectErrors(page);
  // Disputes fail to submit while the disputes service is down: three runs end failed.
  const before = await api.setFaults(request, "disputes", { ...HEALTHY, failure_rate: 1 });
  const reason = unique("outage");
  const ids: string[] = [];
  for (let i = 0; i < 3; i++) {
    const dispute = unique("dispute");
    const run = await api.start(request, "dispute-resolution", {
      dispute_id: dispute, call_id: unique("call"), buyer_id: "buyer-e2e", seller_id: "seller-e2e",
      amount_minor: 500, reason,
    });
    ids.push(run.id);
  }
  for (const id of ids) expect((await api.settled(request, id)).status).toBe("failed");
  // The service is back; its breaker, opened by the failures, is reset by hand.
  await api.setFaults(request, "disputes", before);
  expect((await request.post("/api/services/disputes/breaker", { data: { action: "reset" } })).ok()).toBeTruthy();

  await act.openHydrated(page, "/instances?workflow=dispute-resolution&status=failed");
  const rows = page.getByTestId("instances-table").locator("tbody tr");
  const listed = await rows.count();
  expect(listed).toBeGreaterThanOrEqual(3);

  await page.getByLabel("Bulk action").selectOption("retry");
  await page.getByLabel(/Reason/).fill("disputes service is back");
  await page.getByTestId("bulk-preview").click();
  await expect(page.getByTestId("bulk-confirm")).toBeVisible();
  await expect(page.getByTestId("bulk-matched")).toHaveText(String(listed));
  await expect(page.getByTestId("bulk-eligible")).toHaveText(String(listed));
  await page.screenshot({ path: test.info().outputPath("bulk-preview.png"), fullPage: true });
  // The preview changed nothing.
  for (const id of ids) expect((await (await request.get(`/api/instances/${id}`)).json()).status).toBe("failed");

  await page.getByTestId("bulk-apply").click();
  await expect(page.getByTestId("bulk-done")).toContainText(`Retried ${listed} of ${listed}`);
  // The rows follow live: none of the three is failed any more.
  for (const id of ids) {
    await expect(page.locator(`tr[data-id="${id}"] [data-testid=status-pill]`)).not.toHaveAttribute("data-status", "failed", { timeout: 15_000 });
  }
  await page.screenshot({ path: test.info().outputPath("bulk-done.png"), fullPage: true });
  const history = await (await request.get(`/api/instances/${ids[0]}/history`)).json();
  expect(history.map((e: { event: string }) => e.event)).toContain("retry_requested");
  expect(errors).toEqual([]);
});

test("an unknown instance gets a clear page, and the list works without JavaScript", async ({ browser, page }) => {
  await page.goto("/instances/does-not-exist");
  await expect(page.getByText("No such instance")).toBeVisible();

  const context = await browser.newContext({ javaScriptEnabled: false });
  const plain = await context.newPage();
  await plain.goto("/instances?status=failed");
  await expect(plain.getByRole("heading", { level: 1 })).toHaveText("Instances");
  await expect(plain.getByTestId("instance-filters")).toBeVisible();
  await context.close();
});
