//! Connected integrations: stored with their secrets sealed by the vault,
//! listed for the Integrations tab, removed with what they imported.
//! Every statement is scoped by the caller's organisation.

pub mod history;
pub mod live;
pub mod schedule;
pub mod sync;

use crate::backend::connectors::{Credentials, HttpConfig};
use crate::backend::db::entities::{contact, contact_group, integration, Organisation, SyncRun};
use crate::backend::db::{begin_write, from_ms, now_ms};
use crate::backend::domain::OrgId;
use crate::backend::vault::Vault;
use crate::model::{
    AppError, FieldError, Integration, IntegrationStatus, Provider, SecretState, SyncResult,
    SyncTrigger,
};
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, DatabaseConnection, EntityTrait,
    IntoActiveModel, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect, Set,
};
use secrecy::ExposeSecret;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

fn json<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_string(value).expect("maps of strings serialise")
}

/// Integration `id` of `org`, as stored.
fn find(org: OrgId, id: i64) -> sea_orm::Select<integration::Entity> {
    integration::Entity::find_by_id(id).filter(integration::Column::OrgId.eq(org.get()))
}

fn to_model(
    r: integration::Model,
    contact_count: u64,
    held_deletions: u64,
    time_zone: &str,
) -> Result<Integration, AppError> {
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
        contact_count: contact_count as i64,
        last_sync_at: r.last_sync_at.map(from_ms),
        last_error: r.last_error,
        last_result: r
            .last_result
            .as_deref()
            .and_then(|t| serde_json::from_str::<SyncResult>(t).ok()),
        expiry_warning: None,
        created_at: from_ms(r.created_at),
        held_deletions,
        hold_percent: r.hold_percent.and_then(|p| u32::try_from(p).ok()),
        hold_count: r.hold_count.and_then(|c| u64::try_from(c).ok()),
        daily_at: schedule::clock(r.sync_minute),
        time_zone: time_zone.to_string(),
        next_sync_at: r.next_sync_at.map(from_ms),
        next_retry: u32::try_from(r.retries).unwrap_or(0),
        progress: None,
    };
    out.expiry_warning = out.expiry(chrono::Utc::now().date_naive());
    Ok(out)
}

/// The contacts an integration keeps.
fn its_contacts(org: OrgId, id: i64) -> sea_orm::Select<contact::Entity> {
    contact::Entity::find()
        .filter(contact::Column::OrgId.eq(org.get()))
        .filter(contact::Column::IntegrationId.eq(id))
}

async fn with_count(
    db: &impl ConnectionTrait,
    org: OrgId,
    row: integration::Model,
) -> Result<Integration, AppError> {
    let count = its_contacts(org, row.id).count(db).await?;
    let held = held_counts(db, org, row.held_run_id.into_iter().collect()).await?;
    let held = held.get(&row.id).copied().unwrap_or(0);
    let zone = crate::backend::auth::org(db, org).await?.time_zone;
    to_model(row, count, held, &zone)
}

/// How many deletions each of these held syncs waits to apply, by integration.
async fn held_counts(
    db: &impl ConnectionTrait,
    org: OrgId,
    runs: Vec<i64>,
) -> Result<HashMap<i64, u64>, AppError> {
    use crate::backend::db::entities::sync_run;
    if runs.is_empty() {
        return Ok(HashMap::new());
    }
    Ok(SyncRun::find()
        .select_only()
        .column(sync_run::Column::IntegrationId)
        .column(sync_run::Column::Held)
        .filter(sync_run::Column::OrgId.eq(org.get()))
        .filter(sync_run::Column::Id.is_in(runs))
        .into_tuple::<(i64, i64)>()
        .all(db)
        .await?
        .into_iter()
        .map(|(i, n)| (i, u64::try_from(n).unwrap_or(0)))
        .collect())
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
    let row = integration::ActiveModel {
        org_id: Set(org.get()),
        provider: Set(provider.key().to_string()),
        settings: Set(json(&credentials.settings)),
        secrets: Set(String::new()),
        secrets_set: Set("{}".into()),
        status: Set(IntegrationStatus::Connected.as_str().to_string()),
        created_at: Set(now),
        updated_at: Set(now),
        ..Default::default()
    }
    .insert(&tx)
    .await?;
    // Its daily sync: a time of the night, from its id.
    let minute = schedule::night_minute(row.id);
    let next = schedule::next_daily_of(&tx, org, minute).await?;
    let mut row = row.into_active_model();
    row.sync_minute = Set(minute);
    row.next_sync_at = Set(Some(next.timestamp_millis()));
    let row = row.update(&tx).await?;
    let row = write_secrets(&tx, vault, org, row, credentials, &BTreeMap::new()).await?;
    tx.commit().await?;
    with_count(db, org, row).await
}

