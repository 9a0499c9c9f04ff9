//! Work a request starts finishes whatever the browser does: each request
//! here is sent over a raw connection that is closed right after the last
//! byte, as a tab closed at once would, and the work is then found done.

mod common;

use app::model::{ImportStatus, Integration, IntegrationStatus};
use common::{TestApp, PASSWORD};
use muster::fakes::okta::FakeOkta;
use muster::fakes::FakeOrg;
use serde_json::json;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};
use tokio::io::AsyncWriteExt;

const ADMIN: &str = "admin@acme.example";
const TOKEN: &str = "00okta-closed-tab-token";

/// The session cookie of a fresh sign-in.
async fn session(app: &TestApp) -> String {
    let res = app
        .client()
        .post(format!("{}/api/login", app.url))
        .form(&[("email", ADMIN), ("password", PASSWORD)])
        .send()
        .await
        .unwrap();
    let set = res.headers()["set-cookie"].to_str().unwrap();
    set.split(';').next().unwrap().to_string()
}

/// Send `body` to server function `name`, then close the connection at once.
async fn send_and_leave(app: &TestApp, cookie: &str, name: &str, content_type: &str, body: &str) {
    let addr = app.url.trim_start_matches("http://");
    let mut socket = tokio::net::TcpStream::connect(addr).await.unwrap();
    let request = format!(
        "POST /api/{name} HTTP/1.1\r\nHost: {addr}\r\nCookie: {cookie}\r\n\
         Content-Type: {content_type}\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    socket.write_all(request.as_bytes()).await.unwrap();
    socket.flush().await.unwrap();
    drop(socket);
}

async fn eventually<F, Fut>(what: &str, check: F)
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + Duration::from_secs(30);
    while !check().await {
        assert!(Instant::now() < deadline, "never happened: {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn integrations(app: &TestApp, client: &reqwest::Client) -> Vec<Integration> {
    app.call(client, "integrations", &[])
        .await
        .json()
        .await
        .unwrap()
}

#[tokio::test]
async fn connect_sync_and_remove_finish_after_the_tab_closes() {
    let app = TestApp::spawn().await;
    let client = app.org_admin("Acme", ADMIN).await;
    let cookie = session(&app).await;
    let org = FakeOrg::generate(40, 3);
    let fake = FakeOkta::new(org.clone(), TOKEN).start(0).await.unwrap();
    // Slow answers: the tab is gone long before Test Connection ends.
    fake.faults.latency_ms.store(400, Ordering::SeqCst);

    let form = json!({ "form": { "provider": "okta", "fields": {
        "domain": fake.url(), "api_token": TOKEN } } });
    send_and_leave(
        &app,
        &cookie,
        "connect_integration",
        "application/json",
        &form.to_string(),
    )
    .await;
    eventually("connected and synced", || async {
        integrations(&app, &client).await.iter().any(|i| {
            i.status == IntegrationStatus::Connected && i.contact_count == org.active() as i64
        })
    })
    .await;
    let id = integrations(&app, &client).await[0].id;

    let before = fake.faults.requests.load(Ordering::SeqCst);
    send_and_leave(
        &app,
        &cookie,
        "sync_integration",
        "application/x-www-form-urlencoded",
        &format!("id={id}"),
    )
    .await;
    eventually("synced again", || async {
        fake.faults.requests.load(Ordering::SeqCst) > before
            && integrations(&app, &client).await[0].status == IntegrationStatus::Connected
    })
    .await;

    send_and_leave(
        &app,
        &cookie,
        "remove_integration",
        "application/x-www-form-urlencoded",
        &format!("id={id}"),
    )
    .await;
    eventually("removed with its contacts", || async {
        integrations(&app, &client).await.is_empty() && app.contact_count(1).await == 0
    })
    .await;
}

#[tokio::test]
async fn a_contact_saved_as_the_tab_closes_is_saved() {
    let app = TestApp::spawn().await;
    app.org_admin("Acme", ADMIN).await;
    let cookie = session(&app).await;
    send_and_leave(
        &app,
        &cookie,
        "create_contact",
        "application/x-www-form-urlencoded",
        "draft[first_name]=Left&draft[last_name]=Early&draft[email]=left.early%40acme.example",
    )
    .await;
    eventually("the contact exists", || async {
        app.contact_count(1).await == 1
    })
    .await;
}

#[tokio::test]
async fn an_import_started_or_cancelled_as_the_tab_closes_goes_on() {
    let app = TestApp::spawn_with(app::backend::import::job::ImportConfig {
        batch_rows: 1,
        ..common::test_imports()
    })
    .await;
    let client = app.org_admin("Acme", ADMIN).await;
    let cookie = session(&app).await;
    let mut csv = String::from("First Name,Last Name,Email\n");
    for n in 0..5000 {
        csv.push_str(&format!("Person,{n},person{n}@acme.example\n"));
    }
    let (_, job) = app.upload(&client, "people.csv", csv.into_bytes()).await;
    let job = job.unwrap();
    let fields = common::detected_fields(&job);
    let mut form = format!("id={}", job.job_id);
    for (i, f) in fields.iter().enumerate() {
        form.push_str(&format!("&fields%5B{i}%5D={f}"));
    }
    send_and_leave(
        &app,
        &cookie,
        "start_import",
        "application/x-www-form-urlencoded",
        &form,
    )
    .await;
    let id = job.job_id;
    eventually("the import runs", || async {
        app.import_job(&client, id).await.status != ImportStatus::Previewed
    })
    .await;
    send_and_leave(
        &app,
        &cookie,
        "cancel_import",
        "application/x-www-form-urlencoded",
        &format!("id={id}"),
    )
    .await;
    eventually("the import is cancelled", || async {
        app.import_job(&client, id).await.status == ImportStatus::Cancelled
    })
    .await;
}
