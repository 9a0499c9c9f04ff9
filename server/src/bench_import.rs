//! `muster bench-import`: generate a large CSV file of realistic contacts (some
//! rows invalid), then upload and import it end to end through a real server
//! process, and print rows per second and the server's peak memory beside the
//! database's own bulk loader on the same file.

use crate::process::ServerProcess;
use anyhow::bail;
use app::backend::domain::ValidContact;
use app::backend::{auth, demo};
use rand::{rngs::SmallRng, Rng, SeedableRng};
use reqwest::Client;
use sea_orm::ConnectionTrait;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

pub(crate) const ADMIN: &str = "bench@muster.example";
pub(crate) const PASSWORD: &str = "benchmark password, not secret";

/// One row in this many has an invalid email or phone.
const INVALID_EVERY: u64 = 50;

pub struct ImportOptions {
    pub database_url: String,
    pub rows: u64,
    pub file: Option<PathBuf>,
    /// Import into an organisation that already has this many contacts (the
    /// `--into` file of that size, imported first), half the rows updating them.
    pub into: Option<u64>,
}

pub async fn run(opts: ImportOptions) -> anyhow::Result<()> {
    let file = opts.file.clone().unwrap_or_else(|| {
        PathBuf::from(match opts.into {
            None => format!("data/bench-import-{}.csv", opts.rows),
            Some(into) => format!("data/bench-import-{}-into-{into}.csv", opts.rows),
        })
    });
    if !file.exists() {
        let started = Instant::now();
        match opts.into {
            None => generate(&file, opts.rows)?,
            Some(into) => generate_into(&file, opts.rows, into)?,
        }
        println!(
            "Generated {} in {:.1} s",
            file.display(),
            started.elapsed().as_secs_f64()
        );
    }
    let bytes = std::fs::metadata(&file)?.len();
    println!(
        "File: {} ({} rows, {:.1} MB)\n",
        file.display(),
        opts.rows,
        bytes as f64 / 1e6
    );

    let sqlite = !opts.database_url.starts_with("postgres");
    match opts.into {
        None => fresh_database(&opts.database_url, sqlite).await?,
        Some(into) => seeded_database(&opts.database_url, sqlite, into).await?,
    }
    let server = start_server(&opts.database_url).await?;
    let client = sign_in(&server.url).await?;
    let m = import(&server.url, &client, &file).await?;
    let peak = server.peak_memory_kb();
    if std::env::var_os("MUSTER_BENCH_MEMORY").is_some() {
        let status = server.status().unwrap_or_default();
        for line in status
            .lines()
            .filter(|l| l.starts_with("Rss") || l.starts_with("Vm"))
        {
            println!("  {line}");
        }
    }
    drop(server);

    let job = &m.job;
    println!("Status: {}", job["status"]);
    println!(
        "Counts: created {}, updated {}, unchanged {}, failed {}, warnings {}",
        job["created"], job["updated"], job["unchanged"], job["failed"], job["warnings"]
    );
    if let Some(into) = opts.into {
        println!("Into an organisation of {into} contacts");
    }
    println!(
        "First byte to summary (rows committed, listed, filterable): {:.1} s, {:.0} rows/s",
        m.summary.as_secs_f64(),
        opts.rows as f64 / m.summary.as_secs_f64()
    );
    println!(
        "First byte to every row found by search: {:.1} s ({} contacts indexed after the summary)",
        m.searchable.as_secs_f64(),
        job["index_total"]
    );
    println!(
        "Progress: {} updates read, longest without a change {:.2} s",
        m.updates,
        m.longest_still.as_secs_f64()
    );
    match peak {
        Some(kb) => println!("Server peak memory (VmHWM): {:.0} MB", kb as f64 / 1024.0),
        None => println!("Server peak memory: not available on this system"),
    }

    println!();
    if sqlite {
        reference_sqlite(&file)?;
    } else {
        reference_postgres(&opts.database_url, &file)?;
    }
    Ok(())
}

/// `muster serve` on `database_url`, in a process of its own.
async fn start_server(database_url: &str) -> anyhow::Result<ServerProcess> {
    let level = std::env::var("MUSTER_LOG").unwrap_or_else(|_| "warn".into());
    ServerProcess::start_bench(
        database_url,
        &[("MUSTER_UPLOAD_LIMIT_MB", "1024"), ("MUSTER_LOG", &level)],
    )
    .await
}

