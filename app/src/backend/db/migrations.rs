//! Schema migrations. Tables, columns and indexes are written with
//! sea-orm-migration's schema builder; what it cannot express (SQLite's FTS5
//! table and the triggers of both backends, PostgreSQL's trigram index) is SQL
//! for each backend. A migration never calls application code: work that needs
//! it (recomputing search texts) is reported by `db::migrate` to its caller.
//! Never change a migration that has been released: add a new one. The test
//! `schema_equals_an_upgraded_release` (server/tests/schema.rs) holds them to it.

use sea_orm::{ConnectionTrait, DbBackend, DbErr};
use sea_orm_migration::prelude::*;

pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(M0001Foundation),
            Box::new(M0002SearchAtScale),
            Box::new(M0003Imports),
            Box::new(M0004Integrations),
            Box::new(M0005SessionActivity),
            Box::new(M0006SyncHistory),
            Box::new(M0007SyncSchedule),
            Box::new(M0008ScimProvisioning),
            Box::new(M0009DeactivatedContacts),
            Box::new(M0010Scenarios),
            Box::new(M0011Incidents),
            Box::new(M0012Sms),
            Box::new(M0013ImportCheckpoints),
            Box::new(M0014PostgresActiveFilters),
            Box::new(M0015SharedByServers),
            Box::new(M0016SearchCatchesUp),
            Box::new(M0017NarrowFilterIndexes),
            Box::new(M0018PostgresWordStarts),
            Box::new(M0019PostgresFilterCounts),
            Box::new(M0020PostgresWordStartsLater),
            Box::new(M0021PostgresNarrowFilterIndexes),
            Box::new(M0022ParkedSearchText),
            Box::new(M0023PostgresContactWords),
        ]
    }
}

#[derive(DeriveIden)]
enum Organisations {
    Table,
    Id,
    Name,
    DefaultRegion,
    TimeZone,
    CreatedAt,
    ContactCount,
}

#[derive(DeriveIden)]
enum Users {
    Table,
    Id,
    OrgId,
    Email,
    EmailLower,
    PasswordHash,
    CreatedAt,
}

#[derive(DeriveIden)]
enum Sessions {
    Table,
    TokenHash,
    UserId,
    OrgId,
    CreatedAt,
    ExpiresAt,
    LastSeenAt,
}

#[derive(DeriveIden)]
enum Contacts {
    Table,
    Id,
    OrgId,
    FirstName,
    LastName,
    SortName,
    SearchText,
    Email,
    EmailLower,
    Phone,
    Department,
    Role,
    Location,
    Source,
    ExternalId,
    Active,
    Version,
    CreatedAt,
    UpdatedAt,
    SearchKey,
    IntegrationId,
    AdoptedSource,
    ScimSourceId,
    SearchOld,
}

#[derive(DeriveIden)]
enum ContactGroups {
    Table,
    Id,
    OrgId,
    Name,
    NameLower,
    Source,
    CreatedAt,
    IntegrationId,
    ExternalId,
    ScimSourceId,
}

#[derive(DeriveIden)]
enum GroupMembers {
    Table,
    GroupId,
    ContactId,
}

#[derive(DeriveIden)]
enum ImportJobs {
    Table,
    Id,
    OrgId,
    UserId,
    UserEmail,
    FileName,
    FileBytes,
    StoredPath,
    Encoding,
    Delimiter,
    Columns,
    Status,
    Message,
    TotalRows,
    ProcessedRows,
    Created,
    Updated,
    Unchanged,
    Failed,
    Warnings,
    CancelRequested,
    CreatedAt,
    StartedAt,
    FinishedAt,
    HeartbeatAt,
    Resumes,
    IndexTotal,
    Indexed,
}

#[derive(DeriveIden)]
enum ImportProblems {
    Table,
    Id,
    JobId,
    Line,
    ColumnName,
    Message,
    Warning,
    RowValues,
}

#[derive(DeriveIden)]
enum Integrations {
    Table,
    Id,
    OrgId,
    Provider,
    Settings,
    Secrets,
    SecretsSet,
    Status,
    LastError,
    LastResult,
    LastSyncAt,
    HeartbeatAt,
    CreatedAt,
    UpdatedAt,
    HoldPercent,
    HoldCount,
    HeldRunId,
    SyncMinute,
    NextSyncAt,
    Retries,
}

#[derive(DeriveIden)]
enum SyncRuns {
    Table,
    Id,
    OrgId,
    IntegrationId,
    Trigger,
    Attempt,
    Status,
    Resolution,
    StartedAt,
    FinishedAt,
    People,
    Added,
    Updated,
    Unchanged,
    Deleted,
    Skipped,
    Held,
    Error,
    Phase,
    Pages,
    Applied,
    Total,
    CancelRequested,
}

#[derive(DeriveIden)]
enum SyncChanges {
    Table,
    Id,
    RunId,
    OrgId,
    Action,
    ContactId,
    ExternalId,
    Name,
    Email,
    Detail,
}

