//! Integrations as the browser sees them. Secrets go in (a form can set or
//! replace one) but never come back out: nothing here can hold a secret's value.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The HR and identity systems Muster reads people from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Provider {
    Google,
    Entra,
    Okta,
    Workday,
    Scim,
}

/// How a credential field is entered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldKind {
    Text,
    Url,
    Email,
    /// A secret typed on one line.
    Secret,
    /// A secret pasted as a block, or loaded from a file (Google's JSON key).
    SecretFile,
    /// One of a fixed list of (value, label).
    Choice(&'static [(&'static str, &'static str)]),
    /// A calendar date (YYYY-MM-DD), optional.
    Date,
}

/// One field of a provider's Connect form.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CredentialField {
    pub key: &'static str,
    pub label: &'static str,
    pub kind: FieldKind,
    pub placeholder: &'static str,
    pub help: &'static str,
    pub required: bool,
}

impl CredentialField {
    pub fn is_secret(&self) -> bool {
        matches!(self.kind, FieldKind::Secret | FieldKind::SecretFile)
    }
}

const fn field(
    key: &'static str,
    label: &'static str,
    kind: FieldKind,
    placeholder: &'static str,
    help: &'static str,
) -> CredentialField {
    CredentialField {
        key,
        label,
        kind,
        placeholder,
        help,
        required: true,
    }
}

/// The optional field where a credential's expiry date is recorded.
pub const EXPIRES_FIELD: &str = "expires_on";

const fn expiry(label: &'static str, help: &'static str) -> CredentialField {
    CredentialField {
        key: EXPIRES_FIELD,
        label,
        kind: FieldKind::Date,
        placeholder: "",
        help,
        required: false,
    }
}

const ENTRA_CLOUDS: &[(&str, &str)] = &[
    ("global", "Global (login.microsoftonline.com)"),
    ("usgov", "US Government (login.microsoftonline.us)"),
    (
        "china",
        "China, operated by 21Vianet (login.chinacloudapi.cn)",
    ),
];

const GOOGLE_FIELDS: &[CredentialField] = &[
    field(
        "credentials_json",
        "Credentials JSON",
        FieldKind::SecretFile,
        "{ \"type\": \"service_account\", … }",
        "The JSON key file of a service account with domain-wide delegation. Paste it or choose the file.",
    ),
    field(
        "admin_email",
        "Email Address",
        FieldKind::Email,
        "admin@example.com",
        "A Workspace administrator the service account acts as.",
    ),
];

const ENTRA_FIELDS: &[CredentialField] = &[
    field(
        "tenant_id",
        "Tenant ID",
        FieldKind::Text,
        "00000000-0000-0000-0000-000000000000",
        "Directory (tenant) ID, on the app registration's Overview.",
    ),
    field(
        "client_id",
        "Client ID",
        FieldKind::Text,
        "00000000-0000-0000-0000-000000000000",
        "Application (client) ID of the registered app.",
    ),
    field(
        "client_secret",
        "Client Secret",
        FieldKind::Secret,
        "",
        "The secret's Value (not its ID), from Certificates & secrets.",
    ),
    field(
        "cloud",
        "Cloud",
        FieldKind::Choice(ENTRA_CLOUDS),
        "",
        "Where the tenant lives.",
    ),
    expiry(
        "Secret expires on",
        "Optional. The secret's Expires date; Muster warns 30 days before it.",
    ),
];

const OKTA_FIELDS: &[CredentialField] = &[
    field(
        "domain",
        "Domain",
        FieldKind::Text,
        "acme.okta.com",
        "Your Okta domain: acme, acme.okta.com, https://acme.okta.com/, or a custom domain.",
    ),
    field(
        "api_token",
        "API Token",
        FieldKind::Secret,
        "",
        "An API token created by a Read-Only Administrator (Security → API → Tokens).",
    ),
    expiry(
        "Token expires on",
        "Optional. If your Okta policy makes tokens expire, Muster warns 30 days before.",
    ),
];

