//! Device cookies (OWASP's answer to lock-out by flood): a browser where an
//! administrator signed in gets a cookie that names their email, signed with
//! a key of the server's. A sign-in that brings a valid one for the email it
//! tries is the owner's own browser with high likelihood: it skips the
//! per-address limits and waits in a lane of its own at the hashing gate, so
//! that a flood from other browsers, however many addresses it comes from,
//! cannot keep the owner out. Each device has its own failure count; after
//! [`super::throttle::PAIR_LOCK`] failures it is trusted no more until the
//! window ends.
//!
//! The cookie is `<nonce>.<mac>` (base64url), the MAC an HMAC-SHA256 of the
//! lower-case email and the nonce, under a key derived from the master key
//! (so cookies outlive a restart, and a new master key voids them all).

use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine;
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// The device cookie over plain http, and over https (see the session cookie).
pub const DEVICE_COOKIE: &str = "muster_device";
pub const SECURE_DEVICE_COOKIE: &str = "__Host-muster_device";
/// How long a browser stays known: a year after its last successful sign-in.
pub const DEVICE_MAX_AGE: std::time::Duration = std::time::Duration::from_secs(365 * 24 * 3600);

const NONCE_LEN: usize = 16;

/// One browser, as its failures are counted.
pub type DeviceId = [u8; NONCE_LEN];

/// Signs and checks device cookies. Its Debug output never shows the key.
#[derive(Clone)]
pub struct DeviceKey([u8; 32]);

impl std::fmt::Debug for DeviceKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DeviceKey(..)")
    }
}

impl DeviceKey {
    /// The key for device cookies, derived from the master key (an HMAC of a
    /// fixed label, so it reveals nothing of the key that seals credentials).
    pub fn derive(master: &[u8; 32]) -> Self {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(master).expect("HMAC takes any key");
        mac.update(b"muster device cookie v1");
        Self(mac.finalize().into_bytes().into())
    }

    fn mac(&self, email: &str, nonce: &DeviceId) -> Hmac<Sha256> {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.0).expect("HMAC takes any key");
        mac.update(email.trim().to_lowercase().as_bytes());
        mac.update(&[0]);
        mac.update(nonce);
        mac
    }

    /// A new cookie value for `email`'s browser.
    pub fn issue(&self, email: &str) -> String {
        let mut nonce = [0u8; NONCE_LEN];
        getrandom::fill(&mut nonce).expect("the operating system's random source failed");
        let tag = self.mac(email, &nonce).finalize().into_bytes();
        format!("{}.{}", B64.encode(nonce), B64.encode(tag))
    }

    /// The device a cookie value names, if it was issued for `email`.
    pub fn verify(&self, value: &str, email: &str) -> Option<DeviceId> {
        let (nonce, tag) = value.split_once('.')?;
        if nonce.len() > 32 || tag.len() > 64 {
            return None;
        }
        let nonce: DeviceId = B64.decode(nonce).ok()?.try_into().ok()?;
        let tag = B64.decode(tag).ok()?;
        // `verify_slice` compares in constant time.
        self.mac(email, &nonce).verify_slice(&tag).ok()?;
        Some(nonce)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cookie_names_one_email_under_one_key() {
        let key = DeviceKey::derive(&[7; 32]);
        let cookie = key.issue("Owner@Acme.example");
        let device = key.verify(&cookie, "owner@acme.example ").unwrap();
        assert_eq!(key.verify(&cookie, "OWNER@acme.example"), Some(device));
        assert_eq!(key.verify(&cookie, "other@acme.example"), None);
        assert_eq!(
            DeviceKey::derive(&[8; 32]).verify(&cookie, "owner@acme.example"),
            None
        );
        // Two browsers are two devices.
        assert_ne!(
            key.verify(&key.issue("owner@acme.example"), "owner@acme.example"),
            Some(device)
        );
        // Tampered, cut or foreign values are no device, never a panic.
        let (nonce, tag) = cookie.split_once('.').unwrap();
        let mut flipped = tag.as_bytes().to_vec();
        flipped[0] = if flipped[0] == b'A' { b'B' } else { b'A' };
        let flipped = format!("{nonce}.{}", String::from_utf8(flipped).unwrap());
        for bad in [
            "",
            ".",
            nonce,
            &flipped,
            &format!("{nonce}."),
            &format!("{nonce}.{tag}{tag}"),
            "é.é",
        ] {
            assert_eq!(key.verify(bad, "owner@acme.example"), None, "{bad}");
        }
        assert!(!format!("{key:?}").contains('7'));
    }
}
