//! `muster`: serve the directory, or administer it from the command line.

use anyhow::{bail, Context};
use app::backend::connectors::HttpConfig;
use app::backend::domain::OrgId;
use app::backend::import::job::{self, ImportConfig};
use app::backend::incidents::email::EmailSender;
use app::backend::incidents::outbox::{Outbox, OutboxSettings};
use app::backend::integrations::live::RunningSyncs;
use app::backend::scim::rate::ScimRate;
use app::backend::vault::Vault;
use app::backend::{auth, demo, integrations, AppState};
use clap::{Parser, Subcommand};
use std::io::Read;
use std::net::SocketAddr;
use tracing_subscriber::EnvFilter;

#[derive(Parser)]
#[command(
    name = "muster",
    version,
    about = "Self-hosted contact directory for incident notification"
)]
struct Cli {
    /// SQLite (the default, a file under ./data/) or a postgres:// URL.
    #[arg(long, env = "DATABASE_URL", default_value = muster::DEFAULT_DATABASE_URL, global = true)]
    database_url: String,
    #[command(subcommand)]
    command: Option<Command>,
}

// Parsed once at start: the size of the largest variant (serve's settings) costs nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Subcommand)]
enum Command {
    /// Copy the SQLite database to FILE, consistent as of one moment, while
    /// Muster may be running (PostgreSQL: use pg_dump).
    Backup {
        /// Where the copy goes; it must not exist yet.
        file: std::path::PathBuf,
    },
    /// Serve the web application (the default).
    Serve {
        /// Address to listen on; defaults to cargo-leptos's site address or 127.0.0.1:3000.
        #[arg(long, env = "MUSTER_ADDR")]
        addr: Option<SocketAddr>,
        /// Once listening, write the address to this file (with `--addr
        /// 127.0.0.1:0`, how a script or a test learns the port chosen).
        #[arg(long)]
        addr_file: Option<std::path::PathBuf>,
        /// Muster is served over https: the session cookie is `__Host-` and
        /// Secure. Behind a trusted proxy, X-Forwarded-Proto also says so.
        #[arg(long, env = "MUSTER_SECURE_COOKIES", default_value_t = false)]
        secure_cookies: bool,
        /// Directory where uploaded CSV files are kept while they are imported
        /// (on SQLite; on PostgreSQL they are kept in the database).
        #[arg(long, env = "MUSTER_UPLOAD_DIR", default_value = "data/uploads")]
        upload_dir: std::path::PathBuf,
        /// The largest CSV upload accepted, in megabytes.
        #[arg(long, env = "MUSTER_UPLOAD_LIMIT_MB", default_value_t = 100)]
        upload_limit_mb: u64,
        /// Seconds without a heartbeat after which a running import counts as
        /// interrupted (its server stopped).
        #[arg(long, env = "MUSTER_IMPORT_STALE_SECS", default_value_t = 30)]
        import_stale_secs: u64,
        /// The most rows an import applies per transaction (and per progress
        /// update); batches are sized to take about a second, up to this.
        #[arg(long, env = "MUSTER_IMPORT_BATCH_ROWS", default_value_t = 20_000)]
        import_batch_rows: usize,
        /// The master key sealing integration credentials: 32 bytes in base64.
        /// When unset, the key file is used (and created on first run).
        #[arg(long, env = "MUSTER_MASTER_KEY", hide_env_values = true)]
        master_key: Option<String>,
        /// The master key file, created with mode 0600 when missing.
        #[arg(
            long,
            env = "MUSTER_MASTER_KEY_FILE",
            default_value = "data/master.key"
        )]
        master_key_file: std::path::PathBuf,
        /// Let integrations use http:// and private or local addresses (for
        /// tests and demos against local fake providers; never in production).
        #[arg(
            long,
            env = "MUSTER_ALLOW_INSECURE_PROVIDER_URLS",
            default_value_t = false
        )]
        allow_insecure_provider_urls: bool,
        /// Seconds a request to an HR or identity system may take.
        #[arg(long, env = "MUSTER_PROVIDER_TIMEOUT_SECS", default_value_t = 30)]
        provider_timeout_secs: u64,
        /// Microsoft's sign-in host instead of the cloud's own (a proxy, a test).
        #[arg(long, env = "MUSTER_ENTRA_LOGIN_URL")]
        entra_login_url: Option<String>,
        /// Microsoft Graph's host instead of the cloud's own.
        #[arg(long, env = "MUSTER_GRAPH_URL")]
        graph_url: Option<String>,
        /// Google's Directory API host instead of admin.googleapis.com.
        #[arg(long, env = "MUSTER_GOOGLE_DIRECTORY_URL")]
        google_directory_url: Option<String>,
        /// The most people one sync reads; a directory larger than this fails.
        #[arg(long, env = "MUSTER_SYNC_MAX_PEOPLE", default_value_t = 2_000_000)]
        sync_max_people: usize,
        /// Syncs one organisation may run at once.
        #[arg(long, env = "MUSTER_SYNCS_PER_ORG", default_value_t = 2)]
        syncs_per_org: usize,
        /// Minutes a whole sync may take; then it fails and changes nothing.
        #[arg(long, env = "MUSTER_SYNC_DEADLINE_MINUTES", default_value_t = 120)]
        sync_deadline_minutes: u64,
        /// Days each sync's contact-by-contact details are kept (its counts
        /// are kept for ever).
        #[arg(long, env = "MUSTER_SYNC_DETAILS_DAYS", default_value_t = 90)]
        sync_details_days: u64,
        /// Minutes to wait before each retry of a sync that failed in a way
        /// that may pass (network, timeouts, 5xx, rate limits), separated by
        /// commas; as many retries as values. Fractions allowed.
        #[arg(
            long,
            env = "MUSTER_SYNC_RETRY_MINUTES",
            value_delimiter = ',',
            default_value = "5,30,120"
        )]
        sync_retry_minutes: Vec<f64>,
        /// Seconds between two looks for due syncs (daily ones and retries).
        #[arg(long, env = "MUSTER_SYNC_TICK_SECONDS", default_value_t = 30)]
        sync_tick_seconds: u64,
        /// Scheduled syncs one server runs at once; the others wait for a
        /// later look, or for another server.
        #[arg(long, env = "MUSTER_SYNCS_PER_SERVER", default_value_t = 4)]
        syncs_per_server: usize,
        /// The largest answer read from an HR or identity system, in MB.
        #[arg(long, env = "MUSTER_PROVIDER_MAX_BODY_MB", default_value_t = 64)]
        provider_max_body_mb: usize,
        /// Send requests to HR and identity systems through this proxy
        /// (http:// or https://). Unset: direct, whatever HTTPS_PROXY says.
        #[arg(long, env = "MUSTER_PROVIDER_PROXY")]
        provider_proxy: Option<String>,
        /// Minutes a session may stay unused before it ends.
        #[arg(long, env = "MUSTER_SESSION_IDLE_MINUTES", default_value_t = 12 * 60)]
        session_idle_minutes: u64,
        /// Hours a session lasts after signing in, however much it is used.
        #[arg(long, env = "MUSTER_SESSION_LIFETIME_HOURS", default_value_t = 7 * 24)]
        session_lifetime_hours: u64,
        /// Proxies in front of Muster whose X-Forwarded-For names the client
        /// (addresses or CIDR ranges, separated by commas). Unset: none, and
        /// the client is the peer of the connection.
        #[arg(long, env = "MUSTER_TRUSTED_PROXIES", value_delimiter = ',')]
        trusted_proxies: Vec<String>,
        /// The code the setup page asks for (at least 12 characters). Unset:
        /// a random one, printed in the log while Muster is not set up.
        #[arg(long, env = "MUSTER_SETUP_CODE", hide_env_values = true)]
        setup_code: Option<String>,
        /// Requests a second one SCIM token may send, sustained (bursts of
        /// twice as many); beyond it, 429 with Retry-After. 0: no limit.
        #[arg(
            long,
            env = "MUSTER_SCIM_REQUESTS_PER_SECOND",
            default_value_t = app::backend::scim::rate::DEFAULT_PER_SECOND
        )]
        scim_requests_per_second: u32,
        /// The SMTP server incidents' emails go through: smtps://host:465
        /// (TLS) or smtp://host:587?tls=required (STARTTLS), with
        /// user:password@ when it asks for them; plain smtp:// only to a
        /// server on this machine.
        /// Without it, email is shown as not configured.
        #[arg(long, env = "MUSTER_SMTP_URL", hide_env_values = true)]
        smtp_url: Option<String>,
        /// The sender of incidents' emails.
        #[arg(
            long,
            env = "MUSTER_SMTP_FROM",
            default_value = "Muster <muster@localhost>"
        )]
        smtp_from: String,
        /// At most this many emails a second (0: no bound).
        #[arg(long, env = "MUSTER_EMAILS_PER_SECOND", default_value_t = 50)]
        emails_per_second: u32,
        /// The seconds to wait before each new try of a message that failed
        /// in a way that may pass; as many tries again as values.
        #[arg(
            long,
            env = "MUSTER_DELIVERY_RETRY_SECONDS",
            value_delimiter = ',',
            default_value = "30,120,600,1800"
        )]
        delivery_retry_seconds: Vec<f64>,
        /// Messages each server claims from the outbox at once (a server
        /// that stops puts back those it has not handed over).
        #[arg(long, env = "MUSTER_DELIVERY_BATCH", default_value_t = 500)]
        delivery_batch: usize,
        /// The address recipients reach Muster at, for their response links
        /// (https://muster.example.org); by default Muster's own address.
        #[arg(long, env = "MUSTER_PUBLIC_URL")]
        public_url: Option<String>,
        /// Serve Prometheus metrics at /metrics on this address too (for the
        /// monitoring network only: it asks for no token).
        #[arg(long, env = "MUSTER_METRICS_ADDR")]
        metrics_addr: Option<SocketAddr>,
        /// Serve /metrics on the main address to the bearer of this token.
        #[arg(long, env = "MUSTER_METRICS_TOKEN", hide_env_values = true)]
        metrics_token: Option<String>,
        /// On SIGTERM or Ctrl-C: stop accepting, and give requests in flight,
        /// imports (which stop after their batch, to be resumed), syncs (which
        /// stop as interrupted, to run again) and the outbox this long to
        /// finish before exiting.
        #[arg(long, env = "MUSTER_SHUTDOWN_GRACE_SECONDS", default_value_t = 20)]
        shutdown_grace_seconds: u64,
    },
    /// Apply database migrations and exit.
    Migrate,
    /// Benchmark the first sync of an Entra ID directory from the fake Graph,
    /// end to end through a server process.
    BenchSync {
        #[arg(long, default_value_t = 100_000)]
        people: usize,
        /// Rounds, each with a fresh database and server; the median is printed.
        #[arg(long, default_value_t = 5)]
        rounds: usize,
        /// Also time a second sync (Sync now) after the first: with nothing
        /// changed at the source, or with 1% of the people changed and 1%
        /// gone.
        #[arg(long, value_enum)]
        then: Option<muster::bench_sync::Then>,
        /// The benchmark's own database, emptied at each run.
        #[arg(
            long = "database",
            env = "MUSTER_BENCH_SYNC_DATABASE_URL",
            default_value = "sqlite://data/bench-sync.db"
        )]
        bench_database_url: String,
    },
    /// Benchmark the SCIM server as identity providers load it: users
    /// POSTed, then lookups by userName and PATCHes at a concurrency, beside
    /// the python reference server scim2-server.
    BenchScim {
        #[arg(long, default_value_t = 100_000)]
        users: usize,
        #[arg(long, default_value_t = 16)]
        concurrency: usize,
        /// Seconds each load runs, per round.
        #[arg(long, default_value_t = 10)]
        seconds: u64,
        #[arg(long, default_value_t = 3)]
        rounds: usize,
        /// The reference server's command (`pip install scim2-server==0.8.3`),
        /// or `none` to skip it.
        #[arg(
            long,
            env = "MUSTER_BENCH_SCIM_REFERENCE",
            default_value = "scim2-server"
        )]
        reference: String,
        /// The benchmark's own database, emptied first.
        #[arg(
            long = "database",
            env = "MUSTER_BENCH_SCIM_DATABASE_URL",
            default_value = "sqlite://data/bench-scim.db"
        )]
        bench_database_url: String,
    },
    /// Benchmark sign-in under a flood: concurrent wrong sign-ins with random
    /// emails against a server process, with a correct one in the middle.
    BenchSignIn {
        /// Wrong sign-ins sent at once.
        #[arg(long, default_value_t = 1000)]
        flood: usize,
        #[arg(long, default_value_t = 5)]
        rounds: usize,
        /// The benchmark's own database, emptied at each round.
        #[arg(
            long = "database",
            env = "MUSTER_BENCH_SIGN_IN_DATABASE_URL",
            default_value = "sqlite://data/bench-sign-in.db"
        )]
        bench_database_url: String,
    },
    /// Run fake Okta, SCIM 2.0, Entra ID, Workday and Google providers on 127.0.0.1 with a generated
    /// organisation, and print what to enter in each Connect form. Muster must
    /// run with MUSTER_ALLOW_INSECURE_PROVIDER_URLS=true to reach them.
    FakeProviders {
        /// People in the generated organisation.
        #[arg(long, default_value_t = 500)]
        people: usize,
        /// The fake Okta's port; the SCIM directory listens on the next one,
        /// Entra ID and Graph on the one after, then Workday, then Google.
        #[arg(long, default_value_t = 9101)]
        port: u16,
    },
    /// Manage administrators.
    Admin {
        #[command(subcommand)]
        command: AdminCommand,
    },
    /// Fill an organisation with realistic sample contacts.
    Demo {
        #[arg(long, default_value_t = 1000)]
        contacts: u64,
        /// The organisation's name; defaults to the first organisation.
        #[arg(long)]
        org: Option<String>,
    },
    /// Seed a large organisation (kept between runs) and print search and page latencies.
    Bench {
        #[arg(long, default_value_t = 1_000_000)]
        contacts: u64,
        /// How many times each typing sequence and page is measured.
        #[arg(long, default_value_t = 5)]
        rounds: usize,
        /// The benchmark's own database, kept apart from Muster's data.
        #[arg(
            long,
            env = "MUSTER_BENCH_DATABASE_URL",
            default_value = "sqlite://data/bench.db"
        )]
        bench_database_url: String,
    },
    /// Benchmark an incident to every contact of a seeded organisation: the
    /// launch, every email handed to a local SMTP sink, the server's memory.
    BenchIncident {
        #[arg(long, default_value_t = 100_000)]
        recipients: u64,
        #[arg(long, default_value_t = 3)]
        rounds: usize,
        /// The benchmark's own database, emptied first.
        #[arg(
            long,
            env = "MUSTER_BENCH_INCIDENT_DATABASE_URL",
            default_value = "sqlite://data/bench-incident.db"
        )]
        bench_database_url: String,
    },
    /// Generate a CSV file of realistic contacts and time its upload and import
    /// end to end through a server process, beside the database's bulk loader.
    BenchImport {
        #[arg(long, default_value_t = 1_000_000)]
        rows: u64,
        /// The file to import; generated (and kept) when it does not exist.
        #[arg(long)]
        file: Option<std::path::PathBuf>,
        /// Import into an organisation that already has this many contacts
        /// (imported first, and kept for the next runs on SQLite); every
        /// other row of the file updates one of them.
        #[arg(long)]
        into: Option<u64>,
        /// The benchmark's own database, emptied first.
        #[arg(
            long,
            env = "MUSTER_BENCH_IMPORT_DATABASE_URL",
            default_value = "sqlite://data/bench-import.db"
        )]
        bench_database_url: String,
    },
}

