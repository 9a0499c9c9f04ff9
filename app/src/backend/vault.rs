//! Integration credentials, sealed at rest with XChaCha20-Poly1305 under a
//! 256-bit master key. The associated data binds each sealed value to its
//! organisation and integration, so a value copied to another row (or another
//! organisation) does not open.

use crate::backend::domain::OrgId;
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use std::path::Path;

const NONCE_LEN: usize = 24;
/// Marks the format, so that it can change without guessing.
const PREFIX: &str = "v1:";

#[derive(Debug, thiserror::Error)]
pub enum VaultError {
    #[error("MUSTER_MASTER_KEY must be 32 bytes in base64 (openssl rand -base64 32)")]
    BadKey,
    #[error("the master key file {0}: {1}")]
    KeyFile(String, std::io::Error),
    #[error("a sealed credential does not open with this master key (was the key changed?)")]
    Open,
    #[error(
        "the master key file {path} can be read by other users (mode {mode:o}); \
         make it private with: chmod 600 '{path}'"
    )]
    KeyFileShared { path: String, mode: u32 },
}

/// The master key. Its Debug output never shows it.
#[derive(Clone)]
pub struct Vault {
    cipher: XChaCha20Poly1305,
    devices: crate::backend::auth::DeviceKey,
    /// Signs incidents' response links (an HMAC of a fixed label, derived
    /// like the device key).
    links: [u8; 32],
}

impl std::fmt::Debug for Vault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Vault(..)")
    }
}

impl Vault {
    pub fn from_key(key: &[u8; 32]) -> Self {
        Self {
            cipher: XChaCha20Poly1305::new(key.into()),
            devices: crate::backend::auth::DeviceKey::derive(key),
            links: derive(key, b"muster response link v1"),
        }
    }

    /// The key that signs device cookies, derived from the master key.
    pub fn device_key(&self) -> &crate::backend::auth::DeviceKey {
        &self.devices
    }

    /// The signature of a response link: an HMAC-SHA256 of `parts`, each
    /// ended by a zero byte.
    pub fn sign_link(&self, parts: &[&[u8]]) -> [u8; 32] {
        use hmac::{Hmac, Mac};
        let mut mac =
            <Hmac<sha2::Sha256> as Mac>::new_from_slice(&self.links).expect("HMAC takes any key");
        for part in parts {
            mac.update(part);
            mac.update(&[0]);
        }
        mac.finalize().into_bytes().into()
    }

    /// A vault with a fresh random key, for tests and throwaway instances.
    pub fn ephemeral() -> Self {
        Self::from_key(&random_key())
    }

    /// The key from `MUSTER_MASTER_KEY` (base64) when given, else from `file`,
    /// which is created with a fresh key (mode 0600) on first run.
    pub fn load(env_key: Option<&str>, file: &Path) -> Result<Self, VaultError> {
        if let Some(text) = env_key.filter(|t| !t.trim().is_empty()) {
            return Self::decode(text);
        }
        match std::fs::read_to_string(file) {
            Ok(text) => {
                check_private(file)?;
                Self::decode(&text)
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let key = random_key();
                write_key_file(file, &B64.encode(key))
                    .map_err(|e| VaultError::KeyFile(file.display().to_string(), e))?;
                tracing::info!(path = %file.display(), "created a new master key file");
                Ok(Self::from_key(&key))
            }
            Err(e) => Err(VaultError::KeyFile(file.display().to_string(), e)),
        }
    }

    fn decode(text: &str) -> Result<Self, VaultError> {
        let bytes = B64.decode(text.trim()).map_err(|_| VaultError::BadKey)?;
        let key: [u8; 32] = bytes.try_into().map_err(|_| VaultError::BadKey)?;
        Ok(Self::from_key(&key))
    }

    /// Seal `plain` for one integration of one organisation.
    pub fn seal(&self, org: OrgId, integration: i64, plain: &[u8]) -> String {
        self.seal_bound(&associated_data(org, integration), plain)
    }

    /// Open what [`Vault::seal`] sealed for the same organisation and integration.
    pub fn open(&self, org: OrgId, integration: i64, sealed: &str) -> Result<Vec<u8>, VaultError> {
        self.open_bound(&associated_data(org, integration), sealed)
    }

    /// Seal `plain` for organisation `org`'s SMS provider.
    pub fn seal_sms(&self, org: OrgId, plain: &[u8]) -> String {
        self.seal_bound(&sms_data(org), plain)
    }

    /// Open what [`Vault::seal_sms`] sealed for the same organisation.
    pub fn open_sms(&self, org: OrgId, sealed: &str) -> Result<Vec<u8>, VaultError> {
        self.open_bound(&sms_data(org), sealed)
    }

    /// Seal `plain`, bound to `aad`: it opens only with the same.
    fn seal_bound(&self, aad: &str, plain: &[u8]) -> String {
        let mut nonce = [0u8; NONCE_LEN];
        getrandom::fill(&mut nonce).expect("the operating system's random source failed");
        let sealed = self
            .cipher
            .encrypt(
                XNonce::from_slice(&nonce),
                Payload {
                    msg: plain,
                    aad: aad.as_bytes(),
                },
            )
            .expect("XChaCha20-Poly1305 sealing does not fail for in-memory input");
        let mut out = nonce.to_vec();
        out.extend_from_slice(&sealed);
        format!("{PREFIX}{}", B64.encode(out))
    }

