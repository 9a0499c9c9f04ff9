//! The history of an integration's syncs (`sync_runs`, kept for ever) and
//! what each did to each contact (`sync_changes`, kept for a while), and the
//! deletions a sync held for review: listed, applied or discarded by an
//! administrator, or released by a later sync.

use crate::backend::db::entities::{integration, sync_change, sync_run, SyncChange, SyncRun};
use crate::backend::db::{begin_write, from_ms, now_ms, Sql};
use crate::backend::domain::OrgId;
use crate::model::{
    self, AppError, ChangeAction, HeldContact, Hold, HoldResolution, IntegrationStatus, SyncResult,
    SyncStatus, SyncTrigger,
};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait,
    PaginatorTrait, QueryFilter, QueryOrder, QuerySelect, Set,
};

/// Lines per insert statement.
const CHUNK: usize = 5000;
/// Held contacts listed at most (the count says how many there are).
pub const HELD_LISTED: u64 = 500;

/// Record the start of a sync; returns its id.
pub async fn start(
    db: &impl ConnectionTrait,
    org: OrgId,
    integration: i64,
    trigger: SyncTrigger,
    attempt: u32,
) -> Result<i64, AppError> {
    let run = sync_run::ActiveModel {
        org_id: Set(org.get()),
        integration_id: Set(integration),
        trigger: Set(trigger.as_str().to_string()),
        attempt: Set(i64::from(attempt)),
        status: Set(SyncStatus::Running.as_str().to_string()),
        started_at: Set(now_ms()),
        ..Default::default()
    }
    .insert(db)
    .await?;
    Ok(run.id)
}

/// Record that sync `run` was cancelled before it changed anything.
pub async fn cancelled(db: &impl ConnectionTrait, org: OrgId, run: i64) -> Result<(), AppError> {
    ended_as(db, org, run, SyncStatus::Cancelled).await
}

/// Record that sync `run` was stopped with its server, before it changed anything.
pub async fn interrupted(db: &impl ConnectionTrait, org: OrgId, run: i64) -> Result<(), AppError> {
    ended_as(db, org, run, SyncStatus::Interrupted).await
}

async fn ended_as(
    db: &impl ConnectionTrait,
    org: OrgId,
    run: i64,
    status: SyncStatus,
) -> Result<(), AppError> {
    SyncRun::update_many()
        .col_expr(sync_run::Column::Status, Expr::value(status.as_str()))
        .col_expr(sync_run::Column::FinishedAt, Expr::value(now_ms()))
        .filter(sync_run::Column::Id.eq(run))
        .filter(sync_run::Column::OrgId.eq(org.get()))
        .exec(db)
        .await?;
    Ok(())
}

/// Record how sync `run` ended: its counts, or its error.
pub async fn finish(
    db: &impl ConnectionTrait,
    org: OrgId,
    run: i64,
    outcome: Result<&SyncResult, &str>,
) -> Result<(), AppError> {
    let mut row = sync_run::ActiveModel {
        finished_at: Set(Some(now_ms())),
        ..Default::default()
    };
    match outcome {
        Ok(r) => {
            let status = if r.held > 0 {
                SyncStatus::Held
            } else {
                SyncStatus::Succeeded
            };
            let n = |v: u64| i64::try_from(v).unwrap_or(i64::MAX);
            row.status = Set(status.as_str().to_string());
            row.people = Set(n(r.people));
            row.added = Set(n(r.created));
            row.updated = Set(n(r.updated + r.linked));
            row.unchanged = Set(n(r.unchanged));
            row.deleted = Set(n(r.deleted));
            row.skipped = Set(n(r.skipped));
            row.held = Set(n(r.held));
        }
        Err(error) => {
            row.status = Set(SyncStatus::Failed.as_str().to_string());
            row.error = Set(Some(error.to_string()));
        }
    }
    SyncRun::update_many()
        .set(row)
        .filter(sync_run::Column::Id.eq(run))
        .filter(sync_run::Column::OrgId.eq(org.get()))
        .exec(db)
        .await?;
    Ok(())
}

