//! SCIM filters (RFC 7644 §3.4.2.2) and PATCH paths (§3.5.2): parsing, and
//! evaluating a parsed filter against a resource held as JSON.
//!
//! Entra ID and Okta send little more than `userName eq "x"`, value paths
//! such as `emails[type eq "work"].value` and full-URN paths, but the whole
//! grammar is parsed so that anything else gets a precise `invalidFilter`.
//!
//! Choices the RFC leaves open, made here:
//! - Strings compare case-insensitively, except `id`, `externalId` and
//!   `members.value`: they hold identifiers, which must not fold together.
//! - `gt ge lt le` order strings by code point after folding case, so dates
//!   order correctly as long as they are ISO 8601 in UTC, as SCIM `meta` is.
//!   Numbers order numerically; booleans and mixed types never match.
//! - `eq null` matches an absent or null attribute, `ne null` a present one.
//! - `ne` is the negation of `eq`: it matches when no value is equal,
//!   including when the attribute is absent.
//! - A complex value compared without a sub-attribute is compared through its
//!   `value` sub-attribute, so `emails co "@example.com"` looks at addresses.
//! - Entra sends `emails[type eq "work"].value eq "x"`, which the RFC filter
//!   grammar lacks; it parses as `emails[type eq "work" and value eq "x"]`.

use std::cmp::Ordering;
use std::fmt;

use serde_json::{Number, Value};

/// Longest filter or path accepted; real provider filters stay under 200.
const MAX_LEN: usize = 4096;
/// Deepest nesting of `( )`, `not ( )` and `[ ]`: bounds recursion on hostile input.
const MAX_DEPTH: usize = 32;
/// Attributes qualified with these URNs live at the top level of a resource.
const CORE_SCHEMAS: [&str; 2] = [
    "urn:ietf:params:scim:schemas:core:2.0:User",
    "urn:ietf:params:scim:schemas:core:2.0:Group",
];

/// Why a filter or path was rejected; the SCIM layer answers it with
/// `400 invalidFilter` (or `invalidPath` for PATCH).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message} (at position {position})")]
pub struct FilterError {
    position: usize,
    message: String,
}

impl FilterError {
    fn new(position: usize, message: impl Into<String>) -> Self {
        Self {
            position,
            message: message.into(),
        }
    }

    /// Zero-based character offset into the input where the problem was found.
    pub fn position(&self) -> usize {
        self.position
    }

    /// The problem, without the position.
    pub fn message(&self) -> &str {
        &self.message
    }
}

/// `[urn:]name[.sub]`. Names compare case-insensitively (RFC 7643 §2.1),
/// so equality ignores case and the text as written is kept for messages.
#[derive(Debug, Clone)]
pub struct AttrPath {
    /// Schema URN prefix, e.g. `urn:ietf:params:scim:schemas:extension:enterprise:2.0:User`.
    pub urn: Option<String>,
    pub name: String,
    pub sub: Option<String>,
    raw: String,
}

impl AttrPath {
    /// The path as the client wrote it.
    pub fn as_str(&self) -> &str {
        &self.raw
    }
}

impl PartialEq for AttrPath {
    fn eq(&self, other: &Self) -> bool {
        same_name(self.urn.as_deref(), other.urn.as_deref())
            && self.name.eq_ignore_ascii_case(&other.name)
            && same_name(self.sub.as_deref(), other.sub.as_deref())
    }
}

impl Eq for AttrPath {}

impl fmt::Display for AttrPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.raw)
    }
}

fn same_name(a: Option<&str>, b: Option<&str>) -> bool {
    match (a, b) {
        (Some(a), Some(b)) => a.eq_ignore_ascii_case(b),
        (None, None) => true,
        _ => false,
    }
}

/// A parsed filter. `and` binds tighter than `or`; both associate left.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Filter {
    /// `attr op value`, e.g. `userName eq "bjensen"`.
    Compare {
        attr: AttrPath,
        op: CompareOp,
        value: CompValue,
    },
    /// `attr pr`.
    Present(AttrPath),
    And(Box<Filter>, Box<Filter>),
    Or(Box<Filter>, Box<Filter>),
    Not(Box<Filter>),
    /// `attr[filter]`: one element of `attr` satisfies the whole `filter`.
    ValuePath {
        attr: AttrPath,
        filter: Box<Filter>,
    },
}

/// The comparison operators; `pr` is [`Filter::Present`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CompareOp {
    Eq,
    Ne,
    Co,
    Sw,
    Ew,
    Gt,
    Ge,
    Lt,
    Le,
}

/// Each operator's keyword; matched case-insensitively.
const OPERATORS: [(&str, CompareOp); 9] = [
    ("eq", CompareOp::Eq),
    ("ne", CompareOp::Ne),
    ("co", CompareOp::Co),
    ("sw", CompareOp::Sw),
    ("ew", CompareOp::Ew),
    ("gt", CompareOp::Gt),
    ("ge", CompareOp::Ge),
    ("lt", CompareOp::Lt),
    ("le", CompareOp::Le),
];

fn operator_list() -> String {
    let keywords: Vec<&str> = OPERATORS.iter().map(|(keyword, _)| *keyword).collect();
    keywords.join(", ") + " or pr"
}

impl CompareOp {
    fn keyword(self) -> &'static str {
        OPERATORS
            .iter()
            .find(|(_, op)| *op == self)
            .map_or("?", |(keyword, _)| *keyword)
    }

    fn from_keyword(word: &str) -> Option<Self> {
        OPERATORS
            .iter()
            .find(|(keyword, _)| keyword.eq_ignore_ascii_case(word))
            .map(|(_, op)| *op)
    }

    fn is_ordering(self) -> bool {
        matches!(self, Self::Gt | Self::Ge | Self::Lt | Self::Le)
    }

    fn is_substring(self) -> bool {
        matches!(self, Self::Co | Self::Sw | Self::Ew)
    }

    /// Whether `have` compared to the literal as `ordering` satisfies the operator.
    fn accepts(self, ordering: Ordering) -> bool {
        match self {
            Self::Eq => ordering == Ordering::Equal,
            Self::Ne => ordering != Ordering::Equal,
            Self::Gt => ordering == Ordering::Greater,
            Self::Ge => ordering != Ordering::Less,
            Self::Lt => ordering == Ordering::Less,
            Self::Le => ordering != Ordering::Greater,
            Self::Co | Self::Sw | Self::Ew => false,
        }
    }
}

