//! Setting Muster up and signing in, as an attacker would try them: setup
//! needs the code the server printed and happens exactly once however many
//! arrive together; the page a sign-in returns to is always Muster's own,
//! and no `next` can make the server fail after it opened a session.

mod common;

use app::model::{AppError, Me};
use common::{TestApp, PASSWORD};
use reqwest::StatusCode;

const CODE: &str = "test-setup-code-0001";

fn setup_form<'a>(org: &'a str, email: &'a str, code: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![
        ("org_name", org),
        ("default_region", "GB"),
        ("time_zone", "Europe/London"),
        ("email", email),
        ("password", PASSWORD),
        ("setup_code", code),
    ]
}

async fn organisations(app: &TestApp) -> Vec<String> {
    use sea_orm::{ConnectionTrait, Statement};
    let db = &app.db;
    db.query_all_raw(Statement::from_string(
        db.get_database_backend(),
        "SELECT name FROM organisations ORDER BY id".to_string(),
    ))
    .await
    .unwrap()
    .iter()
    .map(|r| r.try_get::<String>("", "name").unwrap())
    .collect()
}

#[tokio::test]
async fn setup_needs_the_printed_code() {
    let app = TestApp::spawn_with_setup_code(CODE).await;
    let browser = app.client();
    for wrong in ["", "test-setup-code-0002", "TEST-SETUP-CODE-000"] {
        let res = app
            .call(
                &browser,
                "setup",
                &setup_form("Mallory Inc", "m@evil.example", wrong),
            )
            .await;
        assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY, "{wrong:?}");
        let error: AppError = res.json().await.unwrap();
        let message = error.field_message("setup_code").unwrap_or_default();
        assert!(message.contains("not the setup code"), "{error:?}");
    }
    assert!(organisations(&app).await.is_empty());

    // Case, spaces and dashes do not matter.
    let res = app
        .call(
            &browser,
            "setup",
            &setup_form("Acme", "first@acme.example", " TEST SETUP CODE 0001 "),
        )
        .await;
    assert!(
        res.status().is_success() || res.status().is_redirection(),
        "{}",
        res.status()
    );
    let me: Me = app
        .call(&browser, "whoami", &[])
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(me.org_name, "Acme");

    // Once set up, the code opens nothing.
    let res = app
        .call(
            &app.client(),
            "setup",
            &setup_form("Second", "second@acme.example", CODE),
        )
        .await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    let error: AppError = res.json().await.unwrap();
    assert_eq!(
        error,
        AppError::Forbidden("Muster is already set up. Sign in instead.".into())
    );
    assert_eq!(organisations(&app).await, ["Acme"]);
}

#[tokio::test]
async fn setups_sent_together_create_one_organisation() {
    let app = TestApp::spawn_with_setup_code(CODE).await;
    let attempts = (0..8).map(|n| {
        let app = &app;
        async move {
            let org = format!("Org {n}");
            let email = format!("admin{n}@example.com");
            let res = app
                .call(&app.client(), "setup", &setup_form(&org, &email, CODE))
                .await;
            let status = res.status();
            let body = res.text().await.unwrap();
            (status, body)
        }
    });
    let results = futures_util::future::join_all(attempts).await;
    let won: Vec<_> = results
        .iter()
        .filter(|(s, _)| s.is_success() || s.is_redirection())
        .collect();
    assert_eq!(won.len(), 1, "{results:?}");
    for (status, body) in results.iter().filter(|(s, _)| s.is_client_error()) {
        assert_eq!(*status, StatusCode::FORBIDDEN, "{body}");
        assert!(body.contains("already set up"), "{body}");
    }
    assert_eq!(organisations(&app).await.len(), 1);
}

