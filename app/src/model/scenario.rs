//! Scenarios: incidents prepared in advance (what to say, to whom, how, and
//! which answers to offer), launched in a few clicks when it happens.

use super::{AppError, FieldError, Recipients};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// How serious an incident is; shown on its page and in the lists.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Severity {
    Low,
    #[default]
    Medium,
    High,
    Critical,
}

impl Severity {
    pub const ALL: [Severity; 4] = [Self::Low, Self::Medium, Self::High, Self::Critical];

    /// Its key, as stored and in forms.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Low => "low",
            Self::Medium => "medium",
            Self::High => "high",
            Self::Critical => "critical",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Self::Low => "Low",
            Self::Medium => "Medium",
            Self::High => "High",
            Self::Critical => "Critical",
        }
    }

    pub fn parse(key: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == key)
    }
}

/// The channels a message goes out on.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Channels {
    pub email: bool,
    pub sms: bool,
}

impl Channels {
    /// "Email and SMS", "Email", "SMS", or "None".
    pub fn label(self) -> &'static str {
        match (self.email, self.sms) {
            (true, true) => "Email and SMS",
            (true, false) => "Email",
            (false, true) => "SMS",
            (false, false) => "None",
        }
    }
}

/// What the message of a scenario or incident may name of its recipient:
/// `{first_name}` in a body becomes each recipient's own first name.
pub const PLACEHOLDERS: [&str; 3] = ["first_name", "last_name", "full_name"];

/// `template` with each placeholder replaced by the recipient's value.
pub fn fill(template: &str, first_name: &str, last_name: &str) -> String {
    let full = format!("{first_name} {last_name}");
    let full = full.trim();
    template
        .replace("{first_name}", first_name)
        .replace("{last_name}", last_name)
        .replace("{full_name}", full)
}

/// The first `{name}` in `text` that is not a known placeholder, if any.
fn unknown_placeholder(text: &str) -> Option<&str> {
    let mut rest = text;
    while let Some(start) = rest.find('{') {
        let after = &rest[start + 1..];
        let end = after.find('}')?;
        let name = &after[..end];
        let plausible = !name.is_empty()
            && name.len() <= 40
            && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        if plausible && !PLACEHOLDERS.contains(&name) {
            return Some(name);
        }
        rest = &after[end + 1..];
    }
    None
}

/// The problems of a message's `subject` and `body` (sent by SMS too when
/// `sms`), by field: required, not too long, known placeholders only.
pub fn message_errors(subject: &str, body: &str, sms: bool) -> Vec<FieldError> {
    let mut errors = Vec::new();
    let mut problem = |field: &str, message: String| {
        if !errors.iter().any(|e: &FieldError| e.field == field) {
            errors.push(FieldError {
                field: field.into(),
                message,
            });
        }
    };
    let len = |s: &str| s.chars().count();
    for (field, label, value, max) in [
        ("subject", "A subject", subject, ScenarioDraft::MAX_SUBJECT),
        ("body", "A message", body, ScenarioDraft::MAX_BODY),
    ] {
        if value.trim().is_empty() {
            problem(field, format!("{label} is required."));
        } else if len(value) > max {
            problem(field, format!("At most {max} characters."));
        }
    }
    if sms && len(body) > ScenarioDraft::MAX_SMS_BODY {
        problem(
            "body",
            format!(
                "Sent by SMS, a message has at most {} characters (this one has {}).",
                ScenarioDraft::MAX_SMS_BODY,
                len(body)
            ),
        );
    }
    for (field, text) in [("subject", subject), ("body", body)] {
        if let Some(name) = unknown_placeholder(text) {
            problem(
                field,
                format!(
                    "{{{name}}} is not a placeholder: use {}.",
                    PLACEHOLDERS.map(|p| format!("{{{p}}}")).join(", ")
                ),
            );
        }
    }
    errors
}

/// A scenario as the editor sends it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ScenarioDraft {
    pub name: String,
    pub description: String,
    pub severity: Severity,
    /// The email's subject, and the incident's title.
    pub subject: String,
    pub body: String,
    pub channels: Channels,
    /// The answers a recipient can give, in order ("1" replies the first by
    /// SMS); none for a message that asks nothing.
    pub options: Vec<String>,
    pub recipients: Recipients,
}

impl ScenarioDraft {
    pub const MAX_NAME: usize = 120;
    pub const MAX_DESCRIPTION: usize = 1_000;
    pub const MAX_SUBJECT: usize = 200;
    /// An email's body.
    pub const MAX_BODY: usize = 10_000;
    /// An SMS body: Twilio's Messages API takes at most 1,600 characters,
    /// and the answer options are added to it.
    pub const MAX_SMS_BODY: usize = 1_200;
    /// Options are answered by SMS with one digit.
    pub const MAX_OPTIONS: usize = 9;
    pub const MAX_OPTION: usize = 40;

    /// A new scenario's starting point.
    pub fn new_blank() -> Self {
        Self {
            channels: Channels {
                email: true,
                sms: true,
            },
            options: vec!["Acknowledge".into()],
            ..Default::default()
        }
    }