/// The literal on the right of a comparison (RFC 7644 `compValue`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CompValue {
    Str(String),
    Num(Number),
    Bool(bool),
    Null,
}

/// A PATCH `path`: `attr`, `attr.sub`, `attr[filter]` or `attr[filter].sub`.
/// For `name.givenName` the sub-attribute sits in `attr.sub`; for
/// `emails[type eq "work"].value` it sits in `sub`, after the filter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PatchPath {
    pub attr: AttrPath,
    pub filter: Option<Filter>,
    pub sub: Option<String>,
}

/// Parses a `filter` query parameter, e.g. `userName eq "bjensen"`.
pub fn parse_filter(input: &str) -> Result<Filter, FilterError> {
    let mut parser = Parser::new(input, "filter")?;
    let filter = parser.parse_or()?;
    parser.expect_end("expected 'and', 'or' or the end of the filter")?;
    Ok(filter)
}

/// Parses a PATCH operation's `path`, e.g. `emails[type eq "work"].value`.
pub fn parse_path(input: &str) -> Result<PatchPath, FilterError> {
    let mut parser = Parser::new(input, "path")?;
    parser.skip_ws();
    let at = parser.pos;
    let Some(word) = parser.read_word() else {
        let message = format!(
            "a path starts with an attribute name, found {}",
            parser.found()
        );
        return Err(FilterError::new(at, message));
    };
    let attr = parse_attr_path(&word, at)?;
    let mut path = PatchPath {
        attr,
        filter: None,
        sub: None,
    };
    if parser.peek() == Some('[') {
        path.filter = Some(parser.parse_brackets(&path.attr, at)?);
        if parser.peek() == Some('.') {
            parser.pos += 1;
            path.sub = Some(parser.read_sub_name()?);
        }
    }
    parser.expect_end("a path is attr, attr.sub, attr[filter] or attr[filter].sub")?;
    Ok(path)
}

/// Letters start names and keywords; `$` starts `$ref`.
fn is_word_start(c: char) -> bool {
    c.is_ascii_alphabetic() || c == '$'
}

/// A word runs over a whole `urn:...:name.sub`, split afterwards by [`parse_attr_path`].
fn is_word_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '$' | ':' | '.')
}

/// Splits `urn:...:name.sub`: the URN is everything up to the last ':',
/// since attribute names never contain one.
fn parse_attr_path(word: &str, at: usize) -> Result<AttrPath, FilterError> {
    let (urn, rest) = match word.rfind(':') {
        Some(i) => (Some(&word[..i]), &word[i + 1..]),
        None => (None, word),
    };
    let (name, sub) = match rest.split_once('.') {
        Some((name, sub)) => (name, Some(sub)),
        None => (rest, None),
    };
    let valid =
        urn.is_none_or(|u| !u.is_empty()) && is_attr_name(name) && sub.is_none_or(is_attr_name);
    if !valid {
        return Err(FilterError::new(
            at,
            format!("'{word}' is not a valid attribute path"),
        ));
    }
    Ok(AttrPath {
        urn: urn.map(str::to_owned),
        name: name.to_owned(),
        sub: sub.map(str::to_owned),
        raw: word.to_owned(),
    })
}

/// RFC 7644 ATTRNAME: a letter, then letters, digits, '-' or '_'; plus `$ref`.
fn is_attr_name(name: &str) -> bool {
    let mut chars = name.chars();
    match chars.next() {
        Some(first) if first.is_ascii_alphabetic() || first == '$' => {
            chars.all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        }
        _ => false,
    }
}

/// Recursive descent over the input's characters; positions are char offsets.
struct Parser {
    chars: Vec<char>,
    pos: usize,
    depth: usize,
    in_brackets: bool,
}

