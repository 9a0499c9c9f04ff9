//! Types shared by the browser and the server. None of them can carry a secret,
//! except `IssuedScimToken`: a token Muster just made, shown once to be copied.

mod error;
mod import;
mod incident;
mod integration;
mod recipients;
mod scenario;
mod scim;
mod sms;
mod sync;
mod wire;
pub use error::{AppError, FieldError};
pub use import::{
    field_label, ImportColumn, ImportJob, ImportPreview, ImportPreviewRow, ImportStatus,
    IMPORT_FIELDS,
};
pub use incident::{
    Audience, ChannelCounts, DeliveryStatus, FollowUp, Incident, IncidentProgress,
    IncidentRecipient, IncidentRecipientPage, IncidentStatus, IncidentSummary, LaunchPreview,
    LaunchRequest, MessageProgress, RecipientFilter, ResponseView,
};
pub use integration::{
    ConnectForm, ConnectionTest, CredentialField, Expiry, FieldKind, Integration,
    IntegrationStatus, Provider, SecretState, SyncResult, EXPIRES_FIELD,
};
pub use recipients::{
    PickedContact, Reach, ReachFilter, RecipientGroup, RecipientPage, RecipientRow, Recipients,
    Rule,
};
pub use scenario::{
    fill, message_errors, AuditEntry, Channels, Scenario, ScenarioDraft, ScenarioSummary, Severity,
    PLACEHOLDERS,
};
pub use scim::{
    IssuedScimToken, ScimOverview, ScimScope, ScimSource, ScimSourceForm, ScimToken, ScimTokenForm,
};
pub use sms::{
    is_sid, CheckedSms, SmsSettings, SmsSettingsForm, DEFAULT_SMS_PER_SECOND, MAX_SMS_PER_SECOND,
    TWILIO_API,
};
pub use sync::{
    ChangeAction, FieldChange, HeldContact, Hold, HoldResolution, PreviewItem, SyncPhase,
    SyncPreview, SyncProgress, SyncRun, SyncStatus, SyncTrigger, GONE, SUSPENDED,
};
pub use wire::{from_json, to_json, BrowserJson, BrowserJsonEncoding};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// The signed-in administrator, as the browser sees them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Me {
    pub email: String,
    pub org_name: String,
}

/// One row of the contacts table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContactRow {
    pub id: i64,
    pub name: String,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub source: String,
    /// Deactivated by its identity provider: listed only when asked for.
    pub deactivated: bool,
}

/// A contact with every field the details page shows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Contact {
    pub id: i64,
    pub first_name: String,
    pub last_name: String,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub department: Option<String>,
    pub role: Option<String>,
    pub location: Option<String>,
    /// The organisation's own groups the contact is in: editable.
    pub groups: Vec<String>,
    /// Groups of the integration the contact comes from: the sync keeps their
    /// members, so they are shown, not edited, here.
    #[serde(default)]
    pub synced_groups: Vec<String>,
    /// Kept by an integration (its Source): each sync writes the source's
    /// name, email, phone, department, role and location again.
    #[serde(default)]
    pub synced: bool,
    /// Pushed by an identity provider over SCIM (its Source): its name and
    /// email are the provider's, and each update from it writes the other
    /// fields again.
    #[serde(default)]
    pub provisioned: bool,
    /// Deactivated by its identity provider: kept, never a recipient.
    #[serde(default)]
    pub deactivated: bool,
    pub source: String,
    /// Incremented on every change; a save must name the version it edited.
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// What the Add Contact and edit forms send. Every field is raw user input;
/// the server validates and normalises it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContactDraft {
    pub first_name: String,
    pub last_name: String,
    #[serde(default)]
    pub email: String,
    #[serde(default)]
    pub phone: String,
    #[serde(default)]
    pub department: String,
    #[serde(default)]
    pub role: String,
    #[serde(default)]
    pub location: String,
    #[serde(default)]
    pub groups: Vec<String>,
}

impl From<&Contact> for ContactDraft {
    fn from(c: &Contact) -> Self {
        Self {
            first_name: c.first_name.clone(),
            last_name: c.last_name.clone(),
            email: c.email.clone().unwrap_or_default(),
            phone: c.phone.clone().unwrap_or_default(),
            department: c.department.clone().unwrap_or_default(),
            role: c.role.clone().unwrap_or_default(),
            location: c.location.clone().unwrap_or_default(),
            groups: c.groups.clone(),
        }
    }
}

/// Search, filters and position in the contacts list. This is also the URL query of
/// the Contacts page, so a link, a reload and the back button show the same list.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContactQuery {
    #[serde(default)]
    pub q: String,
    #[serde(default)]
    pub department: String,
    #[serde(default)]
    pub role: String,
    #[serde(default)]
    pub location: String,
    /// Which contacts by state: empty for the active ones (the default),
    /// `deactivated`, or `all` (see [`ContactStatus`]).
    #[serde(default)]
    pub status: String,
    /// Opaque keyset cursor: show the page after this one.
    #[serde(default)]
    pub after: String,
    /// Opaque keyset cursor: show the page before this one.
    #[serde(default)]
    pub before: String,
}

