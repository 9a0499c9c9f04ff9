//! Search, filters and paging through the text index, checked against the plain
//! definition of a match: the query's pattern is a substring of the contact's
//! search text, and the filters are equal.

mod common;

use app::backend::directory::text;
use app::backend::domain::OrgId;
use app::model::ContactPage;
use common::TestApp;
use sea_orm::FromQueryResult;

#[derive(FromQueryResult)]
struct Stored {
    id: i64,
    first_name: String,
    last_name: String,
    sort_name: String,
    email_lower: Option<String>,
    department: Option<String>,
    role: Option<String>,
    location: Option<String>,
    active: bool,
}

/// Every page of a query, walked forwards, then backwards from the last page.
async fn walk(app: &TestApp, client: &reqwest::Client, form: &[(&str, &str)]) -> (u64, Vec<i64>) {
    let fetch = |cursor: (&'static str, String)| {
        let mut f: Vec<(&str, String)> = form.iter().map(|(k, v)| (*k, v.to_string())).collect();
        f.push(cursor);
        let url = format!("{}/api/list_contacts", app.url);
        let client = client.clone();
        async move {
            let res = client.post(url).form(&f).send().await.unwrap();
            let status = res.status();
            let body = res.text().await.unwrap();
            assert!(status.is_success(), "{status} for {f:?}: {body}");
            serde_json::from_str::<ContactPage>(&body)
                .unwrap_or_else(|e| panic!("not a page for {f:?}: {e}: {body}"))
        }
    };
    let ids = |page: &ContactPage| -> Vec<i64> { page.rows.iter().map(|r| r.id).collect() };
    let mut forward = Vec::new();
    let mut pages = Vec::new();
    let mut page = fetch(("query[after]", String::new())).await;
    let total = page.total;
    loop {
        let rows = ids(&page);
        assert!(rows.len() <= 50);
        forward.extend(&rows);
        pages.push(rows);
        match page.next.clone() {
            Some(next) => page = fetch(("query[after]", next)).await,
            None => break,
        }
    }
    // Backwards from the last page must give the same pages in reverse.
    let mut back = pages.len() - 1;
    while let Some(prev) = page.prev.clone() {
        page = fetch(("query[before]", prev)).await;
        back -= 1;
        assert_eq!(ids(&page), pages[back], "page {back} walking backwards");
    }
    assert_eq!(back, 0, "walking backwards reaches the first page");
    (total, forward)
}

/// The ids of `everyone` (in name order) that a query matches, by the plain
/// definition.
fn matches(
    everyone: &[Stored],
    (q, department, role, location): (&str, &str, &str, &str),
    status: &str,
) -> Vec<i64> {
    let pattern = text::pattern(q);
    everyone
        .iter()
        .filter(|c| match status {
            "" => c.active,
            "deactivated" => !c.active,
            _ => true,
        })
        .filter(|c| {
            let doc = text::document(
                &c.first_name,
                &c.last_name,
                c.email_lower.as_deref(),
                c.department.as_deref(),
                c.role.as_deref(),
                c.location.as_deref(),
            );
            pattern.as_ref().is_none_or(|p| doc.contains(p))
                && [
                    (department, &c.department),
                    (role, &c.role),
                    (location, &c.location),
                ]
                .iter()
                .all(|(want, have)| want.is_empty() || have.as_deref() == Some(*want))
        })
        .map(|c| c.id)
        .collect()
}

/// Every page of a query (search, department, role, location) of the
/// contacts of a status finds exactly the contacts of `pool` it matches by
/// the plain definition, in name order.
async fn assert_query(
    app: &TestApp,
    client: &reqwest::Client,
    pool: &[Stored],
    query: (&str, &str, &str, &str),
    status: &str,
) {
    let (q, department, role, location) = query;
    let form = [
        ("query[q]", q),
        ("query[department]", department),
        ("query[role]", role),
        ("query[location]", location),
        ("query[status]", status),
    ];
    let expected = matches(pool, query, status);
    let (total, got) = walk(app, client, &form).await;
    assert_eq!(total as usize, expected.len(), "count for {form:?}");
    assert_eq!(got, expected, "rows for {form:?}");
}

