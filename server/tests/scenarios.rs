//! Scenarios over HTTP: made, listed and searched, edited (a stale save
//! refused), copied, deleted, each change in the audit trail; bad drafts
//! refused by field; one organisation's scenarios, groups and people out of
//! another's reach. And what the Recipients selector shows of a scenario:
//! the Sources a rule can name, and the people picked by name.

mod common;

use app::model::{
    AppError, AuditEntry, Contact, PickedContact, RecipientGroup, Recipients, Rule, Scenario,
    ScenarioDraft, ScenarioSummary, Severity,
};
use common::scim::Idp;
use common::TestApp;
use reqwest::{Client, StatusCode};
use serde_json::json;

async fn call<T: serde::de::DeserializeOwned + std::fmt::Debug>(
    app: &TestApp,
    admin: &Client,
    name: &str,
    body: serde_json::Value,
) -> (StatusCode, Result<T, AppError>) {
    let res = app.call_json(admin, name, &body).await;
    common::answer(res).await
}

async fn ok<T: serde::de::DeserializeOwned + std::fmt::Debug>(
    app: &TestApp,
    admin: &Client,
    name: &str,
    body: serde_json::Value,
) -> T {
    let (status, answer) = call::<T>(app, admin, name, body).await;
    assert_eq!(status, StatusCode::OK, "{name}: {answer:?}");
    answer.unwrap()
}

/// The server functions that take no JSON: form-encoded.
async fn form<T: serde::de::DeserializeOwned + std::fmt::Debug>(
    app: &TestApp,
    admin: &Client,
    name: &str,
    form: &[(&str, &str)],
) -> (StatusCode, Result<T, AppError>) {
    let res = app.call(admin, name, form).await;
    common::answer(res).await
}

async fn get(app: &TestApp, admin: &Client, id: i64) -> (StatusCode, Result<Scenario, AppError>) {
    form(app, admin, "get_scenario", &[("id", &id.to_string())]).await
}

async fn list(app: &TestApp, admin: &Client, q: &str) -> Vec<ScenarioSummary> {
    let (status, rows) = form(app, admin, "list_scenarios", &[("q", q)]).await;
    assert_eq!(status, StatusCode::OK, "{rows:?}");
    rows.unwrap()
}

async fn history(app: &TestApp, admin: &Client, id: i64) -> Vec<String> {
    let (status, trail) =
        form::<Vec<AuditEntry>>(app, admin, "scenario_history", &[("id", &id.to_string())]).await;
    assert_eq!(status, StatusCode::OK, "{trail:?}");
    trail
        .unwrap()
        .into_iter()
        .map(|e| format!("{} {} {}", e.actor, e.action, e.summary))
        .collect()
}

fn fields(err: &AppError) -> Vec<&str> {
    match err {
        AppError::Invalid(errors) => errors.iter().map(|e| e.field.as_str()).collect(),
        other => panic!("not a field error: {other:?}"),
    }
}

async fn contact(app: &TestApp, admin: &Client, first: &str, email: &str, group: &str) -> Contact {
    app.create(
        admin,
        &[
            ("draft[first_name]", first),
            ("draft[last_name]", "Tester"),
            ("draft[email]", email),
            ("draft[department]", "Engineering"),
            ("draft[groups][0]", group),
        ],
    )
    .await
}

fn drill(groups: Vec<i64>, contacts: Vec<i64>) -> ScenarioDraft {
    ScenarioDraft {
        name: "Fire drill".into(),
        description: "The yearly evacuation of the London office.".into(),
        severity: Severity::High,
        subject: "Fire drill: leave the building".into(),
        body: "Hello {first_name}, please leave by the nearest exit.".into(),
        options: vec!["I'm safe".into(), "I need help".into()],
        recipients: Recipients {
            groups,
            rules: vec![Rule {
                department: "Engineering".into(),
                location: "London".into(),
                ..Default::default()
            }],
            contacts,
        },
        ..ScenarioDraft::new_blank()
    }
}

