import { expect, test } from "@playwright/test";
import { ContactForm, ContactsPage, createContact, interactive, uniqueTag } from "./support/muster";

test("add a contact: it is listed and counted at once", async ({ page }) => {
  const tag = uniqueTag();
  const list = new ContactsPage(page);
  await list.goto(`q=${tag}`);
  await list.expectCount(0);

  await page.goto("/contacts");
  await interactive(page);
  await page.getByRole("link", { name: "Add Contact" }).first().click();
  await expect(page.getByRole("heading", { name: "Add contact" })).toBeVisible();
  const form = new ContactForm(page);
  await form.fill({
    first_name: "Grace",
    last_name: `Hopper${tag}`,
    email: `grace.${tag}@navy.example`,
    phone: "07911 123456",
    department: "Engineering",
    role: "Rear Admiral",
    location: "Arlington",
    groups: ["Night Shift"],
  });
  await expect(page.getByRole("listitem").filter({ hasText: "Night Shift" })).toBeVisible();
  await page.getByRole("button", { name: "Save", exact: true }).click();

  await expect(page).toHaveURL(/\/contacts$/);
  await list.search.fill(tag);
  await list.expectCount(1);
  const row = list.row(`Grace Hopper${tag}`);
  await expect(row).toContainText(`grace.${tag}@navy.example`);
  await expect(row).toContainText("+447911123456");
  await expect(row).toContainText("Manual");
});

test("bad email and bad phone are shown next to their fields; nothing is saved", async ({ page }) => {
  const tag = uniqueTag();
  await page.goto("/contacts/new");
  await interactive(page);
  const form = new ContactForm(page);
  await form.fill({ first_name: "Bad", last_name: `Input${tag}`, email: "not-an-email", phone: "12345" });
  await page.getByRole("button", { name: "Save", exact: true }).click();
  await expect(form.errorFor("Email")).toHaveText(/valid email address/);
  await expect(form.errorFor("Mobile phone")).toHaveText(/not a valid phone number|country code/);
  await expect(form.field("Email")).toHaveAttribute("aria-invalid", "true");
  await expect(page).toHaveURL(/\/contacts\/new$/);

  const list = new ContactsPage(page);
  await list.goto(`q=${tag}`);
  await list.expectCount(0);
});

test("a duplicate email is refused, whatever its case", async ({ page }) => {
  const tag = uniqueTag();
  await createContact(page.request, { first_name: "Ada", last_name: `First${tag}`, email: `ada.${tag}@example.com` });
  await page.goto("/contacts/new");
  await interactive(page);
  const form = new ContactForm(page);
  await form.fill({ first_name: "Ada", last_name: `Second${tag}`, email: `ADA.${tag}@Example.com` });
  await page.getByRole("button", { name: "Save", exact: true }).click();
  await expect(form.errorFor("Email")).toHaveText("A contact with this email address already exists.");
});

