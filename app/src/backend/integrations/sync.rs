//! A sync: read the source's whole directory, then apply it in one
//! transaction, so that a failed or partial read changes no contact.
//!
//! People are matched by (integration, external id); a person not yet linked
//! takes over a contact made in Muster (by hand or upload) with the same email,
//! and otherwise becomes a new contact with the provider as its Source. The
//! source's groups become groups of this integration, with exactly the members
//! the source lists. A contact whose person the source no longer lists, or
//! lists as suspended, is let go (deleted, or given back to its earlier source
//! if the integration took it over), unless there are more of them than the
//! integration's bounds allow: then those deletions are held for review, and
//! the rest of the sync is applied all the same. Every sync is recorded in the
//! history, with what it did to each contact.

use super::history::{self, Change};
use super::set_status;
use crate::backend::auth;
use crate::backend::connectors::{self, Directory, HttpConfig, Person};
use crate::backend::db::entities::{contact, contact_group, group_member, integration};
use crate::backend::db::{begin_write, now_ms, Sql};
use crate::backend::directory::{self, bulk};
use crate::backend::domain::{validate, Email, Label, OrgId, ValidContact};
use crate::backend::vault::Vault;
use crate::model::{
    AppError, ChangeAction, HoldResolution, IntegrationStatus, Provider, SyncResult, SyncTrigger,
    GONE, SUSPENDED,
};
use sea_orm::sea_query::{Expr, ExprTrait, OnConflict, Query};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, PaginatorTrait, QueryFilter, Set,
};
use std::collections::{HashMap, HashSet};
use std::time::Duration;
use tracing::Instrument;

/// Rows per statement for lookups and inserts.
const CHUNK: usize = 2000;

/// Read and apply integration `id`'s directory, recording the outcome on the
/// integration, with a heartbeat every `beat_every` meanwhile. The caller has
/// claimed the sync ([`super::claim_sync`]).
#[tracing::instrument(name = "sync", skip_all, fields(org = org.get(), integration = id))]
#[allow(clippy::too_many_arguments)]
pub async fn run(
    db: &DatabaseConnection,
    vault: &Vault,
    http: &HttpConfig,
    org: OrgId,
    id: i64,
    trigger: SyncTrigger,
    attempt: u32,
    beat_every: Duration,
) -> Result<SyncResult, AppError> {
    let run_id = history::start(db, org, id, trigger, attempt).await?;
    let heartbeat = tokio::spawn(crate::backend::db::beat(
        db.clone(),
        "integrations",
        IntegrationStatus::Syncing.as_str(),
        id,
        beat_every,
    ));
    // Past the deadline the work is dropped: a read stops, an apply's
    // transaction rolls back.
    let outcome = tokio::time::timeout(
        http.sync_deadline,
        fetch_and_apply(db, vault, http, org, id, run_id),
    )
        .await
        .unwrap_or_else(|_| {
            Err(AppError::Upstream(format!(
                "The sync did not finish within {} minutes (MUSTER_SYNC_DEADLINE_MINUTES), so it was stopped and nothing was changed. Check that the system answers promptly, then sync again.",
                http.sync_deadline.as_secs().div_ceil(60)
            )))
        });
    heartbeat.abort();
    // The run is finished before the integration stops syncing, so that the
    // sweeper never finds a running sync of an idle integration.
    match &outcome {
        Ok(result) => {
            history::finish(db, org, run_id, Ok(result)).await?;
            set_status(
                db,
                org,
                id,
                IntegrationStatus::Connected,
                None,
                Some(result),
            )
            .await?
        }
        Err(e) => {
            let message = match e {
                AppError::Upstream(m) => m.clone(),
                other => other.to_string(),
            };
            history::finish(db, org, run_id, Err(&message)).await?;
            set_status(db, org, id, IntegrationStatus::Failed, Some(&message), None).await?
        }
    }
    outcome
}