#[derive(DeriveIden)]
enum ScimSources {
    Table,
    Id,
    OrgId,
    Name,
    NameLower,
    Scope,
    KeepDeleted,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum ScimTokens {
    Table,
    Id,
    OrgId,
    SourceId,
    Name,
    TokenHash,
    Hint,
    CreatedAt,
    LastUsedAt,
    ExpiresAt,
    RevokedAt,
}

#[derive(DeriveIden)]
enum ScimUsers {
    Table,
    ContactId,
    OrgId,
    SourceId,
    UserName,
    UserNameLower,
    ExternalId,
    Resource,
    Version,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum ScimGroups {
    Table,
    GroupId,
    OrgId,
    SourceId,
    DisplayNameLower,
    ExternalId,
    Resource,
    Version,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum Scenarios {
    Table,
    Id,
    OrgId,
    Name,
    NameLower,
    Description,
    Severity,
    Subject,
    Body,
    Email,
    Sms,
    Options,
    Recipients,
    Version,
    CreatedAt,
    UpdatedAt,
    CreatedBy,
    UpdatedBy,
}

#[derive(DeriveIden)]
enum AuditEvents {
    Table,
    Id,
    OrgId,
    At,
    Actor,
    Action,
    SubjectKind,
    SubjectId,
    Summary,
}

#[derive(DeriveIden)]
enum Incidents {
    Table,
    Id,
    OrgId,
    ScenarioId,
    Name,
    Severity,
    Subject,
    Body,
    Email,
    Sms,
    Options,
    Recipients,
    Status,
    Nonce,
    LaunchedAt,
    LaunchedBy,
    ResolvedAt,
    ResolvedBy,
    RecipientCount,
}

#[derive(DeriveIden)]
enum IncidentRecipients {
    Table,
    Id,
    IncidentId,
    OrgId,
    ContactId,
    FirstName,
    LastName,
    Email,
    Phone,
    Reason,
    Response,
    RespondedAt,
    ResponseVia,
}

#[derive(DeriveIden)]
enum IncidentMessages {
    Table,
    Id,
    IncidentId,
    OrgId,
    Kind,
    Subject,
    Body,
    SentAt,
    SentBy,
}

#[derive(DeriveIden)]
enum Deliveries {
    Table,
    Id,
    OrgId,
    IncidentId,
    RecipientId,
    MessageId,
    Channel,
    Status,
    Attempts,
    NextAt,
    LeaseUntil,
    ProviderRef,
    Error,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum SmsSettings {
    Table,
    Id,
    OrgId,
    Provider,
    AccountSid,
    Sender,
    BaseUrl,
    Secrets,
    TokenHint,
    PerSecond,
    WebhookKey,
    UpdatedAt,
    UpdatedBy,
}

#[derive(DeriveIden)]
enum UploadChunks {
    Table,
    Upload,
    Seq,
    OrgId,
    Bytes,
    CreatedAt,
}

#[derive(DeriveIden)]
enum SignInFailures {
    Table,
    Key,
    Failures,
    FirstAt,
}

/// A table's id: SQLite's rowid (`INTEGER PRIMARY KEY`, which reuses no id
/// while the row with the largest is kept), an identity column on PostgreSQL.
fn id<T: IntoIden>(backend: DbBackend, name: T) -> ColumnDef {
    let mut col = ColumnDef::new(name);
    col.big_integer().primary_key();
    if backend == DbBackend::Postgres {
        col.auto_increment();
    }
    col
}

fn text<T: IntoIden>(name: T) -> ColumnDef {
    ColumnDef::new(name).text().not_null().take()
}

fn text_null<T: IntoIden>(name: T) -> ColumnDef {
    ColumnDef::new(name).text().take()
}

fn int<T: IntoIden>(name: T) -> ColumnDef {
    ColumnDef::new(name).big_integer().not_null().take()
}

fn int_null<T: IntoIden>(name: T) -> ColumnDef {
    ColumnDef::new(name).big_integer().take()
}

fn flag<T: IntoIden>(name: T, default: bool) -> ColumnDef {
    ColumnDef::new(name)
        .boolean()
        .not_null()
        .default(default)
        .take()
}

/// `from` references `to`'s id, and goes (or is unset) with it.
fn refers<F: IntoIden, T: IntoIden, C: IntoIden>(
    from: (F, C),
    to: T,
    on_delete: ForeignKeyAction,
) -> ForeignKeyCreateStatement {
    ForeignKey::create()
        .from_tbl(from.0)
        .from_col(from.1)
        .to_tbl(to)
        .to_col(Alias::new("id"))
        .on_delete(on_delete)
        .take()
}

fn index<T: IntoIden>(name: &str, table: T) -> IndexCreateStatement {
    Index::create().name(name).table(table).take()
}

/// Statements that the schema builder cannot express, run in turn.
async fn run(db: &impl ConnectionTrait, statements: &[&str]) -> Result<(), DbErr> {
    for stmt in statements {
        db.execute_unprepared(stmt).await?;
    }
    Ok(())
}

struct M0001Foundation;

impl MigrationName for M0001Foundation {
    fn name(&self) -> &str {
        "m0001_foundation"
    }
}

/// SQLite's first text index, an FTS5 trigram table kept by triggers (replaced by m0002).
const SQLITE_SEARCH: &[&str] = &[
    "CREATE VIRTUAL TABLE contacts_fts USING fts5(\
         search_text, content='contacts', content_rowid='id', tokenize='trigram')",
    "CREATE TRIGGER contacts_fts_insert AFTER INSERT ON contacts BEGIN \
         INSERT INTO contacts_fts (rowid, search_text) VALUES (new.id, new.search_text); END",
    "CREATE TRIGGER contacts_fts_delete AFTER DELETE ON contacts BEGIN \
         INSERT INTO contacts_fts (contacts_fts, rowid, search_text) \
             VALUES ('delete', old.id, old.search_text); END",
    "CREATE TRIGGER contacts_fts_update AFTER UPDATE OF search_text ON contacts BEGIN \
         INSERT INTO contacts_fts (contacts_fts, rowid, search_text) \
             VALUES ('delete', old.id, old.search_text); \
         INSERT INTO contacts_fts (rowid, search_text) VALUES (new.id, new.search_text); END",
];

/// PostgreSQL's text index: trigrams of the search text (an operator class,
/// which the schema builder does not name).
const POSTGRES_SEARCH: &[&str] = &[
    "CREATE EXTENSION IF NOT EXISTS pg_trgm",
    "CREATE INDEX contacts_search_trgm ON contacts USING gin (search_text gin_trgm_ops)",
];

#[async_trait::async_trait]
impl MigrationTrait for M0001Foundation {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let backend = manager.get_database_backend();
        manager
            .create_table(
                Table::create()
                    .table(Organisations::Table)
                    .col(id(backend, Organisations::Id))
                    .col(text(Organisations::Name))
                    .col(text(Organisations::DefaultRegion))
                    .col(text(Organisations::TimeZone))
                    .col(int(Organisations::CreatedAt))
                    .take(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(Users::Table)
                    .col(id(backend, Users::Id))
                    .col(int(Users::OrgId))
                    .col(text(Users::Email))
                    .col(text(Users::EmailLower).unique_key())
                    .col(text(Users::PasswordHash))
                    .col(int(Users::CreatedAt))
                    .foreign_key(&mut refers(
                        (Users::Table, Users::OrgId),
                        Organisations::Table,
                        ForeignKeyAction::Cascade,
                    ))
                    .take(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(Sessions::Table)
                    .col(ColumnDef::new(Sessions::TokenHash).text().primary_key())
                    .col(int(Sessions::UserId))
                    .col(int(Sessions::OrgId))
                    .col(int(Sessions::CreatedAt))
                    .col(int(Sessions::ExpiresAt))
                    .foreign_key(&mut refers(
                        (Sessions::Table, Sessions::UserId),
                        Users::Table,
                        ForeignKeyAction::Cascade,
                    ))
                    .foreign_key(&mut refers(
                        (Sessions::Table, Sessions::OrgId),
                        Organisations::Table,
                        ForeignKeyAction::Cascade,
                    ))
                    .take(),
            )
            .await?;
        manager
            .create_index(
                index("sessions_user", Sessions::Table)
                    .col(Sessions::UserId)
                    .take(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(Contacts::Table)
                    .col(id(backend, Contacts::Id))
                    .col(int(Contacts::OrgId))
                    .col(text(Contacts::FirstName))
                    .col(text(Contacts::LastName))
                    .col(text(Contacts::SortName))
                    .col(text(Contacts::SearchText))
                    .col(text_null(Contacts::Email))
                    .col(text_null(Contacts::EmailLower))
                    .col(text_null(Contacts::Phone))
                    .col(text_null(Contacts::Department))
                    .col(text_null(Contacts::Role))
                    .col(text_null(Contacts::Location))
                    .col(text(Contacts::Source))
                    .col(text_null(Contacts::ExternalId))
                    .col(flag(Contacts::Active, true))
                    .col(int(Contacts::Version).default(1))
                    .col(int(Contacts::CreatedAt))
                    .col(int(Contacts::UpdatedAt))
                    .foreign_key(&mut refers(
                        (Contacts::Table, Contacts::OrgId),
                        Organisations::Table,
                        ForeignKeyAction::Cascade,
                    ))
                    .take(),
            )
            .await?;
        let c = || index("", Contacts::Table).col(Contacts::OrgId).take();
        for mut idx in [
            c().name("contacts_org_email")
                .col(Contacts::EmailLower)
                .unique()
                .take(),
            c().name("contacts_org_phone").col(Contacts::Phone).take(),
            c().name("contacts_org_sort")
                .col(Contacts::SortName)
                .col(Contacts::Id)
                .take(),
            c().name("contacts_org_department")
                .col(Contacts::Department)
                .col(Contacts::SortName)
                .col(Contacts::Id)
                .take(),
            c().name("contacts_org_role")
                .col(Contacts::Role)
                .col(Contacts::SortName)
                .col(Contacts::Id)
                .take(),
            c().name("contacts_org_location")
                .col(Contacts::Location)
                .col(Contacts::SortName)
                .col(Contacts::Id)
                .take(),
        ] {
            manager.create_index(idx.take()).await?;
        }
        manager
            .create_table(
                Table::create()
                    .table(ContactGroups::Table)
                    .col(id(backend, ContactGroups::Id))
                    .col(int(ContactGroups::OrgId))
                    .col(text(ContactGroups::Name))
                    .col(text(ContactGroups::NameLower))
                    .col(text(ContactGroups::Source))
                    .col(int(ContactGroups::CreatedAt))
                    .foreign_key(&mut refers(
                        (ContactGroups::Table, ContactGroups::OrgId),
                        Organisations::Table,
                        ForeignKeyAction::Cascade,
                    ))
                    .take(),
            )
            .await?;
        manager
            .create_index(
                index("contact_groups_org_name", ContactGroups::Table)
                    .col(ContactGroups::OrgId)
                    .col(ContactGroups::NameLower)
                    .unique()
                    .take(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(GroupMembers::Table)
                    .col(int(GroupMembers::GroupId))
                    .col(int(GroupMembers::ContactId))
                    .primary_key(
                        Index::create()
                            .col(GroupMembers::GroupId)
                            .col(GroupMembers::ContactId),
                    )
                    .foreign_key(&mut refers(
                        (GroupMembers::Table, GroupMembers::GroupId),
                        ContactGroups::Table,
                        ForeignKeyAction::Cascade,
                    ))
                    .foreign_key(&mut refers(
                        (GroupMembers::Table, GroupMembers::ContactId),
                        Contacts::Table,
                        ForeignKeyAction::Cascade,
                    ))
                    .take(),
            )
            .await?;
        manager
            .create_index(
                index("group_members_contact", GroupMembers::Table)
                    .col(GroupMembers::ContactId)
                    .take(),
            )
            .await?;
        let db = manager.get_connection();
        match backend {
            DbBackend::Postgres => run(db, POSTGRES_SEARCH).await,
            _ => run(db, SQLITE_SEARCH).await,
        }
    }
}

/// The last migration that changed the format of the search text.
pub const SEARCH_FORMAT: &str = "m0002_search_at_scale";

struct M0002SearchAtScale;

impl MigrationName for M0002SearchAtScale {
    fn name(&self) -> &str {
        SEARCH_FORMAT
    }
}

/// Counted contacts per organisation, kept by triggers, for the unfiltered total.
const COUNTS_SQLITE: &[&str] = &[
    "CREATE TRIGGER contacts_count_insert AFTER INSERT ON contacts BEGIN \
         UPDATE organisations SET contact_count = contact_count + 1 WHERE id = new.org_id; END",
    "CREATE TRIGGER contacts_count_delete AFTER DELETE ON contacts BEGIN \
         UPDATE organisations SET contact_count = contact_count - 1 WHERE id = old.org_id; END",
];

const COUNTS_POSTGRES: &[&str] = &[
    "CREATE FUNCTION contacts_count_change() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN \
         IF TG_OP = 'INSERT' THEN \
             UPDATE organisations o SET contact_count = o.contact_count + n.c \
             FROM (SELECT org_id, COUNT(*) AS c FROM changed GROUP BY org_id) n WHERE o.id = n.org_id; \
         ELSE \
             UPDATE organisations o SET contact_count = o.contact_count - n.c \
             FROM (SELECT org_id, COUNT(*) AS c FROM changed GROUP BY org_id) n WHERE o.id = n.org_id; \
         END IF; \
         RETURN NULL; END $$",
    "CREATE TRIGGER contacts_count_insert AFTER INSERT ON contacts \
         REFERENCING NEW TABLE AS changed FOR EACH STATEMENT EXECUTE FUNCTION contacts_count_change()",
    "CREATE TRIGGER contacts_count_delete AFTER DELETE ON contacts \
         REFERENCING OLD TABLE AS changed FOR EACH STATEMENT EXECUTE FUNCTION contacts_count_change()",
];

/// SQLite's text index becomes contentless and keyed by `search_key`, which orders
/// entries by organisation and name (see `directory::text`).
const SEARCH_SQLITE_DROP: &[&str] = &[
    "DROP TRIGGER contacts_fts_insert",
    "DROP TRIGGER contacts_fts_delete",
    "DROP TRIGGER contacts_fts_update",
    "DROP TABLE contacts_fts",
];

const SEARCH_SQLITE_CREATE: &[&str] = &[
    "CREATE VIRTUAL TABLE contacts_fts USING fts5(\
         search_text, content='', columnsize=0, tokenize='trigram')",
    "INSERT INTO contacts_fts (rowid, search_text) \
         SELECT search_key, search_text FROM contacts WHERE search_key IS NOT NULL",
    // Only keyed contacts are in the index; `directory::place` keys new ones.
    "CREATE TRIGGER contacts_fts_insert AFTER INSERT ON contacts \
         WHEN new.search_key IS NOT NULL BEGIN \
         INSERT INTO contacts_fts (rowid, search_text) VALUES (new.search_key, new.search_text); END",
    "CREATE TRIGGER contacts_fts_delete AFTER DELETE ON contacts \
         WHEN old.search_key IS NOT NULL BEGIN \
         INSERT INTO contacts_fts (contacts_fts, rowid, search_text) \
             VALUES ('delete', old.search_key, old.search_text); END",
    "CREATE TRIGGER contacts_fts_update AFTER UPDATE OF search_key, search_text ON contacts BEGIN \
         INSERT INTO contacts_fts (contacts_fts, rowid, search_text) \
             SELECT 'delete', old.search_key, old.search_text WHERE old.search_key IS NOT NULL; \
         INSERT INTO contacts_fts (rowid, search_text) \
             SELECT new.search_key, new.search_text WHERE new.search_key IS NOT NULL; END",
];

#[async_trait::async_trait]
impl MigrationTrait for M0002SearchAtScale {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        let sqlite = manager.get_database_backend() == DbBackend::Sqlite;
        manager
            .alter_table(
                Table::alter()
                    .table(Organisations::Table)
                    .add_column(int(Organisations::ContactCount).default(0))
                    .take(),
            )
            .await?;
        run(
            db,
            if sqlite {
                COUNTS_SQLITE
            } else {
                COUNTS_POSTGRES
            },
        )
        .await?;
        // The counts of contacts that exist already.
        let count = Query::select()
            .expr(Expr::col(Asterisk).count())
            .from(Contacts::Table)
            .and_where(
                Expr::col((Contacts::Table, Contacts::OrgId))
                    .equals((Organisations::Table, Organisations::Id)),
            )
            .take();
        manager
            .exec_stmt(
                Query::update()
                    .table(Organisations::Table)
                    .value(
                        Organisations::ContactCount,
                        Expr::SubQuery(None, Box::new(count.into_sub_query_statement())),
                    )
                    .take(),
            )
            .await?;
        if sqlite {
            run(db, SEARCH_SQLITE_DROP).await?;
        }
        manager
            .alter_table(
                Table::alter()
                    .table(Contacts::Table)
                    .add_column(int_null(Contacts::SearchKey))
                    .take(),
            )
            .await?;
        if sqlite {
            manager
                .create_index(
                    index("contacts_search_key", Contacts::Table)
                        .col(Contacts::SearchKey)
                        .unique()
                        .take(),
                )
                .await?;
            // Neighbours in name order among keyed contacts, and the contacts still to place.
            manager
                .create_index(
                    index("contacts_keyed_order", Contacts::Table)
                        .col(Contacts::OrgId)
                        .col(Contacts::SortName)
                        .col(Contacts::Id)
                        .col(Contacts::SearchKey)
                        .and_where(Expr::col(Contacts::SearchKey).is_not_null())
                        .take(),
                )
                .await?;
            manager
                .create_index(
                    index("contacts_unkeyed", Contacts::Table)
                        .col(Contacts::OrgId)
                        .col(Contacts::SortName)
                        .col(Contacts::Id)
                        .and_where(Expr::col(Contacts::SearchKey).is_null())
                        .take(),
                )
                .await?;
            run(db, SEARCH_SQLITE_CREATE).await?;
        }
        // Existing contacts' search texts and keys are computed again by the
        // application once the schema is up to date (see `db::migrate`).
        Ok(())
    }
}

struct M0003Imports;

impl MigrationName for M0003Imports {
    fn name(&self) -> &str {
        "m0003_imports"
    }
}

/// CSV uploads: every one is kept with who, when, what and how it went, and the
/// rows it could not apply.
#[async_trait::async_trait]
impl MigrationTrait for M0003Imports {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let backend = manager.get_database_backend();
        use ImportJobs as J;
        manager
            .create_table(
                Table::create()
                    .table(J::Table)
                    .col(id(backend, J::Id))
                    .col(int(J::OrgId))
                    .col(int_null(J::UserId))
                    .col(text(J::UserEmail))
                    .col(text(J::FileName))
                    .col(int(J::FileBytes))
                    .col(text_null(J::StoredPath))
                    .col(text(J::Encoding))
                    .col(text(J::Delimiter))
                    .col(text(J::Columns))
                    .col(text(J::Status))
                    .col(text_null(J::Message))
                    .col(int(J::TotalRows).default(0))
                    .col(int(J::ProcessedRows).default(0))
                    .col(int(J::Created).default(0))
                    .col(int(J::Updated).default(0))
                    .col(int(J::Unchanged).default(0))
                    .col(int(J::Failed).default(0))
                    .col(int(J::Warnings).default(0))
                    .col(flag(J::CancelRequested, false))
                    .col(int(J::CreatedAt))
                    .col(int_null(J::StartedAt))
                    .col(int_null(J::FinishedAt))
                    .col(int_null(J::HeartbeatAt))
                    .foreign_key(&mut refers(
                        (J::Table, J::OrgId),
                        Organisations::Table,
                        ForeignKeyAction::Cascade,
                    ))
                    .foreign_key(&mut refers(
                        (J::Table, J::UserId),
                        Users::Table,
                        ForeignKeyAction::SetNull,
                    ))
                    .take(),
            )
            .await?;
        manager
            .create_index(
                index("import_jobs_org", J::Table)
                    .col(J::OrgId)
                    .col(J::Id)
                    .take(),
            )
            .await?;
        manager
            .create_index(index("import_jobs_status", J::Table).col(J::Status).take())
            .await?;
        use ImportProblems as P;
        manager
            .create_table(
                Table::create()
                    .table(P::Table)
                    .col(id(backend, P::Id))
                    .col(int(P::JobId))
                    .col(int(P::Line))
                    .col(text(P::ColumnName))
                    .col(text(P::Message))
                    .col(ColumnDef::new(P::Warning).boolean().not_null())
                    .foreign_key(&mut refers(
                        (P::Table, P::JobId),
                        J::Table,
                        ForeignKeyAction::Cascade,
                    ))
                    .take(),
            )
            .await?;
        manager
            .create_index(
                index("import_problems_job", P::Table)
                    .col(P::JobId)
                    .col(P::Id)
                    .take(),
            )
            .await
    }
}

struct M0004Integrations;

impl MigrationName for M0004Integrations {
    fn name(&self) -> &str {
        "m0004_integrations"
    }
}

/// Connected HR and identity systems. Secret fields are sealed by the vault
/// (`secrets`); `secrets_set` says which are set and when, never what.
/// Contacts and groups from a source are keyed by (integration, external id).
/// A contact that existed before a sync took it over (same email) keeps its
/// earlier source in `adopted_source`, and gets it back if the integration goes.
/// Group names are unique per organisation among groups made in Muster, and
/// per integration among each source's groups, so a source's "Engineering"
/// and a hand-made "Engineering" are two groups.
#[async_trait::async_trait]
impl MigrationTrait for M0004Integrations {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let backend = manager.get_database_backend();
        use Integrations as I;
        manager
            .create_table(
                Table::create()
                    .table(I::Table)
                    .col(id(backend, I::Id))
                    .col(int(I::OrgId))
                    .col(text(I::Provider))
                    .col(text(I::Settings))
                    .col(text(I::Secrets))
                    .col(text(I::SecretsSet))
                    .col(text(I::Status))
                    .col(text_null(I::LastError))
                    .col(text_null(I::LastResult))
                    .col(int_null(I::LastSyncAt))
                    .col(int_null(I::HeartbeatAt))
                    .col(int(I::CreatedAt))
                    .col(int(I::UpdatedAt))
                    .foreign_key(&mut refers(
                        (I::Table, I::OrgId),
                        Organisations::Table,
                        ForeignKeyAction::Cascade,
                    ))
                    .take(),
            )
            .await?;
        manager
            .create_index(
                index("integrations_org", I::Table)
                    .col(I::OrgId)
                    .col(I::Id)
                    .take(),
            )
            .await?;
        // SQLite adds a column with a reference only by its definition's own
        // REFERENCES clause, which the schema builder leaves to `extra`.
        let add =
            |table: DynIden, col: ColumnDef| Table::alter().table(table).add_column(col).take();
        for stmt in [
            add(
                Contacts::Table.into_iden(),
                int_null(Contacts::IntegrationId)
                    .extra("REFERENCES integrations(id)")
                    .take(),
            ),
            add(
                Contacts::Table.into_iden(),
                text_null(Contacts::AdoptedSource),
            ),
        ] {
            manager.alter_table(stmt).await?;
        }
        manager
            .create_index(
                index("contacts_integration_external", Contacts::Table)
                    .col(Contacts::IntegrationId)
                    .col(Contacts::ExternalId)
                    .unique()
                    .and_where(Expr::col(Contacts::IntegrationId).is_not_null())
                    .take(),
            )
            .await?;
        for stmt in [
            add(
                ContactGroups::Table.into_iden(),
                int_null(ContactGroups::IntegrationId)
                    .extra("REFERENCES integrations(id) ON DELETE CASCADE")
                    .take(),
            ),
            add(
                ContactGroups::Table.into_iden(),
                text_null(ContactGroups::ExternalId),
            ),
        ] {
            manager.alter_table(stmt).await?;
        }
        manager
            .create_index(
                index("contact_groups_org_own_name", ContactGroups::Table)
                    .col(ContactGroups::OrgId)
                    .col(ContactGroups::NameLower)
                    .unique()
                    .and_where(Expr::col(ContactGroups::IntegrationId).is_null())
                    .take(),
            )
            .await?;
        manager
            .drop_index(Index::drop().name("contact_groups_org_name").to_owned())
            .await?;
        manager
            .create_index(
                index("contact_groups_integration_external", ContactGroups::Table)
                    .col(ContactGroups::IntegrationId)
                    .col(ContactGroups::ExternalId)
                    .unique()
                    .and_where(Expr::col(ContactGroups::IntegrationId).is_not_null())
                    .take(),
            )
            .await
    }
}

struct M0005SessionActivity;

impl MigrationName for M0005SessionActivity {
    fn name(&self) -> &str {
        "m0005_session_activity"
    }
}

/// When each session was last used, for the idle timeout. Sessions of
/// earlier releases count as used when this runs.
#[async_trait::async_trait]
impl MigrationTrait for M0005SessionActivity {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Sessions::Table)
                    .add_column(int(Sessions::LastSeenAt).default(0))
                    .take(),
            )
            .await?;
        let now = chrono::Utc::now().timestamp_millis();
        manager
            .exec_stmt(
                Query::update()
                    .table(Sessions::Table)
                    .value(Sessions::LastSeenAt, now)
                    .take(),
            )
            .await?;
        manager
            .create_index(
                index("sessions_expiry", Sessions::Table)
                    .col(Sessions::ExpiresAt)
                    .take(),
            )
            .await
    }
}

struct M0006SyncHistory;

impl MigrationName for M0006SyncHistory {
    fn name(&self) -> &str {
        "m0006_sync_history"
    }
}

/// Every sync is kept with its counts (`sync_runs`), and for a while with
/// what it did to each contact (`sync_changes`: added, updated with each
/// field before and after, deleted, skipped with why, held). An integration
/// holds a sync for review when it would delete more than `hold_percent` of
/// its contacts or more than `hold_count` (either unset: no such bound), and
/// points at that sync until it is applied, discarded or released.
#[async_trait::async_trait]
impl MigrationTrait for M0006SyncHistory {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let backend = manager.get_database_backend();
        use SyncRuns as R;
        manager
            .create_table(
                Table::create()
                    .table(R::Table)
                    .col(id(backend, R::Id))
                    .col(int(R::OrgId))
                    .col(int(R::IntegrationId))
                    .col(text(R::Trigger))
                    .col(int(R::Attempt).default(0))
                    .col(text(R::Status))
                    .col(text_null(R::Resolution))
                    .col(int(R::StartedAt))
                    .col(int_null(R::FinishedAt))
                    .col(int(R::People).default(0))
                    .col(int(R::Added).default(0))
                    .col(int(R::Updated).default(0))
                    .col(int(R::Unchanged).default(0))
                    .col(int(R::Deleted).default(0))
                    .col(int(R::Skipped).default(0))
                    .col(int(R::Held).default(0))
                    .col(text_null(R::Error))
                    .foreign_key(&mut refers(
                        (R::Table, R::OrgId),
                        Organisations::Table,
                        ForeignKeyAction::Cascade,
                    ))
                    .foreign_key(&mut refers(
                        (R::Table, R::IntegrationId),
                        Integrations::Table,
                        ForeignKeyAction::Cascade,
                    ))
                    .take(),
            )
            .await?;
        manager
            .create_index(
                index("sync_runs_integration", R::Table)
                    .col(R::IntegrationId)
                    .col(R::Id)
                    .take(),
            )
            .await?;
        use SyncChanges as C;
        manager
            .create_table(
                Table::create()
                    .table(C::Table)
                    .col(id(backend, C::Id))
                    .col(int(C::RunId))
                    .col(int(C::OrgId))
                    .col(text(C::Action))
                    .col(int_null(C::ContactId))
                    .col(text(C::ExternalId))
                    .col(text(C::Name))
                    .col(text_null(C::Email))
                    .col(text_null(C::Detail))
                    .foreign_key(&mut refers(
                        (C::Table, C::RunId),
                        R::Table,
                        ForeignKeyAction::Cascade,
                    ))
                    .take(),
            )
            .await?;
        manager
            .create_index(
                index("sync_changes_run", C::Table)
                    .col(C::RunId)
                    .col(C::Action)
                    .col(C::Id)
                    .take(),
            )
            .await?;
        use Integrations as I;
        for col in [
            int_null(I::HoldPercent).default(10).take(),
            int_null(I::HoldCount).default(500).take(),
            int_null(I::HeldRunId),
        ] {
            manager
                .alter_table(Table::alter().table(I::Table).add_column(col).take())
                .await?;
        }
        Ok(())
    }
}

