//! Names and the short free texts of a contact (department, role, location, groups).

/// The longest a name or a label may be, in characters.
pub const TEXT_MAX: usize = 100;

/// Collapse runs of whitespace and trim; empty becomes `None`.
pub fn clean(raw: &str) -> Option<String> {
    let s = raw.split_whitespace().collect::<Vec<_>>().join(" ");
    (!s.is_empty()).then_some(s)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    #[error("empty")]
    Empty,
    #[error("Names are at most {TEXT_MAX} characters.")]
    TooLong,
}

/// A first or last name: whitespace collapsed, not empty, at most [`TEXT_MAX`] characters.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Name(String);

impl Name {
    pub fn parse(raw: &str) -> Result<Self, NameError> {
        let s = clean(raw).ok_or(NameError::Empty)?;
        if s.chars().count() > TEXT_MAX {
            return Err(NameError::TooLong);
        }
        Ok(Self(s))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum LabelError {
    #[error("At most {TEXT_MAX} characters.")]
    TooLong,
}

/// A department, role, location or group name: whitespace collapsed, at most
/// [`TEXT_MAX`] characters. An empty input is no label (`Ok(None)`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Label(String);

impl Label {
    pub fn parse(raw: &str) -> Result<Option<Self>, LabelError> {
        match clean(raw) {
            None => Ok(None),
            Some(s) if s.chars().count() > TEXT_MAX => Err(LabelError::TooLong),
            Some(s) => Ok(Some(Self(s))),
        }
    }
}

macro_rules! text_type {
    ($t:ty) => {
        impl $t {
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }
        impl std::ops::Deref for $t {
            type Target = str;
            fn deref(&self) -> &str {
                &self.0
            }
        }
        impl std::fmt::Display for $t {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(&self.0)
            }
        }
        impl AsRef<str> for $t {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }
        impl std::borrow::Borrow<str> for $t {
            fn borrow(&self) -> &str {
                &self.0
            }
        }
        impl From<$t> for String {
            fn from(v: $t) -> String {
                v.0
            }
        }
    };
}
text_type!(Name);
text_type!(Label);

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn names_are_cleaned_and_bounded() {
        assert_eq!(Name::parse("  Ada \t Mary ").unwrap().as_str(), "Ada Mary");
        assert_eq!(Name::parse(" \n "), Err(NameError::Empty));
        assert_eq!(Name::parse(&"é".repeat(101)), Err(NameError::TooLong));
        assert!(Name::parse(&"é".repeat(100)).is_ok());
        assert_eq!(Label::parse("  "), Ok(None));
        assert_eq!(Label::parse(&"x".repeat(101)), Err(LabelError::TooLong));
    }

    proptest! {
        #[test]
        fn any_input_parses_or_errs_and_valid_values_round_trip(raw in any::<String>()) {
            if let Ok(name) = Name::parse(&raw) {
                prop_assert_eq!(Name::parse(name.as_str()), Ok(name.clone()));
                prop_assert!(!name.is_empty() && name.trim() == name.as_str());
            }
            if let Ok(Some(label)) = Label::parse(&raw) {
                prop_assert_eq!(Label::parse(label.as_str()), Ok(Some(label.clone())));
            }
        }
    }
}
