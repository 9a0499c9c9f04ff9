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
use super::live::{self, Cancelled, Live, RunningSyncs};
use super::schedule::{self, Ended};
use crate::backend::auth;
use crate::backend::connectors::{self, Directory, HttpConfig, Person};
use crate::backend::db::entities::{contact, contact_group, integration};
use crate::backend::db::{begin_write, now_ms, Sql};
use crate::backend::directory::{self, bulk};
use crate::backend::domain::{validate, Email, OrgId, ValidContact};
use crate::backend::vault::Vault;
use crate::model::{
    AppError, ChangeAction, FieldChange, HoldResolution, IntegrationStatus, PreviewItem, Provider,
    SyncPreview, SyncResult, SyncTrigger, GONE, SUSPENDED,
};
use sea_orm::sea_query::{Expr, ExprTrait, OnConflict};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, PaginatorTrait, QueryFilter, Set,
};
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;
use tracing::Instrument;

/// Rows per statement for lookups and inserts.
pub(super) const CHUNK: usize = 2000;

/// Read and apply integration `id`'s directory, recording the outcome on the
/// integration, with a heartbeat every `beat_every` meanwhile. The caller has
/// claimed the sync ([`super::claim_sync`]).
#[tracing::instrument(name = "sync", skip_all, fields(org = org.get(), integration = id))]
#[allow(clippy::too_many_arguments)]
pub async fn run(
    db: &DatabaseConnection,
    vault: &Vault,
    http: &HttpConfig,
    syncs: &Arc<RunningSyncs>,
    org: OrgId,
    id: i64,
    trigger: SyncTrigger,
    attempt: u32,
    beat_every: Duration,
) -> Result<SyncResult, AppError> {
    let run_id = history::start(db, org, id, trigger, attempt).await?;
    let (live, _registered) = syncs.register(id);
    let heartbeat = tokio::spawn(crate::backend::db::beat(
        db.clone(),
        "integrations",
        IntegrationStatus::Syncing.as_str(),
        id,
        beat_every,
    ));
    let published = tokio::spawn(live::publish(db.clone(), run_id, live.clone()));
    // Past the deadline the work is dropped: a read stops, an apply's
    // transaction rolls back.
    let outcome = tokio::time::timeout(
        http.sync_deadline,
        fetch_and_apply(db, vault, http, org, id, run_id, &live),
    )
        .await
        .unwrap_or_else(|_| {
            Err(Failure::passing(format!(
                "The sync did not finish within {} minutes (MUSTER_SYNC_DEADLINE_MINUTES), so it was stopped and nothing was changed. Check that the system answers promptly, then sync again.",
                http.sync_deadline.as_secs().div_ceil(60)
            )))
        });
    heartbeat.abort();
    published.abort();
    // The run is finished before the integration stops syncing, so that the
    // sweeper never finds a running sync of an idle integration; and the
    // integration stops syncing even if the run could not be written.
    let (recorded, ended) = match &outcome {
        Ok(result) => (
            history::finish(db, org, run_id, Ok(result)).await,
            Ended::Succeeded(result),
        ),
        Err(f) if f.cancelled => (history::cancelled(db, org, run_id).await, Ended::Cancelled),
        Err(f) => (
            history::finish(db, org, run_id, Err(&f.message)).await,
            Ended::Failed {
                message: &f.message,
                may_pass: f.may_pass,
            },
        ),
    };
    schedule::record_end(db, org, id, attempt, ended, &http.sync_retries).await?;
    recorded?;
    outcome.map_err(|f| f.error)
}

/// Why a sync failed: what the integration shows, and whether a retry
/// later may pass.
struct Failure {
    error: AppError,
    message: String,
    may_pass: bool,
    /// Cancelled by an administrator: not a failure of the source.
    cancelled: bool,
}

impl Failure {
    fn passing(message: String) -> Self {
        Self {
            error: AppError::Upstream(message.clone()),
            message,
            may_pass: true,
            cancelled: false,
        }
    }
}

