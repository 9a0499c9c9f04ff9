//! Applying an upload's rows to the directory, one transaction per batch: a
//! row updates the contact with its email (ignoring case), else the one with
//! its mobile phone, and otherwise creates one. A batch costs a few statements,
//! whatever its size: its matches are looked up together, its new contacts
//! inserted together, and the contacts it changes written together with
//! their groups. A
//! row for a contact an integration keeps changes nothing: it is reported as
//! managed by that source. A row for a contact an identity provider keeps over
//! SCIM changes all but its name and email, which that provider sets.

use super::columns::Mapping;
use super::merge::{keep_identity, merge};
use crate::backend::directory;
use crate::backend::directory::bulk::{self, Changed, Derived, GroupIds};
use crate::backend::domain::{validate, validate_with, OrgId, ValidContact};
use crate::model::{AppError, Contact, FieldError};
use sea_orm::ConnectionTrait;
use std::borrow::Cow;
use std::collections::hash_map::DefaultHasher;
use std::collections::{HashMap, HashSet};
use std::hash::{Hash, Hasher};

/// The source of contacts an upload creates.
pub const SOURCE_CSV: &str = "CSV upload";

/// What the rows applied so far did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Counts {
    pub created: u64,
    pub updated: u64,
    pub unchanged: u64,
    pub failed: u64,
    pub warnings: u64,
}

/// A row that failed, or that was applied with a warning.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub line: u64,
    /// The file's header of the column at fault; empty for the whole row.
    pub column: String,
    pub message: String,
    pub warning: bool,
}

/// A row as the importer receives it: its line, and the contact it holds or
/// why it holds none.
pub type Row = (u64, Result<Ready, Vec<FieldError>>);

/// A valid row, with what its contact is stored and compared by, computed
/// where the row is read (see [`Derived`]).
#[derive(Debug, Clone)]
pub struct Ready {
    pub contact: ValidContact,
    derived: Derived,
    /// Its [`keys_of`].
    keys: [Option<u64>; 2],
}

impl Ready {
    fn new(contact: ValidContact) -> Self {
        let derived = Derived::of(&contact);
        let keys = keys_of(
            derived.email_lower.as_deref(),
            contact.phone.as_ref().map(|p| p.as_str()),
        );
        Ready {
            contact,
            derived,
            keys,
        }
    }

    fn email_lower(&self) -> Option<&str> {
        self.derived.email_lower.as_deref()
    }

    fn phone(&self) -> Option<&str> {
        self.contact.phone.as_ref().map(|p| p.as_str())
    }
}

/// Validate a row like the Add Contact form does.
pub fn check(draft: &crate::model::ContactDraft, region: &str) -> Result<Ready, Vec<FieldError>> {
    validate(draft, region).map(Ready::new)
}

/// The keys of a row for spotting a second row for the same contact: 64 bits
/// of its lower-case email and of its phone, so that a million rows take tens
/// of megabytes. Two different keys collide with odds of about one in 10^7
/// per million rows.
fn keys_of(email: Option<&str>, phone: Option<&str>) -> [Option<u64>; 2] {
    [
        email.map(|e| seen_key(b'e', e)),
        phone.map(|p| seen_key(b'p', p)),
    ]
}

fn seen_key(kind: u8, value: &str) -> u64 {
    let mut h = DefaultHasher::new();
    kind.hash(&mut h);
    value.hash(&mut h);
    h.finish()
}

/// Why a row for a synced contact changed nothing.
pub fn managed_by(source: &str) -> String {
    format!(
        "Skipped: managed by {source}. This contact's details change in {source} and come with its next sync."
    )
}

/// Why a row did not rename a provisioned contact.
pub fn identity_kept(source: &str) -> String {
    format!("Name and email kept: {source} sets them. The row's other details were applied.")
}

/// Why a row was not applied to a contact whose stored `field` is not valid.
fn stored_invalid(field: &str, message: &str) -> String {
    format!(
        "Not applied: this contact's stored {} is not valid. {message} Give a valid one in this row, or correct the contact.",
        field.replace('_', " ")
    )
}

/// The problems of line `line`, failed for `errors`: one per field, under
/// the file's column for it, saying `message`.
fn failures<'a>(
    line: u64,
    mapping: &'a Mapping,
    errors: &'a [FieldError],
    message: impl Fn(&FieldError) -> String + 'a,
) -> impl Iterator<Item = Problem> + 'a {
    errors.iter().map(move |e| Problem {
        line,
        column: mapping.header_of(&e.field).unwrap_or_default(),
        message: message(e),
        warning: false,
    })
}

