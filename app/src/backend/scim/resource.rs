//! What Users and Groups share: reading list parameters (`filter`,
//! `startIndex`, `count`, `attributes`, `excludedAttributes`, from the query
//! or a `/.search` body), choosing the attributes returned, `meta` and ETags,
//! and finding a resource's keys whatever their case.

use super::filter::{parse_filter, AttrPath, CompValue, CompareOp, Filter};
use super::http::{ScimError, MAX_RESULTS, SCHEMA_ENTERPRISE};
use crate::backend::db::from_ms;
use http::{header, HeaderMap, StatusCode};
use serde::Deserialize;
use serde_json::{Map, Value};

/// A resource as answered: its body, and its id and version for the
/// `Location` and `ETag` headers.
pub struct Answer {
    pub id: i64,
    pub version: i64,
    pub body: Value,
}

/// A list request, from the query string (`GET /Users?...`) or a `/.search`
/// body.
#[derive(Debug, Default)]
pub struct ListQuery {
    pub filter: Option<Filter>,
    /// 1-based.
    pub start_index: usize,
    pub count: usize,
    pub attributes: Vec<String>,
    pub excluded: Vec<String>,
}

/// The query string's parameters, as sent.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ListParams {
    filter: Option<String>,
    start_index: Option<String>,
    count: Option<String>,
    attributes: Option<String>,
    excluded_attributes: Option<String>,
}

impl ListQuery {
    pub fn from_params(p: ListParams) -> Result<Self, ScimError> {
        let split = |s: Option<String>| -> Vec<String> {
            s.map(|s| {
                s.split(',')
                    .map(|a| a.trim().to_string())
                    .filter(|a| !a.is_empty())
                    .collect()
            })
            .unwrap_or_default()
        };
        let number = |name: &str, s: Option<String>| -> Result<Option<i64>, ScimError> {
            s.map(|s| {
                s.trim().parse::<i64>().map_err(|_| {
                    ScimError::bad("invalidValue", format!("{name} must be an integer."))
                })
            })
            .transpose()
        };
        Self::new(
            p.filter.as_deref(),
            number("startIndex", p.start_index)?,
            number("count", p.count)?,
            split(p.attributes),
            split(p.excluded_attributes),
        )
    }

    /// From a `/.search` body (RFC 7644 section 3.4.3).
    pub fn from_search(body: &Value) -> Result<Self, ScimError> {
        let field = |name: &str| get_ci(body, name);
        let list = |name: &str| -> Result<Vec<String>, ScimError> {
            match field(name) {
                None | Some(Value::Null) => Ok(Vec::new()),
                Some(Value::Array(items)) => items
                    .iter()
                    .map(|v| {
                        v.as_str().map(str::to_string).ok_or_else(|| {
                            ScimError::bad("invalidValue", format!("{name} must list strings."))
                        })
                    })
                    .collect(),
                Some(Value::String(s)) => Ok(s.split(',').map(|a| a.trim().to_string()).collect()),
                Some(_) => Err(ScimError::bad(
                    "invalidValue",
                    format!("{name} must be a list of strings."),
                )),
            }
        };
        let number = |name: &str| -> Result<Option<i64>, ScimError> {
            match field(name) {
                None | Some(Value::Null) => Ok(None),
                Some(v) => v.as_i64().map(Some).ok_or_else(|| {
                    ScimError::bad("invalidValue", format!("{name} must be an integer."))
                }),
            }
        };
        let filter = match field("filter") {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) => Some(s.as_str()),
            Some(_) => return Err(ScimError::bad("invalidFilter", "filter must be a string.")),
        };
        Self::new(
            filter,
            number("startIndex")?,
            number("count")?,
            list("attributes")?,
            list("excludedAttributes")?,
        )
    }

    fn new(
        filter: Option<&str>,
        start_index: Option<i64>,
        count: Option<i64>,
        attributes: Vec<String>,
        excluded: Vec<String>,
    ) -> Result<Self, ScimError> {
        let filter = filter
            .filter(|f| !f.trim().is_empty())
            .map(|f| parse_filter(f).map_err(|e| ScimError::bad("invalidFilter", e.to_string())))
            .transpose()?;
        // RFC 7644 section 3.4.2.4: below 1 means 1; a negative count means 0.
        Ok(Self {
            filter,
            start_index: start_index.unwrap_or(1).max(1) as usize,
            count: count.map_or(MAX_RESULTS, |c| c.clamp(0, MAX_RESULTS as i64) as usize),
            attributes,
            excluded,
        })
    }
}

