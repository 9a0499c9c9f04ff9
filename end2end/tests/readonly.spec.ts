// Read-only views; this file runs both hydrated and with JavaScript disabled.
import { expect, test } from "@playwright/test";
import { ContactsPage, createContact, uniqueTag } from "./support/muster";

const tag = uniqueTag();

test.beforeAll(async ({ request }) => {
  for (const [first, dept] of [
    ["Alan", "Research"],
    ["Alice", "Research"],
    ["Bob", "Support"],
  ]) {
    await createContact(request, {
      first_name: first,
      last_name: `Ro${tag}`,
      email: `${first.toLowerCase()}.${tag}@ro.example`,
      department: dept,
    });
  }
});

test("the list, search, filters and Reset work from the URL and plain form posts", async ({ page }) => {
  const list = new ContactsPage(page);
  await list.goto(`q=ro${tag}`);
  await list.expectCount(3);
  await expect(list.row(`Alan Ro${tag}`)).toContainText("–");

  await list.search.fill(`alice.${tag}`);
  await list.search.press("Enter");
  await list.expectCount(1);
  await expect(list.row(`Alice Ro${tag}`)).toBeVisible();

  await list.search.fill(`ro${tag}`);
  await list.filter("Department", "Research");
  await list.apply();
  await expect(page).toHaveURL(/department=Research/);
  await list.expectCount(2);

  await list.reset();
  await expect(page).toHaveURL(/\/contacts$/);
  await expect(list.search).toHaveValue("");
});

test("a contact's details are shown by its View link", async ({ page }) => {
  const list = new ContactsPage(page);
  await list.goto(`q=bob.${tag}`);
  await list.row(`Bob Ro${tag}`).getByRole("link", { name: "View" }).click();
  await expect(page.getByRole("heading", { name: `Bob Ro${tag}` })).toBeVisible();
  await expect(page.getByLabel("Email", { exact: true })).toHaveValue(`bob.${tag}@ro.example`);
  await expect(page.getByLabel("Department", { exact: true })).toHaveValue("Support");
});

test("paging moves through a long list", async ({ page, request }) => {
  const pageTag = uniqueTag();
  for (let i = 0; i < 55; i++) {
    await createContact(request, { first_name: `P${String(i).padStart(2, "0")}`, last_name: `Pg${pageTag}`, email: `p${i}.${pageTag}@pg.example` });
  }
  const list = new ContactsPage(page);
  await list.goto(`q=pg${pageTag}`);
  await list.expectCount(55);
  await expect(list.rows).toHaveCount(50);
  await expect(list.rows.first()).toContainText(`P00 Pg${pageTag}`);
  await page.getByRole("link", { name: "Next →" }).click();
  await expect(list.rows).toHaveCount(5);
  await expect(list.rows.first()).toContainText(`P50 Pg${pageTag}`);
  await page.getByRole("link", { name: "← Previous" }).click();
  await expect(list.rows).toHaveCount(50);
  await expect(list.rows.last()).toContainText(`P49 Pg${pageTag}`);
});