/// The contacts of organisation 1 in name order; on SQLite, only those placed
/// in the search index when `placed_only`.
async fn stored(app: &TestApp, placed_only: bool) -> Vec<Stored> {
    let mut sql =
        app::backend::db::Sql::new(sea_orm::ConnectionTrait::get_database_backend(&app.db));
    sql.push(
        "SELECT id, first_name, last_name, sort_name, email_lower, department, role, location, \
         active FROM contacts WHERE org_id = ",
    )
    .bind(1i64);
    if placed_only && !sql.is_postgres() {
        sql.push(" AND search_key IS NOT NULL");
    } else if placed_only {
        sql.push(" AND id NOT IN (SELECT contact_id FROM word_start_backlog)");
    }
    let mut everyone: Vec<Stored> = sql.all(&app.db).await.unwrap();
    everyone.sort_by(|a, b| (&a.sort_name, a.id).cmp(&(&b.sort_name, b.id)));
    everyone
}

#[derive(FromQueryResult)]
struct Keyed {
    org_id: i64,
    search_key: Option<i64>,
}

/// On SQLite, every contact's search key ascends with (organisation, name, id).
async fn assert_keys_follow_name_order(app: &TestApp) {
    let backend = sea_orm::ConnectionTrait::get_database_backend(&app.db);
    if backend != sea_orm::DbBackend::Sqlite {
        return;
    }
    let mut sql = app::backend::db::Sql::new(backend);
    sql.push("SELECT org_id, search_key FROM contacts ORDER BY org_id, sort_name, id");
    let rows: Vec<Keyed> = sql.all(&app.db).await.unwrap();
    let keys: Vec<i64> = rows
        .iter()
        .map(|r| {
            let key = r.search_key.expect("every contact has a key");
            assert_eq!(key >> 43, r.org_id, "key inside its organisation's range");
            key
        })
        .collect();
    assert!(
        keys.windows(2).all(|w| w[0] < w[1]),
        "keys ascend in name order"
    );
}

/// Enough namesakes to exhaust the gap after them (see `directory::search`).
const SAMS: usize = 600;

#[tokio::test]
async fn every_page_of_every_query_matches_the_plain_definition() {
    let app = TestApp::spawn().await;
    let admin = app.org_admin("Acme", "admin@acme.example").await;
    let other = app.org_admin("Other", "admin@other.example").await;
    let org = OrgId::trusted(1);
    app::backend::demo::seed(&app.db, org, 700, |_| {})
        .await
        .unwrap();
    app::backend::demo::seed(&app.db, OrgId::trusted(2), 150, |_| {})
        .await
        .unwrap();
    // Names that share buckets, are shorter than a bucket, or are not ASCII.
    for (first, last, dept) in [
        ("Jo", "Ng", "Engineering"),
        ("J", "Smith", ""),
        ("John", "Smith", "Engineering"),
        ("John", "Smithers", "Engineering"),
        ("Johanna", "O'Brien", ""),
        ("Zoë", "Ångström", "Sales"),
        ("Émile", "Zola", "Sales"),
    ] {
        let form = [
            ("draft[first_name]", first),
            ("draft[last_name]", last),
            ("draft[phone]", "07911 123456"),
            ("draft[department]", dept),
        ];
        app.create(&admin, &form).await;
    }
    // Many contacts with one name, each placed just after the previous one, until
    // the gap before the next name runs out and the keys around it are re-spread.
    for i in 0..SAMS {
        let draft = app::model::ContactDraft {
            first_name: "Sam".into(),
            last_name: "Same".into(),
            email: format!("sam.same{i}@example.com"),
            ..Default::default()
        };
        app::backend::directory::create(&app.db, org, "GB", &draft, "Manual")
            .await
            .unwrap();
    }
    assert_keys_follow_name_order(&app).await;
    // Some contacts deactivated, as an identity provider would: the list
    // leaves them out unless asked for.
    sea_orm::ConnectionTrait::execute_unprepared(
        &app.db,
        "UPDATE contacts SET active = FALSE WHERE org_id = 1 AND id % 7 = 0",
    )
    .await
    .unwrap();

    let everyone = stored(&app, false).await;
    assert_eq!(everyone.len(), 707 + SAMS);
    assert!(everyone.iter().any(|c| !c.active));

    let queries: &[(&str, &str, &str, &str)] = &[
        ("", "", "", ""),
        ("j", "", "", ""),
        ("jo", "", "", ""),
        ("joh", "", "", ""),
        ("john smi", "", "", ""),
        ("SMITH", "", "", ""),
        ("example.com", "", "", ""),
        ("ö", "", "", ""),
        ("o'b", "", "", ""),
        ("zzzz", "", "", ""),
        ("sam same", "", "", ""),
        ("s", "", "", ""),
        ("", "Engineering", "", ""),
        ("", "Engineering", "", "London"),
        ("m", "Sales", "", ""),
        ("ar", "", "", "London"),
        ("son", "Engineering", "", ""),
        // Inside one word (PostgreSQL counts these through its words): in
        // two words of one contact ("sam" in sam, same and sam.same1), in
        // the email alone, not ASCII, everyone's, and with filters.
        ("sam", "", "", ""),
        ("mar", "", "", ""),
        ("exam", "", "", ""),
        ("ström", "", "", ""),
        ("mile", "Sales", "", ""),
        ("mar", "Engineering", "", "London"),
        ("ohn", "", "", ""),
    ];
    for &query in queries {
        assert_query(&app, &admin, &everyone, query, "").await;
    }
    for status in ["all", "deactivated"] {
        for &query in &queries[..4] {
            assert_query(&app, &admin, &everyone, query, status).await;
        }
        assert_query(&app, &admin, &everyone, ("m", "Sales", "", ""), status).await;
        assert_query(&app, &admin, &everyone, ("mar", "", "", ""), status).await;
    }

    // The second organisation sees only its own contacts, even for the same query.
    let (total, _) = walk(&app, &other, &[("query[q]", "j")]).await;
    let (all, _) = walk(&app, &other, &[("query[q]", "")]).await;
    assert_eq!(all, 150);
    assert!(total < 150);
    // Every one of its addresses is at example.com, and only its own count
    // (on PostgreSQL, through the organisation's own words).
    let (at_example, ids) = walk(&app, &other, &[("query[q]", "exam")]).await;
    assert_eq!((at_example, ids.len()), (150, 150));
}