const WORKDAY_FIELDS: &[CredentialField] = &[
    field(
        "report_url",
        "Report URL",
        FieldKind::Url,
        "https://wd5-impl-services1.workday.com/ccx/service/customreport2/your_org/report_name?format=json",
        "The RaaS URL of the custom report, in JSON format.",
    ),
    field(
        "username",
        "Username",
        FieldKind::Text,
        "",
        "An integration system user with access to the report.",
    ),
    field(
        "password",
        "Password",
        FieldKind::Secret,
        "",
        "That user's password.",
    ),
];

const SCIM_FIELDS: &[CredentialField] = &[
    field(
        "base_url",
        "SCIM API URL",
        FieldKind::Url,
        "https://example.com/scim/v2",
        "The base URL of the SCIM 2.0 API: /Users and /Groups are read under it.",
    ),
    field(
        "token",
        "Access Token",
        FieldKind::Secret,
        "",
        "A bearer token that can read users and groups.",
    ),
];

impl Provider {
    pub const ALL: [Provider; 5] = [
        Provider::Google,
        Provider::Entra,
        Provider::Okta,
        Provider::Workday,
        Provider::Scim,
    ];

    pub fn key(self) -> &'static str {
        match self {
            Self::Google => "google",
            Self::Entra => "entra",
            Self::Okta => "okta",
            Self::Workday => "workday",
            Self::Scim => "scim",
        }
    }

    pub fn parse(key: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|p| p.key() == key)
    }

    /// The name shown on its card, and as the Source of its contacts.
    pub fn label(self) -> &'static str {
        match self {
            Self::Google => "Google Workspace",
            Self::Entra => "Microsoft Entra ID",
            Self::Okta => "Okta",
            Self::Workday => "Workday",
            Self::Scim => "SCIM 2.0 directory",
        }
    }

    pub fn summary(self) -> &'static str {
        match self {
            Self::Google => "Users, groups and org units from the Admin SDK Directory API.",
            Self::Entra => "Users and groups from Microsoft Graph.",
            Self::Okta => "Users and groups from the Okta Management API.",
            Self::Workday => "Workers from a Report-as-a-Service custom report.",
            Self::Scim => "Any SCIM 2.0 service provider, such as an 8x8 Work directory.",
        }
    }

    pub fn fields(self) -> &'static [CredentialField] {
        match self {
            Self::Google => GOOGLE_FIELDS,
            Self::Entra => ENTRA_FIELDS,
            Self::Okta => OKTA_FIELDS,
            Self::Workday => WORKDAY_FIELDS,
            Self::Scim => SCIM_FIELDS,
        }
    }

    /// The settings that decide where this provider's secrets are sent. A
    /// stored secret is only ever sent where it was first sent: an edit that
    /// changes one of these must type every secret again. (Google has none
    /// outside the secret: the key's `token_uri` is inside the key itself.)
    pub fn secret_destinations(self) -> &'static [&'static str] {
        match self {
            Self::Google => &[],
            Self::Entra => &["tenant_id", "cloud"],
            Self::Okta => &["domain"],
            Self::Workday => &["report_url"],
            Self::Scim => &["base_url"],
        }
    }

    /// The labels of the settings in `typed` that send secrets somewhere else
    /// than `stored` does (both as the form holds them; a choice left empty
    /// is its first option, as the form shows it).
    pub fn moved_destinations(
        self,
        stored: &BTreeMap<String, String>,
        typed: &BTreeMap<String, String>,
    ) -> Vec<&'static str> {
        let value = |fields: &BTreeMap<String, String>, f: &CredentialField| {
            let v = fields.get(f.key).map(|v| v.trim()).unwrap_or("");
            match f.kind {
                FieldKind::Choice(options) if v.is_empty() => {
                    options.first().map(|o| o.0).unwrap_or("").to_string()
                }
                _ => v.to_string(),
            }
        };
        self.fields()
            .iter()
            .filter(|f| self.secret_destinations().contains(&f.key))
            .filter(|f| value(stored, f) != value(typed, f))
            .map(|f| f.label)
            .collect()
    }

    /// What the edit form and the server say beside a stored secret that
    /// must be typed again because the `moved` settings changed.
    pub fn retype_secret(moved: &[&str], secret: &str) -> String {
        let changed = match moved {
            [] | [_] => moved.concat(),
            [first @ .., last] => format!("{} and {last}", first.join(", ")),
        };
        format!(
            "The {changed} changed: enter the {secret} again. A stored secret is only sent where it was first sent."
        )
    }

    /// How to prepare the system, shown beside the Connect form.
    pub fn guidance(self) -> &'static [&'static str] {
        match self {
            Self::Google => &[
                "Create a service account and give it domain-wide delegation (a Workspace administrator must do this).",
                "Grant it these OAuth scopes: https://www.googleapis.com/auth/admin.directory.user.readonly, https://www.googleapis.com/auth/admin.directory.group.readonly, https://www.googleapis.com/auth/admin.directory.orgunit.readonly.",
                "Download the JSON key and paste it here with the administrator's email address.",
            ],
            Self::Entra => &[
                "Register an application in Microsoft Entra ID and create a client secret under Certificates & secrets.",
                "Add the Application permissions User.Read.All, Group.Read.All and Directory.Read.All, then Grant admin consent.",
                "Copy the tenant ID, client ID and the secret's value here. Note when the secret expires.",
            ],
            Self::Okta => &[
                "Sign in to the Okta Admin Console as a Read-Only Administrator (or higher).",
                "Create a token under Security → API → Tokens; it acts with that administrator's rights.",
                "Enter your Okta domain and the token. Tokens unused for 30 days expire.",
            ],
            Self::Workday => &[
                "Create a custom report of workers and enable it as a web service.",
                "Its entries must have the keys First_Name, Last_Name, Email_Address, Contact_Number, Department and Job_Title, spelled exactly so. Optional: Employee_ID (a stable id; otherwise the email is used), Location, Groups (names separated by \";\") and Active.",
                "Copy the report's JSON URL (…?format=json) and the credentials of a user allowed to run it.",
            ],
            Self::Scim => &[
                "Find the SCIM 2.0 base URL of the directory (for 8x8 Work: the SCIM API URL in the admin console).",
                "Create an access token that can read users and groups.",
                "Enter both here; Muster reads /Users and /Groups with paging.",
            ],
        }
    }
}