/// Set the time of day integration `id` syncs by itself ("HH:MM", on the
/// organisation's clocks). Its next sync moves there, unless a retry is due
/// first.
pub async fn set_sync_time(
    db: &DatabaseConnection,
    org: OrgId,
    id: i64,
    time: &str,
) -> Result<Integration, AppError> {
    let minute = schedule::parse_clock(time).ok_or_else(|| {
        AppError::field(
            "sync_time",
            "Enter a time of day as HH:MM, from 00:00 to 23:59.",
        )
    })?;
    let row = find(org, id).one(db).await?.ok_or(AppError::NotFound)?;
    let mut update = integration::Entity::update_many()
        .col_expr(integration::Column::SyncMinute, Expr::value(minute))
        .filter(integration::Column::Id.eq(id))
        .filter(integration::Column::OrgId.eq(org.get()));
    if row.retries == 0 {
        let next = schedule::next_daily_of(db, org, minute).await?;
        update = update.col_expr(
            integration::Column::NextSyncAt,
            Expr::value(next.timestamp_millis()),
        );
    }
    update.exec(db).await?;
    get(db, org, id).await
}

/// Seal the secrets of `credentials` into integration `row`, record when each
/// was set (those in `kept`, already stored, keep their date), and save its
/// settings.
async fn write_secrets(
    db: &impl ConnectionTrait,
    vault: &Vault,
    org: OrgId,
    row: integration::Model,
    credentials: &Credentials,
    kept: &BTreeMap<String, i64>,
) -> Result<integration::Model, AppError> {
    let now = now_ms();
    let secrets = &credentials.secrets;
    let set: BTreeMap<&String, i64> = secrets
        .keys()
        .map(|k| (k, kept.get(k).copied().unwrap_or(now)))
        .collect();
    let plain: BTreeMap<&String, &str> = secrets
        .iter()
        .map(|(k, v)| (k, v.expose_secret()))
        .collect();
    let sealed = vault.seal(org, row.id, json(&plain).as_bytes());
    let mut row = row.into_active_model();
    row.settings = Set(json(&credentials.settings));
    row.secrets = Set(sealed);
    row.secrets_set = Set(json(&set));
    row.updated_at = Set(now);
    Ok(row.update(db).await?)
}

pub async fn list(db: &impl ConnectionTrait, org: OrgId) -> Result<Vec<Integration>, AppError> {
    let rows = integration::Entity::find()
        .filter(integration::Column::OrgId.eq(org.get()))
        .order_by_asc(integration::Column::Id)
        .all(db)
        .await?;
    // Every integration's contact count in one grouped query.
    let counts: HashMap<i64, i64> = contact::Entity::find()
        .select_only()
        .column(contact::Column::IntegrationId)
        .column_as(Expr::col(contact::Column::Id).count(), "n")
        .filter(contact::Column::OrgId.eq(org.get()))
        .filter(contact::Column::IntegrationId.is_not_null())
        .group_by(contact::Column::IntegrationId)
        .into_tuple::<(i64, i64)>()
        .all(db)
        .await?
        .into_iter()
        .collect();
    let held = held_counts(db, org, rows.iter().filter_map(|r| r.held_run_id).collect()).await?;
    let zone = crate::backend::auth::org(db, org).await?.time_zone;
    rows.into_iter()
        .map(|row| {
            let count = counts.get(&row.id).copied().unwrap_or(0);
            let held = held.get(&row.id).copied().unwrap_or(0);
            to_model(row, u64::try_from(count).unwrap_or(0), held, &zone)
        })
        .collect()
}

pub async fn get(db: &impl ConnectionTrait, org: OrgId, id: i64) -> Result<Integration, AppError> {
    let row = find(org, id).one(db).await?.ok_or(AppError::NotFound)?;
    with_count(db, org, row).await
}

