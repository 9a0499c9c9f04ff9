import { expect, test, type Page } from "@playwright/test";
import { createContact, interactive, uniqueTag } from "./support/muster";

/** Three engineers in London (two in a group of their own, one without a
 * mobile phone) and one in Leeds, all of this run. */
async function people(page: Page, tag: string) {
  const dept = `Eng${tag}`;
  const made = [
    { first_name: "Ada", email: `ada.${tag}@acme.example`, phone: "+447400123401", location: "London", groups: [`Team${tag}`] },
    { first_name: "Bob", email: `bob.${tag}@acme.example`, location: "London", groups: [`Team${tag}`] },
    { first_name: "Cy", email: `cy.${tag}@acme.example`, phone: "+447400123403", location: "London" },
    { first_name: "Dee", email: `dee.${tag}@acme.example`, phone: "+447400123404", location: "Leeds" },
  ];
  for (const p of made) {
    await createContact(page.request, { ...p, last_name: `Tester${tag}`, department: dept });
  }
  return dept;
}

test("build a scenario from a group, a rule and a person, and see whom it reaches", async ({ page }) => {
  const tag = uniqueTag();
  const dept = await people(page, tag);
  await page.goto("/scenarios");
  await interactive(page);
  await page.getByRole("link", { name: "New scenario" }).first().click();
  await expect(page.getByRole("heading", { name: "New scenario", level: 1 })).toBeVisible();
  await interactive(page);

  await page.getByLabel("Name", { exact: true }).fill(`Fire drill ${tag}`);
  await page.getByLabel("Severity").selectOption("high");
  await page.getByLabel("Subject", { exact: true }).fill("Fire drill: leave the building");
  await page.getByLabel("Message", { exact: true }).fill("Hello {first_name}, please leave now.");
  await expect(page.getByTestId("message-preview")).toHaveText("Hello Alex, please leave now.");
  const reach = page.getByTestId("reach");
  await expect(reach).toContainText("Reaches 0 people");

  // A group, chosen from the list narrowed by typing.
  await page.getByText("Choose groups").click();
  await page.getByLabel("Find a group").fill(`Team${tag}`);
  await page.getByRole("checkbox", { name: `Team${tag}` }).check();
  await expect(page.getByRole("list", { name: "Chosen groups" })).toContainText(`Team${tag}`);
  await expect(reach).toContainText("Reaches 2 people");
  await expect(page.getByTestId("reach-without-phone")).toHaveText("1 without a mobile phone");

  // A rule: the department's people in London (Ada and Bob again, and Cy).
  await page.getByRole("button", { name: "Add rule" }).click();
  await page.locator("#rule-0-department").selectOption(dept);
  await page.locator("#rule-0-location").selectOption("London");
  await expect(reach).toContainText("Reaches 3 people");

  // A person picked by name: Dee, in Leeds.
  await page.getByLabel("Find a person").fill(`dee.${tag}`);
  await page.getByRole("button", { name: new RegExp(`Dee Tester${tag}`) }).click();
  await expect(page.getByRole("list", { name: "Chosen people" })).toContainText(`Dee Tester${tag}`);
  await expect(reach).toContainText("Reaches 4 people");

  // Who cannot be texted, and why each is reached.
  await page.getByTestId("reach-without-phone").click();
  const list = page.getByTestId("reach-list");
  await expect(list).toContainText("1–1 of 1");
  await expect(list.getByRole("row", { name: new RegExp(`Bob Tester${tag}`) })).toContainText(`Group Team${tag}`);
  await page.getByTestId("reach-people").click();
  await expect(list).toContainText("1–4 of 4");
  await expect(list.getByRole("row", { name: new RegExp(`Cy Tester${tag}`) })).toContainText(
    `Rule: Department is ${dept} and Location is London`,
  );
  await expect(list.getByRole("row", { name: new RegExp(`Dee Tester${tag}`) })).toContainText("Picked by name");
  await page.screenshot({ path: "test-results/scenario-editor.png", fullPage: true });

  await page.getByRole("button", { name: "Save scenario" }).click();
  await expect(page).toHaveURL(/\/scenarios\/\d+$/);
  await expect(page.getByRole("heading", { name: `Fire drill ${tag}`, level: 1 })).toBeVisible();
  await interactive(page);
  // Opened again, the selection is as saved.
  await page.reload();
  await interactive(page);
  await expect(page.getByTestId("reach")).toContainText("Reaches 4 people");
  await expect(page.getByRole("list", { name: "Chosen people" })).toContainText(`Dee Tester${tag}`);
  await expect(page.getByTestId("scenario-history")).toContainText("created");

  // Listed and found by search.
  await page.goto(`/scenarios?q=${tag}`);
  await interactive(page);
  const row = page.locator("table.scenarios tbody tr");
  await expect(row).toHaveCount(1);
  await expect(row).toContainText("1 group, 1 rule, 1 person");
  await expect(row).toContainText("High");
  await expect(row).toContainText("Email and SMS");

  // Copied, then the copy deleted.
  await row.getByRole("link").click();
  await interactive(page);
  await page.getByRole("button", { name: "Copy" }).click();
  await expect(page.getByRole("heading", { name: `Copy of Fire drill ${tag}`, level: 1 })).toBeVisible();
  await interactive(page);
  await page.getByRole("button", { name: "Delete" }).click();
  await page.getByRole("alertdialog").getByRole("button", { name: "Delete" }).click();
  await expect(page).toHaveURL(/\/scenarios$/);
  await page.getByLabel("Search").fill(tag);
  await expect(page.locator("table.scenarios tbody tr")).toHaveCount(1);
});

