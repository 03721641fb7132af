// Sign-in, roles and the audit trail: signed-out visitors are sent to sign in and come back where they
// were going; a wrong password says so; signing out ends the session; each role sees only the controls
// it may use, and the server refuses the rest even when sent by hand; the audit page shows who did what.
import { expect, test } from "@playwright/test";
import { act, api, check, people, unique } from "./helpers";

test("a signed-out visitor signs in, lands where they were going, and signs out", async ({ browser, baseURL }) => {
  const context = await browser.newContext({ storageState: { cookies: [], origins: [] } });
  const page = await context.newPage();
  const errors = check.collectErrors(page);

  await page.goto("/instances?status=failed");
  await expect(page).toHaveURL(/\/sign-in\?next=/);
  await page.screenshot({ path: test.info().outputPath("sign-in.png"), fullPage: true });

  await page.getByTestId("sign-in-username").fill("admin");
  await page.getByTestId("sign-in-password").fill("not the password");
  await page.getByTestId("sign-in-submit").click();
  await expect(page.getByTestId("sign-in-error")).toContainText(/wrong username or password/i);

  await page.getByTestId("sign-in-password").fill("e2e admin password");
  await page.getByTestId("sign-in-submit").click();
  await expect(page).toHaveURL(`${baseURL}/instances?status=failed`);
  await expect(page.getByTestId("connection-status")).toHaveText("Live", { timeout: 20_000 });
  await expect(page.getByTestId("current-user")).toContainText("Administrator");
  await expect(page.getByTestId("current-role")).toHaveText(/admin/i);

  const cookies = await context.cookies();
  const session = cookies.find((c) => c.name === "switchboard_session");
  expect(session?.httpOnly).toBe(true);
  expect(session?.sameSite).toBe("Strict");

  // A second tab of the same browser, on a page that keeps reading.
  const other = await context.newPage();
  await act.openHydrated(other, "/services");

  await page.getByTestId("sign-out").click();
  await expect(page).toHaveURL(/\/sign-in/);
  // The other tab notices that the session ended and asks to sign in again, to come back to its page.
  await expect(other).toHaveURL(/\/sign-in\?next=%2Fservices/, { timeout: 20_000 });
  // The session ended on the server: the old cookie no longer opens anything.
  await context.addCookies([{ name: "switchboard_session", value: session!.value, url: baseURL! }]);
  const me = await context.request.get("/api/auth/me");
  expect(me.status()).toBe(401);
  await page.goto("/instances");
  await expect(page).toHaveURL(/\/sign-in\?next=%2Finstances/);
  expect(errors).toEqual([]);
  await context.close();
});

test("a manager reads a run but gets no controls, and the server refuses the action", async ({ browser, request }) => {
  const manager = await people.create(request, "manager");
  const run = await api.start(request, "call-lifecycle", api.callInput(unique("call")));
  await api.settled(request, run.id);

  const context = await browser.newContext({ storageState: { cookies: [], origins: [] } });
  const page = await context.newPage();
  await people.signIn(page, manager, `/instances/${run.id}`);
  await act.ready(page);
  await expect(page.getByTestId("current-role")).toHaveText(/manager/i);
  await expect(page.locator('[data-testid^="action-"]')).toHaveCount(0);
  await expect(page.getByRole("link", { name: "Users", exact: true })).toHaveCount(0);
  await page.screenshot({ path: test.info().outputPath("manager-instance.png"), fullPage: true });

  const refused = await page.request.post(`/api/instances/${run.id}/cancel`, {
    data: { reason: "sent by hand" },
    headers: { Origin: new URL(page.url()).origin },
  });
  expect(refused.status()).toBe(403);
  expect((await refused.json()).error.message).toContain("manager role may not");
  await context.close();
});

test("an admin creates a user on the users page and finds it in the audit trail", async ({ page }) => {
  const errors = check.collectErrors(page);
  const username = unique("sam").toLowerCase();
  await act.openHydrated(page, "/users");
  await page.getByTestId("create-user-username").fill(username);
  await page.getByTestId("create-user-display-name").fill("Sam Support");
  await page.getByTestId("create-user-role").selectOption("support");
  await page.getByTestId("create-user-password").fill("a good long password");
  await page.getByTestId("create-user-submit").click();
  const row = page.locator(`[data-testid="user-row"][data-username="${username}"]`);
  await expect(row).toBeVisible();
  await expect(row).toContainText("Sam Support");
  await page.screenshot({ path: test.info().outputPath("users.png"), fullPage: true });

  await act.openHydrated(page, `/audit?action=user.`);
  const entry = page.locator('[data-testid="audit-row"][data-action="user.create"]').filter({ hasText: username });
  await expect(entry).toBeVisible();
  await expect(entry).toContainText("admin");
  await page.screenshot({ path: test.info().outputPath("audit.png"), fullPage: true });
  expect(errors).toEqual([]);
});