/// The provider and the credentials of integration `id`, secrets opened.
pub async fn credentials(
    db: &impl ConnectionTrait,
    vault: &Vault,
    org: OrgId,
    id: i64,
) -> Result<(Provider, Credentials), AppError> {
    let row = find(org, id).one(db).await?.ok_or(AppError::NotFound)?;
    let provider = Provider::parse(&row.provider)
        .ok_or_else(|| AppError::internal(format!("unknown provider {}", row.provider)))?;
    let plain = vault
        .open(org, id, &row.secrets)
        .map_err(|e| AppError::internal(format!("integration {id}: {e}")))?;
    let secrets: BTreeMap<String, String> =
        serde_json::from_slice(&plain).map_err(AppError::internal)?;
    Ok((
        provider,
        Credentials {
            settings: serde_json::from_str(&row.settings).map_err(AppError::internal)?,
            secrets: secrets.into_iter().map(|(k, v)| (k, v.into())).collect(),
        },
    ))
}

/// The credentials of integration `id` as an edit form changes them: the
/// settings as typed, and each secret typed replacing the stored one (a secret
/// left empty keeps the stored value). A stored secret never follows a changed
/// address: when a setting that decides where secrets go changed, every secret
/// must be typed again, or nothing is merged.
pub async fn merge_credentials(
    db: &impl ConnectionTrait,
    vault: &Vault,
    org: OrgId,
    id: i64,
    form: &BTreeMap<String, String>,
) -> Result<(Provider, Credentials), AppError> {
    let (provider, stored) = credentials(db, vault, org, id).await?;
    let typed = Credentials::from_form(provider, form);
    let moved = provider.moved_destinations(&stored.settings, form);
    if !moved.is_empty() {
        let missing: Vec<FieldError> = provider
            .fields()
            .iter()
            .filter(|f| f.is_secret() && !typed.secrets.contains_key(f.key))
            .map(|f| FieldError {
                field: f.key.to_string(),
                message: Provider::retype_secret(&moved, f.label),
            })
            .collect();
        if !missing.is_empty() {
            return Err(AppError::Invalid(missing));
        }
    }
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
    let row = find(org, id).one(&tx).await?.ok_or(AppError::NotFound)?;
    let mut kept: BTreeMap<String, i64> =
        serde_json::from_str(&row.secrets_set).map_err(AppError::internal)?;
    kept.retain(|k, _| !replaced.contains(k));
    let needed_attention = row.status == IntegrationStatus::NeedsAttention.as_str();
    let row = write_secrets(&tx, vault, org, row, credentials, &kept).await?;
    if needed_attention {
        // Edited credentials are what it needed: the next sync will tell.
        let mut row = row.into_active_model();
        row.status = Set(IntegrationStatus::Connected.as_str().to_string());
        row.last_error = Set(None);
        row.update(&tx).await?;
    }
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
    let n = its_contacts(org, id)
        .filter(contact::Column::AdoptedSource.is_null())
        .count(db)
        .await?;
    Ok(n as i64)
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
    let deleted = let_go(&tx, org, id, None).await?;
    contact_group::Entity::delete_many()
        .filter(contact_group::Column::OrgId.eq(org.get()))
        .filter(contact_group::Column::IntegrationId.eq(id))
        .exec(&tx)
        .await?;
    integration::Entity::delete_many()
        .filter(integration::Column::OrgId.eq(org.get()))
        .filter(integration::Column::Id.eq(id))
        .exec(&tx)
        .await?;
    tx.commit().await?;
    Ok(deleted as i64)
}

/// Let go of contacts of integration `id` (those in `only`, or all): the
/// ones it took over go back to their earlier source, the others are deleted
/// with their group memberships. Returns how many the integration let go.
pub(crate) async fn let_go(
    tx: &impl ConnectionTrait,
    org: OrgId,
    id: i64,
    only: Option<&[i64]>,
) -> Result<u64, AppError> {
    let ours = Condition::all()
        .add(contact::Column::OrgId.eq(org.get()))
        .add(contact::Column::IntegrationId.eq(id));
    let chunks: Vec<Condition> = match only {
        None => vec![ours],
        Some(ids) => ids
            .chunks(sync::CHUNK)
            .map(|chunk| {
                ours.clone()
                    .add(contact::Column::Id.is_in(chunk.iter().copied()))
            })
            .collect(),
    };
    let mut gone = 0;
    for which in chunks {
        let given_back = contact::Entity::update_many()
            .col_expr(
                contact::Column::Source,
                Expr::col(contact::Column::AdoptedSource),
            )
            .col_expr(contact::Column::AdoptedSource, Expr::value(None::<String>))
            .col_expr(contact::Column::IntegrationId, Expr::value(None::<i64>))
            .col_expr(contact::Column::ExternalId, Expr::value(None::<String>))
            .col_expr(
                contact::Column::Version,
                Expr::col(contact::Column::Version).add(1),
            )
            .col_expr(contact::Column::UpdatedAt, Expr::value(now_ms()))
            .filter(which.clone())
            .filter(contact::Column::AdoptedSource.is_not_null())
            .exec(tx)
            .await?
            .rows_affected;
        let deleted = contact::Entity::delete_many()
            .filter(which)
            .exec(tx)
            .await?
            .rows_affected;
        gone += if only.is_some() {
            given_back + deleted
        } else {
            deleted
        };
    }
    Ok(gone)
}

