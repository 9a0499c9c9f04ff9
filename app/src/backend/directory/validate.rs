//! Validation and normalisation of contact input.

use crate::model::{AppError, ContactDraft, FieldError};
use email_address::{EmailAddress, Options};
use phonenumber::{country, Mode};

const NAME_MAX: usize = 100;
const TEXT_MAX: usize = 100;
const GROUPS_MAX: usize = 50;

/// A syntactically valid email address, trimmed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Email(String);

impl Email {
    pub fn as_str(&self) -> &str {
        &self.0
    }
    pub fn lower(&self) -> String {
        self.0.to_lowercase()
    }
}

/// A valid phone number in E.164 form (`+441632960983`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PhoneE164(String);

impl PhoneE164 {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

pub fn parse_email(raw: &str) -> Result<Email, String> {
    let raw = raw.trim();
    if raw.len() > 254 {
        return Err("Email addresses are at most 254 characters.".into());
    }
    let options = Options::default()
        .with_required_tld()
        .without_display_text();
    match EmailAddress::parse_with_options(raw, options) {
        Ok(_) => Ok(Email(raw.to_string())),
        Err(_) => Err("Enter a valid email address, like name@example.com.".into()),
    }
}

/// Parse a phone number, reading numbers without a country code as numbers of `region`.
pub fn parse_phone(raw: &str, region: &str) -> Result<PhoneE164, String> {
    let region: Option<country::Id> = region.parse().ok();
    let number = phonenumber::parse(region, raw.trim()).map_err(|_| {
        "Enter a phone number with its country code, like +44 7911 123456.".to_string()
    })?;
    if !phonenumber::is_valid(&number) {
        return Err(
            "This is not a valid phone number. Check the digits and the country code.".into(),
        );
    }
    Ok(PhoneE164(number.format().mode(Mode::E164).to_string()))
}

/// A contact that passed validation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidContact {
    pub first_name: String,
    pub last_name: String,
    pub email: Option<Email>,
    pub phone: Option<PhoneE164>,
    pub department: Option<String>,
    pub role: Option<String>,
    pub location: Option<String>,
    pub groups: Vec<String>,
}

impl ValidContact {
    pub fn sort_name(&self) -> String {
        format!("{} {}", self.first_name, self.last_name).to_lowercase()
    }

    /// The text the search index holds (see `directory::text`).
    pub fn search_text(&self) -> String {
        super::text::document(
            &self.first_name,
            &self.last_name,
            self.email.as_ref().map(|e| e.lower()).as_deref(),
            self.department.as_deref(),
            self.role.as_deref(),
            self.location.as_deref(),
        )
    }
}

/// Collapse runs of whitespace and trim; empty becomes `None`.
pub fn clean(raw: &str) -> Option<String> {
    let s = raw.split_whitespace().collect::<Vec<_>>().join(" ");
    (!s.is_empty()).then_some(s)
}

