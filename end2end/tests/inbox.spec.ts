// The intervention inbox: a reviewer signs in, claims a manual dispute review, approves it with a
// reason, and watches the workflow finish live; a support user sees the item but no controls, and the
// server refuses the resolution when sent anyway.
import { expect, test, type APIRequestContext } from "@playwright/test";
import { act, api, check, people, unique } from "./helpers";

/**
 * A seller who has earned money: a buyer is onboarded with a campaign in a vertical of its own, and one
 * five-minute call of the seller is routed to it and charged. A dispute credit comes out of what the
 * seller earned (the ledger never lets a seller's balance go negative).
 */
async function sellerWithEarnings(request: APIRequestContext): Promise<{ buyer: string; seller: string; call: string }> {
  const buyer = unique("buyer");
  const seller = unique("seller");
  const vertical = unique("legal");
  const onboarding = await api.start(request, "buyer-onboarding", {
    buyer_id: buyer, name: "Dispute Test Buyer", email: "ops@dispute-test.test", document_id: "DOC-12345",
    credit_score: 800, campaign_id: `${buyer}-campaign`, campaign_name: "Dispute test campaign",
    daily_budget_minor: 10_000_000, vertical, bid_minor: 5_000,
  });
  expect((await api.settled(request, onboarding.id)).status).toBe("completed");
  const call = unique("call");
  const run = await api.start(request, "call-lifecycle", {
    ...api.callInput(call), seller_id: seller, vertical, duration_s: 300, silence_s: 0,
  });
  const charged = await api.settled(request, run.id);
  expect(charged.status, JSON.stringify(charged)).toBe("completed");
  return { buyer, seller, call };
}

/** Starts a dispute the automatic review sends to a person (evidence, above the auto-approve limit). */
async function disputeForReview(request: APIRequestContext): Promise<{ runId: string; itemId: string }> {
  const { buyer, seller, call } = await sellerWithEarnings(request);
  const run = await api.start(request, "dispute-resolution", {
    dispute_id: unique("dispute"), call_id: call, buyer_id: buyer, seller_id: seller,
    amount_minor: 6_000, reason: "caller never connected", evidence: "recording-e2e",
  });
  const settled = await api.settled(request, run.id);
  expect(settled.status).toBe("waiting");
  const list = await (await request.get("/api/interventions?view=all&workflow=dispute-resolution")).json();
  const item = list.items.find((i: { instance_id: string }) => i.instance_id === run.id);
  expect(item, JSON.stringify(list)).toBeTruthy();
  return { runId: run.id, itemId: item.id };
}

test("a reviewer claims a manual dispute review, approves it, and watches the run finish", async ({ browser, request }) => {
  test.setTimeout(90_000);
  const reviewer = await people.create(request, "reviewer");
  const { runId, itemId } = await disputeForReview(request);

  const context = await browser.newContext({ storageState: { cookies: [], origins: [] } });
  const page = await context.newPage();
  const errors = check.collectErrors(page);
  await people.signIn(page, reviewer, `/interventions?view=unassigned&item=${itemId}`);
  await expect(page.getByTestId("connection-status")).toHaveText("Live", { timeout: 20_000 });
  await act.ready(page);
  const badge = page.getByTestId("nav-inbox-count");
  await expect(badge).toBeVisible();
  await expect(page.locator(`[data-testid="inbox-item"][data-id="${itemId}"]`)).toBeVisible();
  await page.screenshot({ path: test.info().outputPath("inbox-unassigned.png"), fullPage: true });

  await page.getByTestId("item-claim").click();
  await expect(page.getByTestId("item-assignee")).toContainText(reviewer);
  await page.getByTestId("choice-approve").click();
  await page.getByTestId("resolve-reason").fill("recording shows the call dropped at connect");
  await page.screenshot({ path: test.info().outputPath("inbox-decision.png"), fullPage: true });
  await page.getByTestId("resolve-submit").click();
  await expect(page.getByTestId("item-status")).toContainText(/resolved/i);
  // The run goes on at once and its diagram follows it live, to the end state.
  await expect(page.locator('.flow-diagram [data-state="resolved"]')).toHaveClass(/succeeded/, { timeout: 30_000 });
  await page.screenshot({ path: test.info().outputPath("inbox-resolved.png"), fullPage: true });

  const finished = await (await request.get(`/api/instances/${runId}`)).json();
  expect(finished.status).toBe("completed");
  const history = await (await request.get(`/api/instances/${runId}/history`)).json();
  const decided = history.find((e: { event: string }) => e.event === "human_decided");
  expect(decided.actor).toBe(reviewer);
  expect(decided.reason).toBe("recording shows the call dropped at connect");
  const audit = await (await request.get(`/api/audit?target_id=${itemId}`)).json();
  expect(audit.entries.map((e: { action: string }) => e.action).sort()).toEqual(["intervention.claim", "intervention.resolve"]);
  expect(errors).toEqual([]);
  await context.close();
});

test("a support user sees the item without controls, and the server refuses a resolution", async ({ browser, request }) => {
  test.setTimeout(60_000);
  const support = await people.create(request, "support");
  const { itemId } = await disputeForReview(request);

  const context = await browser.newContext({ storageState: { cookies: [], origins: [] } });
  const page = await context.newPage();
  await people.signIn(page, support, `/interventions?view=all&item=${itemId}`);
  await act.ready(page);
  await expect(page.locator(`[data-testid="inbox-item"][data-id="${itemId}"]`)).toBeVisible();
  await expect(page.getByTestId("item-claim")).toHaveCount(0);
  await expect(page.getByTestId("resolve-submit")).toHaveCount(0);
  await expect(page.locator('[data-testid^="choice-"]')).toHaveCount(0);
  await page.screenshot({ path: test.info().outputPath("inbox-support.png"), fullPage: true });

  const refused = await page.request.post(`/api/interventions/${itemId}/resolve`, {
    data: { choice: "approve", reason: "sent by hand" },
    headers: { Origin: new URL(page.url()).origin },
  });
  expect(refused.status()).toBe(403);
  const item = await (await request.get(`/api/interventions/${itemId}`)).json();
  expect(item.item.status).toBe("open");
  await context.close();
});
