//! Who a scenario or an incident reaches: the Recipients selector's value,
//! and what it comes to.

use super::AppError;
use serde::{Deserialize, Serialize};

/// Any mix of groups (the organisation's own, an integration's, an identity
/// provider's), rules and individual contacts. The same person reached
/// several ways is one recipient; a deactivated contact is never one.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Recipients {
    pub groups: Vec<i64>,
    pub rules: Vec<Rule>,
    pub contacts: Vec<i64>,
}

/// The contacts whose every field given here equals its value, as the
/// directory's filters show it (an empty field is no condition). Evaluated
/// when an incident is sent, so that it follows the directory.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Rule {
    pub department: String,
    pub role: String,
    pub location: String,
    /// A contact's Source: Manual, CSV upload, an integration's or an
    /// identity provider's name.
    pub source: String,
}

impl Rule {
    /// The rule's conditions, as (field, value), in the selector's order.
    pub fn conditions(&self) -> impl Iterator<Item = (&'static str, &str)> {
        [
            ("department", self.department.as_str()),
            ("role", self.role.as_str()),
            ("location", self.location.as_str()),
            ("source", self.source.as_str()),
        ]
        .into_iter()
        .filter(|(_, v)| !v.trim().is_empty())
    }

    /// "Department is Engineering and Location is London".
    pub fn describe(&self) -> String {
        self.conditions()
            .map(|(field, value)| {
                let mut name = field.to_string();
                name[..1].make_ascii_uppercase();
                format!("{name} is {}", value.trim())
            })
            .collect::<Vec<_>>()
            .join(" and ")
    }
}

impl Recipients {
    /// At most this many groups, rules and contacts in one selection.
    pub const MAX_GROUPS: usize = 500;
    pub const MAX_RULES: usize = 50;
    pub const MAX_CONTACTS: usize = 5_000;
    /// The longest value a rule compares with.
    pub const MAX_VALUE: usize = 200;

    pub fn is_empty(&self) -> bool {
        self.groups.is_empty() && self.rules.is_empty() && self.contacts.is_empty()
    }

    /// A selection too large, or with a rule that selects everyone or
    /// compares with an overlong value, is refused with what to change.
    pub fn check(&self) -> Result<(), AppError> {
        let too_many = [
            ("groups", self.groups.len(), Self::MAX_GROUPS),
            ("rules", self.rules.len(), Self::MAX_RULES),
            ("contacts", self.contacts.len(), Self::MAX_CONTACTS),
        ];
        for (field, n, max) in too_many {
            if n > max {
                return Err(AppError::field(
                    field,
                    format!("At most {max} {field} can be chosen; this selection has {n}."),
                ));
            }
        }
        for (i, rule) in self.rules.iter().enumerate() {
            if rule.conditions().next().is_none() {
                return Err(AppError::field(
                    "rules",
                    format!(
                        "Rule {} has no condition: give a department, role, location or source.",
                        i + 1
                    ),
                ));
            }
            if let Some((field, _)) = rule
                .conditions()
                .find(|(_, v)| v.chars().count() > Self::MAX_VALUE)
            {
                return Err(AppError::field(
                    "rules",
                    format!(
                        "Rule {}: the {field} is longer than {} characters.",
                        i + 1,
                        Self::MAX_VALUE
                    ),
                ));
            }
        }
        Ok(())
    }
}

/// A group the selector offers, with the source it comes from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecipientGroup {
    pub id: i64,
    pub name: String,
    /// Empty for the organisation's own groups; else the integration's or
    /// identity provider's name ("Groups from Okta").
    pub source: String,
    /// Its active members.
    pub members: u64,
}

/// What a selection comes to now: the people it reaches (each once) and,
/// per channel, how many of them cannot be reached on it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reach {
    pub people: u64,
    pub without_email: u64,
    pub without_phone: u64,
    /// Groups of the selection that no longer exist (removed at their source,
    /// say): they reach nobody.
    pub missing_groups: Vec<i64>,
}

/// A contact picked by name, as the selector shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PickedContact {
    pub id: i64,
    pub name: String,
    pub email: Option<String>,
    /// A deactivated contact stays picked but is not reached.
    pub active: bool,
}

/// Which of a selection's people to list.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum ReachFilter {
    #[default]
    All,
    /// Those who cannot be emailed.
    WithoutEmail,
    /// Those who cannot be texted.
    WithoutPhone,
}

/// One person a selection reaches, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecipientRow {
    pub contact_id: i64,
    pub name: String,
    pub email: Option<String>,
    pub phone: Option<String>,
    /// The first part of the selection that reaches them: "Group On call",
    /// "Rule: Department is Engineering", "Picked by name".
    pub why: String,
}

/// A page of the people a selection reaches, in the order reached.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecipientPage {
    pub rows: Vec<RecipientRow>,
    /// How many people the filter lists in all.
    pub total: u64,
}

impl RecipientPage {
    pub const PAGE_SIZE: usize = 50;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rule_is_described_by_its_conditions() {
        let rule = Rule {
            department: "Engineering".into(),
            location: " London ".into(),
            ..Default::default()
        };
        assert_eq!(
            rule.describe(),
            "Department is Engineering and Location is London"
        );
    }

    #[test]
    fn selections_are_bounded_and_rules_need_a_condition() {
        assert!(Recipients::default().check().is_ok());
        let everyone = Recipients {
            rules: vec![Rule {
                role: "  ".into(),
                ..Default::default()
            }],
            ..Default::default()
        };
        assert!(everyone.check().is_err());
        let many = Recipients {
            contacts: vec![1; Recipients::MAX_CONTACTS + 1],
            ..Default::default()
        };
        assert!(many.check().is_err());
        let long = Recipients {
            rules: vec![Rule {
                source: "x".repeat(Recipients::MAX_VALUE + 1),
                ..Default::default()
            }],
            ..Default::default()
        };
        assert!(long.check().is_err());
    }
}
