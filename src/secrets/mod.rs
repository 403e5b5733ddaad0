//! Secrets at rest: merchant keys, cancel passwords and webhook signing secrets are stored encrypted
//! (AES-256-GCM, crate `aes-gcm`) so that a database dump alone yields no usable credential.
//!
//! A stored value reads `pdenc:v1:<key id>:<base64(nonce ‖ ciphertext ‖ tag)>`: a random 96-bit nonce
//! per value, and the key id (first 8 hex digits of the key's SHA-256) so several keys can be in use at
//! once while `paydesk secrets rotate` re-encrypts everything under a new one. The associated data
//! names the column and row (`storefronts.merchant_key:sf_x`), so a ciphertext copied into another row
//! or column does not decrypt.
//!
//! The keys come from `PAYDESK_SECRET_KEY` (+ `PAYDESK_SECRET_KEY_PREVIOUS`, decrypt only) or a key
//! file (`PAYDESK_SECRET_KEY_FILE`, one base64 key per line, the first encrypts); on the embedded
//! default (SQLite, neither set) a key file is generated next to the database (`key_file`). A key
//! file is re-read when it changes, so servers follow a rotation without a restart.

mod key_file;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use arc_swap::ArcSwap;
use base64::Engine;
use rand::Rng;
use sha2::{Digest, Sha256};

use crate::config::{Config, DatabaseKind, ExposeSecret, SecretKeySource};

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;

/// Marks an encrypted value and its format version.
const PREFIX: &str = "pdenc:v1:";
const NONCE_LEN: usize = 12;
const TAG_LEN: usize = 16;

/// Why secrets cannot be used. Each message is one line naming the setting to fix.
#[derive(Debug, thiserror::Error)]
pub enum SecretsError {
    #[error(
        "PAYDESK_SECRET_KEY or PAYDESK_SECRET_KEY_FILE must be set: instances sharing one PostgreSQL must share one key"
    )]
    Missing,
    #[error("cannot use the key file {path} (PAYDESK_SECRET_KEY_FILE): {reason}")]
    KeyFile { path: String, reason: String },
    #[error(
        "stored secrets use key id {id}, which is not among the keys of {keys}: start with the key they were written under (as the key, in PAYDESK_SECRET_KEY_PREVIOUS or in the key file)"
    )]
    UnknownKey { id: String, keys: String },
    #[error(
        "the stored secret {context} does not decrypt under key id {id} ({keys}): it was altered or copied from elsewhere"
    )]
    Undecryptable {
        id: String,
        context: String,
        keys: String,
    },
    #[error(
        "--new-key needs a key file (PAYDESK_SECRET_KEY_FILE, or the one generated next to the SQLite database); with PAYDESK_SECRET_KEY, deploy the new key with the old one in PAYDESK_SECRET_KEY_PREVIOUS, then run `paydesk secrets rotate`"
    )]
    NotAKeyFile,
    #[error("this command opened the database without the secret keys")]
    NotLoaded,
    #[error(
        "stored secrets kept changing while they were re-encrypted; run `paydesk secrets rotate` again"
    )]
    KeptChanging,
}

/// 32 bytes of base64, as `PAYDESK_SECRET_KEY` and each key file line hold them.
pub fn parse_key(text: &str) -> Option<[u8; 32]> {
    B64.decode(text.trim()).ok()?.try_into().ok()
}

/// A fresh random key, base64.
fn new_key() -> String {
    let mut key = [0u8; 32];
    rand::rng().fill(&mut key);
    B64.encode(key)
}

fn key_id(key: &[u8; 32]) -> String {
    hex::encode(Sha256::digest(key))[..8].to_string()
}

/// The key id of a stored value; `None` for a value stored before encryption (plaintext).
pub fn stored_key_id(stored: &str) -> Option<&str> {
    stored
        .strip_prefix(PREFIX)?
        .split_once(':')
        .map(|(id, _)| id)
}

struct Key {
    id: String,
    cipher: Aes256Gcm,
}

/// The keys in use: the first encrypts, all decrypt.
struct Keyring {
    keys: Vec<Key>,
}

impl Keyring {
    /// `keys` must not be empty; a key listed twice is kept once.
    fn new(keys: &[[u8; 32]]) -> Self {
        let mut ring = Keyring { keys: Vec::new() };
        for key in keys {
            let id = key_id(key);
            if !ring.keys.iter().any(|k| k.id == id) {
                ring.keys.push(Key {
                    id,
                    cipher: Aes256Gcm::new(key.into()),
                });
            }
        }
        assert!(!ring.keys.is_empty(), "a keyring has a primary key");
        ring
    }

    fn primary(&self) -> &Key {
        &self.keys[0]
    }

