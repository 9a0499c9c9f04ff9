//! An organisation's SMS provider, as the Settings page shows and edits it.
//! The auth token goes one way: typed into the form, sealed on the server,
//! never shown again (only its last 4 characters).

use super::FieldError;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Twilio's API, the base URL unless another is typed (a regional edge, a
/// proxy, a test double).
pub const TWILIO_API: &str = "https://api.twilio.com";
/// Messages per second unless another rate is typed: what a Twilio
/// Messaging Service or toll-free number takes; a single long code takes 1.
pub const DEFAULT_SMS_PER_SECOND: u32 = 10;
/// The most messages per second that can be set (a short code's rate).
pub const MAX_SMS_PER_SECOND: u32 = 1000;

/// The SMS provider as shown: never the auth token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SmsSettings {
    pub account_sid: String,
    /// A phone number (E.164) or a Messaging Service SID (`MG…`).
    pub sender: String,
    pub base_url: String,
    /// The auth token's last 4 characters.
    pub token_hint: String,
    pub per_second: u32,
    /// Where Twilio must post the replies people text back (set on the
    /// number, or the Messaging Service, in Twilio's console).
    pub inbound_url: String,
    pub updated_at: DateTime<Utc>,
    pub updated_by: String,
}

/// The Settings form. An empty `auth_token` keeps the stored one, unless the
/// account SID or the base URL changed: those decide where the token is
/// sent, so it must then be typed again.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SmsSettingsForm {
    pub account_sid: String,
    pub auth_token: String,
    pub sender: String,
    pub base_url: String,
    pub per_second: String,
}

impl SmsSettingsForm {
    /// The form's values trimmed, with every problem by field (the base
    /// URL's address is checked on the server, which knows what it may reach).
    pub fn checked(&self) -> Result<CheckedSms, Vec<FieldError>> {
        let mut errors = Vec::new();
        let mut fail = |field: &str, message: &str| {
            errors.push(FieldError {
                field: field.into(),
                message: message.into(),
            })
        };
        let account_sid = self.account_sid.trim().to_string();
        if account_sid.is_empty() {
            fail(
                "account_sid",
                "Enter the Account SID from Twilio's console.",
            );
        } else if !is_sid(&account_sid, "AC") {
            fail(
                "account_sid",
                "An Account SID is AC followed by 32 letters and digits (0-9, a-f).",
            );
        }
        let auth_token = self.auth_token.trim().to_string();
        if !auth_token.is_empty()
            && (auth_token.len() < 16 || auth_token.chars().any(char::is_whitespace))
        {
            fail(
                "auth_token",
                "This does not look like an auth token: Twilio's are 32 characters.",
            );
        }
        let sender = self.sender.trim().replace([' ', '-', '(', ')'], "");
        if sender.is_empty() {
            fail(
                "sender",
                "Enter the number messages come from (+14155550100) or a Messaging Service SID (MG…).",
            );
        } else if !(is_sid(&sender, "MG") || is_e164(&sender)) {
            fail(
                "sender",
                "Enter a number with its country code (+14155550100), or a Messaging Service SID (MG followed by 32 characters).",
            );
        }
        let base_url = match self.base_url.trim() {
            "" => TWILIO_API.to_string(),
            url => url.trim_end_matches('/').to_string(),
        };
        let per_second = match self.per_second.trim() {
            "" => Some(DEFAULT_SMS_PER_SECOND),
            n => n
                .parse::<u32>()
                .ok()
                .filter(|n| (1..=MAX_SMS_PER_SECOND).contains(n)),
        };
        if per_second.is_none() {
            fail(
                "per_second",
                &format!(
                    "Enter a whole number of messages per second, from 1 to {MAX_SMS_PER_SECOND}."
                ),
            );
        }
        if !errors.is_empty() {
            return Err(errors);
        }
        Ok(CheckedSms {
            account_sid,
            auth_token,
            sender,
            base_url,
            per_second: per_second.unwrap_or(DEFAULT_SMS_PER_SECOND),
        })
    }
}

/// A form whose values are well formed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckedSms {
    pub account_sid: String,
    /// Empty: keep the stored one.
    pub auth_token: String,
    pub sender: String,
    pub base_url: String,
    pub per_second: u32,
}

/// `prefix` and 32 hexadecimal digits: how Twilio names accounts (AC),
/// Messaging Services (MG) and messages (SM).
pub fn is_sid(s: &str, prefix: &str) -> bool {
    s.len() == 34 && s.starts_with(prefix) && s[2..].bytes().all(|b| b.is_ascii_hexdigit())
}

/// `+` and 8 to 15 digits.
fn is_e164(s: &str) -> bool {
    s.strip_prefix('+')
        .is_some_and(|d| (8..=15).contains(&d.len()) && d.bytes().all(|b| b.is_ascii_digit()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn form() -> SmsSettingsForm {
        SmsSettingsForm {
            account_sid: format!("AC{}", "a1".repeat(16)),
            auth_token: "f".repeat(32),
            sender: "+1 415-555-0100".into(),
            base_url: String::new(),
            per_second: String::new(),
        }
    }

    #[test]
    fn a_good_form_is_trimmed_and_defaulted() {
        let c = form().checked().unwrap();
        assert_eq!(c.sender, "+14155550100");
        assert_eq!(c.base_url, TWILIO_API);
        assert_eq!(c.per_second, DEFAULT_SMS_PER_SECOND);
        let service = SmsSettingsForm {
            sender: format!("MG{}", "0".repeat(32)),
            ..form()
        };
        assert!(service.checked().is_ok());
    }

    #[test]
    fn every_problem_is_named_by_its_field() {
        let bad = SmsSettingsForm {
            account_sid: "AC123".into(),
            auth_token: "short".into(),
            sender: "07911 123456".into(),
            base_url: String::new(),
            per_second: "0".into(),
        };
        let fields: Vec<String> = bad
            .checked()
            .unwrap_err()
            .into_iter()
            .map(|e| e.field)
            .collect();
        assert_eq!(
            fields,
            ["account_sid", "auth_token", "sender", "per_second"]
        );
    }
}
