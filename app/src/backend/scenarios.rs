//! Scenarios: made, edited, copied and deleted by an organisation's
//! administrators, each change recorded in the audit trail. A scenario's
//! recipients are kept as chosen (groups, rules, people) and resolved only
//! when an incident is launched from it.

use crate::backend::audit;
use crate::backend::db::entities::{contact, contact_group, scenario};
use crate::backend::db::{begin_write, from_ms, is_unique_violation, now_ms};
use crate::backend::domain::OrgId;
use crate::model::{
    AppError, Channels, Recipients, Scenario, ScenarioDraft, ScenarioSummary, Severity,
};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait,
    PaginatorTrait, QueryFilter, QueryOrder,
};
use std::collections::HashSet;

const KIND: &str = "scenario";
const CONFLICT: &str = "Someone saved this scenario after you opened it: reload it to see \
                        their changes, then make yours again.";

fn name_taken(name: &str) -> AppError {
    AppError::field("name", format!("A scenario named “{name}” exists already."))
}

fn of_org(org: OrgId) -> sea_orm::Select<scenario::Entity> {
    scenario::Entity::find().filter(scenario::Column::OrgId.eq(org.get()))
}

/// The organisation's scenarios whose name or description holds `q`
/// (ignoring case), by name. An organisation has tens of scenarios, not
/// thousands: they are filtered here rather than by the database.
pub async fn list(
    db: &impl ConnectionTrait,
    org: OrgId,
    q: &str,
) -> Result<Vec<ScenarioSummary>, AppError> {
    let q = q.trim().to_lowercase();
    let rows = of_org(org)
        .order_by_asc(scenario::Column::NameLower)
        .all(db)
        .await?;
    rows.into_iter()
        .filter(|r| {
            q.is_empty() || r.name_lower.contains(&q) || r.description.to_lowercase().contains(&q)
        })
        .map(|r| {
            let s = to_scenario(r)?;
            Ok(ScenarioSummary {
                id: s.id,
                recipients: s.draft.recipients.summary(),
                name: s.draft.name,
                description: s.draft.description,
                severity: s.draft.severity,
                channels: s.draft.channels,
                updated_at: s.updated_at,
                updated_by: s.updated_by,
            })
        })
        .collect()
}

pub async fn get(db: &impl ConnectionTrait, org: OrgId, id: i64) -> Result<Scenario, AppError> {
    let row = of_org(org)
        .filter(scenario::Column::Id.eq(id))
        .one(db)
        .await?
        .ok_or(AppError::NotFound)?;
    to_scenario(row)
}

fn to_scenario(r: scenario::Model) -> Result<Scenario, AppError> {
    Ok(Scenario {
        id: r.id,
        draft: ScenarioDraft {
            name: r.name,
            description: r.description,
            severity: Severity::parse(&r.severity).unwrap_or_default(),
            subject: r.subject,
            body: r.body,
            channels: Channels {
                email: r.email,
                sms: r.sms,
            },
            options: serde_json::from_str(&r.options).map_err(AppError::internal)?,
            recipients: serde_json::from_str(&r.recipients).map_err(AppError::internal)?,
        },
        version: r.version,
        created_at: from_ms(r.created_at),
        updated_at: from_ms(r.updated_at),
        updated_by: r.updated_by,
    })
}

/// The columns a draft (already checked) sets.
fn fields(d: &ScenarioDraft) -> Result<scenario::ActiveModel, AppError> {
    Ok(scenario::ActiveModel {
        name: Set(d.name.clone()),
        name_lower: Set(d.name.to_lowercase()),
        description: Set(d.description.clone()),
        severity: Set(d.severity.as_str().to_string()),
        subject: Set(d.subject.clone()),
        body: Set(d.body.clone()),
        email: Set(d.channels.email),
        sms: Set(d.channels.sms),
        options: Set(serde_json::to_string(&d.options).map_err(AppError::internal)?),
        recipients: Set(serde_json::to_string(&d.recipients).map_err(AppError::internal)?),
        ..Default::default()
    })
}

/// Every group and person the selection names is the organisation's: a
/// selection made in another organisation, or naming a group since removed,
/// is refused with what to remove.
async fn check_recipients(
    db: &impl ConnectionTrait,
    org: OrgId,
    r: &Recipients,
) -> Result<(), AppError> {
    let groups: HashSet<i64> = r.groups.iter().copied().collect();
    if !groups.is_empty() {
        let found = contact_group::Entity::find()
            .filter(contact_group::Column::OrgId.eq(org.get()))
            .filter(contact_group::Column::Id.is_in(groups.iter().copied()))
            .count(db)
            .await?;
        if found != groups.len() as u64 {
            return Err(AppError::field(
                "recipients",
                "A chosen group no longer exists: remove it from the recipients.",
            ));
        }
    }
    let people: HashSet<i64> = r.contacts.iter().copied().collect();
    let people: Vec<i64> = people.into_iter().collect();
    let mut found = 0;
    for chunk in people.chunks(500) {
        found += contact::Entity::find()
            .filter(contact::Column::OrgId.eq(org.get()))
            .filter(contact::Column::Id.is_in(chunk.iter().copied()))
            .count(db)
            .await?;
    }
    if found != people.len() as u64 {
        return Err(AppError::field(
            "recipients",
            "A chosen person is no longer in the directory: remove them from the recipients.",
        ));
    }
    Ok(())
}