/// The Connect (or edit) form as sent. A secret left empty on an edit keeps
/// the stored one. Its `Debug` output names the fields without their values,
/// some of which are secrets.
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConnectForm {
    pub provider: String,
    pub fields: BTreeMap<String, String>,
}

impl std::fmt::Debug for ConnectForm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConnectForm")
            .field("provider", &self.provider)
            .field("fields", &self.fields.keys().collect::<Vec<_>>())
            .finish()
    }
}

/// A stored secret: that it is set and since when, never its value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SecretState {
    pub key: String,
    pub label: String,
    pub set_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IntegrationStatus {
    /// Connected; no sync running.
    Connected,
    Syncing,
    /// The last sync failed in a way that may pass (see `last_error`); it is
    /// retried unless its retries are spent.
    Failed,
    /// The last sync failed in a way that waiting will not mend (credentials
    /// rejected or expired, a permission missing, a report without its
    /// keys): nothing is retried until the credentials are edited or a sync
    /// succeeds. `last_error` says what to do.
    NeedsAttention,
}

impl IntegrationStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Connected => "connected",
            Self::Syncing => "syncing",
            Self::Failed => "failed",
            Self::NeedsAttention => "needs_attention",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [
            Self::Connected,
            Self::Syncing,
            Self::Failed,
            Self::NeedsAttention,
        ]
        .into_iter()
        .find(|v| v.as_str() == s)
    }

    pub fn label(self) -> &'static str {
        match self {
            Self::Connected => "Connected",
            Self::Syncing => "Syncing",
            Self::Failed => "Sync failed",
            Self::NeedsAttention => "Needs attention",
        }
    }
}

