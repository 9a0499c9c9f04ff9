import { expect, test, type Page } from "@playwright/test";
import { readFile } from "node:fs/promises";
import { ContactsPage, interactive, uniqueTag } from "./support/muster";

const GOOD = 3000;

/** A spreadsheet export: good rows, three bad ones, and a second row for the first person. */
function peopleCsv(tag: string): string {
  const lines = ["First Name,Last Name,E-mail,Job Title,Office,Badge"];
  for (let i = 0; i < GOOD; i++) {
    lines.push(`Person${i},Up${tag},p${i}.${tag}@example.com,Engineer,"London, UK",${i}`);
    if (i === 1) lines.push(`Bad,Email${tag},not-an-email,,,x`);
  }
  lines.push(`Person0,Up${tag},P0.${tag}@EXAMPLE.com,Lead Engineer,,0`);
  lines.push(`Bad,NoName${tag},,,,y`);
  lines.push(`,Nameless${tag},nameless.${tag}@example.com,,,z`);
  return lines.join("\r\n") + "\r\n";
}

async function chooseAndUpload(page: Page, name: string, buffer: Buffer) {
  await interactive(page);
  await page.locator("#upload-file").setInputFiles({ name, mimeType: "text/csv", buffer });
  await expect(page.locator(".dropzone-title")).toHaveText(name);
  await page.getByRole("button", { name: "Upload", exact: true }).click();
  await expect(page.getByRole("heading", { name: "Check the columns" })).toBeVisible();
}

/** Watch the progress bar until the summary appears; the values it showed. */
async function watchProgress(page: Page): Promise<number[]> {
  const seen: number[] = [];
  const bar = page.getByRole("progressbar");
  const summary = page.getByRole("heading", { name: "Summary" });
  const deadline = Date.now() + 90_000;
  while (!(await summary.isVisible())) {
    const now = await bar.getAttribute("aria-valuenow", { timeout: 1000 }).catch(() => null);
    if (now !== null && seen[seen.length - 1] !== Number(now)) seen.push(Number(now));
    expect(Date.now()).toBeLessThan(deadline);
    await page.waitForTimeout(100);
  }
  return seen;
}

async function count(page: Page, key: string) {
  return page.getByTestId(`count-${key}`);
}