#[tokio::test]
async fn scenarios_are_made_edited_copied_and_deleted_with_an_audit_trail() {
    let app = TestApp::spawn().await;
    let admin = app.org_admin("Acme", "admin@acme.example").await;
    let ada = contact(&app, &admin, "Ada", "ada@acme.example", "On call").await;
    let groups: Vec<RecipientGroup> = app.json(&admin, "recipient_groups", &[]).await;
    let on_call = groups.iter().find(|g| g.name == "On call").unwrap().id;

    // Nothing yet.
    assert!(list(&app, &admin, "").await.is_empty());

    // A draft with every problem at once is refused field by field, and
    // saves nothing.
    let (status, err) = call::<Scenario>(
        &app,
        &admin,
        "create_scenario",
        json!({ "draft": ScenarioDraft {
            body: "Hi {frist_name}".into(),
            channels: Default::default(),
            ..Default::default()
        } }),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        fields(&err.unwrap_err()),
        ["name", "subject", "body", "channels"]
    );
    assert!(list(&app, &admin, "").await.is_empty());

    // Made, with a group, a rule and a person picked by name.
    let draft = drill(vec![on_call], vec![ada.id]);
    let made: Scenario = ok(&app, &admin, "create_scenario", json!({ "draft": draft })).await;
    assert_eq!(made.draft, draft);
    assert_eq!(made.version, 1);
    assert_eq!(made.updated_by, "admin@acme.example");
    let got = get(&app, &admin, made.id).await.1.unwrap();
    assert_eq!(got, made);

    // The name is the organisation's: a second "FIRE DRILL" is refused.
    let mut twin = draft.clone();
    twin.name = " FIRE DRILL ".into();
    let (status, err) =
        call::<Scenario>(&app, &admin, "create_scenario", json!({ "draft": twin })).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(fields(&err.unwrap_err()), ["name"]);

    // Listed, found by name or description, not by other words.
    let rows = list(&app, &admin, "").await;
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].recipients, "1 group, 1 rule, 1 person");
    assert_eq!(rows[0].severity, Severity::High);
    assert_eq!(list(&app, &admin, "drill").await.len(), 1);
    assert_eq!(list(&app, &admin, "EVACUATION").await.len(), 1);
    assert!(list(&app, &admin, "flood").await.is_empty());

    // Edited as of its version; a second save from the same version is
    // refused, and changes nothing.
    let mut edited = draft.clone();
    edited.severity = Severity::Critical;
    edited.options = vec!["Acknowledge".into()];
    let body = json!({ "id": made.id, "version": 1, "draft": edited });
    let saved: Scenario = ok(&app, &admin, "update_scenario", body.clone()).await;
    assert_eq!(saved.version, 2);
    assert_eq!(saved.draft.severity, Severity::Critical);
    let mut stale = edited.clone();
    stale.name = "Stale".into();
    let (status, err) = call::<Scenario>(
        &app,
        &admin,
        "update_scenario",
        json!({ "id": made.id, "version": 1, "draft": stale }),
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT, "{err:?}");
    let got = get(&app, &admin, made.id).await.1.unwrap();
    assert_eq!(got.draft.name, "Fire drill");

    // Copied twice: each copy has a name of its own.
    let (status, copy) = form::<Scenario>(
        &app,
        &admin,
        "copy_scenario",
        &[("id", &made.id.to_string())],
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{copy:?}");
    let copy = copy.unwrap();
    assert_eq!(copy.draft.name, "Copy of Fire drill");
    assert_eq!(copy.draft.recipients, edited.recipients);
    let (_, again) = form::<Scenario>(
        &app,
        &admin,
        "copy_scenario",
        &[("id", &made.id.to_string())],
    )
    .await;
    assert_eq!(again.unwrap().draft.name, "Copy 2 of Fire drill");
    let names: Vec<String> = list(&app, &admin, "")
        .await
        .into_iter()
        .map(|s| s.name)
        .collect();
    assert_eq!(
        names,
        ["Copy 2 of Fire drill", "Copy of Fire drill", "Fire drill"]
    );

    // Deleted: gone from the list and from its address; the trail stays.
    let (status, _) = form::<()>(
        &app,
        &admin,
        "delete_scenario",
        &[("id", &copy.id.to_string())],
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = get(&app, &admin, copy.id).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(list(&app, &admin, "").await.len(), 2);
    assert_eq!(
        history(&app, &admin, made.id).await,
        [
            "admin@acme.example edited Fire drill",
            "admin@acme.example created Fire drill",
        ]
    );
    assert_eq!(
        history(&app, &admin, copy.id).await,
        [
            "admin@acme.example deleted Copy of Fire drill",
            "admin@acme.example copied Copy of Fire drill (from Fire drill)",
        ]
    );

    // A person deleted from the directory stays picked until the scenario
    // is saved again, which then asks to remove them.
    let (status, _) = form::<()>(
        &app,
        &admin,
        "delete_contact",
        &[("id", &ada.id.to_string())],
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let (status, err) = call::<Scenario>(
        &app,
        &admin,
        "update_scenario",
        json!({ "id": made.id, "version": 2, "draft": edited }),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(fields(&err.unwrap_err()), ["recipients"]);
}

#[tokio::test]
async fn one_organisation_cannot_see_or_use_anothers_scenarios_groups_or_people() {
    let app = TestApp::spawn().await;
    let acme = app.org_admin("Acme", "admin@acme.example").await;
    let other = app.org_admin("Other", "admin@other.example").await;
    let ada = contact(&app, &acme, "Ada", "ada@acme.example", "On call").await;
    let groups: Vec<RecipientGroup> = app.json(&acme, "recipient_groups", &[]).await;
    let on_call = groups[0].id;
    let made: Scenario = ok(
        &app,
        &acme,
        "create_scenario",
        json!({ "draft": drill(vec![on_call], vec![ada.id]) }),
    )
    .await;

    // Another organisation sees none of it, and can change none of it.
    assert!(list(&app, &other, "").await.is_empty());
    let id = made.id.to_string();
    let (status, _) = get(&app, &other, made.id).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = call::<Scenario>(
        &app,
        &other,
        "update_scenario",
        json!({ "id": made.id, "version": 1, "draft": drill(vec![], vec![]) }),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    for name in ["copy_scenario", "delete_scenario"] {
        let (status, _) = form::<serde_json::Value>(&app, &other, name, &[("id", &id)]).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{name}");
    }
    assert!(history(&app, &other, made.id).await.is_empty());
    let got = get(&app, &acme, made.id).await.1.unwrap();
    assert_eq!(got, made);

    // Nor can it name Acme's group or person in a scenario of its own, or
    // learn their names.
    for draft in [drill(vec![on_call], vec![]), drill(vec![], vec![ada.id])] {
        let (status, err) =
            call::<Scenario>(&app, &other, "create_scenario", json!({ "draft": draft })).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(fields(&err.unwrap_err()), ["recipients"]);
    }
    let picked: Vec<PickedContact> = ok(
        &app,
        &other,
        "recipient_contacts",
        json!({ "ids": [ada.id] }),
    )
    .await;
    assert!(picked.is_empty());
    let picked: Vec<PickedContact> = ok(
        &app,
        &acme,
        "recipient_contacts",
        json!({ "ids": [ada.id] }),
    )
    .await;
    assert_eq!(picked.len(), 1);
    assert_eq!(picked[0].name, "Ada Tester");
    assert!(picked[0].active);
}

#[tokio::test]
async fn a_rule_can_name_every_source_of_the_organisation() {
    let app = TestApp::spawn().await;
    let admin = app.org_admin("Acme", "admin@acme.example").await;
    let other = app.org_admin("Other", "admin@other.example").await;
    Idp::added(&app, &admin, "Entra ID (SCIM)", "Own", false).await;
    let sources: Vec<String> = app.json(&admin, "recipient_sources", &[]).await;
    assert_eq!(sources, ["Manual", "CSV upload", "Entra ID (SCIM)"]);
    let sources: Vec<String> = app.json(&other, "recipient_sources", &[]).await;
    assert_eq!(sources, ["Manual", "CSV upload"]);
}
