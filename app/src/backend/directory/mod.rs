//! The contact directory: create, read, update, delete, search and filters.
//! Every function takes the caller's `OrgId` and scopes every statement by it.

pub mod bulk;
mod search;
pub mod text;

pub use search::{export_page, facets, keys_for, place, search, ExportCursor, ExportRow};

use crate::backend::db::{from_ms, now_ms, Sql};
use crate::backend::domain::{validate, Label, OrgId, ValidContact};
use crate::model::{AppError, Contact, ContactDraft};
use sea_orm::{ConnectionTrait, DatabaseConnection, FromQueryResult};

pub const SOURCE_MANUAL: &str = "Manual";

const DUPLICATE_EMAIL: &str = "A contact with this email address already exists.";
const CONFLICT: &str = "Someone else changed this contact while you were editing it. \
     Reload the page to see their changes, then make yours again.";

#[derive(FromQueryResult)]
struct ContactDb {
    id: i64,
    first_name: String,
    last_name: String,
    email: Option<String>,
    phone: Option<String>,
    department: Option<String>,
    role: Option<String>,
    location: Option<String>,
    source: String,
    version: i64,
    created_at: i64,
    updated_at: i64,
    synced: bool,
}

pub async fn create(
    db: &DatabaseConnection,
    org: OrgId,
    region: &str,
    draft: &ContactDraft,
    source: &str,
) -> Result<Contact, AppError> {
    let c = validate(draft, region).map_err(AppError::Invalid)?;
    let tx = crate::backend::db::begin_write(db).await?;
    if let Some(email) = &c.email {
        if email_taken(&tx, org, &email.lower(), None).await? {
            return Err(AppError::field("email", DUPLICATE_EMAIL));
        }
    }
    let id = insert(&tx, org, &c, source).await?;
    place(&tx, org).await?;
    tx.commit().await?;
    get(db, org, id).await
}

