//! The contact directory: create, read, update, delete, search and filters.
//! Every function takes the caller's `OrgId` and scopes every statement by it.

pub mod bulk;
mod keys;
mod search;
pub mod text;
mod word_starts;

pub use keys::{keys_for, place, place_all, place_some, unplaced, BACKLOG};
pub use search::{export_page, facets, search, ExportCursor, ExportRow};

use crate::backend::db::entities::{contact, contact_group, group_member};
use crate::backend::db::{begin_write_in_turn, from_ms, is_unique_violation, now_ms, Sql};
use crate::backend::domain::{validate, Label, OrgId, ValidContact};
use crate::model::{AppError, Contact, ContactDraft};
use sea_orm::sea_query::{Expr, ExprTrait, OnConflict, Query};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseConnection, DbBackend, EntityTrait, FromQueryResult,
    JoinType, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect, RelationTrait, Select, Set,
    UpdateMany,
};

pub const SOURCE_MANUAL: &str = "Manual";

const DUPLICATE_EMAIL: &str = "A contact with this email address already exists.";
const CONFLICT: &str = "Someone else changed this contact while you were editing it. \
     Reload the page to see their changes, then make yours again.";

/// The contacts of `org`.
fn of_org(org: OrgId) -> Select<contact::Entity> {
    contact::Entity::find().filter(contact::Column::OrgId.eq(org.get()))
}

/// Saves by hand (here, [`update`] and [`delete`]) take their turn at SQLite's
/// write lock (`begin_write_in_turn`), as an upload's batches do: one made
/// while a large upload runs waits for the batch ahead of it, not for the
/// sleeps of SQLite's busy handler.
pub async fn create(
    db: &DatabaseConnection,
    org: OrgId,
    region: &str,
    draft: &ContactDraft,
    source: &str,
) -> Result<Contact, AppError> {
    let c = validate(draft, region).map_err(AppError::Invalid)?;
    let (turn, tx) = begin_write_in_turn(db).await?;
    if let Some(email) = &c.email {
        if email_taken(&tx, org, &email.lower(), None).await? {
            return Err(AppError::field("email", DUPLICATE_EMAIL));
        }
    }
    let id = insert(&tx, org, &c, source).await?;
    place(&tx, org).await?;
    tx.commit().await?;
    drop(turn);
    get(db, org, id).await
}

/// A new contact's row: a validated contact's fields, from `source`. It has
/// no search key until [`place`] runs in the same transaction.
pub fn new_row(org: OrgId, c: &ValidContact, source: &str) -> contact::ActiveModel {
    let now = now_ms();
    contact::ActiveModel {
        org_id: Set(org.get()),
        first_name: Set(c.first_name.to_string()),
        last_name: Set(c.last_name.to_string()),
        sort_name: Set(c.sort_name()),
        search_text: Set(text::of(c)),
        email: Set(c.email.as_ref().map(|e| e.to_string())),
        email_lower: Set(c.email.as_ref().map(|e| e.lower())),
        phone: Set(c.phone.as_ref().map(|p| p.to_string())),
        department: Set(label(&c.department)),
        role: Set(label(&c.role)),
        location: Set(label(&c.location)),
        source: Set(source.to_string()),
        created_at: Set(now),
        updated_at: Set(now),
        ..Default::default()
    }
}

/// Insert a validated contact with its groups. It has no search key until
/// [`place`] runs in the same transaction.
pub async fn insert(
    tx: &impl ConnectionTrait,
    org: OrgId,
    c: &ValidContact,
    source: &str,
) -> Result<i64, AppError> {
    let row = new_row(org, c, source);
    let id = match contact::Entity::insert(row).exec(tx).await {
        Ok(done) => done.last_insert_id,
        Err(e) if is_unique_violation(&e) => return Err(AppError::field("email", DUPLICATE_EMAIL)),
        Err(e) => return Err(e.into()),
    };
    set_groups(tx, org, id, &c.groups).await?;
    Ok(id)
}

