//! SCIM PATCH (RFC 7644 §3.5.2): applying a PatchOp request to a User or
//! Group held as JSON, in the forms Entra ID and Okta send (providers.md §5).
//!
//! Choices the RFC leaves open, made here:
//! - Attribute names and schema URNs match whatever their case; an existing
//!   key keeps its spelling, a new key takes the spelling of the request.
//! - A `null` value means unassigned (RFC 7643 §2.5): `add`/`replace` with
//!   `null` removes the target, and nulls inside a written value (Entra's
//!   `"$ref": null` in members) are dropped rather than stored.
//! - `attr[filter].sub` with no matching element creates one from the
//!   filter's `eq` conditions, for `add` and `replace` alike: Entra sets a
//!   user's first mobile number as `phoneNumbers[type eq "mobile"].value`.
//! - A path-less value may echo read-only data: `meta` and `schemas` are
//!   ignored there, and `id` is ignored when unchanged (Okta's group rename
//!   sends it); naming them in a `path` is refused.
//! - `password` is never stored: Okta sends one, and Muster has no use for it.
//! - Members count as duplicates when their `value` (the member's id) is.
//! - An extension's object is listed in `schemas` when PATCH creates it, and
//!   unlisted when PATCH removes it.

use std::fmt;

use serde_json::{json, Map, Value};

use super::filter::{parse_path, AttrPath, CompValue, CompareOp, Filter, PatchPath};
use super::http::{
    SCHEMA_ENTERPRISE as ENTERPRISE, SCHEMA_GROUP as CORE_GROUP, SCHEMA_USER as CORE_USER,
};

type Object = Map<String, Value>;

const PATCH_OP: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";
/// Most operations in one request: Entra batches membership changes, but
/// nowhere near this many; the bound keeps a hostile body's work small.
const MAX_OPERATIONS: usize = 1000;

/// Why a PATCH was refused: answered as 400 with `scim_type` ("invalidSyntax",
/// "invalidPath", "noTarget", "invalidValue", "mutability").
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PatchError {
    pub scim_type: &'static str,
    pub detail: String,
}

impl PatchError {
    fn new(scim_type: &'static str, detail: impl Into<String>) -> Self {
        Self {
            scim_type,
            detail: detail.into(),
        }
    }

    fn syntax(detail: impl Into<String>) -> Self {
        Self::new("invalidSyntax", detail)
    }

    fn bad_path(detail: impl Into<String>) -> Self {
        Self::new("invalidPath", detail)
    }

    fn bad_value(detail: impl Into<String>) -> Self {
        Self::new("invalidValue", detail)
    }

    fn no_target(detail: impl Into<String>) -> Self {
        Self::new("noTarget", detail)
    }

    /// Names the failing operation, so a client can tell which of many it was.
    fn in_operation(self, index: usize) -> Self {
        Self::new(
            self.scim_type,
            format!("Operations[{index}]: {}", self.detail),
        )
    }
}

impl fmt::Display for PatchError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.scim_type, self.detail)
    }
}

impl std::error::Error for PatchError {}

/// Apply a PatchOp request body (`{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
/// "Operations":[...]}`) to `resource`, in order, all or nothing: the
/// operations run on a copy, so on error `resource` is unchanged.
///
/// `resource` must be a JSON object, and stays one: every operation works
/// inside the object, none replaces it.
pub fn apply(resource: &mut Value, body: &Value) -> Result<(), PatchError> {
    let operations = operations(body)?;
    let Value::Object(original) = &*resource else {
        return Err(PatchError::bad_value("The resource is not a JSON object."));
    };
    let mut work = original.clone();
    // A stored bare-string manager must take `manager.value` paths too.
    normalise(&mut work);
    for (index, operation) in operations.iter().enumerate() {
        apply_operation(&mut work, operation).map_err(|e| e.in_operation(index))?;
    }
    normalise(&mut work);
    *resource = Value::Object(work);
    Ok(())
}

/// The body's operations, once its envelope is checked.
fn operations(body: &Value) -> Result<&[Value], PatchError> {
    let Value::Object(body) = body else {
        return Err(PatchError::syntax("The body must be a JSON object."));
    };
    let is_patch_op = member(body, "schemas")
        .and_then(Value::as_array)
        .is_some_and(|schemas| {
            schemas
                .iter()
                .filter_map(Value::as_str)
                .any(|schema| schema.trim().eq_ignore_ascii_case(PATCH_OP))
        });
    if !is_patch_op {
        return Err(PatchError::syntax(format!(
            "\"schemas\" must list {PATCH_OP}."
        )));
    }
    let operations = match member(body, "Operations") {
        Some(Value::Array(operations)) if !operations.is_empty() => operations,
        _ => {
            return Err(PatchError::syntax(
                "\"Operations\" must be a non-empty array of operations.",
            ))
        }
    };
    if operations.len() > MAX_OPERATIONS {
        return Err(PatchError::syntax(format!(
            "At most {MAX_OPERATIONS} operations are accepted in one request, not {}.",
            operations.len()
        )));
    }
    Ok(operations.as_slice())
}

/// One operation. Entra writes `op` as `Add`, `Replace`, `Remove`, so its
/// case, like the case of every structural key, is not significant.
fn apply_operation(resource: &mut Object, operation: &Value) -> Result<(), PatchError> {
    let Value::Object(operation) = operation else {
        return Err(PatchError::syntax("An operation must be a JSON object."));
    };
    let word = member(operation, "op")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let path = match member(operation, "path") {
        None | Some(Value::Null) => None,
        Some(Value::String(path)) => Some(path.trim()),
        Some(_) => return Err(PatchError::bad_path("\"path\" must be a string.")),
    };
    let value = member(operation, "value");
    if word.eq_ignore_ascii_case("remove") {
        let value = value.filter(|value| !value.is_null()).cloned();
        return match path {
            Some(path) => remove_path(resource, path, value),
            None => Err(PatchError::no_target("\"remove\" needs a \"path\".")),
        };
    }
    let add = word.eq_ignore_ascii_case("add");
    if !add && !word.eq_ignore_ascii_case("replace") {
        return Err(PatchError::syntax(format!(
            "\"op\" must be add, replace or remove, not {word:?}."
        )));
    }
    let Some(value) = value.cloned() else {
        return Err(PatchError::syntax(format!("\"{word}\" needs a \"value\".")));
    };
    match (path, value) {
        (Some(path), value) => write_path(resource, path, add, value),
        (None, Value::Object(members)) => {
            for (key, value) in members {
                write_member(resource, None, &key, add, value)?;
            }
            Ok(())
        }
        (None, _) => Err(PatchError::syntax(
            "Without a \"path\", \"value\" must be an object of attributes.",
        )),
    }
}

fn write_path(
    resource: &mut Object,
    path: &str,
    add: bool,
    value: Value,
) -> Result<(), PatchError> {
    if let Some(schema) = schema_of(resource, path) {
        return write_schema(resource, schema, add, value);
    }
    let target = parse_target(path)?;
    write(resource, target, add, value)
}

fn remove_path(resource: &mut Object, path: &str, value: Option<Value>) -> Result<(), PatchError> {
    match schema_of(resource, path) {
        Some(Schema::Core) => Err(PatchError::bad_path(format!(
            "{path} is the resource's core schema; it cannot be removed."
        ))),
        Some(Schema::Extension(urn)) => {
            remove_schema(resource, &urn);
            Ok(())
        }
        None => remove(resource, parse_target(path)?, value),
    }
}

/// A whole schema named where an attribute could be: as a `path`, or as a
/// key of a path-less value.
enum Schema {
    /// The User or Group core schema, whose attributes sit at the top level.
    Core,
    /// An extension, whose attributes sit in the object under its URN.
    Extension(String),
}

