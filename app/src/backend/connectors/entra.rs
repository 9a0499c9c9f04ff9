//! Microsoft Entra ID through Microsoft Graph v1.0, app-only (client
//! credentials with the `oauth2` crate), reference/providers.md §2.
//!
//! Users from `/v1.0/users` with `$select` (department and accountEnabled are
//! not in Graph's default set) and `$top=999`, following `@odata.nextLink`
//! whole and only to the same host; groups from `/v1.0/groups` with their
//! members flattened by `/transitiveMembers`. The token is cached for its
//! lifetime, fetched again a minute before it ends, and once more if Graph
//! says it expired during the run.
//!
//! Mapping: givenName, surname (else displayName split), mail (else
//! userPrincipalName), mobilePhone (else the first businessPhone),
//! department, jobTitle → Role, officeLocation (else city) → Location.
//! Disabled accounts (accountEnabled false) are left out and counted.

use super::http::{Client, HttpConfig, HttpError};
use super::TokenCache;
use super::{
    get_bearer_json, next_page, non_empty_owned, sample_names, Connector, ConnectorError,
    Credentials,
};
use super::{Directory, Person, Progress, SourceGroup};
use crate::model::{ConnectionTest, ContactDraft};
use async_trait::async_trait;
use futures_util::{StreamExt, TryStreamExt};
use oauth2::basic::{BasicClient, BasicErrorResponse};
use oauth2::{AuthType, ClientId, ClientSecret, RequestTokenError, Scope, TokenResponse, TokenUrl};
use secrecy::{ExposeSecret, SecretString};
use serde::de::DeserializeOwned;
use serde::Deserialize;
use std::time::Duration;
use url::Url;

const PAGE: u32 = 999;
const USER_FIELDS: &str = "id,givenName,surname,displayName,mail,userPrincipalName,mobilePhone,\
     businessPhones,department,jobTitle,officeLocation,city,accountEnabled";

/// The national clouds: (login host, Graph host).
fn cloud_hosts(cloud: &str) -> Option<(&'static str, &'static str)> {
    match cloud {
        "" | "global" => Some((
            "https://login.microsoftonline.com",
            "https://graph.microsoft.com",
        )),
        "usgov" => Some((
            "https://login.microsoftonline.us",
            "https://graph.microsoft.us",
        )),
        "china" => Some((
            "https://login.chinacloudapi.cn",
            "https://microsoftgraph.chinacloudapi.cn",
        )),
        _ => None,
    }
}

pub struct Entra {
    token_url: Url,
    graph: Url,
    /// The resource the token is for (always the cloud's real Graph).
    scope: String,
    client_id: String,
    secret: SecretString,
    http: Client,
    token: TokenCache,
}

impl Entra {
    pub fn new(credentials: &Credentials, http: &HttpConfig) -> Result<Self, ConnectorError> {
        let tenant = credentials.setting("tenant_id").trim().to_string();
        let valid_tenant = !tenant.is_empty()
            && tenant
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.');
        if !valid_tenant {
            return Err(ConnectorError::field(
                "tenant_id",
                "Enter the tenant ID (a GUID such as 00000000-0000-0000-0000-000000000000) or the tenant's domain.",
            ));
        }
        let client_id = credentials.setting("client_id").trim().to_string();
        if client_id.is_empty() {
            return Err(ConnectorError::field("client_id", "Enter the client ID."));
        }
        let secret = credentials.secret("client_secret").trim().to_string();
        if secret.is_empty() {
            return Err(ConnectorError::field(
                "client_secret",
                "Enter the client secret.",
            ));
        }
        let (login, graph) = cloud_hosts(credentials.setting("cloud"))
            .ok_or_else(|| ConnectorError::field("cloud", "Choose the tenant's cloud."))?;
        let scope = format!("{graph}/.default");
        let login = http
            .entra_login_url
            .clone()
            .unwrap_or_else(|| login.parse().expect("fixed URL"));
        let graph = http
            .graph_url
            .clone()
            .unwrap_or_else(|| graph.parse().expect("fixed URL"));
        let token_url = join(&login, &format!("{tenant}/oauth2/v2.0/token"));
        Ok(Self {
            token_url,
            graph,
            scope,
            client_id,
            secret: secret.into(),
            http: http.client(),
            token: TokenCache::default(),
        })
    }