/// One line of a sync's details, before it is written.
#[derive(Clone)]
pub struct Change {
    pub action: ChangeAction,
    pub contact_id: Option<i64>,
    pub external_id: String,
    pub name: String,
    pub email: Option<String>,
    pub detail: Option<String>,
}

/// Write what sync `run` did, contact by contact.
pub async fn record(
    db: &impl ConnectionTrait,
    org: OrgId,
    run: i64,
    changes: Vec<Change>,
) -> Result<(), AppError> {
    for chunk in changes.chunks(CHUNK) {
        let rows: Vec<serde_json::Value> = chunk
            .iter()
            .map(|c| {
                serde_json::json!([
                    c.action.as_str(),
                    c.contact_id,
                    c.external_id,
                    c.name,
                    c.email,
                    c.detail
                ])
            })
            .collect();
        let rows = serde_json::to_string(&rows).map_err(AppError::internal)?;
        // Hand-written: the rows go as one JSON value (a first sync writes a
        // line per contact; bound one by one, they took 1.3 s per 100,000).
        let mut sql = Sql::new(db.get_database_backend());
        sql.push("INSERT INTO sync_changes (run_id, org_id, action, contact_id, external_id, name, email, detail) SELECT ")
            .bind(run)
            .push(", ")
            .bind(org.get())
            .push(", ");
        for (i, ty) in ["TEXT", "BIGINT", "TEXT", "TEXT", "TEXT", "TEXT"]
            .iter()
            .enumerate()
        {
            if i > 0 {
                sql.push(", ");
            }
            sql.json_col(i, ty);
        }
        sql.push(" FROM ").json_rows(rows);
        sql.execute(db).await?;
    }
    Ok(())
}

fn count(v: i64) -> u64 {
    u64::try_from(v).unwrap_or(0)
}

fn to_model(r: sync_run::Model) -> model::SyncRun {
    model::SyncRun {
        id: r.id,
        trigger: SyncTrigger::parse(&r.trigger).unwrap_or(SyncTrigger::SyncNow),
        attempt: u32::try_from(r.attempt).unwrap_or(0),
        status: SyncStatus::parse(&r.status).unwrap_or(SyncStatus::Failed),
        resolution: r.resolution.as_deref().and_then(HoldResolution::parse),
        started_at: from_ms(r.started_at),
        finished_at: r.finished_at.map(from_ms),
        people: count(r.people),
        added: count(r.added),
        updated: count(r.updated),
        unchanged: count(r.unchanged),
        deleted: count(r.deleted),
        skipped: count(r.skipped),
        held: count(r.held),
        error: r.error,
    }
}

/// A page of integration `id`'s syncs, newest first, and how many there are.
pub async fn runs(
    db: &impl ConnectionTrait,
    org: OrgId,
    integration: i64,
    page: u64,
    per_page: u64,
) -> Result<(Vec<model::SyncRun>, u64), AppError> {
    let query = SyncRun::find()
        .filter(sync_run::Column::OrgId.eq(org.get()))
        .filter(sync_run::Column::IntegrationId.eq(integration));
    let total = query.clone().count(db).await?;
    let rows = query
        .order_by_desc(sync_run::Column::Id)
        .offset(page * per_page)
        .limit(per_page)
        .all(db)
        .await?;
    Ok((rows.into_iter().map(to_model).collect(), total))
}

/// The run of `org` with this id.
async fn run_of(
    db: &impl ConnectionTrait,
    org: OrgId,
    run: i64,
) -> Result<sync_run::Model, AppError> {
    SyncRun::find_by_id(run)
        .filter(sync_run::Column::OrgId.eq(org.get()))
        .one(db)
        .await?
        .ok_or(AppError::NotFound)
}

