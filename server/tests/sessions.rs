//! Sessions end when idle and when their lifetime is over (and the sweeper
//! deletes them); changing the password ends every other session; signing out
//! everywhere ends them all; signing out works without JavaScript; over https
//! the cookie is `__Host-` and `Secure`.

mod common;

use app::backend::auth::{self, SessionPolicy};
use app::model::AppError;
use common::{TestApp, PASSWORD};
use reqwest::{Client, StatusCode};
use std::time::Duration;

const ADMIN: &str = "admin@acme.example";

async fn signed_in(app: &TestApp, client: &Client) -> bool {
    app.call(client, "whoami", &[]).await.status() == StatusCode::OK
}

async fn sign_in(app: &TestApp, password: &str) -> Client {
    let client = app.client();
    let res = app
        .call(
            &client,
            "login",
            &[("email", ADMIN), ("password", password)],
        )
        .await;
    // A form post without `Accept: text/html` is told where to go by
    // `Location` with a 200 (the server-function client's way), else a 302.
    assert!(
        res.status().is_success() || res.status().is_redirection(),
        "{}",
        res.status()
    );
    client
}

async fn session_rows(app: &TestApp) -> i64 {
    use sea_orm::{ConnectionTrait, Statement};
    let db = &app.db;
    let row = db
        .query_one_raw(Statement::from_string(
            db.get_database_backend(),
            "SELECT COUNT(*) FROM sessions".to_string(),
        ))
        .await
        .unwrap()
        .unwrap();
    row.try_get_by_index::<i64>(0).unwrap()
}

#[tokio::test]
async fn an_idle_session_ends_and_a_used_one_lasts_until_its_lifetime() {
    let policy = SessionPolicy {
        idle: Duration::from_secs(3),
        lifetime: Duration::from_secs(9),
    };
    let app = TestApp::spawn_configured(|s| s.with_sessions(policy)).await;
    let used = app.org_admin("Acme", ADMIN).await;
    let idle = sign_in(&app, PASSWORD).await;
    // Used every second: alive after 5 s, longer than the idle timeout.
    for _ in 0..5 {
        tokio::time::sleep(Duration::from_secs(1)).await;
        assert!(signed_in(&app, &used).await);
    }
    assert!(!signed_in(&app, &idle).await, "idle for 5 s");
    // The sweeper deletes the idle one's row.
    assert_eq!(auth::sweep_sessions(&app.db, &policy).await.unwrap(), 1);
    assert_eq!(session_rows(&app).await, 1);
    // However much it is used, a session ends with its lifetime.
    for _ in 0..5 {
        tokio::time::sleep(Duration::from_secs(1)).await;
        let _ = signed_in(&app, &used).await;
    }
    assert!(!signed_in(&app, &used).await, "past its 9 s lifetime");
    assert_eq!(auth::sweep_sessions(&app.db, &policy).await.unwrap(), 1);
    assert_eq!(session_rows(&app).await, 0);
    // Signing in again works.
    assert!(signed_in(&app, &sign_in(&app, PASSWORD).await).await);
}

#[tokio::test]
async fn changing_the_password_ends_the_other_sessions() {
    let app = TestApp::spawn().await;
    let here = app.org_admin("Acme", ADMIN).await;
    let elsewhere = sign_in(&app, PASSWORD).await;
    let new = "a much longer new password";
    for (current, new_password, confirm, field) in [
        ("not my password!", new, new, "current_password"),
        (PASSWORD, "too short", "too short", "new_password"),
        (
            PASSWORD,
            new,
            "a much longer new passw0rd",
            "confirm_password",
        ),
    ] {
        let res = app
            .call(
                &here,
                "change_password",
                &[
                    ("current_password", current),
                    ("new_password", new_password),
                    ("confirm_password", confirm),
                ],
            )
            .await;
        assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY, "{field}");
        let error: AppError = res.json().await.unwrap();
        assert!(error.field_message(field).is_some(), "{field}: {error:?}");
        assert!(signed_in(&app, &elsewhere).await, "nothing changed");
    }
    let ended: u64 = app
        .json(
            &here,
            "change_password",
            &[
                ("current_password", PASSWORD),
                ("new_password", new),
                ("confirm_password", new),
            ],
        )
        .await;
    assert_eq!(ended, 1);
    assert!(signed_in(&app, &here).await, "this session stays");
    assert!(!signed_in(&app, &elsewhere).await, "the other one ended");
    let res = app
        .call(
            &app.client(),
            "login",
            &[("email", ADMIN), ("password", PASSWORD)],
        )
        .await;
    assert_eq!(
        res.status(),
        StatusCode::UNPROCESSABLE_ENTITY,
        "old password"
    );
    assert!(signed_in(&app, &sign_in(&app, new).await).await);
}

