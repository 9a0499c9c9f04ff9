//! Connectors to HR and identity systems: one trait, one module per provider.
//! A connector reads the complete directory (people, groups, memberships) with
//! the provider's paging, retries and rate limits; what is done with it is the
//! sync's business.

pub mod entra;
pub mod google;
pub mod http;
pub mod okta;
pub mod scim;
pub mod url_guard;
pub mod workday;

use crate::model::{AppError, ConnectionTest, ContactDraft, Provider};
use async_trait::async_trait;
use secrecy::{ExposeSecret, SecretString};
use std::collections::BTreeMap;

pub use http::{HttpConfig, HttpError};

/// A person as the source describes them: the source's stable id, and the
/// fields mapped to Muster's as a draft, which the sync validates like a form.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Person {
    pub external_id: String,
    pub contact: ContactDraft,
}

impl Person {
    pub fn display_name(&self) -> String {
        format!("{} {}", self.contact.first_name, self.contact.last_name)
            .trim()
            .to_string()
    }
}

/// A group of the source, with the external ids of its members.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SourceGroup {
    pub external_id: String,
    pub name: String,
    pub members: Vec<String>,
}

/// Everything a source holds, read completely (a partial read is an error,
/// never a smaller directory).
#[derive(Debug, Clone, Default)]
pub struct Directory {
    pub people: Vec<Person>,
    pub groups: Vec<SourceGroup>,
    /// People left out because the source marks them suspended, disabled or
    /// deprovisioned.
    pub excluded: u64,
    /// The external ids of those people, where the source gave one: a sync
    /// deletes them as suspended rather than gone.
    pub excluded_ids: Vec<String>,
}

impl Directory {
    /// Leave out a person the source marks suspended, disabled or deprovisioned.
    pub fn exclude(&mut self, external_id: Option<String>) {
        self.excluded += 1;
        self.excluded_ids
            .extend(external_id.filter(|x| !x.is_empty()));
    }

    /// A person read: `progress` takes it, or the directory holds it.
    pub fn add(&mut self, person: Person, progress: &dyn Progress) {
        self.people.extend(progress.person(person));
    }
}

/// What a connector reports as it reads.
pub trait Progress: Send + Sync {
    /// A person read, as soon as it is read, in the directory's order: a sync
    /// takes each (and validates it while the next pages come); one not taken
    /// is handed back, for the directory to hold.
    fn person(&self, person: Person) -> Option<Person> {
        Some(person)
    }
}

impl Progress for () {}

#[async_trait]
pub trait Connector: Send + Sync {
    /// Authenticate and read the first page of users.
    async fn test(&self) -> Result<ConnectionTest, ConnectorError>;
    /// Read the whole directory.
    async fn directory(&self, progress: &dyn Progress) -> Result<Directory, ConnectorError>;
}

/// Why a connector failed, in words an administrator can act on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConnectorError {
    /// A form field is wrong before anything is sent.
    #[error("{message}")]
    Field { field: String, message: String },
    /// The provider refused, or failed in a way that waiting will not mend
    /// (credentials, permissions, addresses, a report's keys); `message`
    /// says what to do.
    #[error("{0}")]
    Provider(String),
    /// The provider could not be reached or failed for a while (network,
    /// timeouts, 5xx, rate limits, an answer cut off): a later try may pass.
    #[error("{0}")]
    Unavailable(String),
}

impl ConnectorError {
    /// Request `e` failed, told to the administrator as `message`: passing
    /// or not as the failure is.
    pub fn http(e: &HttpError, message: String) -> Self {
        if e.may_pass() {
            Self::Unavailable(message)
        } else {
            Self::Provider(message)
        }
    }

    /// Whether trying again later may succeed.
    pub fn may_pass(&self) -> bool {
        matches!(self, Self::Unavailable(_))
    }

    pub fn field(field: &str, message: impl Into<String>) -> Self {
        Self::Field {
            field: field.to_string(),
            message: message.into(),
        }
    }
}

impl From<ConnectorError> for AppError {
    fn from(e: ConnectorError) -> Self {
        match e {
            ConnectorError::Field { field, message } => AppError::field(&field, message),
            ConnectorError::Provider(message) | ConnectorError::Unavailable(message) => {
                AppError::Upstream(message)
            }
        }
    }
}

