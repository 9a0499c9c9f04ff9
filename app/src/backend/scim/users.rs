//! SCIM Users (RFC 7644 section 3): each is a contact of its identity
//! provider's source, and the resource as the client wrote it, so that what a
//! client writes (every email, phone, address, extension attribute) is what it
//! reads back, while the contact's own fields are derived from it.
//!
//! An identity provider sees and changes only its own users; a `userName` is
//! unique in the organisation, ignoring case. Deriving a contact never
//! refuses a user: a value Muster cannot use (a phone number it cannot read,
//! say) leaves that contact field empty, and the resource keeps it.

use super::http::{ScimError, SCHEMA_ENTERPRISE, SCHEMA_USER};
use super::resource::{self, get_ci, lookup, meta, remove_ci, str_ci, Answer, ListQuery};
use super::sources::Caller;
use crate::backend::db::entities::{contact, group_member, scim_user, Organisation, ScimUser};
use crate::backend::db::{begin_write_in_turn, now_ms};
use crate::backend::directory::{self, place};
use crate::backend::domain::{Email, Label, Name, OrgId, PhoneE164, ValidContact, TEXT_MAX};
use crate::model::ScimScope;
use http::HeaderMap;
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait,
    PaginatorTrait, QueryFilter, QueryOrder, Set,
};
use serde_json::Value;

/// The last name of a contact whose identity provider gives none.
const NO_LAST_NAME: &str = "—";

fn of_caller(caller: &Caller) -> sea_orm::Select<ScimUser> {
    ScimUser::find()
        .filter(scim_user::Column::OrgId.eq(caller.org.get()))
        .filter(scim_user::Column::SourceId.eq(caller.source_id))
}

/// The user with SCIM id `id`, if it is the caller's.
async fn find(
    db: &impl ConnectionTrait,
    caller: &Caller,
    id: &str,
) -> Result<scim_user::Model, ScimError> {
    let missing = || ScimError::not_found(format!("No user {id:?}."));
    let id: i64 = id.parse().map_err(|_| missing())?;
    of_caller(caller)
        .filter(scim_user::Column::ContactId.eq(id))
        .one(db)
        .await?
        .ok_or_else(missing)
}

/// The resource as answered: what the client wrote, with `schemas`, `id`
/// and `meta`.
fn answer(row: &scim_user::Model, base: &str) -> Result<Answer, ScimError> {
    let mut body: Value = serde_json::from_str(&row.resource).map_err(ScimError::internal)?;
    let map = body
        .as_object_mut()
        .ok_or_else(|| ScimError::internal("a stored user is not an object"))?;
    let mut schemas = vec![Value::from(SCHEMA_USER)];
    if resource::key_ci(map, SCHEMA_ENTERPRISE).is_some() {
        schemas.push(SCHEMA_ENTERPRISE.into());
    }
    map.insert("schemas".into(), Value::Array(schemas));
    map.insert("id".into(), row.contact_id.to_string().into());
    map.insert(
        "meta".into(),
        meta(
            "User",
            &format!("{base}/Users/{}", row.contact_id),
            row.created_at,
            row.updated_at,
            row.version,
        ),
    );
    Ok(Answer {
        id: row.contact_id,
        version: row.version,
        body,
    })
}

