//! Incidents over HTTP, sending through a real SMTP conversation to a local
//! sink: the launch's preview and its frozen recipients with why; one email
//! each, a temporary refusal tried again, a permanent one failed with its
//! reason, SMS shown as not set up; answers by response link (the last
//! one counts, a forged link is nobody's); resolving closes the answers;
//! another organisation sees and changes nothing.

mod common;

use app::backend::incidents::email::EmailSender;
use app::backend::incidents::outbox::{Outbox, OutboxSettings};
use app::model::{
    Audience, Contact, DeliveryStatus, FollowUp, Incident, IncidentProgress, IncidentRecipientPage,
    IncidentStatus, LaunchPreview, LaunchRequest, RecipientFilter, RecipientGroup, Recipients,
    ResponseView, Rule, Scenario, ScenarioDraft,
};
use common::{form_call, json_call, TestApp};
use muster::fakes::smtp::{self, RunningSink};
use reqwest::{Client, StatusCode};
use serde_json::json;
use std::time::{Duration, Instant};

async fn app_with_sink() -> (TestApp, RunningSink) {
    let sink = smtp::start(0).await.unwrap();
    let email = EmailSender::new(&sink.url(), "Muster <alerts@acme.example>", 0).unwrap();
    let settings = OutboxSettings {
        retries: vec![Duration::from_millis(200); 2],
        tick: Duration::from_millis(50),
        ..OutboxSettings::default()
    };
    let app = TestApp::spawn_configured(move |s| {
        s.with_outbox(Outbox::new(Some(email), "https://muster.test", settings))
    })
    .await;
    (app, sink)
}

async fn progress(app: &TestApp, admin: &Client, id: i64) -> IncidentProgress {
    let (status, p) = form_call(app, admin, "incident_progress", &[("id", &id.to_string())]).await;
    assert_eq!(status, StatusCode::OK, "{p:?}");
    p.unwrap()
}

