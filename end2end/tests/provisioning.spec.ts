import { expect, test } from "@playwright/test";
import { ContactsPage, interactive, uniqueTag } from "./support/muster";

// An identity provider's side of SCIM provisioning: a plain HTTP client with
// the base URL and token copied from the Provisioning panel.
test("provisioning: make a token, copy it, provision a user over SCIM, deactivate it, revoke the token", async ({
  page,
  request,
  context,
}) => {
  const tag = uniqueTag();
  const name = `Entra ${tag} (SCIM)`;
  await context.grantPermissions(["clipboard-read", "clipboard-write"]);
  await page.goto("/contacts/integrations");
  await expect(page.getByRole("heading", { name: "Provisioning (SCIM)" })).toBeVisible();
  await interactive(page);
  const baseUrl = (await page.getByTestId("scim-base-url").textContent())!.trim();
  expect(baseUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/scim\/v2$/);

  // A name is required, and said beside its field.
  await page.getByRole("button", { name: "Add identity provider" }).click();
  await page.getByLabel("Name", { exact: true }).fill(" ");
  await page.getByRole("button", { name: "Add and make a token" }).click();
  await expect(page.getByText("Enter a name.")).toBeVisible();

  await page.getByLabel("Name", { exact: true }).fill(name);
  await page.getByLabel("Token name").fill("Production");
  await page.getByRole("button", { name: "Add and make a token" }).click();
  const issued = page.getByTestId("scim-issued-token");
  await expect(issued).toContainText("cannot show it again");
  const token = await page.getByTestId("scim-token-value").inputValue();
  expect(token).toMatch(/^muster_scim_/);
  await issued.getByRole("button", { name: "Copy the token" }).click();
  await expect(issued.getByRole("button", { name: "Copy the token" })).toHaveText("Copied");
  expect(await page.evaluate(() => navigator.clipboard.readText())).toBe(token);

  const source = page.getByTestId("scim-source").filter({ hasText: name });
  await expect(source.getByTestId("scim-token")).toHaveCount(1);
  await expect(source.getByTestId("scim-token-state")).toHaveText("Active");
  await expect(source.getByTestId("scim-token")).toContainText(token.slice(-4));
  await page.screenshot({ path: "test-results/provisioning.png", fullPage: true });

  // The identity provider pushes a user.
  const auth = { Authorization: `Bearer ${token}`, "Content-Type": "application/scim+json" };
  const userName = `grace.${tag}@acme.example`;
  const created = await request.post(`${baseUrl}/Users`, {
    headers: auth,
    data: {
      schemas: ["urn:ietf:params:scim:schemas:core:2.0:User"],
      userName,
      name: { givenName: "Grace", familyName: `Hopper${tag}` },
      emails: [{ value: userName, type: "work", primary: true }],
      active: true,
    },
  });
  expect(created.status(), await created.text()).toBe(201);
  expect(created.headers()["content-type"]).toBe("application/scim+json");

  const contacts = new ContactsPage(page);
  await contacts.goto(`q=Hopper${tag}`);
  await expect(contacts.row(`Hopper${tag}`)).toContainText(name);

  // Its page says who provisions it; the provider's fields are locked.
  await contacts.row(`Hopper${tag}`).getByRole("link", { name: "View" }).click();
  await expect(page.getByTestId("provisioned-notice")).toContainText(name);
  await interactive(page);
  await expect(page.getByLabel("First name")).toHaveAttribute("readonly", "");
  await expect(page.getByLabel("Email")).toHaveAttribute("readonly", "");
  await expect(page.getByLabel("Department")).not.toHaveAttribute("readonly", "");

  // Deactivated by the provider, it is marked so.
  const id = (await created.json()).id;
  const off = await request.patch(`${baseUrl}/Users/${id}`, {
    headers: auth,
    data: {
      schemas: ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
      Operations: [{ op: "Replace", path: "active", value: "False" }],
    },
  });
  expect(off.status(), await off.text()).toBe(200);
  await page.reload();
  await expect(page.getByTestId("deactivated-notice")).toContainText("Deactivated");
  await page.screenshot({ path: "test-results/provisioned-contact.png", fullPage: true });

  // It leaves the list, unless the Status filter asks for the deactivated.
  await contacts.goto(`q=Hopper${tag}`);
  await contacts.expectCount(0);
  await expect(contacts.row(`Hopper${tag}`)).toHaveCount(0);
  await contacts.filter("Status", "Deactivated");
  await contacts.apply();
  await expect(page).toHaveURL(/status=deactivated/);
  await contacts.expectCount(1);
  await expect(contacts.row(`Hopper${tag}`).getByTestId("deactivated-badge")).toHaveText(
    "Deactivated",
  );
  await page.screenshot({ path: "test-results/deactivated-list.png", fullPage: true });

  // Revoked, the token is refused at once; the user stays.
  await page.goto("/contacts/integrations");
  await interactive(page);
  await source.getByRole("button", { name: "Revoke token Production" }).click();
  await source.getByRole("button", { name: "Yes, revoke" }).click();
  await expect(source.getByTestId("scim-token-state")).toHaveText("Revoked");
  const refused = await request.get(`${baseUrl}/Users`, { headers: auth });
  expect(refused.status()).toBe(401);
  expect((await refused.json()).status).toBe("401");
  await contacts.goto(`q=Hopper${tag}&status=all`);
  await expect(contacts.row(`Hopper${tag}`)).toHaveCount(1);
});
