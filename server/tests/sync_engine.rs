//! The sync engine against the fake Okta, whose people change between syncs
//! as an HR system's do: changes follow the source, people who leave or are
//! suspended are let go, and a sync that would delete too many is held until
//! an administrator applies or discards it, or a later sync releases it.
//! Every sync is in the history, and its counts are what changed.

mod common;

use app::backend::connectors::{Credentials, HttpConfig};
use app::backend::domain::OrgId;
use app::backend::integrations::schedule::{self, Scheduler};
use app::model::{
    ChangeAction, Hold, HoldResolution, Integration, IntegrationStatus, SyncRun, SyncStatus,
    SyncTrigger, GONE, SUSPENDED,
};
use common::TestApp;
use muster::fakes::okta::FakeOkta;
use muster::fakes::org::Status;
use muster::fakes::{FakeOrg, Faults, Running};
use reqwest::{Client, StatusCode};
use sea_orm::{ConnectionTrait, Statement};
use serde_json::json;
use std::sync::Arc;
use std::time::{Duration, Instant};

const TOKEN: &str = "00okta-test-token-0123456789";

struct Setup {
    app: TestApp,
    client: Client,
    fake: Running,
    okta: Arc<FakeOkta>,
    integration: Integration,
}

/// An organisation connected to a fake Okta of `people` (all active), first
/// sync done.
async fn connected(people: usize, seed: u64) -> Setup {
    connected_with(people, seed, common::test_providers(true)).await
}

/// As [`connected`], with these connector and sync settings.
async fn connected_with(people: usize, seed: u64, providers: HttpConfig) -> Setup {
    let app = TestApp::spawn_with_providers(providers).await;
    let client = app.org_admin("Acme", "admin@acme.example").await;
    let mut org = FakeOrg::generate(people, seed);
    for p in &mut org.people {
        p.status = Status::Active;
    }
    let fake = FakeOkta::new(org, TOKEN).start(0).await.unwrap();
    let okta = fake.state::<FakeOkta>().unwrap();
    let form = json!({ "form": { "provider": "okta", "fields": { "domain": fake.url(), "api_token": TOKEN } } });
    let res = app.call_json(&client, "connect_integration", &form).await;
    let (status, created) = common::answer::<Integration>(res).await;
    assert_eq!(status, StatusCode::OK, "{created:?}");
    let integration = app.wait_sync(&client, created.unwrap().id).await;
    assert_eq!(
        integration.status,
        IntegrationStatus::Connected,
        "{integration:?}"
    );
    assert_eq!(integration.contact_count, people as i64);
    Setup {
        app,
        client,
        fake,
        okta,
        integration,
    }
}

impl Setup {
    /// Give the fake's first `n` people (all of them for `None`) this status.
    fn set_status(&self, n: Option<usize>, status: Status) {
        self.okta.change(|org| {
            let n = n.unwrap_or(org.people.len());
            for p in &mut org.people[..n] {
                p.status = status.clone();
            }
        });
    }

    async fn sync_now(&self) -> Integration {
        let id = self.integration.id.to_string();
        let _: Integration = self
            .app
            .json(&self.client, "sync_integration", &[("id", id.as_str())])
            .await;
        self.app.wait_sync(&self.client, self.integration.id).await
    }

    async fn history(&self) -> (Vec<SyncRun>, u64) {
        let id = self.integration.id.to_string();
        self.app
            .json(
                &self.client,
                "sync_history",
                &[("id", id.as_str()), ("page", "0")],
            )
            .await
    }

    async fn hold(&self) -> Option<Hold> {
        let id = self.integration.id.to_string();
        self.app
            .json(&self.client, "held_deletions", &[("id", id.as_str())])
            .await
    }

    async fn settle(&self, run: i64, apply: bool) -> u64 {
        let (id, run) = (self.integration.id.to_string(), run.to_string());
        self.app
            .json(
                &self.client,
                "settle_held_deletions",
                &[
                    ("id", id.as_str()),
                    ("run", run.as_str()),
                    ("apply", if apply { "true" } else { "false" }),
                ],
            )
            .await
    }

    /// The integration's contacts' emails, sorted.
    async fn emails(&self) -> Vec<String> {
        self.column(
            "email",
            &format!("integration_id = {}", self.integration.id),
        )
        .await
    }