pub async fn update(
    db: &DatabaseConnection,
    org: OrgId,
    region: &str,
    id: i64,
    version: i64,
    draft: &ContactDraft,
) -> Result<Contact, AppError> {
    let c = validate(draft, region).map_err(AppError::Invalid)?;
    let (turn, tx) = begin_write_in_turn(db).await?;
    keep_provisioned(&tx, org, id, &c).await?;
    if let Some(email) = &c.email {
        if email_taken(&tx, org, &email.lower(), Some(id)).await? {
            return Err(AppError::field("email", DUPLICATE_EMAIL));
        }
    }
    overwrite(&tx, org, id, version, &c).await?;
    place(&tx, org).await?;
    tx.commit().await?;
    drop(turn);
    get(db, org, id).await
}

/// Refuse a change to the name or email of a contact an identity provider
/// pushed over SCIM: those are the provider's.
async fn keep_provisioned(
    db: &impl ConnectionTrait,
    org: OrgId,
    id: i64,
    c: &ValidContact,
) -> Result<(), AppError> {
    let Some(stored) = of_org(org)
        .filter(contact::Column::Id.eq(id))
        .filter(contact::Column::ScimSourceId.is_not_null())
        .one(db)
        .await?
    else {
        return Ok(());
    };
    let owned = format!("Set by {}: change it there.", stored.source);
    let mut errors = Vec::new();
    let email = c.email.as_ref().map(|e| e.to_string());
    for (field, now, was) in [
        (
            "first_name",
            Some(c.first_name.to_string()),
            Some(stored.first_name),
        ),
        (
            "last_name",
            Some(c.last_name.to_string()),
            Some(stored.last_name),
        ),
        ("email", email, stored.email),
    ] {
        if now != was {
            errors.push(crate::model::FieldError {
                field: field.into(),
                message: owned.clone(),
            });
        }
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(AppError::Invalid(errors))
    }
}

/// Replace contact `id`, as of `version`, with a validated contact and its
/// groups. A renamed contact has no search key until [`place`] runs.
pub async fn overwrite(
    tx: &impl ConnectionTrait,
    org: OrgId,
    id: i64,
    version: i64,
    c: &ValidContact,
) -> Result<(), AppError> {
    let update = write_fields(contact::Entity::update_many(), c)
        .filter(contact::Column::Id.eq(id))
        .filter(contact::Column::OrgId.eq(org.get()))
        .filter(contact::Column::Version.eq(version));
    let changed = match update.exec(tx).await {
        Ok(done) => done.rows_affected,
        Err(e) if is_unique_violation(&e) => return Err(AppError::field("email", DUPLICATE_EMAIL)),
        Err(e) => return Err(e.into()),
    };
    if changed == 0 {
        return Err(if exists(tx, org, id).await? {
            AppError::Conflict(CONFLICT.into())
        } else {
            AppError::NotFound
        });
    }
    set_groups(tx, org, id, &c.groups).await
}

/// Set in `row` (a contact as read) a validated contact's fields, as
/// [`write_fields`] does, but only those whose values differ: SQLite rewrites
/// the index entries of every column an UPDATE names, changed or not. A
/// renamed contact loses its search key; whether it was renamed.
pub fn set_fields(row: &mut contact::ActiveModel, c: &ValidContact) -> bool {
    row.first_name.set_if_not_equals(c.first_name.to_string());
    row.last_name.set_if_not_equals(c.last_name.to_string());
    row.sort_name.set_if_not_equals(c.sort_name());
    row.search_text.set_if_not_equals(text::of(c));
    row.email
        .set_if_not_equals(c.email.as_ref().map(|e| e.to_string()));
    row.email_lower
        .set_if_not_equals(c.email.as_ref().map(|e| e.lower()));
    row.phone
        .set_if_not_equals(c.phone.as_ref().map(|p| p.to_string()));
    row.department.set_if_not_equals(label(&c.department));
    row.role.set_if_not_equals(label(&c.role));
    row.location.set_if_not_equals(label(&c.location));
    let renamed = row.sort_name.is_set();
    if renamed {
        row.search_key = Set(None);
    }
    renamed
}