impl Parser {
    fn new(input: &str, what: &str) -> Result<Self, FilterError> {
        if input.chars().count() > MAX_LEN {
            let message = format!("{what} is longer than {MAX_LEN} characters");
            return Err(FilterError::new(MAX_LEN, message));
        }
        if input.trim().is_empty() {
            return Err(FilterError::new(0, format!("{what} is empty")));
        }
        Ok(Self {
            chars: input.chars().collect(),
            pos: 0,
            depth: 0,
            in_brackets: false,
        })
    }

    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).copied()
    }

    fn peek_past_ws(&self) -> Option<char> {
        self.chars[self.pos..]
            .iter()
            .copied()
            .find(|c| !c.is_whitespace())
    }

    fn skip_ws(&mut self) {
        while self.peek().is_some_and(char::is_whitespace) {
            self.pos += 1;
        }
    }

    fn read_word(&mut self) -> Option<String> {
        if !self.peek().is_some_and(is_word_start) {
            return None;
        }
        let start = self.pos;
        while self.peek().is_some_and(is_word_char) {
            self.pos += 1;
        }
        Some(self.chars[start..self.pos].iter().collect())
    }

    /// The next word after any whitespace, without consuming it.
    fn peek_word(&mut self) -> Option<String> {
        let saved = self.pos;
        self.skip_ws();
        let word = self.read_word();
        self.pos = saved;
        word
    }

    fn eat_keyword(&mut self, keyword: &str) -> bool {
        let saved = self.pos;
        self.skip_ws();
        match self.read_word() {
            Some(word) if word.eq_ignore_ascii_case(keyword) => true,
            _ => {
                self.pos = saved;
                false
            }
        }
    }

    /// What sits at the cursor, quoted for an error message.
    fn found(&self) -> String {
        let rest = &self.chars[self.pos..];
        match rest.first() {
            None => "the end".to_owned(),
            Some(&c) if is_word_start(c) => {
                let word: String = rest
                    .iter()
                    .take_while(|c| is_word_char(**c))
                    .take(40)
                    .collect();
                format!("'{word}'")
            }
            Some(c) => format!("'{c}'"),
        }
    }

    fn descend(&mut self, at: usize) -> Result<(), FilterError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(FilterError::new(
                at,
                format!("nested deeper than {MAX_DEPTH} levels"),
            ));
        }
        Ok(())
    }

    fn expect_end(&mut self, expected: &str) -> Result<(), FilterError> {
        self.skip_ws();
        if self.pos < self.chars.len() {
            let found = self.found();
            return Err(FilterError::new(
                self.pos,
                format!("unexpected {found}; {expected}"),
            ));
        }
        Ok(())
    }

    fn expect_close(&mut self, close: char, open_at: usize) -> Result<(), FilterError> {
        self.skip_ws();
        match self.peek() {
            Some(c) if c == close => {
                self.pos += 1;
                Ok(())
            }
            None => {
                let open = if close == ')' { '(' } else { '[' };
                Err(FilterError::new(
                    open_at,
                    format!("'{open}' is never closed"),
                ))
            }
            Some(_) => {
                let message = format!("expected 'and', 'or' or '{close}', found {}", self.found());
                Err(FilterError::new(self.pos, message))
            }
        }
    }

    fn parse_or(&mut self) -> Result<Filter, FilterError> {
        let mut left = self.parse_and()?;
        while self.eat_keyword("or") {
            let right = self.parse_and()?;
            left = Filter::Or(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn parse_and(&mut self) -> Result<Filter, FilterError> {
        let mut left = self.parse_term()?;
        while self.eat_keyword("and") {
            let right = self.parse_term()?;
            left = Filter::And(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    /// `( filter )`, `not ( filter )`, `attr[filter]` or `attr op value`.
    fn parse_term(&mut self) -> Result<Filter, FilterError> {
        self.skip_ws();
        let start = self.pos;
        if self.peek() == Some('(') {
            self.pos += 1;
            return self.parse_group(start);
        }
        let Some(word) = self.read_word() else {
            let message = format!(
                "expected an attribute, '(' or 'not', found {}",
                self.found()
            );
            return Err(FilterError::new(start, message));
        };
        if word.eq_ignore_ascii_case("not") {
            if let Some(negated) = self.parse_not(start)? {
                return Ok(negated);
            }
        }
        let attr = parse_attr_path(&word, start)?;
        if self.peek() == Some('[') {
            let inner = self.parse_brackets(&attr, start)?;
            let inner = self.parse_value_path_tail(inner)?;
            return Ok(Filter::ValuePath {
                attr,
                filter: Box::new(inner),
            });
        }
        self.parse_comparison(attr)
    }

    /// After the word `not`: `Some` for `not ( filter )`, `None` when `not`
    /// is an attribute's name (`not pr`), an error otherwise.
    fn parse_not(&mut self, start: usize) -> Result<Option<Filter>, FilterError> {
        if self.peek_past_ws() == Some('(') {
            self.skip_ws();
            self.pos += 1;
            let inner = self.parse_group(start)?;
            return Ok(Some(Filter::Not(Box::new(inner))));
        }
        let operator_follows = self
            .peek_word()
            .is_some_and(|w| w.eq_ignore_ascii_case("pr") || CompareOp::from_keyword(&w).is_some());
        if operator_follows {
            return Ok(None);
        }
        Err(FilterError::new(
            start,
            "'not' must be followed by a filter in parentheses",
        ))
    }

    /// The rest of `( filter )` once the '(' at `open_at` is consumed.
    fn parse_group(&mut self, open_at: usize) -> Result<Filter, FilterError> {
        self.descend(open_at)?;
        let inner = self.parse_or()?;
        self.expect_close(')', open_at)?;
        self.depth -= 1;
        Ok(inner)
    }

    /// `[ filter ]` after `attr`, whose elements the filter is evaluated against.
    fn parse_brackets(&mut self, attr: &AttrPath, attr_at: usize) -> Result<Filter, FilterError> {
        if self.in_brackets {
            return Err(FilterError::new(
                attr_at,
                "a value path cannot contain another value path",
            ));
        }
        if attr.sub.is_some() {
            let message = format!("'{attr}' has a sub-attribute, so it cannot take a [filter]");
            return Err(FilterError::new(attr_at, message));
        }
        let open_at = self.pos;
        self.pos += 1;
        self.descend(open_at)?;
        self.in_brackets = true;
        let inner = self.parse_or()?;
        self.in_brackets = false;
        self.expect_close(']', open_at)?;
        self.depth -= 1;
        Ok(inner)
    }

    /// Entra's `attr[filter].sub op value`: folds `sub op value` into the filter.
    fn parse_value_path_tail(&mut self, inner: Filter) -> Result<Filter, FilterError> {
        if self.peek() != Some('.') {
            return Ok(inner);
        }
        self.pos += 1;
        let name = self.read_sub_name()?;
        let sub = AttrPath {
            urn: None,
            name: name.clone(),
            sub: None,
            raw: name,
        };
        let condition = self.parse_comparison(sub)?;
        Ok(Filter::And(Box::new(inner), Box::new(condition)))
    }

    fn read_sub_name(&mut self) -> Result<String, FilterError> {
        let at = self.pos;
        match self.read_word() {
            Some(word) if is_attr_name(&word) => Ok(word),
            _ => {
                let message = format!(
                    "expected a sub-attribute name after '.', found {}",
                    self.found()
                );
                Err(FilterError::new(at, message))
            }
        }
    }

    /// `op value` or `pr` after an attribute path.
    fn parse_comparison(&mut self, attr: AttrPath) -> Result<Filter, FilterError> {
        self.skip_ws();
        let at = self.pos;
        let Some(word) = self.read_word() else {
            let message = format!(
                "expected an operator after '{attr}', found {}",
                self.found()
            );
            return Err(FilterError::new(at, message));
        };
        if word.eq_ignore_ascii_case("pr") {
            self.reject_value_after_pr(at)?;
            return Ok(Filter::Present(attr));
        }
        let Some(op) = CompareOp::from_keyword(&word) else {
            let message = format!(
                "unknown operator '{word}'; expected one of {}",
                operator_list()
            );
            return Err(FilterError::new(at, message));
        };
        self.skip_ws();
        let value_at = self.pos;
        let value = self.parse_value(op)?;
        check_operand(op, &value, value_at)?;
        Ok(Filter::Compare { attr, op, value })
    }

    fn reject_value_after_pr(&mut self, at: usize) -> Result<(), FilterError> {
        let next = self.peek_past_ws();
        let keyword = self.peek_word().map(|w| w.to_ascii_lowercase());
        let literal_follows = next.is_some_and(|c| c == '"' || c == '-' || c.is_ascii_digit())
            || matches!(keyword.as_deref(), Some("true" | "false" | "null"));
        if literal_follows {
            return Err(FilterError::new(at, "'pr' takes no value"));
        }
        Ok(())
    }

    fn parse_value(&mut self, op: CompareOp) -> Result<CompValue, FilterError> {
        let at = self.pos;
        match self.peek() {
            Some('"') => return self.parse_string().map(CompValue::Str),
            Some(c) if c == '-' || c.is_ascii_digit() => return self.parse_number(),
            _ => {}
        }
        let needs_value = format!("'{}' needs a value, found {}", op.keyword(), self.found());
        let keyword = self.read_word().map(|w| w.to_ascii_lowercase());
        match keyword.as_deref() {
            Some("true") => Ok(CompValue::Bool(true)),
            Some("false") => Ok(CompValue::Bool(false)),
            Some("null") => Ok(CompValue::Null),
            Some(_) => Err(FilterError::new(
                at,
                needs_value + " (strings go in double quotes)",
            )),
            None => Err(FilterError::new(at, needs_value)),
        }
    }

    /// A JSON string; the literal is found here and decoded by serde_json,
    /// which handles every escape including surrogate pairs.
    fn parse_string(&mut self) -> Result<String, FilterError> {
        let start = self.pos;
        let mut i = start + 1;
        while let Some(&c) = self.chars.get(i) {
            match c {
                '\\' => i += 2,
                '"' => {
                    let literal: String = self.chars[start..=i].iter().collect();
                    self.pos = i + 1;
                    return serde_json::from_str::<String>(&literal).map_err(|_| {
                        let message =
                            "string has an invalid escape or an unescaped control character";
                        FilterError::new(start, message)
                    });
                }
                _ => i += 1,
            }
        }
        Err(FilterError::new(start, "unterminated string"))
    }

    fn parse_number(&mut self) -> Result<CompValue, FilterError> {
        let start = self.pos;
        let number_char = |c: char| c.is_ascii_digit() || matches!(c, '-' | '+' | '.' | 'e' | 'E');
        while self.peek().is_some_and(number_char) {
            self.pos += 1;
        }
        let text: String = self.chars[start..self.pos].iter().collect();
        match serde_json::from_str::<Value>(&text) {
            Ok(Value::Number(n)) => Ok(CompValue::Num(n)),
            _ => Err(FilterError::new(
                start,
                format!("'{text}' is not a valid number"),
            )),
        }
    }
}

/// Rejects literals that can never match (RFC 7644 §3.4.2.2 makes ordering a
/// boolean an `invalidFilter`); `eq null` and `ne null` stay allowed.
fn check_operand(op: CompareOp, value: &CompValue, at: usize) -> Result<(), FilterError> {
    let keyword = op.keyword();
    match value {
        CompValue::Null if !matches!(op, CompareOp::Eq | CompareOp::Ne) => {
            let message = format!("'{keyword}' cannot compare with null; only eq and ne can");
            Err(FilterError::new(at, message))
        }
        CompValue::Bool(_) if op.is_ordering() => Err(FilterError::new(
            at,
            format!("'{keyword}' cannot compare booleans"),
        )),
        CompValue::Num(_) | CompValue::Bool(_) if op.is_substring() => Err(FilterError::new(
            at,
            format!("'{keyword}' needs a string value"),
        )),
        _ => Ok(()),
    }
}

impl Filter {
    /// Whether `resource` (a SCIM User or Group as JSON) satisfies the filter.
    pub fn matches(&self, resource: &Value) -> bool {
        self.eval(resource, None)
    }

    /// `parent` names the multi-valued attribute whose element `node` is,
    /// inside a value path; it decides case-exactness of `members[value ...]`.
    fn eval(&self, node: &Value, parent: Option<&str>) -> bool {
        match self {
            Filter::And(a, b) => a.eval(node, parent) && b.eval(node, parent),
            Filter::Or(a, b) => a.eval(node, parent) || b.eval(node, parent),
            Filter::Not(inner) => !inner.eval(node, parent),
            Filter::Present(attr) => resolve(node, attr).into_iter().any(is_present),
            Filter::Compare { attr, op, value } => compare_attr(node, parent, attr, *op, value),
            Filter::ValuePath { attr, filter } => resolve(node, attr)
                .into_iter()
                .filter(|element| element.is_object())
                .any(|element| filter.eval(element, Some(attr.name.as_str()))),
        }
    }
}

/// Every non-null value `attr` reaches in `node`, with arrays flattened, so
/// multi-valued attributes match when any value does.
fn resolve<'a>(node: &'a Value, attr: &AttrPath) -> Vec<&'a Value> {
    let base = match attr.urn.as_deref() {
        Some(urn) if !is_core_schema(urn) => get_ci(node, urn),
        _ => Some(node),
    };
    let mut found = Vec::new();
    let Some(top) = base.and_then(|base| get_ci(base, &attr.name)) else {
        return found;
    };
    match attr.sub.as_deref() {
        None => flatten_into(top, &mut found),
        Some(sub) => {
            let mut parents = Vec::new();
            flatten_into(top, &mut parents);
            for parent in parents {
                if let Some(value) = get_ci(parent, sub) {
                    flatten_into(value, &mut found);
                }
            }
        }
    }
    found
}

fn flatten_into<'a>(value: &'a Value, out: &mut Vec<&'a Value>) {
    match value {
        Value::Null => {}
        Value::Array(items) => out.extend(items.iter().filter(|item| !item.is_null())),
        other => out.push(other),
    }
}

/// Object member lookup ignoring case, as RFC 7643 §2.1 asks of attribute names.
fn get_ci<'a>(node: &'a Value, key: &str) -> Option<&'a Value> {
    let object = node.as_object()?;
    object.get(key).or_else(|| {
        object
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| v)
    })
}

