// Helpers for the console tests, split by what they do: find things, act on them, check them.
import { expect, type APIRequestContext, type Page } from "@playwright/test";

export const find = {
  nav: (page: Page) => page.getByRole("navigation", { name: "Main" }),
  /** A navigation link by its label (a live count may follow it: "Interventions 3 open interventions…"). */
  navLink: (page: Page, name: string) =>
    find.nav(page).getByRole("link", { name: new RegExp(`^${name}(\\s|$)`) }),
  heading: (page: Page) => page.getByRole("heading", { level: 1 }),
  connection: (page: Page) => page.getByTestId("connection-status"),
  serverTime: (page: Page) => page.getByTestId("server-time"),
  liveToggle: (page: Page) => page.getByTestId("live-toggle"),
};

export const act = {
  /** Opens a page and waits until the browser bundle has hydrated it: the live feed connects only then. */
  async openHydrated(page: Page, path: string) {
    await page.goto(path);
    await expect(find.connection(page)).toHaveText("Live", { timeout: 20_000 });
    await act.ready(page);
  },
  /** Waits until every part of the page that loads data has hydrated (its controls respond). */
  async ready(page: Page) {
    await expect(page.locator('[data-ready="false"]')).toHaveCount(0, { timeout: 20_000 });
  },
};

export const check = {
  /** No uncaught errors or console errors while the test ran. */
  collectErrors(page: Page): string[] {
    const errors: string[] = [];
    page.on("pageerror", (error) => errors.push(error.message));
    page.on("console", (message) => {
      if (message.type() === "error") errors.push(message.text());
    });
    return errors;
  },
};

/** Signing in as someone else than the default admin. */
export const people = {
  /** Creates a user with this role (as the admin of the default state); answers the username. */
  async create(request: APIRequestContext, role: "support" | "manager" | "reviewer" | "admin", name?: string): Promise<string> {
    const username = name ?? unique(role).toLowerCase();
    const response = await request.post("/api/users", { data: { username, role, password: PERSON_PASSWORD } });
    expect(response.status(), await response.text()).toBe(201);
    return username;
  },
  /** Signs in through the sign-in page (a fresh browser context has no cookie) and lands on `next`. */
  async signIn(page: Page, username: string, next = "/") {
    await page.goto(`/sign-in?next=${encodeURIComponent(next)}`);
    await page.getByTestId("sign-in-username").fill(username);
    await page.getByTestId("sign-in-password").fill(PERSON_PASSWORD);
    await page.getByTestId("sign-in-submit").click();
    await page.waitForURL((url) => url.pathname + url.search === next);
  },
};

/** The password of every user the tests create. */
export const PERSON_PASSWORD = "e2e person password";

/** The JSON API, for setting up what a test needs (the console itself is driven through the page). */
export const api = {
  /** Starts an instance and answers it. */
  async start(request: APIRequestContext, workflow: string, input: unknown): Promise<{ id: string; status: string }> {
    const response = await request.post("/api/instances", { data: { workflow, input } });
    expect(response.status(), await response.text()).toBe(201);
    return response.json();
  },
  /** Waits until the instance has settled (finished, failed, or waits for a person) and answers it. */
  async settled(request: APIRequestContext, id: string): Promise<{ id: string; status: string }> {
    const response = await request.get(`/api/instances/${id}/wait?timeout_ms=30000`);
    expect(response.ok(), await response.text()).toBeTruthy();
    return response.json();
  },
  /** Replaces a simulated service's faults; answers the settings it had before. */
  async setFaults(request: APIRequestContext, service: string, faults: Faults): Promise<Faults> {
    const before = await (await request.get(`/api/services/${service}/faults`)).json();
    const response = await request.post(`/api/services/${service}/faults`, { data: faults });
    expect(response.ok(), await response.text()).toBeTruthy();
    return before;
  },
  /** A call-lifecycle input for a call with this id. */
  callInput(callId: string) {
    return { call_id: callId, seller_id: "seller-e2e", caller_number: "+14155550123", vertical: "insurance", region: "US-CA" };
  },
};

export type Faults = {
  latency: { p50_ms: number; p99_ms: number };
  failure_rate: number;
  timeout_rate: number;
  lost_reply_rate: number;
};

/** No delay and no injected errors. */
export const HEALTHY: Faults = { latency: { p50_ms: 0, p99_ms: 0 }, failure_rate: 0, timeout_rate: 0, lost_reply_rate: 0 };

/** A unique suffix for ids a test creates, so reruns on one database do not collide. */
export function unique(prefix: string): string {
  return `${prefix}-${Date.now().toString(36)}${Math.floor(Math.random() * 1e6).toString(36)}`;
}

/** The database the test server runs on (scripts/test.sh runs every test on both). */
export const BACKEND = (process.env.SWITCHBOARD_E2E_DATABASE_URL ?? "sqlite:").startsWith("postgres")
  ? { name: "postgres", label: "PostgreSQL" }
  : { name: "sqlite", label: "SQLite" };
