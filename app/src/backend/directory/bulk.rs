//! Many contacts at once, for imports: a batch's matches found in a few
//! queries, and its new contacts inserted in a few statements, instead of a
//! handful of statements per contact.

use super::group_id;
use crate::backend::db::{from_ms, is_unique_violation, now_ms, Sql};
use crate::backend::domain::{OrgId, ValidContact};
use crate::model::{AppError, Contact};
use sea_orm::{ConnectionTrait, DbBackend, FromQueryResult};
use std::collections::HashMap;

fn json<T: serde::Serialize + ?Sized>(value: &T) -> Result<String, AppError> {
    serde_json::to_string(value).map_err(|e| AppError::internal(e.to_string()))
}

/// The contacts of `org` that a batch refers to.
#[derive(Default)]
pub struct Matches {
    /// By lower-case email.
    pub by_email: HashMap<String, Contact>,
    /// By phone: the first contact (lowest id) with it.
    pub by_phone: HashMap<String, Contact>,
}

/// The contacts of `org` a batch's rows refer to: those with any of `emails`
/// (lower-case), then those with the phone (E.164) of any of `phones` whose
/// row's email (lower-case, beside it) is not among them, with their groups.
/// A row is matched by its email first, so a row whose email was found needs
/// no phone looked up: at a million contacts, half an upload of updates
/// skips half its lookups.
pub async fn find_matches(
    db: &impl ConnectionTrait,
    org: OrgId,
    emails: &[&str],
    phones: &[(Option<&str>, &str)],
) -> Result<Matches, AppError> {
    let mut found: Vec<Found> = Vec::new();
    let lookup = |column: &str, values: &[&str]| -> Result<Option<Sql>, AppError> {
        if values.is_empty() {
            return Ok(None);
        }
        // Hand-written: the values go as one JSON value, so the statement is
        // the same for any number of them.
        let mut sql = Sql::new(db.get_database_backend());
        sql.push("SELECT ")
            .push(Found::COLUMNS)
            .push(" FROM contacts WHERE org_id = ")
            .bind(org.get())
            .push(" AND ")
            .json_in(column, json(values)?, "TEXT");
        Ok(Some(sql))
    };
    if let Some(sql) = lookup("email_lower", emails)? {
        found.extend(sql.all::<Found>(db).await?);
    }
    let emails_found: std::collections::HashSet<&str> = found
        .iter()
        .filter_map(|f| f.email_lower.as_deref())
        .collect();
    let mut phones: Vec<&str> = phones
        .iter()
        .filter(|(email, _)| email.is_none_or(|e| !emails_found.contains(e)))
        .map(|(_, phone)| *phone)
        .collect();
    phones.sort_unstable();
    phones.dedup();
    drop(emails_found);
    if let Some(sql) = lookup("phone", &phones)? {
        found.extend(sql.all::<Found>(db).await?);
    }
    found.sort_by_key(|f| f.id);
    found.dedup_by_key(|f| f.id);
    let ids: Vec<i64> = found.iter().map(|f| f.id).collect();
    let mut groups = super::groups_of(db, org, &ids).await?;
    let mut out = Matches::default();
    for f in found {
        let contact = Contact {
            id: f.id,
            first_name: f.first_name,
            last_name: f.last_name,
            email: f.email,
            phone: f.phone.clone(),
            department: f.department,
            role: f.role,
            location: f.location,
            groups: groups.remove(&f.id).unwrap_or_default(),
            synced_groups: Vec::new(),
            synced: f.integration_id.is_some(),
            provisioned: f.scim_source_id.is_some(),
            deactivated: !f.active,
            source: f.source,
            version: f.version,
            created_at: from_ms(f.created_at),
            updated_at: from_ms(f.updated_at),
        };
        if let Some(phone) = f.phone {
            // Sorted by id, so the first kept is the lowest.
            out.by_phone.entry(phone).or_insert_with(|| contact.clone());
        }
        if let Some(email) = f.email_lower {
            out.by_email.insert(email, contact);
        }
    }
    Ok(out)
}