struct M0007SyncSchedule;

impl MigrationName for M0007SyncSchedule {
    fn name(&self) -> &str {
        "m0007_sync_schedule"
    }
}

/// Every integration syncs by itself daily at `sync_minute` (minutes after
/// midnight in its organisation's time zone), and sooner after a failure
/// that may pass: `next_sync_at` is when any server may claim its next sync
/// (NULL: to be worked out from `sync_minute`), and `retries` how many
/// retries of the current failure have been scheduled. Integrations that
/// exist already get times spread through the night, as new ones do.
/// A running sync's progress (`phase`, `pages`, `applied` of `total`; people
/// read go in `people`) is on its run, for pages served by other servers,
/// which ask for a cancel with `cancel_requested`.
#[async_trait::async_trait]
impl MigrationTrait for M0007SyncSchedule {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        use Integrations as I;
        for col in [
            int(I::SyncMinute).default(120).take(),
            int_null(I::NextSyncAt),
            int(I::Retries).default(0).take(),
        ] {
            manager
                .alter_table(Table::alter().table(I::Table).add_column(col).take())
                .await?;
        }
        manager
            .exec_stmt(
                Query::update()
                    .table(I::Table)
                    .value(I::SyncMinute, Expr::col(I::Id).mul(127).modulo(360))
                    .to_owned(),
            )
            .await?;
        use SyncRuns as R;
        for col in [
            text_null(R::Phase),
            int(R::Pages).default(0).take(),
            int(R::Applied).default(0).take(),
            int(R::Total).default(0).take(),
            flag(R::CancelRequested, false),
        ] {
            manager
                .alter_table(Table::alter().table(R::Table).add_column(col).take())
                .await?;
        }
        manager
            .create_index(
                index("integrations_next_sync", I::Table)
                    .col(I::NextSyncAt)
                    .take(),
            )
            .await
    }
}

