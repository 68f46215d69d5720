//! Pure chat rules: what a valid message text, client id and listing reference are, and who
//! the other participant of a conversation is. Unit-tested here; no I/O.

use crate::error::{AppError, AppResult, ErrorCode};

/// What a message carries: text, or a photo (its media id) that passed screening.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Content {
    pub kind: &'static str,
    pub body: String,
}

impl Content {
    pub fn text(text: ChatText) -> Self {
        Self {
            kind: "text",
            body: text.0,
        }
    }

    pub fn photo(media_id: String) -> Self {
        Self {
            kind: "photo",
            body: media_id,
        }
    }
}

/// Message text: non-empty after trimming, at most `max_chars` characters, no control
/// characters other than newline and tab.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChatText(String);

impl ChatText {
    pub fn parse(raw: &str, max_chars: usize) -> AppResult<Self> {
        let trimmed = raw.trim();
        if trimmed.is_empty() {
            return Err(AppError::field("text", "must not be empty"));
        }
        if trimmed.chars().count() > max_chars {
            return Err(AppError::new(
                ErrorCode::TextTooLong,
                format!("text is longer than {max_chars} characters"),
            ));
        }
        if trimmed
            .chars()
            .any(|c| c.is_control() && c != '\n' && c != '\t')
        {
            return Err(AppError::field(
                "text",
                "must not contain control characters",
            ));
        }
        Ok(Self(trimmed.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The client's id for a send, which makes retries idempotent: 1–64 visible ASCII characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientId(String);

impl ClientId {
    pub fn parse(raw: &str) -> AppResult<Self> {
        let ok = (1..=64).contains(&raw.len()) && raw.bytes().all(|b| b.is_ascii_graphic());
        if ok {
            Ok(Self(raw.to_string()))
        } else {
            Err(AppError::field(
                "client_id",
                "1 to 64 visible ASCII characters",
            ))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// What a conversation is about (an item); empty when about nothing in particular.
pub fn parse_listing_ref(raw: Option<&str>) -> AppResult<String> {
    let value = raw.unwrap_or("").trim();
    if value.chars().count() > 128 || value.chars().any(char::is_control) {
        return Err(AppError::field(
            "listing_ref",
            "at most 128 characters, no control characters",
        ));
    }
    Ok(value.to_string())
}

/// A conversation's two participants, stored lowest id first so that a pair (and listing)
/// maps to exactly one row.
pub fn ordered_pair(a: i64, b: i64) -> (i64, i64) {
    (a.min(b), a.max(b))
}

/// The other participant, or `None` when `me` is not one of them.
pub fn peer_of(me: i64, (a, b): (i64, i64)) -> Option<i64> {
    if me == a {
        Some(b)
    } else if me == b {
        Some(a)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chat_text_rules() {
        assert_eq!(
            ChatText::parse("  你好 \n", 10).expect("ok").as_str(),
            "你好"
        );
        let cases: [(&str, usize, &str); 4] = [
            ("", 10, "invalid_field"),
            ("   ", 10, "invalid_field"),
            ("12345678901", 10, "text_too_long"),
            ("a\u{0}b", 10, "invalid_field"),
        ];
        for (raw, max, code) in cases {
            let err = ChatText::parse(raw, max).expect_err(raw);
            assert_eq!(err.code.as_str(), code, "{raw:?}");
        }
        // Characters, not bytes: 10 Chinese characters are 30 bytes and still fit.
        assert!(ChatText::parse(&"玉".repeat(10), 10).is_ok());
    }

    #[test]
    fn client_id_rules() {
        assert!(ClientId::parse("m-1").is_ok());
        for bad in ["", "has space", "é", &"x".repeat(65)] {
            assert!(ClientId::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn peers() {
        assert_eq!(ordered_pair(9, 3), (3, 9));
        assert_eq!(peer_of(3, (3, 9)), Some(9));
        assert_eq!(peer_of(9, (3, 9)), Some(3));
        assert_eq!(peer_of(4, (3, 9)), None);
    }

    #[test]
    fn listing_refs() {
        assert_eq!(parse_listing_ref(None).expect("ok"), "");
        assert_eq!(parse_listing_ref(Some(" ring-1 ")).expect("ok"), "ring-1");
        assert!(parse_listing_ref(Some(&"x".repeat(129))).is_err());
    }
}