/// A contact as [`find_matches`] reads it: what a row is matched with and
/// merged into, not its search text and keys (a third of its bytes).
#[derive(FromQueryResult)]
struct Found {
    id: i64,
    first_name: String,
    last_name: String,
    email: Option<String>,
    email_lower: Option<String>,
    phone: Option<String>,
    department: Option<String>,
    role: Option<String>,
    location: Option<String>,
    source: String,
    active: bool,
    version: i64,
    created_at: i64,
    updated_at: i64,
    integration_id: Option<i64>,
    scim_source_id: Option<i64>,
}

impl Found {
    const COLUMNS: &'static str = "id, first_name, last_name, email, email_lower, phone, \
        department, role, location, source, active, version, created_at, updated_at, \
        integration_id, scim_source_id";
}

/// Group ids by lower-case name, remembered across the batches of an import;
/// groups that do not exist yet are created with the import's source.
pub struct GroupIds {
    org: OrgId,
    source: String,
    ids: HashMap<String, i64>,
}

impl GroupIds {
    pub fn new(org: OrgId, source: &str) -> Self {
        Self {
            org,
            source: source.to_string(),
            ids: HashMap::new(),
        }
    }

    pub async fn get(&mut self, db: &impl ConnectionTrait, name: &str) -> Result<i64, AppError> {
        let lower = name.to_lowercase();
        if let Some(id) = self.ids.get(&lower) {
            return Ok(*id);
        }
        let id = group_id(db, self.org, name, &self.source).await?;
        self.ids.insert(lower, id);
        Ok(id)
    }
}

/// Ids for `n` new contacts. Inside a write transaction nobody else inserts on
/// SQLite (it holds the write lock); PostgreSQL hands out sequence values.
async fn new_ids(db: &impl ConnectionTrait, n: usize) -> Result<Vec<i64>, AppError> {
    let backend = db.get_database_backend();
    let mut sql = Sql::new(backend);
    if backend == DbBackend::Postgres {
        sql.push("SELECT nextval(pg_get_serial_sequence('contacts', 'id')) AS id FROM generate_series(1, ")
            .bind(n as i64)
            .push(")");
        #[derive(FromQueryResult)]
        struct Id {
            id: i64,
        }
        return Ok(sql.all::<Id>(db).await?.into_iter().map(|r| r.id).collect());
    }
    sql.push("SELECT COALESCE(MAX(id), 0) FROM contacts");
    let max = sql.scalar_i64(db).await?.unwrap_or(0);
    Ok((1..=n as i64).map(|i| max + i).collect())
}

/// A contact row as `json_each` reads it: a JSON array, column by column.
#[derive(serde::Serialize)]
struct Row<'a>(
    i64,
    i64,
    &'a str,
    &'a str,
    &'a str,
    &'a str,
    Option<&'a str>,
    Option<&'a str>,
    Option<&'a str>,
    Option<&'a str>,
    Option<&'a str>,
    Option<&'a str>,
    &'a str,
    i64,
    i64,
    Option<i64>,
    Option<&'a str>,
    Option<i64>,
);

/// What a new contact's row holds beside its fields, derived from them: its
/// name-order key, search text and lower-case email. An upload computes them
/// on the thread that reads and validates its rows, so that the transaction
/// writing a batch does not wait for them.
#[derive(Debug, Clone)]
pub struct Derived {
    pub sort_name: String,
    pub text: String,
    pub email_lower: Option<String>,
}

impl Derived {
    pub fn of(c: &ValidContact) -> Self {
        Self::with_sort_name(c, c.sort_name())
    }

    /// For a writer that has computed `c`'s sort name already (to order them).
    pub fn with_sort_name(c: &ValidContact, sort_name: String) -> Self {
        let email_lower = c.email.as_ref().map(|e| e.lower());
        Derived {
            sort_name,
            text: super::text::of_lower(c, email_lower.as_deref()),
            email_lower,
        }
    }
}

