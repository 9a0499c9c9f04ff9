//! Two servers on one database, twenty integrations due at once: each is
//! synced exactly once. Real processes of the `muster` binary, looking for
//! due syncs every second, against fake Oktas (one per integration, which
//! count the directory reads they serve).

mod common;

use app::backend::connectors::Credentials;
use app::backend::vault::Vault;
use app::backend::{auth, integrations};
use app::model::{IntegrationStatus, Provider, SyncStatus, SyncTrigger};
use common::{unique_name, TestDb, PASSWORD};
use muster::fakes::okta::FakeOkta;
use muster::fakes::org::Status;
use muster::fakes::{FakeOrg, Running};
use muster::process::ServerProcess;
use sea_orm::{ConnectionTrait, Statement};
use std::collections::BTreeMap;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

const TOKEN: &str = "00okta-test-token-0123456789";
const KEY: &str = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=";

async fn start(db_url: &str, uploads: &std::path::Path) -> ServerProcess {
    ServerProcess::start(
        std::path::Path::new(env!("CARGO_BIN_EXE_muster")),
        db_url,
        uploads,
        &[
            ("MUSTER_LOG", "warn"),
            ("MUSTER_MASTER_KEY", KEY),
            ("MUSTER_ALLOW_INSECURE_PROVIDER_URLS", "true"),
            ("MUSTER_SYNC_TICK_SECONDS", "1"),
            ("MUSTER_IMPORT_STALE_SECS", "5"),
        ],
        None,
    )
    .await
    .expect("the muster binary starts")
}

/// Rows of four columns named a, b, c, d: two numbers, two texts.
async fn rows(db: &sea_orm::DatabaseConnection, sql: &str) -> Vec<(i64, i64, String, String)> {
    db.query_all_raw(Statement::from_string(
        db.get_database_backend(),
        sql.to_string(),
    ))
    .await
    .unwrap()
    .into_iter()
    .map(|r| {
        (
            r.try_get("", "a").unwrap(),
            r.try_get("", "b").unwrap(),
            r.try_get("", "c").unwrap(),
            r.try_get("", "d").unwrap(),
        )
    })
    .collect()
}

#[tokio::test]
async fn two_servers_run_each_due_sync_exactly_once() {
    let database = TestDb::new().await;
    let db = muster::open_database(&database.url).await.unwrap();
    // The key the servers are given (`KEY` is 32 zero bytes in base64).
    let vault = Vault::from_key(&[0; 32]);
    // Four organisations of five integrations each, every one with its own
    // fake Okta of 30 active people with emails of their own (so that every
    // source makes the same requests, and no two claim one email).
    let mut fakes: Vec<(i64, Running)> = Vec::new();
    for o in 0..4u64 {
        let new = auth::NewOrganisation {
            name: format!("Org {o}"),
            default_region: "GB".into(),
            time_zone: "Europe/London".into(),
        };
        let (org, _) =
            auth::create_org_with_admin(&db, &new, &format!("admin@org{o}.example"), PASSWORD)
                .await
                .unwrap();
        for i in 0..5u64 {
            let k = o * 10 + i;
            let mut people = FakeOrg::generate(30, k);
            for (n, p) in people.people.iter_mut().enumerate() {
                p.status = Status::Active;
                p.email = format!("person{n}.source{k}@example.com");
            }
            let fake = FakeOkta::new(people, TOKEN).start(0).await.unwrap();
            let fields = BTreeMap::from([
                ("domain".to_string(), fake.url()),
                ("api_token".to_string(), TOKEN.to_string()),
            ]);
            let credentials = Credentials::from_form(Provider::Okta, &fields);
            let created = integrations::create(&db, &vault, org, Provider::Okta, &credentials)
                .await
                .unwrap();
            fakes.push((created.id, fake));
        }
    }
    // All due a moment ago, as after a night when no server ran.
    let due = chrono::Utc::now().timestamp_millis() - 1000;
    db.execute_unprepared(&format!("UPDATE integrations SET next_sync_at = {due}"))
        .await
        .unwrap();

    // Each its own upload folder (where it also names its address).
    let uploads = [
        std::env::temp_dir().join(unique_name("muster-scheduler-a")),
        std::env::temp_dir().join(unique_name("muster-scheduler-b")),
    ];
    let (a, b) = tokio::join!(
        start(&database.url, &uploads[0]),
        start(&database.url, &uploads[1])
    );
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let done = rows(
            &db,
            "SELECT id AS a, COALESCE(next_sync_at, 0) AS b, status AS c, \
             COALESCE(last_error, '') AS d FROM integrations",
        )
        .await;
        let finished = done
            .iter()
            .filter(|(_, next, status, _)| *next > due && status != "syncing")
            .count();
        if finished == done.len() {
            for (id, _, status, error) in &done {
                assert_eq!(
                    status,
                    IntegrationStatus::Connected.as_str(),
                    "integration {id}: {error}"
                );
            }
            break;
        }
        assert!(
            Instant::now() < deadline,
            "not every due sync ran in 2 minutes: {done:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // A few more looks by both servers: nothing is due any more.
    tokio::time::sleep(Duration::from_secs(3)).await;
    a.kill();
    b.kill();

    let runs = rows(
        &db,
        "SELECT integration_id AS a, COUNT(*) AS b, MIN(\"trigger\") AS c, MAX(status) AS d \
         FROM sync_runs GROUP BY integration_id ORDER BY integration_id",
    )
    .await;
    assert_eq!(runs.len(), 20, "{runs:?}");
    for (id, n, trigger, status) in &runs {
        assert_eq!(*n, 1, "integration {id} synced {n} times");
        assert_eq!(trigger, SyncTrigger::Schedule.as_str());
        assert_eq!(status, SyncStatus::Succeeded.as_str());
    }
    // Each source was read once: no server read a directory it then did
    // not apply.
    let reads: Vec<usize> = fakes
        .iter()
        .map(|(_, f)| {
            f.state::<FakeOkta>()
                .unwrap()
                .faults
                .requests
                .load(Ordering::SeqCst)
        })
        .collect();
    let first = reads[0];
    assert!(first > 0);
    assert!(reads.iter().all(|r| *r == first), "{reads:?}");
    let contacts = rows(
        &db,
        "SELECT COUNT(*) AS a, COUNT(DISTINCT integration_id) AS b, '' AS c, '' AS d FROM contacts",
    )
    .await;
    assert_eq!((contacts[0].0, contacts[0].1), (20 * 30, 20));
    for dir in uploads {
        let _ = std::fs::remove_dir_all(dir);
    }
}
