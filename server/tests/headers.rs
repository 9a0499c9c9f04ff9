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

/// The browser's code goes as the brotli file written beside it at build time
/// to browsers that take brotli, else gzipped as it goes; a `.gz` file beside
/// it is never sent (cargo-leptos's gzip is larger than the server's own).
#[tokio::test]
async fn browser_code_goes_compressed_and_precompressed_brotli_first() {
    use std::io::Read;
    let site = std::env::temp_dir().join(common::unique_name("muster-site"));
    let pkg = site.join("pkg");
    std::fs::create_dir_all(&pkg).unwrap();
    let code: Vec<u8> = (0..50_000u32)
        .flat_map(|i| (i % 251).to_le_bytes())
        .collect();
    std::fs::write(pkg.join("muster.wasm"), &code).unwrap();
    std::fs::write(pkg.join("muster.wasm.br"), b"brotli bytes").unwrap();
    std::fs::write(pkg.join("muster.wasm.gz"), b"not what is sent").unwrap();
    std::fs::write(pkg.join("muster.js"), "export default 1;\n".repeat(100)).unwrap();
    let root = site.to_str().unwrap().to_string();
    let app = TestApp::spawn_configured(move |mut state| {
        state.leptos_options.site_root = root.into();
        state
    })
    .await;
    let get = |path: &str, accept: Option<&str>| {
        let mut req = app.client().get(format!("{}/pkg/{path}", app.url));
        if let Some(accept) = accept {
            req = req.header("accept-encoding", accept);
        }
        req.send()
    };
    let encoding = |res: &reqwest::Response| {
        res.headers()
            .get("content-encoding")
            .map(|v| v.to_str().unwrap().to_string())
    };

    let res = get("muster.wasm", Some("gzip, deflate, br, zstd"))
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(encoding(&res).as_deref(), Some("br"));
    assert_eq!(res.headers()["content-type"], "application/wasm");
    assert_eq!(&res.bytes().await.unwrap()[..], b"brotli bytes");

    for path in ["muster.wasm", "muster.js"] {
        let res = get(path, Some("gzip")).await.unwrap();
        assert_eq!(res.status(), 200, "{path}");
        assert_eq!(encoding(&res).as_deref(), Some("gzip"), "{path}");
        let gzipped = res.bytes().await.unwrap();
        let mut body = Vec::new();
        flate2::read::GzDecoder::new(&gzipped[..])
            .read_to_end(&mut body)
            .unwrap();
        let original = std::fs::read(pkg.join(path)).unwrap();
        assert_eq!(body, original, "{path}");
        assert!(gzipped.len() < original.len() / 2, "{path}");
    }

    let res = get("muster.wasm", None).await.unwrap();
    assert_eq!(encoding(&res), None);
    assert_eq!(&res.bytes().await.unwrap()[..], &code[..]);

    let res = get("missing.wasm", Some("gzip, br")).await.unwrap();
    assert_eq!(res.status(), 404);
    let _ = std::fs::remove_dir_all(&site);
}

/// Server functions answer at their own path for their own method; any other
/// `/api/` path is not found, and a known one with another method is refused.
#[tokio::test]
async fn server_functions_answer_only_at_their_own_routes() {
    let app = TestApp::spawn().await;
    let client = app.org_admin("Acme", "admin@acme.example").await;
    let res = app
        .call(&client, "list_contacts", &[("query[q]", "")])
        .await;
    assert_eq!(res.status(), 200);
    let res = app.call(&client, "no_such_function", &[]).await;
    let status = res.status();
    assert_eq!(status, 404, "{}", res.text().await.unwrap());
    let res = client
        .get(format!("{}/api/list_contacts", app.url))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 405);
}
