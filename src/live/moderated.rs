//! Live rooms under moderation: a reported comment (`report_room_comment`) is taken off every
//! screen when a moderator upholds the report, a reported room (`report_room`) is hidden. A
//! dismissed report changes nothing. Live texts are never held for review (they are refused
//! when screening would hold them), so there is no held kind to publish.

use std::sync::Arc;

use futures_util::future::BoxFuture;
use serde::Deserialize;
use serde_json::Value;

use super::Live;
use crate::error::{AppError, AppResult};
use crate::moderation::content::{Decided, Hidden, ModeratedContent, Reported};

/// `report.create` with `target` `room_comment`: `{"room_id":7,"seq":12}`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CommentTarget {
    room_id: i64,
    seq: i64,
}

/// `report.create` with `target` `room`: `{"room_id":7}`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RoomTarget {
    room_id: i64,
}

fn comment_ref(content_ref: &str) -> Option<(i64, i64)> {
    let (room, seq) = content_ref.split_once(':')?;
    Some((room.parse().ok()?, seq.parse().ok()?))
}

pub struct CommentsUnderModeration(pub Arc<Live>);

impl ModeratedContent for CommentsUnderModeration {
    fn kinds(&self) -> &'static [&'static str] {
        &["report_room_comment"]
    }

    fn restore<'a>(&'a self, _item: &'a Decided) -> BoxFuture<'a, AppResult<()>> {
        Box::pin(async { Ok(()) })
    }

    fn hide<'a>(&'a self, item: &'a Decided) -> BoxFuture<'a, AppResult<Hidden>> {
        Box::pin(async move {
            if let Some((room_id, seq)) = comment_ref(&item.content_ref) {
                self.0.take_down_comment(room_id, seq).await?;
            }
            Ok(Hidden::default())
        })
    }

    fn report_target(&self) -> Option<&'static str> {
        Some("room_comment")
    }

    /// Anyone who can see the room may report a comment in it, but not their own.
    fn reported<'a>(
        &'a self,
        reporter: i64,
        fields: &'a Value,
    ) -> BoxFuture<'a, AppResult<Reported>> {
        Box::pin(async move {
            let CommentTarget { room_id, seq } = crate::error::parse_value(fields.clone())?;
            let (author, text) = self.0.reportable_comment(reporter, room_id, seq).await?;
            if author == reporter {
                return Err(AppError::field("seq", "that is your own comment"));
            }
            Ok(Reported {
                kind: "report_room_comment",
                author,
                content_ref: format!("{room_id}:{seq}"),
                preview: text,
                media: Vec::new(),
            })
        })
    }
}

pub struct RoomsUnderModeration(pub Arc<Live>);

impl ModeratedContent for RoomsUnderModeration {
    fn kinds(&self) -> &'static [&'static str] {
        &["report_room"]
    }

    fn restore<'a>(&'a self, _item: &'a Decided) -> BoxFuture<'a, AppResult<()>> {
        Box::pin(async { Ok(()) })
    }

    fn hide<'a>(&'a self, item: &'a Decided) -> BoxFuture<'a, AppResult<Hidden>> {
        Box::pin(async move {
            if let Ok(room_id) = item.content_ref.parse::<i64>() {
                self.0.hide_reported_room(room_id).await?;
            }
            Ok(Hidden::default())
        })
    }

    fn report_target(&self) -> Option<&'static str> {
        Some("room")
    }

    /// Anyone who can see the room may report it, but not its host.
    fn reported<'a>(
        &'a self,
        reporter: i64,
        fields: &'a Value,
    ) -> BoxFuture<'a, AppResult<Reported>> {
        Box::pin(async move {
            let RoomTarget { room_id } = crate::error::parse_value(fields.clone())?;
            let (host, preview) = self.0.reportable_room(reporter, room_id).await?;
            if host == reporter {
                return Err(AppError::field("room_id", "that is your own room"));
            }
            Ok(Reported {
                kind: "report_room",
                author: host,
                content_ref: room_id.to_string(),
                preview,
                media: Vec::new(),
            })
        })
    }
}