/// A warning about line `line`: it was applied, or changed nothing.
fn warning(line: u64, message: String) -> Problem {
    Problem {
        line,
        column: String::new(),
        message,
        warning: true,
    }
}

/// The contact with `row` applied (`None` when nothing changes), keeping the
/// name and email of a contact an identity provider keeps; and whether the row
/// asked for another name or email of such a contact.
fn merge_row(existing: &Contact, row: &ValidContact) -> (Option<crate::model::ContactDraft>, bool) {
    match merge(existing, row) {
        Some(next) if existing.provisioned => keep_identity(existing, next),
        next => (next, false),
    }
}

/// Applies the rows of one upload in file order.
pub struct Importer {
    org: OrgId,
    region: String,
    /// Keys of the emails and phones applied from this file, with their line.
    seen: HashMap<u64, u64>,
    groups: GroupIds,
    pub counts: Counts,
}

/// The contacts of `org` that `rows` refer to (see [`bulk::find_matches`]).
async fn find_matches(
    db: &impl ConnectionTrait,
    org: OrgId,
    rows: &[Row],
) -> Result<bulk::Matches, AppError> {
    let mut emails = Vec::new();
    let mut phones = Vec::new();
    for (_, row) in rows {
        if let Ok(r) = row {
            emails.extend(r.email_lower());
            phones.extend(r.phone().map(|p| (r.email_lower(), p)));
        }
    }
    emails.sort_unstable();
    emails.dedup();
    bulk::find_matches(db, org, &emails, &phones).await
}

/// A contact the batch touches: one found in the directory, or one it creates.
struct Pending<'r> {
    /// `None` for a contact this batch creates.
    id: Option<i64>,
    /// Its state so far, which the next row for it merges into; for a new
    /// contact, made from `write` when a second row refers to it.
    contact: Option<Contact>,
    /// What to write: set for a new contact (its row, borrowed), or one that
    /// changed.
    write: Option<Cow<'r, Ready>>,
    /// The groups it has in the directory (none for a new contact).
    groups_was: Vec<String>,
    /// The columns the batch's rows change so far (for a found contact).
    changed: Changed,
}

fn as_contact(v: &ValidContact, like: Option<&Contact>) -> Contact {
    let now = chrono::Utc::now();
    Contact {
        id: like.map_or(0, |c| c.id),
        first_name: v.first_name.to_string(),
        last_name: v.last_name.to_string(),
        email: v.email.as_ref().map(|e| e.as_str().to_string()),
        phone: v.phone.as_ref().map(|p| p.as_str().to_string()),
        department: directory::label(&v.department),
        role: directory::label(&v.role),
        location: directory::label(&v.location),
        groups: v.groups.iter().map(|g| g.to_string()).collect(),
        synced_groups: Vec::new(),
        synced: like.is_some_and(|c| c.synced),
        provisioned: like.is_some_and(|c| c.provisioned),
        deactivated: like.is_some_and(|c| c.deactivated),
        source: like.map_or_else(|| SOURCE_CSV.to_string(), |c| c.source.clone()),
        version: like.map_or(1, |c| c.version),
        created_at: like.map_or(now, |c| c.created_at),
        updated_at: now,
    }
}

impl Pending<'_> {
    /// Its state so far.
    fn contact(&mut self) -> &Contact {
        let write = &self.write;
        self.contact.get_or_insert_with(|| {
            as_contact(
                &write.as_ref().expect("a new contact has its row").contact,
                None,
            )
        })
    }
}

/// The contacts a batch touches, reachable by id, email and phone.
#[derive(Default)]
struct Batch<'r> {
    pending: Vec<Pending<'r>>,
    by_id: HashMap<i64, usize>,
    by_email: HashMap<String, usize>,
    by_phone: HashMap<String, usize>,
}

impl<'r> Batch<'r> {
    /// Reach contact `i` by its id and by the email and phone it has now.
    fn index(&mut self, i: usize) {
        let p = &self.pending[i];
        let (email, phone) = match (&p.write, &p.contact) {
            (Some(w), _) => (w.derived.email_lower.clone(), w.phone().map(str::to_string)),
            (None, Some(c)) => (c.email.as_ref().map(|e| e.to_lowercase()), c.phone.clone()),
            (None, None) => (None, None),
        };
        if let Some(e) = email {
            self.by_email.insert(e, i);
        }
        if let Some(p) = phone {
            self.by_phone.entry(p).or_insert(i);
        }
        if let Some(id) = self.pending[i].id {
            self.by_id.insert(id, i);
        }
    }

