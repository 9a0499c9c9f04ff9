//! Two `muster serve` processes on one PostgreSQL database, as behind a load
//! balancer: a client whose consecutive requests alternate between them signs
//! in, adds a contact, uploads, confirms, follows the progress, connects an
//! integration, syncs it and removes it; failed sign-ins count on both; and
//! an import whose server is killed is finished by the other. Each server
//! has an upload folder of its own, so nothing relies on a shared disk.
//!
//! Several servers need PostgreSQL (SQLite is one server's file): on SQLite
//! these tests say so and pass without running.

mod common;

use app::model::{Contact, ContactPage, ImportJob, ImportStatus, Integration};
use app::model::{IntegrationStatus, SyncRun, SyncStatus};
use common::servers::{
    call, confirm, organisation, people, problems_csv, some_rows_in, start, stored_uploads, upload,
};
use common::{count_contacts, unique_name, TestDb, PASSWORD};
use muster::fakes::okta::FakeOkta;
use muster::fakes::FakeOrg;
use muster::process::ServerProcess;
use reqwest::{Client, StatusCode};
use std::path::PathBuf;
use std::time::{Duration, Instant};

const TOKEN: &str = "00okta-test-token-0123456789";

fn on_postgres() -> bool {
    let yes = std::env::var("MUSTER_TEST_DB").as_deref() == Ok("postgres");
    if !yes {
        eprintln!("several servers share a PostgreSQL database: not run on SQLite");
    }
    yes
}

/// Two servers on the database at `db_url`, each with its own upload folder.
async fn two_servers(db_url: &str) -> ([ServerProcess; 2], [PathBuf; 2]) {
    let env = [("MUSTER_ALLOW_INSECURE_PROVIDER_URLS", "true")];
    let folders = [
        std::env::temp_dir().join(unique_name("muster-a")),
        std::env::temp_dir().join(unique_name("muster-b")),
    ];
    let a = start(db_url, &folders[0], &env).await;
    let b = start(db_url, &folders[1], &env).await;
    ([a, b], folders)
}

fn client() -> Client {
    Client::builder().cookie_store(true).build().unwrap()
}

/// A sign-in attempt on `server`; its status.
async fn try_sign_in(client: &Client, server: &ServerProcess, password: &str) -> StatusCode {
    client
        .post(format!("{}/api/login", server.url))
        .form(&[("email", "admin@acme.example"), ("password", password)])
        .send()
        .await
        .unwrap()
        .status()
}

/// The organisation's integrations, as listed by `server`.
async fn integrations(client: &Client, server: &ServerProcess) -> Vec<Integration> {
    call(client, &server.url, "integrations", &[]).await
}

