//! Workday against the fake RaaS report: Basic auth, the seed's exact keys
//! (a report without them is refused, naming them), workers and groups.

mod common;

use app::model::{ContactPage, Integration, IntegrationStatus};
use common::{error_text, TestApp};
use muster::fakes::workday::FakeWorkday;
use muster::fakes::FakeOrg;
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::sync::atomic::Ordering;

fn form(url: &str, password: &str) -> Value {
    json!({ "form": { "provider": "workday", "fields": {
        "report_url": url, "username": "ISU_Muster", "password": password } } })
}

#[tokio::test]
async fn workday_report_is_read_checked_and_synced() {
    let app = TestApp::spawn().await;
    let client = app.org_admin("Acme", "admin@acme.example").await;
    let org = FakeOrg::generate(120, 9);
    let fake = FakeWorkday::new(org.clone(), "ISU_Muster", "s3cret")
        .start(0)
        .await
        .unwrap();
    // The URL as copied, asking for XML: Muster asks for JSON.
    let url = format!(
        "{}/ccx/service/customreport2/acme/ISU_Muster/Muster_Workers?format=simplexml",
        fake.url()
    );

    let res = app
        .call_json(&client, "test_connection", &form(&url, "wrong"))
        .await;
    let (status, err) = common::refusal(res).await;
    assert_eq!(status, StatusCode::BAD_GATEWAY);
    assert!(error_text(&err).contains("HTTP 401"), "{err:?}");

    let state = fake.state::<FakeWorkday>().unwrap();
    state.wrong_keys.store(true, Ordering::Relaxed);
    let res = app
        .call_json(&client, "test_connection", &form(&url, "s3cret"))
        .await;
    let (status, err) = common::refusal(res).await;
    assert_eq!(status, StatusCode::BAD_GATEWAY);
    let text = error_text(&err);
    assert!(
        text.contains("Last_Name (the report has last_name)"),
        "{err:?}"
    );
    assert!(text.contains("Contact_Number"), "{err:?}");
    state.wrong_keys.store(false, Ordering::Relaxed);

    let res = app
        .call_json(&client, "test_connection", &form(&url, "s3cret"))
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let res = app
        .call_json(&client, "connect_integration", &form(&url, "s3cret"))
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let id = res.json::<Integration>().await.unwrap().id;
    let done = app.wait_sync(&client, id).await;
    assert_eq!(done.status, IntegrationStatus::Connected, "{done:?}");
    assert_eq!(done.contact_count as usize, org.active());
    let suspended = org
        .people
        .iter()
        .filter(|p| p.status == muster::fakes::org::Status::Suspended)
        .count();
    let result = done.last_result.as_ref().expect("the sync's counts");
    assert_eq!(result.excluded as usize, suspended);
    assert_eq!(result.groups, 16);
    let page: ContactPage = app
        .json(&client, "list_contacts", &[("query[q]", "example.com")])
        .await;
    assert_eq!(page.rows[0].source, "Workday");
}
