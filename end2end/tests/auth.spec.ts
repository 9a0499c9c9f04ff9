import { expect, test } from "@playwright/test";
import { ADMIN, interactive } from "./support/muster";

test.use({ storageState: { cookies: [], origins: [] } });

test("sign-in, a wrong password, and sign-out ending access", async ({ page }) => {
  await page.goto("/contacts?q=ada");
  await expect(page).toHaveURL(/\/login\?next=/);
  await interactive(page);

  await page.getByLabel("Email", { exact: true }).fill(ADMIN.email);
  await page.getByLabel("Password", { exact: true }).fill("not the password");
  await page.getByRole("button", { name: "Sign in" }).click();
  await expect(page.getByRole("alert").filter({ hasText: "do not match" })).toBeVisible();

  await page.getByLabel("Password", { exact: true }).fill(ADMIN.password);
  await page.getByRole("button", { name: "Sign in" }).click();
  // Back where the admin was going, search included.
  await expect(page).toHaveURL(/\/contacts\?q=ada$/);
  await expect(page.getByLabel("Search")).toHaveValue("ada");

  await page.getByRole("button", { name: "Sign out" }).click();
  await expect(page).toHaveURL(/\/login/);
  await page.goto("/contacts");
  await expect(page).toHaveURL(/\/login\?next=/);
  const res = await page.request.post("/api/list_contacts", { form: { "query[q]": "" } });
  expect(res.status()).toBe(401);
});
