//! A contact that passed validation, and the validation of what a form, a CSV
//! row or a source system sends.

use super::{clean, Email, Label, LabelError, Name, NameError, PhoneE164, TEXT_MAX};
use crate::model::{ContactDraft, FieldError};

/// The most groups a contact may be in.
const GROUPS_MAX: usize = 50;

/// A contact that passed validation: every field normalised.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidContact {
    pub first_name: Name,
    pub last_name: Name,
    pub email: Option<Email>,
    pub phone: Option<PhoneE164>,
    pub department: Option<Label>,
    pub role: Option<Label>,
    pub location: Option<Label>,
    /// Distinct ignoring case, in the order given.
    pub groups: Vec<Label>,
}

impl ValidContact {
    /// The key contacts are listed by: "first last", lower-cased.
    pub fn sort_name(&self) -> String {
        format!("{} {}", self.first_name, self.last_name).to_lowercase()
    }
}

/// Check every field of a draft against `region` (the organisation's default
/// for phone numbers) and report every problem at once, by field.
pub fn validate(draft: &ContactDraft, region: &str) -> Result<ValidContact, Vec<FieldError>> {
    validate_with(draft, region, None)
}

/// [`validate`], for a draft whose phone may be `known`, a number validated
/// already (an upload's row merged into the contact it updates): that one is
/// taken as it is rather than parsed again, since parsing phone numbers is
/// most of what validating costs.
pub fn validate_with(
    draft: &ContactDraft,
    region: &str,
    known: Option<&PhoneE164>,
) -> Result<ValidContact, Vec<FieldError>> {
    let mut errors = Vec::new();
    let mut err = |field: &str, message: String| {
        errors.push(FieldError {
            field: field.into(),
            message,
        })
    };
    let mut name = |field: &str, raw: &str, empty: &str| match Name::parse(raw) {
        Ok(n) => Some(n),
        Err(NameError::Empty) => {
            err(field, empty.into());
            None
        }
        Err(e) => {
            err(field, e.to_string());
            None
        }
    };
    let first_name = name("first_name", &draft.first_name, "Enter a first name.");
    let last_name = name("last_name", &draft.last_name, "Enter a last name.");
    let email_raw = clean(&draft.email);
    let phone_raw = clean(&draft.phone);
    let email = email_raw.as_deref().and_then(|raw| {
        Email::parse(raw)
            .map_err(|e| err("email", e.to_string()))
            .ok()
    });
    let phone = phone_raw
        .as_deref()
        .and_then(|raw| match known.filter(|k| k.as_str() == raw) {
            Some(k) => Some(k.clone()),
            None => PhoneE164::parse(raw, region)
                .map_err(|e| err("phone", e.to_string()))
                .ok(),
        });
    if email_raw.is_none() && phone_raw.is_none() {
        err(
            "email",
            "Enter an email address or a mobile phone number.".into(),
        );
    }
    let mut label = |field: &str, raw: &str| {
        Label::parse(raw)
            .map_err(|e| err(field, e.to_string()))
            .ok()
            .flatten()
    };
    let department = label("department", &draft.department);
    let role = label("role", &draft.role);
    let location = label("location", &draft.location);
    let mut groups: Vec<Label> = Vec::new();
    for raw in &draft.groups {
        match Label::parse(raw) {
            Ok(None) => {}
            Ok(Some(g)) => {
                if !groups.iter().any(|x| x.to_lowercase() == g.to_lowercase()) {
                    groups.push(g);
                }
            }
            Err(LabelError::TooLong) => err(
                "groups",
                format!("Group names are at most {TEXT_MAX} characters."),
            ),
        }
    }
    if groups.len() > GROUPS_MAX {
        err(
            "groups",
            format!("A contact can be in at most {GROUPS_MAX} groups."),
        );
    }
    match (first_name, last_name) {
        (Some(first_name), Some(last_name)) if errors.is_empty() => Ok(ValidContact {
            first_name,
            last_name,
            email,
            phone,
            department,
            role,
            location,
            groups,
        }),
        _ => Err(errors),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn draft() -> ContactDraft {
        ContactDraft {
            first_name: " Ada ".into(),
            last_name: "Lovelace".into(),
            email: "Ada@Example.com".into(),
            ..Default::default()
        }
    }

    fn message(errors: &[FieldError], field: &str) -> Option<String> {
        errors
            .iter()
            .find(|e| e.field == field)
            .map(|e| e.message.clone())
    }

    #[test]
    fn a_valid_draft_is_cleaned() {
        let v = validate(&draft(), "GB").unwrap();
        assert_eq!(v.first_name.as_str(), "Ada");
        assert_eq!(v.email.as_ref().unwrap().as_str(), "Ada@Example.com");
        assert_eq!(v.sort_name(), "ada lovelace");
    }

    #[test]
    fn names_and_a_way_to_reach_are_required() {
        let errors = validate(&ContactDraft::default(), "GB").unwrap_err();
        assert_eq!(
            message(&errors, "first_name").unwrap(),
            "Enter a first name."
        );
        assert!(message(&errors, "last_name").is_some());
        assert!(message(&errors, "email")
            .unwrap()
            .contains("or a mobile phone"));
    }

    #[test]
    fn every_bad_field_is_reported() {
        let mut d = draft();
        d.email = "bad".into();
        d.phone = "123".into();
        d.role = "r".repeat(101);
        let errors = validate(&d, "GB").unwrap_err();
        assert!(message(&errors, "email").is_some());
        assert!(message(&errors, "phone").is_some());
        assert_eq!(message(&errors, "role").unwrap(), "At most 100 characters.");
    }

    #[test]
    fn groups_are_deduplicated_case_insensitively() {
        let mut d = draft();
        d.groups = vec!["Ops".into(), " ops ".into(), "".into(), "On call".into()];
        let groups = validate(&d, "GB").unwrap().groups;
        assert_eq!(
            groups.iter().map(|g| g.as_str()).collect::<Vec<_>>(),
            ["Ops", "On call"]
        );
    }

    #[test]
    fn a_known_phone_is_used_only_for_that_number() {
        let known = PhoneE164::parse("+44 7911 123456", "GB").unwrap();
        let mut d = draft();
        d.phone = "123".into();
        let errors = validate_with(&d, "GB", Some(&known)).unwrap_err();
        assert!(message(&errors, "phone").is_some());
        d.phone = known.as_str().into();
        let v = validate_with(&d, "GB", Some(&known)).unwrap();
        assert_eq!(v.phone, Some(known));
    }

    fn any_draft() -> impl Strategy<Value = ContactDraft> {
        let field = || prop_oneof![any::<String>(), "[ a-zA-Z@.+0-9]{0,20}"];
        (
            field(),
            field(),
            field(),
            field(),
            field(),
            prop::collection::vec(field(), 0..4),
        )
            .prop_map(
                |(first_name, last_name, email, phone, department, groups)| ContactDraft {
                    first_name,
                    last_name,
                    email,
                    phone,
                    department,
                    groups,
                    ..Default::default()
                },
            )
    }

    proptest! {
        #[test]
        fn any_draft_validates_or_names_its_fields(d in any_draft()) {
            match validate(&d, "GB") {
                Ok(v) => {
                    // A valid contact, written back as a draft, validates to itself.
                    let again = ContactDraft {
                        first_name: v.first_name.to_string(),
                        last_name: v.last_name.to_string(),
                        email: v.email.as_ref().map(|e| e.to_string()).unwrap_or_default(),
                        phone: v.phone.as_ref().map(|p| p.to_string()).unwrap_or_default(),
                        department: v.department.as_ref().map(|x| x.to_string()).unwrap_or_default(),
                        groups: v.groups.iter().map(|g| g.to_string()).collect(),
                        ..Default::default()
                    };
                    prop_assert_eq!(validate(&again, "FR"), Ok(v));
                }
                Err(errors) => prop_assert!(!errors.is_empty()),
            }
        }

        #[test]
        fn a_known_phone_saves_work_and_changes_no_result(
            d in any_draft(),
            known in prop::option::of(prop::sample::select(vec![
                "+447911123456",
                "+33612345678",
                "+14155552671",
            ])),
            same in any::<bool>(),
        ) {
            let known = known.map(|k| PhoneE164::parse(k, "GB").unwrap());
            let mut d = d;
            if let (true, Some(k)) = (same, &known) {
                d.phone = k.as_str().into();
            }
            // Whatever the draft's phone, the known one or another, valid or not.
            prop_assert_eq!(validate_with(&d, "GB", known.as_ref()), validate(&d, "GB"));
        }
    }
}
