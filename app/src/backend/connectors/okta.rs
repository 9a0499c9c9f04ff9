//! Okta Management API: `SSWS` token, cursor paging through the `Link` header,
//! users from `/api/v1/users`, groups from `/api/v1/groups` and their members
//! from `/api/v1/groups/{id}/users` (reference/providers.md §3).
//!
//! Mapping: firstName, lastName, email (else login when it is an address),
//! mobilePhone (else primaryPhone), department, title → Role, city → Location,
//! Okta and app groups → groups (the built-in Everyone group is left out).
//! SUSPENDED and DEPROVISIONED users are left out and counted; Okta itself
//! leaves DEPROVISIONED users out of an unfiltered list.

use super::http::{Client, HttpConfig, HttpError};
use super::{
    next_page, non_empty, sample_names, url_guard, Connector, ConnectorError, Credentials,
};
use super::{Directory, Person, Progress, SourceGroup};
use crate::model::{ConnectionTest, ContactDraft};
use async_trait::async_trait;
use futures_util::{StreamExt, TryStreamExt};
use reqwest::header::{HeaderMap, ACCEPT, AUTHORIZATION, LINK};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use url::Url;

const PAGE: u32 = 200;

pub struct Okta {
    base: Url,
    token: SecretString,
    http: Client,
}

impl Okta {
    pub fn new(credentials: &Credentials, http: &HttpConfig) -> Result<Self, ConnectorError> {
        let base = base_url(credentials.setting("domain"), http.allow_insecure)?;
        let token = credentials.secret("api_token").trim().to_string();
        if token.is_empty() {
            return Err(ConnectorError::field("api_token", "Enter the API token."));
        }
        Ok(Self {
            base,
            token: token.into(),
            http: http.client(),
        })
    }

    fn host(&self) -> String {
        self.base.host_str().unwrap_or("Okta").to_string()
    }

    fn url(&self, path: &str) -> Url {
        self.base.join(path).expect("a fixed path joins a base URL")
    }

    /// One page: its items and the next page's URL.
    async fn page<T: serde::de::DeserializeOwned>(
        &self,
        url: &Url,
    ) -> Result<(Vec<T>, Option<Url>), ConnectorError> {
        let auth = format!("SSWS {}", self.token.expose_secret());
        let resp = self
            .http
            .send(|c| {
                c.get(url.clone())
                    .header(AUTHORIZATION, &auth)
                    .header(ACCEPT, "application/json")
            })
            .await
            .map_err(|e| self.error(e))?;
        let items: Vec<T> = serde_json::from_slice(&resp.body).map_err(|e| {
            // Once connected, most likely cut short on the way: it may pass.
            ConnectorError::Unavailable(format!(
                "The answer from {} is not Okta's list of users or groups ({e}). Check the domain.",
                self.host()
            ))
        })?;
        let next = next_link(&resp.headers)
            .map(|n| next_page(&self.base, &n, "Okta"))
            .transpose()?;
        Ok((items, next))
    }

    /// Every item of every page from `first`, each page shown to `each_page`
    /// first (it may take items out, to keep a large directory out of memory).
    async fn all<T: serde::de::DeserializeOwned>(
        &self,
        first: Url,
        mut each_page: impl FnMut(&mut Vec<T>),
    ) -> Result<Vec<T>, ConnectorError> {
        let mut out = Vec::new();
        let mut next = Some(first);
        while let Some(url) = next {
            let (mut items, after) = self.page::<T>(&url).await?;
            // What the callback takes out of the page is not kept.
            each_page(&mut items);
            out.extend(items);
            next = after;
        }
        Ok(out)
    }

    fn error(&self, e: HttpError) -> ConnectorError {
        let host = self.host();
        let HttpError::Status { status, body, .. } = &e else {
            return ConnectorError::http(&e, e.network_message(&host));
        };
        let okta: OktaError = serde_json::from_str(body).unwrap_or_default();
        let code = okta.error_code.as_deref().unwrap_or("");
        let summary = okta.error_summary.as_deref().unwrap_or("");
        let said = if code.is_empty() {
            String::new()
        } else {
            format!(" ({code}: {summary})")
        };
        let message = match (status.as_u16(), code) {
            (401, "E0000011") => format!(
                "Okta rejected the API token{said}. It may have been revoked, or have expired after 30 days without use. Create a new token under Security → API → Tokens and enter it here."
            ),
            (401, _) => format!("Okta refused the credentials{said}. Check the API token."),
            (403, _) => format!(
                "The token may not read users and groups{said}. The administrator who created it needs at least the Read-Only Administrator role."
            ),
            (404, _) => format!("There is no Okta API at {host}{said}. Check the domain."),
            (429, _) => format!(
                "Okta's rate limit was still exceeded after several tries{said}. Try again in a minute."
            ),
            (s, _) if s >= 500 => format!(
                "Okta failed with HTTP {s}{said}, also when tried again. Try again later."
            ),
            (s, _) => format!("Okta answered HTTP {s}{said}."),
        };
        ConnectorError::http(&e, message)
    }
}