fn is_core_schema(urn: &str) -> bool {
    CORE_SCHEMAS
        .iter()
        .any(|core| core.eq_ignore_ascii_case(urn))
}

/// `pr`: present, not null, not an empty string, array or object.
fn is_present(value: &Value) -> bool {
    match value {
        Value::Null => false,
        Value::String(s) => !s.is_empty(),
        Value::Array(items) => !items.is_empty(),
        Value::Object(members) => !members.is_empty(),
        Value::Bool(_) | Value::Number(_) => true,
    }
}

fn compare_attr(
    node: &Value,
    parent: Option<&str>,
    attr: &AttrPath,
    op: CompareOp,
    literal: &CompValue,
) -> bool {
    let found = resolve(node, attr);
    if *literal == CompValue::Null {
        return match op {
            CompareOp::Eq => found.is_empty(),
            CompareOp::Ne => !found.is_empty(),
            _ => false,
        };
    }
    let exact = is_case_exact(parent, attr);
    let any_value = |op: CompareOp| {
        found
            .iter()
            .copied()
            .filter_map(scalar)
            .any(|value| compare_value(value, op, literal, exact))
    };
    match op {
        CompareOp::Ne => !any_value(CompareOp::Eq),
        _ => any_value(op),
    }
}

/// A complex value compares through its `value` sub-attribute (RFC 7643 §2.4
/// makes `value` the primary sub-attribute of multi-valued attributes).
fn scalar(value: &Value) -> Option<&Value> {
    if value.is_object() {
        get_ci(value, "value")
    } else {
        Some(value)
    }
}

