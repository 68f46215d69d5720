//! Phone numbers, the one personal identifier several domains handle (accounts log in with
//! one, a guardian is named by one): [`PhoneNumber`], which prints masked, and the
//! [`PhoneVault`] that keeps them at rest.
//!
//! At rest (policy: 个人信息的保存/安全): stored only sealed with
//! XChaCha20-Poly1305, and found by an HMAC-SHA256 keyed hash, so that a copy of the database
//! alone reveals no number. Both keys are derived from the phone master key
//! ([`crate::keys`]). The user id is bound into the seal as associated data, so a sealed
//! number copied onto another account does not open.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::Sha256;

use std::fmt;

use crate::error::{AppError, AppResult, ErrorCode};
use crate::keys::{derive, KeyBytes};

/// A mainland-China mobile number, normalised to its 11 digits. `Debug` and `Display` print
/// it masked, so that a stray `{:?}` cannot leak it into a log.
#[derive(Clone, PartialEq, Eq)]
pub struct PhoneNumber(String);

impl PhoneNumber {
    pub fn parse(raw: &str) -> AppResult<Self> {
        let compact: String = raw.chars().filter(|c| !matches!(c, ' ' | '-')).collect();
        let digits = compact
            .strip_prefix("+86")
            .or_else(|| compact.strip_prefix("0086"))
            .unwrap_or(&compact);
        let bytes = digits.as_bytes();
        let ok = bytes.len() == 11
            && bytes.iter().all(u8::is_ascii_digit)
            && bytes[0] == b'1'
            && (b'3'..=b'9').contains(&bytes[1]);
        if ok {
            Ok(Self(digits.to_string()))
        } else {
            Err(AppError::new(
                ErrorCode::InvalidPhone,
                "not a mainland mobile number (11 digits starting 13-19)",
            ))
        }
    }

    /// The full number, for storage and for the code sender only.
    pub fn expose(&self) -> &str {
        &self.0
    }

    pub fn masked(&self) -> String {
        mask_phone(&self.0)
    }
}

impl fmt::Debug for PhoneNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PhoneNumber({})", self.masked())
    }
}

impl fmt::Display for PhoneNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.masked())
    }
}

/// `13812341234` → `138****1234`; anything shorter is fully starred.
pub fn mask_phone(phone: &str) -> String {
    let chars: Vec<char> = phone.chars().collect();
    if chars.len() < 8 {
        return "*".repeat(chars.len());
    }
    let head: String = chars[..3].iter().collect();
    let tail: String = chars[chars.len() - 4..].iter().collect();
    format!("{head}****{tail}")
}

const SEALED_PREFIX: &str = "x1:";
const LOOKUP_PREFIX: &str = "h1:";

pub struct PhoneVault {
    cipher: XChaCha20Poly1305,
    lookup_key: KeyBytes,
}

impl PhoneVault {
    pub fn new(master: &KeyBytes) -> Self {
        Self {
            cipher: XChaCha20Poly1305::new(&derive(master, "phone encryption").into()),
            lookup_key: derive(master, "phone lookup"),
        }
    }

    /// The deterministic, keyed lookup value stored in `users.phone_lookup`.
    pub fn lookup(&self, phone: &PhoneNumber) -> String {
        let mut mac =
            <Hmac<Sha256> as Mac>::new_from_slice(&self.lookup_key).expect("any key size");
        mac.update(phone.expose().as_bytes());
        let digest = mac.finalize().into_bytes();
        let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
        format!("{LOOKUP_PREFIX}{hex}")
    }

    /// `x1:` + base64(nonce ‖ ciphertext), bound to `user_id`.
    pub fn seal(&self, phone: &PhoneNumber, user_id: i64) -> String {
        let mut nonce = [0u8; 24];
        rand::rngs::OsRng.fill_bytes(&mut nonce);
        let aad = user_id.to_be_bytes();
        let sealed = self
            .cipher
            .encrypt(
                XNonce::from_slice(&nonce),
                Payload {
                    msg: phone.expose().as_bytes(),
                    aad: &aad,
                },
            )
            .expect("XChaCha20-Poly1305 encryption of a short message cannot fail");
        let mut out = nonce.to_vec();
        out.extend_from_slice(&sealed);
        format!("{SEALED_PREFIX}{}", STANDARD.encode(out))
    }