async fn fetch_and_apply(
    db: &DatabaseConnection,
    vault: &Vault,
    http: &HttpConfig,
    org: OrgId,
    id: i64,
    run_id: i64,
) -> Result<SyncResult, AppError> {
    let (provider, credentials) = super::credentials(db, vault, org, id).await?;
    let connector = connectors::connector(provider, &credentials, http)?;
    let region = auth::org(db, org).await?.default_region;
    let started = std::time::Instant::now();
    let validator = Validator::start(region.clone(), http.max_people);
    let reading = connector
        .directory(&validator)
        .instrument(tracing::info_span!(
            "read_directory",
            provider = provider.key()
        ));
    let read = tokio::select! {
        read = reading => read,
        () = validator.too_many() => Err(connectors::ConnectorError::Provider(format!(
            "The directory holds more than {} people, the most one sync reads (MUSTER_SYNC_MAX_PEOPLE), so Muster stopped reading and changed nothing. Check the system's user filters, or raise the limit.",
            http.max_people
        ))),
    };
    let checked = validator.finish().await?;
    let dir = read?;
    tracing::info!(
        integration = id,
        people = dir.people.len(),
        groups = dir.groups.len(),
        elapsed_ms = started.elapsed().as_millis() as u64,
        "directory read and validated"
    );
    apply(db, org, id, run_id, provider, &region, dir, checked).await
}

/// A person's external id and the person as a valid contact, if it is one.
type Checked = (String, Option<ValidContact>);

/// Validates the people a connector reads on a thread of its own, while the
/// connector waits for the next page: phone numbers take long to check
/// (libphonenumber's rules), and a sync should not add that time to the read.
struct Validator {
    people: std::sync::mpsc::Sender<Person>,
    thread: std::thread::JoinHandle<Vec<Checked>>,
    /// People read so far, the most allowed, and the signal once past it.
    read: std::sync::atomic::AtomicUsize,
    max: usize,
    over: tokio::sync::Notify,
}

impl Validator {
    /// Resolves once more than the allowed number of people have been read.
    async fn too_many(&self) {
        self.over.notified().await
    }

    fn start(region: String, max: usize) -> Self {
        let (people, incoming) = std::sync::mpsc::channel::<Person>();
        let thread = std::thread::spawn(move || {
            incoming
                .into_iter()
                .map(|p| {
                    let c = valid(&p, &region);
                    (p.external_id, c)
                })
                .collect()
        });
        Self {
            people,
            thread,
            read: Default::default(),
            max,
            over: tokio::sync::Notify::new(),
        }
    }

    /// Everyone checked, in the order they were read.
    async fn finish(self) -> Result<Vec<Checked>, AppError> {
        drop(self.people);
        let thread = self.thread;
        tokio::task::spawn_blocking(move || thread.join())
            .await
            .map_err(AppError::internal)?
            .map_err(|_| AppError::internal("the validating thread panicked"))
    }
}

impl connectors::Progress for Validator {
    fn person(&self, person: &Person) {
        let read = self.read.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
        if read > self.max {
            // Stored if nobody waits yet: the read is stopped all the same.
            self.over.notify_one();
            return;
        }
        // The thread lives until `finish`, so the send cannot fail before.
        let _ = self.people.send(person.clone());
    }
}

/// A contact as stored, matched to a person of the source.
type Existing = contact::Model;

/// The fields where contact `e` differs from what the source says of it,
/// each with its value before and after.
fn changes(e: &Existing, c: &ValidContact) -> Vec<(&'static str, Option<String>, Option<String>)> {
    let label = |l: &Option<Label>| l.as_deref().map(str::to_string);
    [
        (
            "first_name",
            Some(e.first_name.clone()),
            Some(c.first_name.to_string()),
        ),
        (
            "last_name",
            Some(e.last_name.clone()),
            Some(c.last_name.to_string()),
        ),
        (
            "email",
            e.email.clone(),
            c.email.as_ref().map(|v| v.to_string()),
        ),
        (
            "phone",
            e.phone.clone(),
            c.phone.as_ref().map(|v| v.to_string()),
        ),
        ("department", e.department.clone(), label(&c.department)),
        ("role", e.role.clone(), label(&c.role)),
        ("location", e.location.clone(), label(&c.location)),
    ]
    .into_iter()
    .filter(|(_, before, after)| before != after)
    .collect()
}