/// A form's fields: the ones not secret and the secret ones, kept apart. The
/// secrets print as `[REDACTED]` in any `Debug` output.
#[derive(Debug, Clone, Default)]
pub struct Credentials {
    pub settings: BTreeMap<String, String>,
    pub secrets: BTreeMap<String, SecretString>,
}

impl Credentials {
    pub fn setting(&self, key: &str) -> &str {
        self.settings.get(key).map(String::as_str).unwrap_or("")
    }

    pub fn secret(&self, key: &str) -> &str {
        self.secrets
            .get(key)
            .map(ExposeSecret::expose_secret)
            .unwrap_or("")
    }

    /// Split a form's fields by the provider's field list; unknown keys are dropped.
    pub fn from_form(provider: Provider, fields: &BTreeMap<String, String>) -> Self {
        let mut out = Self::default();
        for f in provider.fields() {
            let value = fields.get(f.key).map(|v| v.trim()).unwrap_or("");
            if value.is_empty() {
                continue;
            }
            if f.is_secret() {
                out.secrets.insert(f.key.to_string(), value.into());
            } else {
                out.settings.insert(f.key.to_string(), value.to_string());
            }
        }
        out
    }

    /// Every required field present and dates valid, or an error naming each
    /// field that is not.
    pub fn check_complete(&self, provider: Provider) -> Result<(), AppError> {
        let mut missing: Vec<crate::model::FieldError> = provider
            .fields()
            .iter()
            .filter(|f| f.required)
            .filter(|f| {
                let v = if f.is_secret() {
                    self.secret(f.key)
                } else {
                    self.setting(f.key)
                };
                v.is_empty()
            })
            .map(|f| crate::model::FieldError {
                field: f.key.to_string(),
                message: format!("Enter the {}.", f.label),
            })
            .collect();
        for f in provider.fields() {
            let value = self.setting(f.key);
            let bad_date = f.kind == crate::model::FieldKind::Date
                && !value.is_empty()
                && chrono::NaiveDate::parse_from_str(value, "%Y-%m-%d").is_err();
            if bad_date {
                missing.push(crate::model::FieldError {
                    field: f.key.to_string(),
                    message: "Enter a date as YYYY-MM-DD.".into(),
                });
            }
        }
        if missing.is_empty() {
            Ok(())
        } else {
            Err(AppError::Invalid(missing))
        }
    }
}

/// The connector for a provider, or why there is none yet.
pub fn connector(
    provider: Provider,
    credentials: &Credentials,
    http: &HttpConfig,
) -> Result<Box<dyn Connector>, ConnectorError> {
    match provider {
        Provider::Entra => Ok(Box::new(entra::Entra::new(credentials, http)?)),
        Provider::Google => Ok(Box::new(google::Google::new(credentials, http)?)),
        Provider::Okta => Ok(Box::new(okta::Okta::new(credentials, http)?)),
        Provider::Scim => Ok(Box::new(scim::Scim::new(credentials, http)?)),
        Provider::Workday => Ok(Box::new(workday::Workday::new(credentials, http)?)),
    }
}

/// A few names for Test Connection.
pub(crate) fn sample_names(people: &[Person]) -> Vec<String> {
    people
        .iter()
        .map(Person::display_name)
        .filter(|n| !n.is_empty())
        .take(5)
        .collect()
}

/// An access token kept for its lifetime, and fetched again a minute before
/// it ends (or at once, when a provider says it expired).
#[derive(Default)]
pub(crate) struct TokenCache(tokio::sync::Mutex<Option<(String, std::time::Instant)>>);

impl TokenCache {
    pub async fn get<F, Fut>(&self, fresh: bool, fetch: F) -> Result<String, ConnectorError>
    where
        F: FnOnce() -> Fut,
        Fut: std::future::Future<Output = Result<(String, std::time::Duration), ConnectorError>>,
    {
        let mut cached = self.0.lock().await;
        let margin = std::time::Duration::from_secs(60);
        if let Some((token, until)) = cached.as_ref() {
            if !fresh && std::time::Instant::now() + margin < *until {
                return Ok(token.clone());
            }
        }
        let (token, lifetime) = fetch().await?;
        *cached = Some((token.clone(), std::time::Instant::now() + lifetime));
        Ok(token)
    }
}