#[tokio::test]
async fn signing_out_everywhere_ends_every_session_of_that_admin_only() {
    let app = TestApp::spawn().await;
    let here = app.org_admin("Acme", ADMIN).await;
    let elsewhere = sign_in(&app, PASSWORD).await;
    let colleague = app.org_admin("Other", "other@other.example").await;
    let res = app.call(&here, "sign_out_everywhere", &[]).await;
    assert!(res.status().is_success() || res.status().is_redirection());
    assert!(!signed_in(&app, &here).await);
    assert!(!signed_in(&app, &elsewhere).await);
    assert!(signed_in(&app, &colleague).await);
}

/// Sign out is a plain form in every page's header: without JavaScript the
/// browser posts it to the server function, which ends the session and sends
/// the browser to the sign-in page.
#[tokio::test]
async fn signing_out_works_without_javascript() {
    let app = TestApp::spawn().await;
    let client = app.org_admin("Acme", ADMIN).await;
    let page = client
        .get(format!("{}/contacts", app.url))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        page.contains(r#"<form method="post" action="/api/logout""#),
        "{page}"
    );
    let res = client
        .post(format!("{}/api/logout", app.url))
        .header("accept", "text/html")
        .header("origin", app.url.as_str())
        .header("sec-fetch-site", "same-origin")
        .form(&[("", "")][..0])
        .send()
        .await
        .unwrap();
    assert!(res.status().is_redirection(), "{}", res.status());
    assert_eq!(res.headers()["location"], "/login");
    assert!(!signed_in(&app, &client).await);
}

/// The session cookie a sign-in sets, as sent.
async fn cookie_of_sign_in(app: &TestApp, headers: &[(&str, &str)]) -> String {
    let mut req = app
        .client()
        .post(format!("{}/api/login", app.url))
        .form(&[("email", ADMIN), ("password", PASSWORD)]);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let res = req.send().await.unwrap();
    // A form post without `Accept: text/html` is told where to go by
    // `Location` with a 200 (the server-function client's way), else a 302.
    assert!(
        res.status().is_success() || res.status().is_redirection(),
        "{}",
        res.status()
    );
    res.headers()["set-cookie"].to_str().unwrap().to_string()
}

async fn whoami_with(app: &TestApp, cookie: &str, headers: &[(&str, &str)]) -> StatusCode {
    let mut req = app
        .client()
        .post(format!("{}/api/whoami", app.url))
        .header("cookie", cookie);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    req.send().await.unwrap().status()
}

#[tokio::test]
async fn over_https_the_cookie_is_host_prefixed_and_secure() {
    let app = TestApp::spawn_configured(|mut s| {
        s.secure_cookies = true;
        s
    })
    .await;
    app.org_admin("Acme", ADMIN).await;
    let set = cookie_of_sign_in(&app, &[]).await;
    assert!(set.starts_with("__Host-muster_session="), "{set}");
    assert!(set.contains("; Secure") && set.contains("Path=/") && !set.contains("Domain"));
    let token = set.split(';').next().unwrap().split_once('=').unwrap().1;
    assert_eq!(
        whoami_with(&app, &format!("__Host-muster_session={token}"), &[]).await,
        StatusCode::OK
    );
    // The same token in a cookie without the prefix (one a sibling subdomain
    // could set) does not count.
    assert_eq!(
        whoami_with(&app, &format!("muster_session={token}"), &[]).await,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn behind_a_trusted_proxy_https_is_detected() {
    let app = TestApp::spawn_configured(|s| {
        s.with_trusted_proxies(vec!["127.0.0.1/32".parse().unwrap()])
    })
    .await;
    app.org_admin("Acme", ADMIN).await;
    let https = [("x-forwarded-proto", "https")];
    let set = cookie_of_sign_in(&app, &https).await;
    assert!(
        set.starts_with("__Host-muster_session=") && set.contains("; Secure"),
        "{set}"
    );
    let plain = cookie_of_sign_in(&app, &[]).await;
    assert!(
        plain.starts_with("muster_session=") && !plain.contains("Secure"),
        "{plain}"
    );

    // Not behind a trusted proxy, the header is anyone's to write: ignored.
    let direct = TestApp::spawn().await;
    direct.org_admin("Acme", ADMIN).await;
    let set = cookie_of_sign_in(&direct, &https).await;
    assert!(set.starts_with("muster_session="), "{set}");
}