struct M0008ScimProvisioning;

impl MigrationName for M0008ScimProvisioning {
    fn name(&self) -> &str {
        "m0008_scim_provisioning"
    }
}

/// Identity providers that push users and groups into Muster over SCIM 2.0.
/// Each is a named source (`scim_sources`, unique per organisation ignoring
/// case) that manages only the contacts it created (`scope` "own") or all of
/// the organisation's (`scope` "all"), and keeps the contacts it deletes as
/// deactivated when `keep_deleted` is set. Its bearer tokens (`scim_tokens`)
/// are stored as SHA-256 hashes with the last characters as a hint; each has
/// a name, an optional expiry, and is revoked on its own.
/// A user it pushes is a contact (`contacts.scim_source_id`) and its SCIM
/// resource as the client wrote it (`scim_users`, JSON, with the userName
/// unique per organisation ignoring case); a group is a group of that source
/// (`contact_groups.scim_source_id`, so its name may repeat a group made in
/// Muster's) and its resource without members (`scim_groups`). `version`
/// counts writes, for ETags.
#[async_trait::async_trait]
impl MigrationTrait for M0008ScimProvisioning {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let backend = manager.get_database_backend();
        use ScimSources as S;
        manager
            .create_table(
                Table::create()
                    .table(S::Table)
                    .col(id(backend, S::Id))
                    .col(int(S::OrgId))
                    .col(text(S::Name))
                    .col(text(S::NameLower))
                    .col(text(S::Scope).default("own"))
                    .col(flag(S::KeepDeleted, false))
                    .col(int(S::CreatedAt))
                    .col(int(S::UpdatedAt))
                    .foreign_key(&mut refers(
                        (S::Table, S::OrgId),
                        Organisations::Table,
                        ForeignKeyAction::Cascade,
                    ))
                    .take(),
            )
            .await?;
        manager
            .create_index(
                index("scim_sources_org_name", S::Table)
                    .col(S::OrgId)
                    .col(S::NameLower)
                    .unique()
                    .take(),
            )
            .await?;
        use ScimTokens as T;
        manager
            .create_table(
                Table::create()
                    .table(T::Table)
                    .col(id(backend, T::Id))
                    .col(int(T::OrgId))
                    .col(int(T::SourceId))
                    .col(text(T::Name))
                    .col(text(T::TokenHash))
                    .col(text(T::Hint))
                    .col(int(T::CreatedAt))
                    .col(int_null(T::LastUsedAt))
                    .col(int_null(T::ExpiresAt))
                    .col(int_null(T::RevokedAt))
                    .foreign_key(&mut refers(
                        (T::Table, T::OrgId),
                        Organisations::Table,
                        ForeignKeyAction::Cascade,
                    ))
                    .foreign_key(&mut refers(
                        (T::Table, T::SourceId),
                        S::Table,
                        ForeignKeyAction::Cascade,
                    ))
                    .take(),
            )
            .await?;
        manager
            .create_index(
                index("scim_tokens_hash", T::Table)
                    .col(T::TokenHash)
                    .unique()
                    .take(),
            )
            .await?;
        manager
            .create_index(
                index("scim_tokens_source", T::Table)
                    .col(T::SourceId)
                    .col(T::Id)
                    .take(),
            )
            .await?;
        // SQLite adds a column with a reference only by its definition's own
        // REFERENCES clause, which the schema builder leaves to `extra`.
        for (table, on_delete) in [
            (Contacts::Table.into_iden(), ""),
            (ContactGroups::Table.into_iden(), " ON DELETE CASCADE"),
        ] {
            manager
                .alter_table(
                    Table::alter()
                        .table(table)
                        .add_column(
                            int_null(Contacts::ScimSourceId)
                                .extra(format!("REFERENCES scim_sources(id){on_delete}"))
                                .take(),
                        )
                        .take(),
                )
                .await?;
        }
        manager
            .create_index(
                index("contacts_scim_source", Contacts::Table)
                    .col(Contacts::ScimSourceId)
                    .and_where(Expr::col(Contacts::ScimSourceId).is_not_null())
                    .take(),
            )
            .await?;
        manager
            .drop_index(Index::drop().name("contact_groups_org_own_name").to_owned())
            .await?;
        manager
            .create_index(
                index("contact_groups_org_own_name", ContactGroups::Table)
                    .col(ContactGroups::OrgId)
                    .col(ContactGroups::NameLower)
                    .unique()
                    .and_where(Expr::col(ContactGroups::IntegrationId).is_null())
                    .and_where(Expr::col(ContactGroups::ScimSourceId).is_null())
                    .take(),
            )
            .await?;
        use ScimUsers as U;
        manager
            .create_table(
                Table::create()
                    .table(U::Table)
                    .col(int(U::ContactId).primary_key())
                    .col(int(U::OrgId))
                    .col(int(U::SourceId))
                    .col(text(U::UserName))
                    .col(text(U::UserNameLower))
                    .col(text_null(U::ExternalId))
                    .col(text(U::Resource))
                    .col(int(U::Version).default(1))
                    .col(int(U::CreatedAt))
                    .col(int(U::UpdatedAt))
                    .foreign_key(&mut refers(
                        (U::Table, U::ContactId),
                        Contacts::Table,
                        ForeignKeyAction::Cascade,
                    ))
                    .foreign_key(&mut refers(
                        (U::Table, U::SourceId),
                        S::Table,
                        ForeignKeyAction::Cascade,
                    ))
                    .take(),
            )
            .await?;
        manager
            .create_index(
                index("scim_users_org_user_name", U::Table)
                    .col(U::OrgId)
                    .col(U::UserNameLower)
                    .unique()
                    .take(),
            )
            .await?;
        manager
            .create_index(
                index("scim_users_org_external", U::Table)
                    .col(U::OrgId)
                    .col(U::ExternalId)
                    .take(),
            )
            .await?;
        use ScimGroups as G;
        manager
            .create_table(
                Table::create()
                    .table(G::Table)
                    .col(int(G::GroupId).primary_key())
                    .col(int(G::OrgId))
                    .col(int(G::SourceId))
                    .col(text(G::DisplayNameLower))
                    .col(text_null(G::ExternalId))
                    .col(text(G::Resource))
                    .col(int(G::Version).default(1))
                    .col(int(G::CreatedAt))
                    .col(int(G::UpdatedAt))
                    .foreign_key(&mut refers(
                        (G::Table, G::GroupId),
                        ContactGroups::Table,
                        ForeignKeyAction::Cascade,
                    ))
                    .foreign_key(&mut refers(
                        (G::Table, G::SourceId),
                        S::Table,
                        ForeignKeyAction::Cascade,
                    ))
                    .take(),
            )
            .await?;
        manager
            .create_index(
                index("scim_groups_org_name", G::Table)
                    .col(G::OrgId)
                    .col(G::DisplayNameLower)
                    .take(),
            )
            .await
    }
}