/// `id`, `externalId` and `members.value` are identifiers (caseExact);
/// everything else is treated as caseExact=false.
fn is_case_exact(parent: Option<&str>, attr: &AttrPath) -> bool {
    let core = attr.urn.as_deref().is_none_or(is_core_schema);
    let is = |a: &str, b: &str| a.eq_ignore_ascii_case(b);
    let name = attr.name.as_str();
    match (parent, attr.sub.as_deref()) {
        (Some(parent), _) => is(parent, "members") && is(name, "value"),
        (None, Some(sub)) => core && is(name, "members") && is(sub, "value"),
        (None, None) => {
            core && ["id", "externalId", "members"]
                .into_iter()
                .any(|n| is(name, n))
        }
    }
}

fn compare_value(have: &Value, op: CompareOp, literal: &CompValue, exact: bool) -> bool {
    match (have, literal) {
        (Value::String(have), CompValue::Str(want)) => compare_strings(have, want, op, exact),
        (Value::Number(have), CompValue::Num(want)) => {
            number_order(have, want).is_some_and(|ordering| op.accepts(ordering))
        }
        (Value::Bool(have), CompValue::Bool(want)) => op == CompareOp::Eq && have == want,
        _ => false,
    }
}

fn compare_strings(have: &str, want: &str, op: CompareOp, exact: bool) -> bool {
    let fold = |s: &str| {
        if exact {
            s.to_owned()
        } else {
            s.to_lowercase()
        }
    };
    let (have, want) = (fold(have), fold(want));
    match op {
        CompareOp::Co => have.contains(want.as_str()),
        CompareOp::Sw => have.starts_with(want.as_str()),
        CompareOp::Ew => have.ends_with(want.as_str()),
        _ => op.accepts(have.cmp(&want)),
    }
}

