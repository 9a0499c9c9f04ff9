//! SCIM Groups: each is a group of its identity provider's source (usable as
//! recipients like a synced group, read-only in Muster) and the resource as
//! the client wrote it, members included, so that `display` and `$ref` read
//! back as sent. The members are also the group's memberships, which is
//! what Muster uses: every member must be a user of the same identity
//! provider. A `displayName` is unique among one identity provider's groups
//! (Entra ID requires it).

use super::http::{ScimError, SCHEMA_GROUP};
use super::resource::{self, get_ci, key_ci, lookup, meta, remove_ci, str_ci, Answer, ListQuery};
use super::sources::Caller;
use crate::backend::db::entities::{
    contact_group, group_member, scim_group, scim_user, ContactGroup, GroupMember, ScimGroup,
    ScimUser,
};
use crate::backend::db::{begin_write_in_turn, now_ms};
use crate::backend::directory::bulk;
use crate::backend::domain::TEXT_MAX;
use http::HeaderMap;
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, PaginatorTrait, QueryFilter,
    QueryOrder, QuerySelect, Set,
};
use serde_json::Value;
use std::collections::{BTreeSet, HashSet};

/// Member ids checked per statement.
const MEMBER_CHUNK: usize = 1000;

fn of_caller(caller: &Caller) -> sea_orm::Select<ScimGroup> {
    ScimGroup::find()
        .filter(scim_group::Column::OrgId.eq(caller.org.get()))
        .filter(scim_group::Column::SourceId.eq(caller.source_id))
}

async fn find(
    db: &impl ConnectionTrait,
    caller: &Caller,
    id: &str,
) -> Result<scim_group::Model, ScimError> {
    let missing = || ScimError::not_found(format!("No group {id:?}."));
    let id = parse_id(id).ok_or_else(missing)?;
    of_caller(caller)
        .filter(scim_group::Column::GroupId.eq(id))
        .one(db)
        .await?
        .ok_or_else(missing)
}

/// A group's SCIM id: its group id behind a `g`, so that no group has a
/// user's id (a search at the root lists both).
pub fn scim_id(group_id: i64) -> String {
    format!("g{group_id}")
}

fn parse_id(id: &str) -> Option<i64> {
    id.strip_prefix('g')?.parse().ok()
}

/// The resource as answered, with `schemas`, `id` and `meta`; `members`
/// as written (an empty list when there are none).
fn answer(row: &scim_group::Model, base: &str) -> Result<Answer, ScimError> {
    let mut body: Value = serde_json::from_str(&row.resource).map_err(ScimError::internal)?;
    let map = body
        .as_object_mut()
        .ok_or_else(|| ScimError::internal("a stored group is not an object"))?;
    map.insert("schemas".into(), Value::Array(vec![SCHEMA_GROUP.into()]));
    map.insert("id".into(), scim_id(row.group_id).into());
    if key_ci(map, "members").is_none() {
        map.insert("members".into(), Value::Array(Vec::new()));
    }
    map.insert(
        "meta".into(),
        meta(
            "Group",
            &format!("{base}/Groups/{}", scim_id(row.group_id)),
            row.created_at,
            row.updated_at,
            row.version,
        ),
    );
    Ok(Answer {
        id: row.group_id,
        version: row.version,
        body,
    })
}

/// What is stored of a group a client sent, with its display name (required)
/// and its members' SCIM ids.
fn normalise(mut body: Value) -> Result<(Value, String, Vec<String>), ScimError> {
    let map = body
        .as_object_mut()
        .ok_or_else(|| ScimError::bad("invalidSyntax", "A group must be a JSON object."))?;
    for key in ["id", "meta", "schemas"] {
        remove_ci(map, key);
    }
    map.retain(|_, v| !Value::is_null(v));
    if let Some(k) = key_ci(map, "members") {
        if let Some(Value::Array(items)) = map.get_mut(&k) {
            for item in items.iter_mut().filter_map(Value::as_object_mut) {
                item.retain(|_, v| !Value::is_null(v));
            }
        }
    }
    let name = match get_ci(&body, "displayName") {
        Some(Value::String(s)) if !s.trim().is_empty() => s.trim().to_string(),
        Some(Value::String(_)) | None => {
            return Err(ScimError::bad("invalidValue", "displayName is required."))
        }
        Some(_) => {
            return Err(ScimError::bad(
                "invalidValue",
                "displayName must be a string.",
            ))
        }
    };
    if name.chars().count() > TEXT_MAX {
        return Err(ScimError::bad(
            "invalidValue",
            format!("displayName is at most {TEXT_MAX} characters."),
        ));
    }
    let members = match get_ci(&body, "members") {
        None => Vec::new(),
        Some(Value::Array(items)) => items
            .iter()
            .map(|m| match get_ci(m, "value") {
                Some(Value::String(s)) => Ok(s.trim().to_string()),
                Some(Value::Number(n)) => Ok(n.to_string()),
                _ => Err(ScimError::bad(
                    "invalidValue",
                    "Each member needs a value: the id of a user.",
                )),
            })
            .collect::<Result<_, _>>()?,
        Some(_) => return Err(ScimError::bad("invalidValue", "members must be a list.")),
    };
    Ok((body, name, members))
}