    /// The draft with its texts trimmed, or every problem with it, by field.
    pub fn checked(&self) -> Result<ScenarioDraft, AppError> {
        let mut d = self.clone();
        d.name = d.name.trim().to_string();
        d.description = d.description.trim().to_string();
        d.subject = d.subject.trim().to_string();
        d.body = d.body.trim().to_string();
        d.options = d
            .options
            .iter()
            .map(|o| o.trim().to_string())
            .filter(|o| !o.is_empty())
            .collect();
        let mut errors = Vec::new();
        let mut problem = |field: &str, message: String| {
            if !errors.iter().any(|e: &FieldError| e.field == field) {
                errors.push(FieldError {
                    field: field.into(),
                    message,
                });
            }
        };
        let len = |s: &str| s.chars().count();
        if d.name.is_empty() {
            problem("name", "A name is required.".into());
        } else if len(&d.name) > Self::MAX_NAME {
            problem("name", format!("At most {} characters.", Self::MAX_NAME));
        }
        for e in message_errors(&d.subject, &d.body, d.channels.sms) {
            problem(&e.field, e.message);
        }
        if len(&d.description) > Self::MAX_DESCRIPTION {
            problem(
                "description",
                format!("At most {} characters.", Self::MAX_DESCRIPTION),
            );
        }
        if !d.channels.email && !d.channels.sms {
            problem("channels", "Choose email, SMS or both.".into());
        }
        if d.options.len() > Self::MAX_OPTIONS {
            problem(
                "options",
                format!(
                    "At most {} response options (they are answered with one digit).",
                    Self::MAX_OPTIONS
                ),
            );
        }
        if let Some(o) = d.options.iter().find(|o| len(o) > Self::MAX_OPTION) {
            problem(
                "options",
                format!("“{o}” is longer than {} characters.", Self::MAX_OPTION),
            );
        }
        for (i, o) in d.options.iter().enumerate() {
            if d.options[..i]
                .iter()
                .any(|p| p.to_lowercase() == o.to_lowercase())
            {
                problem("options", format!("“{o}” is offered twice."));
            }
        }
        if let Err(AppError::Invalid(e)) = d.recipients.check() {
            for e in e {
                problem("recipients", e.message);
            }
        }
        if errors.is_empty() {
            Ok(d)
        } else {
            Err(AppError::Invalid(errors))
        }
    }
}

/// A scenario as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Scenario {
    pub id: i64,
    pub draft: ScenarioDraft,
    /// Counts saves: a save made from an older version is refused.
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// Who saved it last (their email).
    pub updated_by: String,
}

/// One line of an audit trail.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEntry {
    pub at: DateTime<Utc>,
    /// The administrator's email.
    pub actor: String,
    /// "created", "edited", "copied", "deleted", "launched", ...
    pub action: String,
    pub summary: String,
}

/// A scenario in the list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScenarioSummary {
    pub id: i64,
    pub name: String,
    pub description: String,
    pub severity: Severity,
    pub channels: Channels,
    /// "2 groups, 1 rule, 3 people".
    pub recipients: String,
    pub updated_at: DateTime<Utc>,
    pub updated_by: String,
}

impl Recipients {
    /// "2 groups, 1 rule, 3 people", or "No recipients".
    pub fn summary(&self) -> String {
        let plural = |n: usize, one: &str, many: &str| match n {
            1 => format!("1 {one}"),
            n => format!("{n} {many}"),
        };
        let parts: Vec<String> = [
            (self.groups.len(), "group", "groups"),
            (self.rules.len(), "rule", "rules"),
            (self.contacts.len(), "person", "people"),
        ]
        .into_iter()
        .filter(|(n, ..)| *n > 0)
        .map(|(n, one, many)| plural(n, one, many))
        .collect();
        if parts.is_empty() {
            "No recipients".into()
        } else {
            parts.join(", ")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn valid() -> ScenarioDraft {
        ScenarioDraft {
            name: " Fire drill ".into(),
            subject: "Fire drill at {full_name}'s site".into(),
            body: "Hello {first_name}, please leave the building.".into(),
            options: vec!["I'm safe".into(), " ".into(), "I need help".into()],
            ..ScenarioDraft::new_blank()
        }
    }

    #[test]
    fn a_valid_draft_is_trimmed() {
        let d = valid().checked().unwrap();
        assert_eq!(d.name, "Fire drill");
        assert_eq!(d.options, ["I'm safe", "I need help"]);
    }

    #[test]
    fn every_problem_is_named_by_field() {
        let d = ScenarioDraft {
            body: "Hi {frist_name}".into(),
            channels: Channels::default(),
            options: vec!["Yes".into(), "yes".into()],
            ..Default::default()
        };
        let Err(AppError::Invalid(errors)) = d.checked() else {
            panic!("refused")
        };
        let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["name", "subject", "body", "channels", "options"]);
        assert!(errors[2].message.contains("{frist_name}"), "{errors:?}");
    }

    #[test]
    fn an_sms_body_is_bounded() {
        let mut d = valid();
        d.body = "x".repeat(ScenarioDraft::MAX_SMS_BODY + 1);
        assert!(d.checked().is_err());
        d.channels.sms = false;
        assert!(d.checked().is_ok());
    }

    #[test]
    fn placeholders_are_filled_and_json_braces_are_not_placeholders() {
        assert_eq!(
            fill("Hi {first_name} ({full_name})", "Ada", "Lovelace"),
            "Hi Ada (Ada Lovelace)"
        );
        assert_eq!(unknown_placeholder("{\"a\": 1} and { }"), None);
        assert_eq!(unknown_placeholder("{name}"), Some("name"));
    }

    #[test]
    fn recipients_are_summarised() {
        let r = Recipients {
            groups: vec![1, 2],
            rules: vec![Default::default()],
            contacts: vec![],
        };
        assert_eq!(r.summary(), "2 groups, 1 rule");
        assert_eq!(Recipients::default().summary(), "No recipients");
    }
}