/// A form posted before the page's code has loaded (or with JavaScript off)
/// that fails goes back to its page, which shows why beside the fields: not
/// the error's JSON, which a browser would show as it is.
#[tokio::test]
async fn a_failed_setup_posted_as_a_plain_form_returns_to_the_page_with_why() {
    let app = TestApp::spawn_with_setup_code(CODE).await;
    let browser = app.client();
    let res = browser
        .post(format!("{}/api/setup", app.url))
        .header("accept", "text/html,application/xhtml+xml")
        .header("referer", format!("{}/setup", app.url))
        .form(&setup_form(
            "Mallory Inc",
            "m@evil.example",
            "wrong-code-0000",
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::SEE_OTHER, "{:?}", res.headers());
    let location = res.headers()["location"].to_str().unwrap().to_string();
    assert!(
        location.starts_with(&format!("{}/setup?", app.url)) && location.contains("__err="),
        "{location}"
    );
    let page = browser.get(&location).send().await.unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    let html = page.text().await.unwrap();
    assert!(html.contains("That is not the setup code."), "{html}");
    assert!(organisations(&app).await.is_empty());

    // Called as the page's code calls it, the answer is still the error itself.
    let res = app
        .call(
            &browser,
            "setup",
            &setup_form("Mallory Inc", "m@evil.example", "wrong"),
        )
        .await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
}

/// A sign-in posted as a plain form (before the page's code has loaded) with
/// a wrong password goes back to the sign-in page, which says why; nobody is
/// signed in.
#[tokio::test]
async fn a_refused_sign_in_posted_as_a_plain_form_returns_to_the_page_with_why() {
    let app = TestApp::spawn().await;
    app.org_admin("Acme", "admin@acme.example").await;
    let browser = app.client();
    let res = browser
        .post(format!("{}/api/login", app.url))
        .header("accept", "text/html,application/xhtml+xml")
        .header("referer", format!("{}/login", app.url))
        .form(&[
            ("email", "admin@acme.example"),
            ("password", "not the password"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::SEE_OTHER, "{:?}", res.headers());
    assert!(
        res.headers().get("set-cookie").is_none(),
        "{:?}",
        res.headers()
    );
    let location = res.headers()["location"].to_str().unwrap().to_string();
    assert!(
        location.starts_with(&format!("{}/login?", app.url)) && location.contains("__err="),
        "{location}"
    );
    let page = browser.get(&location).send().await.unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    let html = page.text().await.unwrap();
    assert!(
        html.contains("That email and password do not match an administrator."),
        "{html}"
    );
    // Still signed out: the Contacts page sends the browser to sign in.
    let res = browser
        .get(format!("{}/contacts", app.url))
        .send()
        .await
        .unwrap();
    assert!(res.status().is_redirection(), "{}", res.status());
    assert!(
        res.headers()["location"]
            .to_str()
            .unwrap()
            .contains("/login"),
        "{:?}",
        res.headers()
    );
}

/// Sign in with `next`; where the server sends the browser.
async fn sign_in_to(app: &TestApp, next: &str) -> String {
    let browser = app.client();
    let res = app
        .call(
            &browser,
            "login",
            &[
                ("email", "admin@acme.example"),
                ("password", PASSWORD),
                ("next", next),
            ],
        )
        .await;
    assert!(
        res.status().is_success() || res.status().is_redirection(),
        "{next:?}: {}",
        res.status()
    );
    let location = res.headers()["location"].to_str().unwrap().to_string();
    // Signed in for real: the session works.
    let me = app.call(&browser, "whoami", &[]).await;
    assert_eq!(me.status(), StatusCode::OK, "{next:?}");
    location
}

#[tokio::test]
async fn sign_in_returns_only_to_pages_of_muster() {
    let app = TestApp::spawn().await;
    app.org_admin("Acme", "admin@acme.example").await;
    assert_eq!(
        sign_in_to(&app, "/contacts/3?q=a%20b").await,
        "/contacts/3?q=a%20b"
    );
    assert_eq!(sign_in_to(&app, "/imports").await, "/imports");
    for next in [
        "//evil.example",
        "/\t/evil.example",
        "/\\evil.example",
        "/%09/evil.example",
        "/%0A/evil.example",
        "/\n/evil.example",
        "/x\r\nSet-Cookie: muster_session=stolen",
        "https://evil.example/",
        "javascript:alert(1)",
        "",
    ] {
        assert_eq!(sign_in_to(&app, next).await, "/contacts", "{next:?}");
    }
}

/// A sign-in from client address `from` (through the trusted proxy), from a
/// new browser, ready to send.
fn login(app: &TestApp, from: &str, email: &str, password: &str) -> reqwest::RequestBuilder {
    app.client()
        .post(format!("{}/api/login", app.url))
        .header("x-forwarded-for", from)
        .form(&[("email", email), ("password", password)])
}

async fn sign_in_from(app: &TestApp, from: &str, email: &str, password: &str) -> StatusCode {
    login(app, from, email, password)
        .send()
        .await
        .unwrap()
        .status()
}

fn behind_proxy(state: app::backend::AppState) -> app::backend::AppState {
    state.with_trusted_proxies(vec!["127.0.0.1/32".parse().unwrap()])
}

#[tokio::test]
async fn an_attacker_cannot_lock_the_owner_out() {
    let app = TestApp::spawn_configured(behind_proxy).await;
    app.org_admin("Acme", "admin@acme.example").await;
    let attacker = "203.0.113.7";
    let mut statuses = Vec::new();
    for _ in 0..11 {
        statuses.push(sign_in_from(&app, attacker, "admin@acme.example", "wrong password!").await);
    }
    assert!(
        statuses[..10]
            .iter()
            .all(|s| *s == StatusCode::UNPROCESSABLE_ENTITY),
        "{statuses:?}"
    );
    assert_eq!(statuses[10], StatusCode::TOO_MANY_REQUESTS);
    // The right password from the attacker's address: still locked.
    assert_eq!(
        sign_in_from(&app, attacker, "admin@acme.example", PASSWORD).await,
        StatusCode::TOO_MANY_REQUESTS
    );
    // The owner, from their own address, gets in (slowed at most).
    let started = std::time::Instant::now();
    let owner = sign_in_from(&app, "198.51.100.20", "admin@acme.example", PASSWORD).await;
    assert!(owner.is_success() || owner.is_redirection(), "{owner}");
    assert!(started.elapsed() < std::time::Duration::from_secs(3));
}

#[tokio::test]
async fn forwarded_for_is_ignored_unless_the_proxy_is_trusted() {
    let app = TestApp::spawn().await;
    app.org_admin("Acme", "admin@acme.example").await;
    // Each attempt claims another address: all are counted as the peer's.
    for n in 0..10 {
        let status = sign_in_from(
            &app,
            &format!("198.51.100.{n}"),
            "admin@acme.example",
            "wrong!",
        )
        .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    }
    let status = sign_in_from(&app, "198.51.100.99", "admin@acme.example", PASSWORD).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
}

#[tokio::test]
async fn a_flood_runs_no_more_hashes_than_the_gate_allows() {
    use app::backend::auth::HashGate;
    let app = TestApp::spawn_configured(|s| {
        behind_proxy(s).with_hashing(HashGate::new(2, 6, std::time::Duration::from_secs(2)))
    })
    .await;
    app.org_admin("Acme", "admin@acme.example").await;
    // 60 wrong sign-ins at once, random emails, each from its own address.
    let flood = (0..60).map(|n| {
        let app = &app;
        async move {
            let from = format!("10.{}.{}.{}", n / 65536, (n / 256) % 256, n % 256);
            let email = format!("nobody{n}-{}@example.com", common::unique_name("x"));
            sign_in_from(app, &from, &email, "wrong password!").await
        }
    });
    let statuses = futures_util::future::join_all(flood).await;
    let refused = statuses
        .iter()
        .filter(|s| **s == StatusCode::TOO_MANY_REQUESTS)
        .count();
    let checked = statuses
        .iter()
        .filter(|s| **s == StatusCode::UNPROCESSABLE_ENTITY)
        .count();
    assert_eq!(refused + checked, 60, "{statuses:?}");
    assert!(refused > 0, "the overflow is refused at once");
    assert!(checked >= 2);
    assert_eq!(app.state.hashing.peak(), 2);
    // Afterwards the owner signs in as usual.
    let owner = sign_in_from(&app, "198.51.100.20", "admin@acme.example", PASSWORD).await;
    assert!(owner.is_success() || owner.is_redirection(), "{owner}");
}

/// The `Set-Cookie` of the device cookie a successful sign-in set.
fn device_cookie_of(res: &reqwest::Response) -> String {
    res.headers()
        .get_all(reqwest::header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with("muster_device="))
        .expect("a successful sign-in sets a device cookie")
        .to_string()
}

#[tokio::test]
async fn the_owners_own_browser_gets_in_while_a_flood_fills_the_gate() {
    use app::backend::auth::HashGate;
    // One hash at a time, four waiting per lane, a patient wait (debug builds
    // hash slowly): the flood below fills the strangers' lane many times over.
    let app = TestApp::spawn_configured(|s| {
        behind_proxy(s).with_hashing(HashGate::new(1, 4, std::time::Duration::from_secs(30)))
    })
    .await;
    app.org_admin("Acme", "admin@acme.example").await;
    // The owner signed in from this browser before.
    let first = login(&app, "198.51.100.20", "admin@acme.example", PASSWORD)
        .send()
        .await
        .unwrap();
    assert!(first.status().is_success() || first.status().is_redirection());
    let set = device_cookie_of(&first);
    assert!(
        set.contains("HttpOnly") && set.contains("SameSite=Strict"),
        "{set}"
    );
    let device = set.split(';').next().unwrap().to_string();

    // 40 wrong sign-ins at once, each from its own address.
    let flood = (0..40).map(|n| {
        let app = &app;
        async move {
            let email = format!("nobody{n}-{}@example.com", common::unique_name("x"));
            sign_in_from(app, &format!("10.0.1.{n}"), &email, "wrong password!").await
        }
    });
    let owner = async {
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        // From the flood's own kind of address, with the device cookie.
        login(&app, "10.0.1.250", "admin@acme.example", PASSWORD)
            .header(reqwest::header::COOKIE, &device)
            .send()
            .await
            .unwrap()
    };
    let (statuses, owner) = tokio::join!(futures_util::future::join_all(flood), owner);
    assert!(
        owner.status().is_success() || owner.status().is_redirection(),
        "{}",
        owner.status()
    );
    let refused = statuses
        .iter()
        .filter(|s| **s == StatusCode::TOO_MANY_REQUESTS)
        .count();
    assert!(refused >= 30, "the strangers' lane was full: {statuses:?}");
    assert_eq!(app.state.hashing.peak(), 1);

    // A forged cookie is a stranger's (one issued for another email too:
    // `auth::device`'s unit test).
    let (status, err) = common::refusal(
        login(&app, "203.0.113.9", "admin@acme.example", "wrong password!")
            .header(reqwest::header::COOKIE, "muster_device=AAAA.BBBB")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{err:?}");
}

#[tokio::test]
async fn a_refused_sign_in_reads_as_the_server_functions_own_error() {
    let app = TestApp::spawn_configured(behind_proxy).await;
    app.org_admin("Acme", "admin@acme.example").await;
    for _ in 0..10 {
        sign_in_from(&app, "203.0.113.7", "admin@acme.example", "wrong password!").await;
    }
    // Refused at the edge: the same status and error body as from the
    // server function, which the page shows as it is.
    let res = login(&app, "203.0.113.7", "admin@acme.example", "wrong password!")
        .send()
        .await
        .unwrap();
    assert_eq!(res.headers()["serverfnerror"], "/api/login");
    let (status, err) = common::refusal(res).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    assert!(
        matches!(&err, AppError::TooManyAttempts(m) if m.contains("Try again in 15 minutes")),
        "{err:?}"
    );
    // A form posted without JavaScript goes back to the page with the error.
    let res = login(&app, "203.0.113.7", "admin@acme.example", "wrong password!")
        .header("accept", "text/html")
        .header("referer", format!("{}/login", app.url))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::FOUND);
    let back = res.headers()["location"].to_str().unwrap();
    assert!(
        back.starts_with(&format!("{}/login?", app.url)) && back.contains("__err="),
        "{back}"
    );
    // A form too large to be a sign-in is refused before anything is counted.
    let (status, _) = common::refusal(
        login(
            &app,
            "198.51.100.30",
            "admin@acme.example",
            &"x".repeat(20_000),
        )
        .send()
        .await
        .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
}

/// Servers on one PostgreSQL database share their failed sign-ins
/// (`auth::shared_failures`). A browser that failed too often on one server
/// is, on another, what it would be on the first: trusted no more, so held
/// to its address's limits, rather than refused outright.
#[tokio::test]
async fn a_browser_past_its_failures_on_one_server_is_a_stranger_on_another() {
    use app::backend::auth::{LoginThrottle, PAIR_LOCK};
    use std::net::IpAddr;
    use std::sync::Arc;
    let app = TestApp::spawn().await;
    if app.db.get_database_backend() != sea_orm::DbBackend::Postgres {
        eprintln!("servers share failed sign-ins on PostgreSQL only: not run on SQLite");
        return;
    }
    let servers = [
        Arc::new(LoginThrottle::for_database(&app.db)),
        Arc::new(LoginThrottle::for_database(&app.db)),
    ];
    let owner = "admin@acme.example";
    let laptop = [7u8; 16];
    let away: IpAddr = "203.0.113.7".parse().unwrap();
    let home: IpAddr = "198.51.100.20".parse().unwrap();
    // A stolen cookie guessing on the first server until it is trusted no more.
    for n in 0..PAIR_LOCK {
        let failed = servers[0].begin(owner, away, Some(laptop)).unwrap();
        let failed = failed.count_shared().await.unwrap();
        assert!(failed.from_known_device(), "failure {n}");
    }
    // The second server has not seen it fail itself: the shared count decides.
    for n in 0..PAIR_LOCK {
        let failed = servers[1].begin(owner, home, Some(laptop)).unwrap();
        let failed = failed
            .count_shared()
            .await
            .unwrap_or_else(|e| panic!("{n}: {e:?}"));
        assert!(!failed.from_known_device(), "failure {n} at home");
    }
    // As a stranger it locks its email at its address, on both servers.
    for server in &servers {
        let err = match server.begin(owner, home, Some(laptop)) {
            Ok(attempt) => attempt.count_shared().await.err(),
            Err(e) => Some(e),
        }
        .expect("locked");
        assert!(
            matches!(&err, AppError::TooManyAttempts(m) if m.contains("for this email from your network")),
            "{err:?}"
        );
    }
    // The owner's other browser is still known there.
    let phone = [8u8; 16];
    let ok = servers[0].begin(owner, home, Some(phone)).unwrap();
    let ok = ok.count_shared().await.unwrap();
    assert!(ok.from_known_device());
    ok.succeeded().await;
}
