//! The migrations make the same schema from nothing as they make by upgrading
//! a database of the last release, on SQLite and on PostgreSQL (`MUSTER_TEST_DB`).

mod common;

use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, Statement};

/// Rows of one text column.
async fn texts(db: &DatabaseConnection, sql: &str, arg: Option<&str>) -> Vec<String> {
    let backend = db.get_database_backend();
    let stmt = match arg {
        Some(a) => Statement::from_sql_and_values(backend, sql, [a.into()]),
        None => Statement::from_string(backend, sql),
    };
    let mut out: Vec<String> = db
        .query_all_raw(stmt)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
        .iter()
        .map(|r| r.try_get_by_index::<String>(0).unwrap())
        .collect();
    out.sort();
    out
}

/// SQL text compared without quotes, case or layout.
fn normalise(sql: &str) -> String {
    sql.replace('"', "")
        .to_lowercase()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .replace("( ", "(")
        .replace(" )", ")")
}

/// SQLite's type affinity of a declared column type (its documented rules):
/// what a column's type means to SQLite, whatever its spelling.
fn affinity(declared: &str) -> &'static str {
    let t = declared.to_uppercase();
    if t.contains("INT") {
        "INTEGER"
    } else if t.contains("CHAR") || t.contains("CLOB") || t.contains("TEXT") {
        "TEXT"
    } else if t.contains("BLOB") || t.is_empty() {
        "BLOB"
    } else if t.contains("REAL") || t.contains("FLOA") || t.contains("DOUB") {
        "REAL"
    } else {
        "NUMERIC"
    }
}

/// Everything that makes up a schema, one line per fact, sorted. The
/// migrator's own table is left out.
async fn describe(db: &DatabaseConnection) -> Vec<String> {
    let mut out = Vec::new();
    if db.get_database_backend() == DbBackend::Postgres {
        for (kind, sql) in [
            (
                "column",
                "SELECT table_name || '|' || lpad(ordinal_position::text, 3) || '|' || column_name \
                 || '|' || data_type || '|' || is_nullable || '|' || COALESCE(column_default, '-') \
                 || '|' || is_identity || '|' || COALESCE(identity_generation, '-') \
                 FROM information_schema.columns \
                 WHERE table_schema = 'public' AND table_name <> 'seaql_migrations'",
            ),
            (
                "index",
                "SELECT indexdef FROM pg_indexes \
                 WHERE schemaname = 'public' AND tablename <> 'seaql_migrations'",
            ),
            (
                "constraint",
                "SELECT conrelid::regclass::text || '|' || conname || '|' || pg_get_constraintdef(oid) \
                 FROM pg_constraint WHERE connamespace = 'public'::regnamespace \
                 AND conrelid::regclass::text <> 'seaql_migrations'",
            ),
            (
                "trigger",
                "SELECT pg_get_triggerdef(oid) FROM pg_trigger WHERE NOT tgisinternal",
            ),
            (
                "function",
                "SELECT proname || '|' || md5(prosrc) FROM pg_proc \
                 WHERE pronamespace = 'public'::regnamespace",
            ),
            ("extension", "SELECT extname FROM pg_extension"),
            (
                "sequence",
                "SELECT sequencename || '|' || data_type::text FROM pg_sequences \
                 WHERE schemaname = 'public'",
            ),
        ] {
            for row in texts(db, sql, None).await {
                out.push(format!("{kind} {row}"));
            }
        }
        return out;
    }
    let objects = texts(
        db,
        "SELECT type || '|' || name || '|' || tbl_name || '|' || COALESCE(sql, '') \
         FROM sqlite_master WHERE name NOT LIKE 'sqlite_%' AND name <> 'seaql_migrations'",
        None,
    )
    .await;
    for object in objects {
        let [kind, name, table, sql] = object.splitn(4, '|').collect::<Vec<_>>()[..] else {
            unreachable!()
        };
        match kind {
            "table" => {
                if sql.to_lowercase().starts_with("create virtual table") {
                    out.push(format!("virtual table {}", normalise(sql)));
                    continue;
                }
                out.push(format!("table {name}"));
                for col in texts(
                    db,
                    "SELECT printf('%3d', cid) || '|' || name || '|' || type || '|' || \"notnull\" \
                     || '|' || COALESCE(dflt_value, '-') || '|' || pk FROM pragma_table_info(?)",
                    Some(name),
                )
                .await
                {
                    let mut f: Vec<&str> = col.split('|').collect();
                    let ty = affinity(f[2]);
                    f[2] = ty;
                    out.push(format!("column {name} {}", f.join("|").to_lowercase()));
                }
                for fk in texts(
                    db,
                    "SELECT \"table\" || '|' || \"from\" || '|' || \"to\" || '|' || on_update \
                     || '|' || on_delete FROM pragma_foreign_key_list(?)",
                    Some(name),
                )
                .await
                {
                    out.push(format!("foreign key {name} {fk}"));
                }
                for idx in texts(
                    db,
                    "SELECT name || '|' || \"unique\" || '|' || origin || '|' || partial \
                     FROM pragma_index_list(?)",
                    Some(name),
                )
                .await
                {
                    let index = idx.split('|').next().unwrap_or_default();
                    let cols = texts(
                        db,
                        "SELECT group_concat(name, ',') FROM \
                         (SELECT name FROM pragma_index_info(?) ORDER BY seqno)",
                        Some(index),
                    )
                    .await;
                    let filter = texts(
                        db,
                        "SELECT COALESCE(sql, '') FROM sqlite_master WHERE name = ?",
                        Some(index),
                    )
                    .await
                    .concat();
                    let filter = normalise(&filter)
                        .split_once(" where ")
                        .map(|(_, w)| w.to_string())
                        .unwrap_or_default();
                    out.push(format!(
                        "index {name} {idx} ({}) where {filter}",
                        cols.concat()
                    ));
                }
            }
            "index" => {} // described with their table
            _ => out.push(format!("{kind} {name} on {table}: {}", normalise(sql))),
        }
    }
    out.sort();
    out
}

