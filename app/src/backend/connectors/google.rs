//! Google Workspace through the Admin SDK Directory API, as a service account
//! with domain-wide delegation (reference/providers.md §1): a JWT bearer grant
//! (RFC 7523) signed RS256 with the key of the credentials JSON, `sub` the
//! administrator it acts as, posted to the JSON's `token_uri`.
//!
//! Users from `users.list` (`customer=my_customer`, 500 a page, projection
//! full), groups from `groups.list` and members (users, including derived
//! membership) from `members.list`, 200 a page, following `nextPageToken`.
//! Google reports its rate limits as 403 `userRateLimitExceeded` or
//! `quotaExceeded`; those are retried like a 429.
//!
//! Mapping: name.givenName / familyName, primaryEmail, the mobile (else
//! work_mobile, else primary, else first) phone, the primary (else first)
//! organization's department and title → Role, its location (else the first
//! location's building, else the primary address's locality) → Location.
//! Suspended and archived users are left out and counted.

use super::http::{Client, HttpConfig, HttpError};
use super::{get_bearer_json, non_empty, sample_names, url_guard, Connector, ConnectorError};
use super::{Credentials, TokenCache};
use super::{Directory, Person, Progress, SourceGroup};
use crate::model::{ConnectionTest, ContactDraft};
use async_trait::async_trait;
use futures_util::{StreamExt, TryStreamExt};
use reqwest::StatusCode;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::time::Duration;
use url::Url;

/// The audience of the grant: always this, whatever `token_uri` says.
pub const TOKEN_AUDIENCE: &str = "https://oauth2.googleapis.com/token";
/// The scopes seed 000 tells administrators to delegate.
pub const SCOPES: [&str; 3] = [
    "https://www.googleapis.com/auth/admin.directory.user.readonly",
    "https://www.googleapis.com/auth/admin.directory.group.readonly",
    "https://www.googleapis.com/auth/admin.directory.orgunit.readonly",
];
const DIRECTORY: &str = "https://admin.googleapis.com";

#[derive(Deserialize)]
struct KeyFile {
    #[serde(rename = "type")]
    kind: Option<String>,
    client_email: Option<String>,
    client_id: Option<String>,
    private_key: Option<String>,
    private_key_id: Option<String>,
    token_uri: Option<String>,
}

/// The claims of the grant (google-auth's `_make_authorization_grant_assertion`).
#[derive(Serialize, Deserialize, Debug)]
pub struct GrantClaims {
    pub iss: String,
    pub sub: String,
    pub scope: String,
    pub aud: String,
    pub iat: i64,
    pub exp: i64,
}

pub struct Google {
    client_email: String,
    client_id: String,
    key: jsonwebtoken::EncodingKey,
    key_id: Option<String>,
    token_uri: Url,
    admin: String,
    directory: Url,
    http: Client,
    token: TokenCache,
}

fn json_field(name: &str) -> ConnectorError {
    ConnectorError::field(
        "credentials_json",
        format!("The credentials JSON has no \"{name}\". Download the service account's JSON key again and paste the whole file."),
    )
}

impl Google {
    pub fn new(credentials: &Credentials, http: &HttpConfig) -> Result<Self, ConnectorError> {
        let raw = credentials.secret("credentials_json");
        let file: KeyFile = serde_json::from_str(raw).map_err(|_| {
            ConnectorError::field(
                "credentials_json",
                "This is not a JSON key file. Paste the whole file downloaded for the service account (it starts with {).",
            )
        })?;
        match file.kind.as_deref() {
            Some("service_account") => {}
            None => return Err(json_field("type")),
            Some(other) => {
                return Err(ConnectorError::field(
                    "credentials_json",
                    format!("This is a \"{other}\" credentials file; Muster needs a service account's key (\"type\": \"service_account\")."),
                ))
            }
        }
        let client_email = file
            .client_email
            .ok_or_else(|| json_field("client_email"))?;
        let pem = file.private_key.ok_or_else(|| json_field("private_key"))?;
        let token_uri = file.token_uri.ok_or_else(|| json_field("token_uri"))?;
        let key = jsonwebtoken::EncodingKey::from_rsa_pem(pem.as_bytes()).map_err(|_| {
            ConnectorError::field(
                "credentials_json",
                "The \"private_key\" of the credentials JSON is not an RSA key in PEM form.",
            )
        })?;
        let token_uri =
            url_guard::check_user_url(&token_uri, http.allow_insecure, "credentials_json")?;
        let admin = credentials.setting("admin_email").trim().to_string();
        if !admin.contains('@') {
            return Err(ConnectorError::field(
                "admin_email",
                "Enter the email address of a Workspace administrator.",
            ));
        }
        Ok(Self {
            client_email,
            client_id: file.client_id.unwrap_or_default(),
            key,
            key_id: file.private_key_id,
            token_uri,
            admin,
            directory: http
                .google_directory_url
                .clone()
                .unwrap_or_else(|| DIRECTORY.parse().expect("fixed URL")),
            http: http.client().retry_also(google_rate_limit),
            token: TokenCache::default(),
        })
    }