struct M0009DeactivatedContacts;

impl MigrationName for M0009DeactivatedContacts {
    fn name(&self) -> &str {
        "m0009_deactivated_contacts"
    }
}

/// What SQLite's text index holds for the contact `row` (`new` or `old`): its
/// search text, and for a deactivated contact the status token that
/// `directory::text::DEACTIVATED` names (U+F003 four times).
pub(crate) fn indexed_text(row: &str) -> String {
    format!(
        "{row}.search_text || CASE WHEN {row}.active THEN '' \
         ELSE char(61443, 61443, 61443, 61443) END"
    )
}

/// Deactivated contacts are left out of the list unless asked for. SQLite's
/// text index holds a status token for them, added by its triggers (which now
/// also skip updates that change nothing they index), so that a search can
/// leave them out or find only them; both backends index the deactivated
/// contacts of an organisation in name order, for their count and their list.
#[async_trait::async_trait]
impl MigrationTrait for M0009DeactivatedContacts {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_index(
                index("contacts_deactivated", Contacts::Table)
                    .col(Contacts::OrgId)
                    .col(Contacts::SortName)
                    .col(Contacts::Id)
                    .and_where(Expr::col(Contacts::Active).eq(false))
                    .take(),
            )
            .await?;
        if manager.get_database_backend() != DbBackend::Sqlite {
            return Ok(());
        }
        let db = manager.get_connection();
        let (new, old) = (indexed_text("new"), indexed_text("old"));
        let statements = [
            "DROP TRIGGER contacts_fts_insert".to_string(),
            "DROP TRIGGER contacts_fts_delete".to_string(),
            "DROP TRIGGER contacts_fts_update".to_string(),
            // The deactivated contacts' entries get their token.
            "INSERT INTO contacts_fts (contacts_fts, rowid, search_text) \
             SELECT 'delete', search_key, search_text FROM contacts \
             WHERE search_key IS NOT NULL AND active = FALSE"
                .to_string(),
            format!(
                "INSERT INTO contacts_fts (rowid, search_text) \
                 SELECT search_key, {} FROM contacts \
                 WHERE search_key IS NOT NULL AND active = FALSE",
                indexed_text("contacts")
            ),
            format!(
                "CREATE TRIGGER contacts_fts_insert AFTER INSERT ON contacts \
                 WHEN new.search_key IS NOT NULL BEGIN \
                 INSERT INTO contacts_fts (rowid, search_text) VALUES (new.search_key, {new}); END"
            ),
            format!(
                "CREATE TRIGGER contacts_fts_delete AFTER DELETE ON contacts \
                 WHEN old.search_key IS NOT NULL BEGIN \
                 INSERT INTO contacts_fts (contacts_fts, rowid, search_text) \
                     VALUES ('delete', old.search_key, {old}); END"
            ),
            format!(
                "CREATE TRIGGER contacts_fts_update AFTER UPDATE OF search_key, search_text, active \
                 ON contacts WHEN old.search_key IS NOT new.search_key \
                 OR old.search_text IS NOT new.search_text OR old.active IS NOT new.active BEGIN \
                 INSERT INTO contacts_fts (contacts_fts, rowid, search_text) \
                     SELECT 'delete', old.search_key, {old} WHERE old.search_key IS NOT NULL; \
                 INSERT INTO contacts_fts (rowid, search_text) \
                     SELECT new.search_key, {new} WHERE new.search_key IS NOT NULL; END"
            ),
        ];
        for stmt in statements {
            db.execute_unprepared(&stmt).await?;
        }
        Ok(())
    }
}

struct M0010Scenarios;

impl MigrationName for M0010Scenarios {
    fn name(&self) -> &str {
        "m0010_scenarios"
    }
}

/// Scenarios, incidents prepared in advance: a name unique per organisation
/// ignoring case, the message, its channels (`email`, `sms`), its answer
/// options and its recipients (both JSON: `model::Recipients`, evaluated at
/// launch), and who saved it. And the audit trail: who did what to which
/// scenario or incident, and when.
#[async_trait::async_trait]
impl MigrationTrait for M0010Scenarios {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let backend = manager.get_database_backend();
        use Scenarios as S;
        manager
            .create_table(
                Table::create()
                    .table(S::Table)
                    .col(id(backend, S::Id))
                    .col(int(S::OrgId))
                    .col(text(S::Name))
                    .col(text(S::NameLower))
                    .col(text(S::Description))
                    .col(text(S::Severity))
                    .col(text(S::Subject))
                    .col(text(S::Body))
                    .col(flag(S::Email, true))
                    .col(flag(S::Sms, false))
                    .col(text(S::Options))
                    .col(text(S::Recipients))
                    .col(int(S::Version))
                    .col(int(S::CreatedAt))
                    .col(int(S::UpdatedAt))
                    .col(text(S::CreatedBy))
                    .col(text(S::UpdatedBy))
                    .foreign_key(&mut refers(
                        (S::Table, S::OrgId),
                        Organisations::Table,
                        ForeignKeyAction::Cascade,
                    ))
                    .take(),
            )
            .await?;
        manager
            .create_index(
                index("scenarios_org_name", S::Table)
                    .col(S::OrgId)
                    .col(S::NameLower)
                    .unique()
                    .take(),
            )
            .await?;
        use AuditEvents as A;
        manager
            .create_table(
                Table::create()
                    .table(A::Table)
                    .col(id(backend, A::Id))
                    .col(int(A::OrgId))
                    .col(int(A::At))
                    .col(text(A::Actor))
                    .col(text(A::Action))
                    .col(text(A::SubjectKind))
                    .col(int_null(A::SubjectId))
                    .col(text(A::Summary))
                    .foreign_key(&mut refers(
                        (A::Table, A::OrgId),
                        Organisations::Table,
                        ForeignKeyAction::Cascade,
                    ))
                    .take(),
            )
            .await?;
        manager
            .create_index(
                index("audit_events_subject", A::Table)
                    .col(A::OrgId)
                    .col(A::SubjectKind)
                    .col(A::SubjectId)
                    .col(A::Id)
                    .take(),
            )
            .await?;
        Ok(())
    }
}

struct M0011Incidents;

impl MigrationName for M0011Incidents {
    fn name(&self) -> &str {
        "m0011_incidents"
    }
}

/// Incidents: the message as launched (kept even if its scenario is
/// deleted), its status, and a random nonce that each recipient's response
/// link is signed with. Its recipients are frozen at launch (a copy of each
/// contact's name and addresses, why they were targeted, their answer); each
/// message sent (the launch's, follow-ups) is a row of `incident_messages`;
/// `deliveries` is the outbox: one row per message, recipient and channel,
/// claimed by a server's sender with a lease, so that a restart sends what
/// was not sent, once.
#[async_trait::async_trait]
impl MigrationTrait for M0011Incidents {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let backend = manager.get_database_backend();
        use Incidents as I;
        manager
            .create_table(
                Table::create()
                    .table(I::Table)
                    .col(id(backend, I::Id))
                    .col(int(I::OrgId))
                    .col(int_null(I::ScenarioId))
                    .col(text(I::Name))
                    .col(text(I::Severity))
                    .col(text(I::Subject))
                    .col(text(I::Body))
                    .col(flag(I::Email, true))
                    .col(flag(I::Sms, false))
                    .col(text(I::Options))
                    .col(text(I::Recipients))
                    .col(text(I::Status))
                    .col(text(I::Nonce))
                    .col(int(I::LaunchedAt))
                    .col(text(I::LaunchedBy))
                    .col(int_null(I::ResolvedAt))
                    .col(text_null(I::ResolvedBy))
                    .col(int(I::RecipientCount))
                    .foreign_key(&mut refers(
                        (I::Table, I::OrgId),
                        Organisations::Table,
                        ForeignKeyAction::Cascade,
                    ))
                    .take(),
            )
            .await?;
        manager
            .create_index(
                index("incidents_org", I::Table)
                    .col(I::OrgId)
                    .col(I::Id)
                    .take(),
            )
            .await?;
        use IncidentRecipients as R;
        manager
            .create_table(
                Table::create()
                    .table(R::Table)
                    .col(id(backend, R::Id))
                    .col(int(R::IncidentId))
                    .col(int(R::OrgId))
                    .col(int_null(R::ContactId))
                    .col(text(R::FirstName))
                    .col(text(R::LastName))
                    .col(text_null(R::Email))
                    .col(text_null(R::Phone))
                    .col(text(R::Reason))
                    .col(int_null(R::Response))
                    .col(int_null(R::RespondedAt))
                    .col(text_null(R::ResponseVia))
                    .foreign_key(&mut refers(
                        (R::Table, R::IncidentId),
                        I::Table,
                        ForeignKeyAction::Cascade,
                    ))
                    .take(),
            )
            .await?;
        manager
            .create_index(
                index("incident_recipients_incident", R::Table)
                    .col(R::IncidentId)
                    .col(R::Response)
                    .take(),
            )
            .await?;
        use IncidentMessages as M;
        manager
            .create_table(
                Table::create()
                    .table(M::Table)
                    .col(id(backend, M::Id))
                    .col(int(M::IncidentId))
                    .col(int(M::OrgId))
                    .col(text(M::Kind))
                    .col(text(M::Subject))
                    .col(text(M::Body))
                    .col(int(M::SentAt))
                    .col(text(M::SentBy))
                    .foreign_key(&mut refers(
                        (M::Table, M::IncidentId),
                        I::Table,
                        ForeignKeyAction::Cascade,
                    ))
                    .take(),
            )
            .await?;
        manager
            .create_index(
                index("incident_messages_incident", M::Table)
                    .col(M::IncidentId)
                    .col(M::Id)
                    .take(),
            )
            .await?;
        use Deliveries as D;
        manager
            .create_table(
                Table::create()
                    .table(D::Table)
                    .col(id(backend, D::Id))
                    .col(int(D::OrgId))
                    .col(int(D::IncidentId))
                    .col(int(D::RecipientId))
                    .col(int(D::MessageId))
                    .col(text(D::Channel))
                    .col(text(D::Status))
                    .col(int(D::Attempts))
                    .col(int(D::NextAt))
                    .col(int_null(D::LeaseUntil))
                    .col(text_null(D::ProviderRef))
                    .col(text_null(D::Error))
                    .col(int(D::UpdatedAt))
                    .foreign_key(&mut refers(
                        (D::Table, D::IncidentId),
                        I::Table,
                        ForeignKeyAction::Cascade,
                    ))
                    .take(),
            )
            .await?;
        // The sender's claim: what is due, oldest first.
        manager
            .create_index(
                index("deliveries_due", D::Table)
                    .col(D::Status)
                    .col(D::NextAt)
                    .col(D::Id)
                    .take(),
            )
            .await?;
        manager
            .create_index(
                index("deliveries_recipient", D::Table)
                    .col(D::RecipientId)
                    .col(D::Channel)
                    .take(),
            )
            .await?;
        manager
            .create_index(
                index("deliveries_incident", D::Table)
                    .col(D::IncidentId)
                    .col(D::Channel)
                    .col(D::Status)
                    .take(),
            )
            .await?;
        Ok(())
    }
}