test.describe("search and filters", () => {
  const tag = uniqueTag();
  test.beforeAll(async ({ request }) => {
    const people: [string, string, string][] = [
      ["John", "Engineering", "London"],
      ["Johanna", "Sales", "London"],
      ["Jonas", "Engineering", "Berlin"],
      ["Maria", "Engineering", "Berlin"],
      ["Peter", "Finance", "Paris"],
    ];
    for (const [first, dept, loc] of people) {
      await createContact(request, {
        first_name: first,
        last_name: `Tag${tag}`,
        email: `${first.toLowerCase()}.${tag}@corp.example`,
        department: dept,
        location: loc,
        role: "Analyst",
      });
    }
  });

  test("search as you type narrows the list and the count", async ({ page }) => {
    const list = new ContactsPage(page);
    await list.goto();
    await list.search.pressSequentially(`tag${tag}`, { delay: 20 });
    await list.expectCount(5);
    await expect(page).toHaveURL(new RegExp(`q=tag${tag}`));
    await list.search.fill(`joh`);
    await list.search.pressSequentially(`n tag${tag}`, { delay: 20 });
    await list.expectCount(1);
    await expect(list.rows).toHaveCount(1);
    await expect(list.row(`John Tag${tag}`)).toBeVisible();
    // Searching by email works too.
    await list.search.fill(`johanna.${tag}@corp`);
    await list.expectCount(1);
    await expect(list.row(`Johanna Tag${tag}`)).toBeVisible();
  });

  test("a department filter with Apply, then Reset", async ({ page }) => {
    const list = new ContactsPage(page);
    await list.goto(`q=tag${tag}`);
    await list.expectCount(5);
    await list.filter("Department", "Engineering");
    await list.apply();
    await expect(page).toHaveURL(/department=Engineering/);
    await list.expectCount(3);
    await expect(list.row(`Peter Tag${tag}`)).toHaveCount(0);
    await list.reset();
    await expect(page).toHaveURL(/\/contacts$/);
    await expect(list.search).toHaveValue("");
    await expect(page.getByLabel("Department", { exact: true })).toHaveValue("");
  });

  test("search and filters combine, and the back button restores them", async ({ page }) => {
    const list = new ContactsPage(page);
    await list.goto();
    await list.search.fill(`jo`);
    await list.filter("Department", "Engineering");
    await list.filter("Location", "Berlin");
    await list.search.fill(`jon`);
    await list.search.pressSequentially(`as tag${tag}`);
    await list.apply();
    await list.expectCount(1);
    await expect(list.row(`Jonas Tag${tag}`)).toBeVisible();
    await page.goto(`/contacts?q=tag${tag}&department=Engineering`);
    await list.expectCount(3);
    await page.goBack();
    await list.expectCount(1);
    await page.reload();
    await interactive(page);
    await list.expectCount(1);
    await expect(page.getByLabel("Location", { exact: true })).toHaveValue("Berlin");
  });

  test("a search typed after choosing a filter keeps the filter chosen until Apply", async ({ page }) => {
    const list = new ContactsPage(page);
    await list.goto();
    await list.filter("Location", "Berlin");
    await list.search.pressSequentially(`tag${tag}`, { delay: 20 });
    // The search has reached the URL (and the list), without the filter yet.
    await expect(page).toHaveURL(new RegExp(`q=tag${tag}$`));
    await list.expectCount(5);
    await expect(page.getByLabel("Location", { exact: true })).toHaveValue("Berlin");
    await list.apply();
    await expect(page).toHaveURL(/location=Berlin/);
    await list.expectCount(2);
  });

  test("a contact opens by its eye icon, by a click on its row, and by Enter", async ({ page }) => {
    const list = new ContactsPage(page);
    await list.goto(`q=tag${tag}`);
    await list.row(`Maria Tag${tag}`).getByRole("link", { name: "View" }).click();
    await expect(page.getByRole("heading", { name: `Maria Tag${tag}` })).toBeVisible();
    await expect(page.getByLabel("Department", { exact: true })).toHaveValue("Engineering");

    await page.goBack();
    await list.row(`Peter Tag${tag}`).getByText("Finance").or(list.row(`Peter Tag${tag}`).locator("td").first()).first().click();
    await expect(page.getByRole("heading", { name: `Peter Tag${tag}` })).toBeVisible();

    await page.goBack();
    await list.row(`Jonas Tag${tag}`).focus();
    await page.keyboard.press("Enter");
    await expect(page.getByRole("heading", { name: `Jonas Tag${tag}` })).toBeVisible();
  });
});

test("edit and save a contact; a stale second save is refused", async ({ page, browser }) => {
  const tag = uniqueTag();
  const { id } = await createContact(page.request, {
    first_name: "Edith",
    last_name: `Clarke${tag}`,
    email: `edith.${tag}@example.com`,
  });
  await page.goto(`/contacts/${id}`);
  await interactive(page);
  // A second administrator opens the same contact.
  const other = await browser.newPage({ storageState: "tests/.auth/admin.json" });
  await other.goto(`/contacts/${id}`);
  await expect(other.getByRole("heading", { name: `Edith Clarke${tag}` })).toBeVisible();
  await interactive(other);

  const form = new ContactForm(page);
  await form.fill({ last_name: `Clarke-Edited${tag}`, department: "Power Systems", phone: "+1 415 555 2671" });
  await form.fill({ groups: ["Grid Team"] });
  await page.getByRole("button", { name: "Save changes" }).click();
  await expect(page.getByText("Changes saved.")).toBeVisible();
  await expect(page.getByRole("heading", { name: `Edith Clarke-Edited${tag}` })).toBeVisible();

  const otherForm = new ContactForm(other);
  await otherForm.fill({ first_name: "Edie" });
  await other.getByRole("button", { name: "Save changes" }).click();
  await expect(other.getByRole("alert").filter({ hasText: "Someone else changed this contact" })).toBeVisible();
  await other.close();

  await page.reload();
  await interactive(page);
  await expect(form.field("First name")).toHaveValue("Edith");
  await expect(form.field("Mobile phone")).toHaveValue("+14155552671");
  await expect(page.getByRole("listitem").filter({ hasText: "Grid Team" })).toBeVisible();
  const list = new ContactsPage(page);
  await list.goto(`q=${tag}`);
  await expect(list.row(`Edith Clarke-Edited${tag}`)).toContainText("+14155552671");
});

test("delete asks for confirmation, then removes the contact", async ({ page }) => {
  const tag = uniqueTag();
  const { id } = await createContact(page.request, { first_name: "Temp", last_name: `Person${tag}`, phone: "+44 7911 123457" });
  await page.goto(`/contacts/${id}`);
  await interactive(page);
  await page.getByRole("button", { name: "Delete contact" }).click();
  const dialog = page.getByRole("alertdialog");
  await expect(dialog).toContainText(`Delete Temp Person${tag}?`);
  await dialog.getByRole("button", { name: "Cancel" }).click();
  await expect(dialog).toHaveCount(0);
  await page.getByRole("button", { name: "Delete contact" }).click();
  await page.getByRole("alertdialog").getByRole("button", { name: "Delete", exact: true }).click();
  await expect(page).toHaveURL(/\/contacts$/);
  const list = new ContactsPage(page);
  await list.goto(`q=${tag}`);
  await list.expectCount(0);
});