    fn seal(&self, context: &str, plaintext: &str) -> String {
        let key = self.primary();
        let mut nonce = [0u8; NONCE_LEN];
        rand::rng().fill(&mut nonce);
        let sealed = key
            .cipher
            .encrypt(
                &Nonce::from(nonce),
                Payload {
                    msg: plaintext.as_bytes(),
                    aad: context.as_bytes(),
                },
            )
            .expect("AES-GCM encrypts any value below 64 GiB");
        let mut blob = nonce.to_vec();
        blob.extend(sealed);
        format!("{PREFIX}{}:{}", key.id, B64.encode(blob))
    }

    /// `Err(Some(id))`: no key with that id here; `Err(None)`: it does not decrypt.
    fn open(&self, context: &str, stored: &str) -> Result<String, Option<String>> {
        let (id, body) = stored
            .strip_prefix(PREFIX)
            .and_then(|rest| rest.split_once(':'))
            .ok_or(None)?;
        let key = self
            .keys
            .iter()
            .find(|k| k.id == id)
            .ok_or_else(|| Some(id.to_string()))?;
        let blob = B64.decode(body).map_err(|_| None)?;
        if blob.len() < NONCE_LEN + TAG_LEN {
            return Err(None);
        }
        let (nonce, sealed) = blob.split_at(NONCE_LEN);
        let nonce: [u8; NONCE_LEN] = nonce.try_into().expect("split at the nonce length");
        let plain = key
            .cipher
            .decrypt(
                &Nonce::from(nonce),
                Payload {
                    msg: sealed,
                    aad: context.as_bytes(),
                },
            )
            .map_err(|_| None)?;
        String::from_utf8(plain).map_err(|_| None)
    }
}

/// Where the keys came from.
#[derive(Clone, Debug)]
enum Origin {
    Env,
    File(PathBuf),
    /// The key file the embedded default generated (now or on an earlier start).
    Generated {
        path: PathBuf,
        just_now: bool,
    },
}

impl Origin {
    fn file(&self) -> Option<&Path> {
        match self {
            Origin::Env => None,
            Origin::File(path) | Origin::Generated { path, .. } => Some(path),
        }
    }

    fn describe(&self) -> String {
        match self {
            Origin::Env => "PAYDESK_SECRET_KEY and PAYDESK_SECRET_KEY_PREVIOUS".into(),
            Origin::File(path) => format!("PAYDESK_SECRET_KEY_FILE {}", path.display()),
            Origin::Generated { path, .. } => format!(
                "the key file {} (generated; PAYDESK_SECRET_KEY_FILE names another)",
                path.display()
            ),
        }
    }
}

/// A keyring as loaded, with the key file's state at that moment (to notice a change).
struct Loaded {
    ring: Keyring,
    stamp: Option<key_file::Stamp>,
}

/// The keys paydesk encrypts and decrypts stored secrets with. Cheap to clone; the store holds one.
#[derive(Clone)]
pub struct Secrets {
    origin: Arc<Origin>,
    loaded: Arc<ArcSwap<Loaded>>,
}

impl std::fmt::Debug for Secrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Secrets({}, primary {})",
            self.origin.describe(),
            self.primary_id()
        )
    }
}

impl Secrets {
    /// The keys the configuration names; on the embedded default (SQLite, no key set) the key file
    /// next to the database, generated on first use. PostgreSQL without a key is refused: each
    /// instance would make up its own and could not read what the others wrote.
    pub fn load(config: &Config) -> Result<Self, SecretsError> {
        let (origin, keys, stamp) = match &config.secret_key {
            SecretKeySource::Keys(keys) => {
                let keys: Vec<[u8; 32]> = keys
                    .iter()
                    .map(|k| k.expose_secret().try_into().expect("keys are 32 bytes"))
                    .collect();
                (Origin::Env, keys, None)
            }
            SecretKeySource::File(path) => {
                let (keys, stamp) = key_file::read(path)?;
                (Origin::File(path.clone()), keys, Some(stamp))
            }
            SecretKeySource::Unset if config.database.kind == DatabaseKind::Postgres => {
                return Err(SecretsError::Missing);
            }
            SecretKeySource::Unset => {
                let path = key_file::default_path(config.database.url.expose_secret());
                let just_now = key_file::create_if_missing(&path, &new_key())?;
                let (keys, stamp) = key_file::read(&path)?;
                (Origin::Generated { path, just_now }, keys, Some(stamp))
            }
        };
        Ok(Self {
            origin: Arc::new(origin),
            loaded: Arc::new(ArcSwap::from_pointee(Loaded {
                ring: Keyring::new(&keys),
                stamp,
            })),
        })
    }