/// Changed fields as the history keeps them: `{"field": [before, after]}`.
fn changed_json(changed: &[(&'static str, Option<String>, Option<String>)]) -> String {
    let map: serde_json::Map<String, serde_json::Value> = changed
        .iter()
        .map(|(f, b, a)| (f.to_string(), serde_json::json!([b, a])))
        .collect();
    serde_json::Value::Object(map).to_string()
}

fn change(
    action: ChangeAction,
    contact_id: Option<i64>,
    p: &Person,
    detail: Option<String>,
) -> Change {
    Change {
        action,
        contact_id,
        external_id: p.external_id.clone(),
        name: p.display_name(),
        email: Some(p.contact.email.trim().to_string()).filter(|e| !e.is_empty()),
        detail,
    }
}

/// A person as a valid contact: a phone or email the directory holds but
/// that does not validate is dropped (the rest of the person is still worth
/// having); no name, or neither email nor phone left, and the person is skipped.
fn valid(p: &Person, region: &str) -> Option<ValidContact> {
    let mut draft = p.contact.clone();
    for _ in 0..3 {
        match validate(&draft, region) {
            Ok(c) => return Some(c),
            Err(errors) => {
                let mut dropped = false;
                for field in ["phone", "email", "department", "role", "location"] {
                    if errors.iter().any(|e| e.field == field) {
                        match field {
                            "phone" => draft.phone.clear(),
                            "email" => draft.email.clear(),
                            "department" => draft.department.clear(),
                            "role" => draft.role.clear(),
                            _ => draft.location.clear(),
                        }
                        dropped = true;
                    }
                }
                if !dropped {
                    return None;
                }
            }
        }
    }
    None
}

/// Why a person read from the source is not a contact.
const INVALID: &str = "no name, or neither a usable email nor phone";
const NO_ID: &str = "the source gave no id";
const SAME_ID: &str = "the same id as another person of the source";
const EMAIL_ELSEWHERE: &str = "its email belongs to a contact of another source";
const SAME_EMAIL: &str = "the same email as another person of the source";

/// One person per external id (the first), each as a valid contact, in the
/// directory's order; and the others, with why they are skipped. `checked`
/// holds the people the connector reported as it read them, in order; anyone
/// else is checked here.
#[allow(clippy::type_complexity)]
fn validated(
    people: Vec<Person>,
    checked: Vec<Checked>,
    region: &str,
) -> (Vec<(Person, ValidContact)>, Vec<(Person, &'static str)>) {
    let mut checked = checked.into_iter().peekable();
    let mut seen = HashSet::new();
    let mut out = Vec::with_capacity(people.len());
    let mut skipped = Vec::new();
    for p in people {
        let contact = match checked.next_if(|(x, _)| *x == p.external_id) {
            Some((_, c)) => c,
            None => valid(&p, region),
        };
        if p.external_id.is_empty() {
            skipped.push((p, NO_ID));
        } else if !seen.insert(p.external_id.clone()) {
            skipped.push((p, SAME_ID));
        } else if let Some(c) = contact {
            out.push((p, c));
        } else {
            skipped.push((p, INVALID));
        }
    }
    (out, skipped)
}

/// Apply a directory read whole to integration `id`, recording what it did
/// as sync `run_id`.
#[allow(clippy::too_many_arguments)]
pub async fn apply(
    db: &DatabaseConnection,
    org: OrgId,
    id: i64,
    run_id: i64,
    provider: Provider,
    region: &str,
    mut dir: Directory,
    checked: Vec<Checked>,
) -> Result<SyncResult, AppError> {
    let source = provider.label();
    let mut result = SyncResult {
        people: dir.people.len() as u64,
        excluded: dir.excluded,
        groups: dir.groups.len() as u64,
        ..Default::default()
    };
    let started = std::time::Instant::now();
    // Everyone the source listed, valid or not: only those it no longer
    // lists at all are let go.
    let listed: HashSet<String> = dir.people.iter().map(|p| p.external_id.clone()).collect();
    let suspended: HashSet<String> = std::mem::take(&mut dir.excluded_ids).into_iter().collect();
    // Pair people with their checks outside the transaction, off the async workers.
    let all = std::mem::take(&mut dir.people);
    let region_owned = region.to_string();
    let (people, invalid) =
        tokio::task::spawn_blocking(move || validated(all, checked, &region_owned))
            .await
            .map_err(AppError::internal)?;
    result.skipped = invalid.len() as u64;
    let mut log: Vec<Change> = invalid
        .iter()
        .map(|(p, why)| change(ChangeAction::Skipped, None, p, Some(why.to_string())))
        .collect();

    let t_valid = started.elapsed();
    let tx = begin_write(db).await?;
    let backend = tx.get_database_backend();
    let settings = super::find(org, id)
        .one(&tx)
        .await?
        .ok_or(AppError::NotFound)?;
    // This integration's contacts, by external id.
    let mut linked: HashMap<String, Existing> = HashMap::new();
    {
        let mine = contact::Entity::find()
            .filter(contact::Column::OrgId.eq(org.get()))
            .filter(contact::Column::IntegrationId.eq(id))
            .all(&tx)
            .await?;
        for e in mine {
            if let Some(x) = e.external_id.clone() {
                linked.insert(x, e);
            }
        }
    }
    // Contacts elsewhere with the emails of people not linked yet.
    let emails: Vec<String> = people
        .iter()
        .filter(|(p, _)| !linked.contains_key(&p.external_id))
        .filter_map(|(_, c)| c.email.as_ref().map(|e| e.lower()))
        .collect();
    let mut by_email: HashMap<String, Existing> = HashMap::new();
    for chunk in emails.chunks(CHUNK) {
        // Hand-written: the emails go as one JSON value (one statement text
        // for any number of them).
        let mut sql = Sql::new(backend);
        sql.push("SELECT * FROM contacts WHERE org_id = ")
            .bind(org.get())
            .push(" AND email_lower IN ")
            .json_in(
                serde_json::to_string(chunk).map_err(AppError::internal)?,
                "TEXT",
            );
        for e in sql.all::<Existing>(&tx).await? {
            if let Some(email) = e.email_lower.clone() {
                by_email.insert(email, e);
            }
        }
    }

    let mut new: Vec<(&Person, &ValidContact)> = Vec::new();
    let mut claimed_emails: HashSet<String> = linked
        .values()
        .filter_map(|e| e.email_lower.clone())
        .collect();
    let mut contact_of: HashMap<&str, i64> = HashMap::new();
    // Contacts already taken by a person of this directory.
    let mut taken: HashSet<i64> = HashSet::new();
    for (p, c) in &people {
        let email = c.email.as_ref().map(|e| e.lower());
        if let Some(e) = linked.get(&p.external_id) {
            contact_of.insert(&p.external_id, e.id);
            taken.insert(e.id);
            let mut c = c.clone();
            // Another contact may hold the new email: keep this one's old email then.
            if let Some(em) = &email {
                if e.email_lower.as_deref() != Some(em)
                    && by_email_taken(&tx, org, em, e.id).await?
                {
                    c.email = e.email.as_deref().and_then(|old| Email::parse(old).ok());
                }
            }
            let changed = changes(e, &c);
            if changed.is_empty() {
                result.unchanged += 1;
                continue;
            }
            write(&tx, org, e, &c, id, &p.external_id, source).await?;
            result.updated += 1;
            log.push(change(
                ChangeAction::Updated,
                Some(e.id),
                p,
                Some(changed_json(&changed)),
            ));
            continue;
        }
        match email.as_ref().and_then(|em| by_email.get(em)) {
            Some(e) if e.integration_id.is_none() && taken.insert(e.id) => {
                write(&tx, org, e, c, id, &p.external_id, source).await?;
                contact_of.insert(&p.external_id, e.id);
                result.linked += 1;
                let mut changed = changes(e, c);
                changed.push(("source", Some(e.source.clone()), Some(source.to_string())));
                log.push(change(
                    ChangeAction::Updated,
                    Some(e.id),
                    p,
                    Some(changed_json(&changed)),
                ));
            }
            Some(_) => {
                // The email belongs to a contact of another source (or one
                // person earlier in this directory): two contacts cannot share it.
                result.skipped += 1;
                log.push(change(
                    ChangeAction::Skipped,
                    None,
                    p,
                    Some(EMAIL_ELSEWHERE.into()),
                ));
            }
            None => {
                if let Some(em) = &email {
                    if !claimed_emails.insert(em.clone()) {
                        result.skipped += 1;
                        log.push(change(
                            ChangeAction::Skipped,
                            None,
                            p,
                            Some(SAME_EMAIL.into()),
                        ));
                        continue;
                    }
                }
                new.push((p, c));
            }
        }
    }

    let t_match = std::time::Instant::now();
    let t_matched = started.elapsed() - t_valid;
    // In name order, so that each chunk's keys follow the last chunk's.
    new.sort_by_cached_key(|(_, c)| c.sort_name());
    let mut groups = bulk::GroupIds::new(org, source);
    for chunk in new.chunks(CHUNK) {
        let contacts: Vec<&ValidContact> = chunk.iter().map(|(_, c)| *c).collect();
        let external: Vec<&str> = chunk.iter().map(|(p, _)| p.external_id.as_str()).collect();
        let ids = bulk::insert_many(
            &tx,
            org,
            &contacts,
            source,
            &mut groups,
            Some((id, &external)),
            true,
        )
        .await?;
        for ((p, _), cid) in chunk.iter().zip(ids) {
            contact_of.insert(&p.external_id, cid);
            log.push(change(ChangeAction::Added, Some(cid), p, None));
        }
        result.created += chunk.len() as u64;
    }

    let t_insert = t_match.elapsed();
    // Those the source no longer lists, or lists as suspended.
    let mut doomed: Vec<(&Existing, &'static str)> = linked
        .iter()
        .filter(|(x, _)| !listed.contains(*x))
        .map(|(x, e)| {
            (
                e,
                if suspended.contains(x) {
                    SUSPENDED
                } else {
                    GONE
                },
            )
        })
        .collect();
    doomed.sort_by_key(|(e, _)| e.id);
    let hold = history::must_hold(
        doomed.len() as u64,
        linked.len() as u64,
        result.people,
        settings.hold_percent,
        settings.hold_count,
    );
    let action = if hold {
        ChangeAction::Held
    } else {
        ChangeAction::Deleted
    };
    for (e, why) in &doomed {
        log.push(Change {
            action,
            contact_id: Some(e.id),
            external_id: e.external_id.clone().unwrap_or_default(),
            name: format!("{} {}", e.first_name, e.last_name)
                .trim()
                .to_string(),
            email: e.email.clone(),
            detail: Some(why.to_string()),
        });
    }
    if hold {
        result.held = doomed.len() as u64;
    } else if !doomed.is_empty() {
        let ids: Vec<i64> = doomed.iter().map(|(e, _)| e.id).collect();
        result.deleted = super::let_go(&tx, org, id, Some(&ids)).await?;
    }
    // An earlier hold is released: this sync either let its contacts go, or
    // holds (again) what is still to delete.
    if let Some(earlier) = settings.held_run_id {
        history::resolve(&tx, org, earlier, HoldResolution::Released, 0).await?;
    }
    integration::Entity::update_many()
        .col_expr(
            integration::Column::HeldRunId,
            Expr::value(hold.then_some(run_id)),
        )
        .filter(integration::Column::Id.eq(id))
        .filter(integration::Column::OrgId.eq(org.get()))
        .exec(&tx)
        .await?;

    write_groups(&tx, org, id, source, &dir, &contact_of).await?;
    let t_groups = t_match.elapsed();
    directory::place(&tx, org).await?;
    let t_place = t_match.elapsed();
    history::record(&tx, org, run_id, log).await?;
    let t_log = t_match.elapsed();
    tx.commit().await?;
    tracing::debug!(
        integration = id,
        pair_ms = t_valid.as_millis() as u64,
        match_ms = t_matched.as_millis() as u64,
        insert_ms = t_insert.as_millis() as u64,
        groups_ms = (t_groups - t_insert).as_millis() as u64,
        place_ms = (t_place - t_groups).as_millis() as u64,
        log_ms = (t_log - t_place).as_millis() as u64,
        commit_ms = (t_match.elapsed() - t_log).as_millis() as u64,
        "directory applied"
    );
    Ok(result)
}

async fn by_email_taken(
    tx: &impl ConnectionTrait,
    org: OrgId,
    email_lower: &str,
    except: i64,
) -> Result<bool, AppError> {
    let others = contact::Entity::find()
        .filter(contact::Column::OrgId.eq(org.get()))
        .filter(contact::Column::EmailLower.eq(email_lower))
        .filter(contact::Column::Id.ne(except))
        .count(tx)
        .await?;
    Ok(others > 0)
}

/// Write a person's fields to contact `e` and link it to the integration.
async fn write(
    tx: &impl ConnectionTrait,
    org: OrgId,
    e: &Existing,
    c: &ValidContact,
    integration: i64,
    external_id: &str,
    source: &str,
) -> Result<(), AppError> {
    use contact::Column as C;
    let mut update = directory::write_fields(contact::Entity::update_many(), c)
        .col_expr(C::Source, Expr::value(source))
        .col_expr(C::IntegrationId, Expr::value(integration))
        .col_expr(C::ExternalId, Expr::value(external_id));
    if e.integration_id.is_none() {
        // Taken over: remember where it came from, to give it back on removal.
        update = update.col_expr(C::AdoptedSource, Expr::value(e.source.clone()));
    }
    update
        .filter(C::Id.eq(e.id))
        .filter(C::OrgId.eq(org.get()))
        .exec(tx)
        .await?;
    Ok(())
}

/// The integration's groups become exactly the source's, with exactly its members.
async fn write_groups(
    tx: &impl ConnectionTrait,
    org: OrgId,
    integration: i64,
    source: &str,
    dir: &Directory,
    contact_of: &HashMap<&str, i64>,
) -> Result<(), AppError> {
    use contact_group::Column as G;
    let backend = tx.get_database_backend();
    let its_groups = Query::select()
        .column(G::Id)
        .from(contact_group::Entity)
        .and_where(G::OrgId.eq(org.get()))
        .and_where(G::IntegrationId.eq(integration))
        .to_owned();
    group_member::Entity::delete_many()
        .filter(group_member::Column::GroupId.in_subquery(its_groups))
        .exec(tx)
        .await?;
    let mut kept: Vec<String> = Vec::new();
    let mut members: Vec<(i64, i64)> = Vec::new();
    for g in &dir.groups {
        let gid = contact_group::Entity::insert(contact_group::ActiveModel {
            org_id: Set(org.get()),
            name: Set(g.name.clone()),
            name_lower: Set(g.name.to_lowercase()),
            source: Set(source.to_string()),
            created_at: Set(now_ms()),
            integration_id: Set(Some(integration)),
            external_id: Set(Some(g.external_id.clone())),
            ..Default::default()
        })
        // The target of the partial unique index on a source's groups.
        .on_conflict(
            OnConflict::columns([G::IntegrationId, G::ExternalId])
                .target_and_where(Expr::col(G::IntegrationId).is_not_null())
                .update_columns([G::Name, G::NameLower])
                .to_owned(),
        )
        .exec_with_returning(tx)
        .await?
        .id;
        kept.push(g.external_id.clone());
        for m in &g.members {
            if let Some(cid) = contact_of.get(m.as_str()) {
                members.push((gid, *cid));
            }
        }
    }
    bulk::add_members(tx, members).await?;
    // Groups the source no longer has. Hand-written: the kept ids go as one
    // JSON value, however many groups the source has.
    let mut sql = Sql::new(backend);
    sql.push("DELETE FROM contact_groups WHERE org_id = ")
        .bind(org.get())
        .push(" AND integration_id = ")
        .bind(integration);
    if !kept.is_empty() {
        sql.push(" AND external_id NOT IN ").json_in(
            serde_json::to_string(&kept).map_err(AppError::internal)?,
            "TEXT",
        );
    }
    sql.execute(tx).await?;
    Ok(())
}