/// The incident's progress once no delivery is queued any more.
async fn settled(app: &TestApp, admin: &Client, id: i64) -> IncidentProgress {
    let started = Instant::now();
    loop {
        let p = progress(app, admin, id).await;
        if p.email.queued == 0 && p.sms.queued == 0 {
            return p;
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "still sending: {p:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn person(
    app: &TestApp,
    admin: &Client,
    first: &str,
    email: &str,
    phone: &str,
    group: &str,
) -> Contact {
    let mut form = vec![
        ("draft[first_name]", first),
        ("draft[last_name]", "Tester"),
        ("draft[email]", email),
        ("draft[phone]", phone),
        ("draft[department]", "Engineering"),
    ];
    if !group.is_empty() {
        form.push(("draft[groups][0]", group));
    }
    app.create(admin, &form).await
}

async fn recipients(
    app: &TestApp,
    admin: &Client,
    id: i64,
    filter: RecipientFilter,
) -> IncidentRecipientPage {
    let (status, page) = json_call(
        app,
        admin,
        "incident_recipients",
        json!({ "id": id, "filter": filter }),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{page:?}");
    page.unwrap()
}

/// The token of the response link in `body`.
fn token_in(body: &str) -> String {
    let start = body
        .find("https://muster.test/respond/")
        .expect("a response link");
    let rest = &body[start + "https://muster.test/respond/".len()..];
    rest.split_whitespace().next().unwrap().to_string()
}

#[tokio::test]
async fn an_incident_reaches_its_recipients_by_email_and_collects_their_answers() {
    let (app, sink) = app_with_sink().await;
    let admin = app.org_admin("Acme", "admin@acme.example").await;
    let other = app.org_admin("Other", "admin@other.example").await;
    let ada = person(
        &app,
        &admin,
        "Ada",
        "ada@acme.example",
        "+447400123401",
        "On call",
    )
    .await;
    person(&app, &admin, "Bob", "bob@acme.example", "", "On call").await;
    person(&app, &admin, "Cy", "", "+447400123403", "").await;
    person(&app, &admin, "Eve", "eve@acme.example", "", "").await;
    person(&app, &admin, "Fay", "fay@acme.example", "", "").await;
    // Someone outside the selection.
    app.create(
        &admin,
        &[
            ("draft[first_name]", "Zed"),
            ("draft[last_name]", "Outsider"),
            ("draft[email]", "zed@acme.example"),
            ("draft[department]", "Sales"),
        ],
    )
    .await;
    sink.sink.refuse("eve@acme.example", 550, 10);
    sink.sink.refuse("fay@acme.example", 451, 1);
    let groups: Vec<RecipientGroup> = app.json(&admin, "recipient_groups", &[]).await;
    let draft = ScenarioDraft {
        name: "Fire drill".into(),
        subject: "Fire drill for {first_name}".into(),
        body: "Hello {first_name}, please leave the building.".into(),
        options: vec!["I'm safe".into(), "I need help".into()],
        recipients: Recipients {
            groups: vec![groups[0].id],
            rules: vec![Rule {
                department: "Engineering".into(),
                ..Default::default()
            }],
            contacts: vec![],
        },
        ..ScenarioDraft::new_blank()
    };
    let (_, scenario) =
        json_call::<Scenario>(&app, &admin, "create_scenario", json!({ "draft": draft })).await;
    let scenario = scenario.unwrap();

    // What the launch would do: five people, four emails, two texts that
    // this server cannot send.
    let (status, preview) =
        json_call::<LaunchPreview>(&app, &admin, "preview_launch", json!({ "draft": draft })).await;
    assert_eq!(status, StatusCode::OK, "{preview:?}");
    let preview = preview.unwrap();
    assert_eq!(
        (preview.reach.people, preview.emails, preview.texts),
        (5, 4, 2)
    );
    assert_eq!(preview.email_unavailable, None);
    assert!(preview
        .sms_unavailable
        .unwrap()
        .contains("SMS is not set up"));

    // Nothing to launch to: refused, nothing made.
    let mut nobody = draft.clone();
    nobody.recipients = Recipients {
        rules: vec![Rule {
            department: "Nobody".into(),
            ..Default::default()
        }],
        ..Default::default()
    };
    for d in [
        ScenarioDraft {
            recipients: Recipients::default(),
            ..draft.clone()
        },
        nobody,
    ] {
        let (status, err) = json_call::<Incident>(
            &app,
            &admin,
            "launch_incident",
            json!({ "request": LaunchRequest { scenario_id: None, draft: d } }),
        )
        .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{err:?}");
    }

    let request = LaunchRequest {
        scenario_id: Some(scenario.id),
        draft: draft.clone(),
    };
    let (status, incident) = json_call::<Incident>(
        &app,
        &admin,
        "launch_incident",
        json!({ "request": request }),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{incident:?}");
    let incident = incident.unwrap();
    assert_eq!(incident.recipients, 5);
    assert_eq!(incident.status, IncidentStatus::Active);
    assert_eq!(incident.launched_by, "admin@acme.example");

    // Every email handed over once; Fay's after one temporary refusal,
    // Eve's failed for good; the texts failed as not set up.
    let p = settled(&app, &admin, incident.id).await;
    assert_eq!((p.email.sent, p.email.failed), (3, 1), "{p:?}");
    assert_eq!((p.sms.sent, p.sms.failed), (0, 2), "{p:?}");
    assert_eq!((p.tally.clone(), p.unanswered), (vec![0, 0], 5));
    for address in ["ada@acme.example", "bob@acme.example", "fay@acme.example"] {
        assert_eq!(sink.sink.to(address).len(), 1, "{address}");
    }
    assert!(sink.sink.to("eve@acme.example").is_empty());
    assert!(sink.sink.to("zed@acme.example").is_empty());
    let mail = &sink.sink.to("ada@acme.example")[0];
    assert_eq!(
        mail.header("Subject").as_deref(),
        Some("Fire drill for Ada")
    );
    assert!(mail.header("From").unwrap().contains("alerts@acme.example"));
    let body = mail.body();
    assert!(
        body.contains("Hello Ada, please leave the building."),
        "{body}"
    );
    assert!(body.contains("1. I'm safe"), "{body}");

    // Who was targeted and why; who failed and why.
    let all = recipients(&app, &admin, incident.id, RecipientFilter::default()).await;
    assert_eq!(all.total, 5);
    let ada_row = all.rows.iter().find(|r| r.name == "Ada Tester").unwrap();
    assert_eq!(ada_row.why, format!("Group {}", groups[0].name));
    assert_eq!(ada_row.email_status, Some(DeliveryStatus::Sent));
    assert_eq!(ada_row.sms_status, Some(DeliveryStatus::Failed));
    let cy_row = all.rows.iter().find(|r| r.name == "Cy Tester").unwrap();
    assert_eq!(cy_row.why, "Rule: Department is Engineering");
    assert_eq!(cy_row.email_status, None);
    let failed = recipients(
        &app,
        &admin,
        incident.id,
        RecipientFilter {
            status: Some(DeliveryStatus::Failed),
            ..Default::default()
        },
    )
    .await;
    let eve = failed.rows.iter().find(|r| r.name == "Eve Tester").unwrap();
    assert!(eve.error.as_deref().unwrap().contains("550"), "{eve:?}");
    assert_eq!(failed.total, 3, "Eve's email, Ada's and Cy's texts");

    // Ada answers by her link, then changes her mind: the last answer counts.
    let token = token_in(&body);
    let (status, view) =
        form_call::<ResponseView>(&app, &Client::new(), "open_response", &[("token", &token)])
            .await;
    assert_eq!(status, StatusCode::OK, "{view:?}");
    let view = view.unwrap();
    assert_eq!(view.body, "Hello Ada, please leave the building.");
    assert_eq!(
        (view.answer, view.closed, view.org_name.as_str()),
        (None, false, "Acme")
    );
    for option in ["0", "1"] {
        let (status, view) = form_call::<ResponseView>(
            &app,
            &Client::new(),
            "respond",
            &[("token", &token), ("option", option)],
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{view:?}");
        assert_eq!(view.unwrap().answer, Some(option.parse().unwrap()));
    }
    let p = progress(&app, &admin, incident.id).await;
    assert_eq!((p.tally, p.unanswered), (vec![0, 1], 4));
    let answered = recipients(
        &app,
        &admin,
        incident.id,
        RecipientFilter {
            response: Some(Some(1)),
            ..Default::default()
        },
    )
    .await;
    assert_eq!(answered.total, 1);
    assert_eq!(answered.rows[0].response.as_deref(), Some("I need help"));
    assert_eq!(answered.rows[0].id, ada_row.id);
    let _ = ada;

    // A forged or altered link is nobody's; an option not offered is refused.
    let (id, _) = token.split_once('-').unwrap();
    for forged in [
        format!(
            "{}-{}",
            id.parse::<i64>().unwrap() + 1,
            &token[id.len() + 1..]
        ),
        format!("{id}-AAAAAAAAAAAAAAAAAAAAAA"),
        "nonsense".to_string(),
    ] {
        let (status, _) =
            form_call::<ResponseView>(&app, &Client::new(), "open_response", &[("token", &forged)])
                .await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{forged}");
    }
    let (status, _) = form_call::<ResponseView>(
        &app,
        &Client::new(),
        "respond",
        &[("token", &token), ("option", "2")],
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);

    // A follow-up to those who have not answered: Bob and Fay get a second
    // email with the same answer link, Ada none, Eve's is refused again, Cy's
    // text fails as not set up. To those who chose an option nobody
    // chose: refused, nothing sent.
    let follow_up = FollowUp {
        audience: Audience::Unanswered,
        subject: "Update for {first_name}".into(),
        body: "Are you still there?".into(),
    };
    let (status, queued) = json_call::<u64>(
        &app,
        &admin,
        "send_follow_up",
        json!({ "id": incident.id, "follow_up": follow_up }),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{queued:?}");
    assert_eq!(queued.unwrap(), 4);
    let p = settled(&app, &admin, incident.id).await;
    assert_eq!((p.email.sent, p.email.failed), (5, 2), "{p:?}");
    // Each message's own deliveries: the launch's, then the follow-up's.
    let kinds: Vec<&str> = p.messages.iter().map(|m| m.kind.as_str()).collect();
    assert_eq!(kinds, ["launch", "follow-up"]);
    let (launch, again) = (&p.messages[0], &p.messages[1]);
    assert_eq!(
        (launch.email.sent, launch.email.failed, launch.sms.failed),
        (3, 1, 2)
    );
    assert_eq!(
        (again.email.sent, again.email.failed, again.sms.failed),
        (2, 1, 1)
    );
    assert_eq!(again.subject, "Update for {first_name}");
    assert_eq!(sink.sink.to("ada@acme.example").len(), 1);
    assert!(sink.sink.to("eve@acme.example").is_empty());
    let bob = sink.sink.to("bob@acme.example");
    assert_eq!(bob.len(), 2);
    assert_eq!(bob[1].header("Subject").as_deref(), Some("Update for Bob"));
    assert!(bob[1].body().contains("Are you still there?"));
    assert_eq!(token_in(&bob[0].body()), token_in(&bob[1].body()));
    assert_eq!(sink.sink.to("fay@acme.example").len(), 2);
    for (audience, subject) in [
        (Audience::Answered(0), "Thanks"),
        (Audience::Unanswered, " "),
    ] {
        let (status, err) = json_call::<u64>(
            &app,
            &admin,
            "send_follow_up",
            json!({ "id": incident.id, "follow_up": FollowUp { audience, subject: subject.into(), body: "x".into() } }),
        )
        .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{err:?}");
    }
    let (status, _) = json_call::<u64>(
        &app,
        &other,
        "send_follow_up",
        json!({ "id": incident.id, "follow_up": follow_up }),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // Another organisation sees and changes nothing of it.
    let (rows, _) = (
        form_call::<Vec<serde_json::Value>>(&app, &other, "list_incidents", &[]).await,
        (),
    );
    assert_eq!(rows.1.unwrap().len(), 0);
    let sid = incident.id.to_string();
    for name in ["get_incident", "incident_progress", "resolve_incident"] {
        let (status, _) = form_call::<serde_json::Value>(&app, &other, name, &[("id", &sid)]).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{name}");
    }
    let (status, _) = json_call::<IncidentRecipientPage>(
        &app,
        &other,
        "incident_recipients",
        json!({ "id": incident.id, "filter": RecipientFilter::default() }),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // Resolved: answers close, the link says so.
    let (status, resolved) =
        form_call::<Incident>(&app, &admin, "resolve_incident", &[("id", &sid)]).await;
    assert_eq!(status, StatusCode::OK, "{resolved:?}");
    let resolved = resolved.unwrap();
    assert_eq!(resolved.status, IncidentStatus::Resolved);
    assert_eq!(resolved.resolved_by.as_deref(), Some("admin@acme.example"));
    let (status, _) = form_call::<ResponseView>(
        &app,
        &Client::new(),
        "respond",
        &[("token", &token), ("option", "0")],
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT);
    let (_, view) =
        form_call::<ResponseView>(&app, &Client::new(), "open_response", &[("token", &token)])
            .await;
    let view = view.unwrap();
    assert!(view.closed);
    assert_eq!(view.answer, Some(1));
    let (status, _) =
        form_call::<Incident>(&app, &admin, "resolve_incident", &[("id", &sid)]).await;
    assert_eq!(status, StatusCode::CONFLICT);

    // Who launched it and who resolved it; nobody else can read that.
    let (_, trail) =
        form_call::<Vec<app::model::AuditEntry>>(&app, &admin, "incident_history", &[("id", &sid)])
            .await;
    let trail: Vec<String> = trail
        .unwrap()
        .into_iter()
        .map(|e| format!("{} {} {}", e.actor, e.action, e.summary))
        .collect();
    assert_eq!(
        trail,
        [
            "admin@acme.example resolved Fire drill",
            "admin@acme.example sent a follow-up to those who have not answered: Update for {first_name} (4 messages)",
            "admin@acme.example launched Fire drill (5 recipients)",
        ]
    );
    let (status, _) =
        form_call::<serde_json::Value>(&app, &other, "incident_history", &[("id", &sid)]).await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // Listed for its organisation, with its answers counted.
    let (_, list) =
        form_call::<Vec<app::model::IncidentSummary>>(&app, &admin, "list_incidents", &[]).await;
    let list = list.unwrap();
    assert_eq!(list.len(), 1);
    assert_eq!((list[0].recipients, list[0].answered), (5, 1));
    assert_eq!(list[0].status, IncidentStatus::Resolved);
}

/// An email to everyone in Engineering.
fn to_engineering() -> ScenarioDraft {
    ScenarioDraft {
        name: "Test".into(),
        subject: "Test".into(),
        body: "Test".into(),
        channels: app::model::Channels {
            email: true,
            sms: false,
        },
        recipients: Recipients {
            rules: vec![Rule {
                department: "Engineering".into(),
                ..Default::default()
            }],
            ..Default::default()
        },
        ..ScenarioDraft::new_blank()
    }
}

#[tokio::test]
async fn email_not_configured_is_said_and_recorded_not_skipped() {
    let app = TestApp::spawn().await;
    let admin = app.org_admin("Acme", "admin@acme.example").await;
    person(&app, &admin, "Ada", "ada@acme.example", "", "On call").await;
    let draft = to_engineering();
    let (_, preview) =
        json_call::<LaunchPreview>(&app, &admin, "preview_launch", json!({ "draft": draft })).await;
    assert!(preview
        .unwrap()
        .email_unavailable
        .unwrap()
        .contains("MUSTER_SMTP_URL"));
    let (_, incident) = json_call::<Incident>(
        &app,
        &admin,
        "launch_incident",
        json!({ "request": LaunchRequest { scenario_id: None, draft } }),
    )
    .await;
    let incident = incident.unwrap();
    let p = progress(&app, &admin, incident.id).await;
    assert_eq!((p.email.failed, p.email.total()), (1, 1));
}

/// A sender stopped with its server hands nothing more over: the messages of
/// its batch not yet handed over go back to the queue untried (their tries
/// not counted), and the next sender sends each of them once.
#[tokio::test]
async fn a_stopped_sender_puts_back_what_it_has_not_handed_over() {
    use sea_orm::EntityTrait;
    let (app, sink) = app_with_sink().await;
    // This server's own sender stops at once: nothing is sent by it.
    app.state.outbox.stop();
    let admin = app.org_admin("Acme", "admin@acme.example").await;
    for (first, email) in [("Ada", "ada@acme.example"), ("Bob", "bob@acme.example")] {
        person(&app, &admin, first, email, "", "").await;
    }
    let draft = to_engineering();
    let (_, incident) = json_call::<Incident>(
        &app,
        &admin,
        "launch_incident",
        json!({ "request": LaunchRequest { scenario_id: None, draft } }),
    )
    .await;
    let incident = incident.unwrap();
    // The stopped sender claims the batch, and puts all of it back.
    let held = app
        .state
        .outbox
        .run_once(&app.db, &app.state.vault)
        .await
        .unwrap();
    assert_eq!(held, 2);
    assert!(sink.sink.messages().is_empty());
    let rows = app::backend::db::entities::delivery::Entity::find()
        .all(&app.db)
        .await
        .unwrap();
    assert_eq!(rows.len(), 2);
    for d in &rows {
        assert_eq!(
            (d.status.as_str(), d.attempts, d.lease_until),
            ("queued", 0, None),
            "{d:?}"
        );
    }
    // Another server's sender sends them, each once.
    let email = EmailSender::new(&sink.url(), "Muster <alerts@acme.example>", 0).unwrap();
    let other = Outbox::new(
        Some(email),
        "https://muster.test",
        OutboxSettings::default(),
    );
    assert_eq!(other.run_once(&app.db, &app.state.vault).await.unwrap(), 2);
    let p = progress(&app, &admin, incident.id).await;
    assert_eq!((p.email.sent, p.email.queued), (2, 0), "{p:?}");
    assert_eq!(sink.sink.messages().len(), 2);
}
