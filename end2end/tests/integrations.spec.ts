import { expect, test, type Page } from "@playwright/test";
import { ContactsPage, createContact, uniqueTag } from "./support/muster";

// `muster fake-providers` runs beside the server (see .ci/run).
const FAKE_OKTA = process.env.MUSTER_FAKE_OKTA_URL ?? "http://127.0.0.1:9101";
const TOKEN = "00fake-okta-token-for-muster-demo";

async function openConnect(page: Page) {
  await page.getByRole("button", { name: "Connect Okta" }).click();
  const dialog = page.getByRole("dialog", { name: "Connect Okta" });
  await expect(dialog).toBeVisible();
  return dialog;
}

test("connect Okta: test, connect, contacts listed with their source, remove with the exact count", async ({
  page,
  request,
}) => {
  const tag = uniqueTag();
  await createContact(request, {
    first_name: "Kept",
    last_name: `Manual${tag}`,
    email: `kept.${tag}@acme.example`,
  });

  await page.goto("/contacts/integrations");
  await expect(page.getByRole("heading", { name: "Add an integration" })).toBeVisible();
  await expect(page.locator("html[data-hydrated]")).toHaveCount(1);
  await expect(page.getByTestId("no-integrations")).toBeVisible();

  // A wrong token: the test says what is wrong and what to do.
  let dialog = await openConnect(page);
  await dialog.getByLabel("Domain").fill(FAKE_OKTA);
  await dialog.getByLabel("API Token").fill("00not-the-token");
  await dialog.getByRole("button", { name: "Test Connection" }).click();
  await expect(dialog.getByTestId("test-result")).toContainText("E0000011");
  await expect(dialog.getByTestId("test-result")).toContainText("Security → API → Tokens");

  // A missing field is named beside the field.
  await dialog.getByLabel("API Token").fill("");
  await dialog.getByRole("button", { name: "Test Connection" }).click();
  await expect(dialog.getByText("Enter the API Token.")).toBeVisible();

  // The right token: success, with how many users and a few names.
  await dialog.getByLabel("API Token").fill(TOKEN);
  await dialog.getByRole("button", { name: "Test Connection" }).click();
  await expect(dialog.getByTestId("test-result")).toContainText("Connection works");
  await expect(dialog.getByTestId("test-result")).toContainText("users on the first page");
  await page.screenshot({ path: "test-results/integrations-connect.png", fullPage: true });

  await dialog.getByRole("button", { name: "Connect", exact: true }).click();
  await expect(dialog).toBeHidden();
  const card = page.getByTestId("integration");
  await expect(card).toHaveCount(1);
  await expect(card.getByTestId("integration-status")).toHaveText("Connected", { timeout: 30_000 });
  const imported = Number(await card.getByTestId("integration-contacts").textContent());
  expect(imported).toBeGreaterThan(100);
  await card.getByRole("button", { name: "Manage" }).click();
  await expect(card.getByTestId("integration-result")).toContainText("added");
  await expect(card.getByText("API Token — set")).toBeVisible();
  await page.screenshot({ path: "test-results/integrations-connected.png", fullPage: true });

  // The contacts are in the directory with Okta as their source.
  const list = new ContactsPage(page);
  await list.goto("q=example.com");
  const fromOkta = list.rows.filter({ has: page.locator(".badge", { hasText: "Okta" }) });
  await expect(fromOkta.first()).toBeVisible();

  // A synced contact shows its groups from Okta apart, read-only.
  await fromOkta.first().getByRole("link", { name: "View" }).click();
  await expect(page.locator("html[data-hydrated]")).toHaveCount(1);
  await expect(page.getByTestId("synced-notice")).toContainText("Each sync writes its name");
  const synced = page.getByRole("list", { name: "Groups from Okta" });
  await expect(synced.getByRole("listitem")).toHaveCount(2);
  await expect(synced).toContainText("Team");
  await expect(synced).toContainText("Office");
  await expect(synced.getByRole("button")).toHaveCount(0);
  await page.screenshot({ path: "test-results/integrations-synced-contact.png", fullPage: true });

  // Remove: the dialog states exactly how many contacts go.
  await page.goto("/contacts/integrations");
  await expect(page.locator("html[data-hydrated]")).toHaveCount(1);
  await card.getByRole("button", { name: "Manage" }).click();
  await card.getByRole("button", { name: "Remove integration" }).click();
  const confirm = page.getByRole("alertdialog", { name: "Remove Okta?" });
  await expect(confirm.getByTestId("remove-count")).toContainText(
    `${imported} contacts imported from Okta will be deleted`,
  );
  await confirm.getByRole("button", { name: "Remove integration" }).click();
  await expect(confirm).toBeHidden();
  await expect(page.getByTestId("no-integrations")).toBeVisible();

  await list.goto("q=example.com");
  await expect(fromOkta).toHaveCount(0);
  await list.goto(`q=manual${tag}`);
  await list.expectCount(1);
});