    fn assertion(&self) -> Result<String, ConnectorError> {
        let now = chrono::Utc::now().timestamp();
        let claims = GrantClaims {
            iss: self.client_email.clone(),
            sub: self.admin.clone(),
            scope: SCOPES.join(" "),
            aud: TOKEN_AUDIENCE.into(),
            iat: now,
            exp: now + 3600,
        };
        let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256);
        header.kid = self.key_id.clone();
        jsonwebtoken::encode(&header, &claims, &self.key)
            .map_err(|e| ConnectorError::Provider(format!("Could not sign the token request: {e}")))
    }

    async fn token(&self, fresh: bool) -> Result<String, ConnectorError> {
        self.token
            .get(fresh, || async {
                let assertion = self.assertion()?;
                let form = [
                    ("grant_type", "urn:ietf:params:oauth:grant-type:jwt-bearer"),
                    ("assertion", assertion.as_str()),
                ];
                let resp = self
                    .http
                    .send(|c| c.post(self.token_uri.clone()).form(&form))
                    .await
                    .map_err(|e| self.token_error(e))?;
                #[derive(Deserialize)]
                struct Token {
                    access_token: String,
                    expires_in: Option<Value>,
                }
                let t: Token = serde_json::from_slice(&resp.body).map_err(|_| {
                    ConnectorError::Unavailable(
                        "Google's token answer could not be read. Try again.".into(),
                    )
                })?;
                // google-auth accepts expires_in as a number or a string.
                let secs = match t.expires_in {
                    Some(Value::Number(n)) => n.as_u64(),
                    Some(Value::String(s)) => s.parse().ok(),
                    _ => None,
                }
                .unwrap_or(3600);
                Ok((t.access_token, Duration::from_secs(secs)))
            })
            .await
    }

    fn token_error(&self, e: HttpError) -> ConnectorError {
        let host = self.token_uri.host_str().unwrap_or("Google").to_string();
        let HttpError::Status { status, body, .. } = &e else {
            return ConnectorError::http(&e, e.network_message(&host));
        };
        #[derive(Deserialize, Default)]
        struct OAuthError {
            #[serde(default)]
            error: String,
            #[serde(default)]
            error_description: String,
        }
        let err: OAuthError = serde_json::from_str(body).unwrap_or_default();
        let message = match err.error.as_str() {
            "unauthorized_client" => format!(
                "Domain-wide delegation is not granted to this service account for the scopes Muster needs (unauthorized_client). In the Google Admin console, under Security → Access and data control → API controls → Domain-wide delegation, add client ID {} with the scopes {}.",
                if self.client_id.is_empty() { "of the service account" } else { &self.client_id },
                SCOPES.join(", ")
            ),
            "invalid_grant" => format!(
                "Google refused the token request (invalid_grant: {}). Check the administrator's email address, that the key was not deleted, and this server's clock.",
                err.error_description
            ),
            "" => format!("Google's token endpoint answered HTTP {status}."),
            code => format!("Google refused the token request ({code}: {}).", err.error_description),
        };
        ConnectorError::http(&e, message)
    }

    async fn get(&self, url: &Url) -> Result<Value, ConnectorError> {
        get_bearer_json(
            &self.http,
            url,
            |fresh| self.token(fresh),
            |e| self.error(e),
            "the Directory API",
        )
        .await
    }

    fn error(&self, e: HttpError) -> ConnectorError {
        let host = self.directory.host_str().unwrap_or("Google").to_string();
        let HttpError::Status { status, body, .. } = &e else {
            return ConnectorError::http(&e, e.network_message(&host));
        };
        let message = serde_json::from_str::<Value>(body)
            .ok()
            .and_then(|v| v["error"]["message"].as_str().map(str::to_string))
            .map(|m| format!(" ({m})"))
            .unwrap_or_default();
        let text = match status.as_u16() {
            403 => format!(
                "Google refused to list the directory{message}. {} must be a Workspace administrator who can read users and groups, and the delegation must include the scopes {}.",
                self.admin,
                SCOPES.join(", ")
            ),
            401 => format!("Google refused the access token{message}."),
            s if s >= 500 => format!("The Directory API failed with HTTP {s}{message}, also when tried again. Try again later."),
            s => format!("The Directory API answered HTTP {s}{message}."),
        };
        ConnectorError::http(&e, text)
    }

    /// Every item under `key` of a list, following `nextPageToken`, handed
    /// to `each` page by page (a large directory is never held as JSON).
    async fn each(
        &self,
        first: Url,
        key: &str,
        mut each: impl FnMut(Value),
    ) -> Result<(), ConnectorError> {
        let mut token: Option<String> = None;
        loop {
            let mut url = first.clone();
            if let Some(t) = &token {
                url.query_pairs_mut().append_pair("pageToken", t);
            }
            let mut page = self.get(&url).await?;
            if let Some(Value::Array(items)) = page.get_mut(key).map(Value::take) {
                items.into_iter().for_each(&mut each);
            }
            token = page
                .get("nextPageToken")
                .and_then(Value::as_str)
                .map(str::to_string);
            if token.is_none() {
                return Ok(());
            }
        }
    }

    /// Every item under `key` of a list, following `nextPageToken`.
    async fn all(&self, first: Url, key: &str) -> Result<Vec<Value>, ConnectorError> {
        let mut out = Vec::new();
        self.each(first, key, |v| out.push(v)).await?;
        Ok(out)
    }

    fn url(&self, path: &str, pairs: &[(&str, &str)]) -> Url {
        let mut url = self.directory.join(path).expect("a fixed path joins");
        url.query_pairs_mut().extend_pairs(pairs);
        url
    }
}