/// The value of `key` in object `v`, whatever the case of either (attribute
/// names are case-insensitive, RFC 7643 section 2.1).
pub fn get_ci<'a>(v: &'a Value, key: &str) -> Option<&'a Value> {
    let map = v.as_object()?;
    map.get(key).or_else(|| {
        map.iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| v)
    })
}

/// The key of `map` equal to `key` ignoring case, as the map spells it.
pub fn key_ci(map: &Map<String, Value>, key: &str) -> Option<String> {
    if map.contains_key(key) {
        return Some(key.to_string());
    }
    map.keys().find(|k| k.eq_ignore_ascii_case(key)).cloned()
}

/// Remove `key` from `map` ignoring case; the value it had.
pub fn remove_ci(map: &mut Map<String, Value>, key: &str) -> Option<Value> {
    let k = key_ci(map, key)?;
    map.remove(&k)
}

/// A string attribute of `v`, trimmed, if not empty.
pub fn str_ci<'a>(v: &'a Value, key: &str) -> Option<&'a str> {
    get_ci(v, key)
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|s| !s.is_empty())
}

/// The resource's `meta` (RFC 7643 section 3.1).
pub fn meta(
    resource_type: &str,
    location: &str,
    created: i64,
    updated: i64,
    version: i64,
) -> Value {
    serde_json::json!({
        "resourceType": resource_type,
        "created": from_ms(created).to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        "lastModified": from_ms(updated).to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        "location": location,
        "version": etag(version),
    })
}

/// A version as a weak ETag.
pub fn etag(version: i64) -> String {
    format!("W/\"{version}\"")
}

/// Refuse a write whose `If-Match` names another version (RFC 7644 section
/// 3.14); without the header, any version is written.
pub fn check_if_match(headers: &HeaderMap, version: i64) -> Result<(), ScimError> {
    let Some(want) = headers.get(header::IF_MATCH).and_then(|v| v.to_str().ok()) else {
        return Ok(());
    };
    let current = etag(version);
    let strong = format!("\"{version}\"");
    let matches = want
        .split(',')
        .map(str::trim)
        .any(|t| t == "*" || t == current || t == strong);
    if matches {
        Ok(())
    } else {
        Err(ScimError::new(
            StatusCode::PRECONDITION_FAILED,
            None,
            format!("The resource has changed: its version is {current}, not {want}."),
        ))
    }
}

/// Whether `If-None-Match` names the current version (a GET answers 304).
pub fn not_modified(headers: &HeaderMap, version: i64) -> bool {
    let current = etag(version);
    headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.split(',')
                .map(str::trim)
                .any(|t| t == current || t == "*")
        })
}

/// `resource` with only the attributes asked for (`attributes`), or without
/// those refused (`excludedAttributes`); `schemas` and `id` always stay
/// (RFC 7644 section 3.9). Names may be `name.givenName` or carry their
/// schema URN.
pub fn project(resource: Value, attributes: &[String], excluded: &[String]) -> Value {
    let Value::Object(mut map) = resource else {
        return resource;
    };
    if !attributes.is_empty() {
        let mut out = Map::new();
        for keep in ["schemas", "id"] {
            if let Some(v) = map.remove(keep) {
                out.insert(keep.into(), v);
            }
        }
        for a in attributes {
            copy_path(&map, &mut out, a);
        }
        return Value::Object(out);
    }
    for a in excluded {
        let (container, name, sub) = split_attr(a);
        if container.is_none()
            && sub.is_none()
            && ["schemas", "id"]
                .iter()
                .any(|k| k.eq_ignore_ascii_case(name))
        {
            continue;
        }
        let target = match &container {
            Some(urn) => key_ci(&map, urn)
                .and_then(|k| map.get_mut(&k))
                .and_then(Value::as_object_mut),
            None => Some(&mut map),
        };
        let Some(target) = target else { continue };
        match sub {
            None => {
                remove_ci(target, name);
            }
            Some(sub) => {
                if let Some(k) = key_ci(target, name) {
                    match target.get_mut(&k) {
                        Some(Value::Object(inner)) => {
                            remove_ci(inner, sub);
                        }
                        Some(Value::Array(items)) => {
                            for item in items.iter_mut().filter_map(Value::as_object_mut) {
                                remove_ci(item, sub);
                            }
                        }
                        _ => {}
                    }
                }
            }
        }
    }
    Value::Object(map)
}

