import { expect, test } from "@playwright/test";
import { ADMIN, interactive } from "./support/muster";

// Runs after every other spec (its project depends on theirs): it changes the
// administrator's password and ends every session.
const NEW_PASSWORD = "a brand new password for 2027";

test("your account: a new password ends the other sessions; sign out everywhere ends them all", async ({
  page,
  browser,
}) => {
  // The same administrator signed in on a second browser.
  const other = await browser.newContext({ storageState: { cookies: [], origins: [] } });
  const elsewhere = await other.newPage();
  await elsewhere.goto("/login");
  await interactive(elsewhere);
  await elsewhere.getByLabel("Email", { exact: true }).fill(ADMIN.email);
  await elsewhere.getByLabel("Password", { exact: true }).fill(ADMIN.password);
  await elsewhere.getByRole("button", { name: "Sign in" }).click();
  await expect(elsewhere).toHaveURL(/\/contacts/);

  await page.goto("/contacts");
  await interactive(page);
  await page.getByRole("link", { name: ADMIN.email }).click();
  await expect(page).toHaveURL(/\/account$/);
  await expect(page.getByRole("heading", { name: "Your account" })).toBeVisible();
  await interactive(page);

  const change = async (current: string, next: string, confirm: string) => {
    await page.getByLabel("Current password").fill(current);
    await page.getByLabel("New password", { exact: true }).fill(next);
    await page.getByLabel("Confirm new password").fill(confirm);
    await page.getByRole("button", { name: "Change password" }).click();
  };
  await change("not my password at all", NEW_PASSWORD, NEW_PASSWORD);
  await expect(page.getByText("That is not your current password.")).toBeVisible();
  await change(ADMIN.password, NEW_PASSWORD, "a brand new password for 2028");
  await expect(page.getByText("The two new passwords are not the same.")).toBeVisible();
  await page.screenshot({ path: "test-results/account-errors.png", fullPage: true });

  await change(ADMIN.password, NEW_PASSWORD, NEW_PASSWORD);
  await expect(page.getByRole("status").filter({ hasText: "Password changed." })).toBeVisible();
  await expect(page.getByLabel("Current password")).toHaveValue("");
  expect((await elsewhere.request.post("/api/whoami")).status()).toBe(401);
  expect((await page.request.post("/api/whoami")).status()).toBe(200);

  await page.getByRole("button", { name: "Sign out everywhere" }).click();
  await expect(page).toHaveURL(/\/login/);
  expect((await page.request.post("/api/whoami")).status()).toBe(401);
  await other.close();
});