    pub fn open(&self, sealed: &str, user_id: i64) -> anyhow::Result<PhoneNumber> {
        let raw = sealed
            .strip_prefix(SEALED_PREFIX)
            .ok_or_else(|| anyhow::anyhow!("not a sealed phone number"))?;
        let bytes = STANDARD.decode(raw)?;
        if bytes.len() < 24 + 16 {
            anyhow::bail!("sealed phone number too short");
        }
        let (nonce, ciphertext) = bytes.split_at(24);
        let aad = user_id.to_be_bytes();
        let plain = self
            .cipher
            .decrypt(
                XNonce::from_slice(nonce),
                Payload {
                    msg: ciphertext,
                    aad: &aad,
                },
            )
            .map_err(|_| anyhow::anyhow!("sealed phone number does not open with this key"))?;
        let text = String::from_utf8(plain)?;
        PhoneNumber::parse(&text).map_err(|e| anyhow::anyhow!(e.message))
    }

    /// The number stored on an account; `None` once erased (or if it does not open).
    pub fn phone_of(&self, sealed: Option<&str>, user_id: i64) -> Option<PhoneNumber> {
        self.open(sealed?, user_id).ok()
    }

    /// Whether a stored `phone_lookup` is still a legacy plain number (before sealing).
    pub fn is_legacy(stored_lookup: &str) -> bool {
        !stored_lookup.starts_with(LOOKUP_PREFIX) && !stored_lookup.starts_with("deleted:")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn valid_phone_numbers_are_normalised() {
        for (raw, want) in [
            ("13812341234", "13812341234"),
            ("+86 138 1234 1234", "13812341234"),
            ("0086-19912341234", "19912341234"),
        ] {
            assert_eq!(PhoneNumber::parse(raw).expect(raw).expose(), want, "{raw}");
        }
    }

    #[test]
    fn invalid_phone_numbers_are_refused() {
        for raw in [
            "",
            "1381234123",
            "138123412345",
            "12812341234",
            "23812341234",
            "1381234123a",
            "+1 2125551234",
            "１３８１２３４１２３４",
        ] {
            assert!(
                PhoneNumber::parse(raw).is_err(),
                "{raw:?} should be refused"
            );
        }
    }

    #[test]
    fn phones_print_masked() {
        let p = PhoneNumber::parse("13812341234").expect("valid");
        assert_eq!(format!("{p}"), "138****1234");
        assert_eq!(format!("{p:?}"), "PhoneNumber(138****1234)");
    }

    #[test]
    fn sealed_numbers_open_only_with_the_key_and_the_owner() {
        let vault = PhoneVault::new(&[1u8; 32]);
        let phone = PhoneNumber::parse("13912345678").expect("valid");
        let sealed = vault.seal(&phone, 7);
        assert!(!sealed.contains("13912345678"));
        assert_ne!(sealed, vault.seal(&phone, 7), "random nonce per seal");
        assert_eq!(
            vault.open(&sealed, 7).expect("opens").expose(),
            "13912345678"
        );
        assert!(vault.open(&sealed, 8).is_err(), "bound to the user id");
        assert!(PhoneVault::new(&[2u8; 32]).open(&sealed, 7).is_err());
        let mut tampered = sealed.clone();
        tampered.pop();
        tampered.push(if sealed.ends_with('A') { 'B' } else { 'A' });
        assert!(vault.open(&tampered, 7).is_err());
    }

    #[test]
    fn lookup_is_stable_keyed_and_not_the_number() {
        let a = PhoneVault::new(&[1u8; 32]);
        let b = PhoneVault::new(&[2u8; 32]);
        let phone = PhoneNumber::parse("13912345678").expect("valid");
        assert_eq!(a.lookup(&phone), a.lookup(&phone));
        assert_ne!(a.lookup(&phone), b.lookup(&phone));
        assert!(!a.lookup(&phone).contains("1391234"));
        assert!(!PhoneVault::is_legacy(&a.lookup(&phone)));
        assert!(PhoneVault::is_legacy("13912345678"));
    }
}
