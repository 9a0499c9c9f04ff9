//! SCIM provisioning as the Integrations tab shows it: the identity providers
//! that push users and groups into Muster, and their tokens.

use super::Expiry;
use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

/// Which contacts an identity provider manages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ScimScope {
    /// Only contacts it created (the default).
    Own,
    /// All the organisation's contacts: a user it pushes takes over the
    /// contact whose email equals its `userName`.
    All,
}

impl ScimScope {
    pub const ALL: [ScimScope; 2] = [ScimScope::Own, ScimScope::All];

    pub fn key(self) -> &'static str {
        match self {
            ScimScope::Own => "own",
            ScimScope::All => "all",
        }
    }

    pub fn parse(key: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.key() == key)
    }

    pub fn label(self) -> &'static str {
        match self {
            ScimScope::Own => "Only contacts it created",
            ScimScope::All => "All contacts (links users to contacts with the same email)",
        }
    }
}

/// An identity provider pushing into Muster: a named source of contacts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScimSource {
    pub id: i64,
    /// The Source its contacts show, for example "Entra ID (SCIM)".
    pub name: String,
    pub scope: ScimScope,
    /// A DELETE keeps the contact, deactivated, instead of deleting it.
    pub keep_deleted: bool,
    pub created_at: DateTime<Utc>,
    pub tokens: Vec<ScimToken>,
    /// Its contacts, and of those the ones it created (removing it deletes
    /// them; the others go back to their earlier source).
    pub contacts: u64,
    pub created: u64,
    pub groups: u64,
}

/// A bearer token, as listed: never its value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScimToken {
    pub id: i64,
    pub name: String,
    /// The token's last characters.
    pub hint: String,
    pub created_at: DateTime<Utc>,
    pub last_used_at: Option<DateTime<Utc>>,
    /// The last day it is accepted.
    pub expires_on: Option<NaiveDate>,
    pub revoked_at: Option<DateTime<Utc>>,
}

impl ScimToken {
    /// Accepted today.
    pub fn is_live(&self, today: NaiveDate) -> bool {
        self.revoked_at.is_none() && self.expires_on.is_none_or(|d| d >= today)
    }

    /// A warning from 30 days before the expiry until 30 days after, like a
    /// credential's; none for a revoked token.
    pub fn expiry(&self, today: NaiveDate) -> Option<Expiry> {
        if self.revoked_at.is_some() {
            return None;
        }
        let days = (self.expires_on? - today).num_days();
        match days {
            0..=30 => Some(Expiry::Soon(days)),
            -30..=-1 => Some(Expiry::Expired(-days)),
            _ => None,
        }
    }
}

/// What the Provisioning panel shows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScimOverview {
    /// Where identity providers send their requests, for example
    /// `https://muster.example.com/scim/v2`.
    pub base_url: String,
    pub sources: Vec<ScimSource>,
    /// The server's date (UTC), which token states and warnings are
    /// worked out from (the browser has no clock of its own here).
    pub today: NaiveDate,
}

/// A source's settings, as typed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScimSourceForm {
    pub name: String,
    pub scope: ScimScope,
    pub keep_deleted: bool,
}

/// A new token's settings, as typed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScimTokenForm {
    pub name: String,
    /// `YYYY-MM-DD`, or empty for a token that does not expire.
    pub expires_on: String,
}

/// A token just made, with its value: the one answer that carries it, for
/// the administrator to copy into the identity provider. Muster keeps only
/// its hash and cannot show it again.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IssuedScimToken {
    pub source_id: i64,
    pub token: ScimToken,
    pub secret: String,
}

/// Leaves the secret out.
impl std::fmt::Debug for IssuedScimToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IssuedScimToken")
            .field("source_id", &self.source_id)
            .field("token", &self.token)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn token(expires_on: Option<&str>, revoked: bool) -> ScimToken {
        ScimToken {
            id: 1,
            name: "Entra".into(),
            hint: "abcd".into(),
            created_at: Utc::now(),
            last_used_at: None,
            expires_on: expires_on.map(|d| d.parse().unwrap()),
            revoked_at: revoked.then(Utc::now),
        }
    }

    #[test]
    fn a_token_lives_through_its_last_day_until_revoked() {
        let today: NaiveDate = "2026-12-02".parse().unwrap();
        assert!(token(None, false).is_live(today));
        assert!(token(Some("2026-12-02"), false).is_live(today));
        assert!(!token(Some("2026-12-01"), false).is_live(today));
        assert!(!token(None, true).is_live(today));
    }

    #[test]
    fn expiry_warns_30_days_before_and_after_unless_revoked() {
        let today: NaiveDate = "2026-12-02".parse().unwrap();
        assert_eq!(
            token(Some("2027-01-01"), false).expiry(today),
            Some(Expiry::Soon(30))
        );
        assert_eq!(token(Some("2027-01-02"), false).expiry(today), None);
        assert_eq!(
            token(Some("2026-11-02"), false).expiry(today),
            Some(Expiry::Expired(30))
        );
        assert_eq!(token(Some("2026-11-01"), false).expiry(today), None);
        assert_eq!(token(Some("2026-12-10"), true).expiry(today), None);
    }

    #[test]
    fn an_issued_token_debugs_without_its_value() {
        let issued = IssuedScimToken {
            source_id: 1,
            token: token(None, false),
            secret: "mst_scim_TopSecretValue".into(),
        };
        assert!(!format!("{issued:?}").contains("TopSecretValue"));
    }
}