    fn add(&mut self, p: Pending<'r>) -> usize {
        self.pending.push(p);
        let i = self.pending.len() - 1;
        self.index(i);
        i
    }

    /// The contact found in the directory, as this batch has it so far.
    fn found(&mut self, c: &Contact) -> usize {
        match self.by_id.get(&c.id) {
            Some(i) => *i,
            None => self.add(Pending {
                id: Some(c.id),
                contact: Some(c.clone()),
                write: None,
                groups_was: c.groups.clone(),
                changed: Changed::default(),
            }),
        }
    }

    /// The contact a row refers to: by email, else by phone; in this batch
    /// first, since it may have changed, then in the directory.
    fn target(
        &mut self,
        found: &bulk::Matches,
        email: Option<&str>,
        phone: Option<&str>,
    ) -> Option<usize> {
        if let Some(e) = email {
            if let Some(i) = self.by_email.get(e) {
                return Some(*i);
            }
            if let Some(c) = found.by_email.get(e) {
                return Some(self.found(c));
            }
        }
        if let Some(p) = phone {
            if let Some(i) = self.by_phone.get(p) {
                return Some(*i);
            }
            if let Some(c) = found.by_phone.get(p) {
                return Some(self.found(c));
            }
        }
        None
    }
}

impl Importer {
    pub fn new(org: OrgId, region: &str) -> Self {
        Self {
            org,
            region: region.to_string(),
            seen: HashMap::new(),
            groups: GroupIds::new(org, SOURCE_CSV),
            counts: Counts::default(),
        }
    }

    /// Go on with an import that an earlier run took this far (`counts`).
    pub fn resuming(mut self, counts: Counts) -> Self {
        self.counts = counts;
        self
    }

    /// Remember rows that an earlier run of this import applied, so that a
    /// later row for the same contact is still reported as such.
    pub fn remember(&mut self, rows: &[Row]) {
        for (line, row) in rows {
            if let Ok(r) = row {
                for k in r.keys.iter().flatten() {
                    self.seen.entry(*k).or_insert(*line);
                }
            }
        }
    }