/// What is stored of a resource a client sent: without what the server
/// decides (`id`, `meta`, `schemas`), what is never returned (`password`)
/// and what is read-only (`groups`); `active` as a boolean (Entra sends
/// `"True"`); the manager as an object. The userName is required.
fn normalise(mut body: Value) -> Result<(Value, String), ScimError> {
    let map = body
        .as_object_mut()
        .ok_or_else(|| ScimError::bad("invalidSyntax", "A user must be a JSON object."))?;
    for key in ["id", "meta", "schemas", "password", "groups"] {
        remove_ci(map, key);
    }
    // Entra sends attributes it has no value for as null: they are absent.
    map.retain(|_, v| !Value::is_null(v));
    if let Some(k) = resource::key_ci(map, "active") {
        let flag = match &map[&k] {
            Value::Bool(b) => Some(*b),
            Value::String(s) if s.eq_ignore_ascii_case("true") => Some(true),
            Value::String(s) if s.eq_ignore_ascii_case("false") => Some(false),
            Value::Null => None,
            other => {
                return Err(ScimError::bad(
                    "invalidValue",
                    format!("active must be true or false, not {other}."),
                ))
            }
        };
        match flag {
            Some(b) => map.insert(k, b.into()),
            None => map.remove(&k),
        };
    }
    if let Some(k) = resource::key_ci(map, SCHEMA_ENTERPRISE) {
        match map.get_mut(&k) {
            Some(Value::Object(ext)) => {
                remove_ci(ext, "schemas");
                ext.retain(|_, v| !Value::is_null(v));
                if let Some(mk) = resource::key_ci(ext, "manager") {
                    if let Value::String(id) = &ext[&mk] {
                        let id = id.clone();
                        ext.insert(mk, serde_json::json!({ "value": id }));
                    }
                }
            }
            Some(Value::Null) => {
                map.remove(&k);
            }
            _ => {
                return Err(ScimError::bad(
                    "invalidValue",
                    "The enterprise extension must be an object.",
                ))
            }
        }
    }
    let user_name = match get_ci(&body, "userName") {
        Some(Value::String(s)) if !s.trim().is_empty() => s.trim().to_string(),
        Some(Value::String(_)) | None | Some(Value::Null) => {
            return Err(ScimError::bad("invalidValue", "userName is required."))
        }
        Some(_) => return Err(ScimError::bad("invalidValue", "userName must be a string.")),
    };
    Ok((body, user_name))
}

/// A name cut to what a contact holds.
fn fit_name(s: &str) -> Option<Name> {
    let cut: String = s.chars().take(TEXT_MAX).collect();
    Name::parse(&cut).ok()
}

fn fit_label(s: Option<&str>) -> Option<Label> {
    let cut: String = s?.chars().take(TEXT_MAX).collect();
    Label::parse(&cut).ok().flatten()
}

/// The element of multi-valued attribute `attr` a contact takes its value
/// from: the one of type `kind`, else the primary one, else the first.
fn pick<'a>(user: &'a Value, attr: &str, kind: &str) -> Option<&'a Value> {
    let items = get_ci(user, attr)?.as_array()?;
    let typed = |t: &str| {
        items
            .iter()
            .find(|i| str_ci(i, "type").is_some_and(|x| x.eq_ignore_ascii_case(t)))
    };
    typed(kind)
        .or_else(|| {
            items
                .iter()
                .find(|i| get_ci(i, "primary") == Some(&Value::Bool(true)))
        })
        .or_else(|| items.first())
}

/// The contact a user stands for, and whether it is active (absent: yes).
pub fn derive(user: &Value, user_name: &str, region: &str) -> (ValidContact, bool) {
    let name = get_ci(user, "name");
    let part = |key: &str| name.and_then(|n| str_ci(n, key));
    let display = str_ci(user, "displayName").or_else(|| part("formatted"));
    let (display_first, display_rest) = match display.map(|d| d.split_once(' ')) {
        Some(Some((a, b))) => (Some(a), Some(b)),
        Some(None) => (display, None),
        None => (None, None),
    };
    let local = user_name.split('@').next().unwrap_or(user_name);
    let first = part("givenName")
        .or(display_first)
        .and_then(fit_name)
        .or_else(|| fit_name(local))
        .or_else(|| fit_name(user_name));
    let last = part("familyName")
        .or(display_rest)
        .and_then(fit_name)
        .or_else(|| fit_name(NO_LAST_NAME));
    let email = pick(user, "emails", "work")
        .and_then(|e| str_ci(e, "value"))
        .and_then(|e| Email::parse(e).ok())
        .or_else(|| Email::parse(user_name).ok());
    let phone = pick(user, "phoneNumbers", "mobile")
        .and_then(|p| str_ci(p, "value"))
        .and_then(|p| PhoneE164::parse(p, region).ok());
    let enterprise = get_ci(user, SCHEMA_ENTERPRISE);
    let location = pick(user, "addresses", "work").and_then(|a| {
        str_ci(a, "locality")
            .or_else(|| str_ci(a, "region"))
            .or_else(|| str_ci(a, "country"))
    });
    let contact = ValidContact {
        // Both fall back to texts that always parse.
        first_name: first.unwrap_or_else(|| Name::parse("?").expect("a name")),
        last_name: last.unwrap_or_else(|| Name::parse("?").expect("a name")),
        email,
        phone,
        department: fit_label(enterprise.and_then(|e| str_ci(e, "department"))),
        role: fit_label(str_ci(user, "title")),
        location: fit_label(location),
        groups: Vec::new(),
    };
    let active = get_ci(user, "active") != Some(&Value::Bool(false));
    (contact, active)
}

