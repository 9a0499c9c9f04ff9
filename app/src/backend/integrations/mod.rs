//! Connected integrations: stored with their secrets sealed by the vault,
//! listed for the Integrations tab, removed with what they imported.
//! Every statement is scoped by the caller's organisation.

pub mod sync;

use crate::backend::auth::OrgId;
use crate::backend::connectors::Credentials;
use crate::backend::db::{begin_write, from_ms, now_ms, Sql};
use crate::backend::vault::Vault;
use crate::model::{AppError, Integration, IntegrationStatus, Provider, SecretState, SyncResult};
use sea_orm::{ConnectionTrait, DatabaseConnection, FromQueryResult};
use std::collections::BTreeMap;
use std::time::Duration;

#[derive(FromQueryResult)]
struct Row {
    id: i64,
    provider: String,
    settings: String,
    secrets_set: String,
    status: String,
    last_error: Option<String>,
    last_result: Option<String>,
    last_sync_at: Option<i64>,
    created_at: i64,
    contact_count: i64,
}

const COLUMNS: &str = "i.id, i.provider, i.settings, i.secrets_set, i.status, i.last_error, \
     i.last_result, i.last_sync_at, i.created_at, \
     (SELECT COUNT(*) FROM contacts c WHERE c.org_id = i.org_id AND c.integration_id = i.id) \
     AS contact_count";

fn json<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_string(value).expect("maps of strings serialise")
}

fn to_model(r: Row) -> Result<Integration, AppError> {
    let provider = Provider::parse(&r.provider)
        .ok_or_else(|| AppError::internal(format!("unknown provider {}", r.provider)))?;
    let settings: BTreeMap<String, String> =
        serde_json::from_str(&r.settings).map_err(AppError::internal)?;
    let set: BTreeMap<String, i64> =
        serde_json::from_str(&r.secrets_set).map_err(AppError::internal)?;
    let secrets = provider
        .fields()
        .iter()
        .filter_map(|f| {
            set.get(f.key).map(|at| SecretState {
                key: f.key.to_string(),
                label: f.label.to_string(),
                set_at: from_ms(*at),
            })
        })
        .collect();
    let mut out = Integration {
        id: r.id,
        provider,
        status: IntegrationStatus::parse(&r.status).unwrap_or(IntegrationStatus::Failed),
        settings,
        secrets,
        contact_count: r.contact_count,
        last_sync_at: r.last_sync_at.map(from_ms),
        last_error: r.last_error,
        last_result: r
            .last_result
            .as_deref()
            .and_then(|t| serde_json::from_str::<SyncResult>(t).ok()),
        expiry_warning: None,
        created_at: from_ms(r.created_at),
    };
    out.expiry_warning = out.expiry(chrono::Utc::now().date_naive());
    Ok(out)
}

/// Save a new integration with its credentials, secrets sealed.
pub async fn create(
    db: &DatabaseConnection,
    vault: &Vault,
    org: OrgId,
    provider: Provider,
    credentials: &Credentials,
) -> Result<Integration, AppError> {
    let now = now_ms();
    let tx = begin_write(db).await?;
    let mut sql = Sql::new(tx.get_database_backend());
    sql.push(
        "INSERT INTO integrations (org_id, provider, settings, secrets, secrets_set, status, \
         created_at, updated_at) VALUES ",
    )
    .bind_list::<sea_orm::Value>([
        org.get().into(),
        provider.key().into(),
        json(&credentials.settings).into(),
        "".into(),
        "{}".into(),
        IntegrationStatus::Connected.as_str().into(),
        now.into(),
        now.into(),
    ])
    .push(" RETURNING id");
    let id = sql
        .scalar_i64(&tx)
        .await?
        .ok_or_else(|| AppError::internal("insert returned no id"))?;
    write_secrets(&tx, vault, org, id, &credentials.secrets, &BTreeMap::new()).await?;
    tx.commit().await?;
    get(db, org, id).await
}

/// Seal `secrets` for integration `id` and record when each was set; those
/// in `kept` (already stored) keep their date.
async fn write_secrets(
    db: &impl ConnectionTrait,
    vault: &Vault,
    org: OrgId,
    id: i64,
    secrets: &BTreeMap<String, String>,
    kept: &BTreeMap<String, i64>,
) -> Result<(), AppError> {
    let now = now_ms();
    let set: BTreeMap<&String, i64> = secrets
        .keys()
        .map(|k| (k, kept.get(k).copied().unwrap_or(now)))
        .collect();
    let sealed = vault.seal(org, id, json(secrets).as_bytes());
    let mut sql = Sql::new(db.get_database_backend());
    sql.push("UPDATE integrations SET secrets = ")
        .bind(sealed)
        .push(", secrets_set = ")
        .bind(json(&set))
        .push(", updated_at = ")
        .bind(now)
        .push(" WHERE id = ")
        .bind(id)
        .push(" AND org_id = ")
        .bind(org.get());
    sql.execute(db).await?;
    Ok(())
}