struct M0012Sms;

impl MigrationName for M0012Sms {
    fn name(&self) -> &str {
        "m0012_sms"
    }
}

/// Each organisation's SMS provider: its account, sender and base URL shown
/// as typed, and sealed together with the auth token (what decides where the
/// token goes is sealed with it, and that sealed copy is the one used); the
/// random key that names its webhooks. And the inbound replies' lookup: the
/// latest incident that texted a number.
#[async_trait::async_trait]
impl MigrationTrait for M0012Sms {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let backend = manager.get_database_backend();
        use SmsSettings as S;
        manager
            .create_table(
                Table::create()
                    .table(S::Table)
                    .col(id(backend, S::Id))
                    .col(int(S::OrgId))
                    .col(text(S::Provider))
                    .col(text(S::AccountSid))
                    .col(text(S::Sender))
                    .col(text(S::BaseUrl))
                    .col(text(S::Secrets))
                    .col(text(S::TokenHint))
                    .col(int(S::PerSecond))
                    .col(text(S::WebhookKey))
                    .col(int(S::UpdatedAt))
                    .col(text(S::UpdatedBy))
                    .foreign_key(&mut refers(
                        (S::Table, S::OrgId),
                        Organisations::Table,
                        ForeignKeyAction::Cascade,
                    ))
                    .take(),
            )
            .await?;
        manager
            .create_index(
                index("sms_settings_org", S::Table)
                    .col(S::OrgId)
                    .unique()
                    .take(),
            )
            .await?;
        manager
            .create_index(
                index("sms_settings_webhook", S::Table)
                    .col(S::WebhookKey)
                    .unique()
                    .take(),
            )
            .await?;
        use IncidentRecipients as R;
        manager
            .create_index(
                index("incident_recipients_phone", R::Table)
                    .col(R::OrgId)
                    .col(R::Phone)
                    .col(R::IncidentId)
                    .take(),
            )
            .await?;
        Ok(())
    }
}

struct M0013ImportCheckpoints;

impl MigrationName for M0013ImportCheckpoints {
    fn name(&self) -> &str {
        "m0013_import_checkpoints"
    }
}

/// An import goes on from its last committed batch after its server stopped
/// (`resumes` counts the crashes among those stops, so that an import that
/// crashes its server every time is not tried for ever); and a failed row's problems keep the
/// row's own cells, for the error report.
#[async_trait::async_trait]
impl MigrationTrait for M0013ImportCheckpoints {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(ImportJobs::Table)
                    .add_column(int(ImportJobs::Resumes).default(0))
                    .take(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(ImportProblems::Table)
                    .add_column(text_null(ImportProblems::RowValues))
                    .take(),
            )
            .await?;
        Ok(())
    }
}

struct M0014PostgresActiveFilters;

impl MigrationName for M0014PostgresActiveFilters {
    fn name(&self) -> &str {
        "m0014_postgres_active_filters"
    }
}

/// PostgreSQL: the list leaves deactivated contacts out, and its filters'
/// indexes did not know who is active, so a count by department read every
/// matching row of the table (190 ms for Sales at a million contacts). Each
/// filter gets an index of the active contacts alone, which counts without
/// the table (10 ms) and pages in name order. (SQLite answers filters from
/// its text index.)
#[async_trait::async_trait]
impl MigrationTrait for M0014PostgresActiveFilters {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if manager.get_database_backend() != DbBackend::Postgres {
            return Ok(());
        }
        for (name, column) in [
            ("contacts_active_department", Contacts::Department),
            ("contacts_active_role", Contacts::Role),
            ("contacts_active_location", Contacts::Location),
        ] {
            manager
                .create_index(
                    index(name, Contacts::Table)
                        .col(Contacts::OrgId)
                        .col(column)
                        .col(Contacts::SortName)
                        .col(Contacts::Id)
                        .and_where(Expr::col(Contacts::Active).eq(true))
                        .take(),
                )
                .await?;
        }
        Ok(())
    }
}

struct M0015SharedByServers;

impl MigrationName for M0015SharedByServers {
    fn name(&self) -> &str {
        "m0015_shared_by_servers"
    }
}

/// What several servers on one database must share: uploads kept in the
/// database (on PostgreSQL, so that an upload previewed on one server is
/// imported by another), and the sign-in throttle's failure counts.
#[async_trait::async_trait]
impl MigrationTrait for M0015SharedByServers {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        use UploadChunks as U;
        manager
            .create_table(
                Table::create()
                    .table(U::Table)
                    .col(text(U::Upload))
                    .col(int(U::Seq))
                    .col(int(U::OrgId))
                    .col(ColumnDef::new(U::Bytes).binary().not_null())
                    .col(int(U::CreatedAt))
                    .primary_key(Index::create().col(U::Upload).col(U::Seq))
                    .foreign_key(&mut refers(
                        (U::Table, U::OrgId),
                        Organisations::Table,
                        ForeignKeyAction::Cascade,
                    ))
                    .take(),
            )
            .await?;
        use SignInFailures as F;
        manager
            .create_table(
                Table::create()
                    .table(F::Table)
                    .col(ColumnDef::new(F::Key).text().not_null().primary_key())
                    .col(int(F::Failures))
                    .col(int(F::FirstAt))
                    .take(),
            )
            .await?;
        manager
            .create_index(
                index("sign_in_failures_first_at", F::Table)
                    .col(F::FirstAt)
                    .take(),
            )
            .await?;
        Ok(())
    }
}

struct M0016SearchCatchesUp;

impl MigrationName for M0016SearchCatchesUp {
    fn name(&self) -> &str {
        "m0016_search_catches_up"
    }
}

/// A large upload's summary comes when its rows are committed; SQLite's search
/// index catches up after, and the upload's page shows how far: the contacts
/// it had to index (`index_total`) and how many it has.
#[async_trait::async_trait]
impl MigrationTrait for M0016SearchCatchesUp {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // SQLite adds one column per statement.
        for column in [ImportJobs::IndexTotal, ImportJobs::Indexed] {
            manager
                .alter_table(
                    Table::alter()
                        .table(ImportJobs::Table)
                        .add_column(int(column).default(0))
                        .take(),
                )
                .await?;
        }
        Ok(())
    }
}

struct M0017NarrowFilterIndexes;

impl MigrationName for M0017NarrowFilterIndexes {
    fn name(&self) -> &str {
        "m0017_narrow_filter_indexes"
    }
}

/// SQLite: the filters' own indexes hold the column alone, not the name order
/// after it. SQLite answers filters from its text index; these indexes list a
/// filter's values (the filter menus) and answer filters while an upload's
/// contacts wait for the text index, where the name-order index pages and the
/// filter's index counts. Every new contact adds an entry to each of them in
/// random order, and at a million contacts the wide ones were a third of an
/// upload's time (measured with `muster bench-import`, server/README).
/// PostgreSQL keeps its own (m0014's indexes of active contacts page by filter).
#[async_trait::async_trait]
impl MigrationTrait for M0017NarrowFilterIndexes {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if manager.get_database_backend() != DbBackend::Sqlite {
            return Ok(());
        }
        narrow_filter_indexes(manager).await
    }
}

/// The filters' three indexes over every contact, narrowed to the
/// organisation and the column.
async fn narrow_filter_indexes(manager: &SchemaManager<'_>) -> Result<(), DbErr> {
    for (name, column) in [
        ("contacts_org_department", Contacts::Department),
        ("contacts_org_role", Contacts::Role),
        ("contacts_org_location", Contacts::Location),
    ] {
        manager
            .drop_index(Index::drop().name(name).table(Contacts::Table).to_owned())
            .await?;
        manager
            .create_index(
                index(name, Contacts::Table)
                    .col(Contacts::OrgId)
                    .col(column)
                    .take(),
            )
            .await?;
    }
    Ok(())
}

struct M0018PostgresWordStarts;

impl MigrationName for M0018PostgresWordStarts {
    fn name(&self) -> &str {
        "m0018_postgres_word_starts"
    }
}

