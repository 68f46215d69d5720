//! The server's own keys: the Ed25519 key that signs consent receipts and the master key that
//! protects phone numbers at rest.
//!
//! Each comes from its setting or, when that is unset, from a file in `<data_dir>/keys/`
//! created on first start (owner-only). A fingerprint of each key is recorded in the database
//! the first time it is used, and start-up refuses a different key afterwards: a node started
//! with the wrong phone key would otherwise silently register everyone anew.

use std::path::Path;

use anyhow::{bail, Context};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::Sha256;
use sqlx::Row;

use crate::config::Secret;
use crate::store::{now_ms, Db};

pub use crate::config::{decode_key, KeyBytes};

/// A subkey for one purpose, so that one master key never serves two algorithms.
pub fn derive(master: &KeyBytes, purpose: &str) -> KeyBytes {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(master).expect("HMAC takes any key size");
    mac.update(b"duoxie key derivation\0");
    mac.update(purpose.as_bytes());
    mac.finalize().into_bytes().into()
}

pub struct ServerKeys {
    pub receipt_seed: KeyBytes,
    pub phone_master: KeyBytes,
}

impl ServerKeys {
    /// The keys given by settings (`DUOXIE_PRIVACY_RECEIPT_KEY`, `DUOXIE_PRIVACY_PHONE_KEY`),
    /// or generated once into `<data_dir>/keys`.
    pub async fn load(
        data_dir: &Path,
        receipt_key: Option<&Secret>,
        phone_key: Option<&Secret>,
        db: &Db,
    ) -> anyhow::Result<ServerKeys> {
        let dir = data_dir.join("keys");
        let receipt_seed = key_from(
            receipt_key,
            &dir,
            "receipt_signing",
            "DUOXIE_PRIVACY_RECEIPT_KEY",
        )?;
        let phone_master = key_from(phone_key, &dir, "phone", "DUOXIE_PRIVACY_PHONE_KEY")?;
        check_fingerprint(
            db,
            "receipt_signing",
            &receipt_seed,
            "DUOXIE_PRIVACY_RECEIPT_KEY",
        )
        .await?;
        check_fingerprint(db, "phone", &phone_master, "DUOXIE_PRIVACY_PHONE_KEY").await?;
        Ok(ServerKeys {
            receipt_seed,
            phone_master,
        })
    }
}

fn key_from(
    setting: Option<&Secret>,
    dir: &Path,
    name: &str,
    setting_name: &str,
) -> anyhow::Result<KeyBytes> {
    if let Some(secret) = setting {
        return decode_key(secret.expose())
            .with_context(|| format!("invalid setting {setting_name}"));
    }
    let path = dir.join(format!("{name}.key"));
    match std::fs::read_to_string(&path) {
        Ok(text) => decode_key(&text).with_context(|| format!("key file {}", path.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            std::fs::create_dir_all(dir).with_context(|| format!("create {}", dir.display()))?;
            let mut key = [0u8; 32];
            rand::rngs::OsRng.fill_bytes(&mut key);
            write_new_owner_only(&path, &STANDARD.encode(key))?;
            tracing::info!(path = %path.display(), "generated a new key; back it up");
            // Another process may have won the race to create it: use whatever is on disk.
            let text = std::fs::read_to_string(&path)
                .with_context(|| format!("read {}", path.display()))?;
            decode_key(&text).with_context(|| format!("key file {}", path.display()))
        }
        Err(e) => Err(e).with_context(|| format!("read key file {}", path.display())),
    }
}

fn write_new_owner_only(path: &Path, text: &str) -> anyhow::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    match options.open(path) {
        Ok(mut file) => file
            .write_all(text.as_bytes())
            .and_then(|()| file.sync_all())
            .with_context(|| format!("write {}", path.display())),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(e).with_context(|| format!("create {}", path.display())),
    }
}

/// A one-way fingerprint: says whether two keys are the same without revealing either.
fn fingerprint(key: &KeyBytes) -> String {
    derive(key, "fingerprint")[..12]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

async fn check_fingerprint(
    db: &Db,
    name: &str,
    key: &KeyBytes,
    setting_name: &str,
) -> anyhow::Result<()> {
    let mine = fingerprint(key);
    sqlx::query(
        "INSERT INTO server_keys (name, fingerprint, created_at) VALUES ($1, $2, $3) \
         ON CONFLICT (name) DO NOTHING",
    )
    .bind(name)
    .bind(&mine)
    .bind(now_ms())
    .execute(db)
    .await?;
    let recorded: String = sqlx::query("SELECT fingerprint FROM server_keys WHERE name = $1")
        .bind(name)
        .fetch_one(db)
        .await?
        .try_get(0)?;
    if recorded != mine {
        bail!(
            "invalid setting {setting_name}: this database was set up with another {name} key \
             (fingerprint {recorded}, this node has {mine}); every node must use the same key"
        );
    }
    Ok(())
}

/// What is stored for a token or code: SHA-256, hex. Tokens carry 256 bits of entropy, so a
/// fast hash is enough; a code's hash is salted with its phone so equal codes differ.
pub fn hash_secret(parts: &[&str]) -> String {
    use sha2::Digest;
    let mut hasher = Sha256::new();
    for part in parts {
        hasher.update(part.as_bytes());
        hasher.update([0u8]);
    }
    hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subkeys_differ_by_purpose_and_keys_must_be_32_bytes() {
        let master = [7u8; 32];
        assert_ne!(derive(&master, "a"), derive(&master, "b"));
        assert_eq!(derive(&master, "a"), derive(&master, "a"));
        assert!(decode_key(&STANDARD.encode([1u8; 32])).is_ok());
        assert!(decode_key(&STANDARD.encode([1u8; 16])).is_err());
        assert!(decode_key("not base64!").is_err());
    }
}
