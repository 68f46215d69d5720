//! What the queue and call commands take and answer (docs/protocol.md, "Appraisal calls").

use serde::{Deserialize, Serialize};

use super::messages::UserRef;
use super::turn::IceServer;

#[derive(Debug, Clone, Serialize)]
pub struct QueueEntry {
    pub id: i64,
    pub room_id: i64,
    pub user: UserRef,
    pub description: String,
    pub photos: Vec<String>,
    pub status: String,
    /// 1 = next; only for `waiting` entries.
    pub position: Option<i64>,
    pub joined_at: i64,
    pub reason: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct Queue {
    pub room_id: i64,
    pub length: usize,
    pub order: Vec<i64>,
    pub mine: Vec<QueueEntry>,
    /// Every waiting or called entry, for the host and helpers only.
    pub entries: Option<Vec<QueueEntry>>,
}

#[derive(Debug, Serialize)]
pub struct OneEntry {
    pub entry: QueueEntry,
}

#[derive(Debug, Clone, Serialize)]
pub struct CallEntry {
    pub description: String,
    pub photos: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct CallView {
    pub id: i64,
    pub room_id: i64,
    pub entry_id: Option<i64>,
    pub state: String,
    pub host: UserRef,
    pub guest: UserRef,
    pub entry: CallEntry,
    pub called_at: i64,
    pub answer_by: i64,
    pub answered_at: Option<i64>,
    pub ended_at: Option<i64>,
    pub end_reason: Option<String>,
    pub ended_by: Option<i64>,
    /// When a connected call reaches `DUOXIE_LIVE_CALL_MAX_MS`.
    pub max_until: Option<i64>,
}

/// One party's side of a call: what its device needs to take part.
#[derive(Debug, Serialize)]
pub struct CallSide {
    pub call: CallView,
    pub role: &'static str,
    pub ice_servers: Vec<IceServer>,
}

#[derive(Debug, Serialize)]
pub struct OneCall {
    pub call: CallView,
}

/// The room's call as anyone but its parties sees it.
#[derive(Debug, Serialize)]
pub struct PublicCall {
    pub id: i64,
    pub room_id: i64,
    pub state: String,
    pub guest: Option<UserRef>,
}

#[derive(Debug, Serialize)]
#[serde(untagged)]
pub enum CurrentCallView {
    Party(Box<CallView>),
    Public(PublicCall),
}

#[derive(Debug, Serialize)]
pub struct CurrentCall {
    pub call: Option<CurrentCallView>,
    pub mine: bool,
}

#[derive(Debug, Serialize)]
pub struct CallRecords {
    pub calls: Vec<CallView>,
    pub next: Option<i64>,
}

#[derive(Debug, Serialize)]
pub struct Relayed {
    pub relayed: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QueueJoin {
    pub room_id: i64,
    pub description: String,
    #[serde(default)]
    pub photos: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EntryRef {
    pub room_id: i64,
    pub entry_id: i64,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QueueSkip {
    pub room_id: i64,
    pub entry_id: i64,
    pub reason: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QueueMove {
    pub room_id: i64,
    pub entry_id: i64,
    pub position: i64,
    pub reason: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CallNext {
    pub room_id: i64,
    #[serde(default)]
    pub entry_id: Option<i64>,
    #[serde(default)]
    pub reason: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CallRef {
    pub call_id: i64,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CallList {
    #[serde(default)]
    pub limit: Option<i64>,
    #[serde(default)]
    pub before: Option<i64>,
}

/// A moderator's read of someone's call records: whose, and why (audited).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StaffCallList {
    pub user_id: i64,
    pub reason: String,
    #[serde(default)]
    pub limit: Option<i64>,
    #[serde(default)]
    pub before: Option<i64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Sdp {
    pub call_id: i64,
    pub sdp: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Ice {
    pub call_id: i64,
    pub candidate: String,
    #[serde(default)]
    pub sdp_mid: Option<String>,
    #[serde(default)]
    pub sdp_mline_index: Option<i64>,
}