#[derive(Subcommand)]
enum AdminCommand {
    /// Create an administrator, and the organisation if it does not exist yet. The
    /// password is read from MUSTER_ADMIN_PASSWORD or else from standard input.
    Create {
        #[arg(long)]
        org: String,
        #[arg(long)]
        email: String,
        /// Default phone region for a new organisation (ISO 3166 code).
        #[arg(long, default_value = "US")]
        region: String,
        /// Time zone for a new organisation (IANA name).
        #[arg(long, default_value = "UTC")]
        time_zone: String,
    },
}

/// glibc's allocator, tuned before any thread starts.
///
/// Arenas: glibc gives threads that allocate at once arenas of their own, up
/// to eight per core, and keeps what is freed in the arena it came from. An
/// import's batches are read and checked on one thread and applied on others
/// (a runtime worker, the database's connection threads), so each arena kept
/// a batch's worth of freed blocks: measured with `bench-import`, the server's
/// peak was 451 MB at 300,000 rows and 881 MB at a million, and 255 MB at
/// 300,000 with two arenas (`MALLOC_ARENA_MAX=2`), which this sets unless the
/// variable is set.
///
/// Large blocks: glibc raises its threshold for giving a large block a mapping of its own
/// to the size of the last such block freed, a little above Argon2's 19 MiB
/// (page rounding). From the second sign-in on, each password hash's block
/// then comes from a thread's arena and stays there when freed: measured,
/// 18 wrong sign-ins at once left 5 arenas of 58 MB (+295 MB). A fixed
/// threshold keeps every block of 1 MiB or more in a mapping of its own,
/// returned to the system when freed.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn tune_allocator() {
    // SAFETY: mallopt only sets an allocator parameter; it is safe to call at
    // any time, from any thread.
    unsafe {
        if std::env::var_os("MALLOC_ARENA_MAX").is_none() {
            libc::mallopt(libc::M_ARENA_MAX, 2);
        }
        libc::mallopt(libc::M_MMAP_THRESHOLD, 1 << 20);
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn tune_allocator() {}

/// A sync holds a whole directory in many small blocks; freed, they stay in
/// glibc's arenas (measured: a process that had synced 100,000 people kept
/// 190 MB it no longer used, and the next sync's peak came on top of it).
/// Called between a sync's phases and when the last running sync has ended,
/// to give them back.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn release_free_memory() {
    // SAFETY: malloc_trim only returns free memory to the system; it is safe
    // to call at any time, from any thread.
    unsafe {
        libc::malloc_trim(0);
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn release_free_memory() {}

fn main() -> anyhow::Result<()> {
    tune_allocator();
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?
        .block_on(run())
}

async fn run() -> anyhow::Result<()> {
    let filter = EnvFilter::try_from_env("MUSTER_LOG")
        .unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn,sea_orm=warn"));
    let format = std::env::var("MUSTER_LOG_FORMAT").unwrap_or_default();
    match format.as_str() {
        // One JSON object a line, for log collectors.
        "json" => tracing_subscriber::fmt()
            .json()
            .with_current_span(true)
            .with_env_filter(filter)
            .init(),
        "" | "text" => tracing_subscriber::fmt().with_env_filter(filter).init(),
        other => anyhow::bail!("MUSTER_LOG_FORMAT={other}: use json or text (the default)"),
    }
    let cli = Cli::parse();
    // A backup reads the database as it is: it must not migrate it first.
    if let Some(Command::Backup { file }) = &cli.command {
        println!("{}", muster::ops::backup(&cli.database_url, file).await?);
        return Ok(());
    }
    let db = muster::open_database(&cli.database_url)
        .await
        .with_context(|| format!("opening the database {}", redact(&cli.database_url)))?;
    // No command means `serve`, with its options read from the environment
    // as they would be for `muster serve`.
    let command = match cli.command {
        Some(command) => command,
        None => Cli::parse_from(["muster", "serve"])
            .command
            .context("parsing the serve command")?,
    };
    match command {
        Command::Serve {
            addr,
            addr_file,
            secure_cookies,
            upload_dir,
            upload_limit_mb,
            import_stale_secs,
            import_batch_rows,
            master_key,
            master_key_file,
            allow_insecure_provider_urls,
            provider_timeout_secs,
            entra_login_url,
            graph_url,
            google_directory_url,
            sync_max_people,
            syncs_per_org,
            sync_deadline_minutes,
            sync_details_days,
            sync_retry_minutes,
            sync_tick_seconds,
            syncs_per_server,
            provider_max_body_mb,
            provider_proxy,
            session_idle_minutes,
            session_lifetime_hours,
            trusted_proxies,
            setup_code,
            scim_requests_per_second,
            smtp_url,
            smtp_from,
            emails_per_second,
            delivery_retry_seconds,
            delivery_batch,
            public_url,
            metrics_addr,
            metrics_token,
            shutdown_grace_seconds,
        } => {
            let options = muster::leptos_options();
            let addr = addr.unwrap_or(options.site_addr);
            let imports = ImportConfig {
                dir: upload_dir,
                // Every server on a PostgreSQL database reads its uploads from it.
                in_database: db.get_database_backend() == sea_orm::DbBackend::Postgres,
                max_bytes: upload_limit_mb.saturating_mul(1024 * 1024),
                stale_after: std::time::Duration::from_secs(import_stale_secs.max(1)),
                batch_rows: import_batch_rows.max(1),
                ..ImportConfig::default()
            };
            job::spawn_sweeper(db.clone(), imports.clone());
            app::backend::db::spawn_checkpointer(db.clone());
            let vault = Vault::load(master_key.as_deref(), &master_key_file)
                .context("loading the master key")?;
            if allow_insecure_provider_urls {
                tracing::warn!(
                    "MUSTER_ALLOW_INSECURE_PROVIDER_URLS is set: integrations may use http:// and private addresses"
                );
            }
            let mut providers = HttpConfig::new(
                allow_insecure_provider_urls,
                std::time::Duration::from_secs(provider_timeout_secs.max(1)),
            );
            let url = |name: &str, value: Option<String>| -> anyhow::Result<Option<reqwest::Url>> {
                value
                    .map(|v| {
                        reqwest::Url::parse(&v).with_context(|| format!("{name} is not a URL: {v}"))
                    })
                    .transpose()
            };
            providers.entra_login_url = url("MUSTER_ENTRA_LOGIN_URL", entra_login_url)?;
            providers.graph_url = url("MUSTER_GRAPH_URL", graph_url)?;
            providers.google_directory_url =
                url("MUSTER_GOOGLE_DIRECTORY_URL", google_directory_url)?;
            providers.max_body = provider_max_body_mb.max(1).saturating_mul(1024 * 1024);
            providers.max_people = sync_max_people.max(1);
            providers.syncs_per_org = syncs_per_org.max(1);
            providers.sync_deadline =
                std::time::Duration::from_secs(sync_deadline_minutes.max(1).saturating_mul(60));
            if let Some(proxy) = url("MUSTER_PROVIDER_PROXY", provider_proxy)? {
                tracing::info!(proxy = %redact(proxy.as_str()), "provider requests go through a proxy");
                providers = providers
                    .with_proxy(proxy)
                    .context("MUSTER_PROVIDER_PROXY")?;
            }
            providers.sync_retries = sync_retry_minutes
                .iter()
                .map(|m| {
                    std::time::Duration::try_from_secs_f64(m * 60.0).with_context(|| {
                        format!("MUSTER_SYNC_RETRY_MINUTES: {m} is not a number of minutes")
                    })
                })
                .collect::<anyhow::Result<_>>()?;
            integrations::spawn_sweeper(
                db.clone(),
                imports.stale_after,
                providers.sync_retries.len(),
            );
            integrations::history::spawn_details_sweeper(
                db.clone(),
                std::time::Duration::from_secs(sync_details_days.max(1).saturating_mul(86_400)),
            );
            let sessions = auth::SessionPolicy {
                idle: std::time::Duration::from_secs(session_idle_minutes.max(1) * 60),
                lifetime: std::time::Duration::from_secs(session_lifetime_hours.max(1) * 3600),
            };
            auth::spawn_session_sweeper(db.clone(), sessions);
            let setup_code = match setup_code.filter(|c| !c.trim().is_empty()) {
                Some(code) => auth::SetupCode::configured(&code)?,
                None => auth::SetupCode::generate(),
            };
            let set_up = auth::org_count(&db).await.map_err(anyhow_app)? > 0;
            let state = AppState::new(db, options, secure_cookies)
                .with_imports(imports)
                .with_vault(vault)
                .with_providers(providers)
                .with_syncs(RunningSyncs::releasing_memory_with(release_free_memory))
                .with_setup_code(setup_code.clone())
                .with_sessions(sessions)
                .with_trusted_proxies(parse_networks(&trusted_proxies)?)
                .with_scim_rate(ScimRate::per_second(scim_requests_per_second))
                .with_metrics_token(metrics_token.as_deref());
            let email = smtp_url
                .filter(|u| !u.trim().is_empty())
                .map(|u| EmailSender::new(&u, &smtp_from, emails_per_second))
                .transpose()
                .map_err(anyhow::Error::msg)?;
            match &email {
                Some(e) => tracing::info!(server = e.server(), "incidents' emails go through SMTP"),
                None => {
                    tracing::warn!("MUSTER_SMTP_URL is not set: incidents cannot be sent by email")
                }
            }
            let retries = delivery_retry_seconds
                .iter()
                .map(|s| {
                    std::time::Duration::try_from_secs_f64(*s).with_context(|| {
                        format!("MUSTER_DELIVERY_RETRY_SECONDS: {s} is not a number of seconds")
                    })
                })
                .collect::<anyhow::Result<_>>()?;
            let public_url = public_url.unwrap_or_else(|| format!("http://{addr}"));
            let state = state.with_outbox(Outbox::new(
                email,
                &public_url,
                OutboxSettings {
                    retries,
                    batch: delivery_batch.max(1),
                    ..OutboxSettings::default()
                },
            ));
            let sender = state
                .outbox
                .clone()
                .spawn(state.db.clone(), state.vault.clone());
            integrations::schedule::Scheduler::new(
                state.db.clone(),
                state.vault.clone(),
                state.providers.clone(),
                state.syncs.clone(),
                state.imports.stale_after,
                std::time::Duration::from_secs(sync_tick_seconds.max(1)),
                syncs_per_server,
            )
            .spawn();
            let listener = tokio::net::TcpListener::bind(addr)
                .await
                .with_context(|| format!("listening on {addr}"))?;
            let addr = listener.local_addr()?;
            if let Some(path) = addr_file {
                // Written whole, then renamed, so a reader never sees half of it.
                let partial = path.with_extension("partial");
                std::fs::write(&partial, addr.to_string())
                    .and_then(|()| std::fs::rename(&partial, &path))
                    .with_context(|| format!("writing {}", path.display()))?;
            }
            tracing::info!("Muster is listening on http://{addr}");
            if !set_up {
                // The one place the code is shown: whoever can read this log
                // runs the server, and only they can set it up.
                tracing::warn!(
                    "Muster is not set up yet: open http://{addr}/setup and enter the setup code {}",
                    setup_code.reveal()
                );
            }
            if let Some(metrics_addr) = metrics_addr {
                let metrics = tokio::net::TcpListener::bind(metrics_addr)
                    .await
                    .with_context(|| format!("listening for metrics on {metrics_addr}"))?;
                tracing::info!("metrics at http://{}/metrics", metrics.local_addr()?);
                let router = muster::telemetry::router(state.clone());
                tokio::spawn(async move { axum::serve(metrics, router).await });
            }
            let stopping = tokio_util::sync::CancellationToken::new();
            let serving = {
                let (service, stopped) = (muster::service(state.clone()), stopping.clone());
                tokio::spawn(async move {
                    axum::serve(listener, service)
                        .with_graceful_shutdown(stopped.cancelled_owned())
                        .await
                })
            };
            shutdown_signal().await;
            stop(&state, stopping, serving, sender, shutdown_grace_seconds).await;
        }
        Command::Migrate => println!("Database is up to date."),
        Command::Backup { .. } => unreachable!("handled before the database is opened"),
        Command::FakeProviders { people, port } => fake_providers(people, port).await?,
        Command::BenchSync {
            people,
            rounds,
            then,
            bench_database_url,
        } => {
            muster::bench_sync::run(muster::bench_sync::SyncOptions {
                database_url: bench_database_url,
                people,
                rounds,
                then,
            })
            .await?
        }
        Command::BenchScim {
            users,
            concurrency,
            seconds,
            rounds,
            reference,
            bench_database_url,
        } => {
            muster::bench_scim::run(muster::bench_scim::ScimBenchOptions {
                database_url: bench_database_url,
                users,
                concurrency,
                seconds,
                rounds,
                reference: (reference != "none").then(|| reference.into()),
            })
            .await?
        }
        Command::BenchSignIn {
            flood,
            rounds,
            bench_database_url,
        } => {
            muster::bench_sign_in::run(muster::bench_sign_in::SignInOptions {
                database_url: bench_database_url,
                flood,
                rounds,
            })
            .await?
        }
        Command::Bench {
            contacts,
            rounds,
            bench_database_url,
        } => {
            muster::bench::run(muster::bench::Options {
                database_url: bench_database_url,
                contacts,
                rounds,
            })
            .await?;
        }
        Command::BenchIncident {
            recipients,
            rounds,
            bench_database_url,
        } => {
            muster::bench_incident::run(muster::bench_incident::IncidentOptions {
                database_url: bench_database_url,
                recipients,
                rounds: rounds.max(1),
            })
            .await?;
        }
        Command::BenchImport {
            rows,
            file,
            into,
            bench_database_url,
        } => {
            muster::bench_import::run(muster::bench_import::ImportOptions {
                database_url: bench_database_url,
                rows,
                file,
                into,
            })
            .await?;
        }
        Command::Admin {
            command:
                AdminCommand::Create {
                    org,
                    email,
                    region,
                    time_zone,
                },
        } => {
            let password = match std::env::var("MUSTER_ADMIN_PASSWORD") {
                Ok(p) => p,
                Err(_) => {
                    let mut s = String::new();
                    std::io::stdin().read_to_string(&mut s)?;
                    s.trim_end_matches(['\r', '\n']).to_string()
                }
            };
            let existing = auth::org_by_name(&db, &org).await.map_err(anyhow_app)?;
            match existing {
                Some(o) => {
                    auth::create_admin(&db, OrgId::trusted(o.id), &email, &password)
                        .await
                        .map_err(anyhow_app)?;
                    println!("Added administrator {email} to {}.", o.name);
                }
                None => {
                    let new = auth::NewOrganisation {
                        name: org.clone(),
                        default_region: region,
                        time_zone,
                    };
                    auth::create_org_with_admin(&db, &new, &email, &password)
                        .await
                        .map_err(anyhow_app)?;
                    println!("Created organisation {org} with administrator {email}.");
                }
            }
        }
        Command::Demo { contacts, org } => {
            let org = match org {
                Some(name) => auth::org_by_name(&db, &name).await.map_err(anyhow_app)?,
                None => first_org(&db).await?,
            };
            let Some(org) = org else {
                bail!(
                    "No organisation yet: open Muster to set one up, or run `muster admin create`."
                );
            };
            let started = std::time::Instant::now();
            let n = demo::seed(&db, OrgId::trusted(org.id), contacts, |done| {
                eprintln!("  {done} / {contacts} contacts");
            })
            .await
            .map_err(anyhow_app)?;
            app::backend::db::analyze(&db).await?;
            println!(
                "Added {n} sample contacts to {} in {:.1} s.",
                org.name,
                started.elapsed().as_secs_f64()
            );
        }
    }
    Ok(())
}

/// The first organisation made (the one `muster demo` fills by default).
async fn first_org(db: &sea_orm::DatabaseConnection) -> anyhow::Result<Option<auth::OrgRow>> {
    use app::backend::db::entities::organisation;
    use sea_orm::{EntityTrait, QueryOrder};
    Ok(organisation::Entity::find()
        .order_by_asc(organisation::Column::Id)
        .one(db)
        .await?)
}

fn anyhow_app(e: app::model::AppError) -> anyhow::Error {
    match e {
        app::model::AppError::Invalid(fields) => anyhow::anyhow!(
            "{}",
            fields
                .iter()
                .map(|f| format!("{}: {}", f.field, f.message))
                .collect::<Vec<_>>()
                .join("\n")
        ),
        other => anyhow::anyhow!("{other}"),
    }
}

/// Hide the password part of a database URL.
/// `MUSTER_TRUSTED_PROXIES`: addresses (one host each) or CIDR ranges.
fn parse_networks(items: &[String]) -> anyhow::Result<Vec<ipnet::IpNet>> {
    items
        .iter()
        .map(|s| s.trim())
        .filter(|s| !s.is_empty())
        .map(|s| {
            s.parse::<ipnet::IpNet>()
                .or_else(|_| s.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
                .with_context(|| {
                    format!("MUSTER_TRUSTED_PROXIES: {s} is not an address or a CIDR range")
                })
        })
        .collect()
}

fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => {
            let creds = &url[s + 3..at];
            match creds.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..s + 3], &url[at..]),
                None => url.to_string(),
            }
        }
        _ => url.to_string(),
    }
}

