//! What every domain actor's commands share: the caller's identity travels beside the command
//! body, never inside it. A body deserialises straight from a WebSocket frame's `data` or a
//! REST body; [`As::new`] adds the authenticated user, so a client cannot speak for someone
//! else. The caller's [`Identity`] (roles, [`Standing`], mute) is defined here, in the kernel,
//! so that every domain and transport reads it without naming `auth` (which resolves it from
//! a token) or `minors` (which decides the standing).

use futures_util::future::BoxFuture;
use serde::{Deserialize, Serialize};

use crate::error::{AppError, AppResult, ErrorCode};
use crate::phone::PhoneNumber;

// ---- The caller's identity: who is calling, with the standing every domain's gates read ----

/// Who is calling: resolved from a bearer token on every request and socket.
#[derive(Clone, Debug)]
pub struct Identity {
    pub user_id: i64,
    pub token_id: i64,
    pub roles: Vec<Role>,
    /// When the token stops working; live sockets are closed then too.
    pub expires_at: i64,
    /// What the account may do (age declared, guardian consent for under-14s).
    pub standing: Standing,
    /// No chat before this time (a moderator's mute); 0 when not muted.
    pub muted_until: i64,
}

impl Identity {
    pub fn is_staff(&self) -> bool {
        self.roles.iter().any(|r| r.is_staff())
    }
}

/// An account's roles: what it may do beyond a buyer's (the seller directory, appraisal, the
/// moderation console, administration).
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

/// What an account may do.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Standing {
    /// Everything.
    Full,
    /// No age declared yet: read-only until the user declares one.
    AgeUndeclared,
    /// Under 14 without a guardian's verified consent: no profile data, posting, chat or
    /// uploads.
    AwaitingGuardian,
}

impl Standing {
    /// The gate profile edits, chat, posting and uploads ask.
    pub fn require_full(self) -> AppResult<()> {
        match self {
            Standing::Full => Ok(()),
            Standing::AgeUndeclared => Err(AppError::new(
                ErrorCode::AgeRequired,
                "declare your date of birth (POST /api/me/age) before using this",
            )),
            Standing::AwaitingGuardian => Err(AppError::new(
                ErrorCode::GuardianRequired,
                "accounts under 14 need a guardian's consent first (POST /api/me/guardian/code)",
            )),
        }
    }
}

/// Longest reason staff give for what they do to an account (a correction, a read of
/// personal data), characters.
pub const REASON_MAX_CHARS: usize = 200;

// ---- Accounts, as every domain may ask about them ----

/// An account as another domain sees it.
#[derive(Clone, Debug)]
pub struct Account {
    pub id: i64,
    pub nickname: String,
    pub intro: String,
    pub avatar: Option<String>,
    /// The account's number; `None` once erased.
    pub phone: Option<PhoneNumber>,
    /// Deleted: only an anonymous shell remains.
    pub deleted: bool,
}

/// What any domain may ask of the accounts, answered by `auth` and handed to each domain at
/// start-up, so that no domain names `auth` or reads its tables.
pub trait Accounts: Send + Sync {
    /// The account, deleted or not; `None` when there never was one.
    fn find(&self, user_id: i64) -> BoxFuture<'_, AppResult<Option<Account>>>;
    /// Its roles as they are now (a change applies at once, not at the next login).
    fn roles(&self, user_id: i64) -> BoxFuture<'_, AppResult<Vec<Role>>>;
    /// Ends every session of the account (its sockets close at the next standing check).
    fn sign_out_everywhere(&self, user_id: i64, now: i64) -> BoxFuture<'_, AppResult<()>>;
    /// The account was last seen online at `at`.
    fn seen(&self, user_id: i64, at: i64) -> BoxFuture<'_, AppResult<()>>;
}

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
