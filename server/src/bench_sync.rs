//! `muster bench-sync`: a Microsoft Entra ID directory of N people served by
//! the fake Graph (in this process, with no paging latency) is connected and
//! synced by a real `muster serve` process, end to end over HTTP; prints people
//! per second and the server's peak memory, for each round and their median.

use crate::bench_import::{fresh_database, sign_in};
use crate::fakes::entra::FakeEntra;
use crate::fakes::FakeOrg;
use crate::process::ServerProcess;
use anyhow::bail;
use serde_json::json;
use std::path::PathBuf;
use std::time::{Duration, Instant};

pub struct SyncOptions {
    pub database_url: String,
    pub people: usize,
    /// Rounds to run, each with a fresh database and server; the median is printed.
    pub rounds: usize,
}

pub async fn run(opts: SyncOptions) -> anyhow::Result<()> {
    let started = Instant::now();
    let org = FakeOrg::generate(opts.people, 42);
    let active = org.active();
    println!(
        "Fake Graph: {} people ({active} enabled), {} groups, generated in {:.1} s",
        opts.people,
        org.groups.len(),
        started.elapsed().as_secs_f64()
    );
    let (tenant, client_id, secret) = ("bench.onmicrosoft.com", "bench-app", "bench~secret");
    let fake = FakeEntra::new(org, tenant, client_id, secret)
        .start(0)
        .await?;

    let mut rounds = Vec::with_capacity(opts.rounds.max(1));
    for round in 1..=opts.rounds.max(1) {
        let r = one_round(&opts, &fake.url(), (tenant, client_id, secret)).await?;
        println!(
            "Round {round}: connect and first sync {:.1} s for {} people, {:.0} people/s, server peak memory {}",
            r.seconds,
            r.people,
            r.people as f64 / r.seconds,
            r.peak_mb.map_or("unknown (no /proc)".into(), |mb| format!("{mb:.0} MB")),
        );
        if round == 1 {
            println!("Result: {}", r.result);
        }
        rounds.push(r);
    }
    let median = |mut v: Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let seconds = median(rounds.iter().map(|r| r.seconds).collect());
    let rate = median(rounds.iter().map(|r| r.people as f64 / r.seconds).collect());
    println!(
        "Median of {} rounds: {seconds:.1} s, {rate:.0} people/s",
        rounds.len()
    );
    if rounds.iter().all(|r| r.peak_mb.is_some()) {
        let peak = median(rounds.iter().filter_map(|r| r.peak_mb).collect());
        println!("Median server peak memory (VmHWM): {peak:.0} MB");
    }
    Ok(())
}

struct Round {
    seconds: f64,
    people: u64,
    peak_mb: Option<f64>,
    result: serde_json::Value,
}

/// A fresh database and server, Connect, and the first sync to its end.
async fn one_round(
    opts: &SyncOptions,
    fake_url: &str,
    (tenant, client_id, secret): (&str, &str, &str),
) -> anyhow::Result<Round> {
    let sqlite = !opts.database_url.starts_with("postgres");
    fresh_database(&opts.database_url, sqlite).await?;
    let log = std::env::var_os("MUSTER_BENCH_SERVER_LOG").map(PathBuf::from);
    let level = std::env::var("MUSTER_LOG").unwrap_or_else(|_| "warn".into());
    let key_file = PathBuf::from("data/bench-sync.key");
    let server = ServerProcess::start(
        &std::env::current_exe()?,
        &opts.database_url,
        &PathBuf::from("data/bench-uploads"),
        &[
            ("MUSTER_LOG", &level),
            ("MUSTER_ALLOW_INSECURE_PROVIDER_URLS", "true"),
            ("MUSTER_ENTRA_LOGIN_URL", fake_url),
            ("MUSTER_GRAPH_URL", fake_url),
            ("MUSTER_MASTER_KEY_FILE", &key_file.display().to_string()),
        ],
        log.as_deref(),
    )
    .await?;
    let client = sign_in(&server.url).await?;

    let started = Instant::now();
    let res = client
        .post(format!("{}/api/connect_integration", server.url))
        .json(&json!({ "form": { "provider": "entra", "fields": {
            "tenant_id": tenant, "client_id": client_id, "client_secret": secret,
            "cloud": "global" } } }))
        .send()
        .await?;
    let status = res.status();
    let body: serde_json::Value = res.json().await?;
    if !status.is_success() {
        bail!("connect refused: {body}");
    }
    let id = body["id"].as_i64().unwrap_or_default();
    let done = loop {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let list: serde_json::Value = client
            .post(format!("{}/api/integrations", server.url))
            .send()
            .await?
            .json()
            .await?;
        let item = list
            .as_array()
            .and_then(|l| l.iter().find(|i| i["id"].as_i64() == Some(id)).cloned())
            .unwrap_or_default();
        if item["status"] != "syncing" {
            break item;
        }
    };
    let seconds = started.elapsed().as_secs_f64();
    if done["status"] != "connected" {
        bail!("the sync failed: {}", done["last_error"]);
    }
    let round = Round {
        seconds,
        people: done["last_result"]["people"].as_u64().unwrap_or(0),
        peak_mb: server.peak_memory_kb().map(|kb| kb as f64 / 1024.0),
        result: done["last_result"].clone(),
    };
    server.kill();
    Ok(round)
}