/// Stop serving: no new connections; requests in flight finish; imports stop
/// after the batch in hand (to be resumed by the next server), syncs stop as
/// interrupted (to run again at once), the outbox puts back what it has not
/// handed over. All within `grace_seconds`; past it, whatever is still
/// running is dropped, which loses nothing committed (each import batch and
/// each recorded delivery is its own transaction) and the sweepers recover.
async fn stop(
    state: &AppState,
    stopping: tokio_util::sync::CancellationToken,
    serving: tokio::task::JoinHandle<std::io::Result<()>>,
    sender: tokio::task::JoinHandle<()>,
    grace_seconds: u64,
) {
    stopping.cancel();
    state.outbox.stop();
    state.syncs.stop_all();
    let work = async {
        let (served, (), (), _) = tokio::join!(
            serving,
            job::stop(&state.imports),
            state.syncs.idle(),
            sender,
        );
        if let Ok(Err(e)) = served {
            tracing::error!("serving: {e}");
        }
    };
    let grace = std::time::Duration::from_secs(grace_seconds);
    match tokio::time::timeout(grace, work).await {
        Ok(()) => tracing::info!("stopped"),
        Err(_) => tracing::warn!(
            "stopping took longer than {grace_seconds} s (MUSTER_SHUTDOWN_GRACE_SECONDS): \
             exiting anyway; what was committed stays, and the rest is taken up again \
             when a server starts"
        ),
    }
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        if let Ok(mut s) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        {
            s.recv().await;
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = terminate => {},
    }
    tracing::info!("shutting down");
}