/// Whether `text` is a whole schema URN rather than an attribute path. This
/// must be decided before [`parse_path`], which would read the last segment
/// of `...:2.0:User` as an attribute named `User`. Known are the core
/// schemas, the enterprise extension and whatever the resource lists.
fn schema_of(resource: &Object, text: &str) -> Option<Schema> {
    if text.is_empty() {
        return None;
    }
    if [CORE_USER, CORE_GROUP]
        .iter()
        .any(|core| core.eq_ignore_ascii_case(text))
    {
        return Some(Schema::Core);
    }
    let listed = || {
        member(resource, "schemas")
            .and_then(Value::as_array)
            .is_some_and(|schemas| {
                schemas
                    .iter()
                    .filter_map(Value::as_str)
                    .any(|schema| schema.eq_ignore_ascii_case(text))
            })
    };
    (ENTERPRISE.eq_ignore_ascii_case(text) || listed()).then(|| Schema::Extension(text.to_owned()))
}

/// A value for a whole schema: each of its members is written as if
/// addressed one by one, so `replace` of the enterprise extension changes
/// the attributes given and keeps the others.
fn write_schema(
    resource: &mut Object,
    schema: Schema,
    add: bool,
    value: Value,
) -> Result<(), PatchError> {
    let scope = match schema {
        Schema::Core => None,
        Schema::Extension(urn) => Some(urn),
    };
    match value {
        Value::Object(members) => {
            for (key, value) in members {
                write_member(resource, scope.as_deref(), &key, add, value)?;
            }
            Ok(())
        }
        Value::Null => match scope {
            Some(urn) => {
                remove_schema(resource, &urn);
                Ok(())
            }
            None => Err(PatchError::bad_path(
                "The resource's core schema cannot be removed.",
            )),
        },
        _ => Err(PatchError::bad_value(
            "A schema URN takes an object of that schema's attributes.",
        )),
    }
}

/// One key of a path-less value, or of a value for a whole schema (`scope`
/// is then the extension's URN). Entra's keys are paths in their own right:
/// `name.givenName` and `urn:...:enterprise:2.0:User:department`.
fn write_member(
    resource: &mut Object,
    scope: Option<&str>,
    key: &str,
    add: bool,
    value: Value,
) -> Result<(), PatchError> {
    let key = key.trim();
    let target = match scope {
        None => {
            if let Some(schema) = schema_of(resource, key) {
                return write_schema(resource, schema, add, value);
            }
            if echoes_read_only(resource, key, &value) {
                return Ok(());
            }
            parse_target(key)?
        }
        // Extension URNs that are not URNs (Microsoft's `http://schemas...`)
        // would not parse as a prefix, so plain names skip the parser.
        Some(urn) if is_plain_name(key) => Target {
            ext: Some(urn.to_owned()),
            name: key.to_owned(),
            sub: None,
            selector: None,
        },
        Some(urn) if !key.contains(':') => parse_target(&format!("{urn}:{key}"))?,
        Some(_) => parse_target(key)?,
    };
    write(resource, target, add, value)
}

/// Okta's path-less group rename carries the group's own `id`, and a client
/// may echo `meta` or `schemas` from a GET: read-only data sent back is no
/// modification, so it is skipped. A different `id` is still refused.
fn echoes_read_only(resource: &Object, key: &str, value: &Value) -> bool {
    let is = |name: &str| key.eq_ignore_ascii_case(name);
    if is("meta") || is("schemas") {
        return true;
    }
    is("id") && member(resource, "id").is_none_or(|id| id == value)
}

fn is_plain_name(key: &str) -> bool {
    !key.is_empty()
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '$'))
}

/// Where an operation lands, resolved from a parsed path.
struct Target {
    /// The extension whose object holds the attribute; `None` for the top
    /// level, which is also where core-URN-qualified attributes live.
    ext: Option<String>,
    name: String,
    /// For `attr.sub` the sub-attribute of `attr`; for `attr[filter].sub`
    /// the sub-attribute of each selected element.
    sub: Option<String>,
    selector: Option<Selector>,
}

fn parse_target(text: &str) -> Result<Target, PatchError> {
    let path = parse_path(text)
        .map_err(|e| PatchError::bad_path(format!("{text:?} is not a valid path: {e}.")))?;
    let PatchPath {
        mut attr,
        filter,
        sub,
    } = path;
    let ext = attr.urn.take().filter(|urn| !is_core(urn));
    // The parser puts `name.givenName`'s sub in `attr` and
    // `emails[...].value`'s after the filter; never both.
    let sub = sub.or_else(|| attr.sub.take());
    let name = attr.name.clone();
    let selector = filter.map(|filter| Selector::new(attr, filter));
    Ok(Target {
        ext,
        name,
        sub,
        selector,
    })
}

fn is_core(urn: &str) -> bool {
    [CORE_USER, CORE_GROUP]
        .iter()
        .any(|core| core.eq_ignore_ascii_case(urn))
}

/// `id` and `meta` belong to the server (RFC 7643 §3.1), and `schemas`
/// follows from the attributes present rather than being set.
fn check_writable(target: &Target) -> Result<(), PatchError> {
    if target.ext.is_some() {
        return Ok(());
    }
    let name = target.name.as_str();
    if ["id", "meta"].iter().any(|n| n.eq_ignore_ascii_case(name)) {
        return Err(PatchError::new(
            "mutability",
            format!("{name:?} is read-only."),
        ));
    }
    if name.eq_ignore_ascii_case("schemas") {
        return Err(PatchError::bad_path(
            "\"schemas\" cannot be patched; it follows from the attributes present.",
        ));
    }
    Ok(())
}

/// Targets accepted but never stored.
fn is_ignored(target: &Target) -> bool {
    target.ext.is_none() && target.name.eq_ignore_ascii_case("password")
}

/// Picks the elements of a multi-valued attribute that `attr[filter]` selects.
struct Selector {
    /// The filter as the value path `name[filter]`, evaluated against
    /// `probe`: filter.rs compares `members[value eq "..."]` case-exactly
    /// (member ids) only inside a value path, and its per-element evaluation
    /// is private, so each element is judged as the sole element of a
    /// stand-in resource.
    value_path: Filter,
    /// `{name: [element]}`; each element is swapped in and back out.
    probe: Value,
    /// The element to create when none matches: the filter's `eq` conditions,
    /// or `None` when the filter has other kinds of condition.
    template: Option<Object>,
}

impl Selector {
    /// `attr` has neither URN nor sub-attribute left.
    fn new(attr: AttrPath, filter: Filter) -> Self {
        let template = template_of(&filter);
        let mut probe = Object::new();
        probe.insert(attr.name.clone(), Value::Array(vec![Value::Null]));
        Self {
            value_path: Filter::ValuePath {
                attr,
                filter: Box::new(filter),
            },
            probe: Value::Object(probe),
            template,
        }
    }

    fn slot(&mut self) -> Option<&mut Value> {
        self.probe
            .as_object_mut()?
            .values_mut()
            .next()?
            .as_array_mut()?
            .first_mut()
    }

    fn selects(&mut self, element: &mut Value) -> bool {
        let Some(slot) = self.slot() else {
            return false;
        };
        std::mem::swap(slot, element);
        let hit = self.value_path.matches(&self.probe);
        if let Some(slot) = self.slot() {
            std::mem::swap(slot, element);
        }
        hit
    }
}

/// `type eq "work" and primary eq true` → `{"type":"work","primary":true}`.
fn template_of(filter: &Filter) -> Option<Object> {
    let mut element = Object::new();
    equalities(filter, &mut element).then_some(element)
}

