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

/** Change the fake Okta's people (its control endpoint). */
async function changeOkta(
  request: import("@playwright/test").APIRequestContext,
  change: Record<string, unknown>,
) {
  const res = await request.post(`${FAKE_OKTA}/_fake/people`, { data: change });
  expect(res.ok()).toBeTruthy();
}

/** The fake Okta as it started, connected, its first sync done. */
async function connectOkta(page: Page, request: import("@playwright/test").APIRequestContext) {
  await changeOkta(request, { restore: true });
  await page.goto("/contacts/integrations");
  await expect(page.locator("html[data-hydrated]")).toHaveCount(1);
  const dialog = await openConnect(page);
  await dialog.getByLabel("Domain").fill(FAKE_OKTA);
  await dialog.getByLabel("API Token").fill(TOKEN);
  await dialog.getByRole("button", { name: "Connect", exact: true }).click();
  await expect(dialog).toBeHidden();
  const card = page.getByTestId("integration");
  await expect(card.getByTestId("integration-status")).toHaveText("Connected", { timeout: 30_000 });
  const imported = Number(await card.getByTestId("integration-contacts").textContent());
  return { card, imported };
}

test("sync history, its export, and deletions held for review", async ({ page, request }) => {
  const { card, imported } = await connectOkta(page, request);

  // Five people move to another department in Okta; Sync now brings it over.
  await changeOkta(request, { department: "Research", count: 5 });
  await card.getByRole("button", { name: "Manage" }).click();
  // Preview changes first: what the sync would do, with nothing applied.
  await card.getByRole("button", { name: "Preview changes" }).click();
  const preview = card.getByTestId("sync-preview");
  await expect(preview.getByTestId("preview-counts")).toContainText("0 would be added, 5 updated", {
    timeout: 30_000,
  });
  await preview.getByTestId("preview-updated").locator("summary").click();
  await expect(preview.getByTestId("preview-updated")).toContainText("→ Research");
  await page.screenshot({ path: "test-results/integrations-preview.png", fullPage: true });
  await preview.getByRole("button", { name: "Close preview" }).click();
  await expect(preview).toBeHidden();
  await card.getByRole("button", { name: "Sync now" }).click();
  await expect(card.getByTestId("integration-status")).toHaveText("Connected", { timeout: 30_000 });
  const history = card.getByTestId("sync-history");
  const runs = history.getByTestId("sync-run");
  await expect(runs).toHaveCount(2);
  const newest = runs.first();
  await expect(newest.getByTestId("sync-synced")).toHaveText("5");
  await expect(newest).toContainText("Succeeded");
  await newest.getByRole("button", { name: /Details of sync/ }).click();
  const details = newest.getByTestId("sync-details");
  await expect(details).toBeVisible();
  await expect(details.getByTestId("sync-updated")).toHaveText("5");
  await expect(details.getByTestId("sync-deleted")).toHaveText("0");
  await expect(details).toContainText("Sync now");
  await page.screenshot({ path: "test-results/integrations-history.png", fullPage: true });

  // The export lists each changed field with its value before and after.
  const [download] = await Promise.all([
    page.waitForEvent("download"),
    newest.getByRole("link", { name: "Export .csv" }).click(),
  ]);
  const csv = (await import("node:fs")).readFileSync(await download.path(), "utf8");
  const lines = csv.trim().split(/\r\n/);
  expect(lines[0]).toContain("Action,External ID,Name,Email,Field,Before,After,Reason");
  expect(lines.filter((l) => l.startsWith("Updated,") && l.includes(",department,"))).toHaveLength(5);
  expect(csv).toContain(",Research,");

  // Most people leave: the sync holds its deletions, with the list.
  await changeOkta(request, { deprovision: 200 });
  await card.getByRole("button", { name: "Sync now" }).click();
  const held = card.getByTestId("integration-held");
  await expect(held).toContainText("Held: would delete", { timeout: 30_000 });
  await expect(card.getByTestId("integration-contacts")).toHaveText(String(imported));
  await held.getByRole("button", { name: "Review deletions" }).click();
  const list = held.getByTestId("held-list");
  await expect(list.getByRole("row").nth(1)).toBeVisible();
  await expect(list).toContainText("gone from the source");
  const heldCount = Number((await held.locator("strong").textContent())?.match(/\d+/)?.[0]);
  expect(heldCount).toBeGreaterThan(150);
  await page.screenshot({ path: "test-results/integrations-held.png", fullPage: true });

  // Applied: the contacts go.
  await held.getByRole("button", { name: "Apply deletions" }).click();
  await expect(held).toBeHidden();
  await expect(card.getByTestId("integration-contacts")).toHaveText(String(imported - heldCount));

  // Leave things as they were: the fake restored, the integration removed.
  await changeOkta(request, { restore: true });
  // Manage stays open while the list is read again.
  await card.getByRole("button", { name: "Remove integration" }).click();
  await page.getByRole("alertdialog", { name: "Remove Okta?" }).getByRole("button", { name: "Remove integration" }).click();
  await expect(page.getByTestId("no-integrations")).toBeVisible();
});

test("the schedule, a running sync's progress, and Cancel", async ({ page, request }) => {
  const { card, imported } = await connectOkta(page, request);
  const next = card.getByTestId("integration-next-sync");
  await expect(next).toHaveText(/^\d{4}-\d{2}-\d{2} \d{2}:\d{2} UTC$/);

  // The daily time, on the organisation's clocks.
  await card.getByRole("button", { name: "Manage" }).click();
  const before = await next.textContent();
  await card.getByLabel("Daily at").fill("12:34");
  await card.getByRole("button", { name: "Save time" }).click();
  await expect(card.getByText("Saved.")).toBeVisible();
  await expect(next).not.toHaveText(before ?? "");
  await expect(next).toHaveText(/:34 UTC$/);
  // The deletion bounds save the same way.
  await card.getByLabel("or more than this many").fill("1000");
  await card.getByRole("button", { name: "Save bounds" }).click();
  await expect(card.getByText("Saved.")).toHaveCount(2);

  // A slow source: the card shows how far the sync has got, and Cancel
  // stops it with nothing changed.
  await changeOkta(request, { deprovision: 3, latency_ms: 400 });
  await card.getByRole("button", { name: "Sync now" }).click();
  const progress = card.getByTestId("sync-progress");
  await expect(progress).toContainText(/Reading the source: [1-9]\d* people, [1-9]\d* pages so far/, {
    timeout: 30_000,
  });
  await page.screenshot({ path: "test-results/integrations-progress.png", fullPage: true });
  await progress.getByRole("button", { name: "Cancel sync" }).click();
  await expect(card.getByTestId("integration-status")).toHaveText("Connected", { timeout: 30_000 });
  await expect(progress).toBeHidden();
  await expect(card.getByTestId("integration-contacts")).toHaveText(String(imported));
  const newest = card.getByTestId("sync-history").getByTestId("sync-run").first();
  await expect(newest).toContainText("Cancelled");

  await changeOkta(request, { restore: true });
  await card.getByRole("button", { name: "Remove integration" }).click();
  await page.getByRole("alertdialog", { name: "Remove Okta?" }).getByRole("button", { name: "Remove integration" }).click();
  await expect(page.getByTestId("no-integrations")).toBeVisible();
});