#[tokio::test]
async fn renamed_and_deleted_contacts_leave_the_index() {
    let app = TestApp::spawn().await;
    let admin = app.org_admin("Acme", "admin@acme.example").await;
    let created = app
        .create(
            &admin,
            &[
                ("draft[first_name]", "Ada"),
                ("draft[last_name]", "Lovelace"),
                ("draft[email]", "ada@example.com"),
            ],
        )
        .await;
    let id = created.id.to_string();
    let found = |q: &'static str| {
        let (app, admin) = (&app, admin.clone());
        async move {
            let v: ContactPage = app.json(&admin, "list_contacts", &[("query[q]", q)]).await;
            (v.total, v.rows.len() as u64)
        }
    };
    assert_eq!(found("love").await, (1, 1));
    let res = app
        .call(
            &admin,
            "update_contact",
            &[
                ("id", id.as_str()),
                ("version", "1"),
                ("draft[first_name]", "Grace"),
                ("draft[last_name]", "Hopper"),
                ("draft[email]", "grace@example.com"),
            ],
        )
        .await;
    assert!(res.status().is_success(), "{}", res.status());
    assert_eq!(found("love").await, (0, 0));
    assert_eq!(found("hop").await, (1, 1));
    assert_eq!(found("g").await, (1, 1));
    assert_eq!(found("a").await, (0, 0));
    let res = app
        .call(&admin, "delete_contact", &[("id", id.as_str())])
        .await;
    assert!(res.status().is_success(), "{}", res.status());
    assert_eq!(found("hop").await, (0, 0));
    assert_eq!(found("g").await, (0, 0));
    assert_eq!(found("").await, (0, 0));
    assert_keys_follow_name_order(&app).await;
}

