//! What every domain actor's commands share: the caller's identity travels beside the command
//! body, never inside it. A body deserialises straight from a WebSocket frame's `data` or a
//! REST body; [`As::new`] adds the authenticated user, so a client cannot speak for someone
//! else.

/// A command on behalf of an authenticated user.
pub struct As<T> {
    pub user_id: i64,
    pub body: T,
}

impl<T> As<T> {
    pub fn new(user_id: i64, body: T) -> Self {
        Self { user_id, body }
    }
}

/// `command!(Body => Reply)`: `As<Body>` is an actix message answered with `AppResult<Reply>`.
#[macro_export]
macro_rules! command {
    ($body:ty => $reply:ty) => {
        impl actix::Message for $crate::domain::As<$body> {
            type Result = $crate::error::AppResult<$reply>;
        }
    };
}

/// The bytes a reply may still carry (`DUOXIE_WS_MAX_REPLY_BYTES`): a domain that answers
/// with a list stops adding items when the next one does not fit, and says `more`. The first
/// item always fits, so a client that pages on `more` always makes progress, and no reply
/// grows past the budget by more than one item.
#[derive(Debug)]
pub struct ReplyBudget {
    left: usize,
    empty: bool,
}

impl ReplyBudget {
    pub fn new(max_bytes: usize) -> Self {
        Self {
            left: max_bytes,
            empty: true,
        }
    }

    /// Makes room for `item` as it will be serialised; false when it does not fit.
    pub fn take<T: serde::Serialize>(&mut self, item: &T) -> bool {
        let mut counter = ByteCounter(0);
        // Writing to a counter cannot fail; a type that fails to serialise fails later anyway.
        let _ = serde_json::to_writer(&mut counter, item);
        self.take_bytes(counter.0 + 1)
    }

    /// Makes room for `n` bytes of framing; false when they do not fit.
    pub fn take_bytes(&mut self, n: usize) -> bool {
        if n > self.left && !self.empty {
            self.left = 0;
            return false;
        }
        self.left = self.left.saturating_sub(n);
        self.empty = false;
        true
    }

    /// Whether nothing more fits.
    pub fn spent(&self) -> bool {
        self.left == 0 && !self.empty
    }
}

struct ByteCounter(usize);

impl std::io::Write for ByteCounter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0 += buf.len();
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::ReplyBudget;

    #[test]
    fn a_budget_always_takes_the_first_item_then_stops_at_its_size() {
        let big = "x".repeat(1000);
        let mut budget = ReplyBudget::new(10);
        assert!(budget.take(&big), "the first item fits whatever its size");
        assert!(
            !budget.take(&"y"),
            "nothing fits after an oversized first item"
        );
        assert!(budget.spent());

        let mut budget = ReplyBudget::new(25);
        assert!(budget.take(&"abcdefghij"), "13 bytes of 25");
        assert!(!budget.take(&"abcdefghij"), "26 > 25");
        assert!(budget.spent(), "a refusal ends the reply");
        assert!(!budget.take(&""), "even small items stop once spent");
    }

    #[test]
    fn a_budget_counts_escapes_as_serialised() {
        let mut budget = ReplyBudget::new(100);
        assert!(budget.take(&"\"\""), "\"\\\"\\\"\" is 6 bytes + 1");
        assert_eq!(budget.left, 93);
    }
}