    async fn column(&self, column: &str, condition: &str) -> Vec<String> {
        let db = &self.app.db;
        let rows = db
            .query_all_raw(Statement::from_string(
                db.get_database_backend(),
                format!(
                    "SELECT COALESCE({column}, '') AS v FROM contacts WHERE {condition} ORDER BY 1"
                ),
            ))
            .await
            .unwrap();
        rows.iter()
            .map(|r| r.try_get::<String>("", "v").unwrap())
            .collect()
    }

    async fn count(&self, sql: &str) -> i64 {
        let db = &self.app.db;
        db.query_one_raw(Statement::from_string(
            db.get_database_backend(),
            sql.to_string(),
        ))
        .await
        .unwrap()
        .unwrap()
        .try_get::<i64>("", "n")
        .unwrap()
    }

    /// (action, email, detail) of sync `run`'s changes.
    async fn changes(&self, run: i64) -> Vec<(String, String, String)> {
        let db = &self.app.db;
        let rows = db
            .query_all_raw(Statement::from_string(
                db.get_database_backend(),
                format!(
                    "SELECT action, COALESCE(email, '') AS email, COALESCE(detail, '') AS detail \
                     FROM sync_changes WHERE run_id = {run} ORDER BY id"
                ),
            ))
            .await
            .unwrap();
        rows.iter()
            .map(|r| {
                (
                    r.try_get::<String>("", "action").unwrap(),
                    r.try_get::<String>("", "email").unwrap(),
                    r.try_get::<String>("", "detail").unwrap(),
                )
            })
            .collect()
    }
}