impl From<Cancelled> for Failure {
    fn from(_: Cancelled) -> Self {
        let message = "The sync was cancelled; it changed nothing.".to_string();
        Self {
            error: AppError::Conflict(message.clone()),
            message,
            may_pass: false,
            cancelled: true,
        }
    }
}

impl From<AppError> for Failure {
    /// The database's own failures (`Internal`) may pass; the rest needs
    /// someone to act.
    fn from(error: AppError) -> Self {
        let message = match &error {
            AppError::Upstream(m) => m.clone(),
            other => other.to_string(),
        };
        Self {
            may_pass: matches!(error, AppError::Internal(_)),
            message,
            error,
            cancelled: false,
        }
    }
}

impl From<sea_orm::DbErr> for Failure {
    fn from(e: sea_orm::DbErr) -> Self {
        AppError::from(e).into()
    }
}

impl From<connectors::ConnectorError> for Failure {
    fn from(e: connectors::ConnectorError) -> Self {
        let may_pass = e.may_pass();
        Self {
            message: e.to_string(),
            error: e.into(),
            may_pass,
            cancelled: false,
        }
    }
}

async fn fetch_and_apply(
    db: &DatabaseConnection,
    vault: &Vault,
    http: &HttpConfig,
    org: OrgId,
    id: i64,
    run_id: i64,
    live: &Live,
) -> Result<SyncResult, Failure> {
    let read = read(db, vault, http, org, id, live).await?;
    live.check()?;
    apply(db, org, id, run_id, read, live).await
}

/// A person's external id and the person as a valid contact, if it is one.
type Checked = (String, Option<ValidContact>);

/// Validates the people a connector reads on a thread of its own, while the
/// connector waits for the next page: phone numbers take long to check
/// (libphonenumber's rules), and a sync should not add that time to the read.
struct Validator<'a> {
    people: std::sync::mpsc::Sender<Person>,
    thread: std::thread::JoinHandle<Vec<Checked>>,
    /// Counts the people read (the sync's progress).
    live: &'a Live,
    /// The most people allowed, and the signal once past it.
    max: usize,
    over: tokio::sync::Notify,
}

impl<'a> Validator<'a> {
    /// Resolves once more than the allowed number of people have been read.
    async fn too_many(&self) {
        self.over.notified().await
    }