/// Set when a sync of integration `id` is held for review: more than
/// `percent` of its contacts or more than `count` to delete (`None`: no
/// such bound; both `None`: never, but for a source that lists nobody).
pub async fn set_hold_limits(
    db: &DatabaseConnection,
    org: OrgId,
    id: i64,
    percent: Option<u32>,
    count: Option<u64>,
) -> Result<Integration, AppError> {
    if percent.is_some_and(|p| p > 100) {
        return Err(AppError::field(
            "hold_percent",
            "Enter a percentage from 0 to 100, or leave it empty for no such bound.",
        ));
    }
    let count = count
        .map(i64::try_from)
        .transpose()
        .map_err(|_| AppError::field("hold_count", "Enter a smaller number."))?;
    let updated = integration::Entity::update_many()
        .col_expr(
            integration::Column::HoldPercent,
            Expr::value(percent.map(i64::from)),
        )
        .col_expr(integration::Column::HoldCount, Expr::value(count))
        .filter(integration::Column::Id.eq(id))
        .filter(integration::Column::OrgId.eq(org.get()))
        .exec(db)
        .await?;
    if updated.rows_affected == 0 {
        return Err(AppError::NotFound);
    }
    get(db, org, id).await
}

/// Start a sync of integration `id` in the background, unless one is running
/// already; its outcome is recorded on the integration, where the page reads it.
#[allow(clippy::too_many_arguments)]
pub async fn start_sync(
    db: &DatabaseConnection,
    vault: Arc<Vault>,
    http: &HttpConfig,
    syncs: Arc<live::RunningSyncs>,
    org: OrgId,
    id: i64,
    trigger: SyncTrigger,
    stale_after: Duration,
) -> Result<Integration, AppError> {
    get(db, org, id).await?;
    match claim(db, org, id, stale_after, http.syncs_per_org, None).await? {
        Claim::Claimed => {}
        Claim::Running => {
            return Err(AppError::Conflict(
                "A sync of this integration is already running.".into(),
            ))
        }
        Claim::OrgBusy(others) => {
            return Err(AppError::Conflict(format!(
                "{others} syncs of this organisation are running; start this one when one of them has finished."
            )))
        }
    }
    spawn_run(
        db.clone(),
        vault,
        http.clone(),
        syncs,
        org,
        id,
        trigger,
        0,
        stale_after,
        || {},
    );
    get(db, org, id).await
}

/// Whether a sync may start.
pub enum Claim {
    /// Marked as syncing: this caller runs it.
    Claimed,
    /// A sync of it runs already (or, for a due sync, it is no longer due).
    Running,
    /// This many syncs of its organisation run, the most allowed at once.
    OrgBusy(u64),
}

/// Claim the sync of integration `id`: at most one sync per integration,
/// and at most `per_org` syncs of one organisation at once, so that one
/// organisation cannot take every connection. Counted and claimed in one
/// transaction, with the organisation's row locked on PostgreSQL. With
/// `due`, only while the integration's next sync is still that moment: of
/// the servers that saw it due, one wins.
pub async fn claim(
    db: &DatabaseConnection,
    org: OrgId,
    id: i64,
    stale_after: Duration,
    per_org: usize,
    due: Option<i64>,
) -> Result<Claim, AppError> {
    let tx = begin_write(db).await?;
    Organisation::find_by_id(org.get())
        .lock_exclusive()
        .one(&tx)
        .await?;
    let others = integration::Entity::find()
        .filter(integration::Column::OrgId.eq(org.get()))
        .filter(integration::Column::Id.ne(id))
        .filter(running(now_ms(), stale_after))
        .count(&tx)
        .await?;
    if others >= per_org.max(1) as u64 {
        return Ok(Claim::OrgBusy(others));
    }
    if !claim_sync(&tx, org, id, stale_after, due).await? {
        return Ok(Claim::Running);
    }
    tx.commit().await?;
    Ok(Claim::Claimed)
}