impl ContactQuery {
    pub const PAGE_SIZE: u64 = 50;
    /// The longest search, and the longest filter value, in characters.
    pub const MAX_TEXT: usize = 200;

    /// A search or filter longer than [`Self::MAX_TEXT`] is refused (a
    /// megabyte of text would otherwise become a search of a million terms).
    pub fn check(&self) -> Result<(), AppError> {
        let too_long = [
            ("q", "search", &self.q),
            ("department", "department", &self.department),
            ("role", "role", &self.role),
            ("location", "location", &self.location),
        ]
        .into_iter()
        .find(|(_, _, v)| v.chars().count() > Self::MAX_TEXT);
        if let Some((field, name, _)) = too_long {
            return Err(AppError::field(
                field,
                format!(
                    "The {name} is too long: use at most {} characters.",
                    Self::MAX_TEXT
                ),
            ));
        }
        self.status().map(|_| ())
    }

    /// The contacts listed by state, or an error for a status that is none of them.
    pub fn status(&self) -> Result<ContactStatus, AppError> {
        ContactStatus::ALL
            .into_iter()
            .find(|s| s.as_str() == self.status)
            .ok_or_else(|| {
                AppError::field(
                    "status",
                    "Choose a status of Active, Deactivated or All contacts.",
                )
            })
    }

    /// The query string for this query (without `?`), leaving out empty fields.
    pub fn to_query_string(&self) -> String {
        let pairs = [
            ("q", &self.q),
            ("department", &self.department),
            ("role", &self.role),
            ("location", &self.location),
            ("status", &self.status),
            ("after", &self.after),
            ("before", &self.before),
        ];
        pairs
            .iter()
            .filter(|(_, v)| !v.is_empty())
            .map(|(k, v)| format!("{k}={}", urlencoding::encode(v)))
            .collect::<Vec<_>>()
            .join("&")
    }

    /// The same search and filters, back on the first page.
    pub fn first_page(&self) -> Self {
        Self {
            after: String::new(),
            before: String::new(),
            ..self.clone()
        }
    }

    pub fn has_filters(&self) -> bool {
        !(self.q.is_empty()
            && self.department.is_empty()
            && self.role.is_empty()
            && self.location.is_empty()
            && self.status.is_empty())
    }
}

/// Which contacts the list shows by their state. A deactivated contact (its
/// identity provider set `active` false) stays in the directory but is left
/// out of the list unless asked for, and is never a recipient.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ContactStatus {
    Active,
    Deactivated,
    All,
}

impl ContactStatus {
    pub const ALL: [Self; 3] = [Self::Active, Self::Deactivated, Self::All];

    /// The value in [`ContactQuery::status`] and the URL.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "",
            Self::Deactivated => "deactivated",
            Self::All => "all",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Self::Active => "Active",
            Self::Deactivated => "Deactivated",
            Self::All => "All contacts",
        }
    }
}

/// One page of contacts, with the total that matches the query and the cursors of
/// the neighbouring pages.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContactPage {
    pub rows: Vec<ContactRow>,
    pub total: u64,
    pub next: Option<String>,
    pub prev: Option<String>,
    /// With a search: the organisation's contacts that no search finds yet,
    /// or finds only by their values before it: a large upload's, while they
    /// are indexed for search after its summary (SQLite). The list and the
    /// filters already show them.
    pub unsearched: u64,
}

/// The values present in the organisation, offered by the filters.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Facets {
    pub departments: Vec<String>,
    pub roles: Vec<String>,
    pub locations: Vec<String>,
    pub groups: Vec<String>,
    /// How many contacts are deactivated (the Status filter shows when any are).
    pub deactivated: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_string_skips_empty_fields_and_encodes() {
        let q = ContactQuery {
            q: "jo hn&".into(),
            department: "R&D".into(),
            ..Default::default()
        };
        assert_eq!(q.to_query_string(), "q=jo%20hn%26&department=R%26D");
        assert_eq!(ContactQuery::default().to_query_string(), "");
    }

    #[test]
    fn first_page_drops_cursors_only() {
        let q = ContactQuery {
            q: "a".into(),
            after: "x".into(),
            before: "y".into(),
            ..Default::default()
        };
        let f = q.first_page();
        assert_eq!(f.q, "a");
        assert!(f.after.is_empty() && f.before.is_empty());
    }

    #[test]
    fn status_is_one_of_three_and_active_by_default() {
        let mut q = ContactQuery::default();
        assert_eq!(q.status().unwrap(), ContactStatus::Active);
        assert!(!q.has_filters());
        q.status = "deactivated".into();
        assert_eq!(q.status().unwrap(), ContactStatus::Deactivated);
        assert!(q.has_filters());
        assert_eq!(q.to_query_string(), "status=deactivated");
        q.status = "Deactivated".into();
        assert!(matches!(q.check(), Err(AppError::Invalid(_))));
    }
}
