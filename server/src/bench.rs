//! `muster bench`: seed a large organisation, then measure search-as-you-type
//! requests and server-side rendering over real HTTP, and print percentiles.

use anyhow::bail;
use app::backend::domain::OrgId;
use app::backend::{auth, db, demo, AppState};
use app::model::{Reach, RecipientGroup, Recipients, Rule};
use reqwest::Client;
use sea_orm::{ConnectionTrait, DatabaseConnection};
use std::time::{Duration, Instant};

const ORG: &str = "Benchmark Organisation";
const ADMIN: &str = "bench@muster.example";
const PASSWORD: &str = "benchmark password, not secret";

/// What a person types, one keystroke at a time.
const TYPED: &[&str] = &[
    "john smith",
    "maria garcia",
    "priya",
    "okafor",
    "wei kim",
    "james.brown",
    "sandra l",
    "tomás",
];

pub struct Options {
    pub database_url: String,
    pub contacts: u64,
    pub rounds: usize,
}

pub async fn run(opts: Options) -> anyhow::Result<()> {
    let conn = crate::open_database(&opts.database_url).await?;
    let backend = format!("{:?}", conn.get_database_backend());
    println!("Muster benchmark on {backend}");

    let org = prepare(&conn, opts.contacts).await?;
    let state = AppState::new(conn.clone(), crate::leptos_options(), false);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move {
        let _ = axum::serve(listener, crate::router(state)).await;
    });
    let base = format!("http://{addr}");
    let client = Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()?;
    let res = client
        .post(format!("{base}/api/login"))
        .form(&[("email", ADMIN), ("password", PASSWORD)])
        .send()
        .await?;
    if !(res.status().is_success() || res.status().is_redirection()) {
        bail!("benchmark sign-in failed: {}", res.status());
    }

    let total = count(&conn, org).await?;
    println!("Organisation: {total} contacts\n");

    // Warm the caches the way a running server would be warm.
    for _ in 0..3 {
        search(&client, &base, "", "").await?;
        page(&client, &base, "/contacts").await?;
    }

    let mut typing = Vec::new();
    let mut typing_filtered = Vec::new();
    // By characters typed: 1, 2, 3 or more.
    let mut by_length: [Vec<Duration>; 3] = Default::default();
    let mut by_query: Vec<(Duration, String)> = Vec::new();
    for _ in 0..opts.rounds {
        for word in TYPED {
            let chars: Vec<char> = word.chars().collect();
            for i in 1..=chars.len() {
                let prefix: String = chars[..i].iter().collect();
                if prefix.ends_with(' ') {
                    continue;
                }
                let alone = search(&client, &base, &prefix, "").await?;
                let filtered = search(&client, &base, &prefix, "Engineering").await?;
                typing.push(alone);
                typing_filtered.push(filtered);
                by_length[i.min(3) - 1].extend([alone, filtered]);
                by_query.push((alone, format!("{prefix:?}")));
                by_query.push((filtered, format!("{prefix:?} + Engineering")));
            }
        }
    }
    let mut ssr = Vec::new();
    let mut ssr_search = Vec::new();
    for _ in 0..opts.rounds {
        for path in [
            "/contacts",
            "/contacts?department=Sales",
            "/contacts?location=London&role=Analyst",
        ] {
            ssr.push(page(&client, &base, path).await?);
        }
        for path in [
            "/contacts?q=smith",
            "/contacts?q=jo",
            "/contacts?q=maria&department=Engineering",
            "/contacts?q=james.brown",
        ] {
            ssr_search.push(page(&client, &base, path).await?);
        }
    }

    println!(
        "{:<52} {:>6} {:>8} {:>8} {:>8} {:>8}",
        "latency (ms)", "n", "p50", "p95", "p99", "max"
    );
    report("search as you type (first page + total)", &mut typing);
    report(
        "search as you type + department filter",
        &mut typing_filtered,
    );
    report("SSR /contacts, no search (filters only)", &mut ssr);
    report("SSR /contacts with a search", &mut ssr_search);
    for (n, samples) in by_length.iter_mut().enumerate() {
        let label = match n {
            0 => "  of which 1 character typed (alone and filtered)",
            1 => "  of which 2 characters typed",
            _ => "  of which 3 or more characters typed",
        };
        report(label, samples);
    }
    by_query.sort();
    println!("\nSlowest searches:");
    for (elapsed, query) in by_query.iter().rev().take(8) {
        println!("  {:>8.1} ms  {query}", elapsed.as_secs_f64() * 1000.0);
    }
    recipients(&client, &base, opts.rounds).await
}