/// The contact ids of `members`: each must be a user of the caller.
async fn member_ids(
    db: &impl ConnectionTrait,
    caller: &Caller,
    members: &[String],
) -> Result<BTreeSet<i64>, ScimError> {
    let mut wanted = BTreeSet::new();
    let mut unknown = Vec::new();
    for m in members {
        match m.parse::<i64>() {
            Ok(id) => {
                wanted.insert(id);
            }
            Err(_) => unknown.push(m.clone()),
        }
    }
    let ids: Vec<i64> = wanted.iter().copied().collect();
    let mut found = HashSet::with_capacity(ids.len());
    for chunk in ids.chunks(MEMBER_CHUNK) {
        let rows: Vec<i64> = ScimUser::find()
            .select_only()
            .column(scim_user::Column::ContactId)
            .filter(scim_user::Column::OrgId.eq(caller.org.get()))
            .filter(scim_user::Column::SourceId.eq(caller.source_id))
            .filter(scim_user::Column::ContactId.is_in(chunk.iter().copied()))
            .into_tuple()
            .all(db)
            .await?;
        found.extend(rows);
    }
    unknown.extend(
        ids.iter()
            .filter(|i| !found.contains(i))
            .map(i64::to_string),
    );
    if !unknown.is_empty() {
        unknown.truncate(10);
        return Err(ScimError::bad(
            "invalidValue",
            format!(
                "These members are not users of this identity provider: {}.",
                unknown.join(", ")
            ),
        ));
    }
    Ok(wanted)
}

/// Make group `id`'s memberships exactly `wanted`.
async fn set_members(
    tx: &impl ConnectionTrait,
    id: i64,
    wanted: &BTreeSet<i64>,
) -> Result<(), ScimError> {
    let current: BTreeSet<i64> = GroupMember::find()
        .select_only()
        .column(group_member::Column::ContactId)
        .filter(group_member::Column::GroupId.eq(id))
        .into_tuple::<i64>()
        .all(tx)
        .await?
        .into_iter()
        .collect();
    let gone: Vec<(i64, i64)> = current.difference(wanted).map(|c| (id, *c)).collect();
    let new: Vec<(i64, i64)> = wanted.difference(&current).map(|c| (id, *c)).collect();
    bulk::remove_members(tx, &gone).await?;
    bulk::add_members(tx, new).await?;
    Ok(())
}

async fn name_taken(
    db: &impl ConnectionTrait,
    caller: &Caller,
    lower: &str,
    except: Option<i64>,
) -> Result<bool, ScimError> {
    let mut q = of_caller(caller).filter(scim_group::Column::DisplayNameLower.eq(lower));
    if let Some(id) = except {
        q = q.filter(scim_group::Column::GroupId.ne(id));
    }
    Ok(q.count(db).await? > 0)
}

fn name_conflict(name: &str) -> ScimError {
    ScimError::conflict(format!("A group named {name:?} already exists."))
}

/// POST /Groups.
pub async fn create(
    db: &DatabaseConnection,
    caller: &Caller,
    base: &str,
    body: Value,
) -> Result<Answer, ScimError> {
    let (resource, name, members) = normalise(body)?;
    let lower = name.to_lowercase();
    let (_turn, tx) = begin_write_in_turn(db).await?;
    if name_taken(&tx, caller, &lower, None).await? {
        return Err(name_conflict(&name));
    }
    let wanted = member_ids(&tx, caller, &members).await?;
    let now = now_ms();
    let group = contact_group::ActiveModel {
        org_id: Set(caller.org.get()),
        name: Set(name),
        name_lower: Set(lower.clone()),
        source: Set(caller.source_name.clone()),
        created_at: Set(now),
        integration_id: Set(None),
        external_id: Set(str_ci(&resource, "externalId").map(str::to_string)),
        scim_source_id: Set(Some(caller.source_id)),
        ..Default::default()
    };
    let id = ContactGroup::insert(group).exec(&tx).await?.last_insert_id;
    let row = scim_group::ActiveModel {
        group_id: Set(id),
        org_id: Set(caller.org.get()),
        source_id: Set(caller.source_id),
        display_name_lower: Set(lower),
        external_id: Set(str_ci(&resource, "externalId").map(str::to_string)),
        resource: Set(resource.to_string()),
        version: Set(1),
        created_at: Set(now),
        updated_at: Set(now),
    };
    let row = ScimGroup::insert(row).exec_with_returning(&tx).await?;
    set_members(&tx, id, &wanted).await?;
    tx.commit().await?;
    answer(&row, base)
}