/// Whether sync `run` of integration `integration` exists in `org`.
pub async fn exists(
    db: &impl ConnectionTrait,
    org: OrgId,
    integration: i64,
    run: i64,
) -> Result<bool, AppError> {
    Ok(run_of(db, org, run)
        .await
        .ok()
        .is_some_and(|r| r.integration_id == integration))
}

/// Up to `limit` changes of sync `run` after change id `after`, in the order
/// they were made.
pub async fn changes(
    db: &impl ConnectionTrait,
    org: OrgId,
    run: i64,
    after: i64,
    limit: u64,
) -> Result<Vec<sync_change::Model>, AppError> {
    Ok(SyncChange::find()
        .filter(sync_change::Column::RunId.eq(run))
        .filter(sync_change::Column::OrgId.eq(org.get()))
        .filter(sync_change::Column::Id.gt(after))
        .order_by_asc(sync_change::Column::Id)
        .limit(limit)
        .all(db)
        .await?)
}

/// A change as lines of the export: `[action, external id, name, email,
/// field, before, after, reason]`, one line per changed field of an update.
pub fn export_lines(c: &sync_change::Model) -> Vec<[String; 8]> {
    let action = ChangeAction::parse(&c.action)
        .map(|a| a.label())
        .unwrap_or(c.action.as_str())
        .to_string();
    let line = |field: String, before: String, after: String, reason: String| {
        [
            action.clone(),
            c.external_id.clone(),
            c.name.clone(),
            c.email.clone().unwrap_or_default(),
            field,
            before,
            after,
            reason,
        ]
    };
    let fields = (c.action == ChangeAction::Updated.as_str())
        .then_some(c.detail.as_deref())
        .flatten()
        .and_then(|d| serde_json::from_str::<serde_json::Map<String, serde_json::Value>>(d).ok());
    match fields {
        Some(fields) if !fields.is_empty() => fields
            .iter()
            .map(|(field, v)| {
                let text = |i: usize| v[i].as_str().unwrap_or_default().to_string();
                line(field.clone(), text(0), text(1), String::new())
            })
            .collect(),
        _ => vec![line(
            String::new(),
            String::new(),
            String::new(),
            c.detail.clone().unwrap_or_default(),
        )],
    }
}

/// The deletions waiting for review on integration `id`, if any.
pub async fn hold(
    db: &impl ConnectionTrait,
    org: OrgId,
    integration: i64,
) -> Result<Option<Hold>, AppError> {
    let row = super::find(org, integration)
        .one(db)
        .await?
        .ok_or(AppError::NotFound)?;
    let Some(run_id) = row.held_run_id else {
        return Ok(None);
    };
    let run = run_of(db, org, run_id).await?;
    let contacts = SyncChange::find()
        .filter(sync_change::Column::RunId.eq(run_id))
        .filter(sync_change::Column::OrgId.eq(org.get()))
        .filter(sync_change::Column::Action.eq(ChangeAction::Held.as_str()))
        .order_by_asc(sync_change::Column::Name)
        .order_by_asc(sync_change::Column::Id)
        .limit(HELD_LISTED)
        .all(db)
        .await?
        .into_iter()
        .map(|c| HeldContact {
            contact_id: c.contact_id.unwrap_or_default(),
            name: c.name,
            email: c.email,
            reason: c.detail.unwrap_or_default(),
        })
        .collect();
    Ok(Some(Hold {
        run_id,
        held_at: from_ms(run.started_at),
        count: count(run.held),
        contacts,
    }))
}