    fn open_bound(&self, aad: &str, sealed: &str) -> Result<Vec<u8>, VaultError> {
        let bytes = sealed
            .strip_prefix(PREFIX)
            .and_then(|b| B64.decode(b).ok())
            .filter(|b| b.len() > NONCE_LEN)
            .ok_or(VaultError::Open)?;
        let (nonce, body) = bytes.split_at(NONCE_LEN);
        self.cipher
            .decrypt(
                XNonce::from_slice(nonce),
                Payload {
                    msg: body,
                    aad: aad.as_bytes(),
                },
            )
            .map_err(|_| VaultError::Open)
    }
}

fn sms_data(org: OrgId) -> String {
    format!("muster/sms/{}", org.get())
}

fn associated_data(org: OrgId, integration: i64) -> String {
    format!("muster/integration/{}/{integration}", org.get())
}

fn random_key() -> [u8; 32] {
    let mut key = [0u8; 32];
    getrandom::fill(&mut key).expect("the operating system's random source failed");
    key
}

/// Refuse a key file that users other than its owner can read or write.
fn check_private(path: &Path) -> Result<(), VaultError> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(path)
            .map_err(|e| VaultError::KeyFile(path.display().to_string(), e))?
            .permissions()
            .mode()
            & 0o777;
        if mode & 0o077 != 0 {
            return Err(VaultError::KeyFileShared {
                path: path.display().to_string(),
                mode,
            });
        }
    }
    Ok(())
}

fn write_key_file(path: &Path, text: &str) -> std::io::Result<()> {
    use std::io::Write;
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path)?;
    file.write_all(text.as_bytes())?;
    file.write_all(b"\n")?;
    file.sync_all()
}

/// A key for one purpose, derived from the master key (an HMAC of a
/// label, so it reveals nothing of the key that seals credentials).
fn derive(master: &[u8; 32], label: &[u8]) -> [u8; 32] {
    use hmac::{Hmac, Mac};
    let mut mac = <Hmac<sha2::Sha256> as Mac>::new_from_slice(master).expect("HMAC takes any key");
    mac.update(label);
    mac.finalize().into_bytes().into()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn org(n: i64) -> OrgId {
        OrgId::trusted(n)
    }

    #[test]
    fn seals_and_opens_only_for_the_same_org_and_integration() {
        let vault = Vault::ephemeral();
        let sealed = vault.seal(org(1), 7, b"s3cret-token");
        assert!(!sealed.contains("s3cret"));
        assert_eq!(vault.open(org(1), 7, &sealed).unwrap(), b"s3cret-token");
        assert!(vault.open(org(2), 7, &sealed).is_err());
        assert!(vault.open(org(1), 8, &sealed).is_err());
        assert!(Vault::ephemeral().open(org(1), 7, &sealed).is_err());
        // A fresh nonce every time.
        assert_ne!(sealed, vault.seal(org(1), 7, b"s3cret-token"));
    }

    #[test]
    fn sms_settings_open_only_as_that_organisations_sms_settings() {
        let vault = Vault::ephemeral();
        let sealed = vault.seal_sms(org(1), b"token");
        assert_eq!(vault.open_sms(org(1), &sealed).unwrap(), b"token");
        assert!(vault.open_sms(org(2), &sealed).is_err());
        assert!(vault.open(org(1), 0, &sealed).is_err());
        let integration = vault.seal(org(1), 1, b"token");
        assert!(vault.open_sms(org(1), &integration).is_err());
    }

    #[test]
    fn tampering_is_detected() {
        let vault = Vault::ephemeral();
        let sealed = vault.seal(org(1), 1, b"value");
        let mut bytes = B64.decode(sealed.strip_prefix(PREFIX).unwrap()).unwrap();
        let last = bytes.len() - 1;
        bytes[last] ^= 1;
        let tampered = format!("{PREFIX}{}", B64.encode(bytes));
        assert!(vault.open(org(1), 1, &tampered).is_err());
        assert!(vault.open(org(1), 1, "v1:").is_err());
        assert!(vault.open(org(1), 1, "plain text").is_err());
    }

    #[test]
    fn key_file_is_created_private_and_reused() {
        let dir = std::env::temp_dir().join(format!("muster-vault-{}", std::process::id()));
        let path = dir.join("master.key");
        let _ = std::fs::remove_file(&path);
        let first = Vault::load(None, &path).unwrap();
        let sealed = first.seal(org(1), 1, b"x");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let again = Vault::load(None, &path).unwrap();
        assert_eq!(again.open(org(1), 1, &sealed).unwrap(), b"x");
        // The environment's key wins over the file.
        let env = Vault::load(Some(&B64.encode([9u8; 32])), &path).unwrap();
        assert!(env.open(org(1), 1, &sealed).is_err());
        assert!(matches!(
            Vault::load(Some("c2hvcnQ="), &path),
            Err(VaultError::BadKey)
        ));
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[cfg(unix)]
    #[test]
    fn a_key_file_others_can_read_is_refused_with_the_fix() {
        use std::os::unix::fs::PermissionsExt;
        let dir = std::env::temp_dir().join(format!("muster-vault-mode-{}", std::process::id()));
        let path = dir.join("master.key");
        let _ = std::fs::remove_dir_all(&dir);
        Vault::load(None, &path).unwrap();
        for mode in [0o644, 0o640, 0o604, 0o620] {
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
            let err = Vault::load(None, &path).unwrap_err().to_string();
            assert!(
                err.contains(&format!("chmod 600 '{}'", path.display())),
                "{err}"
            );
            assert!(err.contains(&format!("{mode:o}")), "{err}");
        }
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o400)).unwrap();
        assert!(Vault::load(None, &path).is_ok());
        // The key from the environment does not read the file at all.
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        assert!(Vault::load(Some(&B64.encode([9u8; 32])), &path).is_ok());
        std::fs::remove_dir_all(dir).unwrap();
    }
}
