//! `muster bench-scim`: what an identity provider sees of Muster's SCIM server
//! under load. A real `muster serve` process on a fresh database gets N users
//! POSTed over HTTP (as Entra ID or Okta would provision them), then two loads
//! at a fixed concurrency, each for a fixed time: `GET /Users?filter=userName
//! eq "..."` of random users (how both providers look a user up) and PATCH of
//! one attribute of random users. The same is then run against the python
//! reference server `scim2-server` (in memory), and both are printed side by
//! side: requests per second and latency percentiles, per round and median.

use crate::bench_import::fresh_database;
use crate::bench_sign_in::rss_kb;
use crate::process::ServerProcess;
use anyhow::{bail, Context};
use app::backend::domain::OrgId;
use app::backend::scim::sources;
use app::model::{ScimScope, ScimSourceForm, ScimTokenForm};
use rand::{Rng, SeedableRng};
use reqwest::{Client, StatusCode};
use serde_json::{json, Value};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

pub struct ScimBenchOptions {
    pub database_url: String,
    pub users: usize,
    pub concurrency: usize,
    /// How long each load runs, per round.
    pub seconds: u64,
    pub rounds: usize,
    /// The reference server's command; `None` to skip it.
    pub reference: Option<PathBuf>,
}

const USER: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
const ENTERPRISE: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
const PATCH_OP: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";

/// A SCIM service to load: its base URL and token.
struct Target {
    name: &'static str,
    base: String,
    token: String,
    http: Client,
}

/// What one load did.
#[derive(Clone, Copy)]
struct Load {
    requests: usize,
    per_second: f64,
    p50_ms: f64,
    p99_ms: f64,
    max_ms: f64,
}

impl std::fmt::Display for Load {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{:>7.0} req/s  p50 {:>6.1} ms  p99 {:>6.1} ms  max {:>6.1} ms  ({} requests)",
            self.per_second, self.p50_ms, self.p99_ms, self.max_ms, self.requests
        )
    }
}

/// A service's figures: its load of users, then each round's filter and PATCH.
struct Figures {
    name: &'static str,
    created: Load,
    rounds: Vec<(Load, Load)>,
}

pub async fn run(opts: ScimBenchOptions) -> anyhow::Result<()> {
    println!(
        "{} users POSTed at concurrency {}, then per round {} s of GET /Users?filter=userName eq \"...\" and {} s of PATCH (replace title) of random users, at concurrency {}",
        opts.users, opts.concurrency, opts.seconds, opts.seconds, opts.concurrency
    );
    let mut all = vec![muster(&opts).await?];
    match &opts.reference {
        Some(exe) => all.push(reference(&opts, exe).await?),
        None => println!("\nThe reference server is skipped (--reference none)."),
    }
    println!("\nSide by side (medians of {} rounds):", opts.rounds.max(1));
    for f in &all {
        let median = |pick: fn(&(Load, Load)) -> Load| median_load(f.rounds.iter().map(pick));
        println!("  {:<12} create  {}", f.name, f.created);
        println!("  {:<12} filter  {}", "", median(|r| r.0));
        println!("  {:<12} PATCH   {}", "", median(|r| r.1));
    }
    Ok(())
}

/// Muster on a fresh database, without its per-token rate limit (which is a
/// policy, not a capacity).
async fn muster(opts: &ScimBenchOptions) -> anyhow::Result<Figures> {
    let sqlite = !opts.database_url.starts_with("postgres");
    fresh_database(&opts.database_url, sqlite).await?;
    let db = crate::open_database(&opts.database_url).await?;
    let issued = sources::create(
        &db,
        OrgId::trusted(first_org(&db).await?),
        &ScimSourceForm {
            name: "Benchmark IdP".into(),
            scope: ScimScope::Own,
            keep_deleted: false,
        },
        &ScimTokenForm {
            name: "bench".into(),
            expires_on: String::new(),
        },
    )
    .await
    .map_err(|e| anyhow::anyhow!("{e}"))?;
    drop(db);
    let server = ServerProcess::start_bench(
        &opts.database_url,
        &[
            ("MUSTER_LOG", "warn"),
            ("MUSTER_SCIM_REQUESTS_PER_SECOND", "0"),
            ("MUSTER_MASTER_KEY_FILE", "data/bench-scim.key"),
        ],
    )
    .await?;
    let target = Target::new("Muster", format!("{}/scim/v2", server.url), issued.secret);
    let figures = measure(target, opts).await;
    println!(
        "  Muster's memory at the end: {:.0} MB (peak {:.0} MB)",
        rss_kb(&server).unwrap_or(0) as f64 / 1024.0,
        server.peak_memory_kb().unwrap_or(0) as f64 / 1024.0
    );
    server.kill();
    figures
}