fn equalities(filter: &Filter, element: &mut Object) -> bool {
    match filter {
        Filter::And(a, b) => equalities(a, element) && equalities(b, element),
        Filter::Compare {
            attr,
            op: CompareOp::Eq,
            value,
        } if attr.urn.is_none() && attr.sub.is_none() => {
            let value = match value {
                CompValue::Str(text) => Value::String(text.clone()),
                CompValue::Num(number) => Value::Number(number.clone()),
                CompValue::Bool(flag) => Value::Bool(*flag),
                // `eq null` holds for an element without the attribute.
                CompValue::Null => return true,
            };
            element.insert(attr.name.clone(), value);
            true
        }
        _ => false,
    }
}

/// `add` or `replace` at `target`.
fn write(resource: &mut Object, target: Target, add: bool, value: Value) -> Result<(), PatchError> {
    if value.is_null() {
        return remove(resource, target, None);
    }
    check_writable(&target)?;
    if is_ignored(&target) {
        return Ok(());
    }
    let Target {
        ext,
        name,
        sub,
        selector,
    } = target;
    let holder = holder_mut(resource, ext.as_deref())?;
    match (selector, sub) {
        (None, None) => {
            write_attribute(holder, &name, add, value);
            Ok(())
        }
        (None, Some(sub)) => write_sub(holder, &name, &sub, add, value),
        (Some(selector), None) => write_selected(holder, &name, selector, add, value),
        (Some(selector), Some(sub)) => write_selected_sub(holder, &name, selector, &sub, value),
    }
}

/// The object holding attributes of `ext` (the resource itself for `None`),
/// created when missing or null.
fn holder_mut<'a>(
    resource: &'a mut Object,
    ext: Option<&str>,
) -> Result<&'a mut Object, PatchError> {
    let Some(urn) = ext else {
        return Ok(resource);
    };
    let existing = find_key(resource, urn);
    let fresh = existing
        .as_ref()
        .and_then(|key| resource.get(key))
        .is_none_or(Value::is_null);
    if fresh {
        list_schema(resource, urn);
    }
    let key = existing.unwrap_or_else(|| urn.to_owned());
    let holder = resource.entry(key).or_insert(Value::Null);
    if holder.is_null() {
        *holder = Value::Object(Object::new());
    }
    match holder {
        Value::Object(holder) => Ok(holder),
        _ => Err(PatchError::bad_value(format!(
            "{urn} holds no object of attributes."
        ))),
    }
}

/// `attr`: `add` appends to a multi-valued attribute; `add` and `replace`
/// merge into a complex one (RFC 7644 §3.5.2.3: sub-attributes not given are
/// left unchanged); otherwise the value is set, so `replace` of a
/// multi-valued attribute replaces the whole list.
fn write_attribute(holder: &mut Object, name: &str, add: bool, value: Value) {
    let Some(existing) = get_mut_ci(holder, name) else {
        holder.insert(name.to_owned(), clean(value));
        return;
    };
    match (existing, value) {
        (Value::Array(items), value) if add => append(items, name, value),
        (Value::Object(old), Value::Object(new)) => merge(old, new),
        // One value for a multi-valued attribute is a list of one.
        (existing, value) if existing.is_array() && !value.is_array() => {
            *existing = Value::Array(vec![clean(value)]);
        }
        (existing, value) => *existing = clean(value),
    }
}

/// `add` to a multi-valued attribute: each new value (an array's elements,
/// or the one value) is appended unless already there. A member is already
/// there when its `value`, the member's id, is: Okta adds `display` to what
/// Entra sends bare.
fn append(items: &mut Vec<Value>, name: &str, value: Value) {
    let by_id = name.eq_ignore_ascii_case("members");
    let values = match clean(value) {
        Value::Array(values) => values,
        value => vec![value],
    };
    for value in values {
        let present = items
            .iter()
            .any(|item| *item == value || (by_id && same_id(item, &value)));
        if !present {
            items.push(value);
        }
    }
}

/// Sub-attributes given replace theirs, `null` ones are unassigned, the
/// others stay.
fn merge(old: &mut Object, new: Object) {
    for (key, value) in new {
        if value.is_null() {
            remove_ci(old, &key);
        } else {
            put(old, key, clean(value));
        }
    }
}

/// `attr.sub`. On a multi-valued attribute (`emails.value`) it reaches every
/// element; an empty list gets one element holding just `sub`.
fn write_sub(
    holder: &mut Object,
    name: &str,
    sub: &str,
    add: bool,
    value: Value,
) -> Result<(), PatchError> {
    let key = find_key(holder, name).unwrap_or_else(|| name.to_owned());
    let parent = holder.entry(key).or_insert(Value::Null);
    if parent.is_null() {
        *parent = Value::Object(Object::new());
    }
    match parent {
        Value::Object(parent) => write_attribute(parent, sub, add, value),
        Value::Array(items) if items.is_empty() => items.push(single(sub, clean(value))),
        Value::Array(items) => {
            for item in items.iter_mut() {
                if let Value::Object(element) = item {
                    write_attribute(element, sub, add, value.clone());
                }
            }
        }
        _ => {
            return Err(PatchError::bad_path(format!(
                "{name:?} is not complex, so it has no sub-attribute {sub:?}."
            )))
        }
    }
    Ok(())
}

/// `attr[filter]`: an object value merges into each selected element, any
/// other value replaces it. With nothing selected, `add` appends (an object
/// value completed with the filter's `eq` conditions) and `replace` fails.
fn write_selected(
    holder: &mut Object,
    name: &str,
    mut selector: Selector,
    add: bool,
    value: Value,
) -> Result<(), PatchError> {
    let mut matched = false;
    if let Some(items) = items_mut(holder, name)? {
        for item in items.iter_mut() {
            if !selector.selects(item) {
                continue;
            }
            matched = true;
            match (item, &value) {
                (Value::Object(element), Value::Object(new)) => merge(element, new.clone()),
                (item, _) => *item = clean(value.clone()),
            }
        }
    }
    if matched {
        return Ok(());
    }
    if !add {
        return Err(PatchError::no_target(format!(
            "No element of {name:?} matches the filter."
        )));
    }
    let value = match (selector.template.take(), value) {
        (Some(mut element), Value::Object(given)) => {
            merge(&mut element, given);
            Value::Object(element)
        }
        (_, value) => value,
    };
    append(array_mut(holder, name)?, name, value);
    Ok(())
}

/// `attr[filter].sub`: sets `sub` on each selected element. With nothing
/// selected, one element is made from the filter's `eq` conditions.
fn write_selected_sub(
    holder: &mut Object,
    name: &str,
    mut selector: Selector,
    sub: &str,
    value: Value,
) -> Result<(), PatchError> {
    let mut matched = false;
    if let Some(items) = items_mut(holder, name)? {
        for item in items.iter_mut() {
            if !selector.selects(item) {
                continue;
            }
            let Value::Object(element) = item else {
                continue;
            };
            put(element, sub.to_owned(), clean(value.clone()));
            matched = true;
        }
    }
    if matched {
        return Ok(());
    }
    let Some(mut element) = selector.template.take() else {
        return Err(PatchError::no_target(format!(
            "No element of {name:?} matches the filter, and only a filter of `eq` \
             conditions joined by `and` describes one to create."
        )));
    };
    put(&mut element, sub.to_owned(), clean(value));
    array_mut(holder, name)?.push(Value::Object(element));
    Ok(())
}

