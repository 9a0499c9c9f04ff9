// cargo-leptos starts the server and the tests together; wait until it answers.
export default async function waitForServer() {
  const url = process.env.MUSTER_URL ?? "http://127.0.0.1:3000";
  const deadline = Date.now() + 120_000;
  for (;;) {
    try {
      const res = await fetch(url + "/login", { redirect: "manual" });
      if (res.status > 0) return;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) throw new Error(`Muster did not answer at ${url}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}
