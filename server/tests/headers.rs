//! Every response carries the security headers; a page's policy allows only
//! the scripts that carry this render's nonce, and Muster's own files.

mod common;

use common::TestApp;

#[tokio::test]
async fn pages_carry_a_policy_with_their_own_nonce() {
    let app = TestApp::spawn().await;
    let client = app.org_admin("Acme", "admin@acme.example").await;
    let mut nonces = Vec::new();
    for path in ["/login", "/contacts", "/contacts/integrations"] {
        let client = if path == "/login" {
            app.client()
        } else {
            client.clone()
        };
        let res = client
            .get(format!("{}{path}", app.url))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200, "{path}");
        let headers = res.headers().clone();
        assert_eq!(headers["x-content-type-options"], "nosniff");
        assert_eq!(headers["referrer-policy"], "same-origin");
        let policy = headers["content-security-policy"]
            .to_str()
            .unwrap()
            .to_string();
        assert!(policy.contains("frame-ancestors 'none'"), "{policy}");
        assert!(!policy.contains("unsafe-inline"), "{policy}");
        let nonce = policy
            .split("'nonce-")
            .nth(1)
            .and_then(|rest| rest.split('\'').next())
            .unwrap_or_else(|| panic!("{path}: no nonce in {policy}"))
            .to_string();
        let html = res.text().await.unwrap();
        let scripts = html.matches("<script").count();
        assert!(scripts > 0, "{path}");
        assert_eq!(
            html.matches(&format!("nonce=\"{nonce}\"")).count(),
            scripts,
            "{path}: every script carries the nonce"
        );
        assert!(!html.contains(" style=\""), "{path}: no inline style");
        nonces.push(nonce);
    }
    nonces.dedup();
    assert_eq!(nonces.len(), 3, "a fresh nonce per page");

    // Not a page: nothing may run, nothing may frame it.
    let res = app.call(&client, "whoami", &[]).await;
    assert_eq!(res.headers()["x-content-type-options"], "nosniff");
    assert!(res.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .starts_with("default-src 'none'"));
}