/// Insert validated contacts with their groups, in a few statements, and
/// return their ids in order.
///
/// They are written in name order, with ids ascending in that order and, on
/// SQLite when `keyed`, with their search keys ([`super::keys_for`]), so each
/// row and index entry is written once. Without a key (not `keyed`, or its gap
/// ran out) a contact waits for [`super::place`], which bulk writers must call:
/// an upload, many small transactions, defers it to index many at once. On
/// PostgreSQL, contacts inserted without keys wait for their word starts
/// (`super::word_starts`) the same way.
///
/// Contacts from an integration name it and give each one's external id, in
/// the order of `contacts`.
pub async fn insert_many(
    tx: &impl ConnectionTrait,
    org: OrgId,
    contacts: &[&ValidContact],
    source: &str,
    groups: &mut GroupIds,
    linked: Option<(i64, &[&str])>,
    keyed: bool,
) -> Result<Vec<i64>, AppError> {
    let derived: Vec<Derived> = contacts.iter().map(|c| Derived::of(c)).collect();
    let contacts: Vec<(&ValidContact, &Derived)> = contacts.iter().copied().zip(&derived).collect();
    insert_derived(tx, org, &contacts, source, groups, linked, keyed).await
}

/// [`insert_many`], for contacts whose [`Derived`] values are at hand.
pub async fn insert_derived(
    tx: &impl ConnectionTrait,
    org: OrgId,
    contacts: &[(&ValidContact, &Derived)],
    source: &str,
    groups: &mut GroupIds,
    linked: Option<(i64, &[&str])>,
    keyed: bool,
) -> Result<Vec<i64>, AppError> {
    if contacts.is_empty() {
        return Ok(Vec::new());
    }
    let backend = tx.get_database_backend();
    let t0 = std::time::Instant::now();
    let mut order: Vec<usize> = (0..contacts.len()).collect();
    order.sort_by(|&a, &b| contacts[a].1.sort_name.cmp(&contacts[b].1.sort_name));
    let t_sort = t0.elapsed();
    let fresh = new_ids(tx, contacts.len()).await?;
    let t1 = std::time::Instant::now();
    let mut ids = vec![0; contacts.len()];
    for (&i, id) in order.iter().zip(fresh) {
        ids[i] = id;
    }
    let in_order: Vec<(&str, i64)> = order
        .iter()
        .map(|&i| (contacts[i].1.sort_name.as_str(), ids[i]))
        .collect();
    let keys = if keyed {
        super::keys_for(tx, org, &in_order).await?
    } else {
        vec![None; in_order.len()]
    };
    let now = now_ms();
    let rows: Vec<Row> = order
        .iter()
        .zip(keys)
        .map(|(&i, key)| {
            let (c, d) = contacts[i];
            let (integration, external) = match linked {
                Some((integration, external)) => (Some(integration), external.get(i).copied()),
                None => (None, None),
            };
            Row(
                ids[i],
                org.get(),
                &c.first_name,
                &c.last_name,
                &d.sort_name,
                &d.text,
                c.email.as_ref().map(|e| e.as_str()),
                d.email_lower.as_deref(),
                c.phone.as_ref().map(|p| p.as_str()),
                c.department.as_deref(),
                c.role.as_deref(),
                c.location.as_deref(),
                source,
                now,
                now,
                integration,
                external,
                key,
            )
        })
        .collect();
    let mut sql = Sql::new(backend);
    sql.push(
        "INSERT INTO contacts (id, org_id, first_name, last_name, sort_name, search_text, \
         email, email_lower, phone, department, role, location, source, created_at, \
         updated_at, integration_id, external_id",
    );
    let mut types = vec![
        "BIGINT", "BIGINT", "TEXT", "TEXT", "TEXT", "TEXT", "TEXT", "TEXT", "TEXT", "TEXT", "TEXT",
        "TEXT", "TEXT", "BIGINT", "BIGINT", "BIGINT", "TEXT",
    ];
    if backend == DbBackend::Sqlite {
        // PostgreSQL has no search keys.
        sql.push(", search_key");
        types.push("BIGINT");
    }
    sql.push(") SELECT ");
    for (i, ty) in types.iter().enumerate() {
        if i > 0 {
            sql.push(", ");
        }
        sql.json_col(i, ty);
    }
    sql.push(" FROM ").json_rows(json(&rows)?);
    drop(rows);
    // With the search keys when `keyed` (a query).
    let t_json = t1.elapsed();
    let t2 = std::time::Instant::now();
    // PostgreSQL's word starts of contacts without keys wait for `place` too.
    let later = backend == DbBackend::Postgres && !keyed;
    if later {
        super::word_starts::later(tx, true).await?;
    }
    sql.execute(tx).await?;
    if later {
        super::word_starts::later(tx, false).await?;
    }

    let t_statement = t2.elapsed();
    let t3 = std::time::Instant::now();
    let mut members: Vec<(i64, i64)> = Vec::new();
    for ((c, _), id) in contacts.iter().zip(&ids) {
        for name in &c.groups {
            members.push((groups.get(tx, name.as_str()).await?, *id));
        }
    }
    add_members(tx, members).await?;
    tracing::debug!(
        sort_ms = t_sort.as_secs_f64() * 1e3,
        json_ms = t_json.as_secs_f64() * 1e3,
        statement_ms = t_statement.as_secs_f64() * 1e3,
        members_ms = t3.elapsed().as_secs_f64() * 1e3,
        "insert_many"
    );
    Ok(ids)
}