pub async fn create(
    db: &DatabaseConnection,
    org: OrgId,
    actor: &str,
    draft: &ScenarioDraft,
) -> Result<Scenario, AppError> {
    let d = draft.checked()?;
    let tx = begin_write(db).await?;
    check_recipients(&tx, org, &d.recipients).await?;
    let id = insert(&tx, org, actor, &d).await?;
    audit::record(&tx, org, actor, "created", KIND, Some(id), &d.name).await?;
    tx.commit().await?;
    get(db, org, id).await
}

async fn insert(
    tx: &impl ConnectionTrait,
    org: OrgId,
    actor: &str,
    d: &ScenarioDraft,
) -> Result<i64, AppError> {
    let now = now_ms();
    let row = scenario::ActiveModel {
        org_id: Set(org.get()),
        version: Set(1),
        created_at: Set(now),
        updated_at: Set(now),
        created_by: Set(actor.to_string()),
        updated_by: Set(actor.to_string()),
        ..fields(d)?
    };
    match scenario::Entity::insert(row).exec(tx).await {
        Ok(done) => Ok(done.last_insert_id),
        Err(e) if is_unique_violation(&e) => Err(name_taken(&d.name)),
        Err(e) => Err(e.into()),
    }
}

/// Save `draft` over scenario `id` as of `version`; a save from an older
/// version is refused (someone else saved since).
pub async fn update(
    db: &DatabaseConnection,
    org: OrgId,
    actor: &str,
    id: i64,
    version: i64,
    draft: &ScenarioDraft,
) -> Result<Scenario, AppError> {
    let d = draft.checked()?;
    let tx = begin_write(db).await?;
    check_recipients(&tx, org, &d.recipients).await?;
    let row = scenario::ActiveModel {
        version: Set(version + 1),
        updated_at: Set(now_ms()),
        updated_by: Set(actor.to_string()),
        ..fields(&d)?
    };
    let done = scenario::Entity::update_many()
        .set(row)
        .filter(scenario::Column::OrgId.eq(org.get()))
        .filter(scenario::Column::Id.eq(id))
        .filter(scenario::Column::Version.eq(version))
        .exec(&tx)
        .await;
    let changed = match done {
        Ok(done) => done.rows_affected,
        Err(e) if is_unique_violation(&e) => return Err(name_taken(&d.name)),
        Err(e) => return Err(e.into()),
    };
    if changed == 0 {
        get(&tx, org, id).await?;
        return Err(AppError::Conflict(CONFLICT.into()));
    }
    audit::record(&tx, org, actor, "edited", KIND, Some(id), &d.name).await?;
    tx.commit().await?;
    get(db, org, id).await
}

/// A copy of scenario `id`, named "Copy of …" (then "Copy 2 of …", …).
pub async fn copy(
    db: &DatabaseConnection,
    org: OrgId,
    actor: &str,
    id: i64,
) -> Result<Scenario, AppError> {
    let tx = begin_write(db).await?;
    let mut d = get(&tx, org, id).await?.draft;
    let original = d.name.clone();
    let taken: HashSet<String> = of_org(org)
        .all(&tx)
        .await?
        .into_iter()
        .map(|r| r.name_lower)
        .collect();
    d.name = (1..)
        .map(|n| match n {
            1 => format!("Copy of {original}"),
            n => format!("Copy {n} of {original}"),
        })
        .map(|name| {
            name.chars()
                .take(ScenarioDraft::MAX_NAME)
                .collect::<String>()
        })
        .find(|name| !taken.contains(&name.to_lowercase()))
        .unwrap_or_default();
    let copy = insert(&tx, org, actor, &d).await?;
    let summary = format!("{} (from {original})", d.name);
    audit::record(&tx, org, actor, "copied", KIND, Some(copy), &summary).await?;
    tx.commit().await?;
    get(db, org, copy).await
}

pub async fn delete(
    db: &DatabaseConnection,
    org: OrgId,
    actor: &str,
    id: i64,
) -> Result<(), AppError> {
    let tx = begin_write(db).await?;
    let name = get(&tx, org, id).await?.draft.name;
    scenario::Entity::delete_many()
        .filter(scenario::Column::OrgId.eq(org.get()))
        .filter(scenario::Column::Id.eq(id))
        .exec(&tx)
        .await?;
    audit::record(&tx, org, actor, "deleted", KIND, Some(id), &name).await?;
    tx.commit().await?;
    Ok(())
}
