//! Servers stopped in the middle of work, then started again: an import goes
//! on from its last committed batch (after a crash, or a stop that paused it),
//! a sync stopped with its server runs again at once, an incident's messages
//! are each sent once. Real processes of the `muster` binary, stopped with
//! SIGKILL or SIGTERM.

mod common;

use app::model::ImportStatus;
use common::servers::{
    all_searchable, call, ended, organisation, people, problems_csv, sign_in, some_rows_in, start,
    start_import, start_logged, stored_uploads,
};
use common::{count_contacts, unique_name, TestDb, PASSWORD};
use muster::process::ServerProcess;
use reqwest::{Client, StatusCode};
use sea_orm::{ConnectionTrait, EntityTrait};
use std::time::{Duration, Instant};

/// How many crashes import `id` was resumed after.
async fn resumes(db: &sea_orm::DatabaseConnection, id: &str) -> i64 {
    app::backend::db::entities::import_job::Entity::find_by_id(id.parse::<i64>().unwrap())
        .one(db)
        .await
        .unwrap()
        .unwrap()
        .resumes
}

/// A crash (SIGKILL) in the middle of an import: the server started again
/// goes on from the last committed batch, and every row is imported once.
#[tokio::test]
async fn an_import_cut_short_by_a_crash_goes_on_after_the_restart() {
    let database = TestDb::new().await;
    let db_url = database.url.clone();
    let uploads = std::env::temp_dir().join(unique_name("muster-restart"));
    organisation(&db_url).await;
    let server = start(&db_url, &uploads, &[]).await;
    let client = Client::builder().cookie_store(true).build().unwrap();
    sign_in(&client, &server).await;
    const ROWS: u64 = 100_000;
    let id = start_import(&client, &server, people(ROWS as usize)).await;
    some_rows_in(&client, &server, &id).await;
    server.kill();

    let server = start(&db_url, &uploads, &[]).await;
    let job = ended(&client, &server, &id).await;
    assert_eq!(job.status, ImportStatus::Completed, "{job:?}");
    assert_eq!(
        (job.processed_rows, job.created, job.unchanged, job.warnings),
        (ROWS + 1, ROWS, 1, 1),
        "{job:?}"
    );
    let db = muster::open_database(&db_url).await.unwrap();
    assert_eq!(count_contacts(&db, 1).await, ROWS as i64);
    assert_eq!(resumes(&db, &id).await, 1, "a crash counts");
    all_searchable(&client, &server, ROWS).await;
    // Done: its upload is removed.
    assert_eq!(stored_uploads(&db, &uploads).await, 0);
    drop(server);
    let _ = std::fs::remove_dir_all(&uploads);
}