    fn start(region: String, max: usize, live: &'a Live) -> Self {
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
            live,
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

impl connectors::Progress for Validator<'_> {
    fn person(&self, person: &Person) {
        let read = self.live.person_read();
        if read > self.max as u64 {
            // Stored if nobody waits yet: the read is stopped all the same.
            self.over.notify_one();
            return;
        }
        // The thread lives until `finish`, so the send cannot fail before.
        let _ = self.people.send(person.clone());
    }
}

/// A contact as stored, matched to a person of the source: the columns a
/// sync compares and writes (its search text and keys stay in the database;
/// loading them for every contact doubled a sync's memory).
#[derive(Debug, Clone, sea_orm::DerivePartialModel, serde::Deserialize)]
#[sea_orm(entity = "contact::Entity")]
struct Existing {
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
    external_id: Option<String>,
    integration_id: Option<i64>,
}

/// A field a sync changes: its name, its value before and after.
type Diff = (&'static str, Option<String>, Option<String>);

/// The fields where contact `e` differs from what the source says of it,
/// each with its value before and after. Values are compared borrowed and
/// copied only for the fields that differ: most people of a sync are
/// unchanged.
fn changes(e: &Existing, c: &ValidContact) -> Vec<Diff> {
    let pairs: [(&'static str, Option<&str>, Option<&str>); 7] = [
        (
            "first_name",
            Some(&e.first_name),
            Some(c.first_name.as_str()),
        ),
        ("last_name", Some(&e.last_name), Some(c.last_name.as_str())),
        (
            "email",
            e.email.as_deref(),
            c.email.as_ref().map(|v| v.as_str()),
        ),
        (
            "phone",
            e.phone.as_deref(),
            c.phone.as_ref().map(|v| v.as_str()),
        ),
        (
            "department",
            e.department.as_deref(),
            c.department.as_deref(),
        ),
        ("role", e.role.as_deref(), c.role.as_deref()),
        ("location", e.location.as_deref(), c.location.as_deref()),
    ];
    pairs
        .into_iter()
        .filter(|(_, before, after)| before != after)
        .map(|(f, before, after)| (f, before.map(str::to_string), after.map(str::to_string)))
        .collect()
}

/// Changed fields as the history keeps them: `{"field": [before, after]}`.
fn changed_json(changed: &[Diff]) -> String {
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

/// A directory read whole, with its people checked: what a sync applies, or
/// a preview shows.
pub struct Read {
    pub provider: Provider,
    pub region: String,
    pub dir: Directory,
    checked: Vec<Checked>,
}

/// Read integration `id`'s source whole, validating people while pages come.
async fn read(
    db: &DatabaseConnection,
    vault: &Vault,
    http: &HttpConfig,
    org: OrgId,
    id: i64,
    live: &Live,
) -> Result<Read, Failure> {
    let (provider, credentials) = super::credentials(db, vault, org, id).await?;
    let http = http.clone().counting(live.page_counter());
    let connector = connectors::connector(provider, &credentials, &http)?;
    let region = auth::org(db, org).await?.default_region;
    let started = std::time::Instant::now();
    let validator = Validator::start(region.clone(), http.max_people, live);
    let reading = connector
        .directory(&validator)
        .instrument(tracing::info_span!(
            "read_directory",
            provider = provider.key()
        ));
    let read = tokio::select! {
        read = reading => read.map_err(Failure::from),
        () = validator.too_many() => Err(connectors::ConnectorError::Provider(format!(
            "The directory holds more than {} people, the most one sync reads (MUSTER_SYNC_MAX_PEOPLE), so Muster stopped reading and changed nothing. Check the system's user filters, or raise the limit.",
            http.max_people
        )).into()),
        () = live.cancelled() => Err(Cancelled.into()),
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
    Ok(Read {
        provider,
        region,
        dir,
        checked,
    })
}

/// A contact a sync updates: as stored, as it will be, and what changes.
struct Update<'a> {
    existing: &'a Existing,
    person: &'a Person,
    next: ValidContact,
    changed: Vec<Diff>,
}

/// What a sync would do, worked out from the directory and the database
/// without changing either.
struct Plan<'a> {
    result: SyncResult,
    /// Updates to this integration's contacts, and contacts it takes over by
    /// email (`taken_over`).
    updates: Vec<Update<'a>>,
    taken_over: Vec<Update<'a>>,
    new: Vec<(&'a Person, &'a ValidContact)>,
    /// The contacts to let go, with why; held instead when `hold`.
    doomed: Vec<(&'a Existing, &'static str)>,
    hold: bool,
    skipped: Vec<Change>,
}

/// The database's side of a plan: this integration's contacts by external
/// id, contacts elsewhere with the emails of people not linked yet, and the
/// integration's row.
struct Stored {
    settings: integration::Model,
    linked: HashMap<String, Existing>,
    by_email: HashMap<String, Existing>,
}

/// The people of a read as valid contacts, the skipped ones, the external ids
/// the source listed, and those it lists as suspended.
#[allow(clippy::type_complexity)]
struct People {
    valid: Vec<(Person, ValidContact)>,
    invalid: Vec<(Person, &'static str)>,
    listed: HashSet<String>,
    suspended: HashSet<String>,
}

async fn people(read: &mut Read) -> Result<People, AppError> {
    // Everyone the source listed, valid or not: only those it no longer
    // lists at all are let go.
    let listed: HashSet<String> = read
        .dir
        .people
        .iter()
        .map(|p| p.external_id.clone())
        .collect();
    let suspended = std::mem::take(&mut read.dir.excluded_ids)
        .into_iter()
        .collect();
    // Pair people with their checks off the async workers.
    let all = std::mem::take(&mut read.dir.people);
    let checked = std::mem::take(&mut read.checked);
    let region = read.region.clone();
    let (valid, invalid) = tokio::task::spawn_blocking(move || validated(all, checked, &region))
        .await
        .map_err(AppError::internal)?;
    Ok(People {
        valid,
        invalid,
        listed,
        suspended,
    })
}

async fn stored(
    db: &impl ConnectionTrait,
    org: OrgId,
    id: i64,
    people: &[(Person, ValidContact)],
) -> Result<Stored, AppError> {
    let settings = super::find(org, id)
        .one(db)
        .await?
        .ok_or(AppError::NotFound)?;
    let mut linked: HashMap<String, Existing> = HashMap::new();
    for e in linked_contacts(db, org, id).await? {
        if let Some(x) = e.external_id.clone() {
            linked.insert(x, e);
        }
    }
    let emails: Vec<String> = people
        .iter()
        .filter(|(p, _)| !linked.contains_key(&p.external_id))
        .filter_map(|(_, c)| c.email.as_ref().map(|e| e.lower()))
        .collect();
    let mut by_email: HashMap<String, Existing> = HashMap::new();
    for chunk in emails.chunks(CHUNK) {
        // Hand-written: the emails go as one JSON value (one statement text
        // for any number of them).
        let mut sql = Sql::new(db.get_database_backend());
        sql.push(
            "SELECT id, first_name, last_name, email, email_lower, phone, department, role, \
             location, source, external_id, integration_id FROM contacts WHERE org_id = ",
        )
        .bind(org.get())
        .push(" AND email_lower IN ")
        .json_in(
            serde_json::to_string(chunk).map_err(AppError::internal)?,
            "TEXT",
        );
        for e in sql.all::<Existing>(db).await? {
            if let Some(email) = e.email_lower.clone() {
                by_email.insert(email, e);
            }
        }
    }
    Ok(Stored {
        settings,
        linked,
        by_email,
    })
}

/// Contacts read per statement by [`linked_contacts`].
const LINKED_CHUNK: i64 = 20_000;

/// The contacts of integration `id` (those with an external id), in
/// chunks along the index on (integration, external id).
async fn linked_contacts(
    db: &impl ConnectionTrait,
    org: OrgId,
    id: i64,
) -> Result<Vec<Existing>, AppError> {
    #[derive(sea_orm::FromQueryResult)]
    struct Chunk {
        rows: Option<String>,
    }
    // Hand-written: each chunk comes as one JSON array of rows. Read a row
    // at a time through the driver, 100,000 contacts took 1.8 s and 210 MB;
    // as JSON, a fraction of that. Chunks follow the external id, the index's
    // order (by id, each chunk sorted every contact of the integration).
    let backend = db.get_database_backend();
    let (rows, row) = match backend {
        sea_orm::DbBackend::Postgres => {
            ("json_agg(json_build_array", ") ORDER BY external_id)::text")
        }
        _ => ("json_group_array(json_array", "))"),
    };
    let mut out = Vec::new();
    let mut after = String::new();
    loop {
        let mut sql = Sql::new(backend);
        sql.push(&format!(
            "SELECT {rows}(id, first_name, last_name, email, email_lower, phone, department, \
             role, location, source, external_id, integration_id{row} AS rows FROM \
             (SELECT * FROM contacts WHERE org_id = "
        ))
        .bind(org.get())
        .push(" AND integration_id = ")
        .bind(id)
        .push(" AND external_id > ")
        .bind(after.clone())
        .push(&format!(" ORDER BY external_id LIMIT {LINKED_CHUNK}) c"));
        let chunk = sql.all::<Chunk>(db).await?.pop().and_then(|c| c.rows);
        let rows: Vec<Existing> = match chunk {
            Some(text) => serde_json::from_str(&text).map_err(AppError::internal)?,
            None => Vec::new(),
        };
        let n = rows.len() as i64;
        if let Some(last) = rows.iter().filter_map(|e| e.external_id.as_ref()).max() {
            after = last.clone();
        }
        out.extend(rows);
        if n < LINKED_CHUNK {
            return Ok(out);
        }
    }
}

/// Work out what a sync of `people` does to what is `stored`.
async fn plan<'a>(
    db: &impl ConnectionTrait,
    org: OrgId,
    read: &Read,
    people: &'a People,
    stored: &'a Stored,
) -> Result<Plan<'a>, AppError> {
    let source = read.provider.label();
    let mut plan = Plan {
        result: SyncResult {
            people: (people.valid.len() + people.invalid.len()) as u64,
            excluded: read.dir.excluded,
            groups: read.dir.groups.len() as u64,
            skipped: people.invalid.len() as u64,
            ..Default::default()
        },
        updates: Vec::new(),
        taken_over: Vec::new(),
        new: Vec::new(),
        doomed: Vec::new(),
        hold: false,
        skipped: people
            .invalid
            .iter()
            .map(|(p, why)| change(ChangeAction::Skipped, None, p, Some(why.to_string())))
            .collect(),
    };
    let (linked, by_email) = (&stored.linked, &stored.by_email);
    // Emails that stay or become some contact's: a second claim on one is
    // refused (the database allows one contact per email).
    let mut claimed: HashSet<String> = linked
        .values()
        .filter_map(|e| e.email_lower.clone())
        .collect();
    let mut taken: HashSet<i64> = HashSet::new();
    for (p, c) in &people.valid {
        let email = c.email.as_ref().map(|e| e.lower());
        if let Some(e) = linked.get(&p.external_id) {
            taken.insert(e.id);
            let mut next = c.clone();
            // Another contact holds the new email, or another update takes
            // it: keep this one's old email then.
            if let Some(em) = &email {
                if e.email_lower.as_deref() != Some(em)
                    && (claimed.contains(em) || by_email_taken(db, org, em, e.id).await?)
                {
                    next.email = e.email.as_deref().and_then(|old| Email::parse(old).ok());
                } else {
                    claimed.insert(em.clone());
                }
            }
            let changed = changes(e, &next);
            if changed.is_empty() {
                plan.result.unchanged += 1;
            } else {
                plan.result.updated += 1;
                plan.updates.push(Update {
                    existing: e,
                    person: p,
                    next,
                    changed,
                });
            }
            continue;
        }
        match email.as_ref().and_then(|em| by_email.get(em)) {
            Some(e) if e.integration_id.is_none() && taken.insert(e.id) => {
                let mut changed = changes(e, c);
                changed.push(("source", Some(e.source.clone()), Some(source.to_string())));
                plan.result.linked += 1;
                plan.taken_over.push(Update {
                    existing: e,
                    person: p,
                    next: c.clone(),
                    changed,
                });
            }
            Some(_) => {
                // The email belongs to a contact of another source (or one
                // person earlier in this directory): two contacts cannot share it.
                plan.result.skipped += 1;
                plan.skipped.push(change(
                    ChangeAction::Skipped,
                    None,
                    p,
                    Some(EMAIL_ELSEWHERE.into()),
                ));
            }
            None => {
                if let Some(em) = &email {
                    if !claimed.insert(em.clone()) {
                        plan.result.skipped += 1;
                        plan.skipped.push(change(
                            ChangeAction::Skipped,
                            None,
                            p,
                            Some(SAME_EMAIL.into()),
                        ));
                        continue;
                    }
                }
                plan.new.push((p, c));
                plan.result.created += 1;
            }
        }
    }
    // Those the source no longer lists, or lists as suspended.
    plan.doomed = linked
        .iter()
        .filter(|(x, _)| !people.listed.contains(*x))
        .map(|(x, e)| {
            (
                e,
                if people.suspended.contains(x) {
                    SUSPENDED
                } else {
                    GONE
                },
            )
        })
        .collect();
    plan.doomed.sort_by_key(|(e, _)| e.id);
    plan.hold = history::must_hold(
        plan.doomed.len() as u64,
        linked.len() as u64,
        plan.result.people,
        stored.settings.hold_percent,
        stored.settings.hold_count,
    );
    if plan.hold {
        plan.result.held = plan.doomed.len() as u64;
    }
    Ok(plan)
}

fn doomed_change(action: ChangeAction, e: &Existing, why: &str) -> Change {
    Change {
        action,
        contact_id: Some(e.id),
        external_id: e.external_id.clone().unwrap_or_default(),
        name: format!("{} {}", e.first_name, e.last_name)
            .trim()
            .to_string(),
        email: e.email.clone(),
        detail: Some(why.to_string()),
    }
}

/// Apply a directory read whole to integration `id`, recording what it did
/// as sync `run_id`.
async fn apply(
    db: &DatabaseConnection,
    org: OrgId,
    id: i64,
    run_id: i64,
    mut read: Read,
    live: &Live,
) -> Result<SyncResult, Failure> {
    let source = read.provider.label();
    let started = std::time::Instant::now();
    let people = people(&mut read).await?;
    let t_valid = started.elapsed();
    let tx = begin_write(db).await?;
    let stored = stored(&tx, org, id, &people.valid).await?;
    let t_stored = started.elapsed() - t_valid;
    let plan = plan(&tx, org, &read, &people, &stored).await?;
    let t_plan = started.elapsed() - t_valid - t_stored;
    let deleting = if plan.hold { 0 } else { plan.doomed.len() };
    live.applying((plan.updates.len() + plan.taken_over.len() + plan.new.len() + deleting) as u64);
    let mut result = plan.result.clone();
    let mut log = plan.skipped;
    let mut contact_of: HashMap<&str, i64> = stored
        .linked
        .iter()
        .filter(|(x, _)| people.listed.contains(*x))
        .map(|(x, e)| (x.as_str(), e.id))
        .collect();
    for (n, u) in plan.updates.iter().chain(&plan.taken_over).enumerate() {
        if n % 100 == 0 {
            live.check()?;
        }
        live.wrote(1);
        write(
            &tx,
            org,
            u.existing,
            &u.next,
            id,
            &u.person.external_id,
            source,
        )
        .await?;
        contact_of.insert(&u.person.external_id, u.existing.id);
        log.push(change(
            ChangeAction::Updated,
            Some(u.existing.id),
            u.person,
            Some(changed_json(&u.changed)),
        ));
    }

    let t_match = std::time::Instant::now();
    let t_matched = started.elapsed() - t_valid;
    // In name order, so that each chunk's keys follow the last chunk's.
    let mut new = plan.new;
    new.sort_by_cached_key(|(_, c)| c.sort_name());
    let mut groups = bulk::GroupIds::new(org, source);
    for chunk in new.chunks(CHUNK) {
        live.check()?;
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
        live.wrote(chunk.len() as u64);
    }

    let t_insert = t_match.elapsed();
    let action = if plan.hold {
        ChangeAction::Held
    } else {
        ChangeAction::Deleted
    };
    log.extend(
        plan.doomed
            .iter()
            .map(|(e, why)| doomed_change(action, e, why)),
    );
    if !plan.hold && !plan.doomed.is_empty() {
        live.check()?;
        let ids: Vec<i64> = plan.doomed.iter().map(|(e, _)| e.id).collect();
        result.deleted = super::let_go(&tx, org, id, Some(&ids)).await?;
        live.wrote(ids.len() as u64);
    }
    // An earlier hold is released: this sync either let its contacts go, or
    // holds (again) what is still to delete.
    if let Some(earlier) = stored.settings.held_run_id {
        history::resolve(&tx, org, earlier, HoldResolution::Released, 0).await?;
    }
    integration::Entity::update_many()
        .col_expr(
            integration::Column::HeldRunId,
            Expr::value(plan.hold.then_some(run_id)),
        )
        .filter(integration::Column::Id.eq(id))
        .filter(integration::Column::OrgId.eq(org.get()))
        .exec(&tx)
        .await?;

    write_groups(&tx, org, id, source, &read.dir, &contact_of).await?;
    let t_groups = t_match.elapsed();
    directory::place(&tx, org).await?;
    let t_place = t_match.elapsed();
    history::record(&tx, org, run_id, log).await?;
    let t_log = t_match.elapsed();
    // The last moment a cancel stops it: after the commit it is done.
    live.check()?;
    tx.commit().await?;
    tracing::debug!(
        integration = id,
        pair_ms = t_valid.as_millis() as u64,
        stored_ms = t_stored.as_millis() as u64,
        plan_ms = t_plan.as_millis() as u64,
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

/// Changes of each kind a preview lists at most.
pub const PREVIEW_LISTED: usize = 100;

/// Read integration `id`'s source and say what a sync would do now, changing
/// nothing.
pub async fn preview(
    db: &DatabaseConnection,
    vault: &Vault,
    http: &HttpConfig,
    org: OrgId,
    id: i64,
) -> Result<SyncPreview, AppError> {
    let mut read = tokio::time::timeout(
        http.sync_deadline,
        read(db, vault, http, org, id, &Live::default()),
    )
    .await
    .map_err(|_| AppError::Upstream("The source did not answer in time.".into()))?
    .map_err(|f| f.error)?;
    let people = people(&mut read).await?;
    let stored = stored(db, org, id, &people.valid).await?;
    let plan = plan(db, org, &read, &people, &stored).await?;
    let item = |p: &Person, detail: Option<String>| PreviewItem {
        name: p.display_name(),
        email: Some(p.contact.email.trim().to_string()).filter(|e| !e.is_empty()),
        detail,
        changes: Vec::new(),
    };
    let updated = |u: &Update| PreviewItem {
        changes: u
            .changed
            .iter()
            .map(|(f, b, a)| FieldChange {
                field: f.to_string(),
                before: b.clone(),
                after: a.clone(),
            })
            .collect(),
        ..item(u.person, None)
    };
    Ok(SyncPreview {
        result: plan.result.clone(),
        would_hold: plan.hold,
        added: plan
            .new
            .iter()
            .take(PREVIEW_LISTED)
            .map(|(p, _)| item(p, None))
            .collect(),
        updated: plan
            .updates
            .iter()
            .chain(&plan.taken_over)
            .take(PREVIEW_LISTED)
            .map(updated)
            .collect(),
        deleted: plan
            .doomed
            .iter()
            .take(PREVIEW_LISTED)
            .map(|(e, why)| PreviewItem {
                name: format!("{} {}", e.first_name, e.last_name)
                    .trim()
                    .to_string(),
                email: e.email.clone(),
                detail: Some(why.to_string()),
                changes: Vec::new(),
            })
            .collect(),
        skipped: plan
            .skipped
            .iter()
            .take(PREVIEW_LISTED)
            .map(|c| PreviewItem {
                name: c.name.clone(),
                email: c.email.clone(),
                detail: c.detail.clone(),
                changes: Vec::new(),
            })
            .collect(),
    })
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
    // The memberships as they are, so that only those that differ are
    // written: most syncs change few.
    let before = memberships(tx, org, integration).await?;
    let mut kept: Vec<String> = Vec::new();
    let mut members: HashSet<(i64, i64)> = HashSet::new();
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
                members.insert((gid, *cid));
            }
        }
    }
    let gone: Vec<(i64, i64)> = before.difference(&members).copied().collect();
    bulk::remove_members(tx, &gone).await?;
    bulk::add_members(tx, members.difference(&before).copied().collect()).await?;
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

/// The members of integration `integration`'s groups, as (group, contact).
async fn memberships(
    tx: &impl ConnectionTrait,
    org: OrgId,
    integration: i64,
) -> Result<HashSet<(i64, i64)>, AppError> {
    #[derive(sea_orm::FromQueryResult)]
    struct Group {
        id: i64,
        members: String,
    }
    // Hand-written: a row per group with its members as one JSON array;
    // decoding a row per membership through the driver cost a second for
    // 200,000 of them.
    let backend = tx.get_database_backend();
    let members = match backend {
        sea_orm::DbBackend::Postgres => "json_agg(m.contact_id)::text",
        _ => "json_group_array(m.contact_id)",
    };
    let mut sql = Sql::new(backend);
    sql.push(&format!(
        "SELECT m.group_id AS id, {members} AS members FROM group_members m \
         JOIN contact_groups g ON g.id = m.group_id WHERE g.org_id = "
    ))
    .bind(org.get())
    .push(" AND g.integration_id = ")
    .bind(integration)
    .push(" GROUP BY m.group_id");
    let mut out = HashSet::new();
    for g in sql.all::<Group>(tx).await? {
        let ids: Vec<i64> = serde_json::from_str(&g.members).map_err(AppError::internal)?;
        out.extend(ids.into_iter().map(|c| (g.id, c)));
    }
    Ok(out)
}