/// Google's rate limits are 403s with these reasons.
fn google_rate_limit(status: StatusCode, body: &str) -> bool {
    status == StatusCode::FORBIDDEN
        && (body.contains("userRateLimitExceeded")
            || body.contains("rateLimitExceeded")
            || body.contains("quotaExceeded"))
}

fn text(v: &Value, path: &[&str]) -> Option<String> {
    let mut cur = v;
    for p in path {
        cur = cur.get(p)?;
    }
    non_empty(cur.as_str())
}

fn primary<'a>(v: &'a Value, key: &str) -> Option<&'a Value> {
    let list = v.get(key)?.as_array()?;
    list.iter()
        .find(|e| e.get("primary").and_then(Value::as_bool) == Some(true))
        .or_else(|| list.first())
}

fn person(v: &Value) -> Option<Person> {
    let phones = v.get("phones").and_then(Value::as_array);
    let phone = phones.and_then(|l| {
        let of = |t: &str| {
            l.iter()
                .find(|p| p.get("type").and_then(Value::as_str) == Some(t))
        };
        of("mobile")
            .or_else(|| of("work_mobile"))
            .or_else(|| {
                l.iter()
                    .find(|p| p.get("primary").and_then(Value::as_bool) == Some(true))
            })
            .or_else(|| l.first())
            .and_then(|p| text(p, &["value"]))
    });
    let org = primary(v, "organizations");
    let location = org
        .and_then(|o| text(o, &["location"]))
        .or_else(|| primary(v, "locations").and_then(|l| text(l, &["buildingId"])))
        .or_else(|| primary(v, "addresses").and_then(|a| text(a, &["locality"])));
    Some(Person {
        external_id: text(v, &["id"])?,
        contact: ContactDraft {
            first_name: text(v, &["name", "givenName"]).unwrap_or_default(),
            last_name: text(v, &["name", "familyName"]).unwrap_or_default(),
            email: text(v, &["primaryEmail"]).unwrap_or_default(),
            phone: phone.unwrap_or_default(),
            department: org
                .and_then(|o| text(o, &["department"]))
                .unwrap_or_default(),
            role: org.and_then(|o| text(o, &["title"])).unwrap_or_default(),
            location: location.unwrap_or_default(),
            groups: Vec::new(),
        },
    })
}

fn left_out(v: &Value) -> bool {
    v.get("suspended").and_then(Value::as_bool) == Some(true)
        || v.get("archived").and_then(Value::as_bool) == Some(true)
}

