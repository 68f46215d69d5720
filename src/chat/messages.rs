//! What the chat actor understands and answers. Command bodies deserialise straight from a
//! WebSocket frame's `data`; the caller's identity is never part of them, it is added by
//! [`As::new`] from the authenticated session, so a client cannot speak for someone else.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

pub use crate::domain::As;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Open {
    pub peer_id: i64,
    #[serde(default)]
    pub listing_ref: Option<String>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct List {
    #[serde(default)]
    pub limit: Option<i64>,
    #[serde(default)]
    pub before: Option<i64>,
    /// With `before`: the id of the last conversation of the previous page, so that
    /// conversations sharing its `last_message_at` are neither skipped nor repeated.
    #[serde(default)]
    pub before_id: Option<i64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Send {
    pub conversation_id: i64,
    pub client_id: String,
    /// A text message…
    #[serde(default)]
    pub text: Option<String>,
    /// …or a photo: the id of a `chat_photo` upload of the sender's.
    #[serde(default)]
    pub media_id: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct History {
    pub conversation_id: i64,
    #[serde(default)]
    pub before_seq: Option<i64>,
    #[serde(default)]
    pub limit: Option<i64>,
}

/// `chat.held`: the caller's own texts in the conversation that a moderation rule holds, so
/// that a client shows them (under review) after a reload.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListHeld {
    pub conversation_id: i64,
}

#[derive(Debug, Serialize, sqlx::FromRow)]
pub struct HeldText {
    pub client_id: String,
    pub text: String,
    pub created_at: i64,
}

#[derive(Debug, Serialize)]
pub struct HeldTexts {
    pub conversation_id: i64,
    pub held: Vec<HeldText>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Sync {
    /// Conversation id (as a JSON object key, so a string) → highest seq the client holds.
    pub cursors: HashMap<String, i64>,
    #[serde(default)]
    pub limit: Option<i64>,
}

/// `chat.recall` (撤回): the sender takes a message back within the recall window.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Recall {
    pub conversation_id: i64,
    pub seq: i64,
}

#[derive(Debug, Serialize)]
pub struct Recalled {
    pub conversation_id: i64,
    pub seq: i64,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MarkRead {
    pub conversation_id: i64,
    pub seq: i64,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Typing {
    pub conversation_id: i64,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PresenceQuery {
    pub user_ids: Vec<i64>,
}

/// Read from a `messages` row by column name (`sqlx::FromRow`).
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct MessageView {
    pub conversation_id: i64,
    pub seq: i64,
    pub sender_id: i64,
    pub client_id: String,
    pub kind: String,
    #[sqlx(rename = "body")]
    pub text: String,
    pub created_at: i64,
    /// For a message a moderator took down (`kind` `removed`): the decision its sender may
    /// appeal (`appeal.create`) while the window lasts.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub removed_item_id: Option<i64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct PeerView {
    pub id: i64,
    pub nickname: String,
    pub avatar: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ConversationView {
    pub id: i64,
    pub listing_ref: String,
    pub created_at: i64,
    pub last_message_at: i64,
    pub last_seq: i64,
    pub peer: PeerView,
    pub last_message: Option<MessageView>,
    pub unread: i64,
    pub my_last_read_seq: i64,
    pub peer_last_read_seq: i64,
    pub peer_online: bool,
    pub peer_last_seen_at: Option<i64>,
}

#[derive(Debug, Serialize)]
pub struct Opened {
    pub conversation: ConversationView,
    pub created: bool,
}

#[derive(Debug, Serialize)]
pub struct Conversations {
    pub conversations: Vec<ConversationView>,
    /// Older conversations remain (the page was full, or the reply reached its byte limit):
    /// ask again from the last one.
    pub more: bool,
}

#[derive(Debug, Serialize)]
pub struct Sent {
    pub message: MessageView,
    pub duplicate: bool,
    /// A photo waiting for a moderator: `message.seq` is 0 and nothing is delivered yet; the
    /// message arrives as `chat.message` once approved (or `moderation.decided` rejects it).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub held: bool,
}

#[derive(Debug, Serialize)]
pub struct Page {
    pub messages: Vec<MessageView>,
    pub more: bool,
}

#[derive(Debug, Serialize)]
pub struct SyncStream {
    pub conversation_id: i64,
    pub messages: Vec<MessageView>,
    pub more: bool,
}

#[derive(Debug, Serialize)]
pub struct Synced {
    pub results: Vec<SyncStream>,
}

#[derive(Debug, Serialize)]
pub struct ReadUpTo {
    pub last_read_seq: i64,
}

#[derive(Debug, Serialize)]
pub struct TypingRelayed {
    pub delivered: bool,
}

#[derive(Debug, Serialize)]
pub struct PresenceView {
    pub user_id: i64,
    pub online: bool,
    pub last_seen_at: Option<i64>,
}

#[derive(Debug, Serialize)]
pub struct Presences {
    pub presence: Vec<PresenceView>,
}

crate::command!(Open => Opened);
crate::command!(List => Conversations);
crate::command!(Send => Sent);
crate::command!(History => Page);
crate::command!(ListHeld => HeldTexts);
crate::command!(Sync => Synced);
crate::command!(MarkRead => ReadUpTo);
crate::command!(Recall => Recalled);
crate::command!(Typing => TypingRelayed);
crate::command!(PresenceQuery => Presences);
