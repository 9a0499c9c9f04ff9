//! A server killed in the middle of an import, then started again: the import
//! shows as interrupted, never as running forever, and what it committed is
//! whole. Real processes of the `muster` binary, killed with SIGKILL.

mod common;

use app::model::{ContactPage, ImportJob, ImportPreview, ImportStatus};
use common::{count_contacts, detected_fields, unique_name, TestDb, PASSWORD};
use muster::process::ServerProcess;
use reqwest::{Client, StatusCode};
use serde::de::DeserializeOwned;
use std::time::{Duration, Instant};

async fn start(db_url: &str, uploads: &std::path::Path) -> ServerProcess {
    ServerProcess::start(
        std::path::Path::new(env!("CARGO_BIN_EXE_muster")),
        db_url,
        uploads,
        &[
            ("MUSTER_IMPORT_STALE_SECS", "1"),
            ("MUSTER_LOG", "warn"),
            // A key given, so that no key file is written into the source tree.
            (
                "MUSTER_MASTER_KEY",
                "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
            ),
        ],
        None,
    )
    .await
    .expect("the muster binary starts")
}

async fn call<T: DeserializeOwned>(
    client: &Client,
    url: &str,
    name: &str,
    form: &[(&str, &str)],
) -> T {
    let res = client
        .post(format!("{url}/api/{name}"))
        .form(form)
        .send()
        .await
        .unwrap();
    let status = res.status();
    let body = res.text().await.unwrap();
    assert!(status.is_success(), "{name}: {status}: {body}");
    serde_json::from_str(&body)
        .unwrap_or_else(|e| panic!("{name}: the answer does not read as expected: {e}: {body}"))
}

/// The organisation Acme and its administrator, in the database at `db_url`.
async fn organisation(db_url: &str) {
    let db = muster::open_database(db_url).await.unwrap();
    let new = app::backend::auth::NewOrganisation {
        name: "Acme".into(),
        default_region: "GB".into(),
        time_zone: "UTC".into(),
    };
    app::backend::auth::create_org_with_admin(&db, &new, "admin@acme.example", PASSWORD)
        .await
        .unwrap();
}