/// A connected integration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Integration {
    pub id: i64,
    pub provider: Provider,
    pub status: IntegrationStatus,
    /// The fields that are not secret, as entered (Okta domain, tenant ID ...).
    pub settings: BTreeMap<String, String>,
    pub secrets: Vec<SecretState>,
    pub contact_count: i64,
    pub last_sync_at: Option<DateTime<Utc>>,
    /// What went wrong in the last sync, and what to do about it.
    pub last_error: Option<String>,
    /// Counts of the last sync that succeeded.
    pub last_result: Option<SyncResult>,
    /// A warning when the recorded credential expiry is near or just past
    /// (worked out by the server, whose clock is the one that counts).
    pub expiry_warning: Option<Expiry>,
    pub created_at: DateTime<Utc>,
    /// Deletions a sync held for review, waiting for an administrator.
    pub held_deletions: u64,
    /// A sync that would delete more than this percentage of the contacts is
    /// held (`None`: no such bound).
    pub hold_percent: Option<u32>,
    /// ... or more than this many contacts (`None`: no such bound).
    pub hold_count: Option<u64>,
    /// The time of day it syncs by itself ("02:07"), in `time_zone`.
    pub daily_at: String,
    /// The organisation's time zone (IANA name).
    pub time_zone: String,
    /// When it syncs next by itself, if known yet.
    pub next_sync_at: Option<DateTime<Utc>>,
    /// The next sync is the retry with this number after a failure that may
    /// pass; 0: it is the daily sync.
    pub next_retry: u32,
    /// How far the running sync has got, while one runs.
    pub progress: Option<crate::model::SyncProgress>,
}

/// What Test Connection saw: one page of users.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConnectionTest {
    /// Users on the first page (active ones, after exclusions).
    pub users: u64,
    /// Whether there are more pages.
    pub more: bool,
    /// A few of their names.
    pub sample: Vec<String>,
}

/// The counts of one sync.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyncResult {
    /// People read from the source (after exclusions).
    pub people: u64,
    pub created: u64,
    pub updated: u64,
    /// Existing contacts (added by hand or by upload) now linked to the source.
    pub linked: u64,
    pub unchanged: u64,
    /// Suspended, disabled or deprovisioned people left out.
    pub excluded: u64,
    /// People left out because the source gave neither a usable email nor phone,
    /// or no name, or the same id or email as another.
    pub skipped: u64,
    pub groups: u64,
    /// Contacts deleted (or given back to their earlier source) because their
    /// person left the source or was suspended there.
    #[serde(default)]
    pub deleted: u64,
    /// Deletions held for review instead.
    #[serde(default)]
    pub held: u64,
}

/// How close a recorded credential expiry is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Expiry {
    /// Expires in this many days (0 = today), within the warning window.
    Soon(i64),
    /// Expired this many days ago, within the warning window.
    Expired(i64),
}