    /// A token, from the cache while it has more than a minute left.
    async fn token(&self, fresh: bool) -> Result<String, ConnectorError> {
        self.token
            .get(fresh, || async {
                let client = BasicClient::new(ClientId::new(self.client_id.clone()))
                    .set_client_secret(ClientSecret::new(self.secret.expose_secret().to_string()))
                    .set_auth_type(AuthType::RequestBody)
                    .set_token_uri(TokenUrl::from_url(self.token_url.clone()));
                // The future owns its client: a borrowed one would not be Send
                // for every lifetime, as async_trait's futures must be.
                let http = self.http.clone();
                let send = move |request: oauth2::HttpRequest| {
                    let http = http.clone();
                    async move { send_token_request(&http, request).await }
                };
                let response = client
                    .exchange_client_credentials()
                    .add_scope(Scope::new(self.scope.clone()))
                    .request_async(&send)
                    .await
                    .map_err(|e| self.token_error(e))?;
                let lifetime = response.expires_in().unwrap_or(Duration::from_secs(3600));
                Ok((response.access_token().secret().clone(), lifetime))
            })
            .await
    }

    fn token_error(&self, e: RequestTokenError<HttpError, BasicErrorResponse>) -> ConnectorError {
        let host = self.token_url.host_str().unwrap_or("Microsoft").to_string();
        let passing = matches!(&e, RequestTokenError::Request(h) if h.may_pass());
        let message = match e {
            RequestTokenError::ServerResponse(r) => {
                let description = r.error_description().cloned().unwrap_or_default();
                let first = description.lines().next().unwrap_or("").trim().to_string();
                let code = first
                    .split(':')
                    .next()
                    .filter(|c| c.starts_with("AADSTS"))
                    .unwrap_or("");
                match code {
                    "AADSTS7000215" => "The client secret is wrong (AADSTS7000215). Enter the secret's Value, not its Secret ID, from Certificates & secrets.".to_string(),
                    "AADSTS7000222" => "The client secret has expired (AADSTS7000222). Create a new one under Certificates & secrets, enter it here, and record its expiry date.".to_string(),
                    "AADSTS700016" => "No application with this client ID in the tenant (AADSTS700016). Check the Client ID (the Application ID) and the Tenant ID.".to_string(),
                    "AADSTS90002" => "The tenant was not found (AADSTS90002). Check the Tenant ID and the cloud.".to_string(),
                    _ if first.is_empty() => format!("Microsoft refused the sign-in ({}).", r.error()),
                    _ => format!("Microsoft refused the sign-in: {first}"),
                }
            }
            RequestTokenError::Request(HttpError::Status { status, .. })
                if status.as_u16() == 429 =>
            {
                format!("{host} kept throttling the sign-in requests. Try again in a few minutes.")
            }
            RequestTokenError::Request(HttpError::Status { status, .. })
                if status.is_server_error() =>
            {
                let code = status.as_u16();
                format!("{host} failed with HTTP {code} at sign-in, also when tried again. Try again later.")
            }
            RequestTokenError::Request(e) => e.network_message(&host),
            RequestTokenError::Parse(_, _) => format!(
                "The sign-in answer from {host} could not be read. Check the tenant ID and the cloud, and try again."
            ),
            other => format!("Could not get a token from {host}: {other}"),
        };
        if passing {
            ConnectorError::Unavailable(message)
        } else {
            ConnectorError::Provider(message)
        }
    }

