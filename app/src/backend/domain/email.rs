//! Email addresses.

use email_address::{EmailAddress, Options};

/// The longest address SMTP allows (RFC 5321's path limit less its brackets).
const EMAIL_MAX: usize = 254;

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum EmailError {
    #[error("Email addresses are at most 254 characters.")]
    TooLong,
    #[error("Enter a valid email address, like name@example.com.")]
    Invalid,
}

/// A syntactically valid email address with a dotted domain, trimmed, case kept.
/// Muster compares addresses by [`Email::lower`].
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Email(String);

impl Email {
    pub fn parse(raw: &str) -> Result<Self, EmailError> {
        let raw = raw.trim();
        if raw.len() > EMAIL_MAX {
            return Err(EmailError::TooLong);
        }
        let options = Options::default()
            .with_required_tld()
            .without_display_text();
        EmailAddress::parse_with_options(raw, options)
            .map(|_| Self(raw.to_string()))
            .map_err(|_| EmailError::Invalid)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The address lower-cased: how addresses are compared and indexed.
    pub fn lower(&self) -> String {
        self.0.to_lowercase()
    }
}

impl std::fmt::Display for Email {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn emails_need_a_domain_with_a_dot() {
        assert!(Email::parse(" a@example.com ").is_ok());
        assert_eq!(Email::parse("a@localhost"), Err(EmailError::Invalid));
        assert_eq!(Email::parse("not-an-email"), Err(EmailError::Invalid));
        assert_eq!(
            Email::parse("Ada <a@example.com>"),
            Err(EmailError::Invalid)
        );
        let long = format!("{}@example.com", "a".repeat(250));
        assert_eq!(Email::parse(&long), Err(EmailError::TooLong));
    }

    proptest! {
        #[test]
        fn any_input_parses_or_errs(raw in any::<String>()) {
            if let Ok(e) = Email::parse(&raw) {
                prop_assert_eq!(Email::parse(e.as_str()), Ok(e));
            }
        }

        #[test]
        fn valid_addresses_round_trip(
            local in "[a-zA-Z0-9][a-zA-Z0-9._+-]{0,20}[a-zA-Z0-9]",
            domain in "[a-z0-9]{1,10}\\.[a-z]{2,6}",
        ) {
            let raw = format!("{local}@{domain}");
            let e = Email::parse(&raw);
            prop_assume!(!local.contains(".."));
            let e = e.unwrap();
            prop_assert_eq!(e.as_str(), raw.as_str());
            let lower = Email::parse(&e.lower()).unwrap();
            prop_assert_eq!(lower.as_str(), raw.to_lowercase());
        }
    }
}