async fn first_org(db: &sea_orm::DatabaseConnection) -> anyhow::Result<i64> {
    use app::backend::db::entities::organisation;
    use sea_orm::{EntityTrait, QuerySelect};
    organisation::Entity::find()
        .select_only()
        .column(organisation::Column::Id)
        .into_tuple::<i64>()
        .one(db)
        .await?
        .context("no organisation")
}

/// The python reference server, in memory, on a free port.
async fn reference(opts: &ScimBenchOptions, exe: &std::path::Path) -> anyhow::Result<Figures> {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0")?;
        l.local_addr()?.port()
    };
    let token = "bench-reference-token";
    let child = Command::new(exe)
        .args(["--port", &port.to_string(), "--bearer-token", token])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .with_context(|| format!("starting {} (pip install scim2-server)", exe.display()))?;
    let child = KillOnDrop(child);
    let target = Target::new(
        "scim2-server",
        format!("http://127.0.0.1:{port}/v2"),
        token.into(),
    );
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let up = target
            .http
            .get(format!("{}/ServiceProviderConfig", target.base))
            .bearer_auth(&target.token)
            .send()
            .await
            .is_ok_and(|r| r.status().is_success());
        if up {
            break;
        }
        if Instant::now() > deadline {
            bail!("{} did not start in 30 s", exe.display());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let figures = measure(target, opts).await;
    drop(child);
    figures
}

struct KillOnDrop(Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Target {
    fn new(name: &'static str, base: String, token: String) -> Self {
        Self {
            name,
            base,
            token,
            http: Client::builder()
                .pool_max_idle_per_host(64)
                .build()
                .expect("an HTTP client"),
        }
    }

    async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        query: Option<&[(&str, &str)]>,
        body: Option<&Value>,
    ) -> anyhow::Result<(StatusCode, Value)> {
        let mut req = self
            .http
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(&self.token);
        if let Some(q) = query {
            req = req.query(q);
        }
        if let Some(b) = body {
            req = req
                .header("content-type", "application/scim+json")
                .body(b.to_string());
        }
        let res = req.send().await?;
        let status = res.status();
        let bytes = res.bytes().await?;
        let body = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes).unwrap_or(Value::Null)
        };
        Ok((status, body))
    }
}

fn user_name(n: usize) -> String {
    format!("user{n:06}@bench.example")
}

/// A user as an identity provider creates it.
fn new_user(n: usize) -> Value {
    json!({
        "schemas": [USER, ENTERPRISE],
        "userName": user_name(n),
        "externalId": format!("ext-{n}"),
        "name": {"givenName": format!("Given{n}"), "familyName": format!("Family{}", n % 977)},
        "displayName": format!("Given{n} Family{}", n % 977),
        "emails": [{"value": user_name(n), "type": "work", "primary": true}],
        "phoneNumbers": [{"value": format!("+44 7400 {:06}", n % 1_000_000), "type": "mobile"}],
        "title": "Engineer",
        "active": true,
        ENTERPRISE: {"department": format!("Department {}", n % 40)},
    })
}

/// Run `work(worker, n)` on `concurrency` workers for `limit` (a number of
/// calls in all, or a time); the latency of each call that succeeded.
async fn load<F, Fut>(
    concurrency: usize,
    calls: Option<usize>,
    time: Option<Duration>,
    work: F,
) -> anyhow::Result<Load>
where
    F: Fn(usize) -> Fut + Clone + Send + 'static,
    Fut: std::future::Future<Output = anyhow::Result<()>> + Send,
{
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let end = time.map(|t| started + t);
    let workers: Vec<_> = (0..concurrency.max(1))
        .map(|_| {
            let (next, work) = (next.clone(), work.clone());
            tokio::spawn(async move {
                let mut latencies = Vec::new();
                loop {
                    let n = next.fetch_add(1, Ordering::Relaxed);
                    if calls.is_some_and(|c| n >= c) || end.is_some_and(|e| Instant::now() >= e) {
                        break;
                    }
                    let t = Instant::now();
                    work(n).await?;
                    latencies.push(t.elapsed());
                }
                anyhow::Ok(latencies)
            })
        })
        .collect();
    let mut latencies = Vec::new();
    for w in workers {
        latencies.extend(w.await??);
    }
    let elapsed = started.elapsed();
    latencies.sort_unstable();
    let at = |q: f64| {
        let i = ((latencies.len() as f64 * q).ceil() as usize).clamp(1, latencies.len().max(1)) - 1;
        latencies.get(i).map_or(0.0, |d| d.as_secs_f64() * 1000.0)
    };
    Ok(Load {
        requests: latencies.len(),
        per_second: latencies.len() as f64 / elapsed.as_secs_f64(),
        p50_ms: at(0.5),
        p99_ms: at(0.99),
        max_ms: latencies.last().map_or(0.0, |d| d.as_secs_f64() * 1000.0),
    })
}