#[async_trait]
impl Connector for Google {
    async fn test(&self) -> Result<ConnectionTest, ConnectorError> {
        let url = self.url(
            "admin/directory/v1/users",
            &[
                ("customer", "my_customer"),
                ("maxResults", "100"),
                ("projection", "full"),
            ],
        );
        let page = self.get(&url).await?;
        let people: Vec<Person> = page
            .get("users")
            .and_then(Value::as_array)
            .map(|l| {
                l.iter()
                    .filter(|v| !left_out(v))
                    .filter_map(person)
                    .collect()
            })
            .unwrap_or_default();
        Ok(ConnectionTest {
            users: people.len() as u64,
            more: page.get("nextPageToken").is_some(),
            sample: sample_names(&people),
        })
    }

    async fn directory(&self, progress: &dyn Progress) -> Result<Directory, ConnectorError> {
        let url = self.url(
            "admin/directory/v1/users",
            &[
                ("customer", "my_customer"),
                ("maxResults", "500"),
                ("projection", "full"),
            ],
        );
        let mut dir = Directory::default();
        self.each(url, "users", |v| {
            if left_out(&v) {
                dir.exclude(person(&v).map(|p| p.external_id));
            } else if let Some(p) = person(&v) {
                dir.add(p, progress);
            }
        })
        .await?;
        let url = self.url(
            "admin/directory/v1/groups",
            &[("customer", "my_customer"), ("maxResults", "200")],
        );
        let groups = self.all(url, "groups").await?;
        let concurrency = self.http.config().concurrency.max(1);
        let named: Vec<(String, String)> = groups
            .iter()
            .filter_map(|g| Some((text(g, &["id"])?, text(g, &["name"])?)))
            .collect();
        dir.groups = futures_util::stream::iter(named)
            .map(|(id, name)| async move {
                let url = self.url(
                    &format!("admin/directory/v1/groups/{id}/members"),
                    &[("maxResults", "200"), ("includeDerivedMembership", "true")],
                );
                let members = self.all(url, "members").await?;
                Ok::<_, ConnectorError>(SourceGroup {
                    external_id: id,
                    name,
                    members: members
                        .iter()
                        .filter(|m| m.get("type").and_then(Value::as_str) == Some("USER"))
                        .filter_map(|m| text(m, &["id"]))
                        .collect(),
                })
            })
            .buffered(concurrency)
            .try_collect()
            .await?;
        Ok(dir)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_json_problems_are_named() {
        let http = HttpConfig::new(false, Duration::from_secs(5));
        let creds = |json: &str| {
            let mut c = Credentials::default();
            c.secrets.insert("credentials_json".into(), json.into());
            c.settings
                .insert("admin_email".into(), "admin@example.com".into());
            c
        };
        let err = |json: &str| Google::new(&creds(json), &http).err().unwrap().to_string();
        assert!(err("not json").contains("not a JSON key file"));
        assert!(err(r#"{"type":"authorized_user"}"#).contains("\"authorized_user\""));
        assert!(
            err(r#"{"type":"service_account","client_email":"a@b"}"#).contains("\"private_key\"")
        );
        assert!(err(r#"{"client_email":"a@b"}"#).contains("\"type\""));
        assert!(err(r#"{"type":"service_account","client_email":"a@b","private_key":"x","token_uri":"https://oauth2.googleapis.com/token"}"#)
            .contains("not an RSA key"));
    }

    #[test]
    fn users_are_mapped() {
        let v: Value = serde_json::from_str(
            r#"{"kind":"admin#directory#user","id":"104356789012345678901","primaryEmail":"jane.doe@example.com",
                "name":{"givenName":"Jane","familyName":"Doe","fullName":"Jane Doe"},"suspended":false,"archived":false,
                "phones":[{"value":"+1 555 0100","type":"work"},{"value":"+1 555 0101","type":"mobile"}],
                "organizations":[{"title":"Staff Engineer","department":"Platform","primary":true,"customType":""}],
                "locations":[{"type":"desk","area":"desk","buildingId":"HQ","floorName":"3"}]}"#,
        )
        .unwrap();
        let p = person(&v).unwrap();
        assert_eq!(p.contact.phone, "+1 555 0101");
        assert_eq!(p.contact.department, "Platform");
        assert_eq!(p.contact.role, "Staff Engineer");
        assert_eq!(p.contact.location, "HQ");
        assert!(!left_out(&v));
        assert!(google_rate_limit(
            StatusCode::FORBIDDEN,
            r#"{"error":{"errors":[{"reason":"userRateLimitExceeded"}]}}"#
        ));
        assert!(!google_rate_limit(
            StatusCode::FORBIDDEN,
            "Not Authorized to access this resource/api"
        ));
    }
}
