//! A SCIM 2.0 directory read as a source (RFC 7643/7644): bearer token,
//! `/Users` and `/Groups` paged with `startIndex` and `count`. This is how an
//! 8x8 Work directory is read (its SCIM API URL and access token).
//!
//! Mapping: name.givenName / familyName (else displayName split), the primary
//! (else first work, else first) email, the mobile (else first) phone number,
//! the enterprise extension's department, title → Role, the primary (else
//! first) address's locality → Location, groups with their members. Users with
//! `active` false (a boolean, or the string "False" as some servers send it)
//! are left out and counted. A source without `/Groups` (404 or 501) has no
//! groups.

use super::http::{Client, HttpConfig, HttpError};
use super::{non_empty, sample_names, url_guard, Connector, ConnectorError, Credentials};
use super::{Directory, Person, Progress, SourceGroup};
use crate::model::{ConnectionTest, ContactDraft};
use async_trait::async_trait;
use reqwest::header::{ACCEPT, AUTHORIZATION};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use serde_json::Value;
use url::Url;

const PAGE: u64 = 100;
const ENTERPRISE: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";

pub struct Scim {
    base: Url,
    token: SecretString,
    http: Client,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ListResponse {
    #[serde(default)]
    total_results: u64,
    #[serde(rename = "Resources", default)]
    resources: Vec<Value>,
}

impl Scim {
    pub fn new(credentials: &Credentials, http: &HttpConfig) -> Result<Self, ConnectorError> {
        let raw = credentials.setting("base_url");
        if raw.is_empty() {
            return Err(ConnectorError::field("base_url", "Enter the SCIM API URL."));
        }
        let mut base = url_guard::check_user_url(raw, http.allow_insecure, "base_url")?;
        // Resources are joined under the base, so it must end with a slash.
        if !base.path().ends_with('/') {
            let path = format!("{}/", base.path());
            base.set_path(&path);
        }
        base.set_query(None);
        let token = credentials.secret("token").trim().to_string();
        if token.is_empty() {
            return Err(ConnectorError::field("token", "Enter the access token."));
        }
        Ok(Self {
            base,
            token: token.into(),
            http: http.client(),
        })
    }

    fn host(&self) -> String {
        self.base
            .host_str()
            .unwrap_or("the SCIM server")
            .to_string()
    }

    async fn list(&self, resource: &str, start: u64) -> Result<ListResponse, HttpError> {
        let mut url = self.base.join(resource).expect("a fixed path joins");
        url.query_pairs_mut()
            .append_pair("startIndex", &start.to_string())
            .append_pair("count", &PAGE.to_string());
        let auth = format!("Bearer {}", self.token.expose_secret());
        let resp = self
            .http
            .send(|c| {
                c.get(url.clone())
                    .header(AUTHORIZATION, &auth)
                    .header(ACCEPT, "application/scim+json, application/json")
            })
            .await?;
        serde_json::from_slice(&resp.body)
            .map_err(|e| HttpError::Body(format!("not a SCIM list: {e}")))
    }

    /// Every resource, page by page until as many as the total were read,
    /// handed to `each` (a large directory is never held as JSON).
    async fn each(&self, resource: &str, mut each: impl FnMut(Value)) -> Result<(), HttpError> {
        let mut seen = 0;
        let mut start = 1;
        loop {
            let page = self.list(resource, start).await?;
            let got = page.resources.len() as u64;
            seen += page.resources.len();
            page.resources.into_iter().for_each(&mut each);
            if got == 0 || seen as u64 >= page.total_results {
                return Ok(());
            }
            start += got;
        }
    }

    fn error(&self, e: HttpError) -> ConnectorError {
        let host = self.host();
        let (status, body) = match &e {
            HttpError::Status { status, body, .. } => (status.as_u16(), body.as_str()),
            HttpError::Body(detail) => {
                return ConnectorError::Unavailable(format!(
                    "The answer from {host} is not a SCIM 2.0 list ({detail}). Check the SCIM API URL: it is the base that /Users is under."
                ))
            }
            _ => return ConnectorError::http(&e, e.network_message(&host)),
        };
        let detail = serde_json::from_str::<Value>(body)
            .ok()
            .and_then(|v| v.get("detail").and_then(Value::as_str).map(str::to_string))
            .map(|d| format!(" ({d})"))
            .unwrap_or_default();
        let message = match status {
            401 => format!("{host} refused the access token{detail}. Check it, or create a new one."),
            403 => format!("The access token may not read users{detail}. Give it read access to users and groups."),
            404 => format!("There is no SCIM /Users at this URL{detail}. Check the SCIM API URL."),
            429 => format!("{host} kept answering 429 (too many requests){detail}. Try again in a minute."),
            s if s >= 500 => format!("{host} failed with HTTP {s}{detail}, also when tried again. Try again later."),
            s => format!("{host} answered HTTP {s}{detail}."),
        };
        ConnectorError::http(&e, message)
    }
}

fn text(v: &Value, path: &[&str]) -> Option<String> {
    let mut cur = v;
    for p in path {
        cur = cur.get(p)?;
    }
    non_empty(cur.as_str())
}

/// The value of the multi-valued attribute (emails, phoneNumbers, addresses)
/// entry that is primary, else of type `preferred`, else the first.
fn pick<'a>(v: &'a Value, attr: &str, preferred: &str) -> Option<&'a Value> {
    let list = v.get(attr)?.as_array()?;
    list.iter()
        .find(|e| e.get("primary").and_then(Value::as_bool) == Some(true))
        .or_else(|| {
            list.iter()
                .find(|e| e.get("type").and_then(Value::as_str) == Some(preferred))
        })
        .or_else(|| list.first())
}