/// Settle the hold of integration `id` (`run` is the one the page showed):
/// apply its deletions, or discard them. Returns how many contacts went.
pub async fn settle(
    db: &DatabaseConnection,
    org: OrgId,
    integration: i64,
    run: i64,
    resolution: HoldResolution,
) -> Result<u64, AppError> {
    let tx = begin_write(db).await?;
    let row = super::find(org, integration)
        .lock_exclusive()
        .one(&tx)
        .await?
        .ok_or(AppError::NotFound)?;
    if row.held_run_id != Some(run) {
        return Err(AppError::Conflict(
            "These deletions are no longer held: a later sync released them or an administrator settled them. Reload the page.".into(),
        ));
    }
    if row.status == IntegrationStatus::Syncing.as_str() {
        return Err(AppError::Conflict(
            "A sync of this integration is running. Try again when it has finished.".into(),
        ));
    }
    let mut gone = 0;
    if resolution == HoldResolution::Applied {
        let ids: Vec<i64> = SyncChange::find()
            .select_only()
            .column(sync_change::Column::ContactId)
            .filter(sync_change::Column::RunId.eq(run))
            .filter(sync_change::Column::OrgId.eq(org.get()))
            .filter(sync_change::Column::Action.eq(ChangeAction::Held.as_str()))
            .filter(sync_change::Column::ContactId.is_not_null())
            .into_tuple::<i64>()
            .all(&tx)
            .await?;
        gone = super::let_go(&tx, org, integration, Some(&ids)).await?;
    }
    resolve(&tx, org, run, resolution, gone).await?;
    integration::Entity::update_many()
        .col_expr(integration::Column::HeldRunId, Expr::value(None::<i64>))
        .filter(integration::Column::Id.eq(integration))
        .filter(integration::Column::OrgId.eq(org.get()))
        .exec(&tx)
        .await?;
    tx.commit().await?;
    Ok(gone)
}

/// Record what became of held sync `run`'s deletions (`deleted` of them went).
pub async fn resolve(
    db: &impl ConnectionTrait,
    org: OrgId,
    run: i64,
    resolution: HoldResolution,
    deleted: u64,
) -> Result<(), AppError> {
    SyncRun::update_many()
        .col_expr(
            sync_run::Column::Resolution,
            Expr::value(resolution.as_str()),
        )
        .col_expr(
            sync_run::Column::Deleted,
            Expr::value(i64::try_from(deleted).unwrap_or(i64::MAX)),
        )
        .filter(sync_run::Column::Id.eq(run))
        .filter(sync_run::Column::OrgId.eq(org.get()))
        .exec(db)
        .await?;
    Ok(())
}

/// Mark the syncs still recorded as running whose integration no longer
/// syncs (its server stopped: see `sweep_interrupted`) as interrupted.
pub async fn sweep_interrupted(db: &impl ConnectionTrait) -> Result<(), AppError> {
    use sea_orm::sea_query::Query;
    let syncing = Query::select()
        .column(integration::Column::Id)
        .from(integration::Entity)
        .and_where(integration::Column::Status.eq(IntegrationStatus::Syncing.as_str()))
        .to_owned();
    SyncRun::update_many()
        .col_expr(
            sync_run::Column::Status,
            Expr::value(SyncStatus::Interrupted.as_str()),
        )
        .col_expr(sync_run::Column::FinishedAt, Expr::value(now_ms()))
        .filter(sync_run::Column::Status.eq(SyncStatus::Running.as_str()))
        .filter(sync_run::Column::IntegrationId.not_in_subquery(syncing))
        .exec(db)
        .await?;
    Ok(())
}

/// Delete the details of syncs that started longer than `keep` ago (their
/// counts stay), but those of a sync whose deletions still wait for review.
/// Returns how many lines went.
pub async fn sweep_details(
    db: &impl ConnectionTrait,
    keep: std::time::Duration,
) -> Result<u64, AppError> {
    use sea_orm::sea_query::Query;
    let cutoff = now_ms().saturating_sub(i64::try_from(keep.as_millis()).unwrap_or(i64::MAX));
    let old = Query::select()
        .column(sync_run::Column::Id)
        .from(SyncRun)
        .and_where(sync_run::Column::StartedAt.lt(cutoff))
        .to_owned();
    let held = Query::select()
        .column(integration::Column::HeldRunId)
        .from(integration::Entity)
        .and_where(integration::Column::HeldRunId.is_not_null())
        .to_owned();
    Ok(SyncChange::delete_many()
        .filter(sync_change::Column::RunId.in_subquery(old))
        .filter(sync_change::Column::RunId.not_in_subquery(held))
        .exec(db)
        .await?
        .rows_affected)
}