/// What one import measured.
struct Measured {
    /// The job as its last poll read it.
    job: serde_json::Value,
    /// From the first byte uploaded to the summary, and to every row searchable.
    summary: Duration,
    searchable: Duration,
    /// How often the progress read changed, and the longest it stood still.
    updates: u32,
    longest_still: Duration,
}

/// Upload `file` to the server at `url` as `client`, confirm its mapping as
/// proposed, and poll as the browser does until every row is searchable.
async fn import(url: &str, client: &Client, file: &Path) -> anyhow::Result<Measured> {
    let bytes = std::fs::metadata(file)?.len();
    let started = Instant::now();
    let body = reqwest::Body::from(tokio::fs::File::open(file).await?);
    let res = client
        .post(format!("{url}/imports"))
        .query(&[("name", "bench.csv")])
        .header(reqwest::header::CONTENT_LENGTH, bytes)
        .body(body)
        .send()
        .await?;
    let status = res.status();
    let preview: serde_json::Value = res.json().await?;
    if !status.is_success() {
        bail!("upload refused: {preview}");
    }
    println!(
        "Upload and check: {:.1} s ({} rows counted)",
        started.elapsed().as_secs_f64(),
        preview["total_rows"]
    );
    let id = preview["job_id"].as_i64().unwrap_or_default().to_string();
    let mut form = vec![("id".to_string(), id.clone())];
    for (i, c) in preview["columns"]
        .as_array()
        .into_iter()
        .flatten()
        .enumerate()
    {
        let field = c["field"].as_str().unwrap_or_default().to_string();
        form.push((format!("fields[{i}]"), field));
    }
    let res = client
        .post(format!("{url}/api/start_import"))
        .form(&form)
        .send()
        .await?;
    if !res.status().is_success() {
        bail!("start refused: {}", res.text().await?);
    }

    // Poll as the browser does, and note how often the progress moved: the
    // rows, then the search index catching up.
    let mut updates = 0u32;
    // The summary replacing the progress bar is a change too.
    let mut last = (true, 0u64, 0u64);
    let mut longest_still = Duration::ZERO;
    let mut moved_at = Instant::now();
    let mut summary = None;
    let job = loop {
        tokio::time::sleep(Duration::from_millis(250)).await;
        let job: serde_json::Value = client
            .post(format!("{url}/api/import_job"))
            .form(&[("id", id.as_str())])
            .send()
            .await?
            .json()
            .await?;
        let number = |key: &str| job[key].as_u64().unwrap_or_default();
        let (processed, indexed, index_total) = (
            number("processed_rows"),
            number("indexed"),
            number("index_total"),
        );
        let running = job["status"] == "running";
        if (running, processed, indexed) != last {
            updates += 1;
            last = (running, processed, indexed);
            longest_still = longest_still.max(moved_at.elapsed());
            moved_at = Instant::now();
        }
        if !running && summary.is_none() {
            summary = Some(started.elapsed());
            eprintln!();
        }
        if running {
            eprint!(
                "\r  {processed} / {} rows  ({:.1} s)   ",
                job["total_rows"],
                started.elapsed().as_secs_f64()
            );
        } else {
            eprint!(
                "\r  indexing for search: {indexed} / {index_total}  ({:.1} s)   ",
                started.elapsed().as_secs_f64()
            );
        }
        if !running && indexed >= index_total {
            eprintln!();
            break job;
        }
    };
    let searchable = started.elapsed();
    Ok(Measured {
        job,
        summary: summary.unwrap_or(searchable),
        searchable,
        updates,
        longest_still,
    })
}

/// The benchmark's database with one organisation of `into` contacts: those
/// of `data/bench-import-{into}.csv`, imported through a server as a user
/// would. On SQLite the result is kept (`data/bench-import-seed-{into}.db`)
/// and copied for the next runs.
async fn seeded_database(url: &str, sqlite: bool, into: u64) -> anyhow::Result<()> {
    let kept = PathBuf::from(format!("data/bench-import-seed-{into}.db"));
    let path = sqlite_path(url);
    if sqlite && kept.exists() {
        remove_sqlite(&path);
        std::fs::copy(&kept, &path)?;
        println!(
            "Organisation of {into} contacts: copied from {}",
            kept.display()
        );
        return Ok(());
    }
    let seed = PathBuf::from(format!("data/bench-import-{into}.csv"));
    if !seed.exists() {
        generate(&seed, into)?;
    }
    fresh_database(url, sqlite).await?;
    let started = Instant::now();
    println!(
        "Organisation of {into} contacts: importing {}",
        seed.display()
    );
    let server = start_server(url).await?;
    let client = sign_in(&server.url).await?;
    let m = import(&server.url, &client, &seed).await?;
    if !server.terminate(Duration::from_secs(60)).await {
        bail!("the server that imported the organisation's contacts did not stop");
    }
    println!(
        "Organisation ready in {:.1} s: {} contacts created",
        started.elapsed().as_secs_f64(),
        m.job["created"]
    );
    if sqlite {
        // A consistent copy, for the next runs.
        crate::ops::backup(url, &kept).await?;
    }
    Ok(())
}