async fn region(db: &impl ConnectionTrait, org: OrgId) -> Result<String, ScimError> {
    Ok(Organisation::find_by_id(org.get())
        .one(db)
        .await?
        .map(|o| o.default_region)
        .unwrap_or_default())
}

async fn user_name_taken(
    db: &impl ConnectionTrait,
    org: OrgId,
    lower: &str,
    except: Option<i64>,
) -> Result<bool, ScimError> {
    let mut q = ScimUser::find()
        .filter(scim_user::Column::OrgId.eq(org.get()))
        .filter(scim_user::Column::UserNameLower.eq(lower));
    if let Some(id) = except {
        q = q.filter(scim_user::Column::ContactId.ne(id));
    }
    Ok(q.count(db).await? > 0)
}

/// The contact other than `except` that has `email`, if any.
async fn email_holder(
    db: &impl ConnectionTrait,
    org: OrgId,
    email: Option<&Email>,
    except: Option<i64>,
) -> Result<Option<contact::Model>, ScimError> {
    let Some(email) = email else { return Ok(None) };
    let mut q = contact::Entity::find()
        .filter(contact::Column::OrgId.eq(org.get()))
        .filter(contact::Column::EmailLower.eq(email.lower()));
    if let Some(id) = except {
        q = q.filter(contact::Column::Id.ne(id));
    }
    Ok(q.one(db).await?)
}

fn email_conflict(email: &Email, holder: &contact::Model) -> ScimError {
    ScimError::conflict(format!(
        "{email} is the email of another contact in Muster (Source: {}). Remove it there, or let this identity provider manage all contacts so that it links to it.",
        holder.source
    ))
}

/// Make a contact (`row`, as read) the identity provider's: its fields,
/// state, source and link from the user, writing only what changes. Whether
/// it was renamed (and so needs a [`place`]).
async fn write_contact(
    tx: &impl ConnectionTrait,
    caller: &Caller,
    mut row: contact::ActiveModel,
    c: &ValidContact,
    active: bool,
) -> Result<bool, ScimError> {
    let renamed = directory::set_fields(&mut row, c);
    row.active.set_if_not_equals(active);
    row.source.set_if_not_equals(caller.source_name.clone());
    row.scim_source_id.set_if_not_equals(Some(caller.source_id));
    directory::save_changes(tx, caller.org, row)
        .await
        .map_err(conflict_or)?;
    Ok(renamed)
}