/// Write what `row` (a contact of `org` as read, then changed) changes, with
/// a new version and time; nothing when it changes nothing.
pub async fn save_changes(
    tx: &impl ConnectionTrait,
    org: OrgId,
    mut row: contact::ActiveModel,
) -> Result<(), sea_orm::DbErr> {
    use sea_orm::ActiveModelTrait;
    if !row.is_changed() {
        return Ok(());
    }
    let id = row.id.clone().unwrap();
    row.version = sea_orm::ActiveValue::NotSet;
    row.updated_at = Set(now_ms());
    contact::Entity::update_many()
        .set(row)
        .col_expr(
            contact::Column::Version,
            Expr::col(contact::Column::Version).add(1),
        )
        .filter(contact::Column::Id.eq(id))
        .filter(contact::Column::OrgId.eq(org.get()))
        .exec(tx)
        .await?;
    Ok(())
}

/// An UPDATE that writes a validated contact's fields, a new version and the
/// time. A contact whose name changes loses its search key, as it needs a new
/// place in the name order (SQLite; see [`place`]).
pub fn write_fields(
    update: UpdateMany<contact::Entity>,
    c: &ValidContact,
) -> UpdateMany<contact::Entity> {
    use contact::Column as C;
    let sort_name = c.sort_name();
    update
        .col_expr(
            C::SearchKey,
            Expr::case(
                Expr::col(C::SortName).eq(sort_name.as_str()),
                Expr::col(C::SearchKey),
            )
            .into(),
        )
        .col_expr(C::FirstName, Expr::value(c.first_name.to_string()))
        .col_expr(C::LastName, Expr::value(c.last_name.to_string()))
        .col_expr(C::SortName, Expr::value(sort_name))
        .col_expr(C::SearchText, Expr::value(text::of(c)))
        .col_expr(
            C::Email,
            Expr::value(c.email.as_ref().map(|e| e.to_string())),
        )
        .col_expr(
            C::EmailLower,
            Expr::value(c.email.as_ref().map(|e| e.lower())),
        )
        .col_expr(
            C::Phone,
            Expr::value(c.phone.as_ref().map(|p| p.to_string())),
        )
        .col_expr(C::Department, Expr::value(label(&c.department)))
        .col_expr(C::Role, Expr::value(label(&c.role)))
        .col_expr(C::Location, Expr::value(label(&c.location)))
        .col_expr(C::Version, Expr::col(C::Version).add(1))
        .col_expr(C::UpdatedAt, Expr::value(now_ms()))
}

/// The contact an imported row refers to: the one with its email (ignoring
/// case), else the first with its mobile phone.
pub async fn find_match(
    db: &impl ConnectionTrait,
    org: OrgId,
    email_lower: Option<&str>,
    phone: Option<&str>,
) -> Result<Option<Contact>, AppError> {
    for (column, value) in [
        (contact::Column::EmailLower, email_lower),
        (contact::Column::Phone, phone),
    ] {
        let Some(value) = value else { continue };
        let id: Option<i64> = of_org(org)
            .select_only()
            .column(contact::Column::Id)
            .filter(column.eq(value))
            .order_by_asc(contact::Column::Id)
            .into_tuple()
            .one(db)
            .await?;
        if let Some(id) = id {
            return get(db, org, id).await.map(Some);
        }
    }
    Ok(None)
}

pub async fn delete(db: &DatabaseConnection, org: OrgId, id: i64) -> Result<(), AppError> {
    let (_turn, tx) = begin_write_in_turn(db).await?;
    if !exists(&tx, org, id).await? {
        return Err(AppError::NotFound);
    }
    group_member::Entity::delete_many()
        .filter(group_member::Column::ContactId.eq(id))
        .exec(&tx)
        .await?;
    contact::Entity::delete_many()
        .filter(contact::Column::Id.eq(id))
        .filter(contact::Column::OrgId.eq(org.get()))
        .exec(&tx)
        .await?;
    tx.commit().await?;
    Ok(())
}

