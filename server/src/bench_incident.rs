//! `muster bench-incident`: an incident to every contact of an organisation
//! (100,000 by default) on the benchmark's own database, through a server
//! process and a real SMTP conversation with a local sink in this process.
//! Per round: how long the launch takes (resolving, freezing the recipients
//! and queueing their emails, in one transaction), how long until the sink
//! holds every email, and the server's peak memory. Medians at the end.

use crate::bench_import::{fresh_database, sign_in};
use crate::fakes::smtp;
use crate::process::ServerProcess;
use anyhow::bail;
use app::backend::domain::OrgId;
use app::backend::{auth, demo};
use app::model::{
    Channels, Incident, IncidentProgress, LaunchRequest, Recipients, Rule, ScenarioDraft,
};
use std::path::Path;
use std::time::{Duration, Instant};

pub struct IncidentOptions {
    pub database_url: String,
    pub recipients: u64,
    pub rounds: usize,
}

pub async fn run(opts: IncidentOptions) -> anyhow::Result<()> {
    let sqlite = !opts.database_url.starts_with("postgres");
    fresh_database(&opts.database_url, sqlite).await?;
    {
        let conn = crate::open_database(&opts.database_url).await?;
        let org = auth::org_by_name(&conn, "Benchmark Organisation")
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?
            .map(|o| OrgId::trusted(o.id))
            .ok_or_else(|| anyhow::anyhow!("no benchmark organisation"))?;
        let started = Instant::now();
        demo::seed(&conn, org, opts.recipients, |_| {})
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        app::backend::db::analyze(&conn).await?;
        println!(
            "Seeded {} contacts in {:.1} s",
            opts.recipients,
            started.elapsed().as_secs_f64()
        );
    }
    let sink = smtp::start(0).await?;
    let smtp_url = sink.url();
    let level = std::env::var("MUSTER_LOG").unwrap_or_else(|_| "warn".into());
    let log = std::env::var_os("MUSTER_BENCH_SERVER_LOG").map(std::path::PathBuf::from);
    let server = ServerProcess::start(
        &std::env::current_exe()?,
        &opts.database_url,
        Path::new("data/bench-uploads"),
        &[
            ("MUSTER_LOG", level.as_str()),
            ("MUSTER_SMTP_URL", smtp_url.as_str()),
            // The sink takes as fast as it is sent to.
            ("MUSTER_EMAILS_PER_SECOND", "0"),
        ],
        log.as_deref(),
    )
    .await?;
    let client = sign_in(&server.url).await?;
    let draft = ScenarioDraft {
        name: "Benchmark".into(),
        subject: "Benchmark for {first_name}".into(),
        body: "Hello {first_name}, this is a test of Muster.".into(),
        channels: Channels {
            email: true,
            sms: false,
        },
        options: vec!["Acknowledge".into()],
        recipients: Recipients {
            // Everyone seeded.
            rules: vec![Rule {
                source: "Demo".into(),
                ..Default::default()
            }],
            ..Default::default()
        },
        ..ScenarioDraft::new_blank()
    };
    println!(
        "\n{:>5} {:>10} {:>12} {:>12} {:>14} {:>10}",
        "round", "emails", "launch (s)", "all sent (s)", "emails/s", "peak MB"
    );
    let (mut launches, mut sends) = (Vec::new(), Vec::new());
    for round in 1..=opts.rounds {
        let before = sink.sink.messages.lock().map(|m| m.len()).unwrap_or(0);
        let started = Instant::now();
        let res = client
            .post(format!("{}/api/launch_incident", server.url))
            .json(&serde_json::json!({ "request": LaunchRequest { scenario_id: None, draft: draft.clone() } }))
            .send()
            .await?;
        if !res.status().is_success() {
            bail!("launch refused: {}", res.text().await?);
        }
        let incident: Incident = res.json().await?;
        let launched = started.elapsed();
        let emails = incident.recipients as usize;
        let deadline = Instant::now() + Duration::from_secs(600);
        loop {
            let got = sink.sink.messages.lock().map(|m| m.len()).unwrap_or(0) - before;
            if got >= emails {
                break;
            }
            if Instant::now() > deadline {
                bail!("only {got} of {emails} emails reached the sink in 10 minutes");
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let sent = started.elapsed();
        let progress: IncidentProgress = client
            .post(format!("{}/api/incident_progress", server.url))
            .form(&[("id", incident.id.to_string())])
            .send()
            .await?
            .json()
            .await?;
        if progress.email.failed > 0 {
            bail!("{} emails failed", progress.email.failed);
        }
        let peak = server.peak_memory_kb().unwrap_or(0) as f64 / 1024.0;
        println!(
            "{round:>5} {emails:>10} {:>12.2} {:>12.1} {:>14.0} {peak:>10.0}",
            launched.as_secs_f64(),
            sent.as_secs_f64(),
            emails as f64 / sent.as_secs_f64(),
        );
        launches.push(launched);
        sends.push(sent);
        // The sink's memory is this process's, not the server's.
        if let Ok(mut m) = sink.sink.messages.lock() {
            m.clear();
        }
    }
    let median = |v: &mut Vec<Duration>| {
        v.sort();
        v[v.len() / 2].as_secs_f64()
    };
    println!(
        "\nMedian: launch {:.2} s, every email handed to the SMTP sink {:.1} s; server peak {:.0} MB",
        median(&mut launches),
        median(&mut sends),
        server.peak_memory_kb().unwrap_or(0) as f64 / 1024.0
    );
    Ok(())
}