/// POST /Users.
pub async fn create(
    db: &DatabaseConnection,
    caller: &Caller,
    base: &str,
    body: Value,
) -> Result<Answer, ScimError> {
    let (resource, user_name) = normalise(body)?;
    let lower = user_name.to_lowercase();
    let region = region(db, caller.org).await?;
    let (c, active) = derive(&resource, &user_name, &region);
    let (_turn, tx) = begin_write_in_turn(db).await?;
    if user_name_taken(&tx, caller.org, &lower, None).await? {
        return Err(ScimError::conflict(format!(
            "A user with userName {user_name:?} already exists."
        )));
    }
    let holder = email_holder(&tx, caller.org, c.email.as_ref(), None).await?;
    let id = match holder {
        None => {
            let mut row = directory::new_row(caller.org, &c, &caller.source_name);
            row.active = Set(active);
            row.scim_source_id = Set(Some(caller.source_id));
            contact::Entity::insert(row)
                .exec(&tx)
                .await
                .map_err(conflict_or)?
                .last_insert_id
        }
        Some(h) => {
            // A contact this provider deleted and kept, or (managing all
            // contacts) one nobody else keeps: the user takes it over.
            let kept = h.scim_source_id == Some(caller.source_id);
            let free = caller.scope == ScimScope::All
                && h.integration_id.is_none()
                && h.scim_source_id.is_none();
            if !(kept || free) {
                let email = c.email.as_ref().expect("a holder means an email");
                return Err(email_conflict(email, &h));
            }
            let id = h.id;
            let adopted = free.then(|| h.source.clone());
            let mut row = contact::ActiveModel::from(h);
            if adopted.is_some() {
                row.adopted_source = Set(adopted);
            }
            write_contact(&tx, caller, row, &c, active).await?;
            id
        }
    };
    let now = now_ms();
    let row = scim_user::ActiveModel {
        contact_id: Set(id),
        org_id: Set(caller.org.get()),
        source_id: Set(caller.source_id),
        user_name: Set(user_name),
        user_name_lower: Set(lower),
        external_id: Set(str_ci(&resource, "externalId").map(str::to_string)),
        resource: Set(resource.to_string()),
        version: Set(1),
        created_at: Set(now),
        updated_at: Set(now),
    };
    let row = ScimUser::insert(row)
        .exec_with_returning(&tx)
        .await
        .map_err(conflict_or)?;
    place(&tx, caller.org).await?;
    tx.commit().await?;
    answer(&row, base)
}

/// A unique index broken by a concurrent write is a conflict.
fn conflict_or(e: sea_orm::DbErr) -> ScimError {
    if crate::backend::db::is_unique_violation(&e) {
        ScimError::conflict("The userName or email is already taken.")
    } else {
        e.into()
    }
}

/// GET /Users/{id}.
pub async fn get(
    db: &DatabaseConnection,
    caller: &Caller,
    base: &str,
    id: &str,
) -> Result<Answer, ScimError> {
    answer(&find(db, caller, id).await?, base)
}

/// PUT /Users/{id}: the resource becomes `body`.
pub async fn replace(
    db: &DatabaseConnection,
    caller: &Caller,
    base: &str,
    id: &str,
    headers: &HeaderMap,
    body: Value,
) -> Result<Answer, ScimError> {
    let (resource, user_name) = normalise(body)?;
    let region = region(db, caller.org).await?;
    let (_turn, tx) = begin_write_in_turn(db).await?;
    let row = find(&tx, caller, id).await?;
    resource::check_if_match(headers, row.version)?;
    let row = write(&tx, caller, &region, row, resource, user_name).await?;
    tx.commit().await?;
    answer(&row, base)
}

/// PATCH /Users/{id}: `body`'s operations, applied to the stored resource.
pub async fn patch(
    db: &DatabaseConnection,
    caller: &Caller,
    base: &str,
    id: &str,
    headers: &HeaderMap,
    body: Value,
) -> Result<Answer, ScimError> {
    let region = region(db, caller.org).await?;
    let (_turn, tx) = begin_write_in_turn(db).await?;
    let row = find(&tx, caller, id).await?;
    resource::check_if_match(headers, row.version)?;
    let mut resource: Value = serde_json::from_str(&row.resource).map_err(ScimError::internal)?;
    super::patch::apply(&mut resource, &body).map_err(|e| ScimError::bad(e.scim_type, e.detail))?;
    let (resource, user_name) = normalise(resource)?;
    let row = write(&tx, caller, &region, row, resource, user_name).await?;
    tx.commit().await?;
    answer(&row, base)
}

