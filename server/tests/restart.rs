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

#[tokio::test]
async fn an_import_cut_short_by_a_restart_shows_as_interrupted() {
    let database = TestDb::new().await;
    let db_url = database.url.clone();
    let uploads = std::env::temp_dir().join(unique_name("muster-restart"));
    {
        let db = muster::open_database(&db_url).await.unwrap();
        let new = app::backend::auth::NewOrganisation {
            name: "Acme".into(),
            default_region: "GB".into(),
            time_zone: "UTC".into(),
        };
        app::backend::auth::create_org_with_admin(&db, &new, "admin@acme.example", PASSWORD)
            .await
            .unwrap();
    }
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