/// The API base for what was typed in the Domain field: `acme`,
/// `acme.okta.com`, `https://acme.okta.com/`, `acme.oktapreview.com`,
/// `acme.okta-emea.com`, a custom domain, or a full base URL.
pub fn base_url(domain: &str, allow_insecure: bool) -> Result<Url, ConnectorError> {
    let d = domain.trim().trim_end_matches('/');
    if d.is_empty() {
        return Err(ConnectorError::field("domain", "Enter your Okta domain."));
    }
    let full = if d.contains("://") {
        d.to_string()
    } else {
        let host = d.split('/').next().unwrap_or(d);
        let valid = host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.' || c == ':');
        if !valid {
            return Err(ConnectorError::field(
                "domain",
                "Enter a domain such as acme.okta.com, or just acme.",
            ));
        }
        if host.contains('.') {
            format!("https://{host}")
        } else {
            format!("https://{host}.okta.com")
        }
    };
    let mut url = url_guard::check_user_url(&full, allow_insecure, "domain")?;
    // The admin console's address (acme-admin.okta.com) serves the same org's API.
    if let Some(host) = url.host_str().map(str::to_string) {
        if let Some((org, rest)) = host.split_once('.') {
            if let Some(org) = org.strip_suffix("-admin") {
                let _ = url.set_host(Some(&format!("{org}.{rest}")));
            }
        }
    }
    url.set_path("/");
    url.set_query(None);
    url.set_fragment(None);
    Ok(url)
}

