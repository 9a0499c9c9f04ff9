//! Response links: `/respond/<recipient id>-<signature>`. The signature is
//! an HMAC (keyed by a key derived from the master key) of the recipient's
//! id and its incident's random nonce, so that a link cannot be guessed or
//! made from another, and nothing stored in the database lets its reader
//! answer for anyone. A link works while its incident is active.

use crate::backend::vault::Vault;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine;

/// Bytes of the HMAC kept in a link: 128 bits.
const SIGNATURE: usize = 16;

/// A fresh random nonce for a new incident.
pub fn nonce() -> String {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes).expect("the operating system's random source failed");
    B64.encode(bytes)
}

fn signature(vault: &Vault, nonce: &str, recipient: i64) -> [u8; SIGNATURE] {
    let mac = vault.sign_link(&[nonce.as_bytes(), recipient.to_string().as_bytes()]);
    let mut out = [0u8; SIGNATURE];
    out.copy_from_slice(&mac[..SIGNATURE]);
    out
}

/// The token of recipient `recipient` of the incident with `nonce`.
pub fn token(vault: &Vault, nonce: &str, recipient: i64) -> String {
    format!(
        "{recipient}-{}",
        B64.encode(signature(vault, nonce, recipient))
    )
}

/// The link a recipient answers at.
pub fn url(public_url: &str, token: &str) -> String {
    format!("{}/respond/{token}", public_url.trim_end_matches('/'))
}

/// The recipient id and signature a token holds, if it is one.
pub fn parse(token: &str) -> Option<(i64, Vec<u8>)> {
    let (id, sig) = token.split_once('-')?;
    let id = id.parse::<i64>().ok().filter(|id| *id > 0)?;
    let sig = B64.decode(sig).ok().filter(|s| s.len() == SIGNATURE)?;
    Some((id, sig))
}

/// Whether `sig` signs `recipient` of the incident with `nonce`; compared
/// in constant time.
pub fn verify(vault: &Vault, nonce: &str, recipient: i64, sig: &[u8]) -> bool {
    let expected = signature(vault, nonce, recipient);
    sig.len() == SIGNATURE
        && expected
            .iter()
            .zip(sig)
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_verifies_only_for_its_recipient_incident_and_key() {
        let vault = Vault::ephemeral();
        let n = nonce();
        let t = token(&vault, &n, 42);
        let (id, sig) = parse(&t).unwrap();
        assert_eq!(id, 42);
        assert!(verify(&vault, &n, 42, &sig));
        assert!(!verify(&vault, &n, 43, &sig));
        assert!(!verify(&vault, &nonce(), 42, &sig));
        assert!(!verify(&Vault::ephemeral(), &n, 42, &sig));
        for bad in [
            "",
            "42",
            "42-",
            "x-abc",
            "-1-AAAAAAAAAAAAAAAAAAAAAA",
            "42-AAAA",
        ] {
            assert!(parse(bad).is_none(), "{bad}");
        }
    }
}