/// A contact's new values as [`update_many`] and [`overwrite_many`] read
/// them: a JSON array, column by column.
#[derive(serde::Serialize)]
struct Update<'a>(
    i64,
    &'a str,
    &'a str,
    &'a str,
    &'a str,
    Option<&'a str>,
    Option<&'a str>,
    Option<&'a str>,
    Option<&'a str>,
    Option<&'a str>,
    Option<&'a str>,
    /// The external id, for an integration's contacts.
    Option<&'a str>,
    /// The version the writer read, for a write that must not overwrite a
    /// later change.
    i64,
);

impl<'a> Update<'a> {
    fn of(
        id: i64,
        (c, d): (&'a ValidContact, &'a Derived),
        external: Option<&'a str>,
        version: i64,
    ) -> Self {
        Update(
            id,
            &c.first_name,
            &c.last_name,
            &d.sort_name,
            &d.text,
            c.email.as_ref().map(|e| e.as_str()),
            d.email_lower.as_deref(),
            c.phone.as_ref().map(|p| p.as_str()),
            c.department.as_deref(),
            c.role.as_deref(),
            c.location.as_deref(),
            external,
            version,
        )
    }
}

/// A contact's stored values, as [`Changed::between`] compares them with
/// the values about to be written.
pub struct Was<'a> {
    pub first_name: &'a str,
    pub last_name: &'a str,
    pub email: Option<&'a str>,
    pub phone: Option<&'a str>,
    pub department: Option<&'a str>,
    pub role: Option<&'a str>,
    pub location: Option<&'a str>,
}

impl<'a> From<&'a Contact> for Was<'a> {
    fn from(c: &'a Contact) -> Self {
        Was {
            first_name: &c.first_name,
            last_name: &c.last_name,
            email: c.email.as_deref(),
            phone: c.phone.as_deref(),
            department: c.department.as_deref(),
            role: c.role.as_deref(),
            location: c.location.as_deref(),
        }
    }
}

/// Which of a contact's columns a write changes, in the groups that share
/// indexes; an update sets only those. SQLite rewrites the entries of every
/// index on a column that an `UPDATE` sets, whether its value changes or not:
/// measured on a million contacts (Python's `sqlite3`), 50,000 updates of the
/// department took 2.6-3.1 s when they also set the unchanged names, email
/// and phone, and 1.1-1.3 s when they did not.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Changed {
    names: bool,
    email: bool,
    phone: bool,
    labels: bool,
}

impl Changed {
    /// Every column: for a writer that does not know the stored values.
    pub const ALL: Changed = Changed {
        names: true,
        email: true,
        phone: true,
        labels: true,
    };

