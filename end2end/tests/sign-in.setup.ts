// Signs in as the first admin through the JSON API and keeps the session cookie for the other tests
// (the `console` project uses it as its storage state).
import { expect, test as setup } from "@playwright/test";
import { ADMIN_PASSWORD, ADMIN_STATE } from "../playwright.config";

setup("sign in as admin", async ({ request }) => {
  const response = await request.post("/api/auth/sign-in", { data: { username: "admin", password: ADMIN_PASSWORD } });
  expect(response.status(), await response.text()).toBe(200);
  await request.storageState({ path: ADMIN_STATE });
});