    /// Apply a batch of rows within the transaction `tx`. What the batch did
    /// counts once [`Importer::accept`] is told that `tx` committed; after an
    /// error, the importer must not be used again.
    pub async fn apply(
        &mut self,
        tx: &impl ConnectionTrait,
        mapping: &Mapping,
        rows: &[Row],
    ) -> Result<Applied, AppError> {
        let t0 = std::time::Instant::now();
        // Within the transaction. Looked up on another connection while the
        // batch before was written, 100,000 rows into a million took 10.2 to
        // 11.7 s instead of 9.4 to 9.9 (server/README): likely because the
        // writes then miss the pages these reads bring into the writer's cache.
        let found = find_matches(tx, self.org, rows).await?;
        let mut counts = self.counts;
        let mut seen = HashMap::new();
        let mut problems = Vec::new();
        let t_find = t0.elapsed();

        let mut batch = Batch::default();
        for (line, row) in rows {
            let line = *line;
            let row = match row {
                Ok(row) => row,
                Err(errors) => {
                    counts.failed += 1;
                    problems.extend(failures(line, mapping, errors, |e| e.message.clone()));
                    continue;
                }
            };
            // A row's warnings count once it is known not to fail.
            let mut warnings = Vec::new();
            if let Some(first) = row
                .keys
                .iter()
                .flatten()
                .find_map(|k| seen.get(k).or_else(|| self.seen.get(k)))
            {
                warnings.push(warning(
                    line,
                    format!("The same contact is on line {first}; both rows were applied, in file order."),
                ));
            }
            match batch.target(&found, row.email_lower(), row.phone()) {
                None => {
                    batch.add(Pending {
                        id: None,
                        contact: None,
                        write: Some(Cow::Borrowed(row)),
                        groups_was: Vec::new(),
                        changed: Changed::ALL,
                    });
                    counts.created += 1;
                }
                Some(i) => {
                    let was = batch.pending[i].contact();
                    // A synced contact's fields are its source's: the row is reported, not applied.
                    let (next, kept) = if was.synced {
                        warnings.push(warning(line, managed_by(&was.source)));
                        (None, false)
                    } else {
                        merge_row(was, &row.contact)
                    };
                    if kept {
                        warnings.push(warning(line, identity_kept(&was.source)));
                    }
                    match next {
                        None => counts.unchanged += 1,
                        Some(next) => {
                            let known = row.contact.phone.as_ref();
                            let next = match validate_with(&next, &self.region, known) {
                                Ok(next) => next,
                                // The row's own values passed when it was read,
                                // so a value kept from the stored contact fails:
                                // saved under older rules, or by hand in the
                                // database. The row is reported, not applied.
                                Err(errors) => {
                                    counts.failed += 1;
                                    problems.extend(failures(line, mapping, &errors, |e| {
                                        stored_invalid(&e.field, &e.message)
                                    }));
                                    continue;
                                }
                            };
                            let p = &mut batch.pending[i];
                            let was = p.contact();
                            let changed = Changed::between(&was.into(), &next);
                            let contact = as_contact(&next, Some(was));
                            p.changed = p.changed.or(changed);
                            p.contact = Some(contact);
                            p.write = Some(Cow::Owned(Ready::new(next)));
                            batch.index(i);
                            counts.updated += 1;
                        }
                    }
                }
            }
            for k in row.keys.iter().flatten() {
                seen.entry(*k).or_insert(line);
            }
            counts.warnings += warnings.len() as u64;
            problems.extend(warnings);
        }

        let new: Vec<(&ValidContact, &Derived)> = batch
            .pending
            .iter()
            .filter(|p| p.id.is_none())
            .filter_map(|p| p.write.as_ref())
            .map(|w| (&w.contact, &w.derived))
            .collect();
        let t1 = std::time::Instant::now();
        let plan = t1 - t0 - t_find;
        // Without search keys: new and renamed contacts are placed in SQLite's
        // search index once the upload's rows are committed, all together (see
        // `job::index`), which costs a fraction of placing them batch by batch;
        // on PostgreSQL new contacts get their word starts then.
        bulk::insert_derived(
            tx,
            self.org,
            &new,
            SOURCE_CSV,
            &mut self.groups,
            None,
            false,
        )
        .await?;
        let t_insert = t1.elapsed();
        let changed: Vec<(i64, i64, (&ValidContact, &Derived), Changed)> = batch
            .pending
            .iter()
            .filter_map(|p| {
                let version = p.contact.as_ref()?.version;
                let w = p.write.as_ref()?;
                Some((p.id?, version, (&w.contact, &w.derived), p.changed))
            })
            .collect();
        bulk::overwrite_many(tx, self.org, &changed).await?;
        let t_update = t1.elapsed() - t_insert;
        self.regroup(tx, &batch.pending).await?;
        tracing::debug!(
            find_ms = t_find.as_secs_f64() * 1e3,
            plan_ms = plan.as_secs_f64() * 1e3,
            insert_ms = t_insert.as_secs_f64() * 1e3,
            update_ms = t_update.as_secs_f64() * 1e3,
            regroup_ms = (t1.elapsed() - t_insert - t_update).as_secs_f64() * 1e3,
            "import batch"
        );
        Ok(Applied {
            counts,
            seen,
            problems,
        })
    }

    /// Give each changed contact of the batch the groups of its row: the
    /// memberships of the organisation's own groups it no longer names go,
    /// the new ones come (a source's groups are its sync's to change).
    async fn regroup(
        &mut self,
        tx: &impl ConnectionTrait,
        pending: &[Pending<'_>],
    ) -> Result<(), AppError> {
        let mut gone = Vec::new();
        let mut added = Vec::new();
        for p in pending {
            let (Some(id), Some(next)) = (p.id, &p.write) else {
                continue;
            };
            let next = &next.contact;
            let now: HashSet<String> = next.groups.iter().map(|g| g.to_lowercase()).collect();
            let was: HashSet<String> = p.groups_was.iter().map(|g| g.to_lowercase()).collect();
            for name in p
                .groups_was
                .iter()
                .filter(|g| !now.contains(&g.to_lowercase()))
            {
                gone.push((self.groups.get(tx, name).await?, id));
            }
            for name in next
                .groups
                .iter()
                .filter(|g| !was.contains(&g.to_lowercase()))
            {
                added.push((self.groups.get(tx, name.as_str()).await?, id));
            }
        }
        bulk::remove_members(tx, &gone).await?;
        bulk::add_members(tx, added).await
    }

    /// Count a batch whose transaction committed.
    pub fn accept(&mut self, applied: Applied) -> Vec<Problem> {
        self.counts = applied.counts;
        for (k, line) in applied.seen {
            self.seen.entry(k).or_insert(line);
        }
        applied.problems
    }
}

/// What a batch did, counted once its transaction commits.
#[must_use]
pub struct Applied {
    /// The counts of the whole import, this batch included.
    pub counts: Counts,
    seen: HashMap<u64, u64>,
    /// The failed rows and warnings of this batch.
    pub problems: Vec<Problem>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::db::{self, entities::contact};
    use crate::model::ContactDraft;
    use sea_orm::{DatabaseConnection, EntityTrait, QueryOrder};