/// Integers compare exactly; anything with a fraction or exponent as f64.
fn number_order(a: &Number, b: &Number) -> Option<Ordering> {
    if let (Some(x), Some(y)) = (a.as_i64(), b.as_i64()) {
        return Some(x.cmp(&y));
    }
    if let (Some(x), Some(y)) = (a.as_u64(), b.as_u64()) {
        return Some(x.cmp(&y));
    }
    a.as_f64()?.partial_cmp(&b.as_f64()?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const ENTERPRISE: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";

    fn parse(input: &str) -> Filter {
        parse_filter(input).unwrap_or_else(|e| panic!("{input:?} should parse: {e}"))
    }

    fn rejection(input: &str) -> FilterError {
        parse_filter(input).expect_err("should be rejected")
    }

    fn attr(raw: &str) -> AttrPath {
        parse_attr_path(raw, 0).expect("valid attribute path")
    }

    fn compare(raw: &str, op: CompareOp, value: CompValue) -> Filter {
        Filter::Compare {
            attr: attr(raw),
            op,
            value,
        }
    }

    fn text(value: &str) -> CompValue {
        CompValue::Str(value.to_owned())
    }

    fn int(value: i64) -> CompValue {
        CompValue::Num(value.into())
    }

    fn and(a: Filter, b: Filter) -> Filter {
        Filter::And(Box::new(a), Box::new(b))
    }

    fn or(a: Filter, b: Filter) -> Filter {
        Filter::Or(Box::new(a), Box::new(b))
    }

    /// Entra's create-user body (providers.md §5.2) as we would store it: with
    /// the server's `id` and `meta.created`, and the enterprise extension it
    /// fills in later (department, employeeNumber and manager from §5.2).
    fn entra_user() -> Value {
        json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User", ENTERPRISE],
            "id": "5d48a0a8e9f04aa38008",
            "externalId": "0a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef",
            "userName": "Test_User_00aa00aa-bb11-cc22-dd33-44ee44ee44ee",
            "active": true,
            "emails": [{"primary": true, "type": "work",
                        "value": "Test_User_11bb11bb-cc22-dd33-ee44-55ff55ff55ff@testuser.com"}],
            "meta": {"resourceType": "User", "created": "2024-03-01T10:00:00Z"},
            "name": {"formatted": "givenName familyName", "familyName": "familyName", "givenName": "givenName"},
            "roles": [],
            "title": null,
            ENTERPRISE: {"department": "Sales", "employeeNumber": "Aklq",
                         "manager": {"value": "2c2f6fb8-254f-492e-b7fe-c09c5a61c8a2"}}
        })
    }

    /// Okta's create-user body (providers.md §5.3) with the server's `id`.
    fn okta_user() -> Value {
        json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
            "id": "23a35c27-0000-4000-8000-000000000001",
            "userName": "test.user@okta.local",
            "name": {"givenName": "Test", "familyName": "User"},
            "emails": [{"primary": true, "value": "test.user@okta.local", "type": "work"}],
            "displayName": "Test User", "locale": "en-US", "externalId": "00ujl29u0le5T6Aj10h7",
            "groups": [], "active": true
        })
    }

    fn group() -> Value {
        json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
            "id": "40734ae655284ad3abcc", "displayName": "Test SCIMv2",
            "members": [{"value": "f648f8d5ea4e4cd38e9c", "display": "test.user@okta.local"},
                        {"value": "7f4bc1a3-285e-48ae-8202-5accb43efb0e"}]
        })
    }

    fn hits(filter: &str, resource: &Value) -> bool {
        parse(filter).matches(resource)
    }

    #[test]
    fn parses_each_comparison_operator() {
        for (keyword, op) in OPERATORS {
            let filter = parse(&format!("title {keyword} \"x\""));
            assert_eq!(filter, compare("title", op, text("x")), "{keyword}");
        }
        assert_eq!(parse("title pr"), Filter::Present(attr("title")));
    }

    #[test]
    fn operators_keywords_and_names_ignore_case() {
        assert_eq!(
            parse("USERNAME EQ \"X\""),
            compare("userName", CompareOp::Eq, text("X"))
        );
        assert_eq!(parse("title PR"), Filter::Present(attr("TITLE")));
        assert!(hits("USERNAME EQ \"TEST.USER@OKTA.LOCAL\"", &okta_user()));
        assert!(hits(
            "a eq TRUE and b eq False or c eq NULL",
            &json!({"a": true, "b": false})
        ));
    }

    #[test]
    fn parses_literals() {
        assert_eq!(
            parse("a eq true"),
            compare("a", CompareOp::Eq, CompValue::Bool(true))
        );
        assert_eq!(
            parse("a eq null"),
            compare("a", CompareOp::Eq, CompValue::Null)
        );
        assert_eq!(parse("a gt -42"), compare("a", CompareOp::Gt, int(-42)));
        let CompValue::Num(n) = parse_value_of("a lt 2.5e1") else {
            panic!("number")
        };
        assert_eq!(n.as_f64(), Some(25.0));
    }

    fn parse_value_of(input: &str) -> CompValue {
        match parse(input) {
            Filter::Compare { value, .. } => value,
            other => panic!("not a comparison: {other:?}"),
        }
    }

    #[test]
    fn decodes_string_escapes() {
        let value = parse_value_of(r#"displayName eq "Ann \"Nan\" O\u2019Neil \\ \/ \t""#);
        assert_eq!(value, text("Ann \"Nan\" O\u{2019}Neil \\ / \t"));
        assert_eq!(parse_value_of(r#"a eq "\ud83d\ude00""#), text("\u{1F600}"));
        assert_eq!(parse_value_of(r#"a eq "[x] and (y)""#), text("[x] and (y)"));
    }

    #[test]
    fn and_binds_tighter_than_or() {
        let expected = or(
            compare("a", CompareOp::Eq, int(1)),
            and(
                compare("b", CompareOp::Eq, int(2)),
                compare("c", CompareOp::Eq, int(3)),
            ),
        );
        assert_eq!(parse("a eq 1 or b eq 2 and c eq 3"), expected);
    }

    #[test]
    fn operators_associate_left() {
        let (a, b, c) = (
            Filter::Present(attr("a")),
            Filter::Present(attr("b")),
            Filter::Present(attr("c")),
        );
        assert_eq!(
            parse("a pr or b pr or c pr"),
            or(or(a.clone(), b.clone()), c.clone())
        );
        assert_eq!(parse("a pr and b pr and c pr"), and(and(a, b), c));
    }

    #[test]
    fn parentheses_and_not_override_precedence() {
        let (a, b, c) = (
            Filter::Present(attr("a")),
            Filter::Present(attr("b")),
            Filter::Present(attr("c")),
        );
        assert_eq!(
            parse("(a pr or b pr) and c pr"),
            and(or(a.clone(), b.clone()), c.clone())
        );
        assert_eq!(
            parse("((a pr) and ((b pr) or (c pr)))"),
            and(a.clone(), or(b.clone(), c))
        );
        assert_eq!(
            parse("not (a pr) and b pr"),
            and(Filter::Not(Box::new(a.clone())), b)
        );
        assert_eq!(parse("NOT(a pr)"), Filter::Not(Box::new(a)));
    }

    #[test]
    fn parses_value_paths() {
        let inner = and(
            compare("type", CompareOp::Eq, text("work")),
            compare("value", CompareOp::Co, text("@example.com")),
        );
        let expected = Filter::ValuePath {
            attr: attr("emails"),
            filter: Box::new(inner),
        };
        assert_eq!(
            parse(r#"emails[type eq "work" and value co "@example.com"]"#),
            expected
        );
    }

    #[test]
    fn entra_value_path_with_sub_attribute_folds_into_the_filter() {
        let inner = and(
            compare("type", CompareOp::Eq, text("work")),
            compare("value", CompareOp::Eq, text("user@contoso.com")),
        );
        let expected = Filter::ValuePath {
            attr: attr("emails"),
            filter: Box::new(inner),
        };
        assert_eq!(
            parse(r#"emails[type eq "work"].value eq "user@contoso.com""#),
            expected
        );
    }

    #[test]
    fn splits_urn_qualified_attributes() {
        let department = attr(&format!("{ENTERPRISE}:department"));
        assert_eq!(department.urn.as_deref(), Some(ENTERPRISE));
        assert_eq!(
            (department.name.as_str(), department.sub.as_deref()),
            ("department", None)
        );
        let manager = attr(&format!("{ENTERPRISE}:manager.value"));
        assert_eq!(
            (manager.name.as_str(), manager.sub.as_deref()),
            ("manager", Some("value"))
        );
        assert_eq!(manager.as_str(), format!("{ENTERPRISE}:manager.value"));
        assert_eq!(attr("name.givenName"), attr("NAME.GIVENNAME"));
        assert_ne!(attr("name.givenName"), attr("name.familyName"));
    }

    #[test]
    fn rejects_empty_input() {
        assert_eq!(rejection("").message(), "filter is empty");
        assert_eq!(rejection("   ").message(), "filter is empty");
    }

    #[test]
    fn rejects_unknown_operator_with_its_position() {
        let error = rejection(r#"userName xx "a""#);
        assert_eq!(error.position(), 9);
        assert!(
            error.message().starts_with("unknown operator 'xx'"),
            "{error}"
        );
        assert!(error.to_string().ends_with("(at position 9)"), "{error}");
    }

    #[test]
    fn rejects_unterminated_string() {
        let error = rejection(r#"userName eq "abc"#);
        assert_eq!(
            (error.message(), error.position()),
            ("unterminated string", 12)
        );
        assert_eq!(
            rejection(r#"userName eq "abc\""#).message(),
            "unterminated string"
        );
    }

    #[test]
    fn rejects_invalid_escape() {
        assert!(rejection(r#"a eq "\q""#)
            .message()
            .contains("invalid escape"));
    }

    #[test]
    fn rejects_trailing_input() {
        let error = rejection(r#"userName eq "a" extra"#);
        assert_eq!(error.position(), 16);
        assert!(error.message().starts_with("unexpected 'extra'"), "{error}");
        assert!(rejection("a pr)").message().starts_with("unexpected ')'"));
    }

    #[test]
    fn rejects_pr_with_a_value() {
        assert_eq!(
            rejection(r#"title pr "x""#).message(),
            "'pr' takes no value"
        );
        assert_eq!(rejection("title pr true").message(), "'pr' takes no value");
        assert_eq!(rejection("title pr 5").message(), "'pr' takes no value");
    }

    #[test]
    fn rejects_comparison_without_value() {
        assert_eq!(
            rejection("userName eq").message(),
            "'eq' needs a value, found the end"
        );
        assert!(rejection("(userName eq)")
            .message()
            .starts_with("'eq' needs a value, found ')'"));
        assert!(rejection("userName eq bjensen")
            .message()
            .contains("double quotes"));
        assert!(rejection("userName")
            .message()
            .starts_with("expected an operator after 'userName'"));
    }

    #[test]
    fn rejects_literals_that_cannot_compare() {
        assert!(rejection("active gt true")
            .message()
            .contains("cannot compare booleans"));
        assert!(rejection("title gt null")
            .message()
            .contains("cannot compare with null"));
        assert!(rejection("title co 5")
            .message()
            .contains("needs a string value"));
    }

    #[test]
    fn rejects_unbalanced_brackets_and_bad_not() {
        assert_eq!(rejection("(a pr").message(), "'(' is never closed");
        assert_eq!(
            rejection(r#"emails[type eq "work""#).message(),
            "'[' is never closed"
        );
        assert!(rejection("(a pr b pr)")
            .message()
            .starts_with("expected 'and', 'or' or ')'"));
        assert!(rejection("not a pr")
            .message()
            .starts_with("'not' must be followed"));
        assert!(rejection("a pr and")
            .message()
            .starts_with("expected an attribute"));
    }

    #[test]
    fn rejects_bad_attribute_paths_and_nested_value_paths() {
        assert!(rejection("a.b.c pr")
            .message()
            .contains("not a valid attribute path"));
        assert!(rejection(":a pr")
            .message()
            .starts_with("expected an attribute"));
        assert!(rejection("name.givenName[a pr]")
            .message()
            .contains("has a sub-attribute"));
        assert!(rejection("emails[x[y pr]]")
            .message()
            .contains("another value path"));
    }

    #[test]
    fn bounds_nesting_depth() {
        let nested = |depth: usize| format!("{}a pr{}", "(".repeat(depth), ")".repeat(depth));
        assert!(parse_filter(&nested(32)).is_ok());
        let error = rejection(&nested(33));
        assert_eq!(
            (error.message(), error.position()),
            ("nested deeper than 32 levels", 32)
        );
        assert!(
            rejection(&format!("{}a pr{}", "not (".repeat(33), ")".repeat(33)))
                .message()
                .starts_with("nested")
        );
    }

    #[test]
    fn bounds_input_length() {
        let at_limit = format!("a eq \"{}\"", "x".repeat(MAX_LEN - 7));
        assert_eq!(at_limit.chars().count(), MAX_LEN);
        assert!(parse_filter(&at_limit).is_ok());
        let over = format!("a eq \"{}\"", "x".repeat(MAX_LEN - 6));
        assert_eq!(
            rejection(&over).message(),
            "filter is longer than 4096 characters"
        );
    }

    #[test]
    fn parses_patch_paths_from_providers() {
        for simple in [
            "active",
            "userName",
            "displayName",
            "nickName",
            "externalId",
            "members",
            "manager",
        ] {
            let path = parse_path(simple).expect(simple);
            assert_eq!(
                path,
                PatchPath {
                    attr: attr(simple),
                    filter: None,
                    sub: None
                }
            );
        }
        let family = parse_path("name.familyName").expect("dotted");
        assert_eq!(
            (family.attr.name.as_str(), family.attr.sub.as_deref()),
            ("name", Some("familyName"))
        );
        for (raw, sub) in [
            ("department", None),
            ("employeeNumber", None),
            ("manager", None),
            ("manager.value", Some("value")),
        ] {
            let path = parse_path(&format!("{ENTERPRISE}:{raw}")).expect(raw);
            assert_eq!(path.attr.urn.as_deref(), Some(ENTERPRISE));
            assert_eq!(path.attr.sub.as_deref(), sub);
        }
    }

    #[test]
    fn parses_patch_value_paths_from_providers() {
        let work = parse_path(r#"emails[type eq "work"].value"#).expect("emails");
        assert_eq!(work.attr, attr("emails"));
        assert_eq!(
            work.filter,
            Some(compare("type", CompareOp::Eq, text("work")))
        );
        assert_eq!(work.sub.as_deref(), Some("value"));
        let formatted = parse_path(r#"addresses[type eq "other"].Formatted"#).expect("addresses");
        assert_eq!(formatted.sub.as_deref(), Some("Formatted"));
        assert!(parse_path(r#"phoneNumbers[type eq "mobile"].value"#).is_ok());
        let member = parse_path(r#"members[value eq "7f4bc1a3-285e-48ae-8202-5accb43efb0e"]"#)
            .expect("members");
        assert_eq!(
            member.filter,
            Some(compare(
                "value",
                CompareOp::Eq,
                text("7f4bc1a3-285e-48ae-8202-5accb43efb0e")
            ))
        );
        assert_eq!(member.sub, None);
    }

    #[test]
    fn rejects_invalid_patch_paths() {
        assert_eq!(
            parse_path("").expect_err("empty").message(),
            "path is empty"
        );
        assert!(parse_path(r#"userName eq "x""#)
            .expect_err("filter")
            .message()
            .starts_with("unexpected 'eq'"));
        assert!(parse_path(r#"emails[type eq "work"].value.x"#).is_err());
        assert!(parse_path(r#"emails[type eq "work"]."#).is_err());
        assert!(parse_path("[type pr]").is_err());
    }

    #[test]
    fn matches_provider_lookups() {
        let entra = entra_user();
        assert!(hits(
            r#"userName eq "Test_User_00aa00aa-bb11-cc22-dd33-44ee44ee44ee""#,
            &entra
        ));
        assert!(hits(
            r#"externalId eq "0a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef""#,
            &entra
        ));
        assert!(!hits(r#"userName eq "someone-else""#, &entra));
        let okta = okta_user();
        assert!(hits(r#"userName eq "test.user@okta.local""#, &okta));
        // Okta's spec test searches the upper-cased userName (providers.md §5.3 step 9).
        assert!(hits(r#"userName eq "TEST.USER@OKTA.LOCAL""#, &okta));
        assert!(hits(
            r#"emails[type eq "work"].value eq "test.user@okta.local""#,
            &okta
        ));
        assert!(!hits(
            r#"emails[type eq "home"].value eq "test.user@okta.local""#,
            &okta
        ));
        assert!(hits(r#"displayName eq "Test SCIMv2""#, &group()));
    }

    #[test]
    fn identifiers_compare_case_exactly() {
        let entra = entra_user();
        assert!(!hits(
            r#"externalId eq "0A21F0F2-8D2A-4F8E-BF98-7363C4AED4EF""#,
            &entra
        ));
        assert!(!hits(r#"id eq "5D48A0A8E9F04AA38008""#, &entra));
        assert!(hits(r#"id eq "5d48a0a8e9f04aa38008""#, &entra));
        let group = group();
        assert!(hits(r#"members[value eq "f648f8d5ea4e4cd38e9c"]"#, &group));
        assert!(!hits(r#"members[value eq "F648F8D5EA4E4CD38E9C"]"#, &group));
        assert!(!hits(r#"members.value eq "F648F8D5EA4E4CD38E9C""#, &group));
        assert!(hits(r#"members eq "f648f8d5ea4e4cd38e9c""#, &group));
        assert!(hits(
            r#"members[display eq "TEST.USER@okta.local"]"#,
            &group
        ));
    }

    #[test]
    fn looks_up_urn_qualified_attributes() {
        let entra = entra_user();
        assert!(hits(
            &format!(r#"{ENTERPRISE}:department eq "sales""#),
            &entra
        ));
        assert!(hits(
            &format!(r#"{}:DEPARTMENT eq "Sales""#, ENTERPRISE.to_uppercase()),
            &entra
        ));
        assert!(hits(
            &format!(r#"{ENTERPRISE}:manager.value eq "2c2f6fb8-254f-492e-b7fe-c09c5a61c8a2""#),
            &entra
        ));
        assert!(hits(
            &format!(r#"{ENTERPRISE}:manager eq "2C2F6FB8-254F-492E-B7FE-C09C5A61C8A2""#),
            &entra
        ));
        assert!(!hits(&format!(r#"{ENTERPRISE}:userName pr"#), &entra));
        let core = "urn:ietf:params:scim:schemas:core:2.0:User";
        assert!(hits(
            &format!(r#"{core}:userName eq "test.user@okta.local""#),
            &okta_user()
        ));
        assert!(hits(&format!("{core}:name.givenName sw \"giv\""), &entra));
    }

    #[test]
    fn substring_operators() {
        let entra = entra_user();
        assert!(hits(r#"emails co "@TESTUSER.com""#, &entra));
        assert!(hits(r#"emails.value ew ".com""#, &entra));
        assert!(hits(r#"name.formatted sw "givenname f""#, &entra));
        assert!(!hits(r#"name.formatted sw "family""#, &entra));
        assert!(!hits(r#"active co "t""#, &entra));
    }

    #[test]
    fn ordering_operators() {
        let resource = json!({"loginCount": 5, "score": 2.5, "nickName": "m", "active": true,
                              "meta": {"lastModified": "2024-03-01T10:00:00Z"}});
        assert!(hits(
            "loginCount gt 4 and loginCount ge 5 and loginCount lt 6 and loginCount le 5",
            &resource
        ));
        assert!(!hits("loginCount gt 5", &resource));
        assert!(hits("score gt 2 and score lt 2.6", &resource));
        assert!(hits(r#"nickName gt "L" and nickName lt "N""#, &resource));
        assert!(hits(
            r#"meta.lastModified gt "2024-02-29T23:59:59Z""#,
            &resource
        ));
        assert!(!hits(
            r#"meta.lastModified ge "2024-03-01T10:00:01Z""#,
            &resource
        ));
        assert!(!hits(
            r#"active gt "a" or active lt "z" or nickName gt 1"#,
            &resource
        ));
    }

    #[test]
    fn equality_on_booleans_numbers_and_mixed_types() {
        let resource = json!({"active": false, "loginCount": 5});
        assert!(hits(
            "active eq false and loginCount eq 5 and loginCount eq 5.0",
            &resource
        ));
        assert!(!hits(r#"active eq "false""#, &resource));
        assert!(!hits(r#"loginCount eq "5""#, &resource));
    }

    #[test]
    fn ne_is_the_negation_of_eq() {
        let okta = okta_user();
        assert!(hits(r#"userName ne "other""#, &okta));
        assert!(!hits(r#"userName ne "TEST.user@okta.local""#, &okta));
        assert!(hits(r#"nickName ne "x""#, &okta));
        assert!(!hits(r#"emails.type ne "work""#, &okta));
    }

    #[test]
    fn present_and_null() {
        let entra = entra_user();
        assert!(hits(
            "userName pr and emails pr and name.givenName pr",
            &entra
        ));
        assert!(!hits("title pr", &entra));
        assert!(!hits("roles pr", &entra));
        assert!(!hits("nickName pr", &entra));
        assert!(hits(
            "title eq null and nickName eq null and roles eq null",
            &entra
        ));
        assert!(hits("userName ne null", &entra));
        assert!(!hits("userName eq null", &entra));
        assert!(!hits("a pr", &json!({"a": ""})));
    }

    #[test]
    fn not_and_value_paths_evaluate_per_element() {
        let resource = json!({"emails": [
            {"type": "home", "value": "a@example.com"},
            {"type": "work", "value": "b@corp.example"}
        ]});
        assert!(hits(r#"not (emails[type eq "other"])"#, &resource));
        assert!(!hits(
            r#"emails[type eq "work" and value co "@example.com"]"#,
            &resource
        ));
        assert!(hits(
            r#"emails[type eq "home" and value co "@example.com"]"#,
            &resource
        ));
        assert!(hits(r#"emails[not (type eq "home")]"#, &resource));
        // Without a value path the two conditions may hold on different elements.
        assert!(hits(
            r#"emails.type eq "work" and emails.value co "@example.com""#,
            &resource
        ));
        assert!(hits(r#"name[givenName eq "TEST"]"#, &okta_user()));
    }
}