    /// What writing `now` over `was` changes.
    pub fn between(was: &Was<'_>, now: &ValidContact) -> Self {
        Changed {
            names: was.first_name != now.first_name.as_str()
                || was.last_name != now.last_name.as_str(),
            email: was.email != now.email.as_ref().map(|e| e.as_str()),
            phone: was.phone != now.phone.as_ref().map(|p| p.as_str()),
            labels: was.department != now.department.as_deref()
                || was.role != now.role.as_deref()
                || was.location != now.location.as_deref(),
        }
    }

    /// What a write changes, from the names of the fields that differ
    /// (`first_name`, `email`, `department`, ...; others are not columns
    /// [`write_rows`] sets, and change nothing here).
    pub fn of_fields<'f>(fields: impl IntoIterator<Item = &'f str>) -> Self {
        fields
            .into_iter()
            .fold(Changed::default(), |changed, field| match field {
                "first_name" | "last_name" => Changed {
                    names: true,
                    ..changed
                },
                "email" => Changed {
                    email: true,
                    ..changed
                },
                "phone" => Changed {
                    phone: true,
                    ..changed
                },
                "department" | "role" | "location" => Changed {
                    labels: true,
                    ..changed
                },
                _ => changed,
            })
    }

    /// What this write or `other` changes.
    pub fn or(self, other: Changed) -> Self {
        Changed {
            names: self.names || other.names,
            email: self.email || other.email,
            phone: self.phone || other.phone,
            labels: self.labels || other.labels,
        }
    }

    /// The search text is made of the names, the email and the labels.
    fn text(self) -> bool {
        self.names || self.email || self.labels
    }
}

