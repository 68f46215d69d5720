//! The live domain's rules that need no database: statuses, texts, client ids and
//! the in-memory rate windows (unit-tested).

use std::collections::VecDeque;

use crate::error::{AppError, AppResult, ErrorCode};

/// What a room appraises (the catalogue's categories, shared with posts).
pub use crate::catalog::Category;

/// Where a room is in its life: `scheduled` → `live` ⇄ `paused` → `ended`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    Scheduled,
    Live,
    Paused,
    Ended,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Scheduled => "scheduled",
            Status::Live => "live",
            Status::Paused => "paused",
            Status::Ended => "ended",
        }
    }

    /// A stored status; an unknown one reads as ended (nothing more can happen in it).
    pub fn from_stored(s: &str) -> Status {
        match s {
            "scheduled" => Status::Scheduled,
            "live" => Status::Live,
            "paused" => Status::Paused,
            _ => Status::Ended,
        }
    }

    /// The status a host's command moves to from `self`, or why not.
    pub fn step(self, to: Status) -> AppResult<Status> {
        use Status::*;
        match (self, to) {
            (Ended, Ended) => Ok(Ended),
            (Ended, _) => Err(AppError::new(ErrorCode::RoomEnded, "the room has ended")),
            (Scheduled | Paused, Live) | (Live, Paused) | (_, Ended) => Ok(to),
            (Live, Live) | (Paused, Paused) => Ok(to),
            _ => Err(AppError::new(
                ErrorCode::Conflict,
                format!("a {} room cannot be {}", self.as_str(), to.as_str()),
            )),
        }
    }
}

/// A text a person typed (a title, a comment, a pinned notice): trimmed, 1..=`max`
/// characters, no NUL (no store can hold it).
pub fn text(field: &'static str, raw: &str, max: usize) -> AppResult<String> {
    let t = raw.trim();
    if t.is_empty() {
        return Err(AppError::field(field, "must not be empty"));
    }
    if t.contains('\0') {
        return Err(AppError::field(field, "must not contain NUL"));
    }
    if t.chars().count() > max {
        let mut e = AppError::new(
            ErrorCode::TextTooLong,
            format!("{field}: at most {max} characters"),
        );
        e.field = Some(field.to_string());
        return Err(e);
    }
    Ok(t.to_string())
}

/// A client's id for a comment (retries answer the same comment): 1..=64 visible ASCII.
pub fn client_id(raw: &str) -> AppResult<String> {
    if raw.is_empty() || raw.len() > 64 || !raw.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(AppError::field(
            "client_id",
            "1 to 64 visible ASCII characters",
        ));
    }
    Ok(raw.to_string())
}

/// A duration a host gives (mute, kick), ms, within `min..=max`.
pub fn duration(field: &'static str, ms: i64, min: i64, max: i64) -> AppResult<i64> {
    if (min..=max).contains(&ms) {
        Ok(ms)
    } else {
        Err(AppError::field(
            field,
            format!("must be between {min} and {max} ms"),
        ))
    }
}

/// A sliding window of events: at most `max` in any `window_ms`.
#[derive(Debug, Default)]
pub struct Window {
    times: VecDeque<i64>,
}

impl Window {
    /// Counts one at `now` if the window has room; otherwise how long until it has, ms.
    pub fn take(&mut self, now: i64, max: usize, window_ms: i64) -> Result<(), u64> {
        while self.times.front().is_some_and(|t| *t <= now - window_ms) {
            self.times.pop_front();
        }
        if self.times.len() >= max {
            let oldest = self.times.front().copied().unwrap_or(now);
            return Err((oldest + window_ms - now).max(1) as u64);
        }
        self.times.push_back(now);
        Ok(())
    }

    /// Counts up to `n` at `now`; answers how many fit.
    pub fn take_many(&mut self, now: i64, n: usize, max: usize, window_ms: i64) -> usize {
        (0..n)
            .take_while(|_| self.take(now, max, window_ms).is_ok())
            .count()
    }

    pub fn is_idle(&self, now: i64, window_ms: i64) -> bool {
        self.times.back().map_or(true, |t| *t <= now - window_ms)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn categories_round_trip_and_unknown_is_refused() {
        for c in Category::ALL {
            assert_eq!(Category::parse(c.as_str()).ok(), Some(c));
        }
        assert!(Category::parse("jadeite").is_err());
    }

    #[test]
    fn a_room_moves_forward_only() {
        use Status::*;
        assert_eq!(Scheduled.step(Live).ok(), Some(Live));
        assert_eq!(Live.step(Paused).ok(), Some(Paused));
        assert_eq!(Paused.step(Live).ok(), Some(Live));
        assert_eq!(Scheduled.step(Ended).ok(), Some(Ended));
        assert_eq!(Ended.step(Ended).ok(), Some(Ended));
        assert_eq!(
            Ended.step(Live).map_err(|e| e.code).err(),
            Some(ErrorCode::RoomEnded)
        );
        assert_eq!(
            Scheduled.step(Paused).map_err(|e| e.code).err(),
            Some(ErrorCode::Conflict)
        );
        assert_eq!(Status::from_stored("gone"), Ended);
    }

    #[test]
    fn texts_are_trimmed_bounded_and_never_empty() {
        assert_eq!(
            text("text", "  老坑种？ ", 4).ok().as_deref(),
            Some("老坑种？")
        );
        assert_eq!(
            text("text", "一二三四五", 4).map_err(|e| e.code).err(),
            Some(ErrorCode::TextTooLong)
        );
        assert!(text("text", "   ", 4).is_err());
        assert!(text("text", "a\0b", 4).is_err());
        assert!(client_id("c-1").is_ok());
        assert!(client_id("").is_err());
        assert!(client_id("有").is_err());
        assert!(client_id(&"x".repeat(65)).is_err());
    }

    #[test]
    fn a_window_refuses_past_its_cap_and_says_when() {
        let mut w = Window::default();
        assert!(w.take(1000, 2, 1000).is_ok());
        assert!(w.take(1100, 2, 1000).is_ok());
        assert_eq!(w.take(1200, 2, 1000), Err(800));
        assert!(w.take(2000, 2, 1000).is_ok(), "the first left the window");
        assert_eq!(w.take_many(2050, 5, 3, 1000), 1);
        assert!(!w.is_idle(2050, 1000));
        assert!(w.is_idle(5000, 1000));
    }
}