/// GET /Groups/{id}.
pub async fn get(
    db: &DatabaseConnection,
    caller: &Caller,
    base: &str,
    id: &str,
) -> Result<Answer, ScimError> {
    answer(&find(db, caller, id).await?, base)
}

/// PUT /Groups/{id}: the group becomes `body`, members included.
pub async fn replace(
    db: &DatabaseConnection,
    caller: &Caller,
    base: &str,
    id: &str,
    headers: &HeaderMap,
    body: Value,
) -> Result<Answer, ScimError> {
    let (_turn, tx) = begin_write_in_turn(db).await?;
    let row = find(&tx, caller, id).await?;
    resource::check_if_match(headers, row.version)?;
    let row = write(&tx, caller, row, body).await?;
    tx.commit().await?;
    answer(&row, base)
}

/// PATCH /Groups/{id}.
pub async fn patch(
    db: &DatabaseConnection,
    caller: &Caller,
    base: &str,
    id: &str,
    headers: &HeaderMap,
    body: Value,
) -> Result<Answer, ScimError> {
    let (_turn, tx) = begin_write_in_turn(db).await?;
    let row = find(&tx, caller, id).await?;
    resource::check_if_match(headers, row.version)?;
    let mut resource: Value = serde_json::from_str(&row.resource).map_err(ScimError::internal)?;
    super::patch::apply(&mut resource, &body).map_err(|e| ScimError::bad(e.scim_type, e.detail))?;
    let row = write(&tx, caller, row, resource).await?;
    tx.commit().await?;
    answer(&row, base)
}

/// Store a group's new resource, its name and its memberships.
async fn write(
    tx: &impl ConnectionTrait,
    caller: &Caller,
    row: scim_group::Model,
    body: Value,
) -> Result<scim_group::Model, ScimError> {
    let (resource, name, members) = normalise(body)?;
    let lower = name.to_lowercase();
    if lower != row.display_name_lower && name_taken(tx, caller, &lower, Some(row.group_id)).await?
    {
        return Err(name_conflict(&name));
    }
    let wanted = member_ids(tx, caller, &members).await?;
    let external_id = str_ci(&resource, "externalId").map(str::to_string);
    ContactGroup::update_many()
        .col_expr(contact_group::Column::Name, Expr::value(name))
        .col_expr(contact_group::Column::NameLower, Expr::value(lower.clone()))
        .col_expr(
            contact_group::Column::ExternalId,
            Expr::value(external_id.clone()),
        )
        .filter(contact_group::Column::Id.eq(row.group_id))
        .filter(contact_group::Column::OrgId.eq(caller.org.get()))
        .exec(tx)
        .await?;
    set_members(tx, row.group_id, &wanted).await?;
    let mut next = row;
    next.display_name_lower = lower;
    next.external_id = external_id;
    next.resource = resource.to_string();
    next.version += 1;
    next.updated_at = now_ms();
    ScimGroup::update_many()
        .col_expr(
            scim_group::Column::DisplayNameLower,
            Expr::value(next.display_name_lower.clone()),
        )
        .col_expr(
            scim_group::Column::ExternalId,
            Expr::value(next.external_id.clone()),
        )
        .col_expr(
            scim_group::Column::Resource,
            Expr::value(next.resource.clone()),
        )
        .col_expr(scim_group::Column::Version, Expr::value(next.version))
        .col_expr(scim_group::Column::UpdatedAt, Expr::value(next.updated_at))
        .filter(scim_group::Column::GroupId.eq(next.group_id))
        .exec(tx)
        .await?;
    Ok(next)
}