    /// GET a Graph URL, with a fresh token once if the cached one expired.
    async fn get<D: DeserializeOwned>(&self, url: &Url) -> Result<D, ConnectorError> {
        get_bearer_json(
            &self.http,
            url,
            |fresh| self.token(fresh),
            |e| self.error(e),
            "Microsoft Graph",
        )
        .await
    }

    fn error(&self, e: HttpError) -> ConnectorError {
        let host = self
            .graph
            .host_str()
            .unwrap_or("Microsoft Graph")
            .to_string();
        let HttpError::Status { status, body, .. } = &e else {
            return ConnectorError::http(&e, e.network_message(&host));
        };
        let error: GraphError = serde_json::from_str(body).unwrap_or_default();
        let code = error.error.code.as_str();
        let said = if code.is_empty() {
            String::new()
        } else {
            format!(" ({code}: {})", error.error.message)
        };
        let message = match (status.as_u16(), code) {
            (403, _) => format!(
                "The app may not read the directory{said}. Add the Application permissions User.Read.All, Group.Read.All and Directory.Read.All to the app registration, then Grant admin consent."
            ),
            (401, _) => format!("Microsoft Graph refused the app's token{said}. Check the tenant ID and the cloud."),
            (429, _) => format!("Microsoft Graph kept throttling the requests{said}. Try again in a few minutes."),
            (s, _) if s >= 500 => format!("Microsoft Graph failed with HTTP {s}{said}, also when tried again. Try again later."),
            (s, _) => format!("Microsoft Graph answered HTTP {s}{said}."),
        };
        ConnectorError::http(&e, message)
    }

    /// Every item of a collection, following `@odata.nextLink`, handed to
    /// `each` page by page (a large directory is never held as JSON). Items
    /// are read straight into `T`: a page read as JSON values first took
    /// as long again as the read itself.
    async fn each<T: DeserializeOwned>(
        &self,
        first: Url,
        mut each: impl FnMut(T),
    ) -> Result<(), ConnectorError> {
        let mut next = Some(first);
        while let Some(url) = next {
            let page: Page<T> = self.get(&url).await?;
            page.value.into_iter().for_each(&mut each);
            next = match page.next_link {
                Some(n) => Some(next_page(&self.graph, &n, "Microsoft Graph")?),
                None => None,
            };
        }
        Ok(())
    }

    /// Every item of a collection, following `@odata.nextLink`.
    async fn all<T: DeserializeOwned>(&self, first: Url) -> Result<Vec<T>, ConnectorError> {
        let mut out = Vec::new();
        self.each(first, |v| out.push(v)).await?;
        Ok(out)
    }

    fn users_url(&self) -> Url {
        let mut url = join(&self.graph, "v1.0/users");
        url.query_pairs_mut()
            .append_pair("$select", USER_FIELDS)
            .append_pair("$top", &PAGE.to_string());
        url
    }
}

/// oauth2's HTTP client for the token request: the shared client, so that
/// the request is retried (429, 5xx, timeouts) like every other one. A refusal
/// (400 or 401 with an AADSTS error) goes back to oauth2 as an answer, unretried,
/// for it to read Microsoft's error body; what still fails after the retries
/// stays an error.
async fn send_token_request(
    http: &Client,
    request: oauth2::HttpRequest,
) -> Result<oauth2::HttpResponse, HttpError> {
    let (parts, body) = request.into_parts();
    let url = parts.uri.to_string();
    let sent = http
        .send(|c| {
            c.request(parts.method.clone(), url.as_str())
                .headers(parts.headers.clone())
                .body(body.clone())
        })
        .await;
    let (status, headers, body) = match sent {
        Ok(resp) => (resp.status, resp.headers, resp.body),
        Err(HttpError::Status {
            status,
            headers,
            body,
        }) if status.is_client_error() && status.as_u16() != 429 => {
            (status, headers, body.into_bytes())
        }
        Err(e) => return Err(e),
    };
    let mut response = oauth2::HttpResponse::new(body);
    *response.status_mut() = status;
    *response.headers_mut() = headers;
    Ok(response)
}

