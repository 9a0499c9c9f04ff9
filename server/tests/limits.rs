//! One organisation must not be able to starve the others, nor a hostile
//! endpoint hold a sync for ever: each limit is hit here and answered with a
//! clear message, changing nothing it should not.

mod common;

use app::backend::import::job::ImportConfig;
use app::model::{ImportStatus, Integration, IntegrationStatus};
use common::{test_providers, TestApp};
use muster::fakes::okta::FakeOkta;
use muster::fakes::FakeOrg;
use reqwest::{Client, StatusCode};
use serde_json::json;
use std::sync::atomic::Ordering;
use std::time::Duration;

const TOKEN: &str = "00okta-limits-token";

async fn connect(app: &TestApp, client: &Client, url: &str) -> Integration {
    let form = json!({ "form": { "provider": "okta", "fields": {
        "domain": url, "api_token": TOKEN } } });
    let res = app.call_json(client, "connect_integration", &form).await;
    let status = res.status();
    let text = res.text().await.unwrap();
    assert_eq!(status, StatusCode::OK, "{text}");
    let id = serde_json::from_str::<Integration>(&text).unwrap().id;
    let done: Integration = app.wait_sync(client, id).await;
    done
}

#[tokio::test]
async fn a_directory_larger_than_the_ceiling_fails_and_changes_nothing() {
    let mut providers = test_providers(true);
    providers.max_people = 100;
    let app = TestApp::spawn_with_providers(providers).await;
    let client = app.org_admin("Acme", "admin@acme.example").await;
    let fake = FakeOkta::new(FakeOrg::generate(450, 5), TOKEN)
        .start(0)
        .await
        .unwrap();
    let done = connect(&app, &client, &fake.url()).await;
    // Waiting will not shrink the directory: no retry, someone must act.
    assert_eq!(done.status, IntegrationStatus::NeedsAttention);
    assert_eq!(done.next_retry, 0);
    let error = done.last_error.unwrap_or_default();
    assert!(error.contains("more than 100 people"), "{error}");
    assert_eq!(app.contact_count(1).await, 0);
}

#[tokio::test]
async fn a_sync_past_its_deadline_fails_and_changes_nothing() {
    let mut providers = test_providers(true);
    providers.sync_deadline = Duration::from_secs(2);
    let app = TestApp::spawn_with_providers(providers).await;
    let client = app.org_admin("Acme", "admin@acme.example").await;
    let fake = FakeOkta::new(FakeOrg::generate(450, 6), TOKEN)
        .start(0)
        .await
        .unwrap();
    // Each page takes a second: the first sync's three pages outlast the deadline.
    fake.faults.latency_ms.store(900, Ordering::SeqCst);
    let form = json!({ "form": { "provider": "okta", "fields": {
        "domain": fake.url(), "api_token": TOKEN } } });
    // Connect tests the connection first (one page), then syncs.
    let res = app.call_json(&client, "connect_integration", &form).await;
    assert_eq!(res.status(), StatusCode::OK);
    let id = res.json::<Integration>().await.unwrap().id;
    let done: Integration = app.wait_sync(&client, id).await;
    // A slow source may be quicker later: retried.
    assert_eq!(done.status, IntegrationStatus::Failed);
    assert_eq!(done.next_retry, 1);
    let error = done.last_error.unwrap_or_default();
    assert!(error.contains("did not finish within"), "{error}");
    assert_eq!(app.contact_count(1).await, 0);
}

#[tokio::test]
async fn an_organisation_runs_a_bounded_number_of_syncs() {
    let mut providers = test_providers(true);
    providers.syncs_per_org = 1;
    let app = TestApp::spawn_with_providers(providers).await;
    let client = app.org_admin("Acme", "admin@acme.example").await;
    let other = app.org_admin("Other", "admin@other.example").await;
    let a = FakeOkta::new(FakeOrg::generate(30, 7), TOKEN)
        .start(0)
        .await
        .unwrap();
    let b = FakeOkta::new(FakeOrg::generate(30, 8), TOKEN)
        .start(0)
        .await
        .unwrap();
    let first = connect(&app, &client, &a.url()).await;
    let second = connect(&app, &client, &b.url()).await;
    let theirs = connect(&app, &other, &b.url()).await;
    // A slow source keeps the first sync running.
    a.faults.latency_ms.store(1500, Ordering::SeqCst);
    let sync = |c: &Client, id: i64| {
        let (app, c) = (&app, c.clone());
        async move {
            app.call(&c, "sync_integration", &[("id", &id.to_string())])
                .await
        }
    };
    assert_eq!(sync(&client, first.id).await.status(), StatusCode::OK);
    let (status, error) = common::refusal(sync(&client, second.id).await).await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert!(
        error
            .to_string()
            .contains("syncs of this organisation are running"),
        "{error}"
    );
    // Another organisation is not held back.
    assert_eq!(sync(&other, theirs.id).await.status(), StatusCode::OK);
    app.wait_sync(&client, first.id).await;
    app.wait_sync(&other, theirs.id).await;
    assert_eq!(sync(&client, second.id).await.status(), StatusCode::OK);
    app.wait_sync(&client, second.id).await;
}