/// `UPDATE contacts` of `org` from `rows`, a statement for each set of
/// columns that change (see [`Changed`]): what [`super::write_fields`]
/// writes, a new version and the time, then the caller's own `SET` (`more`,
/// given what the statement changes) and `WHERE` (`only`) terms. Returns how
/// many contacts were written.
async fn write_rows(
    tx: &impl ConnectionTrait,
    org: OrgId,
    rows: Vec<(Changed, Update<'_>)>,
    more: impl Fn(&mut Sql, Changed),
    only: impl Fn(&mut Sql),
) -> Result<u64, sea_orm::DbErr> {
    let mut shapes: std::collections::BTreeMap<Changed, Vec<Update>> = Default::default();
    for (changed, row) in rows {
        shapes.entry(changed).or_default().push(row);
    }
    let mut written = 0;
    for (changed, rows) in shapes {
        written += write_shape(tx, org, changed, &rows, &more, &only).await?;
    }
    Ok(written)
}

/// One statement of [`write_rows`]: `rows` that all change `changed`.
async fn write_shape(
    tx: &impl ConnectionTrait,
    org: OrgId,
    changed: Changed,
    rows: &[Update<'_>],
    more: impl Fn(&mut Sql, Changed),
    only: impl Fn(&mut Sql),
) -> Result<u64, sea_orm::DbErr> {
    // Hand-written: UPDATE ... FROM a JSON value (one statement for a
    // thousand contacts; one per contact cost half a millisecond each). The
    // right-hand sides read the row as it was.
    let mut sql = Sql::new(tx.get_database_backend());
    sql.push("UPDATE contacts SET version = contacts.version + 1, updated_at = ")
        .bind(now_ms());
    let set = |sql: &mut Sql, columns: &[(usize, &str)]| {
        for (i, column) in columns {
            sql.push(&format!(", {column} = ")).json_col(*i, "TEXT");
        }
    };
    if changed.names {
        // A new name takes the contact out of the search index's name order
        // until it is placed again (`super::place`).
        sql.push(", search_key = CASE WHEN contacts.sort_name = ")
            .json_col(3, "TEXT")
            .push(" THEN contacts.search_key END");
        set(
            &mut sql,
            &[(1, "first_name"), (2, "last_name"), (3, "sort_name")],
        );
    }
    if changed.text() {
        set(&mut sql, &[(4, "search_text")]);
    }
    if changed.email {
        set(&mut sql, &[(5, "email"), (6, "email_lower")]);
    }
    if changed.phone {
        set(&mut sql, &[(7, "phone")]);
    }
    if changed.labels {
        set(
            &mut sql,
            &[(8, "department"), (9, "role"), (10, "location")],
        );
    }
    more(&mut sql, changed);
    let json = serde_json::to_string(rows).map_err(|e| sea_orm::DbErr::Custom(e.to_string()))?;
    sql.push(" FROM ")
        .json_rows(json)
        .push(" WHERE contacts.id = ")
        .json_col(0, "BIGINT")
        // The unary + keeps SQLite from walking the organisation's contacts
        // for each row (its index on org_id would look cheaper than the ids).
        .push(" AND +contacts.org_id = ")
        .bind(org.get());
    only(&mut sql);
    sql.execute(tx).await
}

/// Write each contact `(id, values, external id, what changes)` of `org` as
/// integration `integration`'s, with `source`: what [`super::write_fields`]
/// writes, and the link. A contact the integration takes over remembers its
/// earlier source, to get it back on removal.
pub async fn update_many(
    tx: &impl ConnectionTrait,
    org: OrgId,
    contacts: &[(i64, &ValidContact, &str, Changed)],
    source: &str,
    integration: i64,
) -> Result<(), AppError> {
    if contacts.is_empty() {
        return Ok(());
    }
    let derived: Vec<Derived> = contacts.iter().map(|(_, c, ..)| Derived::of(c)).collect();
    let rows = contacts
        .iter()
        .zip(&derived)
        .map(|((id, c, external, changed), d)| {
            (*changed, Update::of(*id, (c, d), Some(external), 0))
        })
        .collect();
    let set_link = |sql: &mut Sql, _: Changed| {
        sql.push(", external_id = ")
            .json_col(11, "TEXT")
            .push(
                ", adopted_source = CASE WHEN contacts.integration_id IS NULL \
                 THEN contacts.source ELSE contacts.adopted_source END, source = ",
            )
            .bind(source.to_string())
            .push(", integration_id = ")
            .bind(integration);
    };
    write_rows(tx, org, rows, set_link, |_| {}).await?;
    Ok(())
}

/// Replace each contact `(id, version read, values and what is derived from
/// them, what changes)` of `org`,
/// as [`super::overwrite`] replaces one, groups aside (see [`add_members`]
/// and [`remove_members`]). A contact changed since it was read fails the
/// whole write with a conflict, as does an email another contact has.
///
/// On SQLite a contact whose search text changes is parked: its entry in the
/// text index stays as it was until the upload's catch-up rewrites it
/// ([`super::place_some`]), as the upload's new contacts are placed after its
/// rows (migration m0022).
pub async fn overwrite_many(
    tx: &impl ConnectionTrait,
    org: OrgId,
    contacts: &[(i64, i64, (&ValidContact, &Derived), Changed)],
) -> Result<(), AppError> {
    if contacts.is_empty() {
        return Ok(());
    }
    let rows = contacts
        .iter()
        .map(|(id, version, c, changed)| (*changed, Update::of(*id, *c, None, *version)))
        .collect();
    let as_read = |sql: &mut Sql| {
        sql.push(" AND contacts.version = ").json_col(12, "BIGINT");
    };
    let park = |sql: &mut Sql, changed: Changed| {
        if changed.text() && !sql.is_postgres() {
            // The entry indexed now, unless the contact is parked already.
            sql.push(&format!(
                ", search_old = COALESCE(contacts.search_old, {})",
                crate::backend::db::indexed_text("contacts")
            ));
        }
    };
    match write_rows(tx, org, rows, park, as_read).await {
        Ok(n) if n == contacts.len() as u64 => Ok(()),
        Ok(_) => Err(AppError::Conflict(super::CONFLICT.into())),
        Err(e) if is_unique_violation(&e) => Err(AppError::field("email", super::DUPLICATE_EMAIL)),
        Err(e) => Err(e.into()),
    }
}

/// `SELECT group_id, contact_id FROM` the `(group id, contact id)` pairs
/// of `chunk`, carried as one JSON value.
fn member_pairs<'a>(sql: &'a mut Sql, chunk: &[(i64, i64)]) -> Result<&'a mut Sql, AppError> {
    Ok(sql
        .push("SELECT ")
        .json_col(0, "BIGINT")
        .push(", ")
        .json_col(1, "BIGINT")
        .push(" FROM ")
        .json_rows(json(chunk)?))
}