    /// One line for the operator when this start generated the key file.
    pub fn generated_notice(&self) -> Option<String> {
        match &*self.origin {
            Origin::Generated {
                path,
                just_now: true,
            } => Some(format!(
                "generated the secret key file {} (mode 0600): it encrypts the stored merchant keys, cancel passwords and signing secrets; back it up with the database, which is unreadable without it",
                path.display()
            )),
            _ => None,
        }
    }

    /// The id of the key that encrypts.
    pub fn primary_id(&self) -> String {
        self.loaded.load().ring.primary().id.clone()
    }

    /// Every key id, the primary first.
    pub fn key_ids(&self) -> Vec<String> {
        self.loaded
            .load()
            .ring
            .keys
            .iter()
            .map(|k| k.id.clone())
            .collect()
    }

    /// Encrypts `plaintext` for the place `context` names, under the primary key (re-reading a key
    /// file that changed, so a server follows `paydesk secrets rotate --new-key`).
    pub fn seal(&self, context: &str, plaintext: &str) -> String {
        if let Some(path) = self.origin.file() {
            let stamp = self.loaded.load().stamp.clone();
            if key_file::stamp(path).ok() != stamp {
                self.reload();
            }
        }
        self.loaded.load().ring.seal(context, plaintext)
    }

    /// Decrypts a stored value. A key id this keyring lacks makes it re-read the key file once (the
    /// value may have been re-encrypted under a key added since).
    pub fn open(&self, context: &str, stored: &str) -> Result<String, SecretsError> {
        let mut result = self.loaded.load().ring.open(context, stored);
        if matches!(result, Err(Some(_))) && self.origin.file().is_some() {
            self.reload();
            result = self.loaded.load().ring.open(context, stored);
        }
        result.map_err(|unknown| match unknown {
            Some(id) => SecretsError::UnknownKey {
                id,
                keys: self.origin.describe(),
            },
            None => SecretsError::Undecryptable {
                id: stored_key_id(stored).unwrap_or("none").to_string(),
                context: context.to_string(),
                keys: self.origin.describe(),
            },
        })
    }

    /// Whether `stored` is encrypted under the primary key (else a rotation re-encrypts it).
    pub fn is_current(&self, stored: &str) -> bool {
        stored_key_id(stored) == Some(self.loaded.load().ring.primary().id.as_str())
    }

    /// Adds a new random primary key at the top of the key file (the others stay, decrypt only) and
    /// uses it. Returns its id.
    pub fn add_primary_key(&self) -> Result<String, SecretsError> {
        let path = self.origin.file().ok_or(SecretsError::NotAKeyFile)?;
        key_file::prepend(path, &new_key())?;
        self.reload_or_fail()?;
        Ok(self.primary_id())
    }

    /// Keeps the current keys when the file cannot be read now (a half-edited file must not stop a
    /// running server); the next change is picked up again.
    fn reload(&self) {
        if let Err(e) = self.reload_or_fail() {
            tracing::warn!(error = %e, "kept the loaded secret keys");
        }
    }

    fn reload_or_fail(&self) -> Result<(), SecretsError> {
        if let Some(path) = self.origin.file() {
            let (keys, stamp) = key_file::read(path)?;
            self.loaded.store(Arc::new(Loaded {
                ring: Keyring::new(&keys),
                stamp: Some(stamp),
            }));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_decrypt_only_in_their_place_and_under_a_known_key() {
        let old = Keyring::new(&[[1u8; 32]]);
        let both = Keyring::new(&[[2u8; 32], [1u8; 32]]);
        let sealed = old.seal("storefronts.merchant_key:sf_a", "mk-123");
        assert!(sealed.starts_with(&format!("pdenc:v1:{}:", key_id(&[1u8; 32]))));
        assert!(!sealed.contains("mk-123"));
        assert_ne!(sealed, old.seal("storefronts.merchant_key:sf_a", "mk-123"));
        assert_eq!(
            both.open("storefronts.merchant_key:sf_a", &sealed).unwrap(),
            "mk-123"
        );
        // Copied to another row or column: refused.
        assert_eq!(
            both.open("storefronts.merchant_key:sf_b", &sealed),
            Err(None)
        );
        assert_eq!(
            both.open("storefronts.cancel_password:sf_a", &sealed),
            Err(None)
        );
        let newer = Keyring::new(&[[3u8; 32]]);
        assert_eq!(
            newer.open("storefronts.merchant_key:sf_a", &sealed),
            Err(Some(key_id(&[1u8; 32])))
        );
        assert_eq!(both.open("x", "plaintext"), Err(None));
        assert_eq!(stored_key_id("plaintext"), None);
        assert_eq!(stored_key_id(&sealed), Some(key_id(&[1u8; 32]).as_str()));
        assert_eq!(parse_key(&B64.encode([9u8; 32])), Some([9u8; 32]));
        assert_eq!(parse_key(&B64.encode([9u8; 31])), None);
    }
}