impl Integration {
    /// A warning for a credential that expires within 30 days or expired in
    /// the last 30, from the date recorded with it.
    pub fn expiry(&self, today: chrono::NaiveDate) -> Option<Expiry> {
        let date = self.settings.get(EXPIRES_FIELD)?;
        let date = chrono::NaiveDate::parse_from_str(date, "%Y-%m-%d").ok()?;
        let days = (date - today).num_days();
        match days {
            0..=30 => Some(Expiry::Soon(days)),
            -30..=-1 => Some(Expiry::Expired(-days)),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_connect_form_debugs_without_its_values() {
        let form = ConnectForm {
            provider: "okta".into(),
            fields: BTreeMap::from([
                ("domain".to_string(), "acme.okta.com".to_string()),
                ("api_token".to_string(), "00aSecretTokenValue".to_string()),
            ]),
        };
        let printed = format!("{form:?} {form:#?}");
        assert!(printed.contains("api_token") && printed.contains("okta"));
        assert!(!printed.contains("00aSecretTokenValue"), "{printed}");
    }

    #[test]
    fn expiry_warns_30_days_before_and_after() {
        let mut i = Integration {
            id: 1,
            provider: Provider::Okta,
            status: IntegrationStatus::Connected,
            settings: BTreeMap::new(),
            secrets: vec![],
            contact_count: 0,
            last_sync_at: None,
            last_error: None,
            last_result: None,
            expiry_warning: None,
            created_at: chrono::DateTime::default(),
            held_deletions: 0,
            hold_percent: Some(10),
            hold_count: Some(500),
            daily_at: "02:07".into(),
            time_zone: "UTC".into(),
            next_sync_at: None,
            next_retry: 0,
            progress: None,
        };
        let today = chrono::NaiveDate::from_ymd_opt(2026, 11, 29).unwrap();
        assert_eq!(i.expiry(today), None);
        for (date, expect) in [
            ("2026-12-29", Some(Expiry::Soon(30))),
            ("2026-12-30", None),
            ("2026-11-29", Some(Expiry::Soon(0))),
            ("2026-11-28", Some(Expiry::Expired(1))),
            ("2026-10-30", Some(Expiry::Expired(30))),
            ("2026-10-29", None),
            ("not a date", None),
        ] {
            i.settings.insert(EXPIRES_FIELD.into(), date.into());
            assert_eq!(i.expiry(today), expect, "{date}");
        }
    }

    fn fields(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn every_destination_is_a_setting_of_its_provider() {
        for p in Provider::ALL {
            for key in p.secret_destinations() {
                let f = p.fields().iter().find(|f| f.key == *key);
                assert!(f.is_some_and(|f| !f.is_secret()), "{p:?} {key}");
            }
            assert!(p.fields().iter().any(CredentialField::is_secret), "{p:?}");
        }
    }

    #[test]
    fn a_changed_destination_is_named_and_other_changes_are_not() {
        let okta = fields(&[("domain", "acme.okta.com"), ("expires_on", "2027-01-01")]);
        let same = fields(&[("domain", " acme.okta.com "), ("expires_on", "")]);
        assert!(Provider::Okta.moved_destinations(&okta, &same).is_empty());
        let moved = fields(&[("domain", "evil.example")]);
        assert_eq!(Provider::Okta.moved_destinations(&okta, &moved), ["Domain"]);
        assert_eq!(
            Provider::Okta.moved_destinations(&okta, &BTreeMap::new()),
            ["Domain"]
        );

        // A cloud never stored is the form's first choice, Global.
        let entra = fields(&[("tenant_id", "t1"), ("client_id", "c1")]);
        let global = fields(&[
            ("tenant_id", "t1"),
            ("client_id", "c2"),
            ("cloud", "global"),
        ]);
        assert!(Provider::Entra
            .moved_destinations(&entra, &global)
            .is_empty());
        let china = fields(&[("tenant_id", "t2"), ("cloud", "china")]);
        assert_eq!(
            Provider::Entra.moved_destinations(&entra, &china),
            ["Tenant ID", "Cloud"]
        );
        assert_eq!(
            Provider::retype_secret(&["Tenant ID", "Cloud"], "Client Secret"),
            "The Tenant ID and Cloud changed: enter the Client Secret again. \
             A stored secret is only sent where it was first sent."
        );
        let admin = fields(&[("admin_email", "a@example.com")]);
        let other = fields(&[("admin_email", "b@example.com")]);
        assert!(Provider::Google
            .moved_destinations(&admin, &other)
            .is_empty());
    }
}
