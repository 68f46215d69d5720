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

/// Most characters of a search query that count (its bigrams are looked up).
pub const QUERY_MAX_CHARS: usize = 32;

/// Text as search compares it: NFKC (full-width letters and digits as plain ones), lower
/// case, and only letters and digits (Chinese characters are letters), in runs.
fn search_runs(text: &str) -> Vec<Vec<char>> {
    use unicode_normalization::UnicodeNormalization;
    let mut runs = vec![Vec::new()];
    for c in text.nfkc().flat_map(char::to_lowercase) {
        if c.is_alphanumeric() {
            if let Some(run) = runs.last_mut() {
                run.push(c);
            }
        } else if runs.last().is_some_and(|r| !r.is_empty()) {
            runs.push(Vec::new());
        }
    }
    runs.retain(|r| !r.is_empty());
    runs
}

/// What a post is indexed under: every character and every bigram of its text and tags.
/// Chinese has no spaces to split words at, and a bigram index finds a word inside a longer
/// run ("和田玉" in "新疆和田玉籽料手镯") on any SQL store with a plain index, with no
/// dictionary to ship or keep current.
pub fn index_terms(text: &str) -> Vec<String> {
    let mut terms: Vec<String> = Vec::new();
    for run in search_runs(text) {
        for (i, c) in run.iter().enumerate() {
            terms.push(c.to_string());
            if let Some(next) = run.get(i + 1) {
                terms.push([*c, *next].iter().collect());
            }
        }
    }
    terms.sort_unstable();
    terms.dedup();
    terms
}

/// What a query looks up: its bigrams (a one-character query: the character), and the
/// normalised query itself for ranking exact matches first. `None` for a query with no
/// letter or digit.
pub fn query_terms(query: &str) -> Option<(Vec<String>, String)> {
    let runs = search_runs(query);
    let chars: Vec<char> = runs
        .iter()
        .flatten()
        .copied()
        .take(QUERY_MAX_CHARS)
        .collect();
    if chars.is_empty() {
        return None;
    }
    let mut terms: Vec<String> = Vec::new();
    for run in &runs {
        if run.len() == 1 {
            terms.push(run[0].to_string());
        }
        for pair in run.windows(2) {
            terms.push(pair.iter().collect());
        }
    }
    terms.sort_unstable();
    terms.dedup();
    terms.truncate(QUERY_MAX_CHARS);
    let phrase = runs
        .first()
        .map(|r| r.iter().take(QUERY_MAX_CHARS).collect())
        .unwrap_or_default();
    Some((terms, phrase))
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
    fn a_word_is_found_inside_a_longer_run() {
        let indexed = index_terms("新疆和田玉籽料手镯 #和田玉");
        let (terms, phrase) = query_terms("和田玉").expect("terms");
        assert_eq!(terms, ["和田", "田玉"]);
        assert_eq!(phrase, "和田玉");
        assert!(terms.iter().all(|t| indexed.contains(t)));
        let (one, _) = query_terms("玉").expect("one character");
        assert_eq!(one, ["玉"]);
        assert!(indexed.contains(&"玉".to_string()));
        // Full-width and case fold to the plain form.
        let (latin, _) = query_terms("ＡＢｃ").expect("latin");
        assert_eq!(latin, ["ab", "bc"]);
        assert!(query_terms(" ！？ ").is_none());
        assert!(!index_terms("新疆和田玉").contains(&"玉籽".to_string()));
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
