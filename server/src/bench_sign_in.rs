//! `muster bench-sign-in`: a flood of concurrent wrong sign-ins with random
//! emails against a real `muster serve` process, with the owner signing in
//! correctly in the middle of it, twice: from the browser they signed in with
//! before (its device cookie) and from a new one. Prints the server's memory
//! before and at its peak, how the flood was answered, and how long the
//! owner's sign-ins took. Two floods: from one address, and from as many addresses as requests
//! (through a trusted proxy's `X-Forwarded-For`, as a botnet would look).

use crate::bench_import::{fresh_database, ADMIN, PASSWORD};
use crate::process::ServerProcess;
use reqwest::{Client, StatusCode};
use std::time::{Duration, Instant};

pub struct SignInOptions {
    pub database_url: String,
    /// Wrong sign-ins sent at once.
    pub flood: usize,
    pub rounds: usize,
}

/// What one flood did.
struct Flood {
    normal_mb: f64,
    peak_mb: f64,
    checked: usize,
    refused: usize,
    other: usize,
    /// The owner from their own browser, and from a new one.
    owner: [(StatusCode, f64); 2],
}

pub async fn run(opts: SignInOptions) -> anyhow::Result<()> {
    for spread in [false, true] {
        println!(
            "{} wrong sign-ins at once with random emails, {}; the owner signs in from another address 100 ms in",
            opts.flood,
            if spread { "each from its own address" } else { "all from one address" }
        );
        let mut floods = Vec::new();
        for round in 1..=opts.rounds.max(1) {
            let f = one_flood(&opts, spread).await?;
            println!(
                "  Round {round}: memory {:.0} MB before, {:.0} MB at peak (+{:.0} MB); flood answered: {} checked (wrong password), {} told to wait (429), {} other; owner's browser: {} in {:.0} ms; new browser: {} in {:.0} ms",
                f.normal_mb,
                f.peak_mb,
                f.peak_mb - f.normal_mb,
                f.checked,
                f.refused,
                f.other,
                f.owner[0].0.as_u16(),
                f.owner[0].1,
                f.owner[1].0.as_u16(),
                f.owner[1].1,
            );
            floods.push(f);
        }
        let median = |mut v: Vec<f64>| {
            v.sort_by(f64::total_cmp);
            v[v.len() / 2]
        };
        println!(
            "  Median of {} rounds: memory +{:.0} MB at peak",
            floods.len(),
            median(floods.iter().map(|f| f.peak_mb - f.normal_mb).collect()),
        );
        for (n, browser) in ["from their own browser", "from a new browser"]
            .iter()
            .enumerate()
        {
            println!(
                "  The owner {browser}: signed in {} of {} times, median {:.0} ms",
                floods.iter().filter(|f| signed_in(f.owner[n].0)).count(),
                floods.len(),
                median(floods.iter().map(|f| f.owner[n].1).collect()),
            );
        }
    }
    Ok(())
}