fn people_csv(rows: usize) -> Vec<u8> {
    let mut csv = String::from("First Name,Last Name,Email\n");
    for n in 0..rows {
        csv.push_str(&format!("Person,{n},person{n}@acme.example\n"));
    }
    csv.into_bytes()
}

#[tokio::test]
async fn one_import_runs_and_five_wait_per_organisation() {
    let app = TestApp::spawn_with(ImportConfig {
        batch_rows: 1,
        max_waiting: 5,
        ..common::test_imports()
    })
    .await;
    let client = app.org_admin("Acme", "admin@acme.example").await;
    let mut waiting = Vec::new();
    for n in 0..7 {
        let (status, preview) = app
            .upload(&client, &format!("file{n}.csv"), people_csv(3000))
            .await;
        assert_eq!(status, StatusCode::OK);
        waiting.push(preview.unwrap());
    }
    // The two oldest were discarded, saying why; five still wait.
    for (n, p) in waiting.iter().enumerate() {
        let job = app.import_job(&client, p.job_id).await;
        if n < 2 {
            assert_eq!(job.status, ImportStatus::Discarded, "{n}");
            assert!(job
                .message
                .unwrap_or_default()
                .contains("at most 5 uploads"));
        } else {
            assert_eq!(job.status, ImportStatus::Previewed, "{n}");
        }
    }
    let fields = common::detected_fields(&waiting[2]);
    app.start_import(&client, waiting[2].job_id, &fields).await;
    let id = waiting[3].job_id.to_string();
    let mut form = vec![("id".to_string(), id)];
    for (i, f) in fields.iter().enumerate() {
        form.push((format!("fields[{i}]"), f.clone()));
    }
    let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let (status, error) = common::refusal(app.call(&client, "start_import", &form).await).await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert!(
        error
            .to_string()
            .contains("Another upload is being imported"),
        "{error}"
    );
    assert_eq!(
        app.import_job(&client, waiting[3].job_id).await.status,
        ImportStatus::Previewed,
        "still waiting, to be started later"
    );
    app.wait_import(&client, waiting[2].job_id).await;
    app.start_import(&client, waiting[3].job_id, &fields).await;
    app.wait_import(&client, waiting[3].job_id).await;
}

#[tokio::test]
async fn an_upload_that_would_fill_the_disk_is_refused() {
    if std::env::var("MUSTER_TEST_DB").as_deref() == Ok("postgres") {
        // Uploads are kept in the database there, not on the server's disk.
        return;
    }
    let app = TestApp::spawn_with(ImportConfig {
        // More free space than any disk has.
        keep_free: Some(u64::MAX / 2),
        ..common::test_imports()
    })
    .await;
    let client = app.org_admin("Acme", "admin@acme.example").await;
    let (status, answer) = app.upload(&client, "people.csv", people_csv(10)).await;
    assert_eq!(status, StatusCode::INSUFFICIENT_STORAGE);
    let error = answer.unwrap_err();
    assert!(
        error
            .app_error()
            .to_string()
            .contains("disk is nearly full"),
        "{error:?}"
    );
    assert_eq!(app.stored_uploads().await, 0);
}

#[tokio::test]
async fn a_record_over_a_megabyte_is_refused_with_its_line() {
    let app = TestApp::spawn().await;
    let client = app.org_admin("Acme", "admin@acme.example").await;
    let mut csv = people_csv(5);
    csv.extend_from_slice(
        format!("Long,\"{}\",x@acme.example\n", "y".repeat(1_100_000)).as_bytes(),
    );
    let (status, answer) = app.upload(&client, "long.csv", csv).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let text = answer.unwrap_err().app_error().to_string();
    assert!(
        text.contains("Line 7") && text.contains("longer than 1 MB"),
        "{text}"
    );
    assert_eq!(app.contact_count(1).await, 0);
}

#[tokio::test]
async fn a_search_longer_than_200_characters_is_refused() {
    let app = TestApp::spawn().await;
    let client = app.org_admin("Acme", "admin@acme.example").await;
    let long = "a".repeat(201);
    let res = app
        .call(&client, "list_contacts", &[("query[q]", long.as_str())])
        .await;
    let (status, error) = common::refusal(res).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        error
            .field_message("q")
            .unwrap_or_default()
            .contains("at most 200"),
        "{error:?}"
    );
    let res = app
        .call(&client, "list_contacts", &[("query[q]", &long[..200])])
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let export = client
        .get(format!("{}/contacts.csv?q={long}", app.url))
        .send()
        .await
        .unwrap();
    assert_eq!(export.status(), StatusCode::UNPROCESSABLE_ENTITY);
}