/// `urn:...:User:department` → (Some(urn), "department", None);
/// `name.givenName` → (None, "name", Some("givenName")). A core schema's URN
/// is dropped: its attributes sit at the top level.
fn split_attr(a: &str) -> (Option<String>, &str, Option<&str>) {
    let (urn, rest) = if a.to_ascii_lowercase().starts_with("urn:") {
        match a.rfind(':') {
            Some(i) => (Some(&a[..i]), &a[i + 1..]),
            None => (None, a),
        }
    } else {
        (None, a)
    };
    let (name, sub) = match rest.split_once('.') {
        Some((n, s)) => (n, Some(s)),
        None => (rest, None),
    };
    let container = urn
        .filter(|u| !u.eq_ignore_ascii_case(super::http::SCHEMA_USER))
        .filter(|u| !u.eq_ignore_ascii_case(super::http::SCHEMA_GROUP))
        .map(str::to_string);
    (container, name, sub)
}

/// Copy attribute path `a` of `from` into `to`, creating its containers.
fn copy_path(from: &Map<String, Value>, to: &mut Map<String, Value>, a: &str) {
    let (container, name, sub) = split_attr(a);
    let (src, dst) = match &container {
        Some(urn) => {
            let Some(k) = key_ci(from, urn) else { return };
            let Some(src) = from.get(&k).and_then(Value::as_object) else {
                return;
            };
            let dst = to
                .entry(k)
                .or_insert_with(|| Value::Object(Map::new()))
                .as_object_mut();
            let Some(dst) = dst else { return };
            (src, dst)
        }
        None => (from, to),
    };
    let Some(k) = key_ci(src, name) else { return };
    let value = &src[&k];
    match sub {
        None => {
            dst.insert(k, value.clone());
        }
        Some(sub) => match value {
            Value::Object(inner) => {
                if let Some(sk) = key_ci(inner, sub) {
                    let entry = dst.entry(k).or_insert_with(|| Value::Object(Map::new()));
                    if let Some(e) = entry.as_object_mut() {
                        e.insert(sk.clone(), inner[&sk].clone());
                    }
                }
            }
            Value::Array(items) => {
                let picked: Vec<Value> = items
                    .iter()
                    .filter_map(Value::as_object)
                    .filter_map(|item| {
                        key_ci(item, sub).map(|sk| {
                            let mut m = Map::new();
                            m.insert(sk.clone(), item[&sk].clone());
                            Value::Object(m)
                        })
                    })
                    .collect();
                dst.insert(k, Value::Array(picked));
            }
            _ => {}
        },
    }
}

/// One page of the resources `select` reads (ordered by `key`, which `key_of`
/// gives for a row) that match the query's filter, as `answer` gives them,
/// with the attributes asked for; and how many match in all. Without a
/// filter the database pages and counts; with one, every row is read in
/// chunks along the key and matched here, and only the page is kept.
pub async fn page<E, K, A>(
    db: &impl sea_orm::ConnectionTrait,
    select: sea_orm::Select<E>,
    key: E::Column,
    key_of: K,
    answer: A,
    q: &ListQuery,
) -> Result<(Vec<Value>, usize), ScimError>
where
    E: sea_orm::EntityTrait,
    E::Model: Sync,
    K: Fn(&E::Model) -> i64,
    A: Fn(&E::Model) -> Result<Answer, ScimError>,
{
    use sea_orm::{ColumnTrait, PaginatorTrait, QueryFilter, QuerySelect};
    /// Rows read per statement when a filter must look at every one.
    const SCAN_CHUNK: u64 = 500;
    let Some(filter) = &q.filter else {
        let total = select.clone().count(db).await? as usize;
        let rows = select
            .offset((q.start_index - 1) as u64)
            .limit(q.count as u64)
            .all(db)
            .await?;
        let page = rows
            .iter()
            .map(|row| Ok(project(answer(row)?.body, &q.attributes, &q.excluded)))
            .collect::<Result<_, ScimError>>()?;
        return Ok((page, total));
    };
    let mut page = Vec::new();
    let mut total = 0usize;
    let mut after = 0i64;
    loop {
        let rows = select
            .clone()
            .filter(key.gt(after))
            .limit(SCAN_CHUNK)
            .all(db)
            .await?;
        let Some(last) = rows.last() else { break };
        after = key_of(last);
        for row in &rows {
            let found = answer(row)?;
            if filter.matches(&found.body) {
                total += 1;
                if total >= q.start_index && page.len() < q.count {
                    page.push(project(found.body, &q.attributes, &q.excluded));
                }
            }
        }
        if (rows.len() as u64) < SCAN_CHUNK {
            break;
        }
    }
    Ok((page, total))
}