/// The file of a `sqlite://` URL.
fn sqlite_path(url: &str) -> String {
    url.trim_start_matches("sqlite://")
        .split('?')
        .next()
        .unwrap_or_default()
        .to_string()
}

/// Delete a SQLite database and its journal files.
fn remove_sqlite(path: &str) {
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{path}{suffix}"));
    }
}

/// A CSV file of `rows` generated people, one in [`INVALID_EVERY`] invalid.
fn generate(path: &Path, rows: u64) -> anyhow::Result<()> {
    let mut out = csv_file(path)?;
    let mut rng = SmallRng::seed_from_u64(7);
    for n in 0..rows {
        let (c, broken) = generated(&mut rng, n);
        write_row(&mut out, &c, broken)?;
    }
    out.flush()?;
    Ok(())
}

/// A CSV file of `rows` rows for the organisation [`generate`] makes of
/// `into` people: every other row updates one of them (found by email; its
/// department, job title, office and groups change), the others are new people.
fn generate_into(path: &Path, rows: u64, into: u64) -> anyhow::Result<()> {
    let updates = rows / 2;
    let every = (into / updates.max(1)).max(1);
    // The organisation's people as `generate` made them; the valid ones only.
    let mut seeded = SmallRng::seed_from_u64(7);
    let mut existing = Vec::with_capacity(updates as usize);
    for n in 0..into {
        let (c, broken) = generated(&mut seeded, n);
        if n % every == 0 && broken.is_none() && (existing.len() as u64) < updates {
            existing.push(c);
        }
    }
    let mut out = csv_file(path)?;
    let mut rng = SmallRng::seed_from_u64(11);
    let mut existing = existing.into_iter();
    for n in 0..rows {
        let fresh = demo::sample(&mut rng, into + n);
        let update = if n % 2 == 0 { existing.next() } else { None };
        let row = match update {
            Some(c) => ValidContact {
                department: fresh.department,
                role: fresh.role,
                location: fresh.location,
                groups: fresh.groups,
                ..c
            },
            None => fresh,
        };
        write_row(&mut out, &row, None)?;
    }
    out.flush()?;
    Ok(())
}

/// Person `n` of a generated file, and how it is broken when it is one of
/// the invalid rows (`Some(true)`: its email, `Some(false)`: its phone).
fn generated(rng: &mut SmallRng, n: u64) -> (ValidContact, Option<bool>) {
    let c = demo::sample(rng, n);
    let broken = (n % INVALID_EVERY == INVALID_EVERY - 1).then(|| rng.random_range(0..2) == 0);
    (c, broken)
}

/// A new CSV file with the benchmark's header.
fn csv_file(path: &Path) -> anyhow::Result<std::io::BufWriter<std::fs::File>> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let mut out = std::io::BufWriter::with_capacity(1 << 20, std::fs::File::create(path)?);
    writeln!(
        out,
        "First Name,Last Name,Email,Mobile Phone,Department,Job Title,Office,Groups"
    )?;
    Ok(out)
}

/// `c` as a row of the benchmark's file, its email or phone made invalid as `broken` says.
fn write_row(out: &mut impl Write, c: &ValidContact, broken: Option<bool>) -> anyhow::Result<()> {
    let mut email = c
        .email
        .as_ref()
        .map(|e| e.as_str().to_string())
        .unwrap_or_default();
    let mut phone = c
        .phone
        .as_ref()
        .map(|p| national(p.as_str()))
        .unwrap_or_default();
    match broken {
        Some(true) => email = email.replace('@', " at "),
        Some(false) => phone = "12345".into(),
        None => {}
    }
    let mut w = csv::Writer::from_writer(Vec::with_capacity(160));
    w.write_record([
        c.first_name.as_str(),
        &c.last_name,
        &email,
        &phone,
        c.department.as_deref().unwrap_or_default(),
        c.role.as_deref().unwrap_or_default(),
        c.location.as_deref().unwrap_or_default(),
        &c.groups.join(";"),
    ])?;
    out.write_all(&w.into_inner().map_err(|e| anyhow::anyhow!("{e}"))?)?;
    Ok(())
}

