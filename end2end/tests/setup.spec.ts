import { expect, test } from "@playwright/test";
import { ADMIN, SETUP_CODE, interactive } from "./support/muster";

test("first run leads to setup, which creates the organisation and signs in", async ({ page }) => {
  await page.goto("/contacts");
  await expect(page).toHaveURL(/\/setup$/);
  await expect(page.getByRole("heading", { name: "Set up Muster" })).toBeVisible();
  // The setup page's code is fetched apart from the rest: wait until it runs.
  await interactive(page);

  // A short password is refused next to its field.
  await page.getByLabel("Organisation name").fill(ADMIN.org);
  await page.getByLabel("Default phone region").selectOption("GB");
  await page.getByLabel("Time zone").selectOption("Europe/London");
  await page.getByLabel("Email", { exact: true }).fill(ADMIN.email);
  // Without the code the server printed, nobody can take the server over;
  // every field's problem is named at once.
  await page.getByLabel("Password", { exact: true }).fill("too short");
  await page.getByLabel("Setup code").fill("ABCD-EFGH-JKMN");
  await page.getByRole("button", { name: "Create organisation" }).click();
  await expect(page.getByText("Use a password of at least 12 characters.")).toBeVisible();
  await expect(page.getByText("That is not the setup code.")).toBeVisible();

  await page.getByLabel("Password", { exact: true }).fill(ADMIN.password);
  await page.getByRole("button", { name: "Create organisation" }).click();
  await expect(page.getByText("That is not the setup code.")).toBeVisible();
  await expect(page.getByText("Use a password of at least 12 characters.")).toHaveCount(0);

  await page.getByLabel("Setup code").fill(SETUP_CODE);
  await page.getByRole("button", { name: "Create organisation" }).click();
  await expect(page).toHaveURL(/\/contacts$/);
  await expect(page.getByText("No contacts yet")).toBeVisible();
  await expect(page.getByText(ADMIN.org)).toBeVisible();

  // Once set up, the setup page is gone.
  await page.goto("/setup");
  await expect(page).toHaveURL(/\/contacts$/);
  await page.context().storageState({ path: "tests/.auth/admin.json" });
});
