// Services: breakers, call figures and simulated faults — and what a fault does to a workflow.
import { expect, test, type Locator } from "@playwright/test";
import { act, api, check, HEALTHY, unique } from "./helpers";

/** Opens a service card's fault controls (they start open only while the service has faults). */
async function openFaults(card: Locator) {
  if (!(await card.getByTestId("clear-faults").isVisible())) {
    await card.locator("summary", { hasText: "Simulated behaviour" }).click();
  }
  await expect(card.getByTestId("clear-faults")).toBeVisible();
}

test("a services fault toggle turns a workflow's step red, and it recovers", async ({ page, request }) => {
  test.setTimeout(60_000);
  const errors = check.collectErrors(page);
  const before = await api.setFaults(request, "telephony", HEALTHY);
  await act.openHydrated(page, "/services");
  const telephony = page.locator('[data-service="telephony"]');
  await expect(telephony.getByTestId("breaker")).toContainText("closed");

  // Telephony fails every call: validate-call cannot succeed, the call is rejected.
  await openFaults(telephony);
  await telephony.getByTestId("fail-all").click();
  await expect(telephony.getByTestId("fault-summary")).toContainText("fails 100 %");
  const broken = await api.start(request, "call-lifecycle", api.callInput(unique("call")));
  expect((await api.settled(request, broken.id)).status).toBe("failed");
  await expect(telephony.getByTestId("error-rate")).toHaveClass(/bad/, { timeout: 10_000 });
  await page.screenshot({ path: test.info().outputPath("services-faulty.png"), fullPage: true });

  await act.openHydrated(page, `/instances/${broken.id}`);
  await expect(page.locator('[data-state="validate-call"]')).toHaveClass(/failed/);
  await expect(page.locator('[data-state="call-rejected"]')).toHaveClass(/failed/);
  await page.screenshot({ path: test.info().outputPath("instance-step-red.png"), fullPage: true });

  // Back to normal: the next call passes validate-call.
  await act.openHydrated(page, "/services");
  await openFaults(telephony);
  await telephony.getByTestId("clear-faults").click();
  await expect(telephony.getByTestId("fault-summary")).not.toContainText("fails");
  const healthy = await api.start(request, "call-lifecycle", api.callInput(unique("call")));
  await api.settled(request, healthy.id);
  await act.openHydrated(page, `/instances/${healthy.id}`);
  await expect(page.locator('[data-state="validate-call"]')).toHaveClass(/succeeded/);

  await api.setFaults(request, "telephony", before);
  expect(errors).toEqual([]);
});

test("an operator trips a breaker and resets it", async ({ page, request }) => {
  const errors = check.collectErrors(page);
  await act.openHydrated(page, "/services");
  const billing = page.locator('[data-service="billing"]');
  await billing.getByTestId("trip").click();
  await expect(billing.getByTestId("breaker")).toContainText("open");
  await expect(billing).toHaveClass(/unhealthy/);
  const status = await (await request.get("/api/services")).json();
  expect(status.find((s: { name: string }) => s.name === "billing").breaker).toBe("open");
  await page.screenshot({ path: test.info().outputPath("services-breaker-open.png"), fullPage: true });

  await billing.getByTestId("reset").click();
  await expect(billing.getByTestId("breaker")).toContainText("closed");
  expect(errors).toEqual([]);
});