async fn fake_providers(people: usize, port: u16) -> anyhow::Result<()> {
    use muster::fakes::{entra::FakeEntra, okta::FakeOkta, scim::FakeScim, FakeOrg};
    let org = FakeOrg::generate(people, 42);
    let okta_token = "00fake-okta-token-for-muster-demo";
    let scim_token = "fake-scim-token-for-muster-demo";
    let okta = FakeOkta::new(org.clone(), okta_token)
        .start(port)
        .await
        .with_context(|| format!("listening on 127.0.0.1:{port}"))?;
    let scim_port = port.checked_add(1).context("port out of range")?;
    let scim = FakeScim::new(org.clone(), scim_token)
        .start(scim_port)
        .await
        .with_context(|| format!("listening on 127.0.0.1:{scim_port}"))?;
    let entra_port = port.checked_add(2).context("port out of range")?;
    let (tenant, client_id, secret) = (
        "contoso.onmicrosoft.com",
        "11111111-2222-3333-4444-555555555555",
        "fake~entra~client~secret",
    );
    let entra = FakeEntra::new(org.clone(), tenant, client_id, secret)
        .start(entra_port)
        .await
        .with_context(|| format!("listening on 127.0.0.1:{entra_port}"))?;
    println!(
        "Fake providers with {people} people ({} active) and {} groups.\n",
        org.active(),
        org.groups.len()
    );
    println!("Start Muster with MUSTER_ALLOW_INSECURE_PROVIDER_URLS=true, then in Integrations:\n");
    println!("Okta");
    println!("  Domain     {}", okta.url());
    println!("  API Token  {okta_token}\n");
    println!("SCIM 2.0 directory");
    println!("  SCIM API URL  {}/scim/v2", scim.url());
    println!("  Access Token  {scim_token}\n");
    println!(
        "Microsoft Entra ID (start Muster with MUSTER_ENTRA_LOGIN_URL={0} MUSTER_GRAPH_URL={0})",
        entra.url()
    );
    println!("  Tenant ID      {tenant}");
    println!("  Client ID      {client_id}");
    println!("  Client Secret  {secret}\n");
    let workday_port = port.checked_add(3).context("port out of range")?;
    let workday = muster::fakes::workday::FakeWorkday::new(
        org.clone(),
        "ISU_Muster",
        "fake-workday-password",
    )
    .start(workday_port)
    .await
    .with_context(|| format!("listening on 127.0.0.1:{workday_port}"))?;
    println!("Workday");
    println!(
        "  Report URL  {}{}",
        workday.url(),
        muster::fakes::workday::FakeWorkday::report_path()
    );
    println!("  Username    ISU_Muster");
    println!("  Password    fake-workday-password\n");
    let google_port = port.checked_add(4).context("port out of range")?;
    let google_fake = muster::fakes::google::FakeGoogle::new(org.clone(), "admin@example.com");
    let google_url = format!("http://127.0.0.1:{google_port}");
    let key_path = std::path::Path::new("data/fake-google-credentials.json");
    if let Some(dir) = key_path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(key_path, google_fake.credentials_json(&google_url))?;
    let _google = google_fake
        .start(google_port)
        .await
        .with_context(|| format!("listening on {google_url}"))?;
    println!("Google Workspace (start Muster with MUSTER_GOOGLE_DIRECTORY_URL={google_url})");
    println!("  Credentials JSON  the contents of {}", key_path.display());
    println!("  Email Address     admin@example.com\n");
    let smtp_port = port.checked_add(5).context("port out of range")?;
    let sink = muster::fakes::smtp::start(smtp_port)
        .await
        .with_context(|| format!("listening on 127.0.0.1:{smtp_port}"))?;
    let inbox_port = port.checked_add(6).context("port out of range")?;
    let inbox = muster::fakes::serve(
        sink.sink.clone(),
        muster::fakes::smtp::router(sink.sink.clone()),
        Default::default(),
        inbox_port,
    )
    .await
    .with_context(|| format!("listening on 127.0.0.1:{inbox_port}"))?;
    println!(
        "An SMTP sink that keeps every email (start Muster with MUSTER_SMTP_URL={})",
        sink.url()
    );
    println!("  Its emails, as JSON  {}/messages\n", inbox.url());
    let twilio_port = port.checked_add(7).context("port out of range")?;
    let (sid, token, number) = muster::fakes::twilio::DEMO;
    let twilio = muster::fakes::twilio::start(
        muster::fakes::twilio::Twilio::new(sid, token, &[number]),
        twilio_port,
    )
    .await
    .with_context(|| format!("listening on 127.0.0.1:{twilio_port}"))?;
    println!(
        "Twilio (Settings → SMS; its texts, as JSON: {}/messages)",
        twilio.url()
    );
    println!("  Account SID  {sid}");
    println!("  Auth token   {token}");
    println!("  Sends as     {number}");
    println!("  Base URL     {}\n", twilio.url());
    println!("Press Ctrl-C to stop.");
    shutdown_signal().await;
    Ok(())
}