#[tokio::test]
async fn upgrading_a_populated_database_indexes_its_contacts() {
    use app::backend::db::{Migrator, MigratorTrait};
    use sea_orm::ConnectionTrait;

    let database = common::TestDb::new().await;
    let db = app::backend::db::connect(&database.url).await.unwrap();
    // The schema as the first release left it, with contacts in its format,
    // written as that release wrote them (today's code expects today's schema).
    Migrator::up(&db, Some(1)).await.unwrap();
    db.execute_unprepared(
        "INSERT INTO organisations (id, name, default_region, time_zone, created_at) \
         VALUES (1, 'Acme', 'GB', 'Europe/London', 0)",
    )
    .await
    .unwrap();
    let org = app::backend::domain::OrgId::trusted(1);
    for (first, last, email, dept) in [
        ("Ada", "Lovelace", "ada@example.com", "Engineering"),
        ("Grace", "Hopper", "grace@example.com", "Engineering"),
        ("Alan", "Turing", "alan@example.com", "Research"),
    ] {
        db.execute_unprepared(&format!(
            "INSERT INTO contacts (org_id, first_name, last_name, sort_name, search_text, email, \
             email_lower, department, source, created_at, updated_at) VALUES ({}, '{first}', \
             '{last}', '{}', '{} {} {email}', '{email}', '{email}', '{dept}', 'Manual', 0, 0)",
            org.get(),
            format!("{first} {last}").to_lowercase(),
            first.to_lowercase(),
            last.to_lowercase(),
        ))
        .await
        .unwrap();
    }
    // Starting the server migrates the schema and indexes those contacts.
    drop(db);
    let db = muster::open_database(&database.url).await.unwrap();
    let find = |q: &'static str, department: &'static str| {
        let db = db.clone();
        async move {
            let query = app::model::ContactQuery {
                q: q.into(),
                department: department.into(),
                ..Default::default()
            };
            let page = app::backend::directory::search(&db, org, &query)
                .await
                .unwrap();
            let names: Vec<String> = page.rows.into_iter().map(|r| r.name).collect();
            (page.total, names)
        }
    };
    assert_eq!(find("", "").await.0, 3);
    assert_eq!(find("love", "").await, (1, vec!["Ada Lovelace".into()]));
    assert_eq!(
        find("a", "Engineering").await,
        (1, vec!["Ada Lovelace".into()])
    );
    assert_eq!(find("", "Research").await, (1, vec!["Alan Turing".into()]));
}

#[tokio::test]
async fn contacts_added_at_the_same_time_are_all_saved_and_placed() {
    let app = TestApp::spawn().await;
    let admin = app.org_admin("Acme", "admin@acme.example").await;
    let mut calls = tokio::task::JoinSet::new();
    for i in 0..24 {
        let email = format!("person{i}@example.com");
        let first = format!("Person{}", i % 5);
        let admin = admin.clone();
        let url = format!("{}/api/create_contact", app.url);
        calls.spawn(async move {
            let res = admin
                .post(url)
                .form(&[
                    ("draft[first_name]", first.as_str()),
                    ("draft[last_name]", "Concurrent"),
                    ("draft[email]", email.as_str()),
                ])
                .send()
                .await
                .unwrap();
            (res.status(), res.text().await.unwrap())
        });
    }
    while let Some(done) = calls.join_next().await {
        let (status, body) = done.unwrap();
        assert!(status.is_success(), "{status}: {body}");
    }
    let (total, ids) = walk(&app, &admin, &[("query[q]", "concurrent")]).await;
    assert_eq!((total, ids.len()), (24, 24));
    assert_keys_follow_name_order(&app).await;
}