#[tokio::test]
async fn an_import_cut_short_by_a_restart_shows_as_interrupted() {
    let database = TestDb::new().await;
    let db_url = database.url.clone();
    let uploads = std::env::temp_dir().join(unique_name("muster-restart"));
    organisation(&db_url).await;
    let server = start(&db_url, &uploads).await;
    let client = Client::builder().cookie_store(true).build().unwrap();
    call::<()>(
        &client,
        &server.url,
        "login",
        &[("email", "admin@acme.example"), ("password", PASSWORD)],
    )
    .await;
    let mut file = String::from("First Name,Last Name,Email\n");
    for i in 0..100_000 {
        file.push_str(&format!("P{i},Person,p{i}@example.com\n"));
    }
    let res = client
        .post(format!("{}/imports?name=big.csv", server.url))
        .body(file)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let preview: ImportPreview = res.json().await.unwrap();
    let id = preview.job_id.to_string();
    let fields = detected_fields(&preview);
    let mut form = vec![("id", id.as_str())];
    let keys = ["fields[0]", "fields[1]", "fields[2]"];
    for (k, f) in keys.iter().zip(&fields) {
        form.push((k, f.as_str()));
    }
    call::<ImportJob>(&client, &server.url, "start_import", &form).await;
    // Kill the server once some batches are in.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let job: ImportJob = call(&client, &server.url, "import_job", &[("id", &id)]).await;
        assert_eq!(job.status, ImportStatus::Running, "{job:?}");
        if job.processed_rows > 0 {
            break;
        }
        assert!(Instant::now() < deadline);
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    server.kill();

    let server = start(&db_url, &uploads).await;
    let deadline = Instant::now() + Duration::from_secs(20);
    let job = loop {
        let job: ImportJob = call(&client, &server.url, "import_job", &[("id", &id)]).await;
        if job.status != ImportStatus::Running {
            break job;
        }
        assert!(Instant::now() < deadline, "still running: {job:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(job.status, ImportStatus::Interrupted, "{job:?}");
    assert!(
        job.message
            .as_deref()
            .is_some_and(|m| m.contains("server stopped")),
        "{job:?}"
    );
    let processed = job.processed_rows;
    assert!(processed > 0 && processed < 100_000, "{job:?}");
    // What was counted is exactly what was committed.
    let db = muster::open_database(&db_url).await.unwrap();
    assert_eq!(count_contacts(&db, 1).await, processed as i64);
    assert_eq!(job.created, processed);

    // The sweep records it, and removes the upload.
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::fs::read_dir(&uploads).map(|d| d.count()).unwrap_or(0) > 0 {
        assert!(Instant::now() < deadline, "the upload was not removed");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // All of it can be found: the sweep placed it in the search index.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let found: ContactPage = call(
            &client,
            &server.url,
            "list_contacts",
            &[("query[q]", "person")],
        )
        .await;
        if found.total == processed {
            break;
        }
        assert!(Instant::now() < deadline, "not all searchable: {found:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    drop(server);
    let _ = std::fs::remove_dir_all(&uploads);
}

/// An incident's emails, with the server stopped (as a service manager
/// stops it) half-way through and started again: every email is sent once,
/// none twice, none lost.
#[tokio::test]
async fn an_incident_stopped_mid_send_sends_the_rest_after_a_restart_none_twice() {
    use app::model::{IncidentProgress, LaunchRequest, Recipients, Rule, ScenarioDraft};
    let sink = muster::fakes::smtp::start(0).await.unwrap();
    let database = TestDb::new().await;
    let db_url = database.url.clone();
    let uploads = std::env::temp_dir().join(unique_name("muster-restart"));
    organisation(&db_url).await;
    let smtp_url = sink.url();
    let env = [
        ("MUSTER_LOG", "warn"),
        (
            "MUSTER_MASTER_KEY",
            "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
        ),
        ("MUSTER_SMTP_URL", smtp_url.as_str()),
        ("MUSTER_EMAILS_PER_SECOND", "40"),
        ("MUSTER_DELIVERY_BATCH", "10"),
    ];
    let start = || {
        ServerProcess::start(
            std::path::Path::new(env!("CARGO_BIN_EXE_muster")),
            &db_url,
            &uploads,
            &env,
            None,
        )
    };
    let server = start().await.unwrap();
    let client = Client::builder().cookie_store(true).build().unwrap();
    call::<()>(
        &client,
        &server.url,
        "login",
        &[("email", "admin@acme.example"), ("password", PASSWORD)],
    )
    .await;
    const PEOPLE: usize = 120;
    for i in 0..PEOPLE {
        let email = format!("p{i}@acme.example");
        let first = format!("P{i}");
        let _: serde_json::Value = call(
            &client,
            &server.url,
            "create_contact",
            &[
                ("draft[first_name]", first.as_str()),
                ("draft[last_name]", "Person"),
                ("draft[email]", email.as_str()),
                ("draft[department]", "Operations"),
            ],
        )
        .await;
    }
    let draft = ScenarioDraft {
        name: "Drill".into(),
        subject: "Drill".into(),
        body: "Hello {first_name}".into(),
        channels: app::model::Channels {
            email: true,
            sms: false,
        },
        recipients: Recipients {
            rules: vec![Rule {
                department: "Operations".into(),
                ..Default::default()
            }],
            ..Default::default()
        },
        ..ScenarioDraft::new_blank()
    };
    let res = client
        .post(format!("{}/api/launch_incident", server.url))
        .json(&serde_json::json!({ "request": LaunchRequest { scenario_id: None, draft } }))
        .send()
        .await
        .unwrap();
    assert_eq!(
        res.status(),
        StatusCode::OK,
        "{}",
        res.text().await.unwrap()
    );
    let incident: app::model::Incident = res.json().await.unwrap();

    // Stopped once some are sent, most not.
    let deadline = Instant::now() + Duration::from_secs(30);
    while sink.sink.messages().len() < 20 {
        assert!(Instant::now() < deadline, "nothing sent");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(
        server.terminate(Duration::from_secs(60)).await,
        "the server did not stop"
    );
    let sent_before = sink.sink.messages().len();
    assert!(
        sent_before < PEOPLE,
        "all sent before the stop: {sent_before}"
    );

    let server = start().await.unwrap();
    call::<()>(
        &client,
        &server.url,
        "login",
        &[("email", "admin@acme.example"), ("password", PASSWORD)],
    )
    .await;
    let id = incident.id.to_string();
    let deadline = Instant::now() + Duration::from_secs(60);
    let progress = loop {
        let p: IncidentProgress =
            call(&client, &server.url, "incident_progress", &[("id", &id)]).await;
        if p.email.queued == 0 {
            break p;
        }
        assert!(Instant::now() < deadline, "still sending: {p:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(
        (progress.email.sent, progress.email.failed),
        (PEOPLE as u64, 0)
    );
    let mut to: Vec<String> = sink
        .sink
        .messages()
        .into_iter()
        .flat_map(|m| m.to)
        .collect();
    assert_eq!(to.len(), PEOPLE, "each once");
    to.sort();
    to.dedup();
    assert_eq!(to.len(), PEOPLE, "none twice");
    let _ = std::fs::remove_dir_all(&uploads);
}
