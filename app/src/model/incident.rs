//! Incidents: a message sent now to a frozen list of recipients, on email
//! and SMS, with their deliveries and answers.

use super::{message_errors, AppError, Channels, Reach, ScenarioDraft, Severity};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Whether an incident still collects answers.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum IncidentStatus {
    #[default]
    Active,
    Resolved,
}

impl IncidentStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Resolved => "resolved",
        }
    }

    pub fn parse(s: &str) -> Self {
        match s {
            "resolved" => Self::Resolved,
            _ => Self::Active,
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Self::Active => "Active",
            Self::Resolved => "Resolved",
        }
    }
}

/// What launching would do, shown before it is confirmed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LaunchPreview {
    pub reach: Reach,
    /// Recipients each channel would be sent to (chosen and reachable on it).
    pub emails: u64,
    pub texts: u64,
    /// The channel is chosen but this server cannot send on it: why.
    pub email_unavailable: Option<String>,
    pub sms_unavailable: Option<String>,
}

/// The state of one message to one recipient on one channel.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum DeliveryStatus {
    /// Waiting for its turn (or for its next try).
    #[default]
    Queued,
    /// Handed to the mail server or the SMS provider.
    Sent,
    /// The provider reports it delivered.
    Delivered,
    Failed,
}

impl DeliveryStatus {
    pub const ALL: [DeliveryStatus; 4] = [Self::Queued, Self::Sent, Self::Delivered, Self::Failed];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Queued => "queued",
            Self::Sent => "sent",
            Self::Delivered => "delivered",
            Self::Failed => "failed",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|d| d.as_str() == s)
    }

    pub fn label(self) -> &'static str {
        match self {
            Self::Queued => "Queued",
            Self::Sent => "Sent",
            Self::Delivered => "Delivered",
            Self::Failed => "Failed",
        }
    }
}

/// Deliveries of one channel, by status.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChannelCounts {
    pub queued: u64,
    pub sent: u64,
    pub delivered: u64,
    pub failed: u64,
}

impl ChannelCounts {
    pub fn total(&self) -> u64 {
        self.queued + self.sent + self.delivered + self.failed
    }
}

/// An incident as its page shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Incident {
    pub id: i64,
    pub name: String,
    pub severity: Severity,
    pub subject: String,
    pub body: String,
    pub channels: Channels,
    pub options: Vec<String>,
    pub status: IncidentStatus,
    pub scenario_id: Option<i64>,
    pub launched_at: DateTime<Utc>,
    pub launched_by: String,
    pub resolved_at: Option<DateTime<Utc>>,
    pub resolved_by: Option<String>,
    pub recipients: u64,
}

/// One message of an incident (the launch's or a follow-up) and its
/// deliveries.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MessageProgress {
    pub id: i64,
    /// "launch" or "follow-up".
    pub kind: String,
    pub subject: String,
    pub sent_at: DateTime<Utc>,
    pub sent_by: String,
    pub email: ChannelCounts,
    pub sms: ChannelCounts,
}

/// What has happened so far: deliveries per channel, answers per option.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct IncidentProgress {
    pub status: IncidentStatus,
    /// Every message's deliveries added up.
    pub email: ChannelCounts,
    pub sms: ChannelCounts,
    /// Each message's, in the order sent.
    pub messages: Vec<MessageProgress>,
    /// Answers per option, in the options' order.
    pub tally: Vec<u64>,
    /// Recipients who have not answered.
    pub unanswered: u64,
}

/// An incident in the list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IncidentSummary {
    pub id: i64,
    pub name: String,
    pub severity: Severity,
    pub status: IncidentStatus,
    pub launched_at: DateTime<Utc>,
    pub launched_by: String,
    pub recipients: u64,
    pub answered: u64,
}

/// Which of an incident's recipients to list.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct RecipientFilter {
    /// A delivery status on either channel.
    pub status: Option<DeliveryStatus>,
    /// `Some(None)`: those who have not answered; `Some(Some(i))`: those
    /// who answered option `i`.
    pub response: Option<Option<usize>>,
    pub offset: usize,
}

/// One recipient of an incident, with their deliveries and answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IncidentRecipient {
    pub id: i64,
    pub name: String,
    pub email: Option<String>,
    pub phone: Option<String>,
    /// Why they were targeted: "Group On call", "Rule: ...", "Picked by name".
    pub why: String,
    pub email_status: Option<DeliveryStatus>,
    pub sms_status: Option<DeliveryStatus>,
    /// Why the last try failed, if it did.
    pub error: Option<String>,
    pub response: Option<String>,
    pub responded_at: Option<DateTime<Utc>>,
}

/// A page of an incident's recipients.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct IncidentRecipientPage {
    pub rows: Vec<IncidentRecipient>,
    pub total: u64,
}

impl IncidentRecipientPage {
    pub const PAGE_SIZE: usize = 50;
}

/// What a recipient sees when they open their response link.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResponseView {
    pub org_name: String,
    pub subject: String,
    /// The message as sent to them.
    pub body: String,
    pub severity: Severity,
    pub options: Vec<String>,
    /// Their answer so far.
    pub answer: Option<usize>,
    /// Answers are closed: the incident is resolved.
    pub closed: bool,
}

/// An incident to launch: the message and recipients (a scenario's, maybe
/// changed first), and the scenario it comes from.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct LaunchRequest {
    pub scenario_id: Option<i64>,
    pub draft: ScenarioDraft,
}

/// Who a follow-up goes to.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum Audience {
    /// Every recipient of the incident.
    #[default]
    Everyone,
    /// Those who have not answered.
    Unanswered,
    /// Those whose answer is this option.
    Answered(usize),
}

impl Audience {
    /// "everyone", "those who have not answered", "those who answered “I'm safe”".
    pub fn describe(self, options: &[String]) -> String {
        match self {
            Self::Everyone => "everyone".into(),
            Self::Unanswered => "those who have not answered".into(),
            Self::Answered(i) => format!(
                "those who answered “{}”",
                options.get(i).map_or("?", String::as_str)
            ),
        }
    }
}

/// A further message to some of an incident's recipients, on its channels.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct FollowUp {
    pub audience: Audience,
    pub subject: String,
    pub body: String,
}

impl FollowUp {
    /// Trimmed, or every problem by field (`sms`: it goes by SMS too).
    pub fn checked(&self, sms: bool) -> Result<FollowUp, AppError> {
        let f = FollowUp {
            audience: self.audience,
            subject: self.subject.trim().to_string(),
            body: self.body.trim().to_string(),
        };
        match message_errors(&f.subject, &f.body, sms) {
            errors if errors.is_empty() => Ok(f),
            errors => Err(AppError::Invalid(errors)),
        }
    }
}