/// The value of an indexed lookup a filter is, or narrows to: `attr eq
/// "value"` for one of `names` (an `and` narrows through either side).
pub fn lookup<'f>(filter: &'f Filter, names: &[&'static str]) -> Option<(&'static str, &'f str)> {
    match filter {
        Filter::Compare {
            attr,
            op: CompareOp::Eq,
            value: CompValue::Str(v),
        } => names
            .iter()
            .find(|n| is_plain(attr, n))
            .map(|n| (*n, v.as_str())),
        Filter::And(a, b) => lookup(a, names).or_else(|| lookup(b, names)),
        _ => None,
    }
}

/// Whether `attr` is the top-level attribute `name` (with or without a core
/// schema URN).
fn is_plain(attr: &AttrPath, name: &str) -> bool {
    attr.sub.is_none()
        && attr.name.eq_ignore_ascii_case(name)
        && attr
            .urn
            .as_deref()
            .is_none_or(|u| !u.eq_ignore_ascii_case(SCHEMA_ENTERPRISE))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn user() -> Value {
        json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User", SCHEMA_ENTERPRISE],
            "id": "7",
            "userName": "bjensen",
            "externalId": "x1",
            "name": {"givenName": "Barbara", "familyName": "Jensen"},
            "emails": [{"value": "b@example.com", "type": "work"}],
            SCHEMA_ENTERPRISE: {"department": "Sales", "manager": {"value": "9"}},
            "meta": {"resourceType": "User"},
        })
    }

    #[test]
    fn attributes_keep_only_what_is_asked_and_always_schemas_and_id() {
        let attrs = |a: &[&str]| a.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let got = project(user(), &attrs(&["externalId"]), &[]);
        assert_eq!(got["externalId"], "x1");
        assert_eq!(got["id"], "7");
        assert!(got.get("schemas").is_some());
        assert!(got.get("userName").is_none() && got.get("meta").is_none());
        let got = project(
            user(),
            &attrs(&[
                "name.familyName",
                "emails.value",
                &format!("{SCHEMA_ENTERPRISE}:department"),
            ]),
            &[],
        );
        assert_eq!(got["name"], json!({"familyName": "Jensen"}));
        assert_eq!(got["emails"], json!([{"value": "b@example.com"}]));
        assert_eq!(got[SCHEMA_ENTERPRISE], json!({"department": "Sales"}));
    }

    #[test]
    fn excluded_attributes_go_but_id_stays() {
        let ex = |a: &[&str]| a.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let got = project(
            user(),
            &[],
            &ex(&[
                "NAME",
                "id",
                "emails.type",
                &format!("{SCHEMA_ENTERPRISE}:manager"),
            ]),
        );
        assert!(got.get("name").is_none());
        assert_eq!(got["id"], "7");
        assert_eq!(got["emails"], json!([{"value": "b@example.com"}]));
        assert_eq!(got[SCHEMA_ENTERPRISE], json!({"department": "Sales"}));
    }

    #[test]
    fn list_parameters_are_bounded() {
        let q = ListQuery::from_params(ListParams {
            start_index: Some("0".into()),
            count: Some("5000".into()),
            ..Default::default()
        })
        .unwrap();
        assert_eq!((q.start_index, q.count), (1, MAX_RESULTS));
        let q = ListQuery::from_search(&json!({"count": -3, "attributes": ["userName"]})).unwrap();
        assert_eq!((q.count, q.attributes.len()), (0, 1));
        let e = ListQuery::from_params(ListParams {
            filter: Some("userName eq".into()),
            ..Default::default()
        })
        .unwrap_err();
        assert_eq!(e.scim_type, Some("invalidFilter"));
    }

    #[test]
    fn lookups_are_found_through_and() {
        let f = parse_filter(r#"userName eq "BJensen" and active eq true"#).unwrap();
        assert_eq!(
            lookup(&f, &["userName", "externalId"]),
            Some(("userName", "BJensen"))
        );
        let f = parse_filter(r#"userName co "j""#).unwrap();
        assert_eq!(lookup(&f, &["userName"]), None);
        let f = parse_filter(r#"userName eq "a" or userName eq "b""#).unwrap();
        assert_eq!(lookup(&f, &["userName"]), None);
    }

    #[test]
    fn etags_match_weak_strong_and_star() {
        let mut h = HeaderMap::new();
        assert!(check_if_match(&h, 3).is_ok());
        h.insert(header::IF_MATCH, "W/\"3\"".parse().unwrap());
        assert!(check_if_match(&h, 3).is_ok());
        assert_eq!(
            check_if_match(&h, 4).unwrap_err().status,
            StatusCode::PRECONDITION_FAILED
        );
        h.insert(header::IF_MATCH, "*".parse().unwrap());
        assert!(check_if_match(&h, 4).is_ok());
    }
}