    /// A new SQLite directory with one organisation, in a folder of its own
    /// (for the test to remove).
    async fn directory(name: &str) -> (DatabaseConnection, OrgId, std::path::PathBuf) {
        let dir = std::env::temp_dir().join(format!("muster-apply-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let db = db::connect(&format!("sqlite://{}", dir.join("muster.db").display()))
            .await
            .unwrap();
        let _ = db::migrate(&db).await.unwrap();
        db.execute_unprepared(
            "INSERT INTO organisations (name, default_region, time_zone, created_at) \
             VALUES ('Acme', 'GB', 'Europe/London', 0)",
        )
        .await
        .unwrap();
        (db, OrgId::trusted(1), dir)
    }

    fn mapping() -> Mapping {
        let headers = [
            "First Name",
            "Last Name",
            "Email",
            "Mobile",
            "Department",
            "Role",
        ];
        Mapping::detect(&headers.map(String::from)).unwrap()
    }

    /// Line `line`: `first` Test, with an email, phone, department and role (blank: none).
    fn row(line: u64, [first, email, phone, department, role]: [&str; 5]) -> Row {
        let draft = ContactDraft {
            first_name: first.into(),
            last_name: "Test".into(),
            email: email.into(),
            phone: phone.into(),
            department: department.into(),
            role: role.into(),
            ..Default::default()
        };
        (line, check(&draft, "GB"))
    }

    /// Apply `rows` in a transaction of their own and commit: the counts after them.
    async fn apply(db: &DatabaseConnection, importer: &mut Importer, rows: &[Row]) -> Counts {
        let tx = db::begin_write(db).await.unwrap();
        let applied = importer.apply(&tx, &mapping(), rows).await.unwrap();
        tx.commit().await.unwrap();
        let _ = importer.accept(applied);
        importer.counts
    }

    /// Every contact: first name, phone, department, role, version.
    async fn contacts(db: &DatabaseConnection) -> Vec<[String; 5]> {
        let all = contact::Entity::find()
            .order_by_asc(contact::Column::Id)
            .all(db)
            .await
            .unwrap();
        all.into_iter()
            .map(|c| {
                [
                    c.first_name,
                    c.phone.unwrap_or_default(),
                    c.department.unwrap_or_default(),
                    c.role.unwrap_or_default(),
                    c.version.to_string(),
                ]
            })
            .collect()
    }

    fn counts([created, updated, unchanged, failed, warnings]: [u64; 5]) -> Counts {
        Counts {
            created,
            updated,
            unchanged,
            failed,
            warnings,
        }
    }

    /// A row that fails is counted as failed only, whatever warnings it would
    /// have had: here the second of two rows for a contact whose stored phone
    /// is no longer valid (before, it was also "the same contact is on line 2").
    #[tokio::test]
    async fn a_row_that_fails_is_not_also_a_warning() {
        let (db, org, dir) = directory("failed-not-warned").await;
        let first = [row(2, ["Ada", "ada@example.com", "07911 123456", "", ""])];
        let mut importer = Importer::new(org, "GB");
        assert_eq!(
            apply(&db, &mut importer, &first).await,
            counts([1, 0, 0, 0, 0])
        );
        db.execute_unprepared("UPDATE contacts SET phone = '+12'")
            .await
            .unwrap();

        let mut importer = Importer::new(org, "GB");
        let rows = [
            row(2, ["Ada", "ada@example.com", "", "", "Engineer"]),
            row(3, ["Ada", "ada@example.com", "", "", "Analyst"]),
            row(4, ["Bo", "bo@example.com", "", "", "Analyst"]),
            row(5, ["Bo", "bo@example.com", "", "", "Engineer"]),
        ];
        let tx = db::begin_write(&db).await.unwrap();
        let applied = importer.apply(&tx, &mapping(), &rows).await.unwrap();
        tx.commit().await.unwrap();
        // Bo's second row is a warning: his first was applied.
        assert_eq!(applied.counts, counts([1, 1, 0, 2, 1]));
        let problems: Vec<_> = applied
            .problems
            .iter()
            .map(|p| (p.line, p.warning))
            .collect();
        assert_eq!(problems, [(2, false), (3, false), (5, true)]);
        assert_eq!(
            contacts(&db).await,
            [["Ada", "+12", "", "", "1"], ["Bo", "", "", "Engineer", "1"],]
                .map(|c| c.map(String::from))
        );
        db.close().await.unwrap();
        let _ = std::fs::remove_dir_all(dir);
    }
}
