//! Workday Report-as-a-Service: a custom report of workers read as JSON with
//! Basic auth (reference/providers.md §4, and the exact keys of seed 000).
//!
//! The report is one document (`{"Report_Entry": [...]}`), not paged. Each
//! entry must have the keys the seed lists, spelled exactly so: First_Name,
//! Last_Name, Email_Address, Contact_Number, Department, Job_Title. A report
//! without them is refused with the missing keys named. Optional keys:
//! Location (else Work_Location), Groups (names separated by ";"), and
//! Employee_ID, the stable id of a worker; without it the email address is
//! the id. Entries with Active or Is_Active false are left out and counted.

use super::http::{Client, HttpConfig, HttpError};
use super::{non_empty, sample_names, url_guard, Connector, ConnectorError, Credentials};
use super::{Directory, Person, Progress, SourceGroup};
use crate::model::{ConnectionTest, ContactDraft};
use async_trait::async_trait;
use reqwest::header::ACCEPT;
use secrecy::{ExposeSecret, SecretString};
use serde_json::Value;
use std::collections::BTreeMap;
use url::Url;

/// The keys every entry must have (seed 000, "Required report format").
pub const REQUIRED_KEYS: [&str; 6] = [
    "First_Name",
    "Last_Name",
    "Email_Address",
    "Contact_Number",
    "Department",
    "Job_Title",
];

pub struct Workday {
    url: Url,
    username: String,
    password: SecretString,
    http: Client,
}

impl Workday {
    pub fn new(credentials: &Credentials, http: &HttpConfig) -> Result<Self, ConnectorError> {
        let raw = credentials.setting("report_url");
        if raw.is_empty() {
            return Err(ConnectorError::field("report_url", "Enter the report URL."));
        }
        let mut url = url_guard::check_user_url(raw, http.allow_insecure, "report_url")?;
        // The report must come as JSON, whatever format the URL asked for.
        let pairs: Vec<(String, String)> = url
            .query_pairs()
            .filter(|(k, _)| k != "format")
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        url.query_pairs_mut()
            .clear()
            .extend_pairs(pairs)
            .append_pair("format", "json");
        let username = credentials.setting("username").to_string();
        let password = credentials.secret("password").to_string();
        if username.is_empty() {
            return Err(ConnectorError::field("username", "Enter the username."));
        }
        if password.is_empty() {
            return Err(ConnectorError::field("password", "Enter the password."));
        }
        Ok(Self {
            url,
            username,
            password: password.into(),
            http: http.client(),
        })
    }

    fn host(&self) -> String {
        self.url.host_str().unwrap_or("Workday").to_string()
    }

    async fn report(&self) -> Result<Vec<Value>, ConnectorError> {
        let resp = self
            .http
            .send(|c| {
                c.get(self.url.clone())
                    .basic_auth(&self.username, Some(self.password.expose_secret()))
                    .header(ACCEPT, "application/json")
            })
            .await
            .map_err(|e| self.error(e))?;
        let doc: Value = serde_json::from_slice(&resp.body).map_err(|e| {
            ConnectorError::Provider(format!(
                "The report from {} is not JSON ({e}). Check that the URL is the report's JSON URL (…?format=json).",
                self.host()
            ))
        })?;
        let entries = match doc.get("Report_Entry") {
            Some(Value::Array(entries)) => entries.clone(),
            _ => {
                return Err(ConnectorError::Provider(
                    "The report has no Report_Entry list. Check that the URL is the custom report's JSON URL.".into(),
                ))
            }
        };
        check_keys(&entries)?;
        Ok(entries)
    }

    fn error(&self, e: HttpError) -> ConnectorError {
        let host = self.host();
        let HttpError::Status { status, .. } = &e else {
            return ConnectorError::http(&e, e.network_message(&host));
        };
        let message = match status.as_u16() {
            401 => "Workday refused the username or password (HTTP 401). Check them, and that the account is not locked or expired.".to_string(),
            403 => "The account may not run this report (HTTP 403). Share the report with it, or give it the report's security domain.".to_string(),
            404 => "There is no report at this URL (HTTP 404). Copy the report's JSON URL again from Workday.".to_string(),
            429 => format!("{host} kept answering 429 (too many requests). Try again in a minute."),
            s if s >= 500 => format!("Workday failed with HTTP {s}, also when tried again. Try again later."),
            s => format!("Workday answered HTTP {s}."),
        };
        ConnectorError::http(&e, message)
    }
}

/// Every required key in the entries, or an error naming the missing ones.
/// Keys are compared exactly; a key with other capitals is named as such.
pub fn check_keys(entries: &[Value]) -> Result<(), ConnectorError> {
    let Some(first) = entries.first().and_then(Value::as_object) else {
        return Ok(());
    };
    let missing: Vec<String> = REQUIRED_KEYS
        .iter()
        .filter(|k| !first.contains_key(**k))
        .map(
            |k| match first.keys().find(|have| have.eq_ignore_ascii_case(k)) {
                Some(have) => format!("{k} (the report has {have})"),
                None => k.to_string(),
            },
        )
        .collect();
    if missing.is_empty() {
        Ok(())
    } else {
        Err(ConnectorError::Provider(format!(
            "The report lacks the keys {}. Rename its fields in Workday so that every entry has exactly: {}.",
            missing.join(", "),
            REQUIRED_KEYS.join(", ")
        )))
    }
}

