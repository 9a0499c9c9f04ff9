import { expect, test } from "@playwright/test";
import { createContact, interactive, uniqueTag } from "./support/muster";

/** The fake Twilio that `muster fake-providers` serves (port + 7). */
const TWILIO = process.env.MUSTER_FAKE_TWILIO_URL ?? "http://127.0.0.1:9108";
const SID = "AC00000000000000000000000000000001";
const TOKEN = "demo-twilio-auth-token-00000000";

test("connect Twilio, send a test text, and see the token never again", async ({ page, request }) => {
  await page.goto("/contacts");
  await interactive(page);
  await page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "Settings" }).click();
  await expect(page.getByRole("heading", { name: "Settings", level: 1 })).toBeVisible();
  await interactive(page);
  const panel = page.getByTestId("sms-panel");
  await expect(panel.getByRole("heading", { name: "Connect Twilio" })).toBeVisible();

  // Mistakes are named beside their fields.
  await panel.getByLabel("Account SID").fill("AC123");
  await panel.getByLabel("Auth token").fill(TOKEN);
  await panel.getByLabel("Sends as").fill("0800 123");
  await panel.getByRole("button", { name: "Save" }).click();
  await expect(page.locator("#field-sms_account_sid-error")).toContainText("AC followed by 32");
  await expect(page.locator("#field-sms_sender-error")).toContainText("country code");

  await panel.getByLabel("Account SID").fill(SID);
  await panel.getByLabel("Sends as").fill("+1 500 555 0006");
  await panel.getByText("Advanced").click();
  await panel.getByLabel("Base URL").fill(TWILIO);
  await panel.getByRole("button", { name: "Save" }).click();
  await expect(panel.getByTestId("sms-ready")).toBeVisible();
  await expect(panel.getByTestId("sms-token-hint")).toHaveText("Saved, ending in 0000");
  await expect(panel.getByTestId("sms-summary")).toContainText("+15005550006");
  await expect(panel.getByTestId("sms-inbound-url")).toContainText("/sms/twilio/");
  await expect(page.getByTestId("settings-history")).toContainText("changed SMS settings");

  // Reloaded: the same, and the token is nowhere in the page.
  await page.reload();
  await interactive(page);
  await expect(panel.getByTestId("sms-token-hint")).toHaveText("Saved, ending in 0000");
  expect(await page.content()).not.toContain(TOKEN);

  // A test message reaches Twilio.
  const number = `+4474001${Math.floor(10000 + Math.random() * 89999)}`;
  await panel.getByLabel("Send a test message to").fill(number);
  await panel.getByRole("button", { name: "Send test message" }).click();
  await expect(panel.getByTestId("sms-test-sent")).toContainText("Twilio took the message (SM");
  const texts: { to: string; body: string }[] = await (await request.get(`${TWILIO}/messages`)).json();
  expect(texts.find((t) => t.to === number)?.body).toContain("This is a test message from Muster");
  await page.screenshot({ path: "test-results/settings-sms.png", fullPage: true });

  // The stored token does not follow a changed address.
  await panel.getByRole("button", { name: "Edit" }).click();
  await expect(panel.getByRole("heading", { name: "Edit the SMS settings" })).toBeVisible();
  await panel.getByText("Advanced").click();
  await panel.getByLabel("Base URL").fill("http://127.0.0.1:9/elsewhere");
  await panel.getByRole("button", { name: "Save" }).click();
  await expect(page.locator("#field-sms_auth_token-error")).toContainText("type the auth token again");
  await panel.getByRole("button", { name: "Cancel" }).click();
  await expect(panel.getByTestId("sms-summary")).toContainText(SID);

  // Removed, after a confirmation.
  await panel.getByRole("button", { name: "Remove" }).click();
  await page.getByRole("alertdialog").getByRole("button", { name: "Remove" }).click();
  await expect(panel.getByRole("heading", { name: "Connect Twilio" })).toBeVisible();
  await expect(page.getByTestId("settings-history")).toContainText("removed SMS settings");
});

test("an incident's texts go through Twilio, and its delivery reports show on the incident page", async ({ page }) => {
  const tag = uniqueTag();
  const saved = await page.request.post("/api/save_sms_settings", {
    data: { form: { account_sid: SID, auth_token: TOKEN, sender: "+15005550006", base_url: TWILIO, per_second: "" } },
  });
  expect(saved.ok()).toBeTruthy();
  const number = `+4474002${Math.floor(10000 + Math.random() * 89999)}`;
  await createContact(page.request, {
    first_name: "Tex",
    last_name: `Tester${tag}`,
    phone: number,
    department: `Texts${tag}`,
  });
  const launched = await page.request.post("/api/launch_incident", {
    data: {
      request: {
        scenario_id: null,
        draft: {
          name: `Texts ${tag}`,
          subject: `Texts ${tag}`,
          body: "Hello {first_name}, are you safe?",
          channels: { email: false, sms: true },
          options: ["I'm safe", "I need help"],
          recipients: { rules: [{ department: `Texts${tag}` }] },
        },
      },
    },
  });
  expect(launched.ok()).toBeTruthy();
  const incident = await launched.json();

  await page.goto(`/incidents/${incident.id}`);
  await interactive(page);
  const sms = page.getByTestId("channel-sms");
  await expect(sms.locator(".count-cell", { hasText: "Delivered" }).locator("dd")).toHaveText("1");
  await expect(page.getByRole("row", { name: new RegExp(`Tex Tester${tag}`) })).toContainText("Delivered");
  await page.screenshot({ path: "test-results/incident-sms.png", fullPage: true });

  const texts: { to: string; body: string }[] = await (await page.request.get(`${TWILIO}/messages`)).json();
  expect(texts.find((t) => t.to === number)?.body).toContain("Hello Tex, are you safe?\n\nReply with a number:\n1 I'm safe");
  expect((await page.request.post("/api/remove_sms_settings")).ok()).toBeTruthy();
});