#[tokio::test]
async fn schema_equals_an_upgraded_release() {
    let (new_db, old_db) = (common::TestDb::new().await, common::TestDb::new().await);
    let new = muster::open_database(&new_db.url).await.unwrap();
    let old = app::backend::db::connect(&old_db.url).await.unwrap();
    let release = match old.get_database_backend() {
        DbBackend::Postgres => include_str!("fixtures/schema-0.1.0-postgres.sql"),
        _ => include_str!("fixtures/schema-0.1.0-sqlite.sql"),
    };
    old.execute_unprepared(release).await.unwrap();
    let described_release = describe(&old).await;
    let after = app::backend::db::migrate(&old).await.unwrap();
    assert!(!after.reindex, "0.1.0 has the current search text");

    let (made, upgraded) = (describe(&new).await, describe(&old).await);
    let only = |a: &[String], b: &[String]| -> Vec<String> {
        a.iter().filter(|x| !b.contains(x)).cloned().collect()
    };
    assert!(
        made.len() > 60 && made.iter().any(|l| l.starts_with("trigger")),
        "the description misses most of the schema: {made:#?}"
    );
    assert_eq!(
        (only(&made, &upgraded), only(&upgraded, &made)),
        (vec![], vec![]),
        "(only in a new database, only in an upgraded one)"
    );
    // Since 0.1.0, upgrading adds exactly the migrations made after it, and
    // takes nothing away: m0005 gives sessions their last use, and an index
    // for the sweeper; m0006 the sync history's two tables and the
    // integrations' hold settings; m0007 the integrations' schedule (three
    // columns and the scheduler's index); m0008 SCIM provisioning's four
    // tables, the contacts' and groups' link to a SCIM source, and one index
    // changed: a group's own name is unique only among the groups made in
    // Muster (neither synced nor pushed over SCIM); m0009 an index of the
    // deactivated contacts, and on SQLite the text index's three triggers
    // replaced (they index a deactivated contact's status token); m0010 the
    // scenarios and the audit trail, each a table and an index; m0011 the
    // incidents, their frozen recipients, their messages and the outbox;
    // m0012 the SMS settings (a table, two unique indexes) and the index
    // that finds the incidents that texted a number; m0013 two columns, an
    // import's resumes and a failed row's cells; m0014 on PostgreSQL the
    // filters' indexes of active contacts; m0015 what several servers share,
    // uploads' chunks and failed sign-ins (two tables, an index); m0016 two
    // columns, how far an import's contacts are in the search index; m0017
    // on SQLite the filters' three indexes narrowed to their column; m0018
    // on PostgreSQL the contacts' word starts (a table, two indexes, four
    // functions and three triggers); m0019 on PostgreSQL an index that
    // counts contacts by any filters; m0020 on PostgreSQL the backlog of
    // word starts (a table of two columns, its key and its foreign key);
    // m0021 on PostgreSQL the filters' three indexes narrowed, as m0017;
    // m0022 a column, the text a parked contact has in SQLite's text index,
    // and on SQLite an index of those contacts and the text index's three
    // triggers replaced again (they index that text while it is set).
    let own_name = |l: &String| l.contains("contact_groups_org_own_name");
    let fts_trigger = |l: &String| l.starts_with("trigger contacts_fts_");
    let narrowed_filter = |l: &String| {
        [
            "contacts_org_department",
            "contacts_org_role",
            "contacts_org_location",
        ]
        .iter()
        .any(|i| l.contains(i))
    };
    let (triggers, narrowed) = match new.get_database_backend() {
        DbBackend::Sqlite => (3, 3),
        _ => (0, 3),
    };
    let taken = only(&described_release, &upgraded);
    assert_eq!(taken.len(), 1 + triggers + narrowed, "{taken:#?}");
    assert_eq!(
        taken.iter().filter(|l| narrowed_filter(l)).count(),
        narrowed,
        "{taken:#?}"
    );
    assert_eq!(
        taken.iter().filter(|l| own_name(l)).count(),
        1,
        "{taken:#?}"
    );
    assert_eq!(
        taken.iter().filter(|l| fts_trigger(l)).count(),
        triggers,
        "{taken:#?}"
    );
    let added = only(&upgraded, &described_release);
    let m0005 = |l: &String| {
        l.contains("sessions") && (l.contains("last_seen_at") || l.contains("sessions_expiry"))
    };
    let m0006 = |l: &String| {
        l.contains("sync_runs")
            || l.contains("sync_changes")
            || (l.contains("integrations")
                && ["hold_percent", "hold_count", "held_run_id"]
                    .iter()
                    .any(|c| l.contains(c)))
    };
    assert_eq!(added.iter().filter(|l| m0005(l)).count(), 2, "{added:#?}");
    assert!(
        added.iter().filter(|l| m0006(l)).count() >= 3 + 2,
        "{added:#?}"
    );
    let m0007 = |l: &String| {
        l.contains("integrations")
            && [
                "sync_minute",
                "next_sync_at",
                "retries",
                "integrations_next_sync",
            ]
            .iter()
            .any(|c| l.contains(c))
    };
    assert_eq!(added.iter().filter(|l| m0007(l)).count(), 4, "{added:#?}");
    let m0008 = |l: &String| l.contains("scim") || own_name(l);
    assert!(added.iter().filter(|l| m0008(l)).count() >= 7, "{added:#?}");
    assert!(
        added
            .iter()
            .any(|l| own_name(l) && l.contains("scim_source_id")),
        "{added:#?}"
    );
    let m0009 = |l: &String| l.contains("contacts_deactivated") || fts_trigger(l);
    assert_eq!(
        added.iter().filter(|l| m0009(l)).count(),
        1 + triggers,
        "{added:#?}"
    );
    let m0010 = |l: &String| l.contains("scenarios") || l.contains("audit_events");
    let m0012 = |l: &String| l.contains("sms_settings") || l.contains("incident_recipients_phone");
    let m0011 = |l: &String| (l.contains("incident") || l.contains("deliveries")) && !m0012(l);
    assert!(
        added.iter().filter(|l| m0012(l)).count() > 3, // the table, and its three indexes
        "{added:#?}"
    );
    assert!(
        added
            .iter()
            .any(|l| l.contains("incident_recipients_phone")),
        "{added:#?}"
    );
    assert!(
        added.iter().filter(|l| m0011(l)).count() >= 4 + 6,
        "{added:#?}"
    );
    assert!(
        added.iter().filter(|l| m0010(l)).count() >= 2 + 2,
        "{added:#?}"
    );
    let m0013 = |l: &String| {
        (l.contains("import_jobs") && l.contains("resumes"))
            || (l.contains("import_problems") && l.contains("row_values"))
    };
    assert_eq!(added.iter().filter(|l| m0013(l)).count(), 2, "{added:#?}");
    // m0014: on PostgreSQL, three indexes of the active contacts by filter.
    let m0014 = |l: &String| l.contains("contacts_active_");
    let active_filters = match new.get_database_backend() {
        DbBackend::Postgres => 3,
        _ => 0,
    };
    assert_eq!(
        added.iter().filter(|l| m0014(l)).count(),
        active_filters,
        "{added:#?}"
    );
    let m0015 = |l: &String| l.contains("upload_chunks") || l.contains("sign_in_failures");
    assert!(
        added.iter().filter(|l| m0015(l)).count() > 2, // two tables and an index
        "{added:#?}"
    );
    let m0016 = |l: &String| {
        l.contains("import_jobs") && (l.contains("index_total") || l.contains("indexed"))
    };
    assert_eq!(added.iter().filter(|l| m0016(l)).count(), 2, "{added:#?}");
    // m0017 (SQLite) and m0021 (PostgreSQL): the same three indexes of the
    // filters' column alone.
    assert_eq!(
        added.iter().filter(|l| narrowed_filter(l)).count(),
        narrowed,
        "{added:#?}"
    );
    // m0018: on PostgreSQL, the word starts: 8 columns, 2 indexes, 4
    // functions, 3 triggers.
    let m0018 = |l: &String| l.contains("word_starts");
    let word_starts = match new.get_database_backend() {
        DbBackend::Postgres => 8 + 2 + 4 + 3,
        _ => 0,
    };
    assert_eq!(
        added.iter().filter(|l| m0018(l)).count(),
        word_starts,
        "{added:#?}"
    );
    let m0019 = |l: &String| l.contains("contacts_filter_count");
    assert_eq!(
        added.iter().filter(|l| m0019(l)).count(),
        active_filters / 3,
        "{added:#?}"
    );
    let m0020 = |l: &String| l.contains("word_start_backlog");
    assert_eq!(
        added.iter().filter(|l| m0020(l)).count(),
        word_starts.min(1) * (2 + 1 + 2),
        "{added:#?}"
    );
    // (The triggers it replaced are counted with m0009's.)
    let m0022 =
        |l: &String| !fts_trigger(l) && (l.contains("search_old") || l.contains("contacts_parked"));
    assert_eq!(
        added.iter().filter(|l| m0022(l)).count(),
        1 + triggers.min(1),
        "{added:#?}"
    );
    // m0023: on PostgreSQL, the words and their vocabulary: 9 + 2 columns,
    // 3 indexes, 2 constraints, 1 trigger, 2 functions.
    let m0023 = |l: &String| l.contains("contact_words") || l.contains("search_words");
    assert_eq!(
        added.iter().filter(|l| m0023(l)).count(),
        word_starts.min(1) * (11 + 3 + 2 + 1 + 2),
        "{added:#?}"
    );
    assert!(
        added.iter().all(|l| m0005(l)
            || m0006(l)
            || m0007(l)
            || m0008(l)
            || m0009(l)
            || m0010(l)
            || m0011(l)
            || m0012(l)
            || m0013(l)
            || m0014(l)
            || m0015(l)
            || m0016(l)
            || narrowed_filter(l)
            || m0018(l)
            || m0019(l)
            || m0020(l)
            || m0022(l)
            || m0023(l)),
        "{added:#?}"
    );
}