/// Run the claimed sync of integration `id` in the background; `done` is
/// called when it has ended, however it ended.
#[allow(clippy::too_many_arguments)]
pub(crate) fn spawn_run(
    db: DatabaseConnection,
    vault: Arc<Vault>,
    http: HttpConfig,
    syncs: Arc<live::RunningSyncs>,
    org: OrgId,
    id: i64,
    trigger: SyncTrigger,
    attempt: u32,
    stale_after: Duration,
    done: impl FnOnce() + Send + 'static,
) {
    tokio::spawn(async move {
        let beat = stale_after / 4;
        // The failure is recorded on the integration too, where the page reads it.
        match sync::run(&db, &vault, &http, &syncs, org, id, trigger, attempt, beat).await {
            Ok(_) => {}
            // Cancelled by an administrator.
            Err(AppError::Conflict(m)) => {
                tracing::info!(org = org.get(), integration = id, "sync stopped: {m}")
            }
            Err(e) => tracing::warn!(org = org.get(), integration = id, "sync failed: {e}"),
        }
        done();
    });
}

/// Mark integration `id` as syncing, unless a sync of it is already running
/// (its heartbeat younger than `stale_after`, on any replica): at most one sync
/// per integration. Returns whether this caller may sync.
pub async fn claim_sync(
    db: &impl ConnectionTrait,
    org: OrgId,
    id: i64,
    stale_after: Duration,
    due: Option<i64>,
) -> Result<bool, AppError> {
    let now = now_ms();
    let mut claim = integration::Entity::update_many()
        .col_expr(
            integration::Column::Status,
            Expr::value(IntegrationStatus::Syncing.as_str()),
        )
        .col_expr(integration::Column::HeartbeatAt, Expr::value(now))
        .filter(integration::Column::Id.eq(id))
        .filter(integration::Column::OrgId.eq(org.get()))
        .filter(running(now, stale_after).not());
    if let Some(due) = due {
        claim = claim.filter(integration::Column::NextSyncAt.eq(due));
    }
    Ok(claim.exec(db).await?.rows_affected == 1)
}

/// The integration is syncing and its heartbeat is fresh.
fn running(now: i64, stale_after: Duration) -> Condition {
    Condition::all()
        .add(integration::Column::Status.eq(IntegrationStatus::Syncing.as_str()))
        .add(
            Expr::expr(integration::Column::HeartbeatAt.into_expr().if_null(0))
                .gte(now - stale_after.as_millis() as i64),
        )
}

/// A sync whose heartbeat stopped (its server stopped or crashed) will not
/// finish: say so instead of showing it as syncing forever, and let any
/// server take it over at once, as a retry (up to `retries` of them; then
/// it waits for its daily sync). Every replica runs this regularly
/// ([`spawn_sweeper`]).
pub async fn sweep_interrupted(
    db: &impl ConnectionTrait,
    stale_after: Duration,
    retries: usize,
) -> Result<(), AppError> {
    use integration::Column as I;
    let now = now_ms();
    let interrupted = |message: &str| {
        integration::Entity::update_many()
            .col_expr(I::Status, Expr::value(IntegrationStatus::Failed.as_str()))
            .col_expr(I::LastError, Expr::value(message))
            .col_expr(I::LastSyncAt, Expr::value(now))
            .filter(I::Status.eq(IntegrationStatus::Syncing.as_str()))
            .filter(running(now, stale_after).not())
    };
    let retries = i64::try_from(retries).unwrap_or(i64::MAX);
    interrupted(schedule::INTERRUPTED)
        .col_expr(I::NextSyncAt, Expr::value(now))
        .col_expr(I::Retries, Expr::col(I::Retries).add(1))
        .filter(I::Retries.lt(retries))
        .exec(db)
        .await?;
    // Out of retries: the scheduler gives it its daily time again.
    interrupted(
        "The sync was interrupted: the server running it stopped. \
         It was tried again too often: the next sync is the daily one.",
    )
    .col_expr(I::NextSyncAt, Expr::value(None::<i64>))
    .col_expr(I::Retries, Expr::value(0))
    .exec(db)
    .await?;
    history::sweep_interrupted(db).await
}

/// Sweep for interrupted syncs now, and then regularly.
pub fn spawn_sweeper(db: DatabaseConnection, stale_after: Duration, retries: usize) {
    crate::backend::db::every(stale_after / 2, "sweeping interrupted syncs", move || {
        let db = db.clone();
        async move { sweep_interrupted(&db, stale_after, retries).await }
    });
}