/// The `next` URL among the `Link` headers (one header per link, or several
/// links in one header separated by commas).
pub fn next_link(headers: &HeaderMap) -> Option<String> {
    for value in headers.get_all(LINK) {
        let Ok(text) = value.to_str() else { continue };
        for part in text.split(',') {
            let mut pieces = part.split(';');
            let target = pieces.next()?.trim();
            let is_next = pieces.any(|p| {
                let p = p.trim().replace(' ', "");
                p == "rel=\"next\"" || p == "rel=next"
            });
            if is_next {
                return Some(
                    target
                        .trim_start_matches('<')
                        .trim_end_matches('>')
                        .to_string(),
                );
            }
        }
    }
    None
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct OktaError {
    error_code: Option<String>,
    error_summary: Option<String>,
}

#[derive(Deserialize)]
struct User {
    id: String,
    #[serde(default)]
    status: String,
    #[serde(default)]
    profile: Profile,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
struct Profile {
    first_name: Option<String>,
    last_name: Option<String>,
    email: Option<String>,
    login: Option<String>,
    mobile_phone: Option<String>,
    primary_phone: Option<String>,
    department: Option<String>,
    title: Option<String>,
    city: Option<String>,
}

#[derive(Deserialize)]
struct Group {
    id: String,
    #[serde(rename = "type", default)]
    kind: String,
    #[serde(default)]
    profile: GroupProfile,
}

#[derive(Deserialize, Default)]
struct GroupProfile {
    #[serde(default)]
    name: String,
}

#[derive(Deserialize)]
struct Member {
    id: String,
}

fn excluded(status: &str) -> bool {
    matches!(status, "SUSPENDED" | "DEPROVISIONED")
}

fn person(u: User) -> Person {
    let p = u.profile;
    let email = non_empty(p.email.as_deref())
        .or_else(|| non_empty(p.login.as_deref()).filter(|l| l.contains('@')));
    let text = |v: &Option<String>| non_empty(v.as_deref()).unwrap_or_default();
    let phone =
        non_empty(p.mobile_phone.as_deref()).or_else(|| non_empty(p.primary_phone.as_deref()));
    Person {
        external_id: u.id,
        contact: ContactDraft {
            first_name: text(&p.first_name),
            last_name: text(&p.last_name),
            email: email.unwrap_or_default(),
            phone: phone.unwrap_or_default(),
            department: text(&p.department),
            role: text(&p.title),
            location: text(&p.city),
            groups: Vec::new(),
        },
    }
}

#[async_trait]
impl Connector for Okta {
    async fn test(&self) -> Result<ConnectionTest, ConnectorError> {
        let mut url = self.url("api/v1/users");
        url.query_pairs_mut()
            .append_pair("limit", &PAGE.to_string());
        let (users, next) = self.page::<User>(&url).await?;
        let people: Vec<Person> = users
            .into_iter()
            .filter(|u| !excluded(&u.status))
            .map(person)
            .collect();
        Ok(ConnectionTest {
            users: people.len() as u64,
            more: next.is_some(),
            sample: sample_names(&people),
        })
    }

    async fn directory(&self, progress: &dyn Progress) -> Result<Directory, ConnectorError> {
        let mut url = self.url("api/v1/users");
        url.query_pairs_mut()
            .append_pair("limit", &PAGE.to_string());
        let mut dir = Directory::default();
        self.all::<User>(url, |page| {
            for u in page.drain(..) {
                if excluded(&u.status) {
                    dir.exclude(Some(u.id.clone()));
                } else {
                    let p = person(u);
                    dir.add(p, progress);
                }
            }
        })
        .await?;

        let mut url = self.url("api/v1/groups");
        url.query_pairs_mut()
            .append_pair("limit", &PAGE.to_string());
        let groups: Vec<Group> = self
            .all::<Group>(url, |_| {})
            .await?
            .into_iter()
            .filter(|g| g.kind != "BUILT_IN" && !g.profile.name.trim().is_empty())
            .collect();
        let concurrency = self.http.config().concurrency.max(1);
        dir.groups = futures_util::stream::iter(groups)
            .map(|g| async move {
                let mut url = self.url(&format!("api/v1/groups/{}/users", g.id));
                url.query_pairs_mut()
                    .append_pair("limit", &PAGE.to_string());
                let members = self.all::<Member>(url, |_| {}).await?;
                Ok::<_, ConnectorError>(SourceGroup {
                    external_id: g.id,
                    name: g.profile.name.trim().to_string(),
                    members: members.into_iter().map(|m| m.id).collect(),
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
    use reqwest::header::HeaderValue;

    #[test]
    fn domains_in_every_form_the_seed_names() {
        let base = |d: &str| base_url(d, false).map(|u| u.to_string());
        assert_eq!(base("acme").unwrap(), "https://acme.okta.com/");
        assert_eq!(base("acme.okta.com").unwrap(), "https://acme.okta.com/");
        assert_eq!(
            base("https://acme.okta.com/").unwrap(),
            "https://acme.okta.com/"
        );
        assert_eq!(
            base(" acme-admin.okta.com ").unwrap(),
            "https://acme.okta.com/"
        );
        assert_eq!(
            base("acme.oktapreview.com").unwrap(),
            "https://acme.oktapreview.com/"
        );
        assert_eq!(
            base("acme.okta-emea.com").unwrap(),
            "https://acme.okta-emea.com/"
        );
        assert_eq!(
            base("login.acme.example").unwrap(),
            "https://login.acme.example/"
        );
        assert_eq!(
            base("https://acme.okta.com/api/v1/users").unwrap(),
            "https://acme.okta.com/"
        );
        assert!(base("").is_err());
        assert!(base("acme okta").is_err());
        assert!(base("http://acme.okta.com").is_err());
        assert!(base("https://10.0.0.5").is_err());
        assert_eq!(
            base_url("http://127.0.0.1:9000", true).unwrap().to_string(),
            "http://127.0.0.1:9000/"
        );
    }

    #[test]
    fn next_link_in_separate_or_combined_headers() {
        let mut h = HeaderMap::new();
        h.append(
            LINK,
            HeaderValue::from_static("<https://a.okta.com/api/v1/users?limit=200>; rel=\"self\""),
        );
        h.append(
            LINK,
            HeaderValue::from_static(
                "<https://a.okta.com/api/v1/users?after=00u1&limit=200>; rel=\"next\"",
            ),
        );
        assert_eq!(
            next_link(&h).unwrap(),
            "https://a.okta.com/api/v1/users?after=00u1&limit=200"
        );
        let mut one = HeaderMap::new();
        one.insert(
            LINK,
            HeaderValue::from_static(
                "<https://a/x>; rel=\"self\", <https://a/y?after=2>; rel=\"next\"",
            ),
        );
        assert_eq!(next_link(&one).unwrap(), "https://a/y?after=2");
        let mut last = HeaderMap::new();
        last.insert(
            LINK,
            HeaderValue::from_static("<https://a/x>; rel=\"self\""),
        );
        assert_eq!(next_link(&last), None);
    }

    #[test]
    fn people_are_mapped_and_suspended_ones_excluded() {
        let users: Vec<User> = serde_json::from_str(
            r#"[{"id":"00ub0oNGTSWTBKOLGLNR","status":"ACTIVE","profile":{"firstName":"Isaac","lastName":"Brock",
                "email":"isaac.brock@example.com","login":"isaac.brock@example.com","mobilePhone":"555-415-1337",
                "title":"Engineer","department":"R&D","city":"Portland"}},
               {"id":"00u2","status":"SUSPENDED","profile":{"firstName":"Sus","lastName":"Pended","login":"s@example.com"}},
               {"id":"00u3","status":"STAGED","profile":{"firstName":"New","lastName":"Hire","login":"new.hire@example.com","primaryPhone":"+1 415 555 0100"}}]"#,
        )
        .unwrap();
        let kept: Vec<Person> = users
            .into_iter()
            .filter(|u| !excluded(&u.status))
            .map(person)
            .collect();
        assert_eq!(kept.len(), 2);
        assert_eq!(kept[0].contact.role, "Engineer");
        assert_eq!(kept[0].contact.location, "Portland");
        assert_eq!(kept[0].contact.phone, "555-415-1337");
        assert_eq!(kept[1].contact.email, "new.hire@example.com");
        assert_eq!(kept[1].contact.phone, "+1 415 555 0100");
    }
}