pub async fn list(db: &impl ConnectionTrait, org: OrgId) -> Result<Vec<Integration>, AppError> {
    let mut sql = Sql::new(db.get_database_backend());
    sql.push(&format!(
        "SELECT {COLUMNS} FROM integrations i WHERE i.org_id = "
    ))
    .bind(org.get())
    .push(" ORDER BY i.id");
    sql.all::<Row>(db)
        .await?
        .into_iter()
        .map(to_model)
        .collect()
}

pub async fn get(db: &impl ConnectionTrait, org: OrgId, id: i64) -> Result<Integration, AppError> {
    let mut sql = Sql::new(db.get_database_backend());
    sql.push(&format!(
        "SELECT {COLUMNS} FROM integrations i WHERE i.org_id = "
    ))
    .bind(org.get())
    .push(" AND i.id = ")
    .bind(id);
    to_model(sql.one::<Row>(db).await?.ok_or(AppError::NotFound)?)
}

/// The provider and the credentials of integration `id`, secrets opened.
pub async fn credentials(
    db: &impl ConnectionTrait,
    vault: &Vault,
    org: OrgId,
    id: i64,
) -> Result<(Provider, Credentials), AppError> {
    #[derive(FromQueryResult)]
    struct Sealed {
        provider: String,
        settings: String,
        secrets: String,
    }
    let mut sql = Sql::new(db.get_database_backend());
    sql.push("SELECT provider, settings, secrets FROM integrations WHERE org_id = ")
        .bind(org.get())
        .push(" AND id = ")
        .bind(id);
    let row: Sealed = sql.one(db).await?.ok_or(AppError::NotFound)?;
    let provider = Provider::parse(&row.provider)
        .ok_or_else(|| AppError::internal(format!("unknown provider {}", row.provider)))?;
    let plain = vault
        .open(org, id, &row.secrets)
        .map_err(|e| AppError::internal(format!("integration {id}: {e}")))?;
    Ok((
        provider,
        Credentials {
            settings: serde_json::from_str(&row.settings).map_err(AppError::internal)?,
            secrets: serde_json::from_slice(&plain).map_err(AppError::internal)?,
        },
    ))
}

/// The credentials of integration `id` as an edit form changes them: the
/// settings as typed, and each secret typed replacing the stored one (a secret
/// left empty keeps the stored value).
pub async fn merge_credentials(
    db: &impl ConnectionTrait,
    vault: &Vault,
    org: OrgId,
    id: i64,
    form: &BTreeMap<String, String>,
) -> Result<(Provider, Credentials), AppError> {
    let (provider, stored) = credentials(db, vault, org, id).await?;
    let typed = Credentials::from_form(provider, form);
    let mut secrets = stored.secrets;
    secrets.extend(typed.secrets);
    Ok((
        provider,
        Credentials {
            settings: typed.settings,
            secrets,
        },
    ))
}

/// Store edited credentials; secrets in `replaced` are dated now, the others
/// keep their date.
pub async fn save_credentials(
    db: &DatabaseConnection,
    vault: &Vault,
    org: OrgId,
    id: i64,
    credentials: &Credentials,
    replaced: &[String],
) -> Result<Integration, AppError> {
    let tx = begin_write(db).await?;
    let mut sql = Sql::new(tx.get_database_backend());
    sql.push("SELECT secrets_set FROM integrations WHERE org_id = ")
        .bind(org.get())
        .push(" AND id = ")
        .bind(id);
    #[derive(FromQueryResult)]
    struct Dates {
        secrets_set: String,
    }
    let dates: Dates = sql.one(&tx).await?.ok_or(AppError::NotFound)?;
    let mut kept: BTreeMap<String, i64> =
        serde_json::from_str(&dates.secrets_set).map_err(AppError::internal)?;
    kept.retain(|k, _| !replaced.contains(k));
    let mut sql = Sql::new(tx.get_database_backend());
    sql.push("UPDATE integrations SET settings = ")
        .bind(json(&credentials.settings))
        .push(" WHERE org_id = ")
        .bind(org.get())
        .push(" AND id = ")
        .bind(id);
    sql.execute(&tx).await?;
    write_secrets(&tx, vault, org, id, &credentials.secrets, &kept).await?;
    tx.commit().await?;
    get(db, org, id).await
}

/// How many contacts removing integration `id` deletes: those it imported,
/// not those it took over.
pub async fn removal_count(
    db: &impl ConnectionTrait,
    org: OrgId,
    id: i64,
) -> Result<i64, AppError> {
    get(db, org, id).await?;
    let mut sql = Sql::new(db.get_database_backend());
    sql.push("SELECT COUNT(*) FROM contacts WHERE org_id = ")
        .bind(org.get())
        .push(" AND integration_id = ")
        .bind(id)
        .push(" AND adopted_source IS NULL");
    Ok(sql.scalar_i64(db).await?.unwrap_or(0))
}