/// DELETE /Groups/{id}: the group and its memberships go; its members stay.
pub async fn delete(
    db: &DatabaseConnection,
    caller: &Caller,
    id: &str,
    headers: &HeaderMap,
) -> Result<(), ScimError> {
    let (_turn, tx) = begin_write_in_turn(db).await?;
    let row = find(&tx, caller, id).await?;
    resource::check_if_match(headers, row.version)?;
    ScimGroup::delete_by_id(row.group_id).exec(&tx).await?;
    GroupMember::delete_many()
        .filter(group_member::Column::GroupId.eq(row.group_id))
        .exec(&tx)
        .await?;
    ContactGroup::delete_many()
        .filter(contact_group::Column::Id.eq(row.group_id))
        .filter(contact_group::Column::OrgId.eq(caller.org.get()))
        .exec(&tx)
        .await?;
    tx.commit().await?;
    Ok(())
}

/// Take contact `contact_id`, a user of the caller going away, out of the
/// caller's groups: their memberships and their resources.
pub async fn forget_member(
    tx: &impl ConnectionTrait,
    caller: &Caller,
    contact_id: i64,
) -> Result<(), ScimError> {
    let groups: Vec<i64> = GroupMember::find()
        .select_only()
        .column(group_member::Column::GroupId)
        .filter(group_member::Column::ContactId.eq(contact_id))
        .into_tuple()
        .all(tx)
        .await?;
    let id = contact_id.to_string();
    for row in of_caller(caller)
        .filter(scim_group::Column::GroupId.is_in(groups))
        .all(tx)
        .await?
    {
        let mut resource: Value =
            serde_json::from_str(&row.resource).map_err(ScimError::internal)?;
        if let Some(map) = resource.as_object_mut() {
            if let Some(k) = key_ci(map, "members") {
                if let Some(Value::Array(items)) = map.get_mut(&k) {
                    items.retain(|m| str_ci(m, "value") != Some(id.as_str()));
                }
            }
        }
        ScimGroup::update_many()
            .col_expr(
                scim_group::Column::Resource,
                Expr::value(resource.to_string()),
            )
            .col_expr(
                scim_group::Column::Version,
                Expr::col(scim_group::Column::Version).add(1),
            )
            .col_expr(scim_group::Column::UpdatedAt, Expr::value(now_ms()))
            .filter(scim_group::Column::GroupId.eq(row.group_id))
            .exec(tx)
            .await?;
    }
    GroupMember::delete_many()
        .filter(group_member::Column::ContactId.eq(contact_id))
        .filter(
            group_member::Column::GroupId.in_subquery(
                sea_orm::sea_query::Query::select()
                    .column(scim_group::Column::GroupId)
                    .from(scim_group::Entity)
                    .and_where(scim_group::Column::SourceId.eq(caller.source_id))
                    .to_owned(),
            ),
        )
        .exec(tx)
        .await?;
    Ok(())
}

/// GET /Groups and POST /Groups/.search: one page of the caller's groups
/// that match the filter, in the order they were created.
pub async fn list(
    db: &DatabaseConnection,
    caller: &Caller,
    base: &str,
    q: &ListQuery,
) -> Result<(Vec<Value>, usize), ScimError> {
    let mut select = of_caller(caller).order_by_asc(scim_group::Column::GroupId);
    if let Some(f) = &q.filter {
        match lookup(f, &["displayName", "externalId", "id"]) {
            Some(("displayName", v)) => {
                select = select.filter(scim_group::Column::DisplayNameLower.eq(v.to_lowercase()))
            }
            Some(("externalId", v)) => select = select.filter(scim_group::Column::ExternalId.eq(v)),
            Some((_, v)) => match parse_id(v) {
                Some(id) => select = select.filter(scim_group::Column::GroupId.eq(id)),
                None => return Ok((Vec::new(), 0)),
            },
            None => {}
        }
    }
    resource::page(
        db,
        select,
        scim_group::Column::GroupId,
        |row| row.group_id,
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
    fn a_group_needs_a_name_and_members_with_values() {
        let (r, name, members) = normalise(json!({
            "schemas": [SCHEMA_GROUP, "http://schemas.microsoft.com/2006/11/ResourceManagement/ADSCIM/2.0/Group"],
            "externalId": "8aa1a0c0", "displayName": " Tour Guides ", "meta": {"resourceType": "Group"},
            "members": [{"value": "12", "$ref": null, "display": "Babs"}, {"value": 13}]
        }))
        .unwrap();
        assert_eq!(name, "Tour Guides");
        assert_eq!(members, ["12", "13"]);
        assert!(r.get("schemas").is_none() && r.get("meta").is_none());
        for bad in [
            json!({}),
            json!({"displayName": " "}),
            json!({"displayName": "a", "members": [{"display": "x"}]}),
            json!({"displayName": "a", "members": {}}),
        ] {
            assert_eq!(
                normalise(bad).unwrap_err().status,
                http::StatusCode::BAD_REQUEST
            );
        }
    }
}