fn text(v: &Value, key: &str) -> Option<String> {
    match v.get(key)? {
        Value::String(s) => non_empty(Some(s)),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn active(v: &Value) -> bool {
    for key in ["Active", "Is_Active"] {
        match v.get(key) {
            Some(Value::Bool(b)) => return *b,
            Some(Value::String(s)) => {
                return !(s == "0"
                    || s.eq_ignore_ascii_case("false")
                    || s.eq_ignore_ascii_case("no"))
            }
            Some(Value::Number(n)) => return n.as_i64() != Some(0),
            _ => {}
        }
    }
    true
}

fn person(v: &Value) -> Option<Person> {
    let email = text(v, "Email_Address");
    let external_id =
        text(v, "Employee_ID").or_else(|| email.as_ref().map(|e| e.to_lowercase()))?;
    Some(Person {
        external_id,
        contact: ContactDraft {
            first_name: text(v, "First_Name").unwrap_or_default(),
            last_name: text(v, "Last_Name").unwrap_or_default(),
            email: email.unwrap_or_default(),
            phone: text(v, "Contact_Number").unwrap_or_default(),
            department: text(v, "Department").unwrap_or_default(),
            role: text(v, "Job_Title").unwrap_or_default(),
            location: text(v, "Location")
                .or_else(|| text(v, "Work_Location"))
                .unwrap_or_default(),
            groups: Vec::new(),
        },
    })
}

#[async_trait]
impl Connector for Workday {
    async fn test(&self) -> Result<ConnectionTest, ConnectorError> {
        let entries = self.report().await?;
        let people: Vec<Person> = entries
            .iter()
            .filter(|v| active(v))
            .filter_map(person)
            .collect();
        Ok(ConnectionTest {
            users: people.len() as u64,
            more: false,
            sample: sample_names(&people),
        })
    }

    async fn directory(&self, progress: &dyn Progress) -> Result<Directory, ConnectorError> {
        let entries = self.report().await?;
        let mut dir = Directory::default();
        let mut groups: BTreeMap<String, SourceGroup> = BTreeMap::new();
        for v in &entries {
            if !active(v) {
                dir.exclude(person(v).map(|p| p.external_id));
                continue;
            }
            let Some(p) = person(v) else { continue };
            for name in text(v, "Groups").unwrap_or_default().split(';') {
                let name = name.trim();
                if name.is_empty() {
                    continue;
                }
                groups
                    .entry(name.to_lowercase())
                    .or_insert_with(|| SourceGroup {
                        external_id: name.to_lowercase(),
                        name: name.to_string(),
                        members: Vec::new(),
                    })
                    .members
                    .push(p.external_id.clone());
            }
            dir.add(p, progress);
        }
        dir.groups = groups.into_values().collect();
        Ok(dir)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_seed_format_is_read_and_missing_keys_are_named() {
        let doc: Value = serde_json::from_str(
            r#"{"Report_Entry": [{"Contact_Number": "+1 411 111 1111", "Department": "Sales",
                "Email_Address": "johnsmith@email.com", "First_Name": "John", "Job_Title": "Product Manager",
                "Last_Name": "Smith"}]}"#,
        )
        .unwrap();
        let entries = doc["Report_Entry"].as_array().unwrap();
        assert!(check_keys(entries).is_ok());
        let p = person(&entries[0]).unwrap();
        assert_eq!(p.external_id, "johnsmith@email.com");
        assert_eq!(p.contact.phone, "+1 411 111 1111");
        assert_eq!(p.contact.role, "Product Manager");

        let bad: Value = serde_json::from_str(
            r#"[{"First_Name": "A", "last_name": "B", "Email_Address": "a@b.c", "Department": "D"}]"#,
        )
        .unwrap();
        let err = check_keys(bad.as_array().unwrap()).unwrap_err().to_string();
        assert!(
            err.contains("Last_Name (the report has last_name)"),
            "{err}"
        );
        assert!(err.contains("Contact_Number"), "{err}");
        assert!(err.contains("Job_Title"), "{err}");
        assert!(!err.contains("lacks the keys First_Name"), "{err}");
    }

    #[test]
    fn inactive_workers_are_left_out() {
        for (v, expect) in [
            (r#"{"Active": false}"#, false),
            (r#"{"Is_Active": "0"}"#, false),
            (r#"{"Active": "Yes"}"#, true),
            (r#"{}"#, true),
        ] {
            assert_eq!(active(&serde_json::from_str(v).unwrap()), expect, "{v}");
        }
    }
}