test("a scenario without a name, subject or channel is refused next to each field", async ({ page }) => {
  await page.goto("/scenarios/new");
  await interactive(page);
  await page.getByLabel("Email").uncheck();
  await page.getByLabel("SMS").uncheck();
  await page.getByRole("button", { name: "Save scenario" }).click();
  const error = (label: string) =>
    page.locator(".field", { has: page.getByLabel(label, { exact: true }) }).locator(".field-error");
  await expect(error("Name")).toHaveText("A name is required.");
  await expect(error("Subject")).toHaveText("A subject is required.");
  await expect(page.locator("#field-channels-error")).toHaveText("Choose email, SMS or both.");
  await expect(page).toHaveURL(/\/scenarios\/new$/);
});

const FAKE_OKTA = process.env.MUSTER_FAKE_OKTA_URL ?? "http://127.0.0.1:9101";
const OKTA_TOKEN = "00fake-okta-token-for-muster-demo";
const INBOX = process.env.MUSTER_FAKE_INBOX_URL ?? "http://127.0.0.1:9107";

interface Group {
  id: number;
  name: string;
  source: string;
  members: number;
}

test("launch an incident to a synced group and a rule, answer from the email's link, see the tally", async ({
  page,
  browser,
  request,
}) => {
  test.setTimeout(90_000);
  const tag = uniqueTag();
  const dept = await people(page, tag);

  // Okta connected, its first sync done: its groups are recipients.
  const connect = await request.post("/api/connect_integration", {
    data: { form: { provider: "okta", fields: { domain: FAKE_OKTA, api_token: OKTA_TOKEN } } },
  });
  expect(connect.status(), await connect.text()).toBe(200);
  const okta = (await connect.json()) as { id: number };
  await expect
    .poll(async () => {
      const list = (await (await request.post("/api/integrations")).json()) as { id: number; last_sync_at: string | null }[];
      return list.find((i) => i.id === okta.id)?.last_sync_at ?? null;
    }, { timeout: 30_000 })
    .not.toBeNull();
  const groups = (await (await request.post("/api/recipient_groups")).json()) as Group[];
  const synced = groups
    .filter((g) => g.source === "Okta" && g.members > 0)
    .sort((a, b) => a.members - b.members)[0];
  expect(synced, JSON.stringify(groups)).toBeTruthy();

  try {
    // The scenario: the smallest Okta group, and this run's engineers in London.
    await page.goto("/scenarios/new");
    await interactive(page);
    await page.getByLabel("Name", { exact: true }).fill(`Outage ${tag}`);
    await page.getByLabel("Subject", { exact: true }).fill(`Outage ${tag}`);
    await page.getByLabel("Message", { exact: true }).fill("Hello {first_name}, are you safe?");
    await page.locator("#option-0").fill("I'm safe");
    await page.getByRole("button", { name: "Add option" }).click();
    await page.locator("#option-1").fill("I need help");
    await page.getByLabel("SMS").uncheck();
    await page.getByText("Choose groups").click();
    await page.getByLabel("Find a group").fill(synced.name);
    const fromOkta = page.getByRole("group", { name: "Groups from Okta" });
    await fromOkta.getByRole("checkbox", { name: synced.name }).first().check();
    await page.getByRole("button", { name: "Add rule" }).click();
    await page.locator("#rule-0-department").selectOption(dept);
    await page.locator("#rule-0-location").selectOption("London");
    const expected = synced.members + 3;
    await expect(page.getByTestId("reach")).toContainText(`Reaches ${expected} people`);
    await page.getByRole("button", { name: "Save scenario" }).click();
    await expect(page).toHaveURL(/\/scenarios\/\d+$/);
    await interactive(page);

    // Launched from the scenario, after the confirmation states the count.
    await page.getByRole("link", { name: "Launch" }).click();
    await expect(page.getByRole("heading", { name: "Launch an incident" })).toBeVisible();
    await interactive(page);
    await page.getByRole("button", { name: "Review and launch" }).click();
    const confirm = page.getByRole("alertdialog");
    await expect(confirm.getByRole("heading")).toHaveText(`Notify ${expected} people?`);
    await expect(confirm.getByTestId("launch-summary")).toContainText("Email to");
    await page.screenshot({ path: "test-results/incident-confirm.png" });
    await confirm.getByRole("button", { name: "Launch now" }).click();
    await expect(page).toHaveURL(/\/incidents\/\d+$/);
    await expect(page.getByRole("heading", { name: `Outage ${tag}`, level: 1 })).toBeVisible();
    await interactive(page);
    await expect(page.getByTestId("incident-status")).toHaveText("Active");
    await expect(page.getByTestId("recipient-count")).toContainText(`of ${expected}`);

    // Ada's email, captured by the sink, holds her link.
    let link = "";
    await expect
      .poll(async () => {
        const mails = (await (await request.get(`${INBOX}/messages`)).json()) as { to: string[]; link: string | null }[];
        link = mails.find((m) => m.to.includes(`ada.${tag}@acme.example`))?.link ?? "";
        return link;
      }, { timeout: 30_000 })
      .toContain("/respond/");

    // Opened without signing in, answered.
    const stranger = await browser.newContext();
    const answer = await stranger.newPage();
    await answer.goto(link);
    await expect(answer.getByRole("heading", { name: `Outage ${tag}` })).toBeVisible();
    await expect(answer.getByText("Hello Ada, are you safe?")).toBeVisible();
    await interactive(answer);
    await answer.getByRole("button", { name: "I'm safe" }).click();
    await expect(answer.getByTestId("your-answer")).toContainText("Your answer: I'm safe");
    await answer.screenshot({ path: "test-results/incident-answer.png" });
    await stranger.close();

    // The incident page's tally follows by itself.
    const safe = page.getByTestId("tally").getByRole("listitem").filter({ hasText: "I'm safe" });
    await expect(safe.locator(".tally-count")).toHaveText("1");
    await page.screenshot({ path: "test-results/incident-page.png", fullPage: true });

    // A follow-up to those who have not answered: everyone but Ada.
    await page.getByRole("button", { name: "Send a follow-up" }).click();
    await page.locator("#follow-up-body").fill("Please answer if you can.");
    await page.getByRole("button", { name: "Send", exact: true }).click();
    await expect(page.getByTestId("follow-up-queued")).toHaveText(`Follow-up queued: ${expected - 1} messages.`);
    await expect(page.getByTestId("incident-history")).toContainText("sent a follow-up to those who have not answered");
    await expect(page.getByTestId("message-progress")).toHaveCount(2);
    await page.screenshot({ path: "test-results/incident-follow-up.png", fullPage: true });
    await page.getByRole("button", { name: "Resolve" }).click();
    await page.getByRole("alertdialog").getByRole("button", { name: "Resolve" }).click();
    await expect(page.getByTestId("incident-status")).toHaveText("Resolved");
  } finally {
    const removed = await request.post("/api/remove_integration", { form: { id: String(okta.id) } });
    expect(removed.status(), await removed.text()).toBe(200);
  }
});