/// Stopped as a service manager stops it (SIGTERM) in the middle of an
/// import: the server stops within its grace period, after the batch in
/// hand, keeping the upload; started again, it goes on from there. The
/// second row for the first person, read after the restart, is still
/// reported against line 2.
#[tokio::test]
async fn an_import_stopped_with_its_server_is_resumed_from_its_last_batch() {
    let database = TestDb::new().await;
    let db_url = database.url.clone();
    let uploads = std::env::temp_dir().join(unique_name("muster-restart"));
    organisation(&db_url).await;
    let env = [("MUSTER_IMPORT_BATCH_ROWS", "500")];
    // Its log, to say what it was doing if it does not stop in time (seen
    // once, not understood).
    let log = uploads.with_extension("log");
    let logged = [("MUSTER_LOG", "info,app=debug"), env[0]];
    let server = start_logged(&db_url, &uploads, &logged, Some(&log)).await;
    let client = Client::builder().cookie_store(true).build().unwrap();
    sign_in(&client, &server).await;
    const ROWS: u64 = 100_000;
    let id = start_import(&client, &server, people(ROWS as usize)).await;
    some_rows_in(&client, &server, &id).await;
    let stopped = Instant::now();
    let in_time = server.terminate(Duration::from_secs(15)).await;
    if !in_time {
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        let tail: Vec<&str> = text.lines().rev().take(60).collect();
        for line in tail.iter().rev() {
            println!("{line}");
        }
    }
    assert!(in_time, "the server did not stop within its grace period");
    let _ = std::fs::remove_file(&log);
    println!("stopped in {:?}", stopped.elapsed());

    // Paused: still running, no heartbeat, a whole number of batches in,
    // its upload kept, and exactly what it counted in the directory.
    let db = muster::open_database(&db_url).await.unwrap();
    let job =
        app::backend::db::entities::import_job::Entity::find_by_id(id.parse::<i64>().unwrap())
            .one(&db)
            .await
            .unwrap()
            .unwrap();
    assert_eq!(
        (job.status.as_str(), job.heartbeat_at),
        ("running", None),
        "{job:?}"
    );
    assert!(
        job.processed_rows > 0 && job.processed_rows < ROWS as i64 && job.processed_rows % 500 == 0,
        "{job:?}"
    );
    assert_eq!(count_contacts(&db, 1).await, job.processed_rows);
    let org = app::backend::domain::OrgId::trusted(1);
    let kept = app::backend::import::job::Stored::parse(job.stored_path.as_deref().unwrap(), org);
    assert!(kept.exists(&db).await, "{kept:?}");

    let server = start(&db_url, &uploads, &env).await;
    let job = ended(&client, &server, &id).await;
    assert_eq!(job.status, ImportStatus::Completed, "{job:?}");
    assert_eq!(
        (job.processed_rows, job.created, job.unchanged, job.warnings),
        (ROWS + 1, ROWS, 1, 1),
        "{job:?}"
    );
    assert_eq!(count_contacts(&db, 1).await, ROWS as i64);
    assert_eq!(resumes(&db, &id).await, 0, "a pause is not a crash");
    all_searchable(&client, &server, ROWS).await;
    let report = problems_csv(&client, &server, &id).await;
    let lines = common::csv_records(&report);
    assert_eq!(lines.len(), 2, "{report}");
    assert_eq!(lines[1][0], (ROWS + 2).to_string());
    assert!(lines[1][1].contains("line 2"), "{report}");
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

/// A sync running when its server is stopped (SIGTERM): the server stops at
/// once, the sync is recorded as interrupted, having changed nothing, and is
/// due again at once; the server started again runs it to the end.
#[tokio::test]
async fn a_sync_stopped_with_its_server_runs_again_at_once() {
    use app::backend::connectors::Credentials;
    use app::backend::db::entities::{integration, sync_run};
    use app::model::{IntegrationStatus, Provider, SyncStatus};
    use muster::fakes::{okta::FakeOkta, FakeOrg};
    use sea_orm::{ColumnTrait, QueryFilter};
    use std::sync::atomic::Ordering;
    const TOKEN: &str = "00okta-test-token-0123456789";
    let database = TestDb::new().await;
    let db_url = database.url.clone();
    let uploads = std::env::temp_dir().join(unique_name("muster-restart"));
    organisation(&db_url).await;
    let db = muster::open_database(&db_url).await.unwrap();
    // The key the servers are given: 32 zero bytes.
    let vault = app::backend::vault::Vault::from_key(&[0; 32]);
    let fake = FakeOkta::new(FakeOrg::generate(50, 7), TOKEN)
        .start(0)
        .await
        .unwrap();
    let faults = &fake.state::<FakeOkta>().unwrap().faults;
    // A slow source: the sync is still reading when the server stops.
    faults.latency_ms.store(10_000, Ordering::SeqCst);
    let fields = std::collections::BTreeMap::from([
        ("domain".to_string(), fake.url()),
        ("api_token".to_string(), TOKEN.to_string()),
    ]);
    let credentials = Credentials::from_form(Provider::Okta, &fields);
    let org = app::backend::domain::OrgId::trusted(1);
    let made = app::backend::integrations::create(&db, &vault, org, Provider::Okta, &credentials)
        .await
        .unwrap();
    let due = chrono::Utc::now().timestamp_millis() - 1000;
    db.execute_unprepared(&format!("UPDATE integrations SET next_sync_at = {due}"))
        .await
        .unwrap();
    let env = [
        ("MUSTER_ALLOW_INSECURE_PROVIDER_URLS", "true"),
        ("MUSTER_SYNC_TICK_SECONDS", "1"),
    ];
    let runs = || sync_run::Entity::find().filter(sync_run::Column::IntegrationId.eq(made.id));
    let server = start(&db_url, &uploads, &env).await;
    let deadline = Instant::now() + Duration::from_secs(30);
    while runs().all(&db).await.unwrap().is_empty() {
        assert!(Instant::now() < deadline, "the due sync did not start");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let stopping = Instant::now();
    assert!(
        server.terminate(Duration::from_secs(5)).await,
        "not stopped"
    );
    assert!(stopping.elapsed() < Duration::from_secs(5));

    let row = integration::Entity::find_by_id(made.id)
        .one(&db)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(row.status, IntegrationStatus::Failed.as_str(), "{row:?}");
    assert!(
        row.last_error
            .as_deref()
            .is_some_and(|e| e.contains("interrupted") && e.contains("again at once")),
        "{row:?}"
    );
    assert!(row.next_sync_at.unwrap() <= chrono::Utc::now().timestamp_millis());
    let stopped = runs().all(&db).await.unwrap();
    assert_eq!(stopped.len(), 1);
    assert_eq!(stopped[0].status, SyncStatus::Interrupted.as_str());
    assert_eq!(
        count_contacts(&db, 1).await,
        0,
        "an interrupted sync changes nothing"
    );

    faults.latency_ms.store(0, Ordering::SeqCst);
    let server = start(&db_url, &uploads, &env).await;
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let done = runs().all(&db).await.unwrap();
        if done
            .iter()
            .any(|r| r.status == SyncStatus::Succeeded.as_str())
        {
            assert_eq!(done.len(), 2, "{done:?}");
            break;
        }
        assert!(Instant::now() < deadline, "not synced again: {done:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(count_contacts(&db, 1).await > 0);
    drop(server);
    let _ = std::fs::remove_dir_all(&uploads);
}