/// +447123456789 as people type it in the UK: 07123 456789.
fn national(e164: &str) -> String {
    match e164.strip_prefix("+44") {
        Some(rest) if rest.len() == 10 => format!("0{} {}", &rest[..4], &rest[4..]),
        _ => e164.to_string(),
    }
}

/// Start from an empty database with one organisation and its administrator.
pub(crate) async fn fresh_database(url: &str, sqlite: bool) -> anyhow::Result<()> {
    if sqlite {
        remove_sqlite(&sqlite_path(url));
    } else {
        let conn = app::backend::db::connect(url).await?;
        conn.execute_unprepared("DROP SCHEMA public CASCADE; CREATE SCHEMA public;")
            .await?;
    }
    let conn = crate::open_database(url).await?;
    let new = auth::NewOrganisation {
        name: "Benchmark Organisation".into(),
        default_region: "GB".into(),
        time_zone: "UTC".into(),
    };
    auth::create_org_with_admin(&conn, &new, ADMIN, PASSWORD)
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    Ok(())
}

const REFERENCE_TABLE: &str = "CREATE TABLE reference (first_name TEXT, last_name TEXT, \
     email TEXT, phone TEXT, department TEXT, role TEXT, location TEXT, groups TEXT)";

/// SQLite's own CSV loader into a plain table, with no checks and no indexes.
fn reference_sqlite(file: &Path) -> anyhow::Result<()> {
    let db = std::env::temp_dir().join(format!("muster-reference-{}.db", std::process::id()));
    let _ = std::fs::remove_file(&db);
    let started = Instant::now();
    let out = Command::new("sqlite3")
        .arg(&db)
        .arg(format!("{REFERENCE_TABLE};"))
        .arg(format!(
            ".import --csv --skip 1 {} reference",
            file.display()
        ))
        .output();
    let elapsed = started.elapsed();
    let _ = std::fs::remove_file(&db);
    match out {
        Ok(o) if o.status.success() => println!(
            "Reference, sqlite3 .import into a plain table: {:.1} s",
            elapsed.as_secs_f64()
        ),
        Ok(o) => println!(
            "Reference: sqlite3 failed: {}",
            String::from_utf8_lossy(&o.stderr)
        ),
        Err(_) => println!("Reference: sqlite3 is not installed"),
    }
    Ok(())
}

/// PostgreSQL's COPY into a plain table, with no checks and no indexes.
fn reference_postgres(url: &str, file: &Path) -> anyhow::Result<()> {
    let psql = |sql: &str| {
        Command::new("psql")
            .args([url, "-q", "-v", "ON_ERROR_STOP=1", "-c", sql])
            .output()
    };
    let _ = psql("DROP TABLE IF EXISTS reference");
    psql(REFERENCE_TABLE)?;
    let started = Instant::now();
    let out = psql(&format!(
        "\\copy reference FROM '{}' WITH (FORMAT csv, HEADER)",
        file.display()
    ));
    let elapsed = started.elapsed();
    let _ = psql("DROP TABLE reference");
    match out {
        Ok(o) if o.status.success() => println!(
            "Reference, PostgreSQL COPY into a plain table: {:.1} s",
            elapsed.as_secs_f64()
        ),
        Ok(o) => println!(
            "Reference: COPY failed: {}",
            String::from_utf8_lossy(&o.stderr)
        ),
        Err(_) => println!("Reference: psql is not installed"),
    }
    Ok(())
}

/// A client signed in as the benchmark's administrator on the server at `url`.
pub async fn sign_in(url: &str) -> anyhow::Result<Client> {
    let client = Client::builder().cookie_store(true).build()?;
    let res = client
        .post(format!("{url}/api/login"))
        .form(&[("email", ADMIN), ("password", PASSWORD)])
        .send()
        .await?;
    if !res.status().is_success() {
        bail!("sign-in failed: {}", res.status());
    }
    Ok(client)
}
