//! The community's rules that need no database: a post's text, tags and media list, and the
//! home feed's keyset cursor (unit-tested).

use serde::{Deserialize, Serialize};

use crate::error::{AppError, AppResult, ErrorCode};

/// A post's text: trimmed, at most `max` characters, no NUL; may be empty when the post has
/// media.
pub fn text(raw: &str, max: usize, has_media: bool) -> AppResult<String> {
    let t = raw.trim();
    if t.is_empty() && !has_media {
        return Err(AppError::field(
            "text",
            "a post needs text, pictures or a video",
        ));
    }
    if t.contains('\0') {
        return Err(AppError::field("text", "must not contain NUL"));
    }
    if t.chars().count() > max {
        let mut e = AppError::new(
            ErrorCode::TextTooLong,
            format!("text: at most {max} characters"),
        );
        e.field = Some("text".into());
        return Err(e);
    }
    Ok(t.to_string())
}

/// Tags: trimmed, a leading `#` dropped, repeats once, at most `max` of at most `max_chars`.
pub fn tags(raw: &[String], max: usize, max_chars: usize) -> AppResult<Vec<String>> {
    let mut out: Vec<String> = Vec::new();
    for tag in raw {
        let t = tag.trim().trim_start_matches('#').trim();
        if t.is_empty() {
            continue;
        }
        if t.chars().count() > max_chars || t.chars().any(|c| c.is_control() || c.is_whitespace()) {
            return Err(AppError::field(
                "tags",
                format!("each tag is one word of at most {max_chars} characters"),
            ));
        }
        if !out.iter().any(|o| o == t) {
            out.push(t.to_string());
        }
    }
    if out.len() > max {
        return Err(AppError::field("tags", format!("at most {max} tags")));
    }
    Ok(out)
}

/// Where a page of a feed ends: the last post's publication time and id (newest first), so
/// that posts arriving meanwhile never shift a page (no holes, no repeats).
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq, PartialOrd, Ord)]
pub struct Cursor {
    pub published_at: i64,
    pub id: i64,
}

impl Cursor {
    /// Before every post (the first page).
    pub const TOP: Cursor = Cursor {
        published_at: i64::MAX,
        id: i64::MAX,
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn texts_and_tags_are_checked() {
        assert_eq!(
            text("  晒一下我的冰种手镯 ", 20, false).expect("ok"),
            "晒一下我的冰种手镯"
        );
        assert!(text("  ", 20, false).is_err(), "nothing to post");
        assert_eq!(text("", 20, true).expect("pictures only"), "");
        assert_eq!(
            text(&"玉".repeat(21), 20, false).expect_err("long").code,
            ErrorCode::TextTooLong
        );
        assert!(text("a\0b", 20, false).is_err());
        let t = tags(
            &[
                "#和田玉".into(),
                "和田玉".into(),
                " 籽料 ".into(),
                "".into(),
            ],
            5,
            10,
        )
        .expect("tags");
        assert_eq!(t, ["和田玉", "籽料"]);
        assert!(tags(&["两个 词".into()], 5, 10).is_err());
        assert!(tags(&["a".into(), "b".into(), "c".into()], 2, 10).is_err());
        assert!(tags(&["长".repeat(11)], 5, 10).is_err());
    }

    #[test]
    fn cursors_order_newest_first() {
        let a = Cursor {
            published_at: 10,
            id: 2,
        };
        let b = Cursor {
            published_at: 10,
            id: 3,
        };
        assert!(a < b && b < Cursor::TOP);
    }
}
