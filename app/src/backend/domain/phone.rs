//! Mobile phone numbers and the region that reads numbers without a country code.

use phonenumber::{country, Mode};

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum RegionError {
    #[error("Choose a country for phone numbers without a country code.")]
    Unknown,
}

/// A country (ISO 3166 alpha-2, upper case) whose numbering plan reads phone
/// numbers written without a country code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Region(country::Id);

impl Region {
    pub fn parse(raw: &str) -> Result<Self, RegionError> {
        raw.trim()
            .to_ascii_uppercase()
            .parse::<country::Id>()
            .map(Self)
            .map_err(|_| RegionError::Unknown)
    }

    pub fn code(&self) -> &str {
        self.0.as_ref()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PhoneError {
    #[error("Enter a phone number with its country code, like +44 7911 123456.")]
    Unreadable,
    #[error("This is not a valid phone number. Check the digits and the country code.")]
    Invalid,
}

/// A valid phone number in E.164 form (`+441632960983`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PhoneE164(String);

impl PhoneE164 {
    /// Parse a number, reading one without a country code as a number of
    /// `region` (an organisation's default region; an unknown one reads none).
    pub fn parse(raw: &str, region: &str) -> Result<Self, PhoneError> {
        let region = Region::parse(region).ok().map(|r| r.0);
        let number = phonenumber::parse(region, raw.trim()).map_err(|_| PhoneError::Unreadable)?;
        if !phonenumber::is_valid(&number) {
            return Err(PhoneError::Invalid);
        }
        Ok(Self(number.format().mode(Mode::E164).to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for PhoneE164 {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn numbers_become_e164_with_the_default_region() {
        let p = |raw, region| PhoneE164::parse(raw, region).map(|p| p.as_str().to_string());
        assert_eq!(p("07911 123456", "GB").unwrap(), "+447911123456");
        assert_eq!(p("(415) 555-2671", "US").unwrap(), "+14155552671");
        assert_eq!(p("+44 7911 123456", "US").unwrap(), "+447911123456");
        assert_eq!(p("12345", "GB"), Err(PhoneError::Invalid));
        assert_eq!(p("not a phone", "GB"), Err(PhoneError::Unreadable));
    }

    #[test]
    fn regions_are_country_codes() {
        assert_eq!(Region::parse(" gb ").unwrap().code(), "GB");
        assert_eq!(Region::parse("XX"), Err(RegionError::Unknown));
    }

    proptest! {
        #[test]
        fn any_input_parses_or_errs(raw in any::<String>(), region in "[A-Z]{2}") {
            if let Ok(p) = PhoneE164::parse(&raw, &region) {
                prop_assert!(p.as_str().starts_with('+'));
                prop_assert_eq!(PhoneE164::parse(p.as_str(), "US"), Ok(p));
            }
        }

        #[test]
        fn numbers_written_for_a_region_round_trip(
            digits in "7[0-9]{9}",
            spaced in any::<bool>(),
        ) {
            // UK mobile numbers: 07xxx xxxxxx, the national form of +44 7xxx xxxxxx.
            let national = if spaced {
                format!("0{} {}", &digits[..4], &digits[4..])
            } else {
                format!("0{digits}")
            };
            if let Ok(p) = PhoneE164::parse(&national, "GB") {
                prop_assert_eq!(p.as_str(), format!("+44{digits}"));
                prop_assert_eq!(PhoneE164::parse(p.as_str(), "FR"), Ok(p));
            }
        }
    }
}