test("upload a CSV file: mapping, progress, summary, error report, then export and re-import", async ({
  page,
}) => {
  test.setTimeout(180_000);
  const tag = uniqueTag();
  await page.goto("/contacts");
  await page.getByLabel("More ways to add contacts").click();
  await page.getByRole("link", { name: "Upload contacts" }).click();
  await expect(page).toHaveURL(/\/contacts\/upload$/);
  await expect(page.getByRole("heading", { name: "Upload contacts", level: 1 })).toBeVisible();

  await chooseAndUpload(page, `people-${tag}.csv`, Buffer.from(peopleCsv(tag)));
  const total = GOOD + 4;
  await expect(page.getByTestId("preview-summary")).toContainText(`${total} rows`);
  await expect(page.getByTestId("preview-summary")).toContainText("UTF-8, comma-separated");
  await expect(page.getByLabel("Job Title")).toHaveValue("role");
  await expect(page.getByLabel("E-mail")).toHaveValue("email");
  await expect(page.getByLabel("Office")).toHaveValue("location");
  await expect(page.getByTestId("ignored-columns")).toHaveText("Ignored: Badge.");
  const badRow = page.locator("table.preview-rows tbody tr").filter({ hasText: `Email${tag}` });
  await expect(badRow).toContainText("Email: Enter a valid email address");
  await expect(page.locator("table.preview-rows tbody tr").first()).toContainText("OK");
  await page.screenshot({ path: "test-results/upload-preview.png", fullPage: true });

  await page.getByRole("button", { name: `Import ${total} rows` }).click();
  await expect(page).toHaveURL(/\/contacts\/imports\/\d+$/);
  const seen = await watchProgress(page);
  console.log(`progress values seen: ${seen}`);
  expect(seen.length, `progress values seen: ${seen}`).toBeGreaterThanOrEqual(2);
  expect(seen[0]).toBeLessThan(100);
  expect(seen[seen.length - 1]).toBeGreaterThan(seen[0]);

  await expect(page.getByTestId("import-status")).toHaveText("Completed");
  await expect(await count(page, "created")).toHaveText(String(GOOD));
  await expect(await count(page, "updated")).toHaveText("1");
  await expect(await count(page, "unchanged")).toHaveText("0");
  await expect(await count(page, "failed")).toHaveText("3");
  await expect(await count(page, "warnings")).toHaveText("1");
  await page.screenshot({ path: "test-results/upload-summary.png", fullPage: true });

  const [report] = await Promise.all([
    page.waitForEvent("download"),
    page.getByRole("link", { name: "Download error report" }).click(),
  ]);
  const lines = (await readFile(await report.path(), "utf8")).replace(/^\uFEFF/, "").trim().split(/\r?\n/);
  // A line per row: what was wrong, and a failed row's own cells under the file's headers.
  expect(lines[0]).toBe("Line,Problem,Severity,First Name,Last Name,E-mail,Job Title,Office,Badge");
  expect(lines).toHaveLength(5);
  expect(lines[1]).toBe(
    `4,"E-mail: Enter a valid email address, like name@example.com.",Error,Bad,Email${tag},not-an-email,,,x`,
  );
  expect(lines.some((l) => l.includes(",Warning,") && l.includes("line 2"))).toBeTruthy();

  const list = new ContactsPage(page);
  await list.goto(`q=${tag}`);
  await list.expectCount(GOOD);
  await expect(list.rows.first()).toContainText("CSV upload");

  // The history lists the upload.
  await page.goto("/contacts/imports");
  const row = page.locator("table.history tbody tr").filter({ hasText: `people-${tag}.csv` });
  await expect(row).toContainText("Completed");
  await expect(row).toContainText("admin@acme.example");

  // Export the filtered list, and import it again: nothing changes.
  await list.goto(`q=${tag}`);
  const [exported] = await Promise.all([
    page.waitForEvent("download"),
    page.getByRole("link", { name: "Export CSV" }).click(),
  ]);
  const file = await readFile(await exported.path());
  expect(file.toString("utf8").replace(/^\uFEFF/, "").split(/\r\n/)[0]).toBe(
    "First Name,Last Name,Email,Mobile Phone,Department,Role,Location,Groups",
  );
  await page.goto("/contacts/upload");
  await chooseAndUpload(page, `export-${tag}.csv`, file);
  await page.getByRole("button", { name: `Import ${GOOD} rows` }).click();
  await watchProgress(page);
  await expect(await count(page, "unchanged")).toHaveText(String(GOOD));
  await expect(await count(page, "created")).toHaveText("0");
  await expect(await count(page, "updated")).toHaveText("0");
  await expect(await count(page, "failed")).toHaveText("0");
});

test("a file that is not a CSV is refused with why, and a preview can be cancelled", async ({ page }) => {
  await page.goto("/contacts/upload");
  await interactive(page);
  await page.locator("#upload-file").setInputFiles({
    name: "people.xlsx",
    mimeType: "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    buffer: Buffer.from("PK\x03\x04\x14\x00\x06\x00[Content_Types].xml", "latin1"),
  });
  await page.getByRole("button", { name: "Upload", exact: true }).click();
  await expect(page.getByRole("alert")).toContainText("an Excel workbook");
  await expect(page.getByRole("button", { name: "Upload", exact: true })).toBeVisible();

  const tag = uniqueTag();
  await chooseAndUpload(page, "small.csv", Buffer.from(`First Name,Last Name,Email\nAda,Cancel${tag},ada.${tag}@example.com\n`));
  await page.getByRole("button", { name: "Cancel" }).click();
  await expect(page.getByRole("button", { name: "Upload", exact: true })).toBeVisible();
  const list = new ContactsPage(page);
  await list.goto(`q=${tag}`);
  await list.expectCount(0);
});