/// Sweep old sync details now, and then every hour.
pub fn spawn_details_sweeper(db: DatabaseConnection, keep: std::time::Duration) {
    crate::backend::db::every(
        std::time::Duration::from_secs(3600),
        "sweeping old sync details",
        move || {
            let db = db.clone();
            async move {
                let n = sweep_details(&db, keep).await?;
                if n > 0 {
                    tracing::debug!(lines = n, "old sync details deleted");
                }
                Ok(())
            }
        },
    );
}

/// Whether deleting `doomed` of an integration's `total` contacts must wait
/// for an administrator: always when the source listed nobody, else when it
/// is more than `percent` of them or more than `count` (either may be unset).
pub fn must_hold(
    doomed: u64,
    total: u64,
    people_read: u64,
    percent: Option<i64>,
    count: Option<i64>,
) -> bool {
    if doomed == 0 {
        return false;
    }
    if people_read == 0 {
        return true;
    }
    let bound = |v: i64| u64::try_from(v).unwrap_or(0);
    percent.is_some_and(|p| doomed.saturating_mul(100) > bound(p).saturating_mul(total))
        || count.is_some_and(|c| doomed > bound(c))
}

#[cfg(test)]
mod tests {
    use super::{export_lines, must_hold};
    use crate::backend::db::entities::sync_change;

    fn line(action: &str, detail: Option<&str>) -> sync_change::Model {
        sync_change::Model {
            id: 1,
            run_id: 1,
            org_id: 1,
            action: action.into(),
            contact_id: Some(7),
            external_id: "00u1".into(),
            name: "Ada Lovelace".into(),
            email: Some("ada@example.com".into()),
            detail: detail.map(str::to_string),
        }
    }

    #[test]
    fn an_update_is_a_line_per_field_and_the_rest_one_line_with_why() {
        let update = line(
            "updated",
            Some(r#"{"department":["Sales","Research"],"phone":["+441632960001",null]}"#),
        );
        let lines = export_lines(&update);
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[0][0], "Updated");
        assert_eq!(lines[0][4..7], ["department", "Sales", "Research"]);
        assert_eq!(lines[1][4..7], ["phone", "+441632960001", ""]);
        let deleted = export_lines(&line("deleted", Some(crate::model::GONE)));
        assert_eq!(deleted.len(), 1);
        assert_eq!(deleted[0][0], "Deleted");
        assert_eq!(
            deleted[0][1..4],
            ["00u1", "Ada Lovelace", "ada@example.com"]
        );
        assert_eq!(deleted[0][7], crate::model::GONE);
        // An update whose detail cannot be read is still one line, never lost.
        assert_eq!(export_lines(&line("updated", Some("not json"))).len(), 1);
        assert_eq!(export_lines(&line("added", None))[0][0], "Added");
    }

    #[test]
    fn the_smaller_bound_holds() {
        let (pct, cnt) = (Some(10), Some(500));
        // 10% of 1,000 is 100: 100 goes, 101 waits.
        assert!(!must_hold(100, 1000, 900, pct, cnt));
        assert!(must_hold(101, 1000, 899, pct, cnt));
        // 10% of 100,000 is 10,000, but 500 is smaller.
        assert!(!must_hold(500, 100_000, 99_500, pct, cnt));
        assert!(must_hold(501, 100_000, 99_499, pct, cnt));
        // Either bound alone, or none.
        assert!(!must_hold(900, 1000, 100, None, Some(1000)));
        assert!(must_hold(11, 100, 89, Some(10), None));
        assert!(!must_hold(99, 100, 1, None, None));
        // A source that lists nobody is always held, bounds or not.
        assert!(must_hold(1, 1, 0, None, None));
        assert!(!must_hold(0, 10, 0, pct, cnt));
    }
}