pub async fn get(db: &impl ConnectionTrait, org: OrgId, id: i64) -> Result<Contact, AppError> {
    let c = of_org(org)
        .filter(contact::Column::Id.eq(id))
        .one(db)
        .await?
        .ok_or(AppError::NotFound)?;
    let groups: Vec<(String, Option<i64>, Option<i64>)> = contact_group::Entity::find()
        .select_only()
        .column(contact_group::Column::Name)
        .column(contact_group::Column::IntegrationId)
        .column(contact_group::Column::ScimSourceId)
        .join(
            JoinType::InnerJoin,
            contact_group::Relation::GroupMember.def(),
        )
        .filter(group_member::Column::ContactId.eq(id))
        .filter(contact_group::Column::OrgId.eq(org.get()))
        .order_by_asc(contact_group::Column::NameLower)
        .into_tuple()
        .all(db)
        .await?;
    // A source's groups (synced or pushed over SCIM) are the source's to change.
    let (synced, own): (Vec<_>, Vec<_>) = groups
        .into_iter()
        .partition(|(_, i, s)| i.is_some() || s.is_some());
    Ok(Contact {
        id: c.id,
        first_name: c.first_name,
        last_name: c.last_name,
        email: c.email,
        phone: c.phone,
        department: c.department,
        role: c.role,
        location: c.location,
        groups: own.into_iter().map(|(name, ..)| name).collect(),
        synced_groups: synced.into_iter().map(|(name, ..)| name).collect(),
        synced: c.integration_id.is_some(),
        provisioned: c.scim_source_id.is_some(),
        deactivated: !c.active,
        source: c.source,
        version: c.version,
        created_at: from_ms(c.created_at),
        updated_at: from_ms(c.updated_at),
    })
}

async fn exists(db: &impl ConnectionTrait, org: OrgId, id: i64) -> Result<bool, AppError> {
    Ok(of_org(org)
        .filter(contact::Column::Id.eq(id))
        .count(db)
        .await?
        > 0)
}

async fn email_taken(
    db: &impl ConnectionTrait,
    org: OrgId,
    email_lower: &str,
    except: Option<i64>,
) -> Result<bool, AppError> {
    let mut q = of_org(org).filter(contact::Column::EmailLower.eq(email_lower));
    if let Some(id) = except {
        q = q.filter(contact::Column::Id.ne(id));
    }
    Ok(q.count(db).await? > 0)
}

/// An optional label as a column value.
pub fn label(l: &Option<Label>) -> Option<String> {
    l.as_ref().map(|l| l.to_string())
}

#[derive(FromQueryResult)]
struct MemberRow {
    contact_id: i64,
    name: String,
}

/// The groups of each of `ids` (contacts of `org`), by name.
pub async fn groups_of(
    db: &impl ConnectionTrait,
    org: OrgId,
    ids: &[i64],
) -> Result<std::collections::HashMap<i64, Vec<String>>, AppError> {
    let mut out: std::collections::HashMap<i64, Vec<String>> = std::collections::HashMap::new();
    if ids.is_empty() {
        return Ok(out);
    }
    // Hand-written: the ids go as one JSON value, so the statement (and each
    // connection's prepared copy of it) is the same for any number of them.
    let backend = db.get_database_backend();
    let mut sql = Sql::new(backend);
    // On SQLite, CROSS JOIN keeps the given order: the contacts' memberships,
    // then each group by its key. Left to itself, SQLite went through every
    // group of the organisation and looked up each contact in each: at 20
    // groups and 2,500 contacts 44 ms a batch of an upload, against 13.
    sql.push("SELECT m.contact_id, g.name FROM group_members m ")
        .push(if backend == DbBackend::Sqlite {
            "CROSS JOIN"
        } else {
            "JOIN"
        })
        .push(
            " contact_groups g ON g.id = m.group_id WHERE g.integration_id IS NULL \
             AND g.scim_source_id IS NULL AND g.org_id = ",
        )
        .bind(org.get())
        .push(" AND ")
        .json_in(
            "m.contact_id",
            serde_json::to_string(ids).map_err(|e| AppError::internal(e.to_string()))?,
            "BIGINT",
        )
        .push(" ORDER BY g.name_lower");
    for row in sql.all::<MemberRow>(db).await? {
        out.entry(row.contact_id).or_default().push(row.name);
    }
    Ok(out)
}

