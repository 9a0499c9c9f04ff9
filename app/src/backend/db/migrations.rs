//! Schema migrations, written as SQL for each backend so that the text indexes
//! (FTS5 trigram on SQLite, pg_trgm on PostgreSQL) are explicit.

use sea_orm::{ConnectionTrait, DbBackend, DbErr};
use sea_orm_migration::{
    async_trait::async_trait, MigrationName, MigrationTrait, MigratorTrait, SchemaManager,
};

pub struct Migrator;

#[async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(M0001Foundation),
            Box::new(M0002SearchAtScale),
            Box::new(M0003Imports),
            Box::new(M0004Integrations),
        ]
    }
}

struct M0001Foundation;

impl MigrationName for M0001Foundation {
    fn name(&self) -> &str {
        "m0001_foundation"
    }
}

const FOUNDATION: &str = r#"
CREATE TABLE organisations (
    id {pk},
    name TEXT NOT NULL,
    default_region TEXT NOT NULL,
    time_zone TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE TABLE users (
    id {pk},
    org_id BIGINT NOT NULL REFERENCES organisations(id) ON DELETE CASCADE,
    email TEXT NOT NULL,
    email_lower TEXT NOT NULL UNIQUE,
    password_hash TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE TABLE sessions (
    token_hash TEXT PRIMARY KEY,
    user_id BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    org_id BIGINT NOT NULL REFERENCES organisations(id) ON DELETE CASCADE,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX sessions_user ON sessions (user_id);
CREATE TABLE contacts (
    id {pk},
    org_id BIGINT NOT NULL REFERENCES organisations(id) ON DELETE CASCADE,
    first_name TEXT NOT NULL,
    last_name TEXT NOT NULL,
    sort_name TEXT NOT NULL,
    search_text TEXT NOT NULL,
    email TEXT,
    email_lower TEXT,
    phone TEXT,
    department TEXT,
    role TEXT,
    location TEXT,
    source TEXT NOT NULL,
    external_id TEXT,
    active BOOLEAN NOT NULL DEFAULT TRUE,
    version BIGINT NOT NULL DEFAULT 1,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE UNIQUE INDEX contacts_org_email ON contacts (org_id, email_lower);
CREATE INDEX contacts_org_phone ON contacts (org_id, phone);
CREATE INDEX contacts_org_sort ON contacts (org_id, sort_name, id);
CREATE INDEX contacts_org_department ON contacts (org_id, department, sort_name, id);
CREATE INDEX contacts_org_role ON contacts (org_id, role, sort_name, id);
CREATE INDEX contacts_org_location ON contacts (org_id, location, sort_name, id);
CREATE TABLE contact_groups (
    id {pk},
    org_id BIGINT NOT NULL REFERENCES organisations(id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    name_lower TEXT NOT NULL,
    source TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE UNIQUE INDEX contact_groups_org_name ON contact_groups (org_id, name_lower);
CREATE TABLE group_members (
    group_id BIGINT NOT NULL REFERENCES contact_groups(id) ON DELETE CASCADE,
    contact_id BIGINT NOT NULL REFERENCES contacts(id) ON DELETE CASCADE,
    PRIMARY KEY (group_id, contact_id)
);
CREATE INDEX group_members_contact ON group_members (contact_id);
"#;

const SQLITE_SEARCH: &str = r#"
CREATE VIRTUAL TABLE contacts_fts USING fts5(
    search_text, content='contacts', content_rowid='id', tokenize='trigram'
);
CREATE TRIGGER contacts_fts_insert AFTER INSERT ON contacts BEGIN
    INSERT INTO contacts_fts (rowid, search_text) VALUES (new.id, new.search_text);
END;
CREATE TRIGGER contacts_fts_delete AFTER DELETE ON contacts BEGIN
    INSERT INTO contacts_fts (contacts_fts, rowid, search_text)
        VALUES ('delete', old.id, old.search_text);
END;
CREATE TRIGGER contacts_fts_update AFTER UPDATE OF search_text ON contacts BEGIN
    INSERT INTO contacts_fts (contacts_fts, rowid, search_text)
        VALUES ('delete', old.id, old.search_text);
    INSERT INTO contacts_fts (rowid, search_text) VALUES (new.id, new.search_text);
END;
"#;

const POSTGRES_SEARCH: &str = r#"
CREATE EXTENSION IF NOT EXISTS pg_trgm;
CREATE INDEX contacts_search_trgm ON contacts USING gin (search_text gin_trgm_ops);
"#;

#[async_trait]
impl MigrationTrait for M0001Foundation {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        let backend = db.get_database_backend();
        run_script(db, &FOUNDATION.replace("{pk}", primary_key(backend))).await?;
        match backend {
            DbBackend::Postgres => run_script(db, POSTGRES_SEARCH).await,
            _ => run_script(db, SQLITE_SEARCH).await,
        }
    }
}

struct M0002SearchAtScale;

impl MigrationName for M0002SearchAtScale {
    fn name(&self) -> &str {
        "m0002_search_at_scale"
    }
}

/// Counted contacts per organisation, kept by triggers, for the unfiltered total.
const COUNTS_SQLITE: &[&str] = &[
    "ALTER TABLE organisations ADD COLUMN contact_count BIGINT NOT NULL DEFAULT 0",
    "CREATE TRIGGER contacts_count_insert AFTER INSERT ON contacts BEGIN \
         UPDATE organisations SET contact_count = contact_count + 1 WHERE id = new.org_id; END",
    "CREATE TRIGGER contacts_count_delete AFTER DELETE ON contacts BEGIN \
         UPDATE organisations SET contact_count = contact_count - 1 WHERE id = old.org_id; END",
];

const COUNTS_POSTGRES: &[&str] = &[
    "ALTER TABLE organisations ADD COLUMN contact_count BIGINT NOT NULL DEFAULT 0",
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
    "CREATE UNIQUE INDEX contacts_search_key ON contacts (search_key)",
    // Neighbours in name order among keyed contacts, and the contacts still to place.
    "CREATE INDEX contacts_keyed_order ON contacts (org_id, sort_name, id, search_key) \
         WHERE search_key IS NOT NULL",
    "CREATE INDEX contacts_unkeyed ON contacts (org_id, sort_name, id) WHERE search_key IS NULL",
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

#[async_trait]
impl MigrationTrait for M0002SearchAtScale {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        let sqlite = db.get_database_backend() == DbBackend::Sqlite;
        let counts = if sqlite {
            COUNTS_SQLITE
        } else {
            COUNTS_POSTGRES
        };
        for stmt in counts {
            db.execute_unprepared(stmt).await?;
        }
        db.execute_unprepared(
            "UPDATE organisations SET contact_count = \
             (SELECT COUNT(*) FROM contacts WHERE contacts.org_id = organisations.id)",
        )
        .await?;
        if sqlite {
            for stmt in SEARCH_SQLITE_DROP {
                db.execute_unprepared(stmt).await?;
            }
        }
        db.execute_unprepared("ALTER TABLE contacts ADD COLUMN search_key BIGINT")
            .await?;
        if sqlite {
            for stmt in SEARCH_SQLITE_CREATE {
                db.execute_unprepared(stmt).await?;
            }
        }
        crate::backend::directory::reindex_all(db)
            .await
            .map_err(|e| DbErr::Custom(e.to_string()))?;
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
const IMPORTS: &str = r#"
CREATE TABLE import_jobs (
    id {pk},
    org_id BIGINT NOT NULL REFERENCES organisations(id) ON DELETE CASCADE,
    user_id BIGINT REFERENCES users(id) ON DELETE SET NULL,
    user_email TEXT NOT NULL,
    file_name TEXT NOT NULL,
    file_bytes BIGINT NOT NULL,
    stored_path TEXT,
    encoding TEXT NOT NULL,
    delimiter TEXT NOT NULL,
    columns TEXT NOT NULL,
    status TEXT NOT NULL,
    message TEXT,
    total_rows BIGINT NOT NULL DEFAULT 0,
    processed_rows BIGINT NOT NULL DEFAULT 0,
    created BIGINT NOT NULL DEFAULT 0,
    updated BIGINT NOT NULL DEFAULT 0,
    unchanged BIGINT NOT NULL DEFAULT 0,
    failed BIGINT NOT NULL DEFAULT 0,
    warnings BIGINT NOT NULL DEFAULT 0,
    cancel_requested BOOLEAN NOT NULL DEFAULT FALSE,
    created_at BIGINT NOT NULL,
    started_at BIGINT,
    finished_at BIGINT,
    heartbeat_at BIGINT
);
CREATE INDEX import_jobs_org ON import_jobs (org_id, id);
CREATE INDEX import_jobs_status ON import_jobs (status);
CREATE TABLE import_problems (
    id {pk},
    job_id BIGINT NOT NULL REFERENCES import_jobs(id) ON DELETE CASCADE,
    line BIGINT NOT NULL,
    column_name TEXT NOT NULL,
    message TEXT NOT NULL,
    warning BOOLEAN NOT NULL
);
CREATE INDEX import_problems_job ON import_problems (job_id, id);
"#;

#[async_trait]
impl MigrationTrait for M0003Imports {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        run_script(
            db,
            &IMPORTS.replace("{pk}", primary_key(db.get_database_backend())),
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
const INTEGRATIONS: &str = r#"
CREATE TABLE integrations (
    id {pk},
    org_id BIGINT NOT NULL REFERENCES organisations(id) ON DELETE CASCADE,
    provider TEXT NOT NULL,
    settings TEXT NOT NULL,
    secrets TEXT NOT NULL,
    secrets_set TEXT NOT NULL,
    status TEXT NOT NULL,
    last_error TEXT,
    last_result TEXT,
    last_sync_at BIGINT,
    heartbeat_at BIGINT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX integrations_org ON integrations (org_id, id);
ALTER TABLE contacts ADD COLUMN integration_id BIGINT REFERENCES integrations(id);
ALTER TABLE contacts ADD COLUMN adopted_source TEXT;
CREATE UNIQUE INDEX contacts_integration_external ON contacts (integration_id, external_id)
    WHERE integration_id IS NOT NULL;
ALTER TABLE contact_groups ADD COLUMN integration_id BIGINT REFERENCES integrations(id) ON DELETE CASCADE;
ALTER TABLE contact_groups ADD COLUMN external_id TEXT;
CREATE UNIQUE INDEX contact_groups_org_own_name ON contact_groups (org_id, name_lower)
    WHERE integration_id IS NULL;
DROP INDEX contact_groups_org_name;
CREATE UNIQUE INDEX contact_groups_integration_external ON contact_groups (integration_id, external_id)
    WHERE integration_id IS NOT NULL;
"#;

#[async_trait]
impl MigrationTrait for M0004Integrations {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        run_script(
            db,
            &INTEGRATIONS.replace("{pk}", primary_key(db.get_database_backend())),
        )
        .await
    }
}

fn primary_key(backend: DbBackend) -> &'static str {
    match backend {
        DbBackend::Postgres => "BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY",
        _ => "INTEGER PRIMARY KEY",
    }
}

/// Run each statement of a script in turn. Trigger bodies keep their inner `;`
/// because a statement only ends at `;` followed by a newline outside `BEGIN ... END`.
async fn run_script(db: &impl ConnectionTrait, script: &str) -> Result<(), DbErr> {
    for stmt in split_statements(script) {
        db.execute_unprepared(&stmt).await?;
    }
    Ok(())
}

fn split_statements(script: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current = String::new();
    let mut in_block = false;
    for line in script.lines() {
        let trimmed = line.trim();
        if trimmed.is_empty() {
            continue;
        }
        current.push_str(line);
        current.push('\n');
        if trimmed.ends_with("BEGIN") {
            in_block = true;
        }
        if in_block {
            if trimmed == "END;" {
                in_block = false;
                out.push(std::mem::take(&mut current));
            }
        } else if trimmed.ends_with(';') {
            out.push(std::mem::take(&mut current));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn triggers_stay_whole() {
        let stmts = split_statements(SQLITE_SEARCH);
        assert_eq!(stmts.len(), 4);
        assert!(stmts[3].trim_end().ends_with("END;"));
        assert_eq!(split_statements(FOUNDATION).len(), 15);
    }
}