/// Create the users, then the rounds of filter and PATCH.
async fn measure(target: Target, opts: &ScimBenchOptions) -> anyhow::Result<Figures> {
    println!("\n{} at {}", target.name, target.base);
    let target = Arc::new(target);
    let ids: Arc<Vec<std::sync::OnceLock<String>>> = Arc::new(
        (0..opts.users)
            .map(|_| std::sync::OnceLock::new())
            .collect(),
    );
    let created = {
        let (target, ids) = (target.clone(), ids.clone());
        load(opts.concurrency, Some(opts.users), None, move |n| {
            let (target, ids) = (target.clone(), ids.clone());
            async move {
                let (status, body) = target
                    .send(reqwest::Method::POST, "/Users", None, Some(&new_user(n)))
                    .await?;
                if status != StatusCode::CREATED {
                    bail!("POST /Users answered {status}: {body}");
                }
                let id = body["id"].as_str().context("no id")?.to_string();
                let _ = ids[n].set(id);
                Ok(())
            }
        })
        .await?
    };
    println!("  Created {} users: {created}", opts.users);
    let time = Some(Duration::from_secs(opts.seconds.max(1)));
    let mut rounds = Vec::new();
    for round in 1..=opts.rounds.max(1) {
        let filter = {
            let target = target.clone();
            let users = opts.users;
            load(opts.concurrency, None, time, move |n| {
                let target = target.clone();
                async move {
                    let mut rng = rand::rngs::SmallRng::seed_from_u64(n as u64);
                    let name = user_name(rng.random_range(0..users));
                    let filter = format!("userName eq \"{name}\"");
                    let (status, body) = target
                        .send(
                            reqwest::Method::GET,
                            "/Users",
                            Some(&[("filter", filter.as_str())]),
                            None,
                        )
                        .await?;
                    if status != StatusCode::OK || body["totalResults"] != json!(1) {
                        bail!("the filter for {name} answered {status}: {body}");
                    }
                    Ok(())
                }
            })
            .await?
        };
        let patch = {
            let (target, ids) = (target.clone(), ids.clone());
            load(opts.concurrency, None, time, move |n| {
                let (target, ids) = (target.clone(), ids.clone());
                async move {
                    let mut rng = rand::rngs::SmallRng::seed_from_u64(n as u64 ^ 0x5eed);
                    let id = ids[rng.random_range(0..ids.len())]
                        .get()
                        .context("a user without an id")?;
                    let body = json!({"schemas": [PATCH_OP], "Operations": [
                        {"op": "replace", "path": "title", "value": format!("Title {n}")}
                    ]});
                    let (status, answer) = target
                        .send(
                            reqwest::Method::PATCH,
                            &format!("/Users/{id}"),
                            None,
                            Some(&body),
                        )
                        .await?;
                    if !status.is_success() {
                        bail!("PATCH /Users/{id} answered {status}: {answer}");
                    }
                    Ok(())
                }
            })
            .await?
        };
        println!("  Round {round}: filter {filter}");
        println!("           PATCH  {patch}");
        rounds.push((filter, patch));
    }
    Ok(Figures {
        name: target.name,
        created,
        rounds,
    })
}

/// The load of median requests per second, each figure its own median.
fn median_load(loads: impl Iterator<Item = Load>) -> Load {
    let loads: Vec<Load> = loads.collect();
    let median = |pick: fn(&Load) -> f64| {
        let mut v: Vec<f64> = loads.iter().map(pick).collect();
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    Load {
        requests: loads.iter().map(|l| l.requests).sum::<usize>() / loads.len().max(1),
        per_second: median(|l| l.per_second),
        p50_ms: median(|l| l.p50_ms),
        p99_ms: median(|l| l.p99_ms),
        max_ms: median(|l| l.max_ms),
    }
}