/// Remove `(group id, contact id)` memberships, in statements of a few
/// thousand.
pub async fn remove_members(
    tx: &impl ConnectionTrait,
    members: &[(i64, i64)],
) -> Result<(), AppError> {
    for chunk in members.chunks(2000) {
        // Hand-written: the pairs go as one JSON value, compared as row values.
        let mut sql = Sql::new(tx.get_database_backend());
        sql.push("DELETE FROM group_members WHERE (group_id, contact_id) IN (");
        member_pairs(&mut sql, chunk)?.push(")");
        sql.execute(tx).await?;
    }
    Ok(())
}

/// Add `(group id, contact id)` memberships, in statements of a few thousand;
/// ones that exist already are left as they are.
pub async fn add_members(
    tx: &impl ConnectionTrait,
    mut members: Vec<(i64, i64)>,
) -> Result<(), AppError> {
    members.sort_unstable();
    members.dedup();
    for chunk in members.chunks(2000) {
        let mut sql = Sql::new(tx.get_database_backend());
        sql.push("INSERT INTO group_members (group_id, contact_id) ");
        // SQLite needs a WHERE before an upsert's ON to parse it.
        member_pairs(&mut sql, chunk)?.push(" WHERE true ON CONFLICT DO NOTHING");
        sql.execute(tx).await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::{Changed, Was};
    use crate::backend::domain::validate;
    use crate::model::ContactDraft;

    #[test]
    fn a_write_changes_only_the_columns_whose_values_differ() {
        let draft = |first: &str, email: &str, phone: &str, role: &str| ContactDraft {
            first_name: first.into(),
            last_name: "Lovelace".into(),
            email: email.into(),
            phone: phone.into(),
            department: "Ops".into(),
            role: role.into(),
            ..Default::default()
        };
        let was = Was {
            first_name: "Ada",
            last_name: "Lovelace",
            email: Some("ada@example.com"),
            phone: Some("+447911123456"),
            department: Some("Ops"),
            role: Some("Analyst"),
            location: None,
        };
        let changed = |d: ContactDraft| Changed::between(&was, &validate(&d, "GB").unwrap());
        let none = Changed::default();
        let same = draft("Ada", "ada@example.com", "07911 123456", "Analyst");
        assert_eq!(changed(same), none);
        let role = changed(draft("Ada", "ada@example.com", "07911 123456", "Engineer"));
        assert_eq!(
            role,
            Changed {
                labels: true,
                ..none
            }
        );
        assert!(role.text());
        let phone = changed(draft("Ada", "ada@example.com", "07911 123457", "Analyst"));
        assert_eq!(
            phone,
            Changed {
                phone: true,
                ..none
            }
        );
        // The phone is not in the search text.
        assert!(!phone.text());
        // An email's spelling is a change; a name's too.
        let email = changed(draft("Ada", "ADA@example.com", "07911 123456", "Analyst"));
        assert_eq!(
            email,
            Changed {
                email: true,
                ..none
            }
        );
        let name = changed(draft("Augusta", "ada@example.com", "", "Analyst"));
        assert_eq!(
            name,
            Changed {
                names: true,
                phone: true,
                ..none
            }
        );
        assert_eq!(
            phone.or(name),
            Changed {
                names: true,
                phone: true,
                ..none
            }
        );
        assert_eq!(none.or(Changed::ALL), Changed::ALL);
        // A sync's list of differing fields says the same.
        assert_eq!(Changed::of_fields(["role"]), role);
        assert_eq!(Changed::of_fields(["first_name", "phone"]), name);
        assert_eq!(Changed::of_fields(["email", "source"]), email);
        assert_eq!(Changed::of_fields([]), none);
    }
}
