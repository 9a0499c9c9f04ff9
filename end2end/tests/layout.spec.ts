import { expect, test } from "@playwright/test";
import { interactive } from "./support/muster";

test("keyboard reaches the controls, and the page works at phone width", async ({ page }) => {
  await page.goto("/contacts");
  await page.keyboard.press("Tab");
  await expect(page.getByRole("link", { name: "Skip to content" })).toBeFocused();
  await page.setViewportSize({ width: 390, height: 844 });
  await expect(page.getByRole("link", { name: "Add Contact" }).first()).toBeVisible();
  await expect(page.getByLabel("Search")).toBeVisible();
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  expect(overflow).toBeLessThanOrEqual(0);
  await page.screenshot({ path: "test-results/contacts-390.png", fullPage: true });
  await page.setViewportSize({ width: 1280, height: 800 });
  await page.screenshot({ path: "test-results/contacts-1280.png", fullPage: true });
  await page.getByRole("link", { name: "Integrations" }).click();
  await expect(page.getByTestId("no-integrations")).toBeVisible();
});

test("the Contacts page loads only its own code, gzipped; another page's code comes when it is opened", async ({
  page,
}) => {
  const fetched: { url: string; encoding: string | undefined }[] = [];
  page.on("response", (res) => {
    const url = new URL(res.url());
    if (url.pathname.startsWith("/pkg/")) fetched.push({ url: url.pathname, encoding: res.headers()["content-encoding"] });
  });
  await page.goto("/contacts");
  await interactive(page);
  await expect(page.getByRole("heading", { name: "Contacts", exact: true, level: 1 })).toBeVisible();
  const first = fetched.map((f) => f.url);
  expect(first).toContain("/pkg/muster.wasm");
  // The code of the other pages is in files of their own, not fetched yet.
  expect(first.filter((u) => /\/(split_|chunk_)[^/]*\.wasm$/.test(u))).toEqual([]);
  for (const f of fetched.filter((f) => /\.(wasm|js)$/.test(f.url))) {
    expect(f.encoding, f.url).toBe("gzip");
  }
  // Nor are their texts: each page's data comes with its code. wasm-split
  // leaves all of it in the first load when its layout runs out of room
  // (frontend/src/lib.rs). This is CI's debug build, which has room without
  // that array; server/README gives the check for a release build.
  const main = await (await page.request.get("/pkg/muster.wasm")).body();
  expect(main.includes("Search by name or email"), "the Contacts page's own text").toBe(true);
  expect(main.includes("A rule reaches everyone who matches it"), "the scenario editor's text").toBe(false);
  expect(main.includes("Users, groups and org units from the Admin SDK"), "an integration's text").toBe(false);

  fetched.length = 0;
  await page.getByRole("link", { name: "Settings" }).click();
  await expect(page.getByRole("heading", { name: "Settings", exact: true, level: 1 })).toBeVisible();
  expect(fetched.map((f) => f.url).some((u) => /\/split_[^/]*settings[^/]*\.wasm$/.test(u))).toBe(true);
});
