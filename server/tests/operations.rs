//! The operations surface: `/healthz` and `/readyz` answer without a session
//! and before setup, and a database that lacks migrations is not ready, with
//! why; `muster backup` makes a checked copy while the server runs, never
//! over a file, and points PostgreSQL at pg_dump.

mod common;

use app::backend::db::entities::contact;
use app::backend::db::{Migrator, MigratorTrait};
use app::backend::AppState;
use common::TestApp;
use sea_orm::{EntityTrait, PaginatorTrait};

async fn add_ada(app: &TestApp, admin: &reqwest::Client) {
    app.create(
        admin,
        &[
            ("draft[first_name]", "Ada"),
            ("draft[last_name]", "Tester"),
            ("draft[email]", "ada@acme.example"),
        ],
    )
    .await;
}

fn no_redirects() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

#[tokio::test]
async fn health_and_readiness_answer_without_a_session_and_say_why_not_ready() {
    // Not set up yet: pages redirect to /setup, these do not.
    let app = TestApp::spawn().await;
    let client = no_redirects();
    let res = client
        .get(format!("{}/healthz", app.url))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.text().await.unwrap(), "ok");
    let res = client
        .get(format!("{}/readyz", app.url))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let body: serde_json::Value = res.json().await.unwrap();
    assert_eq!(body["status"], "ready");

    // A database three migrations in: alive, not ready, and why.
    let database = common::TestDb::new().await;
    let db = app::backend::db::connect(&database.url).await.unwrap();
    Migrator::up(&db, Some(3)).await.unwrap();
    let state = AppState::new(db, muster::leptos_options(), false);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, muster::service(state)).await });
    let res = client.get(format!("{url}/healthz")).send().await.unwrap();
    assert_eq!(res.status(), 200);
    let res = client.get(format!("{url}/readyz")).send().await.unwrap();
    assert_eq!(res.status(), 503);
    let body: serde_json::Value = res.json().await.unwrap();
    let reason = body["reason"].as_str().unwrap();
    assert!(reason.contains("migration"), "{reason}");
}

#[tokio::test]
async fn a_backup_is_a_checked_copy_made_while_muster_runs() {
    let app = TestApp::spawn().await;
    let admin = app.org_admin("Acme", "admin@acme.example").await;
    add_ada(&app, &admin).await;
    let dir = std::env::temp_dir().join(format!("muster-backup-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join(format!("{}.db", app.url.rsplit(':').next().unwrap()));
    let backup = || {
        std::process::Command::new(env!("CARGO_BIN_EXE_muster"))
            .arg("backup")
            .arg(&file)
            .env("DATABASE_URL", app.database_url())
            .env("MUSTER_LOG", "warn")
            .output()
            .unwrap()
    };
    let out = backup();
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout).to_string(),
        String::from_utf8_lossy(&out.stderr).to_string(),
    );
    if app.database_url().starts_with("postgres") {
        assert!(!out.status.success());
        assert!(stderr.contains("pg_dump"), "{stderr}");
        return;
    }
    assert!(out.status.success(), "{stderr}");
    assert!(stdout.contains("master key"), "{stdout}");
    let copy = app::backend::db::connect(&format!("sqlite://{}", file.display()))
        .await
        .unwrap();
    assert_eq!(contact::Entity::find().count(&copy).await.unwrap(), 1);

    // Never over a file.
    let again = backup();
    assert!(!again.status.success());
    let stderr = String::from_utf8_lossy(&again.stderr);
    assert!(stderr.contains("exists"), "{stderr}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// `muster demo` fills the first organisation by default, or the one named.
#[tokio::test]
async fn demo_fills_the_first_organisation_or_the_one_named() {
    let app = TestApp::spawn().await;
    let admin = app.org_admin("Acme", "admin@acme.example").await;
    let _other = app.org_admin("Globex", "admin@globex.example").await;
    let demo = |args: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_muster"))
            .arg("demo")
            .args(args)
            .env("DATABASE_URL", app.database_url())
            .env("MUSTER_LOG", "warn")
            .output()
            .unwrap()
    };
    let out = demo(&["--contacts", "40"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(String::from_utf8_lossy(&out.stdout).contains("Added 40 sample contacts to Acme"));
    let out = demo(&["--contacts", "30", "--org", "Globex"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("Added 30 sample contacts to Globex"));
    let page: app::model::ContactPage =
        app.json(&admin, "list_contacts", &[("query[q]", "")]).await;
    assert_eq!(page.total, 40);
    let out = demo(&["--org", "Nobody"]);
    assert!(!out.status.success());
}

#[tokio::test]
async fn metrics_go_only_to_the_tokens_bearer_and_count_requests_by_route() {
    let closed = TestApp::spawn().await;
    let app = TestApp::spawn_configured(|s| s.with_metrics_token(Some("m3trics-token-0123"))).await;
    let client = no_redirects();
    let res = client
        .get(format!("{}/metrics", closed.url))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 404, "no token set: not served");
    for auth in [None, Some("Bearer wrong-token"), Some("m3trics-token-0123")] {
        let mut req = client.get(format!("{}/metrics", app.url));
        if let Some(a) = auth {
            req = req.header("Authorization", a);
        }
        assert_eq!(req.send().await.unwrap().status(), 401, "{auth:?}");
    }

    let admin = app.org_admin("Acme", "admin@acme.example").await;
    add_ada(&app, &admin).await;
    client
        .get(format!("{}/healthz", app.url))
        .send()
        .await
        .unwrap();
    let res = client
        .get(format!("{}/metrics", app.url))
        .header("Authorization", "Bearer m3trics-token-0123")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert!(res.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/plain"));
    let text = res.text().await.unwrap();
    for expected in [
        r#"muster_http_requests_total{route="/healthz",method="GET",status="200"}"#,
        r#"muster_http_requests_total{route="/api/create_contact",method="POST",status="200"}"#,
        "muster_http_request_duration_seconds_bucket",
        "muster_db_pool_connections",
        "muster_db_pool_in_use",
        "muster_imports_running",
        "muster_syncs_running",
    ] {
        assert!(text.contains(expected), "{expected} not in:\n{text}");
    }
    // Routes by pattern: no path of a page or id in the labels.
    assert!(!text.contains("ada@acme.example"));
    assert!(!text.contains("no_such_function"), "{text}");
}
