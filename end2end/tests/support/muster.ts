// Page objects and helpers shared by the specs.
import { expect, test, type APIRequestContext, type Locator, type Page } from "@playwright/test";

export const ADMIN = {
  org: "Acme Rescue",
  email: "admin@acme.example",
  password: "correct horse battery staple",
};

/** The setup code the server under test was started with (`.ci/run` sets it). */
export const SETUP_CODE = process.env.MUSTER_SETUP_CODE ?? "e2e-setup-code-0000";

/** Wait until the page is interactive (hydrated), where JavaScript runs at all:
 * typing or clicking before that reaches the server's HTML, and is lost. */
export async function interactive(page: Page) {
  if (test.info().project.use.javaScriptEnabled === false) return;
  await expect(page.locator("html[data-hydrated]")).toHaveCount(1);
}

/** A short tag that keeps one run's contacts apart from another's. */
export function uniqueTag(): string {
  return Math.random().toString(36).slice(2, 8);
}

export interface Draft {
  first_name: string;
  last_name: string;
  email?: string;
  phone?: string;
  department?: string;
  role?: string;
  location?: string;
  groups?: string[];
}

/** Create a contact through the server function, as the signed-in admin. */
export async function createContact(request: APIRequestContext, d: Draft) {
  const form: Record<string, string> = {};
  for (const [k, v] of Object.entries(d)) {
    if (Array.isArray(v)) v.forEach((g, i) => (form[`draft[${k}][${i}]`] = g));
    else if (v !== undefined) form[`draft[${k}]`] = v;
  }
  const res = await request.post("/api/create_contact", { form });
  expect(res.status(), await res.text()).toBe(200);
  return (await res.json()) as { id: number; version: number };
}

export class ContactsPage {
  readonly search: Locator;
  readonly count: Locator;
  readonly rows: Locator;

  constructor(readonly page: Page) {
    this.search = page.getByLabel("Search");
    this.count = page.getByTestId("contact-count");
    this.rows = page.locator("table.contacts tbody tr");
  }

  async goto(query = "") {
    await this.page.goto("/contacts" + (query ? "?" + query : ""));
    await expect(this.page.getByRole("heading", { name: "Contacts", level: 1 })).toBeVisible();
    await interactive(this.page);
  }

  row(name: string): Locator {
    return this.rows.filter({ hasText: name });
  }

  async filter(label: "Department" | "Role" | "Location" | "Status", value: string) {
    await this.page.getByLabel(label, { exact: true }).selectOption(value);
  }

  async apply() {
    await this.page.getByRole("button", { name: "Apply" }).click();
  }

  async reset() {
    await this.page.getByRole("link", { name: "Reset" }).click();
  }

  async expectCount(n: number) {
    await expect(this.count).toHaveText(n === 1 ? "1 contact" : `${n} contacts`);
  }
}

export class ContactForm {
  constructor(readonly page: Page) {}

  field(label: string): Locator {
    return this.page.getByLabel(label, { exact: true });
  }

  async fill(d: Partial<Draft>) {
    const labels: Record<string, string> = {
      first_name: "First name",
      last_name: "Last name",
      email: "Email",
      phone: "Mobile phone",
      department: "Department",
      role: "Role",
      location: "Location",
    };
    for (const [k, v] of Object.entries(d)) {
      if (k === "groups") continue;
      await this.field(labels[k]).fill(v as string);
    }
    for (const g of d.groups ?? []) {
      await this.field("Groups").fill(g);
      await this.field("Groups").press("Enter");
    }
  }

  errorFor(label: string): Locator {
    return this.page.locator(".field", { has: this.page.getByLabel(label, { exact: true }) }).locator(".field-error");
  }
}
