//! The live domain's command bodies, replies and views (docs/protocol.md, "Live rooms").

use serde::{Deserialize, Serialize};

/// Who said or did something, as every member sees them.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct UserRef {
    pub id: Option<i64>,
    pub nickname: String,
    pub avatar: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct RoomView {
    pub id: i64,
    pub host: UserRef,
    pub title: String,
    pub category: String,
    pub cover: Option<String>,
    pub status: String,
    pub scheduled_at: Option<i64>,
    pub created_at: i64,
    pub started_at: Option<i64>,
    pub ended_at: Option<i64>,
    pub viewers: i64,
    pub likes: i64,
    pub pinned: Option<String>,
    pub seq: i64,
    pub hidden: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct CommentView {
    pub seq: i64,
    pub user: UserRef,
    pub text: String,
    pub at: i64,
    /// Only in a recovery's `missed`: a comment removed since (its text is gone).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub removed: bool,
}

/// One numbered event as `missed` carries it: `{"type","seq","data"}` like the live frame.
#[derive(Debug, Clone, Serialize)]
pub struct EventView {
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub seq: i64,
    pub data: serde_json::Value,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Create {
    pub title: String,
    pub category: String,
    #[serde(default)]
    pub cover: Option<String>,
    #[serde(default)]
    pub scheduled_at: Option<i64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoomRef {
    pub room_id: i64,
}

#[derive(Debug, Serialize)]
pub struct OneRoom {
    pub room: RoomView,
}

#[derive(Debug, Clone, Copy, Deserialize, Serialize)]
pub struct ListCursor {
    pub viewers: i64,
    pub id: i64,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct List {
    #[serde(default)]
    pub category: Option<String>,
    #[serde(default)]
    pub limit: Option<i64>,
    #[serde(default)]
    pub after: Option<ListCursor>,
}

#[derive(Debug, Serialize)]
pub struct Rooms {
    pub rooms: Vec<RoomView>,
    /// The `after` of the next page; `null` on the last one (and for `room.mine`).
    pub next: Option<ListCursor>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Join {
    pub room_id: i64,
    #[serde(default)]
    pub since_seq: Option<i64>,
}

#[derive(Debug, Serialize)]
pub struct MeInRoom {
    pub host: bool,
    pub helper: bool,
    pub muted_until: Option<i64>,
}

#[derive(Debug, Serialize)]
pub struct Joined {
    pub room: RoomView,
    pub comments: Vec<CommentView>,
    pub me: MeInRoom,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub recovered: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub missed: Option<Vec<EventView>>,
}

#[derive(Debug, Serialize)]
pub struct Left {
    pub left: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Comment {
    pub room_id: i64,
    pub text: String,
    pub client_id: String,
}

#[derive(Debug, Serialize)]
pub struct Commented {
    pub comment: CommentView,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Like {
    pub room_id: i64,
    #[serde(default = "one")]
    pub count: i64,
}

fn one() -> i64 {
    1
}

#[derive(Debug, Serialize)]
pub struct Liked {
    pub accepted: usize,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Target {
    pub room_id: i64,
    pub user_id: i64,
    #[serde(default)]
    pub duration_ms: Option<i64>,
    #[serde(default)]
    pub reason: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct MutedReply {
    pub muted_until: Option<i64>,
}

#[derive(Debug, Serialize)]
pub struct Kicked {
    pub until: i64,
}

#[derive(Debug, Serialize)]
pub struct Banned {
    pub banned: bool,
}

#[derive(Debug, Serialize)]
pub struct BanView {
    pub user: UserRef,
    pub reason: String,
    pub by: i64,
    pub at: i64,
}

#[derive(Debug, Serialize)]
pub struct Bans {
    pub bans: Vec<BanView>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RemoveComment {
    pub room_id: i64,
    pub seq: i64,
}

#[derive(Debug, Serialize)]
pub struct Removed {
    pub removed: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Pin {
    pub room_id: i64,
    pub text: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct Pinned {
    pub pinned: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Helper {
    pub room_id: i64,
    pub user_id: i64,
}

#[derive(Debug, Serialize)]
pub struct Helpers {
    pub helpers: Vec<UserRef>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Moderate {
    pub room_id: i64,
    pub action: String,
    pub reason: String,
}
