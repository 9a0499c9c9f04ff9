//! The contact directory: create, read, update, delete, search and filters.
//! Every function takes the caller's `OrgId` and scopes every statement by it.

mod validate;

pub use validate::{clean, parse_email, parse_phone, validate, Email, PhoneE164, ValidContact};

use crate::backend::auth::OrgId;
use crate::backend::db::{from_ms, like_escape, now_ms, Sql};
use crate::model::{
    AppError, Contact, ContactDraft, ContactPage, ContactQuery, ContactRow, Facets,
};
use base64::Engine;
use sea_orm::{ConnectionTrait, DatabaseConnection, FromQueryResult, TransactionTrait};

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
}

#[derive(FromQueryResult)]
struct RowDb {
    id: i64,
    first_name: String,
    last_name: String,
    sort_name: String,
    email: Option<String>,
    phone: Option<String>,
    source: String,
}

pub async fn create(
    db: &DatabaseConnection,
    org: OrgId,
    region: &str,
    draft: &ContactDraft,
    source: &str,
) -> Result<Contact, AppError> {
    let c = validate(draft, region)?;
    let tx = db.begin().await?;
    if let Some(email) = &c.email {
        if email_taken(&tx, org, &email.lower(), None).await? {
            return Err(AppError::field("email", DUPLICATE_EMAIL));
        }
    }
    let now = now_ms();
    let mut sql = Sql::new(tx.get_database_backend());
    sql.push(
        "INSERT INTO contacts (org_id, first_name, last_name, sort_name, search_text, email, \
         email_lower, phone, department, role, location, source, created_at, updated_at) VALUES ",
    );
    sql.bind_list::<sea_orm::Value>([
        org.get().into(),
        c.first_name.clone().into(),
        c.last_name.clone().into(),
        c.sort_name().into(),
        c.search_text().into(),
        c.email.as_ref().map(|e| e.as_str().to_string()).into(),
        c.email.as_ref().map(|e| e.lower()).into(),
        c.phone.as_ref().map(|p| p.as_str().to_string()).into(),
        c.department.clone().into(),
        c.role.clone().into(),
        c.location.clone().into(),
        source.to_string().into(),
        now.into(),
        now.into(),
    ]);
    sql.push(" RETURNING id");
    let id = match sql.scalar_i64(&tx).await {
        Ok(id) => id.ok_or_else(|| AppError::internal("insert returned no id"))?,
        Err(e) if is_unique_violation(&e) => return Err(AppError::field("email", DUPLICATE_EMAIL)),
        Err(e) => return Err(e.into()),
    };
    set_groups(&tx, org, id, &c.groups).await?;
    tx.commit().await?;
    get(db, org, id).await
}

pub async fn update(
    db: &DatabaseConnection,
    org: OrgId,
    region: &str,
    id: i64,
    version: i64,
    draft: &ContactDraft,
) -> Result<Contact, AppError> {
    let c = validate(draft, region)?;
    let tx = db.begin().await?;
    if let Some(email) = &c.email {
        if email_taken(&tx, org, &email.lower(), Some(id)).await? {
            return Err(AppError::field("email", DUPLICATE_EMAIL));
        }
    }
    let mut sql = Sql::new(tx.get_database_backend());
    sql.push("UPDATE contacts SET first_name = ")
        .bind(c.first_name.as_str())
        .push(", last_name = ")
        .bind(c.last_name.as_str())
        .push(", sort_name = ")
        .bind(c.sort_name())
        .push(", search_text = ")
        .bind(c.search_text())
        .push(", email = ")
        .bind(c.email.as_ref().map(|e| e.as_str().to_string()))
        .push(", email_lower = ")
        .bind(c.email.as_ref().map(|e| e.lower()))
        .push(", phone = ")
        .bind(c.phone.as_ref().map(|p| p.as_str().to_string()))
        .push(", department = ")
        .bind(c.department.clone())
        .push(", role = ")
        .bind(c.role.clone())
        .push(", location = ")
        .bind(c.location.clone())
        .push(", version = version + 1, updated_at = ")
        .bind(now_ms())
        .push(" WHERE id = ")
        .bind(id)
        .push(" AND org_id = ")
        .bind(org.get())
        .push(" AND version = ")
        .bind(version);
    let changed = match sql.execute(&tx).await {
        Ok(n) => n,
        Err(e) if is_unique_violation(&e) => return Err(AppError::field("email", DUPLICATE_EMAIL)),
        Err(e) => return Err(e.into()),
    };
    if changed == 0 {
        return Err(if exists(&tx, org, id).await? {
            AppError::Conflict(CONFLICT.into())
        } else {
            AppError::NotFound
        });
    }
    set_groups(&tx, org, id, &c.groups).await?;
    tx.commit().await?;
    get(db, org, id).await
}