/// Make the contact's groups exactly `names`, creating groups that do not exist yet.
async fn set_groups(
    db: &impl ConnectionTrait,
    org: OrgId,
    contact_id: i64,
    names: &[Label],
) -> Result<(), AppError> {
    let mut ids = Vec::with_capacity(names.len());
    for name in names {
        ids.push(group_id(db, org, name, SOURCE_MANUAL).await?);
    }
    // Only memberships of the organisation's own groups: a source's groups
    // are the sync's to change.
    let own_groups = Query::select()
        .column(contact_group::Column::Id)
        .from(contact_group::Entity)
        .and_where(contact_group::Column::OrgId.eq(org.get()))
        .and_where(contact_group::Column::IntegrationId.is_null())
        .and_where(contact_group::Column::ScimSourceId.is_null())
        .to_owned();
    group_member::Entity::delete_many()
        .filter(group_member::Column::ContactId.eq(contact_id))
        .filter(group_member::Column::GroupId.in_subquery(own_groups))
        .filter(group_member::Column::GroupId.is_not_in(ids.iter().copied()))
        .exec(db)
        .await?;
    if !ids.is_empty() {
        group_member::Entity::insert_many(ids.into_iter().map(|group_id| {
            group_member::ActiveModel {
                group_id: Set(group_id),
                contact_id: Set(contact_id),
            }
        }))
        .on_conflict(
            OnConflict::columns([
                group_member::Column::GroupId,
                group_member::Column::ContactId,
            ])
            .do_nothing()
            .to_owned(),
        )
        .exec_without_returning(db)
        .await?;
    }
    Ok(())
}

/// The id of the organisation's own group (made in Muster, not synced from a
/// source or pushed over SCIM) with this name, case-insensitive, created if missing.
pub async fn group_id(
    db: &impl ConnectionTrait,
    org: OrgId,
    name: &str,
    source: &str,
) -> Result<i64, AppError> {
    use contact_group::Column as G;
    let lower = name.to_lowercase();
    contact_group::Entity::insert(contact_group::ActiveModel {
        org_id: Set(org.get()),
        name: Set(name.to_string()),
        name_lower: Set(lower.clone()),
        source: Set(source.to_string()),
        created_at: Set(now_ms()),
        ..Default::default()
    })
    // The target of the partial unique index on the organisation's own groups.
    .on_conflict(
        OnConflict::columns([G::OrgId, G::NameLower])
            .target_and_where(
                Expr::col(G::IntegrationId)
                    .is_null()
                    .and(Expr::col(G::ScimSourceId).is_null()),
            )
            .do_nothing()
            .to_owned(),
    )
    .exec_without_returning(db)
    .await?;
    contact_group::Entity::find()
        .select_only()
        .column(G::Id)
        .filter(G::OrgId.eq(org.get()))
        .filter(G::IntegrationId.is_null())
        .filter(G::ScimSourceId.is_null())
        .filter(G::NameLower.eq(lower))
        .into_tuple::<i64>()
        .one(db)
        .await?
        .ok_or_else(|| AppError::internal("group vanished"))
}

/// Recompute every contact's search text and key, after their format changed.
pub async fn reindex_all(db: &impl ConnectionTrait) -> Result<(), AppError> {
    use contact::Column as C;
    contact::Entity::update_many()
        .col_expr(C::SearchKey, Expr::value(None::<i64>))
        .exec(db)
        .await?;
    let mut after = 0i64;
    loop {
        let rows = contact::Entity::find()
            .filter(C::Id.gt(after))
            .order_by_asc(C::Id)
            .limit(5000)
            .all(db)
            .await?;
        let Some(last) = rows.last() else {
            break;
        };
        after = last.id;
        for r in rows {
            let text = text::document(
                &r.first_name,
                &r.last_name,
                r.email_lower.as_deref(),
                r.department.as_deref(),
                r.role.as_deref(),
                r.location.as_deref(),
            );
            contact::Entity::update_many()
                .col_expr(C::SearchText, Expr::value(text))
                .filter(C::Id.eq(r.id))
                .exec(db)
                .await?;
        }
    }
    let orgs: Vec<i64> = crate::backend::db::entities::organisation::Entity::find()
        .select_only()
        .column(crate::backend::db::entities::organisation::Column::Id)
        .into_tuple()
        .all(db)
        .await?;
    for org in orgs {
        place_all(db, OrgId::trusted(org)).await?;
    }
    Ok(())
}
