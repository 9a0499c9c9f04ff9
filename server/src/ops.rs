//! What operators and orchestrators ask of a running server: whether the
//! process answers (`/healthz`), whether it can serve (`/readyz`: the
//! database answers and has every migration), and a consistent copy of a
//! SQLite database while Muster runs (`muster backup`).

use anyhow::{bail, Context};
use app::backend::{db, AppState};
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use sea_orm::{ConnectionTrait, DbBackend, Statement};
use serde_json::json;
use std::path::Path;

/// `GET /healthz`: the process answers. Nothing else is looked at, so that a
/// slow database does not get a healthy process restarted.
pub async fn healthz() -> &'static str {
    "ok"
}

/// `GET /readyz`: 200 when the database answers and is migrated, else 503
/// with why (a load balancer sends no traffic meanwhile).
pub async fn readyz(State(state): State<AppState>) -> Response {
    let not_ready = |reason: String| {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({ "status": "not ready", "reason": reason })),
        )
            .into_response()
    };
    if let Err(e) = state.db.ping().await {
        return not_ready(format!("the database does not answer: {e}"));
    }
    match db::pending_migrations(&state.db).await {
        Ok(0) => Json(json!({ "status": "ready" })).into_response(),
        Ok(n) => not_ready(format!(
            "the database lacks {n} migration(s): a server of this release applies them when it starts"
        )),
        Err(e) => not_ready(format!("the migrations could not be read: {e}")),
    }
}

/// Copy the SQLite database at `url` to `file` (which must not exist), as
/// of one moment, while Muster may be writing to it; what to tell the
/// operator.
pub async fn backup(url: &str, file: &Path) -> anyhow::Result<String> {
    if url.starts_with("postgres") {
        bail!(
            "muster backup copies SQLite databases. For PostgreSQL, use its own tool while Muster runs: \
             pg_dump --format=custom --file={} \"$DATABASE_URL\"",
            file.display()
        );
    }
    if file.exists() {
        bail!(
            "{} exists: a backup never overwrites a file; choose a new name",
            file.display()
        );
    }
    let path = file
        .to_str()
        .context("the backup's file name is not valid UTF-8")?;
    let conn = db::connect(url).await?;
    // SQLite's own consistent copy (one read transaction); sea-query has no
    // VACUUM statement.
    conn.execute_raw(Statement::from_sql_and_values(
        DbBackend::Sqlite,
        "VACUUM INTO ?",
        [path.into()],
    ))
    .await
    .with_context(|| format!("copying the database to {}", file.display()))?;
    let copy = db::connect(&format!("sqlite://{path}")).await?;
    let check = copy
        .query_one_raw(Statement::from_string(
            DbBackend::Sqlite,
            "PRAGMA quick_check",
        ))
        .await?
        .and_then(|r| r.try_get_by_index::<String>(0).ok())
        .unwrap_or_default();
    if check != "ok" {
        bail!(
            "the copy in {} does not pass SQLite's check: {check}",
            file.display()
        );
    }
    let size = std::fs::metadata(file).map(|m| m.len()).unwrap_or(0);
    Ok(format!(
        "Backed up to {} ({:.1} MB), checked. Integration credentials and SMS tokens in it are \
         sealed with the master key: keep the key (MUSTER_MASTER_KEY, or the key file, \
         data/master.key by default) safe and apart from the backup, or they cannot be opened \
         after a restore.",
        file.display(),
        size as f64 / 1e6
    ))
}