/// A large upload's contacts are committed without their place in SQLite's
/// search index (PostgreSQL's word starts), which catches up a chunk at a
/// time: meanwhile every one of them is listed and found by filters (read
/// through the filters' columns), and a search finds those placed so far;
/// then the text index answers both.
#[tokio::test]
async fn while_an_upload_is_indexed_filters_find_every_contact_and_search_those_placed() {
    use app::backend::directory::{self, bulk};
    use rand::SeedableRng;
    let app = TestApp::spawn().await;
    let admin = app.org_admin("Acme", "admin@acme.example").await;
    let org = OrgId::trusted(1);
    app::backend::demo::seed(&app.db, org, 300, |_| {})
        .await
        .unwrap();
    // As an import writes them: no search key.
    let mut rng = rand::rngs::SmallRng::seed_from_u64(11);
    let fresh: Vec<_> = (0..600)
        .map(|n| app::backend::demo::sample(&mut rng, 10_000 + n))
        .collect();
    let fresh: Vec<_> = fresh.iter().collect();
    let tx = app::backend::db::begin_write(&app.db).await.unwrap();
    let mut groups = bulk::GroupIds::new(org, "CSV upload");
    bulk::insert_many(&tx, org, &fresh, "CSV upload", &mut groups, None, false)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    // Waiting for their search keys on SQLite, their word starts on
    // PostgreSQL (which the searches below read: one and two characters).
    let waiting = directory::unplaced(&app.db, org, None).await.unwrap();
    assert_eq!(waiting, 600);

    let queries: &[(&str, &str, &str, &str)] = &[
        ("", "", "", ""),
        ("", "Engineering", "", ""),
        ("", "Sales", "", "London"),
        ("", "", "Manager", ""),
        ("jo", "", "", ""),
        ("m", "Sales", "", ""),
        ("mar", "", "", ""),
        ("john", "Sales", "", ""),
    ];
    let sqlite =
        sea_orm::ConnectionTrait::get_database_backend(&app.db) == sea_orm::DbBackend::Sqlite;
    let check = |placed_only: bool| {
        let (app, admin) = (&app, &admin);
        async move {
            let everyone = stored(app, false).await;
            let placed = stored(app, placed_only).await;
            for &query in queries {
                // Filters alone see everyone; a search, the contacts placed,
                // but on PostgreSQL three characters or more see everyone
                // (the trigram index counts them while the words wait).
                let pool = if query.0.is_empty() || (!sqlite && query.0.chars().count() >= 3) {
                    &everyone
                } else {
                    &placed
                };
                assert_query(app, admin, pool, query, "").await;
            }
        }
    };
    check(true).await;
    // A search's page says how many it cannot find yet; a list without one, none.
    let unsearched = |q: &'static str, department: &'static str| {
        let (app, admin) = (&app, &admin);
        async move {
            let form = [("query[q]", q), ("query[department]", department)];
            let page: ContactPage = app.json(admin, "list_contacts", &form).await;
            page.unsearched
        }
    };
    assert_eq!(unsearched("jo", "").await, 600);
    assert_eq!(unsearched("m", "Sales").await, 600);
    // PostgreSQL's trigram index, which answers three characters or more, is
    // written with the rows.
    assert_eq!(unsearched("john", "").await, if sqlite { 600 } else { 0 });
    assert_eq!(unsearched("", "Sales").await, 0);
    assert_eq!(unsearched("", "").await, 0);
    // A third placed: the rest still waits.
    let tx = app::backend::db::begin_write(&app.db).await.unwrap();
    let placed = directory::place_some(&tx, org, 200).await.unwrap();
    tx.commit().await.unwrap();
    assert_eq!(placed, 200);
    check(true).await;
    assert_eq!(unsearched("jo", "").await, 400);
    // A contact added by hand meanwhile is found at once (on SQLite it is
    // placed with its own save, and with it a backlog this small).
    app.create(
        &admin,
        &[
            ("draft[first_name]", "Zed"),
            ("draft[last_name]", "Quill"),
            ("draft[email]", "zed@example.com"),
        ],
    )
    .await;
    let (total, _) = walk(&app, &admin, &[("query[q]", "zed quill")]).await;
    assert_eq!(total, 1);
    // All placed: the text index answers, the same.
    let tx = app::backend::db::begin_write(&app.db).await.unwrap();
    directory::place_all(&tx, org).await.unwrap();
    tx.commit().await.unwrap();
    assert_eq!(directory::unplaced(&app.db, org, None).await.unwrap(), 0);
    assert_keys_follow_name_order(&app).await;
    check(false).await;
    assert_eq!(unsearched("jo", "").await, 0);
}

#[derive(FromQueryResult)]
struct Versioned {
    id: i64,
    version: i64,
}

