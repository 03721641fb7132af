// Helpers for the console tests, split by what they do: find things, act on them, check them.
import { expect, type Page } from "@playwright/test";

export const find = {
  nav: (page: Page) => page.getByRole("navigation", { name: "Main" }),
  navLink: (page: Page, name: string) =>
    find.nav(page).getByRole("link", { name, exact: true }),
  heading: (page: Page) => page.getByRole("heading", { level: 1 }),
  connection: (page: Page) => page.getByTestId("connection-status"),
  serverTime: (page: Page) => page.getByTestId("server-time"),
  liveToggle: (page: Page) => page.getByTestId("live-toggle"),
};

export const act = {
  /** Opens a page and waits until the browser bundle has hydrated it: the live feed connects only then. */
  async openHydrated(page: Page, path: string) {
    await page.goto(path);
    await expect(find.connection(page)).toHaveText("Live");
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
