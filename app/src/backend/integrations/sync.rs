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
use crate::backend::connectors::{self, Directory, HttpConfig, Person, SourceGroup};
use crate::backend::db::entities::{contact, contact_group, integration};
use crate::backend::db::{begin_write, now_ms, Sql};
use crate::backend::directory;
use crate::backend::directory::bulk::{self, Changed};
use crate::backend::domain::{validate, Email, OrgId, ValidContact};
use crate::backend::vault::Vault;
use crate::model::{
    AppError, ChangeAction, FieldChange, HoldResolution, IntegrationStatus, PreviewItem, Provider,
    SyncPreview, SyncResult, SyncTrigger, GONE, SUSPENDED,
};
use sea_orm::sea_query::{Expr, ExprTrait, OnConflict};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseConnection, DatabaseTransaction, EntityTrait,
    PaginatorTrait, QueryFilter, Set,
};
use std::borrow::Cow;
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
    // Registered before its run is recorded: a server stopping once the run
    // is in the history waits for this sync to record its interruption.
    let (live, _registered) = syncs.register(id);
    let run_id = history::start(db, org, id, trigger, attempt).await?;
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
        // Stopped with the server: interrupted, and tried again at once.
        Err(f) if f.cancelled && live.is_stopping() => (
            history::interrupted(db, org, run_id).await,
            Ended::Interrupted,
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
    // The read's pages and people as read are freed.
    live.release_memory();
    live.check()?;
    apply(db, org, id, run_id, read, live).await
}

/// A person read from the source, checked: its external id and the person
/// as a valid contact, or the person as read (to say why it is skipped). Of
/// a valid person only the valid contact is kept: holding both doubled what
/// a sync holds per person.
enum Checked {
    Valid(String, ValidContact),
    Invalid(Person),
}

impl Checked {
    fn of(p: Person, region: &str) -> Self {
        match valid(&p, region) {
            Some(c) => Self::Valid(p.external_id, c),
            None => Self::Invalid(p),
        }
    }

    fn external_id(&self) -> &str {
        match self {
            Self::Valid(x, _) => x,
            Self::Invalid(p) => &p.external_id,
        }
    }

    /// Skipped, for `why`, as the history records it.
    fn skipped(&self, why: &str) -> Change {
        let why = Some(why.to_string());
        match self {
            Self::Valid(x, c) => change(ChangeAction::Skipped, None, x, c, why),
            Self::Invalid(p) => Change {
                action: ChangeAction::Skipped,
                contact_id: None,
                external_id: p.external_id.clone(),
                name: p.display_name(),
                email: Some(p.contact.email.trim().to_string()).filter(|e| !e.is_empty()),
                detail: why,
            },
        }
    }
}