/// PostgreSQL: one- and two-character searches (the first keys typed) match
/// the start of a word, and at a million contacts one letter matches a fifth
/// of them. Counting those through the trigram index reads every matching row
/// of the table (180 to 390 ms for "m"), because a GIN index has no index-only
/// scans. Each contact's distinct one- and two-character word starts get a row
/// here, beside what the list filters and sorts on, so that such a count is an
/// index-only scan and a page is the next entries in name order.
/// Statement-level triggers keep it, like the counts of m0002: any write to
/// `contacts`, from any path, keeps it exact in the same transaction.
/// (SQLite's text index already serves these from its own entries.)
const WORD_STARTS_POSTGRES: &[&str] = &[
    // The distinct starts of the words of a search text: its words follow
    // two word marks (U+001F, see `directory::text`); filter tokens (private
    // use characters) end the last word and are no part of a start. Not
    // STRICT, so that the planner inlines it (a third of the cost).
    r#"CREATE FUNCTION contact_word_starts(doc text) RETURNS SETOF text
         LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
         SELECT DISTINCT left(w, k) FROM unnest(string_to_array(doc, E'\x1f\x1f')) AS w,
             (VALUES (1), (2)) AS k (k)
         WHERE length(w) >= k AND (k = 1 OR ascii(substr(w, 2, 1)) NOT BETWEEN 57344 AND 63743) $$"#,
    "CREATE TABLE contact_word_starts (
         org_id bigint NOT NULL,
         word_start text NOT NULL,
         sort_name text NOT NULL,
         contact_id bigint NOT NULL,
         active boolean NOT NULL,
         department text,
         role text,
         location text)",
    "INSERT INTO contact_word_starts
         SELECT c.org_id, s, c.sort_name, c.id, c.active, c.department, c.role, c.location
         FROM contacts c, contact_word_starts(c.search_text) AS s",
    // Pages: name order within a start, with what filters read.
    "CREATE INDEX contact_word_starts_order ON contact_word_starts
         (org_id, word_start, sort_name, contact_id) INCLUDE (active, department, role, location)",
    // Counts: entries with equal keys share one index tuple (B-tree
    // deduplication: 54 MB at a million contacts, the index above 605 MB),
    // so that a count stays in the cache (11 to 33 ms for "j", 2 ms for "m"
    // with a role, against 40 to 95 ms for "m" with a department through the
    // index above); a department is a range within it, a role or location
    // checked once per tuple.
    "CREATE INDEX contact_word_starts_count ON contact_word_starts
         (org_id, word_start, active, department, role, location)",
    "CREATE FUNCTION contacts_word_starts_insert() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN
         INSERT INTO contact_word_starts
             SELECT n.org_id, s, n.sort_name, n.id, n.active, n.department, n.role, n.location
             FROM changed n, contact_word_starts(n.search_text) AS s;
         RETURN NULL; END $$",
    // Each entry is found by its whole key.
    "CREATE FUNCTION contacts_word_starts_delete() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN
         DELETE FROM contact_word_starts w
             USING (SELECT o.org_id, s, o.sort_name, o.id
                    FROM changed o, contact_word_starts(o.search_text) AS s) AS d (org_id, s, sort_name, id)
             WHERE w.org_id = d.org_id AND w.word_start = d.s
                 AND w.sort_name = d.sort_name AND w.contact_id = d.id;
         RETURN NULL; END $$",
    // Only the contacts whose entries differ are rewritten, in one statement.
    "CREATE FUNCTION contacts_word_starts_update() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN
         WITH moved AS MATERIALIZED (
             SELECT o.search_text AS old_text, o.sort_name AS old_sort, n.*
             FROM old_rows o JOIN new_rows n ON n.id = o.id
             WHERE (o.search_text, o.sort_name, o.active, o.department, o.role, o.location)
                 IS DISTINCT FROM
                 (n.search_text, n.sort_name, n.active, n.department, n.role, n.location)
         ), gone AS (
             DELETE FROM contact_word_starts w
                 USING (SELECT m.org_id, s, m.old_sort, m.id
                        FROM moved m, contact_word_starts(m.old_text) AS s) AS d (org_id, s, sort_name, id)
                 WHERE w.org_id = d.org_id AND w.word_start = d.s
                     AND w.sort_name = d.sort_name AND w.contact_id = d.id)
         INSERT INTO contact_word_starts
             SELECT m.org_id, s, m.sort_name, m.id, m.active, m.department, m.role, m.location
             FROM moved m, contact_word_starts(m.search_text) AS s;
         RETURN NULL; END $$",
    "CREATE TRIGGER contacts_word_starts_insert AFTER INSERT ON contacts
         REFERENCING NEW TABLE AS changed
         FOR EACH STATEMENT EXECUTE FUNCTION contacts_word_starts_insert()",
    "CREATE TRIGGER contacts_word_starts_delete AFTER DELETE ON contacts
         REFERENCING OLD TABLE AS changed
         FOR EACH STATEMENT EXECUTE FUNCTION contacts_word_starts_delete()",
    "CREATE TRIGGER contacts_word_starts_update AFTER UPDATE ON contacts
         REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
         FOR EACH STATEMENT EXECUTE FUNCTION contacts_word_starts_update()",
];

#[async_trait::async_trait]
impl MigrationTrait for M0018PostgresWordStarts {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if manager.get_database_backend() != DbBackend::Postgres {
            return Ok(());
        }
        run(manager.get_connection(), WORD_STARTS_POSTGRES).await
    }
}

struct M0019PostgresFilterCounts;

impl MigrationName for M0019PostgresFilterCounts {
    fn name(&self) -> &str {
        "m0019_postgres_filter_counts"
    }
}

/// PostgreSQL: a count of contacts by two filters (location and role) read
/// the matches of one of them in the table and checked the other (265 ms at a
/// million contacts). One index of every filter's value, whose equal keys
/// share an index tuple (B-tree deduplication: 7.5 MB at a million), counts
/// any combination of filters without the table (3 to 6 ms). m0014's indexes
/// still page in name order.
#[async_trait::async_trait]
impl MigrationTrait for M0019PostgresFilterCounts {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if manager.get_database_backend() != DbBackend::Postgres {
            return Ok(());
        }
        manager
            .create_index(
                index("contacts_filter_count", Contacts::Table)
                    .col(Contacts::OrgId)
                    .col(Contacts::Active)
                    .col(Contacts::Department)
                    .col(Contacts::Role)
                    .col(Contacts::Location)
                    .take(),
            )
            .await
    }
}

struct M0020PostgresWordStartsLater;

impl MigrationName for M0020PostgresWordStartsLater {
    fn name(&self) -> &str {
        "m0020_postgres_word_starts_later"
    }
}

/// PostgreSQL: an upload's contacts get their word starts after its rows, as
/// SQLite's text index gets them (`import::job::index`). Writing them with the
/// rows cost 97 s of the 229 s that PostgreSQL itself needs to insert a
/// million contacts with this schema's indexes. A transaction that sets
/// `muster.word_starts_later` (`directory::bulk::insert_many` without keys)
/// lists the contacts it inserts in `word_start_backlog` instead, and
/// `directory::place_some` gives them their word starts a chunk at a time.
const WORD_STARTS_LATER_POSTGRES: &[&str] = &[
    "CREATE TABLE word_start_backlog (
         org_id bigint NOT NULL REFERENCES organisations (id) ON DELETE CASCADE,
         contact_id bigint NOT NULL,
         PRIMARY KEY (org_id, contact_id))",
    // As m0018's, but for the backlog. A contact deleted before it is placed
    // leaves its entry, which placing drops.
    "CREATE OR REPLACE FUNCTION contacts_word_starts_insert() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN
         IF current_setting('muster.word_starts_later', true) = 'on' THEN
             INSERT INTO word_start_backlog SELECT n.org_id, n.id FROM changed n;
         ELSE
             INSERT INTO contact_word_starts
                 SELECT n.org_id, s, n.sort_name, n.id, n.active, n.department, n.role, n.location
                 FROM changed n, contact_word_starts(n.search_text) AS s;
         END IF;
         RETURN NULL; END $$",
    // As m0018's, but a contact still in the backlog has no entries to
    // rewrite: placing it writes those of its text then (it locks the
    // contacts first, so a write either waits for it or is read by it).
    "CREATE OR REPLACE FUNCTION contacts_word_starts_update() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN
         WITH moved AS MATERIALIZED (
             SELECT o.search_text AS old_text, o.sort_name AS old_sort, n.*
             FROM old_rows o JOIN new_rows n ON n.id = o.id
             WHERE (o.search_text, o.sort_name, o.active, o.department, o.role, o.location)
                 IS DISTINCT FROM
                 (n.search_text, n.sort_name, n.active, n.department, n.role, n.location)
         ), gone AS (
             DELETE FROM contact_word_starts w
                 USING (SELECT m.org_id, s, m.old_sort, m.id
                        FROM moved m, contact_word_starts(m.old_text) AS s) AS d (org_id, s, sort_name, id)
                 WHERE w.org_id = d.org_id AND w.word_start = d.s
                     AND w.sort_name = d.sort_name AND w.contact_id = d.id)
         INSERT INTO contact_word_starts
             SELECT m.org_id, s, m.sort_name, m.id, m.active, m.department, m.role, m.location
             FROM moved m, contact_word_starts(m.search_text) AS s
             WHERE NOT EXISTS (SELECT 1 FROM word_start_backlog b
                               WHERE b.org_id = m.org_id AND b.contact_id = m.id);
         RETURN NULL; END $$",
];

#[async_trait::async_trait]
impl MigrationTrait for M0020PostgresWordStartsLater {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if manager.get_database_backend() != DbBackend::Postgres {
            return Ok(());
        }
        run(manager.get_connection(), WORD_STARTS_LATER_POSTGRES).await
    }
}

struct M0021PostgresNarrowFilterIndexes;

impl MigrationName for M0021PostgresNarrowFilterIndexes {
    fn name(&self) -> &str {
        "m0021_postgres_narrow_filter_indexes"
    }
}

/// PostgreSQL, as m0017 on SQLite: the filters' indexes over every contact
/// hold the organisation and the column alone. They list a filter's values
/// (the filter menus' loose index scans), where equal keys share an index
/// tuple; m0014's indexes of the active contacts page a filter in name
/// order, and m0019's counts. The wide ones took every new contact's entry
/// at a random place: of the 112.5 s that PostgreSQL itself needs to insert
/// a million contacts with this schema (without word starts), the six wide
/// filter indexes took 62 s (server/README, "Uploads at scale").
#[async_trait::async_trait]
impl MigrationTrait for M0021PostgresNarrowFilterIndexes {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if manager.get_database_backend() != DbBackend::Postgres {
            return Ok(());
        }
        narrow_filter_indexes(manager).await
    }
}

struct M0022ParkedSearchText;

impl MigrationName for M0022ParkedSearchText {
    fn name(&self) -> &str {
        "m0022_parked_search_text"
    }
}