/// Insert a validated contact with its groups. It has no search key until
/// [`place`] runs in the same transaction.
pub async fn insert(
    tx: &impl ConnectionTrait,
    org: OrgId,
    c: &ValidContact,
    source: &str,
) -> Result<i64, AppError> {
    let now = now_ms();
    let mut sql = Sql::new(tx.get_database_backend());
    sql.push(
        "INSERT INTO contacts (org_id, first_name, last_name, sort_name, search_text, email, \
         email_lower, phone, department, role, location, source, created_at, updated_at) VALUES ",
    );
    sql.bind_list::<sea_orm::Value>([
        org.get().into(),
        c.first_name.to_string().into(),
        c.last_name.to_string().into(),
        c.sort_name().into(),
        text::of(c).into(),
        c.email.as_ref().map(|e| e.as_str().to_string()).into(),
        c.email.as_ref().map(|e| e.lower()).into(),
        c.phone.as_ref().map(|p| p.as_str().to_string()).into(),
        label(&c.department).into(),
        label(&c.role).into(),
        label(&c.location).into(),
        source.to_string().into(),
        now.into(),
        now.into(),
    ]);
    sql.push(" RETURNING id");
    let id = match sql.scalar_i64(tx).await {
        Ok(id) => id.ok_or_else(|| AppError::internal("insert returned no id"))?,
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
    let tx = crate::backend::db::begin_write(db).await?;
    if let Some(email) = &c.email {
        if email_taken(&tx, org, &email.lower(), Some(id)).await? {
            return Err(AppError::field("email", DUPLICATE_EMAIL));
        }
    }
    overwrite(&tx, org, id, version, &c).await?;
    place(&tx, org).await?;
    tx.commit().await?;
    get(db, org, id).await
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
    let mut sql = Sql::new(tx.get_database_backend());
    sql.push("UPDATE contacts SET ");
    set_fields(&mut sql, c);
    sql.push(", version = version + 1, updated_at = ")
        .bind(now_ms())
        .push(" WHERE id = ")
        .bind(id)
        .push(" AND org_id = ")
        .bind(org.get())
        .push(" AND version = ")
        .bind(version);
    let changed = match sql.execute(tx).await {
        Ok(n) => n,
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

/// Append `first_name = ..., ..., location = ...` for an UPDATE that writes
/// a validated contact. A contact whose name changes loses its search key, as
/// it needs a new place in the name order (SQLite; see [`place`]).
pub fn set_fields(sql: &mut Sql, c: &ValidContact) {
    let sort_name = c.sort_name();
    sql.push("search_key = CASE WHEN sort_name = ")
        .bind(sort_name.as_str())
        .push(" THEN search_key END, first_name = ")
        .bind(c.first_name.as_str())
        .push(", last_name = ")
        .bind(c.last_name.as_str())
        .push(", sort_name = ")
        .bind(sort_name)
        .push(", search_text = ")
        .bind(text::of(c))
        .push(", email = ")
        .bind(c.email.as_ref().map(|e| e.as_str().to_string()))
        .push(", email_lower = ")
        .bind(c.email.as_ref().map(|e| e.lower()))
        .push(", phone = ")
        .bind(c.phone.as_ref().map(|p| p.as_str().to_string()))
        .push(", department = ")
        .bind(label(&c.department))
        .push(", role = ")
        .bind(label(&c.role))
        .push(", location = ")
        .bind(label(&c.location));
}

/// The contact an imported row refers to: the one with its email (ignoring
/// case), else the first with its mobile phone.
pub async fn find_match(
    db: &impl ConnectionTrait,
    org: OrgId,
    email_lower: Option<&str>,
    phone: Option<&str>,
) -> Result<Option<Contact>, AppError> {
    for (column, value) in [("email_lower", email_lower), ("phone", phone)] {
        let Some(value) = value else { continue };
        let mut sql = Sql::new(db.get_database_backend());
        sql.push("SELECT id FROM contacts WHERE org_id = ")
            .bind(org.get())
            .push(&format!(" AND {column} = "))
            .bind(value)
            .push(" ORDER BY id LIMIT 1");
        if let Some(id) = sql.scalar_i64(db).await? {
            return get(db, org, id).await.map(Some);
        }
    }
    Ok(None)
}

pub async fn delete(db: &DatabaseConnection, org: OrgId, id: i64) -> Result<(), AppError> {
    let tx = crate::backend::db::begin_write(db).await?;
    if !exists(&tx, org, id).await? {
        return Err(AppError::NotFound);
    }
    let mut sql = Sql::new(tx.get_database_backend());
    sql.push("DELETE FROM group_members WHERE contact_id = ")
        .bind(id);
    sql.execute(&tx).await?;
    let mut sql = Sql::new(tx.get_database_backend());
    sql.push("DELETE FROM contacts WHERE id = ")
        .bind(id)
        .push(" AND org_id = ")
        .bind(org.get());
    sql.execute(&tx).await?;
    tx.commit().await?;
    Ok(())
}

pub async fn get(db: &impl ConnectionTrait, org: OrgId, id: i64) -> Result<Contact, AppError> {
    let mut sql = Sql::new(db.get_database_backend());
    sql.push(
        "SELECT id, first_name, last_name, email, phone, department, role, location, source, \
         version, created_at, updated_at, integration_id IS NOT NULL AS synced \
         FROM contacts WHERE id = ",
    )
    .bind(id)
    .push(" AND org_id = ")
    .bind(org.get());
    let c: ContactDb = sql.one(db).await?.ok_or(AppError::NotFound)?;
    let mut sql = Sql::new(db.get_database_backend());
    sql.push(
        "SELECT g.name, g.integration_id IS NOT NULL AS synced FROM contact_groups g \
         JOIN group_members m ON m.group_id = g.id WHERE m.contact_id = ",
    )
    .bind(id)
    .push(" AND g.org_id = ")
    .bind(org.get())
    .push(" ORDER BY g.name_lower");
    #[derive(FromQueryResult)]
    struct GroupRow {
        name: String,
        synced: bool,
    }
    let (synced, own): (Vec<GroupRow>, Vec<GroupRow>) = sql
        .all::<GroupRow>(db)
        .await?
        .into_iter()
        .partition(|g| g.synced);
    Ok(Contact {
        id: c.id,
        first_name: c.first_name,
        last_name: c.last_name,
        email: c.email,
        phone: c.phone,
        department: c.department,
        role: c.role,
        location: c.location,
        groups: own.into_iter().map(|g| g.name).collect(),
        synced_groups: synced.into_iter().map(|g| g.name).collect(),
        synced: c.synced,
        source: c.source,
        version: c.version,
        created_at: from_ms(c.created_at),
        updated_at: from_ms(c.updated_at),
    })
}

async fn exists(db: &impl ConnectionTrait, org: OrgId, id: i64) -> Result<bool, AppError> {
    let mut sql = Sql::new(db.get_database_backend());
    sql.push("SELECT COUNT(*) FROM contacts WHERE id = ")
        .bind(id)
        .push(" AND org_id = ")
        .bind(org.get());
    Ok(sql.scalar_i64(db).await?.unwrap_or(0) > 0)
}

async fn email_taken(
    db: &impl ConnectionTrait,
    org: OrgId,
    email_lower: &str,
    except: Option<i64>,
) -> Result<bool, AppError> {
    let mut sql = Sql::new(db.get_database_backend());
    sql.push("SELECT COUNT(*) FROM contacts WHERE org_id = ")
        .bind(org.get())
        .push(" AND email_lower = ")
        .bind(email_lower);
    if let Some(id) = except {
        sql.push(" AND id <> ").bind(id);
    }
    Ok(sql.scalar_i64(db).await?.unwrap_or(0) > 0)
}

/// An optional label as a column value.
pub fn label(l: &Option<Label>) -> Option<String> {
    l.as_ref().map(|l| l.to_string())
}

fn is_unique_violation(e: &sea_orm::DbErr) -> bool {
    matches!(
        e.sql_err(),
        Some(sea_orm::SqlErr::UniqueConstraintViolation(_))
    )
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
    let mut sql = Sql::new(db.get_database_backend());
    sql.push(
        "SELECT m.contact_id, g.name FROM group_members m \
         JOIN contact_groups g ON g.id = m.group_id WHERE g.integration_id IS NULL AND g.org_id = ",
    )
    .bind(org.get())
    .push(" AND m.contact_id IN ")
    .json_in(
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
    let backend = db.get_database_backend();
    let mut ids = Vec::with_capacity(names.len());
    for name in names {
        ids.push(group_id(db, org, name, SOURCE_MANUAL).await?);
    }
    let mut sql = Sql::new(backend);
    // Only memberships of the organisation's own groups: a source's groups
    // are the sync's to change.
    sql.push("DELETE FROM group_members WHERE contact_id = ")
        .bind(contact_id)
        .push(" AND group_id IN (SELECT id FROM contact_groups WHERE org_id = ")
        .bind(org.get())
        .push(" AND integration_id IS NULL)");
    if !ids.is_empty() {
        sql.push(" AND group_id NOT IN ")
            .bind_list(ids.iter().copied());
    }
    sql.execute(db).await?;
    for gid in ids {
        let mut sql = Sql::new(backend);
        sql.push("INSERT INTO group_members (group_id, contact_id) VALUES (")
            .bind(gid)
            .push(", ")
            .bind(contact_id)
            .push(") ON CONFLICT DO NOTHING");
        sql.execute(db).await?;
    }
    Ok(())
}

/// The id of the organisation's own group (made in Muster, not synced from a
/// source) with this name, case-insensitive, created if missing.
pub async fn group_id(
    db: &impl ConnectionTrait,
    org: OrgId,
    name: &str,
    source: &str,
) -> Result<i64, AppError> {
    let backend = db.get_database_backend();
    let lower = name.to_lowercase();
    let mut sql = Sql::new(backend);
    sql.push("INSERT INTO contact_groups (org_id, name, name_lower, source, created_at) VALUES (")
        .bind(org.get())
        .push(", ")
        .bind(name)
        .push(", ")
        .bind(lower.as_str())
        .push(", ")
        .bind(source)
        .push(", ")
        .bind(now_ms())
        .push(") ON CONFLICT (org_id, name_lower) WHERE integration_id IS NULL DO NOTHING");
    sql.execute(db).await?;
    let mut sql = Sql::new(backend);
    sql.push("SELECT id FROM contact_groups WHERE org_id = ")
        .bind(org.get())
        .push(" AND integration_id IS NULL AND name_lower = ")
        .bind(lower);
    sql.scalar_i64(db)
        .await?
        .ok_or_else(|| AppError::internal("group vanished"))
}

/// Recompute every contact's search text and key, after their format changed.
pub async fn reindex_all(db: &impl ConnectionTrait) -> Result<(), AppError> {
    #[derive(FromQueryResult)]
    struct Stored {
        id: i64,
        first_name: String,
        last_name: String,
        email_lower: Option<String>,
        department: Option<String>,
        role: Option<String>,
        location: Option<String>,
    }
    #[derive(FromQueryResult)]
    struct Org {
        id: i64,
    }
    let backend = db.get_database_backend();
    db.execute_unprepared("UPDATE contacts SET search_key = NULL")
        .await?;
    let mut after = 0i64;
    loop {
        let mut sql = Sql::new(backend);
        sql.push(
            "SELECT id, first_name, last_name, email_lower, department, role, location \
             FROM contacts WHERE id > ",
        )
        .bind(after)
        .push(" ORDER BY id LIMIT 5000");
        let rows: Vec<Stored> = sql.all(db).await?;
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
            let mut sql = Sql::new(backend);
            sql.push("UPDATE contacts SET search_text = ")
                .bind(text)
                .push(" WHERE id = ")
                .bind(r.id);
            sql.execute(db).await?;
        }
    }
    let mut sql = Sql::new(backend);
    sql.push("SELECT id FROM organisations ORDER BY id");
    let orgs: Vec<Org> = sql.all(db).await?;
    for org in orgs {
        place(db, OrgId::trusted(org.id)).await?;
    }
    Ok(())
}