/// Store a user's new resource and the contact derived from it, writing
/// only what changes: a PATCH that changes nothing writes nothing, and keeps
/// the user's version.
async fn write(
    tx: &impl ConnectionTrait,
    caller: &Caller,
    region: &str,
    row: scim_user::Model,
    resource: Value,
    user_name: String,
) -> Result<scim_user::Model, ScimError> {
    let lower = user_name.to_lowercase();
    if lower != row.user_name_lower
        && user_name_taken(tx, caller.org, &lower, Some(row.contact_id)).await?
    {
        return Err(ScimError::conflict(format!(
            "A user with userName {user_name:?} already exists."
        )));
    }
    let (c, active) = derive(&resource, &user_name, region);
    let was = contact::Entity::find_by_id(row.contact_id)
        .filter(contact::Column::OrgId.eq(caller.org.get()))
        .one(tx)
        .await?
        .ok_or_else(|| ScimError::internal("a user without its contact"))?;
    let email_lower = c.email.as_ref().map(|e| e.lower());
    if email_lower.is_some() && email_lower != was.email_lower {
        if let Some(h) = email_holder(tx, caller.org, c.email.as_ref(), Some(was.id)).await? {
            let email = c.email.as_ref().expect("a holder means an email");
            return Err(email_conflict(email, &h));
        }
    }
    if write_contact(tx, caller, was.into(), &c, active).await? {
        place(tx, caller.org).await?;
    }
    let external_id = str_ci(&resource, "externalId").map(str::to_string);
    let resource = resource.to_string();
    // The userName is the resource's: the same resource, the same user.
    if resource == row.resource {
        return Ok(row);
    }
    let mut next = scim_user::ActiveModel::from(row);
    next.user_name.set_if_not_equals(user_name);
    next.user_name_lower.set_if_not_equals(lower);
    next.external_id.set_if_not_equals(external_id);
    next.resource = Set(resource);
    next.version = Set(next.version.as_ref() + 1);
    next.updated_at = Set(now_ms());
    let next = next.update(tx).await.map_err(conflict_or)?;
    Ok(next)
}

/// DELETE /Users/{id}: the contact goes, or (if the source keeps deleted
/// users) stays deactivated and no longer a SCIM user.
pub async fn delete(
    db: &DatabaseConnection,
    caller: &Caller,
    id: &str,
    headers: &HeaderMap,
) -> Result<(), ScimError> {
    let (_turn, tx) = begin_write_in_turn(db).await?;
    let row = find(&tx, caller, id).await?;
    resource::check_if_match(headers, row.version)?;
    super::groups::forget_member(&tx, caller, row.contact_id).await?;
    ScimUser::delete_by_id(row.contact_id).exec(&tx).await?;
    if caller.keep_deleted {
        contact::Entity::update_many()
            .col_expr(contact::Column::Active, Expr::value(false))
            .col_expr(
                contact::Column::Version,
                Expr::col(contact::Column::Version).add(1),
            )
            .col_expr(contact::Column::UpdatedAt, Expr::value(now_ms()))
            .filter(contact::Column::Id.eq(row.contact_id))
            .filter(contact::Column::OrgId.eq(caller.org.get()))
            .exec(&tx)
            .await?;
    } else {
        group_member::Entity::delete_many()
            .filter(group_member::Column::ContactId.eq(row.contact_id))
            .exec(&tx)
            .await?;
        contact::Entity::delete_many()
            .filter(contact::Column::Id.eq(row.contact_id))
            .filter(contact::Column::OrgId.eq(caller.org.get()))
            .exec(&tx)
            .await?;
    }
    tx.commit().await?;
    Ok(())
}