#[tokio::test]
async fn changes_follow_the_source_and_people_who_leave_are_let_go() {
    let s = connected(60, 3).await;
    let (moved, suspended, gone) = {
        let org = s.okta.org();
        (
            org.people[0].clone(),
            org.people[1].clone(),
            org.people[2].clone(),
        )
    };
    // A contact made by hand before the integration took it over by email:
    // it goes back to being a hand-made contact, not deleted.
    let adopted = {
        let org = s.okta.org();
        org.people[3].clone()
    };
    let group_count = format!(
        "SELECT COUNT(*) AS n FROM contact_groups WHERE integration_id = {}",
        s.integration.id
    );
    let groups_before = s.count(&group_count).await;
    let memberships = |email: &str| {
        format!(
            "SELECT COUNT(*) AS n FROM group_members m JOIN contacts c ON c.id = m.contact_id \
             WHERE c.email = '{email}'"
        )
    };
    let member = {
        let org = s.okta.org();
        org.people[org.groups[0].members[0]].clone()
    };
    let member_groups_before = s.count(&memberships(&member.email)).await;
    assert!(member_groups_before > 0);
    s.app
        .db
        .execute_unprepared(&format!(
            "UPDATE contacts SET integration_id = {id}, adopted_source = 'Added by hand' \
             WHERE email = '{}'",
            adopted.email,
            id = s.integration.id
        ))
        .await
        .unwrap();

    s.okta.change(|org| {
        org.people[0].department = "Research".into();
        org.people[0].title = "Chief Tinkerer".into();
        org.people[1].status = Status::Suspended;
        org.people[2].status = Status::Deprovisioned;
        org.people[3].status = Status::Deprovisioned;
        org.groups.pop();
        let first = org.groups[0].members.remove(0);
        assert_eq!(org.people[first].email, member.email);
    });
    let done = s.sync_now().await;
    assert_eq!(done.status, IntegrationStatus::Connected, "{done:?}");
    let result = done.last_result.clone().unwrap();
    assert_eq!(
        (result.updated, result.deleted, result.held),
        (1, 3, 0),
        "{result:?}"
    );
    assert_eq!(result.unchanged, 56);
    assert_eq!(done.contact_count, 57);

    let emails = s.emails().await;
    for p in [&suspended, &gone, &adopted] {
        assert!(!emails.contains(&p.email), "{} is still synced", p.email);
    }
    // The adopted contact is a hand-made contact again.
    let back = s
        .column("source", &format!("email = '{}'", adopted.email))
        .await;
    assert_eq!(back, vec!["Added by hand".to_string()]);
    assert_eq!(
        s.count(&format!(
            "SELECT COUNT(*) AS n FROM contacts WHERE email IN ('{}', '{}')",
            suspended.email, gone.email
        ))
        .await,
        0
    );
    // The moved person's fields follow the source.
    let dept = s
        .column("department", &format!("email = '{}'", moved.email))
        .await;
    assert_eq!(dept, vec!["Research".to_string()]);
    // A group gone from the source is gone; a membership removed there too.
    assert_eq!(s.count(&group_count).await, groups_before - 1);
    assert!(s.count(&memberships(&member.email)).await < member_groups_before);

    // The history: newest first, the counts are what changed.
    let (runs, total) = s.history().await;
    assert_eq!(total, 2);
    assert_eq!(runs[0].trigger, SyncTrigger::SyncNow);
    assert_eq!(runs[1].trigger, SyncTrigger::Connect);
    assert_eq!(runs[0].status, SyncStatus::Succeeded);
    assert_eq!(
        (
            runs[0].people,
            runs[0].added,
            runs[0].updated,
            runs[0].deleted
        ),
        (57, 0, 1, 3)
    );
    assert_eq!(runs[0].synced(), 1);
    assert_eq!((runs[1].added, runs[1].deleted), (60, 0));
    assert!(runs[0].finished_at.is_some());
    let changes = s.changes(runs[0].id).await;
    let of = |email: &str| {
        changes
            .iter()
            .find(|(_, e, _)| e == email)
            .cloned()
            .unwrap_or_else(|| panic!("no change for {email}: {changes:?}"))
    };
    assert_eq!(of(&suspended.email).0, ChangeAction::Deleted.as_str());
    assert_eq!(of(&suspended.email).2, SUSPENDED);
    assert_eq!(of(&gone.email).2, GONE);
    let (action, _, detail) = of(&moved.email);
    assert_eq!(action, ChangeAction::Updated.as_str());
    let detail: serde_json::Value = serde_json::from_str(&detail).unwrap();
    assert_eq!(detail["department"][1], "Research");
    assert_eq!(detail["role"][1], "Chief Tinkerer");
    assert_eq!(changes.len(), 4, "{changes:?}");

    // The export: a line per deleted contact, one per changed field.
    let csv = s
        .client
        .get(format!(
            "{}/integrations/{}/syncs/{}/changes.csv",
            s.app.url, s.integration.id, runs[0].id
        ))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let lines: Vec<&str> = csv.trim_start_matches('\u{feff}').lines().collect();
    assert_eq!(
        lines[0],
        "Action,External ID,Name,Email,Field,Before,After,Reason"
    );
    assert_eq!(lines.len(), 1 + 2 + 3, "{csv}");
    let moved_to = format!(",department,{},Research,", moved.department);
    assert!(lines
        .iter()
        .any(|l| l.starts_with("Updated,") && l.contains(&moved_to)));
    assert!(lines.iter().any(|l| l.starts_with("Deleted,")
        && l.contains(&suspended.email)
        && l.ends_with(SUSPENDED)));
    // Another organisation cannot read it.
    let other = s.app.org_admin("Other", "admin@other.example").await;
    let res = other
        .get(format!(
            "{}/integrations/{}/syncs/{}/changes.csv",
            s.app.url, s.integration.id, runs[0].id
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn a_sync_that_would_delete_too_many_is_held_until_applied() {
    let s = connected(40, 5).await;
    let leavers: Vec<String> = s.okta.org().people[..10]
        .iter()
        .map(|p| p.email.clone())
        .collect();
    let stayer = s.okta.org().people[20].email.clone();
    s.okta.change(|org| {
        for p in &mut org.people[..10] {
            p.status = Status::Deprovisioned;
        }
        org.people[20].department = "Research".into();
    });
    let done = s.sync_now().await;
    let result = done.last_result.clone().unwrap();
    // 10 of 40 is more than 10%: held; the update is applied all the same.
    assert_eq!((result.deleted, result.held, result.updated), (0, 10, 1));
    assert_eq!(done.held_deletions, 10);
    assert_eq!(done.contact_count, 40);
    assert_eq!(
        s.column("department", &format!("email = '{stayer}'")).await,
        vec!["Research".to_string()]
    );
    let hold = s.hold().await.expect("held");
    assert_eq!(hold.count, 10);
    assert_eq!(hold.contacts.len(), 10);
    assert!(hold.contacts.iter().all(|c| c.reason == GONE));
    let mut held: Vec<String> = hold
        .contacts
        .iter()
        .filter_map(|c| c.email.clone())
        .collect();
    held.sort();
    let mut expected = leavers.clone();
    expected.sort();
    assert_eq!(held, expected);
    let (runs, _) = s.history().await;
    assert_eq!(runs[0].status, SyncStatus::Held);
    assert_eq!(runs[0].held, 10);

    // Another sync while it waits holds them again, and releases the first.
    let again = s.sync_now().await;
    assert_eq!(again.last_result.as_ref().unwrap().held, 10);
    let newer = s.hold().await.unwrap();
    assert_ne!(newer.run_id, hold.run_id);
    let (runs, _) = s.history().await;
    assert_eq!(runs[1].resolution, Some(HoldResolution::Released));
    // Settling the released hold is refused: the page was out of date.
    let (id, run) = (s.integration.id.to_string(), hold.run_id.to_string());
    let res = s
        .app
        .call(
            &s.client,
            "settle_held_deletions",
            &[
                ("id", id.as_str()),
                ("run", run.as_str()),
                ("apply", "true"),
            ],
        )
        .await;
    let (status, _) = common::refusal(res).await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(s.emails().await.len(), 40);

    // Applied: they go, and the history says so.
    assert_eq!(s.settle(newer.run_id, true).await, 10);
    assert_eq!(s.hold().await, None);
    let emails = s.emails().await;
    assert_eq!(emails.len(), 30);
    assert!(leavers.iter().all(|l| !emails.contains(l)));
    let (runs, _) = s.history().await;
    assert_eq!(runs[0].resolution, Some(HoldResolution::Applied));
    assert_eq!(runs[0].deleted, 10);
    let listed = s
        .app
        .integration(&s.client, s.integration.id)
        .await
        .unwrap();
    assert_eq!(listed.held_deletions, 0);
}

#[tokio::test]
async fn discarded_deletions_stay_and_a_later_sync_releases_the_hold() {
    let s = connected(40, 6).await;
    s.set_status(Some(8), Status::Suspended);
    s.sync_now().await;
    let hold = s.hold().await.expect("held");
    assert!(hold.contacts.iter().all(|c| c.reason == SUSPENDED));
    assert_eq!(s.settle(hold.run_id, false).await, 0);
    assert_eq!(s.hold().await, None);
    assert_eq!(s.emails().await.len(), 40);
    let (runs, _) = s.history().await;
    assert_eq!(runs[0].resolution, Some(HoldResolution::Discarded));

    // Still suspended at the next sync: held again.
    s.sync_now().await;
    let again = s.hold().await.expect("held again");
    // They come back: the next sync deletes nothing and releases the hold.
    s.set_status(Some(8), Status::Active);
    let done = s.sync_now().await;
    let result = done.last_result.unwrap();
    assert_eq!((result.held, result.deleted), (0, 0));
    assert_eq!(s.hold().await, None);
    assert_eq!(s.emails().await.len(), 40);
    let (runs, _) = s.history().await;
    assert_eq!(runs[0].status, SyncStatus::Succeeded);
    let released = runs.iter().find(|r| r.id == again.run_id).unwrap();
    assert_eq!(released.resolution, Some(HoldResolution::Released));
}

#[tokio::test]
async fn bounds_are_per_integration_and_an_empty_source_is_always_held() {
    let s = connected(30, 8).await;
    let id = s.integration.id.to_string();
    // A percentage over 100 is refused.
    let res = s
        .app
        .call(
            &s.client,
            "set_hold_limits",
            &[("id", id.as_str()), ("percent", "101")],
        )
        .await;
    let (status, _) = common::refusal(res).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    // No bounds: half the directory goes without a hold.
    let off: Integration = s
        .app
        .json(&s.client, "set_hold_limits", &[("id", id.as_str())])
        .await;
    assert_eq!((off.hold_percent, off.hold_count), (None, None));
    s.set_status(Some(15), Status::Deprovisioned);
    let done = s.sync_now().await;
    assert_eq!(done.last_result.as_ref().unwrap().deleted, 15);
    assert_eq!(done.contact_count, 15);
    // Nobody at all in the source: held, bounds or not.
    s.set_status(None, Status::Deprovisioned);
    let done = s.sync_now().await;
    assert_eq!(done.last_result.as_ref().unwrap().held, 15);
    assert_eq!(done.contact_count, 15);
    // An absolute bound alone.
    let five: Integration = s
        .app
        .json(
            &s.client,
            "set_hold_limits",
            &[("id", id.as_str()), ("count", "5")],
        )
        .await;
    assert_eq!((five.hold_percent, five.hold_count), (None, Some(5)));
}

#[tokio::test]
async fn a_failed_read_deletes_nothing() {
    let s = connected(450, 9).await;
    s.set_status(Some(5), Status::Deprovisioned);
    Faults::set(&s.fake.faults.fail_page, Some(2));
    let failed = s.sync_now().await;
    assert_eq!(failed.status, IntegrationStatus::Failed);
    assert_eq!(s.emails().await.len(), 450);
    let (runs, _) = s.history().await;
    assert_eq!(runs[0].status, SyncStatus::Failed);
    assert!(runs[0].error.is_some());
    assert_eq!(s.changes(runs[0].id).await, vec![]);
    // Fixed: the next sync lets the five go.
    Faults::set(&s.fake.faults.fail_page, None);
    let done = s.sync_now().await;
    assert_eq!(done.last_result.as_ref().unwrap().deleted, 5);
}

#[tokio::test]
async fn an_upload_does_not_overwrite_what_the_source_owns() {
    let s = connected(10, 11).await;
    let synced = s.okta.org().people[0].clone();
    let csv = format!(
        "First Name,Last Name,Email,Department\n\
         Someone,Else,{},Upload Dept\n\
         New,Person,new.person@acme.example,Upload Dept\n",
        synced.email.to_uppercase()
    );
    let job = s.app.import(&s.client, "people.csv", csv.as_bytes()).await;
    assert_eq!(
        (job.created, job.updated, job.unchanged, job.warnings),
        (1, 0, 1, 1),
        "{job:?}"
    );
    let dept = s
        .column("department", &format!("email = '{}'", synced.email))
        .await;
    assert_eq!(dept, vec![synced.department.clone()]);
    let report = s
        .client
        .get(format!("{}/imports/{}/problems.csv", s.app.url, job.id))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(report.contains("Skipped: managed by Okta"), "{report}");
}

#[tokio::test]
async fn a_preview_says_what_a_sync_would_do_and_changes_nothing() {
    let s = connected(40, 12).await;
    let (moved, leaving) = {
        let org = s.okta.org();
        (org.people[0].clone(), org.people[1].clone())
    };
    s.okta.change(|org| {
        org.people[0].department = "Research".into();
        org.people[1].status = Status::Deprovisioned;
        org.people[2].status = Status::Suspended;
        let mut newcomer = org.people[3].clone();
        newcomer.id = "00unewcomer000000001".into();
        newcomer.email = "newcomer@example.com".into();
        org.people.push(newcomer);
    });
    let id = s.integration.id.to_string();
    let preview: app::model::SyncPreview = s
        .app
        .json(&s.client, "preview_sync", &[("id", id.as_str())])
        .await;
    let r = &preview.result;
    assert_eq!((r.created, r.updated, r.unchanged), (1, 1, 37), "{r:?}");
    assert!(!preview.would_hold);
    assert_eq!(
        preview.added[0].email.as_deref(),
        Some("newcomer@example.com")
    );
    let update = &preview.updated[0];
    assert_eq!(update.email.as_deref(), Some(moved.email.as_str()));
    assert_eq!(update.changes.len(), 1);
    assert_eq!(update.changes[0].field, "department");
    assert_eq!(
        update.changes[0].before.as_deref(),
        Some(moved.department.as_str())
    );
    assert_eq!(update.changes[0].after.as_deref(), Some("Research"));
    let mut deleted: Vec<(Option<String>, Option<String>)> = preview
        .deleted
        .iter()
        .map(|d| (d.email.clone(), d.detail.clone()))
        .collect();
    deleted.sort();
    assert_eq!(deleted.len(), 2);
    assert!(deleted.contains(&(Some(leaving.email.clone()), Some(GONE.to_string()))));
    // Nothing was applied, and no sync was recorded.
    assert_eq!(s.emails().await.len(), 40);
    assert!(s.emails().await.contains(&leaving.email));
    assert_eq!(
        s.column("department", &format!("email = '{}'", moved.email))
            .await,
        vec![moved.department.clone()]
    );
    assert_eq!(s.history().await.1, 1);
    // The sync then does what the preview said.
    let done = s.sync_now().await;
    let result = done.last_result.unwrap();
    assert_eq!((result.created, result.updated, result.deleted), (1, 1, 2));
}

#[tokio::test]
async fn old_details_are_swept_but_a_held_syncs_are_kept() {
    let s = connected(20, 13).await;
    s.set_status(Some(10), Status::Deprovisioned);
    s.sync_now().await;
    let hold = s.hold().await.expect("held");
    let (runs, _) = s.history().await;
    let first = runs.last().unwrap().id;
    assert_eq!(s.changes(first).await.len(), 20);
    // Kept for a day: nothing is that old yet.
    let day = std::time::Duration::from_secs(86_400);
    assert_eq!(
        app::backend::integrations::history::sweep_details(&s.app.db, day)
            .await
            .unwrap(),
        0
    );
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    let swept = app::backend::integrations::history::sweep_details(
        &s.app.db,
        std::time::Duration::from_millis(1),
    )
    .await
    .unwrap();
    assert_eq!(swept, 20);
    assert_eq!(s.changes(first).await, vec![]);
    // The held sync's list is still there to apply; the counts stay.
    assert_eq!(s.changes(hold.run_id).await.len(), 10);
    assert_eq!(s.history().await.0.last().unwrap().added, 20);
    assert_eq!(s.settle(hold.run_id, true).await, 10);
}

/// Look for due syncs until one starts (within 10 s).
async fn until_started(scheduler: &Scheduler) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while scheduler.start_due().await.unwrap() == 0 {
        assert!(Instant::now() < deadline, "no due sync started");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A sync that fails in a way that may pass (a 500 on a page, still there
/// after the client's own tries) is retried after each configured wait, as
/// retry 1, 2 and 3, then waits for its daily time; a retry that passes ends
/// it. A refusal (Okta's 401 for a revoked token) is not retried: the
/// integration needs attention until its credentials are edited.
#[tokio::test]
async fn passing_failures_are_retried_and_refusals_need_attention() {
    let mut providers = common::test_providers(true);
    providers.sync_retries = vec![Duration::from_millis(300); 3];
    let s = connected_with(40, 21, providers).await;
    let id = s.integration.id;
    let scheduler = s.app.scheduler(Duration::from_millis(100));
    // After the first sync, the next is the daily one.
    let daily = s.integration.next_sync_at.unwrap();
    let now = chrono::Utc::now();
    assert!(
        daily > now && daily <= now + chrono::Duration::days(1),
        "{daily}"
    );
    assert_eq!(s.integration.next_retry, 0);
    assert_eq!(scheduler.start_due().await.unwrap(), 0);

    Faults::set(&s.okta.faults.fail_page, Some(1));
    let failed = s.sync_now().await;
    assert_eq!(failed.status, IntegrationStatus::Failed, "{failed:?}");
    assert_eq!(failed.next_retry, 1, "{failed:?}");
    assert!(failed.next_sync_at.unwrap() < chrono::Utc::now() + chrono::Duration::seconds(5));
    for n in 1..=3u32 {
        until_started(&scheduler).await;
        let after = s.app.wait_sync(&s.client, id).await;
        assert_eq!(after.status, IntegrationStatus::Failed, "{after:?}");
        if n < 3 {
            assert_eq!(after.next_retry, n + 1, "{after:?}");
        } else {
            // Retries spent: the daily sync is next.
            assert_eq!(after.next_retry, 0, "{after:?}");
            assert_eq!(after.next_sync_at, Some(daily), "{after:?}");
        }
    }
    let (runs, total) = s.history().await;
    assert_eq!(total, 5);
    let tries: Vec<(SyncTrigger, u32, SyncStatus)> = runs[..4]
        .iter()
        .rev()
        .map(|r| (r.trigger, r.attempt, r.status))
        .collect();
    assert_eq!(
        tries,
        vec![
            (SyncTrigger::SyncNow, 0, SyncStatus::Failed),
            (SyncTrigger::Retry, 1, SyncStatus::Failed),
            (SyncTrigger::Retry, 2, SyncStatus::Failed),
            (SyncTrigger::Retry, 3, SyncStatus::Failed),
        ]
    );
    // The contacts were never touched by the failed reads.
    assert_eq!(s.emails().await.len(), 40);

    // Failing again, then the source recovers before the first retry.
    let failed = s.sync_now().await;
    assert_eq!(failed.next_retry, 1, "{failed:?}");
    Faults::set(&s.okta.faults.fail_page, None);
    until_started(&scheduler).await;
    let healed = s.app.wait_sync(&s.client, id).await;
    assert_eq!(healed.status, IntegrationStatus::Connected, "{healed:?}");
    assert_eq!(healed.last_error, None);
    assert_eq!((healed.next_retry, healed.next_sync_at), (0, Some(daily)));
    let (runs, _) = s.history().await;
    assert_eq!(
        (runs[0].trigger, runs[0].attempt, runs[0].status),
        (SyncTrigger::Retry, 1, SyncStatus::Succeeded)
    );

    // The token is revoked: stored credentials that Okta now rejects.
    let org = s
        .count(&format!(
            "SELECT org_id AS n FROM integrations WHERE id = {id}"
        ))
        .await;
    let fields = std::collections::BTreeMap::from([
        ("domain".to_string(), s.fake.url()),
        (
            "api_token".to_string(),
            "00revoked-token-0123456789".to_string(),
        ),
    ]);
    app::backend::integrations::save_credentials(
        &s.app.db,
        &s.app.state.vault,
        OrgId::trusted(org),
        id,
        &Credentials::from_form(app::model::Provider::Okta, &fields),
        &["api_token".to_string()],
    )
    .await
    .unwrap();
    let refused = s.sync_now().await;
    assert_eq!(
        refused.status,
        IntegrationStatus::NeedsAttention,
        "{refused:?}"
    );
    assert!(
        refused
            .last_error
            .as_deref()
            .is_some_and(|e| e.contains("Okta rejected the API token")),
        "{refused:?}"
    );
    assert_eq!((refused.next_retry, refused.next_sync_at), (0, Some(daily)));
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        scheduler.start_due().await.unwrap(),
        0,
        "a refusal is not retried"
    );
    assert_eq!(s.emails().await.len(), 40);

    // Editing the credentials (the page tests them first) is what it needed.
    let form = json!({ "id": id, "form": { "provider": "okta", "fields": { "domain": s.fake.url(), "api_token": TOKEN } } });
    let res = s
        .app
        .call_json(&s.client, "update_integration", &form)
        .await;
    let (status, edited) = common::answer::<Integration>(res).await;
    assert_eq!(status, StatusCode::OK, "{edited:?}");
    let edited = edited.unwrap();
    assert_eq!(edited.status, IntegrationStatus::Connected, "{edited:?}");
    assert_eq!(edited.last_error, None);

    // A refusal fixed at the source (say, a permission granted there, the
    // credentials unchanged) heals with the next sync that succeeds.
    s.app
        .db
        .execute_unprepared(&format!(
            "UPDATE integrations SET status = 'needs_attention', \
             last_error = 'Okta refused: missing permission' WHERE id = {id}"
        ))
        .await
        .unwrap();
    let listed = s.app.integration(&s.client, id).await.unwrap();
    assert_eq!(
        listed.status,
        IntegrationStatus::NeedsAttention,
        "{listed:?}"
    );
    let healed = s.sync_now().await;
    assert_eq!(healed.status, IntegrationStatus::Connected, "{healed:?}");
    assert_eq!(healed.last_error, None);
    assert_eq!(s.emails().await.len(), 40);
}

/// Each integration syncs by itself daily at its time of day on the
/// organisation's clocks, which Manage sets; a sync that fell due while no
/// server ran starts at a server's first look, as a scheduled sync, and the
/// next is the next day's.
#[tokio::test]
async fn the_daily_sync_runs_by_itself_at_its_time() {
    let s = connected(30, 22).await;
    let id = s.integration.id.to_string();
    assert_eq!(s.integration.time_zone, "Europe/London");
    for bad in ["25:00", "noon", ""] {
        let res = s
            .app
            .call(
                &s.client,
                "set_sync_time",
                &[("id", id.as_str()), ("time", bad)],
            )
            .await;
        let (status, err) = common::refusal(res).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{bad}");
        assert!(err.field_message("sync_time").is_some(), "{bad}: {err:?}");
    }
    let set: Integration = s
        .app
        .json(
            &s.client,
            "set_sync_time",
            &[("id", id.as_str()), ("time", "03:15")],
        )
        .await;
    assert_eq!(set.daily_at, "03:15");
    let next = set.next_sync_at.unwrap();
    let london = schedule::zone("Europe/London");
    assert_eq!(
        next.with_timezone(&london).format("%H:%M").to_string(),
        "03:15"
    );
    let now = chrono::Utc::now();
    assert!(
        next > now && next <= now + chrono::Duration::days(1),
        "{next}"
    );

    // Two people leave the source; the sync was due an hour ago, while no
    // server ran.
    s.set_status(Some(2), Status::Deprovisioned);
    let an_hour_ago = now.timestamp_millis() - 3_600_000;
    s.app
        .db
        .execute_unprepared(&format!(
            "UPDATE integrations SET next_sync_at = {an_hour_ago} WHERE id = {id}"
        ))
        .await
        .unwrap();
    let scheduler = s.app.scheduler(Duration::from_secs(1));
    assert_eq!(scheduler.start_due().await.unwrap(), 1);
    let after = s.app.wait_sync(&s.client, s.integration.id).await;
    assert_eq!(after.status, IntegrationStatus::Connected, "{after:?}");
    assert_eq!(after.contact_count, 28);
    assert_eq!(after.next_sync_at, Some(next), "the next day's sync");
    let (runs, _) = s.history().await;
    assert_eq!(
        (runs[0].trigger, runs[0].attempt, runs[0].deleted),
        (SyncTrigger::Schedule, 0, 2)
    );
    assert_eq!(scheduler.start_due().await.unwrap(), 0);
}

/// While a sync runs, the list says how far it has got (people and pages
/// read); Cancel stops it and it changes nothing: the changes the source
/// made meanwhile wait for the next sync. Cancel with no sync running is
/// refused. On PostgreSQL, the progress and the cancel go through the
/// database, as between two servers.
#[tokio::test]
async fn a_running_sync_shows_its_progress_and_a_cancelled_one_changes_nothing() {
    let s = connected(600, 23).await;
    let id = s.integration.id;
    let id_text = id.to_string();
    let before = s.emails().await;
    let res = s
        .app
        .call(&s.client, "cancel_sync", &[("id", id_text.as_str())])
        .await;
    assert_eq!(res.status(), StatusCode::CONFLICT);

    // Three people leave, and each page of the source now takes a while.
    s.set_status(Some(3), Status::Deprovisioned);
    s.okta
        .faults
        .latency_ms
        .store(300, std::sync::atomic::Ordering::SeqCst);
    let _: Integration = s
        .app
        .json(&s.client, "sync_integration", &[("id", id_text.as_str())])
        .await;
    let deadline = Instant::now() + Duration::from_secs(20);
    let progress = loop {
        let listed = s.app.integration(&s.client, id).await.unwrap();
        assert_eq!(listed.status, IntegrationStatus::Syncing, "{listed:?}");
        if let Some(p) = listed.progress.filter(|p| p.read > 0) {
            break p;
        }
        assert!(Instant::now() < deadline, "no progress shown: {listed:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(progress.phase, app::model::SyncPhase::Reading);
    assert!(progress.pages >= 1 && progress.read < 600, "{progress:?}");
    assert!(!progress.cancelling);

    if s.app.db.get_database_backend() == sea_orm::DbBackend::Postgres {
        // As another server sees it (one that does not run the sync): the
        // progress from the sync's run, written every second, and Cancel
        // asked through it.
        use app::backend::integrations::{self, live};
        let elsewhere = live::RunningSyncs::default();
        let org = OrgId::trusted(
            s.count(&format!(
                "SELECT org_id AS n FROM integrations WHERE id = {id}"
            ))
            .await,
        );
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let mut seen = [integrations::get(&s.app.db, org, id).await.unwrap()];
            live::attach(&s.app.db, &elsewhere, org, &mut seen)
                .await
                .unwrap();
            if seen[0].progress.is_some_and(|p| p.read > 0 && p.pages > 0) {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "no progress in the run: {seen:?}"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        live::cancel(&s.app.db, &elsewhere, org, id).await.unwrap();
    } else {
        let cancelling: Integration = s
            .app
            .json(&s.client, "cancel_sync", &[("id", id_text.as_str())])
            .await;
        assert!(
            cancelling.progress.is_some_and(|p| p.cancelling),
            "{cancelling:?}"
        );
    }
    let after = s.app.wait_sync(&s.client, id).await;
    assert_eq!(after.status, IntegrationStatus::Connected, "{after:?}");
    assert_eq!(after.last_error, None);
    assert_eq!(s.emails().await, before, "a cancelled sync changes nothing");
    let (runs, _) = s.history().await;
    assert_eq!(runs[0].status, SyncStatus::Cancelled);
    assert!(runs[0].finished_at.is_some());
    assert_eq!(s.changes(runs[0].id).await, vec![]);

    // The next sync applies what the source changed.
    s.okta
        .faults
        .latency_ms
        .store(0, std::sync::atomic::Ordering::SeqCst);
    let synced = s.sync_now().await;
    assert_eq!(synced.contact_count, 597, "{synced:?}");
}