pub async fn delete(db: &DatabaseConnection, org: OrgId, id: i64) -> Result<(), AppError> {
    let tx = db.begin().await?;
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
         version, created_at, updated_at FROM contacts WHERE id = ",
    )
    .bind(id)
    .push(" AND org_id = ")
    .bind(org.get());
    let c: ContactDb = sql.one(db).await?.ok_or(AppError::NotFound)?;
    let mut sql = Sql::new(db.get_database_backend());
    sql.push(
        "SELECT g.name FROM contact_groups g JOIN group_members m ON m.group_id = g.id \
         WHERE m.contact_id = ",
    )
    .bind(id)
    .push(" AND g.org_id = ")
    .bind(org.get())
    .push(" ORDER BY g.name_lower");
    let groups: Vec<NameRow> = sql.all(db).await?;
    Ok(Contact {
        id: c.id,
        first_name: c.first_name,
        last_name: c.last_name,
        email: c.email,
        phone: c.phone,
        department: c.department,
        role: c.role,
        location: c.location,
        groups: groups.into_iter().map(|g| g.name).collect(),
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

fn is_unique_violation(e: &sea_orm::DbErr) -> bool {
    matches!(
        e.sql_err(),
        Some(sea_orm::SqlErr::UniqueConstraintViolation(_))
    )
}

#[derive(FromQueryResult)]
struct NameRow {
    name: String,
}

/// Make the contact's groups exactly `names`, creating groups that do not exist yet.
async fn set_groups(
    db: &impl ConnectionTrait,
    org: OrgId,
    contact_id: i64,
    names: &[String],
) -> Result<(), AppError> {
    let backend = db.get_database_backend();
    let mut ids = Vec::with_capacity(names.len());
    for name in names {
        ids.push(group_id(db, org, name, SOURCE_MANUAL).await?);
    }
    let mut sql = Sql::new(backend);
    sql.push("DELETE FROM group_members WHERE contact_id = ")
        .bind(contact_id);
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

/// The id of the organisation's group with this name (case-insensitive), created if missing.
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
        .push(") ON CONFLICT (org_id, name_lower) DO NOTHING");
    sql.execute(db).await?;
    let mut sql = Sql::new(backend);
    sql.push("SELECT id FROM contact_groups WHERE org_id = ")
        .bind(org.get())
        .push(" AND name_lower = ")
        .bind(lower);
    sql.scalar_i64(db)
        .await?
        .ok_or_else(|| AppError::internal("group vanished"))
}

/// Keyset cursor: the sort key and id of a row, opaque to the browser.
fn encode_cursor(sort_name: &str, id: i64) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("{id}\n{sort_name}"))
}

fn decode_cursor(cursor: &str) -> Result<(String, i64), AppError> {
    let bad = || {
        AppError::BadRequest("This page link is no longer valid; start from the first page.".into())
    };
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(cursor)
        .map_err(|_| bad())?;
    let text = String::from_utf8(bytes).map_err(|_| bad())?;
    let (id, sort) = text.split_once('\n').ok_or_else(bad)?;
    Ok((sort.to_string(), id.parse().map_err(|_| bad())?))
}

/// The `WHERE` conditions of a query: organisation, search text and filters.
fn push_conditions(sql: &mut Sql, org: OrgId, query: &ContactQuery) {
    sql.push(" WHERE c.org_id = ").bind(org.get());
    for (column, value) in [
        ("department", &query.department),
        ("role", &query.role),
        ("location", &query.location),
    ] {
        if !value.is_empty() {
            sql.push(" AND c.")
                .push(column)
                .push(" = ")
                .bind(value.as_str());
        }
    }
    let q = query
        .q
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_lowercase();
    if q.is_empty() {
        return;
    }
    if q.chars().count() < 3 {
        // Too short for a trigram index: match the start of the name, the last name
        // or the email instead, which the sort-name and email indexes serve.
        let prefix = format!("{}%", like_escape(&q));
        sql.push(" AND (c.sort_name LIKE ")
            .bind(prefix.clone())
            .push(" ESCAPE '\\' OR c.email_lower LIKE ")
            .bind(prefix.clone())
            .push(" ESCAPE '\\' OR c.search_text LIKE ")
            .bind(format!("% {}", prefix))
            .push(" ESCAPE '\\')");
    } else if sql.is_postgres() {
        sql.push(" AND c.search_text LIKE ")
            .bind(format!("%{}%", like_escape(&q)))
            .push(" ESCAPE '\\'");
    } else {
        // FTS5 trigram: a quoted phrase matches the text as a substring.
        sql.push(" AND c.id IN (SELECT rowid FROM contacts_fts WHERE contacts_fts MATCH ")
            .bind(format!("\"{}\"", q.replace('"', "\"\"")))
            .push(")");
    }
}