/// Wait, asking each server in turn, until integration `id` is not syncing.
async fn synced(client: &Client, servers: &[ServerProcess; 2], id: i64) -> Integration {
    let deadline = Instant::now() + Duration::from_secs(60);
    for n in 0.. {
        let listed = integrations(client, &servers[n % 2]).await;
        let i = listed.into_iter().find(|i| i.id == id).expect("listed");
        if i.status != IntegrationStatus::Syncing {
            return i;
        }
        assert!(Instant::now() < deadline, "still syncing: {i:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    unreachable!()
}

#[tokio::test]
async fn a_client_alternating_between_two_servers_works_as_with_one() {
    if !on_postgres() {
        return;
    }
    let database = TestDb::new().await;
    organisation(&database.url).await;
    let db = muster::open_database(&database.url).await.unwrap();
    let (servers, folders) = two_servers(&database.url).await;
    let [a, b] = &servers;
    let admin = client();

    // Signed in on one, known to the other.
    assert_eq!(try_sign_in(&admin, a, PASSWORD).await, StatusCode::OK);
    let added: Contact = call(
        &admin,
        &b.url,
        "create_contact",
        &[
            ("draft[first_name]", "Ada"),
            ("draft[last_name]", "Lovelace"),
            ("draft[email]", "ada@acme.example"),
        ],
    )
    .await;
    let found: ContactPage = call(&admin, &a.url, "list_contacts", &[("query[q]", "lovel")]).await;
    assert_eq!(found.total, 1, "{found:?}");

    // Uploaded and previewed on one, confirmed on the other, its progress
    // read from both.
    const ROWS: u64 = 20_000;
    let preview = upload(&admin, a, people(ROWS as usize)).await;
    let id = preview.job_id.to_string();
    let started = confirm(&admin, b, &preview).await;
    assert_eq!(started.status, ImportStatus::Running, "{started:?}");
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut seen = Vec::new();
    let job = loop {
        let server = &servers[seen.len() % 2];
        let job: ImportJob = call(&admin, &server.url, "import_job", &[("id", &id)]).await;
        seen.push(job.processed_rows);
        if job.status != ImportStatus::Running {
            break job;
        }
        assert!(Instant::now() < deadline, "still importing: {job:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(job.status, ImportStatus::Completed, "{job:?}");
    assert_eq!(
        (job.processed_rows, job.created, job.unchanged, job.warnings),
        (ROWS + 1, ROWS, 1, 1),
        "{job:?}"
    );
    assert!(seen.windows(2).all(|w| w[0] <= w[1]), "{seen:?}");
    let report = problems_csv(&admin, a, &id).await;
    assert_eq!(common::csv_records(&report).len(), 2, "{report}");
    assert_eq!(stored_uploads(&db, &folders[0]).await, 0);
    assert_eq!(stored_uploads(&db, &folders[1]).await, 0);

    // Connected on one, synced from the other, removed on the first.
    let fake = FakeOkta::new(FakeOrg::generate(40, 3), TOKEN)
        .start(0)
        .await
        .unwrap();
    let form = serde_json::json!({
        "form": { "provider": "okta", "fields": { "domain": fake.url(), "api_token": TOKEN } }
    });
    let res = admin
        .post(format!("{}/api/connect_integration", a.url))
        .json(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(
        res.status(),
        StatusCode::OK,
        "{}",
        res.text().await.unwrap()
    );
    let connected: Integration = res.json().await.unwrap();
    let first = synced(&admin, &servers, connected.id).await;
    assert_eq!(first.status, IntegrationStatus::Connected, "{first:?}");
    let integration = connected.id.to_string();
    let _: Integration = call(
        &admin,
        &b.url,
        "sync_integration",
        &[("id", integration.as_str())],
    )
    .await;
    let again = synced(&admin, &servers, connected.id).await;
    assert_eq!(again.status, IntegrationStatus::Connected, "{again:?}");
    let (runs, _): (Vec<SyncRun>, u64) = call(
        &admin,
        &a.url,
        "sync_history",
        &[("id", integration.as_str()), ("page", "0")],
    )
    .await;
    let statuses: Vec<SyncStatus> = runs.iter().map(|r| r.status).collect();
    assert_eq!(statuses, [SyncStatus::Succeeded; 2], "{runs:?}");
    let with_okta = count_contacts(&db, 1).await;
    assert_eq!(
        with_okta,
        ROWS as i64 + 1 + first.contact_count,
        "{first:?}"
    );
    let _: i64 = call(
        &admin,
        &a.url,
        "remove_integration",
        &[("id", integration.as_str())],
    )
    .await;
    assert!(integrations(&admin, b).await.is_empty());
    assert_eq!(count_contacts(&db, 1).await, ROWS as i64 + 1);

    // Deleted on the server it was not added on.
    call::<()>(
        &admin,
        &a.url,
        "delete_contact",
        &[("id", added.id.to_string().as_str())],
    )
    .await;
    let found: ContactPage = call(&admin, &b.url, "list_contacts", &[("query[q]", "lovel")]).await;
    assert_eq!(found.total, 0, "{found:?}");

    // Failed sign-ins count on both: guessing on the two servers in turn
    // gets no more tries than on one.
    let guesser = client();
    for n in 0..10 {
        let status = try_sign_in(&guesser, &servers[n % 2], "wrong password").await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "guess {n}");
    }
    for server in [a, b] {
        assert_eq!(
            try_sign_in(&guesser, server, PASSWORD).await,
            StatusCode::TOO_MANY_REQUESTS
        );
    }
    drop(servers);
    for folder in folders {
        let _ = std::fs::remove_dir_all(folder);
    }
}

#[tokio::test]
async fn an_import_whose_server_is_killed_is_finished_by_the_other() {
    if !on_postgres() {
        return;
    }
    let database = TestDb::new().await;
    organisation(&database.url).await;
    let db = muster::open_database(&database.url).await.unwrap();
    let ([a, b], folders) = two_servers(&database.url).await;
    let admin = client();
    assert_eq!(try_sign_in(&admin, &a, PASSWORD).await, StatusCode::OK);
    const ROWS: u64 = 100_000;
    let id = common::servers::start_import(&admin, &a, people(ROWS as usize)).await;
    some_rows_in(&admin, &a, &id).await;
    a.kill();

    let job = common::servers::ended(&admin, &b, &id).await;
    assert_eq!(job.status, ImportStatus::Completed, "{job:?}");
    assert_eq!(
        (job.processed_rows, job.created, job.unchanged, job.warnings),
        (ROWS + 1, ROWS, 1, 1),
        "{job:?}"
    );
    assert_eq!(count_contacts(&db, 1).await, ROWS as i64);
    common::servers::all_searchable(&admin, &b, ROWS).await;
    assert_eq!(stored_uploads(&db, &folders[0]).await, 0);
    assert_eq!(stored_uploads(&db, &folders[1]).await, 0);
    drop(b);
    for folder in folders {
        let _ = std::fs::remove_dir_all(folder);
    }
}