/// GET /Users and POST /Users/.search: one page of the caller's users that
/// match the filter, in the order they were created.
pub async fn list(
    db: &DatabaseConnection,
    caller: &Caller,
    base: &str,
    q: &ListQuery,
) -> Result<(Vec<Value>, usize), ScimError> {
    let mut select = of_caller(caller).order_by_asc(scim_user::Column::ContactId);
    if let Some(f) = &q.filter {
        // An equality on an indexed attribute narrows the rows read; the
        // whole filter is still matched below.
        match lookup(f, &["userName", "externalId", "id"]) {
            Some(("userName", v)) => {
                select = select.filter(scim_user::Column::UserNameLower.eq(v.to_lowercase()))
            }
            Some(("externalId", v)) => select = select.filter(scim_user::Column::ExternalId.eq(v)),
            Some((_, v)) => match v.parse::<i64>() {
                Ok(id) => select = select.filter(scim_user::Column::ContactId.eq(id)),
                Err(_) => return Ok((Vec::new(), 0)),
            },
            None => {}
        }
    }
    resource::page(
        db,
        select,
        scim_user::Column::ContactId,
        |row| row.contact_id,
        |row| answer(row, base),
        q,
    )
    .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_contact_is_derived_from_what_the_user_says() {
        let user = json!({
            "userName": "bjensen@example.com",
            "name": {"givenName": "Barbara", "familyName": "Jensen"},
            "title": "Tour Guide",
            "emails": [
                {"value": "home@example.org", "type": "home"},
                {"value": "Babs@Example.com", "type": "work"}
            ],
            "phoneNumbers": [{"value": "555-0100", "type": "work"}, {"value": "+44 7400 123456", "type": "mobile"}],
            "addresses": [{"type": "work", "locality": "Hollywood"}],
            SCHEMA_ENTERPRISE: {"department": "Tour Operations"},
            "active": false
        });
        let (c, active) = derive(&user, "bjensen@example.com", "GB");
        assert_eq!(c.first_name.as_str(), "Barbara");
        assert_eq!(c.last_name.as_str(), "Jensen");
        assert_eq!(c.email.unwrap().as_str(), "Babs@Example.com");
        assert_eq!(c.phone.unwrap().as_str(), "+447400123456");
        assert_eq!(c.department.unwrap().as_str(), "Tour Operations");
        assert_eq!(c.role.unwrap().as_str(), "Tour Guide");
        assert_eq!(c.location.unwrap().as_str(), "Hollywood");
        assert!(!active);
    }

    #[test]
    fn a_sparse_user_still_makes_a_contact() {
        let (c, active) = derive(&json!({"userName": "1f0c-uuid"}), "1f0c-uuid", "US");
        assert_eq!(c.first_name.as_str(), "1f0c-uuid");
        assert_eq!(c.last_name.as_str(), NO_LAST_NAME);
        assert!(c.email.is_none() && c.phone.is_none());
        assert!(active);
        let (c, _) = derive(
            &json!({"userName": "a@b.co", "displayName": "Ann Lee Smith", "phoneNumbers": [{"value": "not a number"}]}),
            "a@b.co",
            "US",
        );
        assert_eq!(
            (c.first_name.as_str(), c.last_name.as_str()),
            ("Ann", "Lee Smith")
        );
        assert_eq!(c.email.unwrap().as_str(), "a@b.co");
        assert!(c.phone.is_none());
    }

    #[test]
    fn normalising_keeps_what_the_client_wrote_but_server_fields() {
        let (r, name) = normalise(json!({
            "schemas": [SCHEMA_USER], "id": "9", "meta": {}, "password": "p", "groups": [],
            "userName": " bjensen ", "active": "False", "addresses": null, "title": null,
            SCHEMA_ENTERPRISE: {"schemas": [SCHEMA_ENTERPRISE], "manager": "42", "department": null},
            "x509Certificates": [{"value": "MIIC"}]
        }))
        .unwrap();
        assert_eq!(name, "bjensen");
        assert_eq!(
            r,
            json!({
                "userName": " bjensen ", "active": false,
                SCHEMA_ENTERPRISE: {"manager": {"value": "42"}},
                "x509Certificates": [{"value": "MIIC"}]
            })
        );
        for bad in [
            json!({}),
            json!({"userName": ""}),
            json!({"userName": 3}),
            json!({"userName": "a", "active": "maybe"}),
        ] {
            assert_eq!(
                normalise(bad).unwrap_err().status,
                http::StatusCode::BAD_REQUEST
            );
        }
    }
}