async fn one_flood(opts: &SignInOptions, spread: bool) -> anyhow::Result<Flood> {
    let sqlite = !opts.database_url.starts_with("postgres");
    fresh_database(&opts.database_url, sqlite).await?;
    let server = ServerProcess::start_bench(
        &opts.database_url,
        &[
            ("MUSTER_LOG", "warn"),
            ("MUSTER_TRUSTED_PROXIES", "127.0.0.1"),
            ("MUSTER_MASTER_KEY_FILE", "data/bench-sign-in.key"),
        ],
    )
    .await?;
    // One client with many connections, as a flood would use.
    let client = Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .pool_max_idle_per_host(opts.flood)
        .build()?;
    // Warm up: one correct sign-in, so that "before" is the server as it
    // runs; it gives the owner's browser its device cookie.
    let (warm, device) =
        sign_in(&client, &server.url, "198.51.100.20", ADMIN, PASSWORD, None).await?;
    anyhow::ensure!(signed_in(warm), "the warm-up sign-in failed: {warm}");
    let device = device.ok_or_else(|| anyhow::anyhow!("no device cookie was set"))?;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let normal_kb = rss_kb(&server).unwrap_or(0);

    let sampling = {
        let status = format!("/proc/{}/status", server.pid());
        tokio::spawn(async move {
            let mut peak = 0u64;
            for _ in 0..3000 {
                if let Some(kb) = std::fs::read_to_string(&status)
                    .ok()
                    .and_then(|s| field_kb(&s, "VmRSS:"))
                {
                    peak = peak.max(kb);
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            peak
        })
    };
    let tag = std::process::id();
    let attempts = (0..opts.flood).map(|n| {
        let client = client.clone();
        let url = server.url.clone();
        async move {
            let from = if spread {
                format!("10.{}.{}.{}", (n >> 16) & 255, (n >> 8) & 255, n & 255)
            } else {
                "203.0.113.7".to_string()
            };
            let email = format!("nobody-{tag}-{n}@example.com");
            let answer = sign_in(&client, &url, &from, &email, "a wrong password", None).await;
            answer.map(|(status, _)| status)
        }
    });
    let owner = |cookie: Option<String>| {
        let (client, url) = (client.clone(), server.url.clone());
        async move {
            tokio::time::sleep(Duration::from_millis(100)).await;
            let started = Instant::now();
            let answer = sign_in(
                &client,
                &url,
                "198.51.100.20",
                ADMIN,
                PASSWORD,
                cookie.as_deref(),
            )
            .await;
            answer.map(|(status, _)| (status, started.elapsed().as_secs_f64() * 1000.0))
        }
    };
    let (answers, known, new) = tokio::join!(
        futures_util::future::join_all(attempts),
        owner(Some(device)),
        owner(None)
    );
    tokio::time::sleep(Duration::from_millis(200)).await;
    sampling.abort();
    let hwm_kb = server.peak_memory_kb().unwrap_or(0);
    let sampled = rss_kb(&server).unwrap_or(0);
    let mut flood = Flood {
        normal_mb: normal_kb as f64 / 1024.0,
        peak_mb: hwm_kb.max(sampled) as f64 / 1024.0,
        checked: 0,
        refused: 0,
        other: 0,
        owner: [known?, new?],
    };
    for a in answers {
        match a {
            Ok(StatusCode::UNPROCESSABLE_ENTITY) => flood.checked += 1,
            Ok(StatusCode::TOO_MANY_REQUESTS) => flood.refused += 1,
            _ => flood.other += 1,
        }
    }
    server.kill();
    Ok(flood)
}

/// A sign-in, with the browser's device cookie if it has one. Returns the
/// status and the device cookie it was given (as a `Cookie` value).
async fn sign_in(
    client: &Client,
    url: &str,
    from: &str,
    email: &str,
    password: &str,
    device: Option<&str>,
) -> anyhow::Result<(StatusCode, Option<String>)> {
    let mut req = client
        .post(format!("{url}/api/login"))
        .header("x-forwarded-for", from)
        .form(&[("email", email), ("password", password)]);
    if let Some(cookie) = device {
        req = req.header(reqwest::header::COOKIE, cookie);
    }
    let res = req.send().await?;
    let device = res
        .headers()
        .get_all(reqwest::header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with("muster_device="))
        .and_then(|v| v.split(';').next())
        .map(str::to_string);
    Ok((res.status(), device))
}

/// A sign-in that worked: a 302, or the 200 with `Location` that a client
/// not asking for HTML gets.
fn signed_in(status: StatusCode) -> bool {
    status.is_success() || status.is_redirection()
}

/// The server's resident memory now, in kB.
pub(crate) fn rss_kb(server: &ServerProcess) -> Option<u64> {
    field_kb(&server.status()?, "VmRSS:")
}

fn field_kb(status: &str, name: &str) -> Option<u64> {
    status
        .lines()
        .find_map(|l| l.strip_prefix(name))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}
