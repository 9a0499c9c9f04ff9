import { expect, test } from "@playwright/test";

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
