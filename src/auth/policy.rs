//! Pure account rules: the parsed types that are the only way account input gets in, token
//! and code generation, and phone masking. No I/O here.

use base64::Engine;
use rand::RngCore;
use serde::{Deserialize, Serialize};

use crate::error::{AppError, AppResult};

pub use crate::domain::REASON_MAX_CHARS;

pub use crate::domain::Role;
pub use crate::phone::PhoneNumber;

/// A public display name: 1–24 characters after trimming, no control characters, nothing
/// that deceives: invisible characters are dropped, direction controls (which make a name
/// read as another) and stacks of combining marks (Zalgo) are refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Nickname(String);

/// Zero-width and other invisible characters: dropped from a name.
const INVISIBLE: &[char] = &[
    '\u{00AD}', '\u{180E}', '\u{200B}', '\u{200C}', '\u{200D}', '\u{2060}', '\u{2061}', '\u{2062}',
    '\u{2063}', '\u{2064}', '\u{FEFF}', '\u{3164}', '\u{115F}', '\u{1160}',
];
/// Characters that change the direction text is shown in: refused in a name.
const DIRECTION_CONTROLS: &[char] = &[
    '\u{061C}', '\u{200E}', '\u{200F}', '\u{202A}', '\u{202B}', '\u{202C}', '\u{202D}', '\u{202E}',
    '\u{2066}', '\u{2067}', '\u{2068}', '\u{2069}',
];
/// Combining marks one character may carry (a Vietnamese letter needs two).
const MAX_MARKS_PER_CHAR: usize = 2;
/// Words only the platform's staff may show in a name: the brand and what claims an office,
/// matched after moderation's normalisation (case, full-width and l33t forms folded).
const RESERVED_WORDS: &[&str] = &[
    "多些",
    "官方",
    "客服",
    "管理员",
    "管理員",
    "系统",
    "系統",
    "duoxie",
    "official",
    "support",
    "admin",
    "moderator",
    "staff",
];

impl Nickname {
    pub const MAX_CHARS: usize = 24;

    pub fn parse(raw: &str) -> AppResult<Self> {
        if raw.chars().any(|c| DIRECTION_CONTROLS.contains(&c)) {
            return Err(AppError::field(
                "nickname",
                "must not contain direction-control characters",
            ));
        }
        let visible: String = raw.chars().filter(|c| !INVISIBLE.contains(c)).collect();
        let mut marks = 0;
        for c in visible.chars() {
            marks = if unicode_normalization::char::is_combining_mark(c) {
                marks + 1
            } else {
                0
            };
            if marks > MAX_MARKS_PER_CHAR {
                return Err(AppError::field(
                    "nickname",
                    "too many combining marks on one character",
                ));
            }
        }
        let trimmed = visible.trim();
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

    /// For a name chosen by someone who is not staff: no brand or office words, and not the
    /// pattern the platform gives new accounts (`用户` and digits), which would pass for
    /// another user.
    pub fn check_not_reserved(&self) -> AppResult<()> {
        let folded = crate::moderation::policy::normalise_letters(&self.0);
        if RESERVED_WORDS.iter().any(|w| folded.contains(w)) {
            return Err(AppError::field(
                "nickname",
                "must not claim to be the platform or its staff",
            ));
        }
        if is_default_name(&self.0) {
            return Err(AppError::field(
                "nickname",
                "names like 用户123 are given by the platform",
            ));
        }
        Ok(())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// `用户` followed only by digits (any width): the names the platform gives.
pub fn is_default_name(name: &str) -> bool {
    use unicode_normalization::UnicodeNormalization;
    let folded: String = name.nfkc().filter(|c| !c.is_whitespace()).collect();
    folded
        .strip_prefix("用户")
        .is_some_and(|rest| !rest.is_empty() && rest.chars().all(|c| c.is_ascii_digit()))
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
/// A fresh bearer token: 256 random bits, base64url without padding (valid in a
/// `Sec-WebSocket-Protocol` header).
pub fn new_token() -> String {
    let mut bytes = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut bytes);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

pub use crate::keys::hash_secret;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nicknames_are_checked() {
        assert_eq!(Nickname::parse("  玉石  ").expect("ok").as_str(), "玉石");
        for bad in ["", "   ", "a\u{7}b", &"长".repeat(25)] {
            assert!(Nickname::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn names_that_deceive_are_refused_or_cleaned() {
        for (raw, why) in [
            ("abc\u{202E}gnp.exe", "right-to-left override"),
            ("\u{2067}卖家\u{2069}", "isolate"),
            ("Z\u{0351}\u{0358}\u{0362}a", "Zalgo stack"),
            ("\u{200B}\u{200D}", "only invisible characters"),
        ] {
            assert!(Nickname::parse(raw).is_err(), "{why}: {raw:?}");
        }
        assert_eq!(
            Nickname::parse("玉\u{200B}石\u{FEFF}")
                .expect("cleaned")
                .as_str(),
            "玉石",
            "invisible characters are dropped"
        );
        assert!(
            Nickname::parse("Nguyễn").is_ok(),
            "two marks on a letter are fine"
        );
        for reserved in [
            "多些官方客服",
            "Duoxie official support",
            "DU0XIE",
            "ｄｕｏｘｉｅ",
            "平台管理员",
            "Admin小王",
            "用户1234",
            "用户１２３",
        ] {
            let name = Nickname::parse(reserved).expect("well-formed");
            assert!(name.check_not_reserved().is_err(), "{reserved:?}");
        }
        for fine in ["翡翠小王", "用户体验好", "Jade Lover", "和田玉收藏"] {
            let name = Nickname::parse(fine).expect("well-formed");
            assert!(name.check_not_reserved().is_ok(), "{fine:?}");
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
}
