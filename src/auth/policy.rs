//! Pure account rules: the parsed types that are the only way account input gets in, token
//! and code generation, and phone masking. No I/O here.

use std::fmt;

use base64::Engine;
use rand::{Rng, RngCore};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::{AppError, AppResult, ErrorCode};

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
/// Longest reason staff give for reading personal data, characters.
pub const REASON_MAX_CHARS: usize = 200;

pub fn mask_phone(phone: &str) -> String {
    let chars: Vec<char> = phone.chars().collect();
    if chars.len() < 8 {
        return "*".repeat(chars.len());
    }
    let head: String = chars[..3].iter().collect();
    let tail: String = chars[chars.len() - 4..].iter().collect();
    format!("{head}****{tail}")
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Buyer,
    Seller,
    Appraiser,
    Moderator,
    Admin,
}

impl Role {
    pub const ALL: [Role; 5] = [
        Role::Buyer,
        Role::Seller,
        Role::Appraiser,
        Role::Moderator,
        Role::Admin,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Buyer => "buyer",
            Role::Seller => "seller",
            Role::Appraiser => "appraiser",
            Role::Moderator => "moderator",
            Role::Admin => "admin",
        }
    }

    pub fn parse(raw: &str) -> AppResult<Self> {
        Self::ALL
            .into_iter()
            .find(|r| r.as_str() == raw)
            .ok_or_else(|| {
                AppError::field(
                    "role",
                    "expected buyer, seller, appraiser, moderator or admin",
                )
            })
    }

    /// Staff may see masked phone numbers and (later) queues.
    pub fn is_staff(self) -> bool {
        matches!(self, Role::Moderator | Role::Admin)
    }
}

/// A public display name: 1–24 characters after trimming, no control characters.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Nickname(String);

impl Nickname {
    pub const MAX_CHARS: usize = 24;

    pub fn parse(raw: &str) -> AppResult<Self> {
        let trimmed = raw.trim();
        let count = trimmed.chars().count();
        if count == 0 {
            return Err(AppError::field("nickname", "must not be empty"));
        }
        if count > Self::MAX_CHARS {
            return Err(AppError::field("nickname", "at most 24 characters"));
        }
        if trimmed.chars().any(char::is_control) {
            return Err(AppError::field(
                "nickname",
                "must not contain control characters",
            ));
        }
        Ok(Self(trimmed.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Gender {
    Male,
    Female,
    Other,
    Unspecified,
}

impl Gender {
    pub fn parse(raw: &str) -> AppResult<Self> {
        match raw {
            "male" => Ok(Self::Male),
            "female" => Ok(Self::Female),
            "other" => Ok(Self::Other),
            "unspecified" => Ok(Self::Unspecified),
            _ => Err(AppError::field(
                "gender",
                "expected male, female, other or unspecified",
            )),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Male => "male",
            Self::Female => "female",
            Self::Other => "other",
            Self::Unspecified => "unspecified",
        }
    }
}

/// Checks a free-text profile field's length and characters (newlines allowed).
pub fn parse_profile_text(field: &'static str, raw: &str, max_chars: usize) -> AppResult<String> {
    let trimmed = raw.trim();
    if trimmed.chars().count() > max_chars {
        return Err(AppError::field(
            field,
            format!("at most {max_chars} characters"),
        ));
    }
    if trimmed.chars().any(|c| c.is_control() && c != '\n') {
        return Err(AppError::field(
            field,
            "must not contain control characters",
        ));
    }
    Ok(trimmed.to_string())
}

pub const INTRO_MAX_CHARS: usize = 200;
pub const AVATAR_MAX_CHARS: usize = 512;
pub const DEVICE_MAX_CHARS: usize = 100;

/// A new password: 8–128 characters.
pub fn check_password(raw: &str) -> AppResult<()> {
    let count = raw.chars().count();
    if !(8..=128).contains(&count) {
        return Err(AppError::field("password", "must be 8 to 128 characters"));
    }
    Ok(())
}

/// A fresh six-digit one-time code.
pub fn new_login_code() -> String {
    format!("{:06}", rand::thread_rng().gen_range(0..1_000_000))
}

/// A fresh bearer token: 256 random bits, base64url without padding (valid in a
/// `Sec-WebSocket-Protocol` header).
pub fn new_token() -> String {
    let mut bytes = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut bytes);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// What is stored for a token or code: SHA-256, hex. Tokens carry 256 bits of entropy, so a
/// fast hash is enough; a code's hash is salted with its phone so equal codes differ.
pub fn hash_secret(parts: &[&str]) -> String {
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
    fn nicknames_are_checked() {
        assert_eq!(Nickname::parse("  玉石  ").expect("ok").as_str(), "玉石");
        for bad in ["", "   ", "a\u{7}b", &"长".repeat(25)] {
            assert!(Nickname::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn tokens_are_unique_and_header_safe() {
        let a = new_token();
        assert_ne!(a, new_token());
        assert_eq!(a.len(), 43);
        assert!(a
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'));
    }

    #[test]
    fn codes_are_six_digits() {
        for _ in 0..100 {
            let c = new_login_code();
            assert_eq!(c.len(), 6);
            assert!(c.chars().all(|c| c.is_ascii_digit()));
        }
    }
}