/// GET `url` as JSON (read into `D`) with a bearer token from `token(fresh)`. A 401 gets one
/// fresh token and one more try (a token that expired during the run).
pub(crate) async fn get_bearer_json<D, T, Fut>(
    http: &http::Client,
    url: &url::Url,
    token: T,
    error: impl Fn(HttpError) -> ConnectorError,
    api: &str,
) -> Result<D, ConnectorError>
where
    D: serde::de::DeserializeOwned,
    T: Fn(bool) -> Fut,
    Fut: std::future::Future<Output = Result<String, ConnectorError>>,
{
    let mut fresh = false;
    loop {
        let auth = format!("Bearer {}", token(fresh).await?);
        let result = http
            .send(|c| {
                c.get(url.clone())
                    .header(reqwest::header::AUTHORIZATION, &auth)
                    .header(reqwest::header::ACCEPT, "application/json")
            })
            .await;
        match result {
            Ok(resp) => {
                return serde_json::from_slice(&resp.body).map_err(|e| {
                    ConnectorError::Unavailable(format!(
                        "The answer from {api} could not be read ({e}). Try again."
                    ))
                })
            }
            Err(HttpError::Status { status, .. }) if status.as_u16() == 401 && !fresh => {
                fresh = true;
            }
            Err(e) => return Err(error(e)),
        }
    }
}

/// A paging link from `provider`, followed only to the origin of `base`: a
/// link to another host would take the token there.
pub(crate) fn next_page(
    base: &url::Url,
    next: &str,
    provider: &str,
) -> Result<url::Url, ConnectorError> {
    let url = url::Url::parse(next).map_err(|_| {
        ConnectorError::Provider(format!(
            "{provider} sent a paging link that is not a URL: {next}"
        ))
    })?;
    if url.origin() != base.origin() {
        return Err(ConnectorError::Provider(format!(
            "{provider} sent a paging link to another host ({}); Muster does not send the token there.",
            url.host_str().unwrap_or("?")
        )));
    }
    Ok(url)
}

/// Trimmed, and `None` when empty.
pub(crate) fn non_empty(value: Option<&str>) -> Option<String> {
    value
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .map(str::to_string)
}

/// [`non_empty`] for an owned value: kept as it is (no copy) when it has
/// nothing to trim.
pub(crate) fn non_empty_owned(value: Option<String>) -> Option<String> {
    match value {
        Some(v) if v.trim().len() == v.len() => Some(v).filter(|v| !v.is_empty()),
        other => non_empty(other.as_deref()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_trimmed_and_empty_ones_dropped() {
        for (given, kept) in [
            (None, None),
            (Some(""), None),
            (Some("   "), None),
            (Some("Ada"), Some("Ada")),
            (Some(" Ada "), Some("Ada")),
            (Some("Ada\n"), Some("Ada")),
        ] {
            assert_eq!(non_empty(given).as_deref(), kept, "{given:?}");
            assert_eq!(
                non_empty_owned(given.map(str::to_string)).as_deref(),
                kept,
                "{given:?}"
            );
        }
    }

    #[test]
    fn credentials_debug_without_their_secrets() {
        for provider in Provider::ALL {
            let form: BTreeMap<String, String> = provider
                .fields()
                .iter()
                .map(|f| (f.key.to_string(), format!("secret-{}-value", f.key)))
                .collect();
            let creds = Credentials::from_form(provider, &form);
            assert!(!creds.secrets.is_empty(), "{provider:?} has a secret field");
            let printed = format!("{creds:?} {creds:#?}");
            for key in creds.secrets.keys() {
                assert!(printed.contains(key.as_str()));
                assert!(
                    !printed.contains(&format!("secret-{key}-value")),
                    "{provider:?}: {printed}"
                );
            }
        }
    }

    #[test]
    fn paging_links_are_followed_only_to_the_same_origin() {
        let base: url::Url = "https://acme.okta.com/".parse().unwrap();
        let same = next_page(&base, "https://acme.okta.com/api/v1/users?after=x", "Okta");
        assert_eq!(same.unwrap().query(), Some("after=x"));
        for other in [
            "https://evil.example/api/v1/users",
            "http://acme.okta.com/api/v1/users",
            "https://acme.okta.com:8443/api/v1/users",
        ] {
            let err = next_page(&base, other, "Okta").unwrap_err().to_string();
            assert!(err.contains("another host"), "{other}: {err}");
        }
        assert!(next_page(&base, "/relative", "Okta").is_err());
    }
}