fn is_active(v: &Value) -> bool {
    match v.get("active") {
        Some(Value::Bool(b)) => *b,
        Some(Value::String(s)) => !s.eq_ignore_ascii_case("false"),
        _ => true,
    }
}

fn person(v: &Value) -> Option<Person> {
    let external_id = match v.get("id")? {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        _ => return None,
    };
    let (mut first, mut last) = (
        text(v, &["name", "givenName"]),
        text(v, &["name", "familyName"]),
    );
    if first.is_none() && last.is_none() {
        if let Some(display) = text(v, &["displayName"]).or_else(|| text(v, &["name", "formatted"]))
        {
            let mut parts = display.rsplitn(2, ' ');
            last = parts.next().map(str::to_string);
            first = parts.next().map(str::to_string);
        }
    }
    let email = pick(v, "emails", "work")
        .and_then(|e| text(e, &["value"]))
        .or_else(|| text(v, &["userName"]).filter(|u| u.contains('@')));
    let phone = v
        .get("phoneNumbers")
        .and_then(Value::as_array)
        .and_then(|l| {
            l.iter()
                .find(|e| e.get("type").and_then(Value::as_str) == Some("mobile"))
                .or_else(|| l.first())
        })
        .and_then(|e| text(e, &["value"]));
    let location = pick(v, "addresses", "work").and_then(|a| text(a, &["locality"]));
    Some(Person {
        external_id,
        contact: ContactDraft {
            first_name: first.unwrap_or_default(),
            last_name: last.unwrap_or_default(),
            email: email.unwrap_or_default(),
            phone: phone.unwrap_or_default(),
            department: text(v, &[ENTERPRISE, "department"]).unwrap_or_default(),
            role: text(v, &["title"]).unwrap_or_default(),
            location: location.unwrap_or_default(),
            groups: Vec::new(),
        },
    })
}

fn group(v: &Value) -> Option<SourceGroup> {
    let external_id = text(v, &["id"])?;
    let name = text(v, &["displayName"])?;
    let members = v
        .get("members")
        .and_then(Value::as_array)
        .map(|l| l.iter().filter_map(|m| text(m, &["value"])).collect())
        .unwrap_or_default();
    Some(SourceGroup {
        external_id,
        name,
        members,
    })
}

#[async_trait]
impl Connector for Scim {
    async fn test(&self) -> Result<ConnectionTest, ConnectorError> {
        let page = self.list("Users", 1).await.map_err(|e| self.error(e))?;
        let people: Vec<Person> = page
            .resources
            .iter()
            .filter(|v| is_active(v))
            .filter_map(person)
            .collect();
        Ok(ConnectionTest {
            users: people.len() as u64,
            more: page.total_results > page.resources.len() as u64,
            sample: sample_names(&people),
        })
    }

    async fn directory(&self, progress: &dyn Progress) -> Result<Directory, ConnectorError> {
        let mut dir = Directory::default();
        self.each("Users", |v| {
            if !is_active(&v) {
                dir.exclude(person(&v).map(|p| p.external_id));
            } else if let Some(p) = person(&v) {
                dir.add(p, progress);
            }
        })
        .await
        .map_err(|e| self.error(e))?;
        let mut groups = Vec::new();
        let listed = self.each("Groups", |g| groups.extend(group(&g))).await;
        dir.groups = match listed {
            Ok(()) => groups,
            Err(HttpError::Status { status, .. }) if matches!(status.as_u16(), 404 | 501) => {
                Vec::new()
            }
            Err(e) => return Err(self.error(e)),
        };
        Ok(dir)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn users_are_mapped_from_core_and_enterprise_attributes() {
        let v: Value = serde_json::from_str(
            r#"{"id":"2819c223","userName":"bjensen@example.com","name":{"givenName":"Barbara","familyName":"Jensen"},
               "emails":[{"value":"bj@home.example","type":"home"},{"value":"bjensen@example.com","type":"work","primary":true}],
               "phoneNumbers":[{"value":"555-555-8377","type":"work"},{"value":"+44 7700 900123","type":"mobile"}],
               "addresses":[{"locality":"Hollywood","type":"work","primary":true}],
               "title":"Tour Guide","active":true,
               "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User":{"department":"Tour Operations"}}"#,
        )
        .unwrap();
        let p = person(&v).unwrap();
        assert_eq!(p.contact.first_name, "Barbara");
        assert_eq!(p.contact.email, "bjensen@example.com");
        assert_eq!(p.contact.phone, "+44 7700 900123");
        assert_eq!(p.contact.department, "Tour Operations");
        assert_eq!(p.contact.role, "Tour Guide");
        assert_eq!(p.contact.location, "Hollywood");
        let bare: Value =
            serde_json::from_str(r#"{"id":7,"userName":"x@example.com","displayName":"Ana de la Cruz","active":"False"}"#)
                .unwrap();
        assert!(!is_active(&bare));
        let p = person(&bare).unwrap();
        assert_eq!(
            (p.contact.first_name.as_str(), p.contact.last_name.as_str()),
            ("Ana de la", "Cruz")
        );
        assert_eq!(p.external_id, "7");
        assert_eq!(p.contact.email, "x@example.com");
    }
}
