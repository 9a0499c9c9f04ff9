//! The one-time code that proves the person on the setup page is the one who
//! started the server: whoever reaches a fresh server first must not own it.

use sha2::{Digest, Sha256};

/// Letters and digits that cannot be mistaken for each other (no 0/O, 1/I/L).
const ALPHABET: &[u8] = b"ABCDEFGHJKMNPQRSTUVWXYZ23456789";
/// 12 symbols of 31: 59 bits, far beyond guessing over HTTP.
const LENGTH: usize = 12;
/// The shortest code accepted from `MUSTER_SETUP_CODE`.
pub const MIN_CONFIGURED: usize = 12;

/// A setup code. Its `Debug` never shows it; only [`SetupCode::reveal`] does,
/// for the one log line that tells the operator.
#[derive(Clone)]
pub struct SetupCode {
    code: String,
    digest: [u8; 32],
}

impl std::fmt::Debug for SetupCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SetupCode(..)")
    }
}

#[derive(Debug, PartialEq, Eq, thiserror::Error)]
#[error("MUSTER_SETUP_CODE must be at least {MIN_CONFIGURED} characters")]
pub struct SetupCodeTooShort;

impl SetupCode {
    /// A fresh random code, shown as `XXXX-XXXX-XXXX`.
    pub fn generate() -> Self {
        let mut raw = [0u8; LENGTH];
        getrandom::fill(&mut raw).expect("the operating system's random source failed");
        // 256 is not a multiple of 31: reject the bytes that would bias the draw.
        let mut symbols = Vec::with_capacity(LENGTH);
        let limit = 256 - 256 % ALPHABET.len();
        let mut pool = raw.to_vec();
        while symbols.len() < LENGTH {
            if pool.is_empty() {
                let mut more = [0u8; LENGTH];
                getrandom::fill(&mut more).expect("the operating system's random source failed");
                pool.extend_from_slice(&more);
            }
            let b = usize::from(pool.pop().expect("refilled above"));
            if b < limit {
                symbols.push(ALPHABET[b % ALPHABET.len()] as char);
            }
        }
        let code = symbols
            .chunks(4)
            .map(|c| c.iter().collect::<String>())
            .collect::<Vec<_>>()
            .join("-");
        Self::from_trusted(code)
    }

    /// The code an operator configured (`MUSTER_SETUP_CODE`).
    pub fn configured(code: &str) -> Result<Self, SetupCodeTooShort> {
        if normalise(code).chars().count() < MIN_CONFIGURED {
            return Err(SetupCodeTooShort);
        }
        Ok(Self::from_trusted(code.trim().to_string()))
    }

    fn from_trusted(code: String) -> Self {
        let digest = Sha256::digest(normalise(&code).as_bytes()).into();
        Self { code, digest }
    }

    /// Whether `typed` is this code: case, spaces and dashes do not matter.
    /// Digests are compared, so the time taken says nothing about the code.
    pub fn matches(&self, typed: &str) -> bool {
        let typed: [u8; 32] = Sha256::digest(normalise(typed).as_bytes()).into();
        typed
            .iter()
            .zip(self.digest.iter())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0
    }

    /// The code itself, to print once in the server's log.
    pub fn reveal(&self) -> &str {
        &self.code
    }
}

fn normalise(code: &str) -> String {
    code.chars()
        .filter(|c| !c.is_whitespace() && *c != '-')
        .flat_map(char::to_uppercase)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_codes_are_readable_and_differ() {
        let a = SetupCode::generate();
        let b = SetupCode::generate();
        assert_ne!(a.reveal(), b.reveal());
        assert_eq!(a.reveal().len(), 14);
        assert!(a
            .reveal()
            .split('-')
            .all(|g| g.len() == 4 && g.bytes().all(|c| ALPHABET.contains(&c))));
        assert!(a.matches(a.reveal()));
        assert!(a.matches(&a.reveal().to_lowercase().replace('-', " ")));
        assert!(!a.matches(b.reveal()));
        assert!(!a.matches(""));
        assert!(!format!("{a:?}").contains(a.reveal()));
    }

    #[test]
    fn configured_codes_must_be_long_enough() {
        assert!(matches!(
            SetupCode::configured("short-code"),
            Err(SetupCodeTooShort)
        ));
        let c = SetupCode::configured(" e2e-setup-code-1 ").unwrap();
        assert!(c.matches("E2E SETUP CODE 1"));
        assert!(!c.matches("e2e-setup-code-2"));
    }
}