/// Takes the people a connector reads and validates them on a thread of its
/// own, while the connector waits for the next page: phone numbers take long
/// to check (libphonenumber's rules), and a sync should not add that time to
/// the read.
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
                .map(|p| Checked::of(p, &region))
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
    fn person(&self, person: Person) -> Option<Person> {
        let read = self.live.person_read();
        if read > self.max as u64 {
            // Stored if nobody waits yet: the read is stopped all the same.
            self.over.notify_one();
            return None;
        }
        // The thread lives until `finish`, so the send cannot fail before.
        let _ = self.people.send(person);
        None
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
    /// Read only for contacts found by email (a linked contact has none).
    #[serde(default)]
    scim_source_id: Option<i64>,
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

/// What a sync did to the person with external id `x`, valid as `c`, as the
/// history records it.
fn change(
    action: ChangeAction,
    contact_id: Option<i64>,
    x: &str,
    c: &ValidContact,
    detail: Option<String>,
) -> Change {
    Change {
        action,
        contact_id,
        external_id: x.to_string(),
        name: full_name(c),
        email: c.email.as_ref().map(|e| e.to_string()),
        detail,
    }
}

fn full_name(c: &ValidContact) -> String {
    format!("{} {}", c.first_name.as_str(), c.last_name.as_str())
        .trim()
        .to_string()
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
/// directory's order; and the others, as the history records them skipped.
fn validated(checked: Vec<Checked>) -> (Vec<(String, ValidContact)>, Vec<Change>) {
    let first: Vec<bool> = {
        let mut seen = HashSet::with_capacity(checked.len());
        checked
            .iter()
            .map(|c| seen.insert(c.external_id()))
            .collect()
    };
    let mut out = Vec::with_capacity(checked.len());
    let mut skipped = Vec::new();
    for (c, first) in checked.into_iter().zip(first) {
        if c.external_id().is_empty() {
            skipped.push(c.skipped(NO_ID));
        } else if !first {
            skipped.push(c.skipped(SAME_ID));
        } else {
            match c {
                Checked::Valid(x, v) => out.push((x, v)),
                invalid => skipped.push(invalid.skipped(INVALID)),
            }
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
    metrics::counter!("muster_sync_people_total", "provider" => provider.key())
        .increment((checked.len() + dir.people.len()) as u64);
    tracing::info!(
        integration = id,
        people = checked.len() + dir.people.len(),
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
    external_id: &'a str,
    next: ValidContact,
    changed: Vec<Diff>,
}

/// What a sync would do, worked out from the directory and the database
/// without changing either.
struct Plan<'a> {
    result: SyncResult,
    /// The integration's contacts by external id.
    linked: HashMap<&'a str, &'a Existing>,
    /// The external ids the source lists, valid or not.
    listed: HashSet<&'a str>,
    /// Updates to this integration's contacts, and contacts it takes over by
    /// email (`taken_over`).
    updates: Vec<Update<'a>>,
    taken_over: Vec<Update<'a>>,
    new: Vec<(&'a str, &'a ValidContact)>,
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
    linked: Vec<Existing>,
    by_email: HashMap<String, Existing>,
}

/// The people of a read as valid contacts by external id, the skipped ones,
/// and those the source lists as suspended.
struct People {
    valid: Vec<(String, ValidContact)>,
    skipped: Vec<Change>,
    suspended: HashSet<String>,
}

async fn people(read: &mut Read) -> Result<People, AppError> {
    let suspended = std::mem::take(&mut read.dir.excluded_ids)
        .into_iter()
        .collect();
    // Those the connector kept (none when the validator took them all) are
    // checked here, all off the async workers.
    let kept = std::mem::take(&mut read.dir.people);
    let mut checked = std::mem::take(&mut read.checked);
    let region = read.region.clone();
    let (valid, skipped) = tokio::task::spawn_blocking(move || {
        checked.extend(kept.into_iter().map(|p| Checked::of(p, &region)));
        validated(checked)
    })
    .await
    .map_err(AppError::internal)?;
    Ok(People {
        valid,
        skipped,
        suspended,
    })
}

async fn stored(
    db: &impl ConnectionTrait,
    org: OrgId,
    id: i64,
    people: &[(String, ValidContact)],
) -> Result<Stored, AppError> {
    let settings = super::find(org, id)
        .one(db)
        .await?
        .ok_or(AppError::NotFound)?;
    let linked = linked_contacts(db, org, id).await?;
    let emails: Vec<String> = {
        let known: HashSet<&str> = linked
            .iter()
            .filter_map(|e| e.external_id.as_deref())
            .collect();
        people
            .iter()
            .filter(|(x, _)| !known.contains(x.as_str()))
            .filter_map(|(_, c)| c.email.as_ref().map(|e| e.lower()))
            .collect()
    };
    let mut by_email: HashMap<String, Existing> = HashMap::new();
    for chunk in emails.chunks(CHUNK) {
        // Hand-written: the emails go as one JSON value (one statement text
        // for any number of them).
        let mut sql = Sql::new(db.get_database_backend());
        sql.push(
            "SELECT id, first_name, last_name, email, email_lower, phone, department, role, \
             location, source, external_id, integration_id, scim_source_id FROM contacts \
             WHERE org_id = ",
        )
        .bind(org.get())
        .push(" AND ")
        .json_in(
            "email_lower",
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
    // Sized once: grown chunk by chunk, the list held twice its size at
    // the last doubling.
    let count = contact::Entity::find()
        .filter(contact::Column::OrgId.eq(org.get()))
        .filter(contact::Column::IntegrationId.eq(id))
        .count(db)
        .await?;
    let backend = db.get_database_backend();
    let (rows, row) = match backend {
        sea_orm::DbBackend::Postgres => {
            ("json_agg(json_build_array", ") ORDER BY external_id)::text")
        }
        _ => ("json_group_array(json_array", "))"),
    };
    let mut out = Vec::with_capacity(count as usize);
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

/// An email as addresses are compared (lower-cased), copied only if it
/// has upper-case letters.
fn lowered(e: &Email) -> Cow<'_, str> {
    let e = e.as_str();
    if e.chars().any(char::is_uppercase) {
        Cow::Owned(e.to_lowercase())
    } else {
        Cow::Borrowed(e)
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
    let linked: HashMap<&str, &Existing> = stored
        .linked
        .iter()
        .filter_map(|e| Some((e.external_id.as_deref()?, e)))
        .collect();
    // Everyone the source lists, valid or not: only those it no longer
    // lists at all are let go.
    let listed: HashSet<&str> = people
        .valid
        .iter()
        .map(|(x, _)| x.as_str())
        .chain(people.skipped.iter().map(|c| c.external_id.as_str()))
        .collect();
    let mut plan = Plan {
        result: SyncResult {
            people: (people.valid.len() + people.skipped.len()) as u64,
            excluded: read.dir.excluded,
            groups: read.dir.groups.len() as u64,
            skipped: people.skipped.len() as u64,
            ..Default::default()
        },
        linked,
        listed,
        updates: Vec::new(),
        taken_over: Vec::new(),
        new: Vec::new(),
        doomed: Vec::new(),
        hold: false,
        skipped: people.skipped.clone(),
    };
    let (linked, by_email) = (&plan.linked, &stored.by_email);
    // Emails that stay or become some contact's: a second claim on one is
    // refused (the database allows one contact per email).
    let mut claimed: HashSet<Cow<str>> = linked
        .values()
        .copied()
        .filter_map(|e| e.email_lower.as_deref().map(Cow::Borrowed))
        .collect();
    let mut taken: HashSet<i64> = HashSet::new();
    for (x, c) in &people.valid {
        let email = c.email.as_ref().map(lowered);
        if let Some(&e) = linked.get(x.as_str()) {
            taken.insert(e.id);
            // Another contact holds the new email, or another update takes
            // it: keep this one's old email then.
            let mut keep_old = false;
            if let Some(em) = email {
                if e.email_lower.as_deref() != Some(&*em) {
                    if claimed.contains(&em) || by_email_taken(db, org, &em, e.id).await? {
                        keep_old = true;
                    } else {
                        claimed.insert(em);
                    }
                }
            }
            // Copied only when it differs: most people of a sync are unchanged.
            let next = keep_old.then(|| {
                let mut next = c.clone();
                next.email = e.email.as_deref().and_then(|old| Email::parse(old).ok());
                next
            });
            let changed = changes(e, next.as_ref().unwrap_or(c));
            if changed.is_empty() {
                plan.result.unchanged += 1;
            } else {
                plan.result.updated += 1;
                plan.updates.push(Update {
                    existing: e,
                    external_id: x,
                    next: next.unwrap_or_else(|| c.clone()),
                    changed,
                });
            }
            continue;
        }
        match email.as_ref().and_then(|em| by_email.get(em.as_ref())) {
            Some(e)
                if e.integration_id.is_none()
                    && e.scim_source_id.is_none()
                    && taken.insert(e.id) =>
            {
                let mut changed = changes(e, c);
                changed.push(("source", Some(e.source.clone()), Some(source.to_string())));
                plan.result.linked += 1;
                plan.taken_over.push(Update {
                    existing: e,
                    external_id: x,
                    next: c.clone(),
                    changed,
                });
            }
            Some(_) => {
                // The email belongs to a contact of another source (an
                // integration or an identity provider pushing over SCIM), or one
                // person earlier in this directory): two contacts cannot share it.
                plan.result.skipped += 1;
                plan.skipped.push(change(
                    ChangeAction::Skipped,
                    None,
                    x,
                    c,
                    Some(EMAIL_ELSEWHERE.into()),
                ));
            }
            None => {
                if let Some(em) = email {
                    if !claimed.insert(em) {
                        plan.result.skipped += 1;
                        plan.skipped.push(change(
                            ChangeAction::Skipped,
                            None,
                            x,
                            c,
                            Some(SAME_EMAIL.into()),
                        ));
                        continue;
                    }
                }
                plan.new.push((x, c));
                plan.result.created += 1;
            }
        }
    }
    // Those the source no longer lists, or lists as suspended.
    plan.doomed = plan
        .linked
        .iter()
        .filter(|(x, _)| !plan.listed.contains(*x))
        .map(|(x, e)| {
            (
                *e,
                if people.suspended.contains(*x) {
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
        plan.linked.len() as u64,
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
    // The people as checked, before they were paired, are freed.
    live.release_memory();
    let tx = begin_write(db).await?;
    let written = write_contacts(&tx, org, id, &mut read, people, live).await?;
    // The people and the stored contacts are freed: what is left to write
    // (groups, history) does not come on top of them.
    live.release_memory();
    let t_contacts = started.elapsed();
    let Written {
        result,
        log,
        members,
        held_run_id,
        hold,
    } = written;
    // An earlier hold is released: this sync either let its contacts go, or
    // holds (again) what is still to delete.
    if let Some(earlier) = held_run_id {
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
    write_groups(&tx, org, id, source, &read.dir.groups, &members).await?;
    let t_groups = started.elapsed();
    directory::place(&tx, org).await?;
    let t_place = started.elapsed();
    history::record(&tx, org, run_id, log).await?;
    let t_log = started.elapsed();
    // The last moment a cancel stops it: after the commit it is done.
    live.check()?;
    tx.commit().await?;
    tracing::debug!(
        integration = id,
        contacts_ms = t_contacts.as_millis() as u64,
        groups_ms = (t_groups - t_contacts).as_millis() as u64,
        place_ms = (t_place - t_groups).as_millis() as u64,
        log_ms = (t_log - t_place).as_millis() as u64,
        commit_ms = (started.elapsed() - t_log).as_millis() as u64,
        "directory applied"
    );
    Ok(result)
}

/// What [`write_contacts`] leaves for the rest of a sync.
struct Written {
    result: SyncResult,
    log: Vec<Change>,
    /// The members of each source group (in the directory's order), as
    /// contact ids.
    members: Vec<Vec<i64>>,
    /// The sync held before, if any.
    held_run_id: Option<i64>,
    hold: bool,
}

/// Write `people` to integration `id`'s contacts in `tx`: plan, then add,
/// update, and delete (or hold); and resolve the source groups' members to
/// contacts. Everything it reads and plans is freed when it returns.
async fn write_contacts(
    tx: &DatabaseTransaction,
    org: OrgId,
    id: i64,
    read: &mut Read,
    people: People,
    live: &Live,
) -> Result<Written, Failure> {
    let source = read.provider.label();
    let started = std::time::Instant::now();
    let stored = stored(tx, org, id, &people.valid).await?;
    // As are the stored contacts' rows as the database gave them.
    live.release_memory();
    let t_stored = started.elapsed();
    let plan = plan(tx, org, read, &people, &stored).await?;
    let t_plan = started.elapsed();
    let deleting = if plan.hold { 0 } else { plan.doomed.len() };
    live.applying((plan.updates.len() + plan.taken_over.len() + plan.new.len() + deleting) as u64);
    let mut result = plan.result.clone();
    let mut log = plan.skipped;
    let mut contact_of: HashMap<&str, i64> = plan
        .linked
        .iter()
        .filter(|(x, _)| plan.listed.contains(*x))
        .map(|(x, e)| (*x, e.id))
        .collect();
    let updates: Vec<&Update> = plan.updates.iter().chain(&plan.taken_over).collect();
    for chunk in updates.chunks(CHUNK) {
        live.check()?;
        let rows: Vec<(i64, &ValidContact, &str, Changed)> = chunk
            .iter()
            .map(|u| {
                let changed = Changed::of_fields(u.changed.iter().map(|(field, _, _)| *field));
                (u.existing.id, &u.next, u.external_id, changed)
            })
            .collect();
        bulk::update_many(tx, org, &rows, source, id).await?;
        for u in chunk {
            contact_of.insert(u.external_id, u.existing.id);
            log.push(change(
                ChangeAction::Updated,
                Some(u.existing.id),
                u.external_id,
                &u.next,
                Some(changed_json(&u.changed)),
            ));
        }
        live.wrote(chunk.len() as u64);
    }
    let t_updated = started.elapsed();

    // In name order, so that each chunk's keys follow the last chunk's.
    // Each sort name is computed once: to order them, then to store it.
    let mut new: Vec<_> = plan
        .new
        .into_iter()
        .map(|(x, c)| (x, c, c.sort_name()))
        .collect();
    new.sort_by(|a, b| a.2.cmp(&b.2));
    let mut groups = bulk::GroupIds::new(org, source);
    for chunk in new.chunks_mut(CHUNK) {
        live.check()?;
        let derived: Vec<bulk::Derived> = chunk
            .iter_mut()
            .map(|(_, c, sort_name)| bulk::Derived::with_sort_name(c, std::mem::take(sort_name)))
            .collect();
        let contacts: Vec<(&ValidContact, &bulk::Derived)> =
            chunk.iter().map(|(_, c, _)| *c).zip(&derived).collect();
        let external: Vec<&str> = chunk.iter().map(|(x, _, _)| *x).collect();
        let ids = bulk::insert_derived(
            tx,
            org,
            &contacts,
            source,
            &mut groups,
            Some((id, &external)),
            true,
        )
        .await?;
        for ((x, c, _), cid) in chunk.iter().zip(ids) {
            contact_of.insert(x, cid);
            log.push(change(ChangeAction::Added, Some(cid), x, c, None));
        }
        live.wrote(chunk.len() as u64);
    }
    let t_inserted = started.elapsed();

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
        result.deleted = super::let_go(tx, org, id, Some(&ids)).await?;
        live.wrote(ids.len() as u64);
    }
    let members = read
        .dir
        .groups
        .iter_mut()
        .map(|g| {
            std::mem::take(&mut g.members)
                .iter()
                .filter_map(|m| contact_of.get(m.as_str()).copied())
                .collect()
        })
        .collect();
    tracing::debug!(
        integration = id,
        stored_ms = t_stored.as_millis() as u64,
        plan_ms = (t_plan - t_stored).as_millis() as u64,
        update_ms = (t_updated - t_plan).as_millis() as u64,
        insert_ms = (t_inserted - t_updated).as_millis() as u64,
        delete_ms = (started.elapsed() - t_inserted).as_millis() as u64,
        "contacts written"
    );
    Ok(Written {
        result,
        log,
        members,
        held_run_id: stored.settings.held_run_id,
        hold: plan.hold,
    })
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
    let item = |c: &ValidContact| PreviewItem {
        name: full_name(c),
        email: c.email.as_ref().map(|e| e.to_string()),
        detail: None,
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
        ..item(&u.next)
    };
    Ok(SyncPreview {
        result: plan.result.clone(),
        would_hold: plan.hold,
        added: plan
            .new
            .iter()
            .take(PREVIEW_LISTED)
            .map(|(_, c)| item(c))
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

/// The integration's groups become exactly the source's, with exactly its
/// members (`members_of`, by group).
async fn write_groups(
    tx: &impl ConnectionTrait,
    org: OrgId,
    integration: i64,
    source: &str,
    groups: &[SourceGroup],
    members_of: &[Vec<i64>],
) -> Result<(), AppError> {
    use contact_group::Column as G;
    let backend = tx.get_database_backend();
    // The memberships as they are, so that only those that differ are
    // written: most syncs change few.
    let before = memberships(tx, org, integration).await?;
    let mut kept: Vec<String> = Vec::new();
    let mut members: HashSet<(i64, i64)> = HashSet::new();
    for (g, group_members) in groups.iter().zip(members_of) {
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
        members.extend(group_members.iter().map(|cid| (gid, *cid)));
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
        sql.push(" AND ").json_not_in(
            "external_id",
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
