//! `muster bench-sync`: a Microsoft Entra ID directory of N people served by
//! the fake Graph (in this process, with no paging latency) is connected and
//! synced by a real `muster serve` process, end to end over HTTP; prints people
//! per second and the server's peak memory.

use crate::bench_import::{fresh_database, ADMIN, PASSWORD};
use crate::fakes::entra::FakeEntra;
use crate::fakes::FakeOrg;
use crate::process::ServerProcess;
use anyhow::bail;
use reqwest::Client;
use serde_json::json;
use std::path::PathBuf;
use std::time::{Duration, Instant};

pub struct SyncOptions {
    pub database_url: String,
    pub people: usize,
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

    let sqlite = !opts.database_url.starts_with("postgres");
    fresh_database(&opts.database_url, sqlite).await?;
    let log = std::env::var_os("MUSTER_BENCH_SERVER_LOG").map(PathBuf::from);
    let level = std::env::var("MUSTER_LOG").unwrap_or_else(|_| "warn".into());
    let key_file = PathBuf::from("data/bench-sync.key");
    let fake_url = fake.url();
    let server = ServerProcess::start(
        &std::env::current_exe()?,
        &opts.database_url,
        &PathBuf::from("data/bench-uploads"),
        &[
            ("MUSTER_LOG", &level),
            ("MUSTER_ALLOW_INSECURE_PROVIDER_URLS", "true"),
            ("MUSTER_ENTRA_LOGIN_URL", &fake_url),
            ("MUSTER_GRAPH_URL", &fake_url),
            ("MUSTER_MASTER_KEY_FILE", &key_file.display().to_string()),
        ],
        log.as_deref(),
    )
    .await?;
    let client = Client::builder().cookie_store(true).build()?;
    let res = client
        .post(format!("{}/api/login", server.url))
        .form(&[("email", ADMIN), ("password", PASSWORD)])
        .send()
        .await?;
    if !res.status().is_success() {
        bail!("sign-in failed: {}", res.status());
    }

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
    let elapsed = started.elapsed().as_secs_f64();
    if done["status"] != "connected" {
        bail!("the sync failed: {}", done["last_error"]);
    }
    let people = done["last_result"]["people"].as_f64().unwrap_or(0.0);
    println!(
        "Connect and first sync: {elapsed:.1} s for {people} people, {:.0} people/s",
        people / elapsed
    );
    println!("Result: {}", done["last_result"]);
    match server.peak_memory_kb() {
        Some(kb) => println!("Server peak memory (VmHWM): {:.0} MB", kb as f64 / 1024.0),
        None => println!("Server peak memory: unknown (no /proc)"),
    }
    server.kill();
    Ok(())
}