/// Delete integration `id`, the contacts it imported and its groups; return
/// how many contacts went. Contacts it took over go back to their earlier
/// source; contacts and groups of anything else stay.
pub async fn remove(db: &DatabaseConnection, org: OrgId, id: i64) -> Result<i64, AppError> {
    let tx = begin_write(db).await?;
    if get(&tx, org, id).await?.status == IntegrationStatus::Syncing {
        return Err(AppError::Conflict(
            "A sync of this integration is running. Remove it when the sync has finished.".into(),
        ));
    }
    let backend = tx.get_database_backend();
    let mut sql = Sql::new(backend);
    sql.push(
        "UPDATE contacts SET source = adopted_source, adopted_source = NULL, \
         integration_id = NULL, external_id = NULL, version = version + 1, updated_at = ",
    )
    .bind(now_ms())
    .push(" WHERE org_id = ")
    .bind(org.get())
    .push(" AND integration_id = ")
    .bind(id)
    .push(" AND adopted_source IS NOT NULL");
    sql.execute(&tx).await?;
    let mut sql = Sql::new(backend);
    sql.push("DELETE FROM contacts WHERE org_id = ")
        .bind(org.get())
        .push(" AND integration_id = ")
        .bind(id);
    let deleted = sql.execute(&tx).await?;
    let mut sql = Sql::new(backend);
    sql.push("DELETE FROM contact_groups WHERE org_id = ")
        .bind(org.get())
        .push(" AND integration_id = ")
        .bind(id);
    sql.execute(&tx).await?;
    let mut sql = Sql::new(backend);
    sql.push("DELETE FROM integrations WHERE org_id = ")
        .bind(org.get())
        .push(" AND id = ")
        .bind(id);
    sql.execute(&tx).await?;
    tx.commit().await?;
    Ok(deleted as i64)
}

/// Set the status (and the error, or the result) of integration `id`.
pub async fn set_status(
    db: &impl ConnectionTrait,
    org: OrgId,
    id: i64,
    status: IntegrationStatus,
    error: Option<&str>,
    result: Option<&SyncResult>,
) -> Result<(), AppError> {
    let now = now_ms();
    let mut sql = Sql::new(db.get_database_backend());
    sql.push("UPDATE integrations SET status = ")
        .bind(status.as_str())
        .push(", updated_at = ")
        .bind(now)
        .push(", last_error = ")
        .bind(error.map(str::to_string));
    if let Some(r) = result {
        sql.push(", last_result = ")
            .bind(json(r))
            .push(", last_sync_at = ")
            .bind(now);
    } else if status == IntegrationStatus::Failed {
        sql.push(", last_sync_at = ").bind(now);
    }
    sql.push(" WHERE id = ")
        .bind(id)
        .push(" AND org_id = ")
        .bind(org.get());
    sql.execute(db).await?;
    Ok(())
}

/// Mark integration `id` as syncing, unless a sync of it is already running
/// (its heartbeat younger than `stale_after`, on any replica): at most one sync
/// per integration. Returns whether this caller may sync.
pub async fn claim_sync(
    db: &impl ConnectionTrait,
    org: OrgId,
    id: i64,
    stale_after: Duration,
) -> Result<bool, AppError> {
    let now = now_ms();
    let mut sql = Sql::new(db.get_database_backend());
    sql.push("UPDATE integrations SET status = ")
        .bind(IntegrationStatus::Syncing.as_str())
        .push(", heartbeat_at = ")
        .bind(now)
        .push(" WHERE id = ")
        .bind(id)
        .push(" AND org_id = ")
        .bind(org.get())
        .push(" AND NOT ");
    running(&mut sql, now, stale_after);
    Ok(sql.execute(db).await? == 1)
}

/// `(...)`: the integration is syncing and its heartbeat is fresh.
fn running(sql: &mut Sql, now: i64, stale_after: Duration) {
    sql.push("(status = ")
        .bind(IntegrationStatus::Syncing.as_str())
        .push(" AND COALESCE(heartbeat_at, 0) >= ")
        .bind(now - stale_after.as_millis() as i64)
        .push(")");
}

/// A sync whose heartbeat stopped (its server stopped or crashed) will not
/// finish: say so instead of showing it as syncing forever. Every replica
/// runs this regularly ([`spawn_sweeper`]).
pub async fn sweep_interrupted(
    db: &impl ConnectionTrait,
    stale_after: Duration,
) -> Result<(), AppError> {
    let mut sql = Sql::new(db.get_database_backend());
    sql.push("UPDATE integrations SET status = ")
        .bind(IntegrationStatus::Failed.as_str())
        .push(", last_error = ")
        .bind("The sync was interrupted: the server running it stopped. Run Sync now again.")
        .push(", last_sync_at = ")
        .bind(now_ms())
        .push(" WHERE status = ")
        .bind(IntegrationStatus::Syncing.as_str())
        .push(" AND NOT ");
    running(&mut sql, now_ms(), stale_after);
    sql.execute(db).await?;
    Ok(())
}

/// Sweep for interrupted syncs now, and then regularly.
pub fn spawn_sweeper(db: DatabaseConnection, stale_after: Duration) {
    crate::backend::db::every(stale_after / 2, "sweeping interrupted syncs", move || {
        let db = db.clone();
        async move { sweep_interrupted(&db, stale_after).await }
    });
}