/// Check every field of a draft and report every problem at once.
pub fn validate(draft: &ContactDraft, region: &str) -> Result<ValidContact, AppError> {
    let mut errors = Vec::new();
    let mut err = |field: &str, message: String| {
        errors.push(FieldError {
            field: field.into(),
            message,
        })
    };
    let first_name = clean(&draft.first_name);
    let last_name = clean(&draft.last_name);
    if first_name.is_none() {
        err("first_name", "Enter a first name.".into());
    }
    if last_name.is_none() {
        err("last_name", "Enter a last name.".into());
    }
    for (field, value) in [("first_name", &first_name), ("last_name", &last_name)] {
        if value.as_ref().is_some_and(|v| v.chars().count() > NAME_MAX) {
            err(field, format!("Names are at most {NAME_MAX} characters."));
        }
    }
    let email = match clean(&draft.email) {
        None => None,
        Some(raw) => match parse_email(&raw) {
            Ok(e) => Some(e),
            Err(m) => {
                err("email", m);
                None
            }
        },
    };
    let phone_raw = clean(&draft.phone);
    let phone = match &phone_raw {
        None => None,
        Some(raw) => match parse_phone(raw, region) {
            Ok(p) => Some(p),
            Err(m) => {
                err("phone", m);
                None
            }
        },
    };
    if clean(&draft.email).is_none() && phone_raw.is_none() {
        err(
            "email",
            "Enter an email address or a mobile phone number.".into(),
        );
    }
    let mut text = |field: &str, raw: &str| {
        let v = clean(raw);
        if v.as_ref().is_some_and(|v| v.chars().count() > TEXT_MAX) {
            err(field, format!("At most {TEXT_MAX} characters."));
        }
        v
    };
    let department = text("department", &draft.department);
    let role = text("role", &draft.role);
    let location = text("location", &draft.location);
    let mut groups: Vec<String> = Vec::new();
    for g in draft.groups.iter().filter_map(|g| clean(g)) {
        if g.chars().count() > TEXT_MAX {
            err(
                "groups",
                format!("Group names are at most {TEXT_MAX} characters."),
            );
        } else if !groups.iter().any(|x| x.to_lowercase() == g.to_lowercase()) {
            groups.push(g);
        }
    }
    if groups.len() > GROUPS_MAX {
        err(
            "groups",
            format!("A contact can be in at most {GROUPS_MAX} groups."),
        );
    }
    if !errors.is_empty() {
        return Err(AppError::Invalid(errors));
    }
    Ok(ValidContact {
        first_name: first_name.unwrap_or_default(),
        last_name: last_name.unwrap_or_default(),
        email,
        phone,
        department,
        role,
        location,
        groups,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn draft() -> ContactDraft {
        ContactDraft {
            first_name: " Ada ".into(),
            last_name: "Lovelace".into(),
            email: "Ada@Example.com".into(),
            ..Default::default()
        }
    }

    #[test]
    fn normalises_phone_to_e164_with_the_default_region() {
        assert_eq!(
            parse_phone("07911 123456", "GB").unwrap().as_str(),
            "+447911123456"
        );
        assert_eq!(
            parse_phone("(415) 555-2671", "US").unwrap().as_str(),
            "+14155552671"
        );
        assert_eq!(
            parse_phone("+44 7911 123456", "US").unwrap().as_str(),
            "+447911123456"
        );
        assert!(parse_phone("12345", "GB").is_err());
        assert!(parse_phone("not a phone", "GB").is_err());
    }

    #[test]
    fn emails_need_a_domain_with_a_dot() {
        assert!(parse_email("a@example.com").is_ok());
        assert!(parse_email("a@localhost").is_err());
        assert!(parse_email("not-an-email").is_err());
        assert!(parse_email("Ada <a@example.com>").is_err());
    }

    #[test]
    fn a_valid_draft_is_cleaned() {
        let v = validate(&draft(), "GB").unwrap();
        assert_eq!(v.first_name, "Ada");
        assert_eq!(v.sort_name(), "ada lovelace");
        assert!(v
            .search_text()
            .starts_with("\u{1f}\u{1f}ada\u{1f}\u{1f}lovelace\u{1f}\u{1f}ada@example.com"));
    }

    #[test]
    fn names_and_a_way_to_reach_are_required() {
        let err = validate(&ContactDraft::default(), "GB").unwrap_err();
        assert!(err.field_message("first_name").is_some());
        assert!(err.field_message("last_name").is_some());
        assert!(err
            .field_message("email")
            .unwrap()
            .contains("or a mobile phone"));
    }

    #[test]
    fn every_bad_field_is_reported() {
        let mut d = draft();
        d.email = "bad".into();
        d.phone = "123".into();
        let err = validate(&d, "GB").unwrap_err();
        assert!(err.field_message("email").is_some());
        assert!(err.field_message("phone").is_some());
    }

    #[test]
    fn groups_are_deduplicated_case_insensitively() {
        let mut d = draft();
        d.groups = vec!["Ops".into(), " ops ".into(), "".into(), "On call".into()];
        assert_eq!(validate(&d, "GB").unwrap().groups, vec!["Ops", "On call"]);
    }
}