/// The elements of multi-valued `name`; `None` when it is absent or null.
fn items_mut<'a>(
    holder: &'a mut Object,
    name: &str,
) -> Result<Option<&'a mut Vec<Value>>, PatchError> {
    match get_mut_ci(holder, name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Array(items)) => Ok(Some(items)),
        Some(_) => Err(not_multi_valued(name)),
    }
}

/// The elements of multi-valued `name`, created empty when absent or null.
fn array_mut<'a>(holder: &'a mut Object, name: &str) -> Result<&'a mut Vec<Value>, PatchError> {
    let key = find_key(holder, name).unwrap_or_else(|| name.to_owned());
    let slot = holder.entry(key).or_insert(Value::Null);
    if slot.is_null() {
        *slot = Value::Array(Vec::new());
    }
    match slot {
        Value::Array(items) => Ok(items),
        _ => Err(not_multi_valued(name)),
    }
}

fn not_multi_valued(name: &str) -> PatchError {
    PatchError::bad_path(format!(
        "{name:?} is not multi-valued, so it takes no [filter]."
    ))
}

/// `remove` at `target`; a missing target is no error. `value` is only used
/// by `attr` on a multi-valued attribute: Entra removes members by listing
/// them.
fn remove(resource: &mut Object, target: Target, value: Option<Value>) -> Result<(), PatchError> {
    check_writable(&target)?;
    if is_ignored(&target) {
        return Ok(());
    }
    let Target {
        ext,
        name,
        sub,
        selector,
    } = target;
    let holder = match ext.as_deref() {
        None => resource,
        Some(urn) => match get_mut_ci(resource, urn) {
            Some(Value::Object(holder)) => holder,
            _ => return Ok(()),
        },
    };
    match (selector, sub) {
        (None, None) => remove_attribute(holder, &name, value),
        (None, Some(sub)) => remove_sub(holder, &name, &sub),
        // RFC 7644 §3.5.2.2: once no value remains the attribute is unassigned.
        (Some(mut selector), None) => {
            let Some(items) = items_mut(holder, &name)? else {
                return Ok(());
            };
            items.retain_mut(|item| !selector.selects(item));
            if items.is_empty() {
                remove_ci(holder, &name);
            }
        }
        (Some(mut selector), Some(sub)) => {
            let Some(items) = items_mut(holder, &name)? else {
                return Ok(());
            };
            for item in items.iter_mut() {
                if !selector.selects(item) {
                    continue;
                }
                if let Value::Object(element) = item {
                    remove_ci(element, &sub);
                }
            }
        }
    }
    Ok(())
}

fn remove_attribute(holder: &mut Object, name: &str, value: Option<Value>) {
    if let Some(value) = value {
        if let Some(Value::Array(items)) = get_mut_ci(holder, name) {
            let gone = match clean(value) {
                Value::Array(gone) => gone,
                value => vec![value],
            };
            items.retain(|item| !gone.iter().any(|g| item == g || same_id(item, g)));
            if !items.is_empty() {
                return;
            }
        }
    }
    remove_ci(holder, name);
}

fn remove_sub(holder: &mut Object, name: &str, sub: &str) {
    match get_mut_ci(holder, name) {
        Some(Value::Object(parent)) => {
            remove_ci(parent, sub);
        }
        Some(Value::Array(items)) => {
            for item in items {
                if let Value::Object(element) = item {
                    remove_ci(element, sub);
                }
            }
        }
        _ => {}
    }
}

/// Lists `urn` in the resource's `schemas` array, when it has one.
fn list_schema(resource: &mut Object, urn: &str) {
    if let Some(Value::Array(schemas)) = get_mut_ci(resource, "schemas") {
        let listed = schemas
            .iter()
            .filter_map(Value::as_str)
            .any(|schema| schema.eq_ignore_ascii_case(urn));
        if !listed {
            schemas.push(Value::String(urn.to_owned()));
        }
    }
}

/// Removes an extension's object and its entry in `schemas`.
fn remove_schema(resource: &mut Object, urn: &str) {
    remove_ci(resource, urn);
    if let Some(Value::Array(schemas)) = get_mut_ci(resource, "schemas") {
        schemas.retain(|schema| !schema.as_str().is_some_and(|s| s.eq_ignore_ascii_case(urn)));
    }
}

/// Entra sends `active` as the strings "True" and "False", and the
/// enterprise `manager` as a bare id (or, in old samples, a one-element
/// list); they are kept in the RFC's forms, a boolean and `{"value": id}`.
fn normalise(resource: &mut Object) {
    if let Some(active) = get_mut_ci(resource, "active") {
        let flag = match active.as_str().map(str::trim) {
            Some(text) if text.eq_ignore_ascii_case("true") => Some(true),
            Some(text) if text.eq_ignore_ascii_case("false") => Some(false),
            _ => None,
        };
        if let Some(flag) = flag {
            *active = Value::Bool(flag);
        }
    }
    if let Some(Value::Object(enterprise)) = get_mut_ci(resource, ENTERPRISE) {
        normalise_manager(enterprise);
    }
}

/// An empty id names no manager, so it is dropped.
fn normalise_manager(enterprise: &mut Object) {
    let Some(key) = find_key(enterprise, "manager") else {
        return;
    };
    let Some(manager) = enterprise.remove(&key) else {
        return;
    };
    let manager = match manager {
        Value::Array(mut items) if items.len() == 1 => items.pop().unwrap_or_default(),
        other => other,
    };
    match manager {
        Value::String(id) if id.trim().is_empty() => {}
        Value::String(id) => {
            enterprise.insert(key, json!({ "value": id }));
        }
        other => {
            enterprise.insert(key, other);
        }
    }
}

/// Whether two complex values carry the same non-null `value`.
fn same_id(a: &Value, b: &Value) -> bool {
    match (id_of(a), id_of(b)) {
        (Some(a), Some(b)) => a == b,
        _ => false,
    }
}

fn id_of(value: &Value) -> Option<&Value> {
    member(value.as_object()?, "value").filter(|id| !id.is_null())
}

/// Null means unassigned (RFC 7643 §2.5), so nulls inside a written value
/// are dropped rather than stored.
fn clean(mut value: Value) -> Value {
    strip_nulls(&mut value);
    value
}

/// Recursion is bounded by serde_json's nesting limit on parsed input.
fn strip_nulls(value: &mut Value) {
    match value {
        Value::Object(members) => {
            members.retain(|_, v| !v.is_null());
            members.values_mut().for_each(strip_nulls);
        }
        Value::Array(items) => {
            items.retain(|item| !item.is_null());
            items.iter_mut().for_each(strip_nulls);
        }
        _ => {}
    }
}

fn single(name: &str, value: Value) -> Value {
    let mut object = Object::new();
    object.insert(name.to_owned(), value);
    Value::Object(object)
}

// Attribute names compare case-insensitively (RFC 7643 §2.1); an exact
// match is preferred, and an existing key keeps its spelling.

fn find_key(object: &Object, name: &str) -> Option<String> {
    if object.contains_key(name) {
        return Some(name.to_owned());
    }
    object
        .keys()
        .find(|key| key.eq_ignore_ascii_case(name))
        .cloned()
}

fn member<'a>(object: &'a Object, name: &str) -> Option<&'a Value> {
    object.get(name).or_else(|| {
        object
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value)
    })
}

fn get_mut_ci<'a>(object: &'a mut Object, name: &str) -> Option<&'a mut Value> {
    let key = find_key(object, name)?;
    object.get_mut(&key)
}

fn remove_ci(object: &mut Object, name: &str) -> Option<Value> {
    let key = find_key(object, name)?;
    object.remove(&key)
}