/// What the Recipients selector asks while a selection is built: the people
/// it reaches, each once, and who of them lacks an email or a mobile
/// (`recipient_reach`: the whole resolution, then the counts).
async fn recipients(client: &Client, base: &str, rounds: usize) -> anyhow::Result<()> {
    let res = client
        .post(format!("{base}/api/recipient_groups"))
        .send()
        .await?;
    let groups: Vec<RecipientGroup> = answer("recipient_groups", res).await?;
    let Some(largest) = groups.iter().max_by_key(|g| g.members) else {
        bail!("the benchmark organisation has no groups");
    };
    let rule = |r: Rule| Recipients {
        rules: vec![r],
        ..Default::default()
    };
    let selections = [
        (
            format!("the largest group ({})", largest.name),
            Recipients {
                groups: vec![largest.id],
                ..Default::default()
            },
        ),
        (
            "every group (they overlap)".to_string(),
            Recipients {
                groups: groups.iter().map(|g| g.id).collect(),
                ..Default::default()
            },
        ),
        (
            "rule: Department is Engineering".to_string(),
            rule(Rule {
                department: "Engineering".into(),
                ..Default::default()
            }),
        ),
        (
            "rule: Source is Demo (everyone)".to_string(),
            rule(Rule {
                source: "Demo".into(),
                ..Default::default()
            }),
        ),
    ];
    println!(
        "\n{:<52} {:>6} {:>8} {:>8} {:>8} {:>8}",
        "recipient reach (ms)", "n", "p50", "p95", "p99", "max"
    );
    for (label, selection) in selections {
        let mut samples = Vec::new();
        let mut people = 0;
        for _ in 0..rounds.max(1) {
            let started = Instant::now();
            let res = client
                .post(format!("{base}/api/recipient_reach"))
                .json(&serde_json::json!({ "selection": selection }))
                .send()
                .await?;
            let reach: Reach = answer("recipient_reach", res).await?;
            samples.push(started.elapsed());
            people = reach.people;
        }
        report(&format!("{label}: {people} people"), &mut samples);
    }
    Ok(())
}

/// A server function's JSON answer, or what it said instead.
async fn answer<T: serde::de::DeserializeOwned>(
    name: &str,
    res: reqwest::Response,
) -> anyhow::Result<T> {
    let status = res.status();
    let body = res.text().await?;
    if !status.is_success() {
        bail!("{name} failed with {status}: {body}");
    }
    Ok(serde_json::from_str(&body)?)
}

/// Find or make the benchmark organisation and top it up to `contacts`.
async fn prepare(conn: &DatabaseConnection, contacts: u64) -> anyhow::Result<OrgId> {
    let org = match auth::org_by_name(conn, ORG).await.map_err(app_err)? {
        Some(o) => OrgId::trusted(o.id),
        None => {
            let new = auth::NewOrganisation {
                name: ORG.into(),
                default_region: "GB".into(),
                time_zone: "Europe/London".into(),
            };
            auth::create_org_with_admin(conn, &new, ADMIN, PASSWORD)
                .await
                .map_err(app_err)?
                .0
        }
    };
    let have = count(conn, org).await?;
    if have < contacts {
        let missing = contacts - have;
        println!("Seeding {missing} contacts…");
        let started = Instant::now();
        demo::seed(conn, org, missing, |done| {
            if done % 200_000 == 0 || done == missing {
                eprintln!("  {done} / {missing}");
            }
        })
        .await
        .map_err(app_err)?;
        let secs = started.elapsed().as_secs_f64();
        println!(
            "Seeded {missing} contacts in {secs:.1} s ({:.0} contacts/s)",
            missing as f64 / secs
        );
    }
    if conn.get_database_backend() == sea_orm::DbBackend::Postgres {
        // The state autovacuum brings tables to after a large insert: their
        // visibility maps set, which index-only counts need.
        conn.execute_unprepared(
            "VACUUM (ANALYZE) contacts, contact_word_starts, contact_words, search_words",
        )
        .await?;
    }
    db::analyze(conn).await?;
    Ok(org)
}

async fn count(conn: &DatabaseConnection, org: OrgId) -> anyhow::Result<u64> {
    let mut sql = db::Sql::new(conn.get_database_backend());
    sql.push("SELECT COUNT(*) FROM contacts WHERE org_id = ")
        .bind(org.get());
    Ok(sql.scalar_i64(conn).await?.unwrap_or(0) as u64)
}

async fn search(
    client: &Client,
    base: &str,
    q: &str,
    department: &str,
) -> anyhow::Result<Duration> {
    let started = Instant::now();
    let res = client
        .post(format!("{base}/api/list_contacts"))
        .form(&[("query[q]", q), ("query[department]", department)])
        .send()
        .await?;
    let status = res.status();
    let body = res.bytes().await?;
    let elapsed = started.elapsed();
    if !status.is_success() {
        bail!(
            "search {q:?} failed with {status}: {}",
            String::from_utf8_lossy(&body)
        );
    }
    Ok(elapsed)
}

async fn page(client: &Client, base: &str, path: &str) -> anyhow::Result<Duration> {
    let started = Instant::now();
    let res = client.get(format!("{base}{path}")).send().await?;
    let status = res.status();
    let body = res.text().await?;
    let elapsed = started.elapsed();
    if !status.is_success() || !body.contains("contact-count") {
        bail!("page {path} failed with {status}");
    }
    Ok(elapsed)
}

fn report(label: &str, samples: &mut [Duration]) {
    samples.sort();
    let pct = |p: f64| {
        let i = ((samples.len() as f64 * p).ceil() as usize).clamp(1, samples.len()) - 1;
        samples[i].as_secs_f64() * 1000.0
    };
    println!(
        "{label:<52} {:>6} {:>8.1} {:>8.1} {:>8.1} {:>8.1}",
        samples.len(),
        pct(0.50),
        pct(0.95),
        pct(0.99),
        pct(1.0)
    );
}

fn app_err(e: app::model::AppError) -> anyhow::Error {
    anyhow::anyhow!("{e}")
}
