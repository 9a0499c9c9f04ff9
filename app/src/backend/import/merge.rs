//! What a row of an upload does to the contact it matches: every non-blank cell
//! replaces the stored value, and blank cells keep it, so a partial file never
//! erases anything.

use crate::backend::domain::{Label, ValidContact};
use crate::model::{Contact, ContactDraft};

/// The contact with `row` applied, or `None` when the row changes nothing.
pub fn merge(existing: &Contact, row: &ValidContact) -> Option<ContactDraft> {
    let mut next = ContactDraft::from(existing);
    let set = |target: &mut String, value: Option<&str>| {
        if let Some(v) = value.filter(|v| !v.is_empty()) {
            *target = v.to_string();
        }
    };
    set(&mut next.first_name, Some(&row.first_name));
    set(&mut next.last_name, Some(&row.last_name));
    set(&mut next.email, row.email.as_ref().map(|e| e.as_str()));
    set(&mut next.phone, row.phone.as_ref().map(|p| p.as_str()));
    set(&mut next.department, row.department.as_deref());
    set(&mut next.role, row.role.as_deref());
    set(&mut next.location, row.location.as_deref());
    let groups: Vec<String> = row.groups.iter().map(Label::to_string).collect();
    if !groups.is_empty() && !same_groups(&groups, &existing.groups) {
        next.groups = groups;
    }
    (next != ContactDraft::from(existing)).then_some(next)
}

/// For a contact its identity provider keeps over SCIM: the stored name and
/// email stay, since only the provider changes them; the row's other cells
/// apply. Returns the draft (`None` when nothing else changes) and whether the
/// row asked for another name or email.
pub fn keep_identity(existing: &Contact, next: ContactDraft) -> (Option<ContactDraft>, bool) {
    let stored = ContactDraft::from(existing);
    let asked = next.first_name != stored.first_name
        || next.last_name != stored.last_name
        || !next.email.eq_ignore_ascii_case(&stored.email);
    let next = ContactDraft {
        first_name: stored.first_name.clone(),
        last_name: stored.last_name.clone(),
        email: stored.email.clone(),
        ..next
    };
    ((next != stored).then_some(next), asked)
}

/// Group lists that name the same groups, in any order and case.
fn same_groups(a: &[String], b: &[String]) -> bool {
    let key = |list: &[String]| {
        let mut v: Vec<String> = list.iter().map(|g| g.to_lowercase()).collect();
        v.sort();
        v.dedup();
        v
    };
    key(a) == key(b)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::domain::validate;

    fn stored() -> Contact {
        Contact {
            id: 7,
            first_name: "Ada".into(),
            last_name: "Lovelace".into(),
            email: Some("ada@example.com".into()),
            phone: Some("+447911123456".into()),
            department: Some("Engineering".into()),
            role: None,
            location: Some("London".into()),
            groups: vec!["On call".into(), "Ops".into()],
            synced_groups: Vec::new(),
            synced: false,
            provisioned: false,
            deactivated: false,
            source: "Manual".into(),
            version: 3,
            created_at: chrono::Utc::now(),
            updated_at: chrono::Utc::now(),
        }
    }

    fn row(draft: ContactDraft) -> ValidContact {
        validate(&draft, "GB").unwrap()
    }

    #[test]
    fn blank_cells_keep_what_is_stored() {
        let r = row(ContactDraft {
            first_name: "Ada".into(),
            last_name: "Lovelace".into(),
            email: "ADA@example.com".into(),
            ..Default::default()
        });
        // The same address (rows match emails without case), spelled as the file
        // spells it: a non-blank cell always wins.
        let merged = merge(&stored(), &r).expect("the email's spelling changed");
        assert_eq!(merged.email, "ADA@example.com");
        assert_eq!(merged.phone, "+447911123456");
        assert_eq!(merged.department, "Engineering");
        assert_eq!(merged.groups, vec!["On call", "Ops"]);
    }

    #[test]
    fn a_row_that_repeats_the_stored_values_changes_nothing() {
        let r = row(ContactDraft {
            first_name: "Ada".into(),
            last_name: "Lovelace".into(),
            email: "ada@example.com".into(),
            phone: "07911 123456".into(),
            location: "London".into(),
            groups: vec!["ops".into(), "On Call".into()],
            ..Default::default()
        });
        assert_eq!(merge(&stored(), &r), None);
    }

    #[test]
    fn non_blank_cells_replace_and_groups_are_replaced_as_a_set() {
        let r = row(ContactDraft {
            first_name: "Ada".into(),
            last_name: "King".into(),
            email: "ada@example.com".into(),
            role: "Analyst".into(),
            groups: vec!["Board".into()],
            ..Default::default()
        });
        let merged = merge(&stored(), &r).unwrap();
        assert_eq!(merged.last_name, "King");
        assert_eq!(merged.role, "Analyst");
        assert_eq!(merged.location, "London");
        assert_eq!(merged.groups, vec!["Board"]);
    }

    #[test]
    fn a_provisioned_contact_keeps_its_name_and_email() {
        let stored = Contact {
            provisioned: true,
            ..stored()
        };
        let r = row(ContactDraft {
            first_name: "Augusta".into(),
            last_name: "King".into(),
            email: "ADA@example.com".into(),
            role: "Analyst".into(),
            ..Default::default()
        });
        let (next, asked) = keep_identity(&stored, merge(&stored, &r).unwrap());
        let next = next.expect("the role changes");
        assert!(asked);
        assert_eq!(
            (
                next.first_name.as_str(),
                next.last_name.as_str(),
                next.email.as_str()
            ),
            ("Ada", "Lovelace", "ada@example.com")
        );
        assert_eq!(next.role, "Analyst");
        // A row that only renames changes nothing.
        let r = row(ContactDraft {
            first_name: "Augusta".into(),
            last_name: "Lovelace".into(),
            email: "ada@example.com".into(),
            ..Default::default()
        });
        assert_eq!(
            keep_identity(&stored, merge(&stored, &r).unwrap()),
            (None, true)
        );
    }
}