/// An upload's changes to contacts already in the index (SQLite: their old
/// entries stay, parked, until the catch-up rewrites them) are listed and
/// filterable at once, and searched exactly once the index has caught up,
/// whatever a person did to the parked contacts meanwhile.
#[tokio::test]
async fn an_upload_s_changes_reach_the_index_when_it_catches_up() {
    use app::backend::directory::{self, bulk};
    use app::backend::domain::Label;
    use rand::SeedableRng;
    let app = TestApp::spawn().await;
    let admin = app.org_admin("Acme", "admin@acme.example").await;
    let org = OrgId::trusted(1);
    let mut rng = rand::rngs::SmallRng::seed_from_u64(12);
    let people: Vec<_> = (0..400)
        .map(|n| app::backend::demo::sample(&mut rng, n))
        .collect();
    let tx = app::backend::db::begin_write(&app.db).await.unwrap();
    let mut groups = bulk::GroupIds::new(org, "CSV upload");
    let refs: Vec<_> = people.iter().collect();
    let ids = bulk::insert_many(&tx, org, &refs, "CSV upload", &mut groups, None, false)
        .await
        .unwrap();
    directory::place_all(&tx, org).await.unwrap();
    tx.commit().await.unwrap();

    // An upload moves every other one to Parkside.
    let mut sql =
        app::backend::db::Sql::new(sea_orm::ConnectionTrait::get_database_backend(&app.db));
    sql.push("SELECT id, version FROM contacts");
    let versions: std::collections::HashMap<i64, i64> = sql
        .all::<Versioned>(&app.db)
        .await
        .unwrap()
        .into_iter()
        .map(|v| (v.id, v.version))
        .collect();
    let moved: Vec<(i64, _)> = ids
        .iter()
        .zip(&people)
        .step_by(2)
        .map(|(id, c)| {
            let mut c = c.clone();
            c.department = Label::parse("Parkside").unwrap();
            (*id, c)
        })
        .collect();
    let derived: Vec<_> = moved.iter().map(|(_, c)| bulk::Derived::of(c)).collect();
    let rows: Vec<_> = moved
        .iter()
        .zip(&derived)
        .map(|((id, c), d)| {
            (
                *id,
                versions[id],
                (c, d),
                bulk::Changed::of_fields(["department"]),
            )
        })
        .collect();
    let tx = app::backend::db::begin_write(&app.db).await.unwrap();
    bulk::overwrite_many(&tx, org, &rows).await.unwrap();
    tx.commit().await.unwrap();
    let sqlite =
        sea_orm::ConnectionTrait::get_database_backend(&app.db) == sea_orm::DbBackend::Sqlite;
    assert_eq!(
        directory::unplaced(&app.db, org, None).await.unwrap(),
        if sqlite { 200 } else { 0 }
    );
    // Filters alone find every contact by its new values.
    let everyone = stored(&app, false).await;
    for query in [
        ("", "Parkside", "", ""),
        ("", "Engineering", "", ""),
        ("", "", "Manager", ""),
    ] {
        assert_query(&app, &admin, &everyone, query, "").await;
    }

    // Meanwhile, by hand: one parked contact deleted, one renamed, one moved again.
    let hand = |i: usize| moved[i].0.to_string();
    let res = app
        .call(&admin, "delete_contact", &[("id", hand(0).as_str())])
        .await;
    assert!(res.status().is_success(), "{}", res.status());
    for (i, first, department) in [
        (1, "Zelda", "Parkside"),
        (2, &*moved[2].1.first_name, "Harbour"),
    ] {
        let c = &moved[i].1;
        let version = (versions[&moved[i].0] + 1).to_string();
        let res = app
            .call(
                &admin,
                "update_contact",
                &[
                    ("id", hand(i).as_str()),
                    ("version", version.as_str()),
                    ("draft[first_name]", first),
                    ("draft[last_name]", &c.last_name),
                    ("draft[email]", c.email.as_ref().map_or("", |e| e.as_str())),
                    ("draft[department]", department),
                ],
            )
            .await;
        assert!(res.status().is_success(), "{}", res.status());
    }

    // Caught up: every search and filter, through the index, finds exactly
    // what the plain definition does (a deleted or rewritten entry left
    // behind would be counted).
    let tx = app::backend::db::begin_write(&app.db).await.unwrap();
    directory::place_all(&tx, org).await.unwrap();
    tx.commit().await.unwrap();
    assert_eq!(directory::unplaced(&app.db, org, None).await.unwrap(), 0);
    assert_keys_follow_name_order(&app).await;
    let everyone = stored(&app, false).await;
    assert_eq!(everyone.len(), 399);
    let mut departments: Vec<&str> = everyone
        .iter()
        .filter_map(|c| c.department.as_deref())
        .collect();
    departments.sort_unstable();
    departments.dedup();
    assert!(departments.len() > 3, "{departments:?}");
    for department in departments {
        assert_query(&app, &admin, &everyone, ("", department, "", ""), "").await;
        assert_query(&app, &admin, &everyone, ("a", department, "", ""), "").await;
    }
    for q in ["zelda", "jo", "e", "example"] {
        assert_query(&app, &admin, &everyone, (q, "", "", ""), "").await;
    }
}