/// Sets `name`, under the existing key's spelling when there is one.
fn put(object: &mut Object, name: String, value: Value) {
    let key = find_key(object, &name).unwrap_or(name);
    object.insert(key, value);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn patch(operations: Value) -> Value {
        json!({"schemas": [PATCH_OP], "Operations": operations})
    }

    fn applied(mut resource: Value, operations: Value) -> Value {
        apply(&mut resource, &patch(operations)).unwrap_or_else(|e| panic!("refused: {e}"));
        resource
    }

    /// The error, after checking that the resource was left as it was.
    fn refused(resource: Value, operations: Value) -> PatchError {
        let mut patched = resource.clone();
        let error = apply(&mut patched, &patch(operations)).expect_err("should be refused");
        assert_eq!(patched, resource, "a refused PATCH changes nothing");
        error
    }

    /// Entra's create-user body (providers.md §5.2) as stored, with the
    /// enterprise extension filled in.
    fn entra_user() -> Value {
        json!({
            "schemas": [CORE_USER, ENTERPRISE],
            "id": "5d48a0a8e9f04aa38008",
            "externalId": "0a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef",
            "userName": "Test_User_00aa00aa-bb11-cc22-dd33-44ee44ee44ee",
            "active": true,
            "displayName": "Test User",
            "emails": [{"primary": true, "type": "work", "value": "test.user@contoso.com"}],
            "name": {"formatted": "givenName familyName", "familyName": "familyName", "givenName": "givenName"},
            ENTERPRISE: {"department": "Sales", "employeeNumber": "1001"}
        })
    }

    /// Okta's create-user body (providers.md §5.3) as stored.
    fn okta_user() -> Value {
        json!({
            "schemas": [CORE_USER],
            "id": "23a35c27-0000-4000-8000-000000000001",
            "userName": "test.user@okta.local",
            "name": {"givenName": "Test", "familyName": "User"},
            "emails": [{"primary": true, "value": "test.user@okta.local", "type": "work"}],
            "displayName": "Test User", "locale": "en-US", "externalId": "00ujl29u0le5T6Aj10h7",
            "active": true
        })
    }

    fn group() -> Value {
        json!({
            "schemas": [CORE_GROUP],
            "id": "40734ae655284ad3abcc",
            "displayName": "Test SCIMv2",
            "members": [{"value": "f648f8d5ea4e4cd38e9c", "display": "test.user@okta.local"},
                        {"value": "7f4bc1a3-285e-48ae-8202-5accb43efb0e"}]
        })
    }

    #[test]
    fn the_body_must_be_a_patch_op() {
        let ops = json!([{"op": "replace", "path": "nickName", "value": "B"}]);
        let list = "urn:ietf:params:scim:api:messages:2.0:ListResponse";
        for body in [
            json!({"Operations": ops}),
            json!({"schemas": [list], "Operations": ops}),
            json!({"schemas": PATCH_OP, "Operations": ops}),
            json!([ops]),
        ] {
            let mut user = okta_user();
            let error = apply(&mut user, &body).expect_err("not a PatchOp");
            assert_eq!(error.scim_type, "invalidSyntax", "{body}");
            assert_eq!(user, okta_user());
        }
        let mut user = okta_user();
        let body = json!({"schemas": [PATCH_OP.to_uppercase()], "Operations": ops});
        assert_eq!(apply(&mut user, &body), Ok(()));
        assert_eq!(user["nickName"], "B");
    }

    #[test]
    fn operations_is_a_non_empty_array_under_any_case_of_its_key() {
        let op = json!({"op": "add", "path": "nickName", "value": "B"});
        for key in ["Operations", "operations", "OPERATIONS"] {
            let mut user = okta_user();
            let body = json!({"schemas": [PATCH_OP], key: [op]});
            assert_eq!(apply(&mut user, &body), Ok(()), "{key}");
            assert_eq!(user["nickName"], "B");
        }
        for operations in [json!([]), op, json!(null)] {
            let body = json!({"schemas": [PATCH_OP], "Operations": operations});
            let error = apply(&mut okta_user(), &body).expect_err("not a list");
            assert_eq!(error.scim_type, "invalidSyntax");
        }
        let error = refused(okta_user(), json!(["add"]));
        assert_eq!(error.scim_type, "invalidSyntax");
    }

    #[test]
    fn op_and_structural_keys_ignore_case() {
        let user = applied(
            okta_user(),
            json!([
                {"op": "Add", "path": "nickName", "value": "Babs"},
                {"op": "REPLACE", "path": "title", "value": "Engineer"},
                {"op": "Remove", "path": "locale"},
                {"OP": "remove", "Path": "externalId"},
                {"Op": "replace", "PATH": "displayName", "VALUE": "Babs Jensen"},
            ]),
        );
        assert_eq!(user["nickName"], "Babs");
        assert_eq!(user["title"], "Engineer");
        assert_eq!(user["displayName"], "Babs Jensen");
        assert!(user.get("locale").is_none() && user.get("externalId").is_none());
    }

    #[test]
    fn unknown_or_missing_op_is_invalid_syntax() {
        for operation in [
            json!({"op": "move", "path": "nickName", "value": "x"}),
            json!({"path": "nickName", "value": "x"}),
            json!({"op": 1, "path": "nickName", "value": "x"}),
        ] {
            let error = refused(okta_user(), json!([operation]));
            assert_eq!(error.scim_type, "invalidSyntax", "{operation}");
        }
    }

    #[test]
    fn add_and_replace_need_a_value() {
        for op in ["add", "Replace"] {
            let error = refused(okta_user(), json!([{"op": op, "path": "nickName"}]));
            assert_eq!(error.scim_type, "invalidSyntax");
            assert!(error.detail.contains("needs a \"value\""), "{error}");
        }
    }

    #[test]
    fn a_null_value_removes_the_target() {
        let user = applied(
            entra_user(),
            json!([
                {"op": "Replace", "path": "displayName", "value": null},
                {"op": "Add", "path": "name.formatted", "value": null},
                {"op": "replace", "value": {"externalId": null}},
            ]),
        );
        assert!(user.get("displayName").is_none());
        assert!(user.get("externalId").is_none());
        assert_eq!(
            user["name"],
            json!({"familyName": "familyName", "givenName": "givenName"})
        );
    }

    #[test]
    fn names_and_urns_ignore_case_and_keep_the_resource_spelling() {
        let department = format!("{}:DEPARTMENT", ENTERPRISE.to_lowercase());
        let user = applied(
            entra_user(),
            json!([
                {"op": "replace", "path": "DISPLAYNAME", "value": "Renamed"},
                {"op": "replace", "path": "Name.GivenName", "value": "Ann"},
                {"op": "replace", "path": department, "value": "Ops"},
                {"op": "replace", "value": {"USERNAME": "ann@contoso.com"}},
            ]),
        );
        assert_eq!(user["displayName"], "Renamed");
        assert_eq!(user["name"]["givenName"], "Ann");
        assert_eq!(user["userName"], "ann@contoso.com");
        assert_eq!(user[ENTERPRISE]["department"], "Ops");
        let lower = ENTERPRISE.to_lowercase();
        for stray in ["DISPLAYNAME", "USERNAME", lower.as_str()] {
            assert!(user.get(stray).is_none(), "{stray}");
        }
        assert!(user["name"].get("GivenName").is_none());
        assert!(user[ENTERPRISE].get("DEPARTMENT").is_none());
    }

    #[test]
    fn new_keys_take_the_path_spelling_and_urn_paths_reach_extensions() {
        let user = applied(
            okta_user(),
            json!([
                {"op": "add", "path": "nickName", "value": "Babs"},
                {"op": "add", "path": format!("{ENTERPRISE}:costCenter"), "value": "4130"},
                {"op": "replace", "path": format!("{CORE_USER}:userName"), "value": "new@okta.local"},
            ]),
        );
        assert_eq!(user["nickName"], "Babs");
        assert_eq!(user[ENTERPRISE], json!({"costCenter": "4130"}));
        assert_eq!(user["userName"], "new@okta.local");
        assert!(user.get(CORE_USER).is_none());
        // The extension the PATCH created is declared.
        assert_eq!(user["schemas"], json!([CORE_USER, ENTERPRISE]));
    }

    #[test]
    fn okta_deactivates_with_a_pathless_replace() {
        // Verbatim, providers.md §5.3.
        let body = json!({"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"replace","value":{"active":false}}]});
        let mut user = okta_user();
        assert_eq!(apply(&mut user, &body), Ok(()));
        let mut expected = okta_user();
        expected["active"] = json!(false);
        assert_eq!(user, expected);
    }

    #[test]
    fn entra_pathless_replace_with_dotted_and_urn_keys() {
        // providers.md §5.2, with the aadOptscim062020 flag.
        let number = format!("{ENTERPRISE}:employeeNumber");
        let department = format!("{ENTERPRISE}:department");
        let user = applied(
            entra_user(),
            json!([
                {"op": "replace", "path": "emails[type eq \"work\"].value", "value": "bjfe@contoso.com"},
                {"op": "Replace", "value": {"displayName": "Bjfe", "name.givenName": "Kkom",
                    "name.familyName": "Unua", number: "Aklq", department: "z"}},
            ]),
        );
        assert_eq!(user["displayName"], "Bjfe");
        assert_eq!(
            user["name"],
            json!({"formatted": "givenName familyName", "givenName": "Kkom", "familyName": "Unua"})
        );
        assert_eq!(
            user[ENTERPRISE],
            json!({"department": "z", "employeeNumber": "Aklq"})
        );
        assert_eq!(
            user["emails"],
            json!([{"primary": true, "type": "work", "value": "bjfe@contoso.com"}])
        );
    }

    #[test]
    fn a_pathless_value_must_be_an_object() {
        for value in [json!("x"), json!([{"active": false}]), json!(null)] {
            let error = refused(okta_user(), json!([{"op": "replace", "value": value}]));
            assert_eq!(error.scim_type, "invalidSyntax", "{value}");
        }
    }

    #[test]
    fn pathless_schema_keys_merge_into_their_objects() {
        let user = applied(
            entra_user(),
            json!([{"op": "replace", "value": {
                ENTERPRISE: {"department": "Ops", "manager": {"value": "m1"}},
                CORE_USER: {"nickName": "Babs", "name": {"givenName": "Ann"}},
            }}]),
        );
        assert_eq!(
            user[ENTERPRISE],
            json!({"department": "Ops", "employeeNumber": "1001", "manager": {"value": "m1"}})
        );
        assert_eq!(user["nickName"], "Babs");
        assert_eq!(user["name"]["givenName"], "Ann");
        assert_eq!(user["name"]["familyName"], "familyName");
        assert!(user.get(CORE_USER).is_none());
    }

    #[test]
    fn a_path_naming_a_schema_addresses_its_object() {
        let user = applied(
            entra_user(),
            json!([
                {"op": "replace", "path": ENTERPRISE, "value": {"department": "Ops"}},
                {"op": "add", "path": CORE_USER, "value": {"title": "Engineer"}},
            ]),
        );
        assert_eq!(
            user[ENTERPRISE],
            json!({"department": "Ops", "employeeNumber": "1001"})
        );
        assert_eq!(user["title"], "Engineer");
        let removed = applied(entra_user(), json!([{"op": "remove", "path": ENTERPRISE}]));
        assert!(removed.get(ENTERPRISE).is_none());
        assert_eq!(removed["schemas"], json!([CORE_USER]));
        let error = refused(entra_user(), json!([{"op": "remove", "path": CORE_USER}]));
        assert_eq!(error.scim_type, "invalidPath");
        let error = refused(
            entra_user(),
            json!([{"op": "replace", "path": ENTERPRISE, "value": "Ops"}]),
        );
        assert_eq!(error.scim_type, "invalidValue");
    }

    #[test]
    fn entra_disables_with_the_string_false() {
        // Verbatim, providers.md §5.2 (without the aadOptscim062020 flag).
        let body = json!({"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"Replace","path":"active","value":"False"}]});
        let mut user = entra_user();
        assert_eq!(apply(&mut user, &body), Ok(()));
        assert_eq!(user["active"], json!(false));
        let user = applied(
            user,
            json!([{"op": "Replace", "path": "active", "value": "True"}]),
        );
        assert_eq!(user["active"], json!(true));
        let user = applied(
            user,
            json!([{"op": "replace", "path": "active", "value": false}]),
        );
        assert_eq!(user["active"], json!(false));
        // Whatever the key's case, and whoever stored the string.
        let user = applied(
            json!({"userName": "a", "Active": "true"}),
            json!([{"op": "replace", "path": "userName", "value": "b"}]),
        );
        assert_eq!(user, json!({"userName": "b", "Active": true}));
    }

    #[test]
    fn add_appends_to_a_multi_valued_attribute_once() {
        let work = json!({"primary": true, "type": "work", "value": "test.user@contoso.com"});
        let home = json!({"type": "home", "value": "home@example.com"});
        let other = json!({"type": "other", "value": "other@example.com"});
        let user = applied(
            entra_user(),
            json!([
                {"op": "add", "path": "emails", "value": [home, work]},
                {"op": "add", "path": "emails", "value": other},
                {"op": "add", "path": "roles", "value": [{"value": "admin"}]},
            ]),
        );
        assert_eq!(user["emails"], json!([work, home, other]));
        assert_eq!(user["roles"], json!([{"value": "admin"}]));
    }

    #[test]
    fn replace_merges_a_complex_attribute_and_swaps_a_multi_valued_one() {
        let user = applied(
            entra_user(),
            json!([
                {"op": "replace", "path": "name", "value": {"familyName": "Jensen"}},
                {"op": "add", "path": "name", "value": {"middleName": "M", "formatted": null}},
                {"op": "replace", "path": "emails", "value": [{"type": "home", "value": "h@example.com"}]},
                {"op": "replace", "path": "displayName", "value": "Babs"},
            ]),
        );
        assert_eq!(
            user["name"],
            json!({"familyName": "Jensen", "givenName": "givenName", "middleName": "M"})
        );
        assert_eq!(
            user["emails"],
            json!([{"type": "home", "value": "h@example.com"}])
        );
        assert_eq!(user["displayName"], "Babs");
        let roles = applied(
            json!({"roles": [{"value": "a"}]}),
            json!([{"op": "replace", "path": "roles", "value": {"value": "b"}}]),
        );
        assert_eq!(roles, json!({"roles": [{"value": "b"}]}));
    }

    #[test]
    fn sub_attribute_paths() {
        let user = applied(
            json!({"userName": "a"}),
            json!([{"op": "add", "path": "name.givenName", "value": "Ann"}]),
        );
        assert_eq!(user["name"], json!({"givenName": "Ann"}));
        let user = applied(
            okta_user(),
            json!([{"op": "Replace", "path": "name.familyName", "value": "Jensen"}]),
        );
        assert_eq!(
            user["name"],
            json!({"givenName": "Test", "familyName": "Jensen"})
        );
        // On a multi-valued attribute: every element, or a first one.
        let user = applied(
            json!({"emails": [{"type": "work", "value": "a"}, {"type": "home", "value": "b"}],
                   "phoneNumbers": []}),
            json!([
                {"op": "replace", "path": "emails.display", "value": "x"},
                {"op": "add", "path": "phoneNumbers.value", "value": "+1 555 0100"},
            ]),
        );
        assert_eq!(
            user["emails"],
            json!([{"type": "work", "value": "a", "display": "x"},
                   {"type": "home", "value": "b", "display": "x"}])
        );
        assert_eq!(user["phoneNumbers"], json!([{"value": "+1 555 0100"}]));
        let error = refused(
            okta_user(),
            json!([{"op": "add", "path": "userName.first", "value": "x"}]),
        );
        assert_eq!(error.scim_type, "invalidPath");
    }

    #[test]
    fn filtered_add_and_replace() {
        let user =
            json!({"emails": [{"type": "work", "value": "a@x"}, {"type": "home", "value": "b@x"}]});
        let replaced = applied(
            user.clone(),
            json!([{"op": "replace", "path": "emails[type eq \"work\"]",
                    "value": {"value": "c@x", "primary": true}}]),
        );
        assert_eq!(
            replaced["emails"],
            json!([{"type": "work", "value": "c@x", "primary": true}, {"type": "home", "value": "b@x"}])
        );
        // Nothing matches: add appends, completed from the filter.
        let added = applied(
            user.clone(),
            json!([{"op": "add", "path": "emails[type eq \"other\"]", "value": {"value": "d@x"}}]),
        );
        assert_eq!(added["emails"][2], json!({"type": "other", "value": "d@x"}));
        let error = refused(
            user,
            json!([{"op": "replace", "path": "emails[type eq \"other\"]", "value": {"value": "d@x"}}]),
        );
        assert_eq!(error.scim_type, "noTarget");
        // A value that is not an object replaces the element.
        let roles = applied(
            json!({"roles": [{"value": "a"}, {"value": "b"}]}),
            json!([{"op": "replace", "path": "roles[value eq \"a\"]", "value": "c"}]),
        );
        assert_eq!(roles["roles"], json!(["c", {"value": "b"}]));
    }

    #[test]
    fn entra_adds_a_first_mobile_number() {
        // Verbatim shape, providers.md §5.2 attribute mapping.
        let body = json!({"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"Add","path":"phoneNumbers[type eq \"mobile\"].value","value":"+1 555 0100"}]});
        let mut user = entra_user();
        assert_eq!(apply(&mut user, &body), Ok(()));
        assert_eq!(
            user["phoneNumbers"],
            json!([{"type": "mobile", "value": "+1 555 0100"}])
        );
        let user = applied(
            user,
            json!([
                {"op": "Replace", "path": "phoneNumbers[type eq \"work\"].value", "value": "+1 555 0199"},
                {"op": "Replace", "path": "phoneNumbers[type eq \"mobile\"].value", "value": "+1 555 0101"},
            ]),
        );
        assert_eq!(
            user["phoneNumbers"],
            json!([{"type": "mobile", "value": "+1 555 0101"}, {"type": "work", "value": "+1 555 0199"}])
        );
    }

    #[test]
    fn a_created_element_takes_every_eq_condition_or_none_is_created() {
        let user = applied(
            json!({"userName": "a"}),
            json!([{"op": "add", "path": "emails[type eq \"work\" and primary eq true].value",
                    "value": "a@x"}]),
        );
        assert_eq!(
            user["emails"],
            json!([{"type": "work", "primary": true, "value": "a@x"}])
        );
        for path in [
            "emails[type ne \"work\"].value",
            "emails[type eq \"work\" or type eq \"home\"].value",
        ] {
            let error = refused(
                json!({"userName": "a"}),
                json!([{"op": "add", "path": path, "value": "a@x"}]),
            );
            assert_eq!(error.scim_type, "noTarget", "{path}");
        }
    }

    #[test]
    fn entra_replaces_the_work_email_in_place() {
        // Verbatim operations, providers.md §5.2; `type` matches any case.
        let user = json!({"userName": "a", "emails": [
            {"type": "Work", "value": "old@contoso.com", "primary": true},
            {"type": "other", "value": "o@contoso.com"}]});
        let user = applied(
            user,
            json!([
                {"op":"Replace","path":"emails[type eq \"work\"].value","value":"updatedEmail@microsoft.com"},
                {"op":"Replace","path":"name.familyName","value":"updatedFamilyName"},
            ]),
        );
        assert_eq!(
            user["emails"],
            json!([{"type": "Work", "value": "updatedEmail@microsoft.com", "primary": true},
                   {"type": "other", "value": "o@contoso.com"}])
        );
        assert_eq!(user["name"], json!({"familyName": "updatedFamilyName"}));
    }

    #[test]
    fn entra_sends_the_manager_as_a_bare_id() {
        // Verbatim, providers.md §5.2 (SCIM-SDK#686).
        let body = json!({"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"add","path":"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager","value":"2c2f6fb8-254f-492e-b7fe-c09c5a61c8a2"}]});
        let mut user = entra_user();
        assert_eq!(apply(&mut user, &body), Ok(()));
        assert_eq!(
            user[ENTERPRISE],
            json!({"department": "Sales", "employeeNumber": "1001",
                   "manager": {"value": "2c2f6fb8-254f-492e-b7fe-c09c5a61c8a2"}})
        );
        let manager = format!("{ENTERPRISE}:manager");
        let user = applied(
            user,
            json!([{"op": "replace", "path": manager, "value": {"value": "m2"}}]),
        );
        assert_eq!(user[ENTERPRISE]["manager"], json!({"value": "m2"}));
        // A bare id stored earlier takes `manager.value`.
        let user = applied(
            json!({"userName": "a", ENTERPRISE: {"manager": "m1"}}),
            json!([{"op": "Replace", "path": format!("{manager}.value"), "value": "m3"}]),
        );
        assert_eq!(user[ENTERPRISE], json!({"manager": {"value": "m3"}}));
    }

    #[test]
    fn entra_adds_many_members_with_null_refs() {
        // Shape verbatim from providers.md §5.2; existing ids are skipped.
        let group = applied(
            group(),
            json!([{"op": "Add", "path": "members", "value": [
                {"$ref": null, "value": "f648f8d5ea4e4cd38e9c"},
                {"$ref": null, "value": "u2"},
                {"$ref": null, "value": "u3"},
                {"value": "u2", "display": "again"},
            ]}]),
        );
        assert_eq!(
            group["members"],
            json!([{"value": "f648f8d5ea4e4cd38e9c", "display": "test.user@okta.local"},
                   {"value": "7f4bc1a3-285e-48ae-8202-5accb43efb0e"},
                   {"value": "u2"}, {"value": "u3"}])
        );
        let created = applied(
            json!({"displayName": "g"}),
            json!([{"op": "Add", "path": "members", "value": [{"$ref": null, "value": "u1"}]}]),
        );
        assert_eq!(created["members"], json!([{"value": "u1"}]));
    }

    #[test]
    fn entra_removes_members_by_listing_them() {
        let group = applied(
            group(),
            json!([{"op": "Remove", "path": "members",
                    "value": [{"$ref": null, "value": "f648f8d5ea4e4cd38e9c"}]}]),
        );
        assert_eq!(
            group["members"],
            json!([{"value": "7f4bc1a3-285e-48ae-8202-5accb43efb0e"}])
        );
        let group = applied(
            group,
            json!([{"op": "remove", "path": "members", "value": [
                {"value": "7f4bc1a3-285e-48ae-8202-5accb43efb0e"}, {"value": "not-a-member"}]}]),
        );
        assert!(group.get("members").is_none());
        // With the aadOptscim062020 flag, verbatim.
        let group = applied(
            self::group(),
            json!([{"op":"remove","path":"members[value eq \"7f4bc1a3-285e-48ae-8202-5accb43efb0e\"]"}]),
        );
        assert_eq!(
            group["members"],
            json!([{"value": "f648f8d5ea4e4cd38e9c", "display": "test.user@okta.local"}])
        );
    }

    #[test]
    fn okta_membership_removes_by_filter_then_adds() {
        // Shape verbatim from providers.md §5.3.
        let group = applied(
            group(),
            json!([
                {"op":"remove","path":"members[value eq \"f648f8d5ea4e4cd38e9c\"]"},
                {"op":"add","path":"members","value":[{"value":"23a35c27-0000","display":"test.user@okta.local"}]},
                {"op":"remove","path":"members[value eq \"not-a-member\"]"},
            ]),
        );
        assert_eq!(
            group["members"],
            json!([{"value": "7f4bc1a3-285e-48ae-8202-5accb43efb0e"},
                   {"value": "23a35c27-0000", "display": "test.user@okta.local"}])
        );
    }

    #[test]
    fn okta_replaces_the_whole_member_list() {
        let members = json!([{"value": "a", "display": "A"}, {"value": "b", "display": "B"}]);
        let group = applied(
            group(),
            json!([{"op": "replace", "path": "members", "value": members}]),
        );
        assert_eq!(group["members"], members);
        let group = applied(
            group,
            json!([{"op": "replace", "path": "members", "value": []}]),
        );
        assert_eq!(group["members"], json!([]));
    }

    #[test]
    fn member_filters_compare_ids_exactly() {
        let group = applied(
            group(),
            json!([{"op": "remove", "path": "members[value eq \"F648F8D5EA4E4CD38E9C\"]"}]),
        );
        assert_eq!(group["members"], self::group()["members"]);
    }

    #[test]
    fn remove_semantics() {
        let user = applied(
            entra_user(),
            json!([
                {"op": "remove", "path": "displayName"},
                {"op": "remove", "path": "nickName"},
                {"op": "remove", "path": "name.formatted"},
                {"op": "remove", "path": "emails[type eq \"work\"].primary"},
                {"op": "remove", "path": "emails.type"},
                {"op": "remove", "path": format!("{ENTERPRISE}:department")},
            ]),
        );
        assert!(user.get("displayName").is_none());
        assert_eq!(
            user["name"],
            json!({"familyName": "familyName", "givenName": "givenName"})
        );
        assert_eq!(user["emails"], json!([{"value": "test.user@contoso.com"}]));
        assert_eq!(user[ENTERPRISE], json!({"employeeNumber": "1001"}));
        // The last element gone, the attribute is unassigned.
        let user = applied(
            user,
            json!([{"op": "remove", "path": "emails[value eq \"test.user@contoso.com\"]"}]),
        );
        assert!(user.get("emails").is_none());
        // Nothing to remove is no error, and creates nothing.
        let user = applied(
            okta_user(),
            json!([{"op": "remove", "path": format!("{ENTERPRISE}:department")},
                   {"op": "remove", "path": "addresses[type eq \"work\"].postalCode"}]),
        );
        assert_eq!(user, okta_user());
    }

    #[test]
    fn remove_needs_a_path() {
        let error = refused(okta_user(), json!([{"op": "remove"}]));
        assert_eq!(error.scim_type, "noTarget");
    }

    #[test]
    fn read_only_attributes_are_refused() {
        let id_in_core = format!("{CORE_USER}:id");
        for path in ["id", "ID", "meta", "meta.lastModified", id_in_core.as_str()] {
            for op in ["add", "replace", "remove"] {
                let error = refused(
                    entra_user(),
                    json!([{"op": op, "path": path, "value": "x"}]),
                );
                assert_eq!(error.scim_type, "mutability", "{op} {path}");
            }
        }
        let error = refused(
            entra_user(),
            json!([{"op": "replace", "path": "schemas", "value": [CORE_USER]}]),
        );
        assert_eq!(error.scim_type, "invalidPath");
        let error = refused(
            entra_user(),
            json!([{"op": "replace", "value": {"id": "someone-else"}}]),
        );
        assert_eq!(error.scim_type, "mutability");
    }

    #[test]
    fn okta_rename_echoes_the_id() {
        // Shape verbatim from providers.md §5.3.
        let group = applied(
            group(),
            json!([{"op": "replace", "value": {"id": "40734ae655284ad3abcc", "displayName": "Renamed",
                    "schemas": [CORE_GROUP], "meta": {"resourceType": "Group"}}}]),
        );
        let mut expected = self::group();
        expected["displayName"] = json!("Renamed");
        assert_eq!(group, expected);
    }

    #[test]
    fn all_or_nothing() {
        let error = refused(
            entra_user(),
            json!([
                {"op": "replace", "path": "displayName", "value": "Changed"},
                {"op": "add", "path": "emails[type eq \"home\"].value", "value": "h@x"},
                {"op": "replace", "path": "emails[type eq \"other\"]", "value": {"value": "o@x"}},
            ]),
        );
        assert_eq!(error.scim_type, "noTarget");
        assert!(error.detail.starts_with("Operations[2]: "), "{error}");
    }

    #[test]
    fn invalid_paths_are_refused_with_the_parser_message() {
        let error = refused(
            okta_user(),
            json!([{"op": "replace", "path": "emails[type eq \"work\"", "value": "x"}]),
        );
        assert_eq!(error.scim_type, "invalidPath");
        assert!(error.detail.contains("'[' is never closed"), "{error}");
        for path in [
            "userName eq \"x\"",
            "a.b.c",
            "",
            "emails[type eq \"work\"].value.x",
        ] {
            let error = refused(
                okta_user(),
                json!([{"op": "add", "path": path, "value": "x"}]),
            );
            assert_eq!(error.scim_type, "invalidPath", "{path:?}");
        }
        let error = refused(okta_user(), json!([{"op": "add", "path": 7, "value": "x"}]));
        assert_eq!(error.scim_type, "invalidPath");
        let error = refused(
            okta_user(),
            json!([{"op": "add", "path": "userName[value eq \"x\"]", "value": "y"}]),
        );
        assert_eq!(error.scim_type, "invalidPath");
        let error = refused(
            okta_user(),
            json!([{"op": "replace", "value": {"not a name": "x"}}]),
        );
        assert_eq!(error.scim_type, "invalidPath");
    }

    #[test]
    fn bounds_the_number_of_operations() {
        let many = |n: usize| {
            let ops = (0..n)
                .map(|i| json!({"op": "replace", "path": "nickName", "value": format!("n{i}")}));
            Value::Array(ops.collect())
        };
        let user = applied(okta_user(), many(MAX_OPERATIONS));
        assert_eq!(user["nickName"], "n999");
        let error = refused(okta_user(), many(MAX_OPERATIONS + 1));
        assert_eq!(error.scim_type, "invalidSyntax");
    }

    #[test]
    fn the_resource_stays_an_object() {
        let mut list = json!([]);
        let error = apply(
            &mut list,
            &patch(json!([{"op": "add", "path": "a", "value": 1}])),
        )
        .expect_err("not an object");
        assert_eq!(error.scim_type, "invalidValue");
        assert_eq!(list, json!([]));
        let error = refused(okta_user(), json!([{"op": "replace", "value": false}]));
        assert_eq!(error.scim_type, "invalidSyntax");
    }

    #[test]
    fn a_password_is_never_stored() {
        let user = applied(
            okta_user(),
            json!([
                {"op": "replace", "value": {"password": "1mz050nq"}},
                {"op": "add", "path": "PASSWORD", "value": "x"},
            ]),
        );
        assert_eq!(user, okta_user());
    }
}