/// One page of the list, sorted by name, with the total matching the query.
pub async fn search(
    db: &impl ConnectionTrait,
    org: OrgId,
    query: &ContactQuery,
) -> Result<ContactPage, AppError> {
    let backend = db.get_database_backend();
    let limit = ContactQuery::PAGE_SIZE;
    let (cursor, backwards) = if !query.before.is_empty() {
        (Some(decode_cursor(&query.before)?), true)
    } else if !query.after.is_empty() {
        (Some(decode_cursor(&query.after)?), false)
    } else {
        (None, false)
    };

    let mut sql = Sql::new(backend);
    sql.push(
        "SELECT c.id, c.first_name, c.last_name, c.sort_name, c.email, c.phone, c.source \
         FROM contacts c",
    );
    push_conditions(&mut sql, org, query);
    if let Some((sort, id)) = &cursor {
        let op = if backwards { "<" } else { ">" };
        sql.push(" AND (c.sort_name ")
            .push(op)
            .push(" ")
            .bind(sort.as_str())
            .push(" OR (c.sort_name = ")
            .bind(sort.as_str())
            .push(" AND c.id ")
            .push(op)
            .push(" ")
            .bind(*id)
            .push("))");
    }
    let order = if backwards { "DESC" } else { "ASC" };
    sql.push(&format!(
        " ORDER BY c.sort_name {order}, c.id {order} LIMIT {}",
        limit + 1
    ));
    let mut rows: Vec<RowDb> = sql.all(db).await?;
    let more = rows.len() as u64 > limit;
    rows.truncate(limit as usize);
    if backwards {
        rows.reverse();
    }

    let mut count = Sql::new(backend);
    count.push("SELECT COUNT(*) FROM contacts c");
    push_conditions(&mut count, org, query);
    let total = count.scalar_i64(db).await?.unwrap_or(0).max(0) as u64;

    let first = rows.first().map(|r| encode_cursor(&r.sort_name, r.id));
    let last = rows.last().map(|r| encode_cursor(&r.sort_name, r.id));
    let (has_prev, has_next) = match (cursor.is_some(), backwards) {
        (false, _) => (false, more),
        (true, false) => (true, more),
        (true, true) => (more, true),
    };
    Ok(ContactPage {
        rows: rows
            .into_iter()
            .map(|r| ContactRow {
                id: r.id,
                name: format!("{} {}", r.first_name, r.last_name),
                email: r.email,
                phone: r.phone,
                source: r.source,
            })
            .collect(),
        total,
        next: if has_next { last } else { None },
        prev: if has_prev { first } else { None },
    })
}

/// The departments, roles, locations and groups present in the organisation.
pub async fn facets(db: &impl ConnectionTrait, org: OrgId) -> Result<Facets, AppError> {
    let backend = db.get_database_backend();
    let mut out = Facets::default();
    for (column, target) in [
        ("department", &mut out.departments),
        ("role", &mut out.roles),
        ("location", &mut out.locations),
    ] {
        let mut sql = Sql::new(backend);
        sql.push(&format!(
            "SELECT DISTINCT {column} AS name FROM contacts WHERE org_id = "
        ))
        .bind(org.get())
        .push(&format!(" AND {column} IS NOT NULL ORDER BY {column}"));
        *target = sql
            .all::<NameRow>(db)
            .await?
            .into_iter()
            .map(|r| r.name)
            .collect();
    }
    let mut sql = Sql::new(backend);
    sql.push("SELECT name FROM contact_groups WHERE org_id = ")
        .bind(org.get())
        .push(" ORDER BY name_lower");
    out.groups = sql
        .all::<NameRow>(db)
        .await?
        .into_iter()
        .map(|r| r.name)
        .collect();
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use sea_orm::DbBackend;

    #[test]
    fn cursors_round_trip_and_reject_garbage() {
        let c = encode_cursor("ada lovelace\nx", 42);
        assert_eq!(
            decode_cursor(&c).unwrap(),
            ("ada lovelace\nx".to_string(), 42)
        );
        assert!(decode_cursor("!!").is_err());
        assert!(
            decode_cursor(&base64::engine::general_purpose::URL_SAFE_NO_PAD.encode("x")).is_err()
        );
    }

    #[test]
    fn short_queries_use_prefixes_and_long_ones_the_text_index() {
        let org = OrgId::trusted(7);
        let q = |s: &str| ContactQuery {
            q: s.into(),
            ..Default::default()
        };
        let mut sql = Sql::new(DbBackend::Sqlite);
        push_conditions(&mut sql, org, &q("Jo"));
        assert!(sql.build().sql.contains("sort_name LIKE"));
        let mut sql = Sql::new(DbBackend::Sqlite);
        push_conditions(&mut sql, org, &q("john"));
        assert!(sql.build().sql.contains("contacts_fts MATCH"));
        let mut sql = Sql::new(DbBackend::Postgres);
        push_conditions(
            &mut sql,
            org,
            &ContactQuery {
                department: "Ops".into(),
                ..q("john")
            },
        );
        let s = sql.build();
        assert!(s
            .sql
            .starts_with(" WHERE c.org_id = $1 AND c.department = $2"));
        assert!(s.sql.contains("search_text LIKE $3"));
    }
}
