//! The audit trail: who made, edited, copied, deleted or launched what, and
//! when. Written in the transaction of the change it records, so that one
//! is never kept without the other.

use crate::backend::db::entities::audit_event;
use crate::backend::db::{from_ms, now_ms};
use crate::backend::domain::OrgId;
use crate::model::{AppError, AuditEntry};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder,
};

pub async fn record(
    db: &impl ConnectionTrait,
    org: OrgId,
    actor: &str,
    action: &str,
    kind: &str,
    subject: Option<i64>,
    summary: &str,
) -> Result<(), AppError> {
    audit_event::Entity::insert(audit_event::ActiveModel {
        org_id: Set(org.get()),
        at: Set(now_ms()),
        actor: Set(actor.to_string()),
        action: Set(action.to_string()),
        subject_kind: Set(kind.to_string()),
        subject_id: Set(subject),
        summary: Set(summary.to_string()),
        ..Default::default()
    })
    .exec(db)
    .await?;
    Ok(())
}

/// What was done to one scenario or incident, newest first.
pub async fn trail(
    db: &impl ConnectionTrait,
    org: OrgId,
    kind: &str,
    subject: i64,
) -> Result<Vec<AuditEntry>, AppError> {
    trail_of(db, org, kind, Some(subject)).await
}

/// What was done to `subject` of `kind`, or (`None`) to what of that kind
/// has no id of its own (the organisation's settings), newest first.
pub async fn trail_of(
    db: &impl ConnectionTrait,
    org: OrgId,
    kind: &str,
    subject: Option<i64>,
) -> Result<Vec<AuditEntry>, AppError> {
    use audit_event::Column as A;
    Ok(audit_event::Entity::find()
        .filter(A::OrgId.eq(org.get()))
        .filter(A::SubjectKind.eq(kind))
        .filter(match subject {
            Some(id) => A::SubjectId.eq(id),
            None => A::SubjectId.is_null(),
        })
        .order_by_desc(A::Id)
        .all(db)
        .await?
        .into_iter()
        .map(|e| AuditEntry {
            at: from_ms(e.at),
            actor: e.actor,
            action: e.action,
            summary: e.summary,
        })
        .collect())
}