fn join(base: &Url, path: &str) -> Url {
    let mut base = base.clone();
    if !base.path().ends_with('/') {
        let p = format!("{}/", base.path());
        base.set_path(&p);
    }
    base.join(path).expect("a relative path joins")
}

#[derive(Deserialize, Default)]
struct GraphError {
    #[serde(default)]
    error: GraphErrorBody,
}

#[derive(Deserialize, Default)]
struct GraphErrorBody {
    #[serde(default)]
    code: String,
    #[serde(default)]
    message: String,
}

/// A page of a Graph collection.
#[derive(Deserialize)]
struct Page<T> {
    value: Vec<T>,
    #[serde(rename = "@odata.nextLink")]
    next_link: Option<String>,
}

/// A user as `USER_FIELDS` selects it.
#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
struct User {
    id: Option<String>,
    given_name: Option<String>,
    surname: Option<String>,
    display_name: Option<String>,
    mail: Option<String>,
    user_principal_name: Option<String>,
    mobile_phone: Option<String>,
    business_phones: Option<Vec<Option<String>>>,
    department: Option<String>,
    job_title: Option<String>,
    office_location: Option<String>,
    city: Option<String>,
    account_enabled: Option<bool>,
}

/// A group, or a member of one (a user, a group, a device...).
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Entry {
    id: Option<String>,
    display_name: Option<String>,
    #[serde(rename = "@odata.type")]
    kind: Option<String>,
}

impl User {
    fn enabled(&self) -> bool {
        self.account_enabled != Some(false)
    }
}

fn person(v: User) -> Option<Person> {
    let external_id = non_empty_owned(v.id)?;
    let (mut first, mut last) = (non_empty_owned(v.given_name), non_empty_owned(v.surname));
    if first.is_none() && last.is_none() {
        if let Some(display) = non_empty_owned(v.display_name) {
            let mut parts = display.rsplitn(2, ' ');
            last = parts.next().map(str::to_string);
            first = parts.next().map(str::to_string);
        }
    }
    let phone = non_empty_owned(v.mobile_phone).or_else(|| {
        v.business_phones
            .and_then(|l| l.into_iter().next())
            .and_then(non_empty_owned)
    });
    let email = non_empty_owned(v.mail)
        .or_else(|| non_empty_owned(v.user_principal_name).filter(|u| u.contains('@')));
    Some(Person {
        external_id,
        contact: ContactDraft {
            first_name: first.unwrap_or_default(),
            last_name: last.unwrap_or_default(),
            email: email.unwrap_or_default(),
            phone: phone.unwrap_or_default(),
            department: non_empty_owned(v.department).unwrap_or_default(),
            role: non_empty_owned(v.job_title).unwrap_or_default(),
            location: non_empty_owned(v.office_location)
                .or_else(|| non_empty_owned(v.city))
                .unwrap_or_default(),
            groups: Vec::new(),
        },
    })
}

#[async_trait]
impl Connector for Entra {
    async fn test(&self) -> Result<ConnectionTest, ConnectorError> {
        let mut url = join(&self.graph, "v1.0/users");
        url.query_pairs_mut()
            .append_pair("$select", USER_FIELDS)
            .append_pair("$top", "100");
        let page: Page<User> = self.get(&url).await?;
        let more = page.next_link.is_some();
        let people: Vec<Person> = page
            .value
            .into_iter()
            .filter(User::enabled)
            .filter_map(person)
            .collect();
        Ok(ConnectionTest {
            users: people.len() as u64,
            more,
            sample: sample_names(&people),
        })
    }