/// SQLite: an upload's changed contacts keep their entry in the text index
/// until its catch-up rewrites it (`directory::keys`), as its new contacts
/// get theirs after its rows. An entry of a contact is its search key and
/// `search_old` if set, else its indexed text: an upload that changes a
/// contact's text sets `search_old` to the text indexed (parks it), which
/// leaves the entry as it is; clearing `search_old` rewrites the entry, and
/// placing a contact clears it. The rewrite was about half the cost of an
/// upload's updates (6,000 in 490–520 ms with it, 220–265 ms without:
/// server/README, "An upload's changed contacts parked"). The column exists on
/// both backends (one entity), and is only written on SQLite.
#[async_trait::async_trait]
impl MigrationTrait for M0022ParkedSearchText {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Contacts::Table)
                    .add_column(text_null(Contacts::SearchOld))
                    .take(),
            )
            .await?;
        if manager.get_database_backend() != DbBackend::Sqlite {
            return Ok(());
        }
        // The parked contacts an organisation's catch-up takes.
        manager
            .create_index(
                index("contacts_parked", Contacts::Table)
                    .col(Contacts::OrgId)
                    .col(Contacts::Id)
                    .and_where(Expr::col(Contacts::SearchOld).is_not_null())
                    .take(),
            )
            .await?;
        let entry = |row: &str| format!("COALESCE({row}.search_old, {})", indexed_text(row));
        let (new, old) = (entry("new"), entry("old"));
        let statements = [
            "DROP TRIGGER contacts_fts_insert".to_string(),
            "DROP TRIGGER contacts_fts_delete".to_string(),
            "DROP TRIGGER contacts_fts_update".to_string(),
            format!(
                "CREATE TRIGGER contacts_fts_insert AFTER INSERT ON contacts \
                 WHEN new.search_key IS NOT NULL BEGIN \
                 INSERT INTO contacts_fts (rowid, search_text) VALUES (new.search_key, {new}); END"
            ),
            format!(
                "CREATE TRIGGER contacts_fts_delete AFTER DELETE ON contacts \
                 WHEN old.search_key IS NOT NULL BEGIN \
                 INSERT INTO contacts_fts (contacts_fts, rowid, search_text) \
                     VALUES ('delete', old.search_key, {old}); END"
            ),
            format!(
                "CREATE TRIGGER contacts_fts_update \
                 AFTER UPDATE OF search_key, search_text, active, search_old ON contacts \
                 WHEN old.search_key IS NOT new.search_key OR {old} IS NOT {new} BEGIN \
                 INSERT INTO contacts_fts (contacts_fts, rowid, search_text) \
                     SELECT 'delete', old.search_key, {old} WHERE old.search_key IS NOT NULL; \
                 INSERT INTO contacts_fts (rowid, search_text) \
                     SELECT new.search_key, {new} WHERE new.search_key IS NOT NULL; END"
            ),
        ];
        for stmt in statements {
            manager.get_connection().execute_unprepared(&stmt).await?;
        }
        Ok(())
    }
}

struct M0023PostgresContactWords;

impl MigrationName for M0023PostgresContactWords {
    fn name(&self) -> &str {
        "m0023_postgres_contact_words"
    }
}

/// PostgreSQL: a search of three characters or more matches anywhere in a
/// word, through the trigram index, and an exact count of a common one visits
/// every matching row of `contacts` (a GIN index has no index-only scans, and
/// `LIKE` always rechecks): "mar", 100,000 of a million contacts, 124 to 370
/// ms. A pattern made only of word characters (below) lies inside one word
/// of the search text, so it matches a contact exactly when it is inside one
/// of the contact's distinct words: those get a row each here, and the words
/// of the organisation a row each in `search_words`, the vocabulary a
/// pattern is looked up in (the trigram index over it is small). A count is
/// then an index-only scan of the matching words' rows. A contact with two
/// matching words (Mary Martin) would count twice: each row holds `before`,
/// the contact's distinct words that come before its own first appearance in
/// the text, and counts only if the pattern is in none of them. So exactly
/// one row of each matching contact counts, the row of its first word that
/// holds the pattern (18 to 28 ms for "mar" in `psql`, no parallel workers).
/// With the name order beside it, the same rows give a page too: the first
/// 51 in name order, then those contacts.
/// The word starts' triggers of m0018 and m0020 keep these rows too, in the
/// same statements' transaction, and the backlog covers both.
/// The vocabulary only grows: a word no contact has any more matches no row.
const CONTACT_WORDS_POSTGRES: &[&str] = &[
    // Word characters: a to z and every character from U+0080 on, except the
    // private use area (filter tokens): `directory::text::is_within_word`
    // says the same of a pattern. A search text is lower-cased, so no A to Z.
    r#"CREATE FUNCTION contact_words(doc text) RETURNS TABLE (word text, before text)
         LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$
         DECLARE seen text[] := '{}'; w text;
         BEGIN
             FOREACH w IN ARRAY regexp_split_to_array(doc, '[^a-z\u0080-\ud7ff\uf900-\U0010ffff]+') LOOP
                 IF w <> '' AND NOT w = ANY (seen) THEN
                     word := w;
                     before := array_to_string(seen, E'\x1f');
                     RETURN NEXT;
                     seen := seen || w;
                 END IF;
             END LOOP;
         END $$"#,
    // One index: a count reads its entries alone; a delete finds an entry by
    // its key.
    "CREATE TABLE contact_words (
         org_id bigint NOT NULL,
         word text NOT NULL,
         contact_id bigint NOT NULL,
         before text NOT NULL,
         sort_name text NOT NULL,
         active boolean NOT NULL,
         department text,
         role text,
         location text,
         PRIMARY KEY (org_id, word, contact_id)
             INCLUDE (before, sort_name, active, department, role, location))",
    // No unique key: two transactions adding the same new word each add it
    // (a pattern's words are read with DISTINCT), and neither waits for, or
    // deadlocks with, the other.
    "CREATE TABLE search_words (
         org_id bigint NOT NULL REFERENCES organisations (id) ON DELETE CASCADE,
         word text NOT NULL)",
    "CREATE INDEX search_words_key ON search_words (org_id, word)",
    "CREATE INDEX search_words_trgm ON search_words USING gin (word gin_trgm_ops)",
    "CREATE FUNCTION contact_words_vocabulary() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN
         INSERT INTO search_words
             SELECT DISTINCT n.org_id, n.word FROM added n
             WHERE NOT EXISTS (SELECT 1 FROM search_words s
                               WHERE s.org_id = n.org_id AND s.word = n.word);
         RETURN NULL; END $$",
    "CREATE TRIGGER contact_words_vocabulary AFTER INSERT ON contact_words
         REFERENCING NEW TABLE AS added
         FOR EACH STATEMENT EXECUTE FUNCTION contact_words_vocabulary()",
    // The contacts there are, except those whose word starts wait in the
    // backlog: placing them writes both.
    "INSERT INTO contact_words
         SELECT c.org_id, w.word, c.id, w.before, c.sort_name, c.active, c.department, c.role,
             c.location
         FROM contacts c, contact_words(c.search_text) AS w
         WHERE NOT EXISTS (SELECT 1 FROM word_start_backlog b
                           WHERE b.org_id = c.org_id AND b.contact_id = c.id)",
    // m0020's, writing the words beside the word starts.
    "CREATE OR REPLACE FUNCTION contacts_word_starts_insert() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN
         IF current_setting('muster.word_starts_later', true) = 'on' THEN
             INSERT INTO word_start_backlog SELECT n.org_id, n.id FROM changed n;
         ELSE
             INSERT INTO contact_word_starts
                 SELECT n.org_id, s, n.sort_name, n.id, n.active, n.department, n.role, n.location
                 FROM changed n, contact_word_starts(n.search_text) AS s;
             INSERT INTO contact_words
                 SELECT n.org_id, w.word, n.id, w.before, n.sort_name, n.active, n.department,
                     n.role, n.location
                 FROM changed n, contact_words(n.search_text) AS w;
         END IF;
         RETURN NULL; END $$",
    // m0018's, deleting the words too, each by its key.
    "CREATE OR REPLACE FUNCTION contacts_word_starts_delete() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN
         DELETE FROM contact_word_starts w
             USING (SELECT o.org_id, s, o.sort_name, o.id
                    FROM changed o, contact_word_starts(o.search_text) AS s) AS d (org_id, s, sort_name, id)
             WHERE w.org_id = d.org_id AND w.word_start = d.s
                 AND w.sort_name = d.sort_name AND w.contact_id = d.id;
         DELETE FROM contact_words w
             USING (SELECT o.org_id, x.word, o.id
                    FROM changed o, contact_words(o.search_text) AS x) AS d (org_id, word, id)
             WHERE w.org_id = d.org_id AND w.word = d.word AND w.contact_id = d.id;
         RETURN NULL; END $$",
    // m0020's, rewriting the words of the same contacts. Their new rows are
    // written by a second statement, once the old ones are gone (they may
    // have the same key).
    "CREATE OR REPLACE FUNCTION contacts_word_starts_update() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN
         WITH moved AS MATERIALIZED (
             SELECT o.search_text AS old_text, o.sort_name AS old_sort, n.*
             FROM old_rows o JOIN new_rows n ON n.id = o.id
             WHERE (o.search_text, o.sort_name, o.active, o.department, o.role, o.location)
                 IS DISTINCT FROM
                 (n.search_text, n.sort_name, n.active, n.department, n.role, n.location)
         ), gone AS (
             DELETE FROM contact_word_starts w
                 USING (SELECT m.org_id, s, m.old_sort, m.id
                        FROM moved m, contact_word_starts(m.old_text) AS s) AS d (org_id, s, sort_name, id)
                 WHERE w.org_id = d.org_id AND w.word_start = d.s
                     AND w.sort_name = d.sort_name AND w.contact_id = d.id
         ), words_gone AS (
             DELETE FROM contact_words w
                 USING (SELECT m.org_id, x.word, m.id
                        FROM moved m, contact_words(m.old_text) AS x) AS d (org_id, word, id)
                 WHERE w.org_id = d.org_id AND w.word = d.word AND w.contact_id = d.id)
         INSERT INTO contact_word_starts
             SELECT m.org_id, s, m.sort_name, m.id, m.active, m.department, m.role, m.location
             FROM moved m, contact_word_starts(m.search_text) AS s
             WHERE NOT EXISTS (SELECT 1 FROM word_start_backlog b
                               WHERE b.org_id = m.org_id AND b.contact_id = m.id);
         INSERT INTO contact_words
             SELECT n.org_id, w.word, n.id, w.before, n.sort_name, n.active, n.department,
                 n.role, n.location
             FROM old_rows o JOIN new_rows n ON n.id = o.id, contact_words(n.search_text) AS w
             WHERE (o.search_text, o.sort_name, o.active, o.department, o.role, o.location)
                 IS DISTINCT FROM
                 (n.search_text, n.sort_name, n.active, n.department, n.role, n.location)
                 AND NOT EXISTS (SELECT 1 FROM word_start_backlog b
                                 WHERE b.org_id = n.org_id AND b.contact_id = n.id);
         RETURN NULL; END $$",
];

#[async_trait::async_trait]
impl MigrationTrait for M0023PostgresContactWords {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if manager.get_database_backend() != DbBackend::Postgres {
            return Ok(());
        }
        run(manager.get_connection(), CONTACT_WORDS_POSTGRES).await
    }
}