    async fn directory(&self, progress: &dyn Progress) -> Result<Directory, ConnectorError> {
        let mut dir = Directory::default();
        self.each(self.users_url(), |v: User| {
            if !v.enabled() {
                dir.exclude(person(v).map(|p| p.external_id));
            } else if let Some(p) = person(v) {
                dir.add(p, progress);
            }
        })
        .await?;
        let mut url = join(&self.graph, "v1.0/groups");
        url.query_pairs_mut()
            .append_pair("$select", "id,displayName")
            .append_pair("$top", &PAGE.to_string());
        let groups: Vec<Entry> = self.all(url).await?;
        let concurrency = self.http.config().concurrency.max(1);
        let named: Vec<(String, String)> = groups
            .into_iter()
            .filter_map(|g| Some((non_empty_owned(g.id)?, non_empty_owned(g.display_name)?)))
            .collect();
        dir.groups = futures_util::stream::iter(named)
            .map(|(id, name)| async move {
                let mut url = join(&self.graph, &format!("v1.0/groups/{id}/transitiveMembers"));
                url.query_pairs_mut()
                    .append_pair("$select", "id")
                    .append_pair("$top", &PAGE.to_string());
                let mut members = Vec::new();
                self.each(url, |m: Entry| {
                    if m.kind.as_deref() == Some("#microsoft.graph.user") {
                        members.extend(non_empty_owned(m.id));
                    }
                })
                .await?;
                Ok::<_, ConnectorError>(SourceGroup {
                    external_id: id,
                    name,
                    members,
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

    fn creds(tenant: &str, cloud: &str) -> Credentials {
        let mut c = Credentials::default();
        c.settings.insert("tenant_id".into(), tenant.into());
        c.settings.insert("client_id".into(), "app".into());
        c.settings.insert("cloud".into(), cloud.into());
        c.secrets.insert("client_secret".into(), "s".into());
        c
    }

    #[test]
    fn clouds_and_tenants() {
        let http = HttpConfig::new(false, Duration::from_secs(5));
        let e = Entra::new(&creds("contoso.onmicrosoft.com", "usgov"), &http).unwrap();
        assert_eq!(
            e.token_url.as_str(),
            "https://login.microsoftonline.us/contoso.onmicrosoft.com/oauth2/v2.0/token"
        );
        assert_eq!(e.scope, "https://graph.microsoft.us/.default");
        assert!(e
            .users_url()
            .as_str()
            .starts_with("https://graph.microsoft.us/v1.0/users?%24select="));
        assert!(Entra::new(&creds("bad tenant/../x", "global"), &http).is_err());
        assert!(Entra::new(&creds("t", "mars"), &http).is_err());
    }

    #[test]
    fn users_are_mapped_and_disabled_ones_excluded() {
        let v: User = serde_json::from_str(
            r#"{"businessPhones": ["425-555-0100"], "displayName": "MOD Administrator", "givenName": "MOD", "jobTitle": null,
                "mail": null, "mobilePhone": null, "officeLocation": null, "preferredLanguage": "en-US",
                "surname": "Administrator", "userPrincipalName": "admin@contoso.com", "id": "4562bcc8-c436-4f95-b7c0-4f8ce89dca5e",
                "accountEnabled": true, "city": "Redmond"}"#,
        )
        .unwrap();
        assert!(v.enabled());
        let p = person(v).unwrap();
        assert_eq!(p.contact.email, "admin@contoso.com");
        assert_eq!(p.contact.phone, "425-555-0100");
        assert_eq!(p.contact.location, "Redmond");
        assert_eq!(p.contact.role, "");
        let off: User = serde_json::from_str(r#"{"id":"x","accountEnabled":false}"#).unwrap();
        assert!(!off.enabled());
        let page: Page<User> =
            serde_json::from_str(r#"{"value":[{"id":" y ","givenName":"  "}]}"#).unwrap();
        assert!(page.next_link.is_none());
        let p = person(page.value.into_iter().next().unwrap()).unwrap();
        assert_eq!(p.external_id, "y");
        assert_eq!(p.contact.first_name, "");
    }
}
