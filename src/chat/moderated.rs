//! Chat under moderation: held texts (`chat_text`) are sent or dropped, a reported message
//! (`report_message`) is taken down on both screens; and chat is where pictures are used
//! ([`PictureUses`]): photo messages held for a picture's review, sent or dropped with it,
//! and taken down everywhere with it.

use actix::Addr;
use futures_util::future::BoxFuture;
use serde::Deserialize;
use serde_json::{json, Value};

use super::policy::Content;
use super::{store, ChatServer, SendScreened};
use crate::bus::{Audience, Delivery, EventFrame, SharedBus};
use crate::error::{AppError, AppResult};
use crate::media::moderated::PictureUses;
use crate::moderation::content::{Decided, Hidden, ModeratedContent, Reported};
use crate::store::Db;

/// What a decision on chat content reaches: the messages, the sockets, the send path.
#[derive(Clone)]
pub struct ChatUnderModeration {
    pub db: Db,
    pub bus: SharedBus,
    pub chat: Addr<ChatServer>,
}

impl ChatUnderModeration {
    /// Sends what screening held, as any message (its seq taken now). A send refused now
    /// (the conversation gone, a block since) is logged: the sender already has
    /// `moderation.decided`.
    async fn send_held(
        &self,
        sender_id: i64,
        conversation_id: i64,
        client_id: String,
        content: Content,
    ) -> AppResult<()> {
        let sent = self
            .chat
            .send(SendScreened {
                sender_id,
                conversation_id,
                client_id,
                content,
            })
            .await
            .map_err(|_| AppError::unavailable("chat service stopped"))?;
        if let Err(e) = sent {
            tracing::warn!(error = %e.message, "held chat content could not be sent");
        }
        Ok(())
    }

    /// `chat.removed` to both participants; `item_id` is the decision the author may appeal.
    async fn announce_removed(
        &self,
        conversation_id: i64,
        seq: i64,
        item_id: i64,
    ) -> AppResult<()> {
        if let Some((a, b)) = store::members(&self.db, conversation_id).await? {
            self.bus.publish(
                Audience::Users(vec![a, b]),
                Delivery::Event(EventFrame::new(
                    "chat.removed",
                    &json!({ "conversation_id": conversation_id, "seq": seq, "item_id": item_id }),
                    None,
                )),
            );
        }
        Ok(())
    }
}

/// A held text's `conversation:client_id`.
fn held_ref(content_ref: &str) -> Option<(i64, &str)> {
    let (conv, client_id) = content_ref.split_once(':')?;
    Some((conv.parse().ok()?, client_id))
}

/// `conversation:seq`.
fn message_ref(content_ref: &str) -> Option<(i64, i64)> {
    let (conv, seq) = content_ref.split_once(':')?;
    Some((conv.parse().ok()?, seq.parse().ok()?))
}

#[derive(Deserialize)]
struct MessageTarget {
    conversation_id: i64,
    seq: i64,
}

impl ModeratedContent for ChatUnderModeration {
    fn kinds(&self) -> &'static [&'static str] {
        &["chat_text", "report_message"]
    }

    /// A held text is sent now; a dismissed report changes nothing.
    fn restore<'a>(&'a self, item: &'a Decided) -> BoxFuture<'a, AppResult<()>> {
        Box::pin(async move {
            if item.kind != "chat_text" {
                return Ok(());
            }
            let Some((conversation_id, client_id)) = held_ref(&item.content_ref) else {
                return Ok(());
            };
            let held = store::take_held_text(&self.db, conversation_id, item.subject_id, client_id)
                .await?;
            if let Some(body) = held {
                let content = Content { kind: "text", body };
                self.send_held(item.subject_id, conversation_id, client_id.into(), content)
                    .await?;
            }
            Ok(())
        })
    }

    /// A held text is dropped; a reported message is taken down on both screens, and when it
    /// is a photo, the picture everywhere it was sent.
    fn hide<'a>(&'a self, item: &'a Decided) -> BoxFuture<'a, AppResult<Hidden>> {
        Box::pin(async move {
            if item.kind == "chat_text" {
                if let Some((conversation_id, client_id)) = held_ref(&item.content_ref) {
                    store::take_held_text(&self.db, conversation_id, item.subject_id, client_id)
                        .await?;
                }
                return Ok(Hidden::default());
            }
            if let Some((conversation_id, seq)) = message_ref(&item.content_ref) {
                store::remove_message(&self.db, conversation_id, seq, item.item_id).await?;
                self.announce_removed(conversation_id, seq, item.item_id)
                    .await?;
            }
            // A photo message's text is its picture.
            if crate::media::find(&self.db, &item.content).await?.is_some() {
                crate::media::moderated::take_down(&self.db, self, &item.content, item.item_id)
                    .await?;
                return Ok(Hidden {
                    picture: Some(item.content.clone()),
                });
            }
            Ok(Hidden::default())
        })
    }

    fn report_target(&self) -> Option<&'static str> {
        Some("message")
    }

    /// Only a participant may report a message, and not their own; others learn nothing.
    fn reported<'a>(
        &'a self,
        reporter: i64,
        fields: &'a Value,
    ) -> BoxFuture<'a, AppResult<Reported>> {
        Box::pin(async move {
            let MessageTarget {
                conversation_id,
                seq,
            } = crate::error::parse_value(fields.clone())?;
            let members = store::members(&self.db, conversation_id).await?;
            if !members.is_some_and(|(a, b)| a == reporter || b == reporter) {
                return Err(AppError::not_found("conversation"));
            }
            let m = store::message(&self.db, conversation_id, seq)
                .await?
                .ok_or_else(|| AppError::not_found("message"))?;
            if m.sender_id == reporter {
                return Err(AppError::field("seq", "that is your own message"));
            }
            Ok(Reported {
                kind: "report_message",
                author: m.sender_id,
                content_ref: format!("{conversation_id}:{seq}"),
                preview: m.text,
                media: Vec::new(),
            })
        })
    }
}

impl PictureUses for ChatUnderModeration {
    fn shared_with<'a>(
        &'a self,
        media_id: &'a str,
        user_id: i64,
    ) -> BoxFuture<'a, AppResult<bool>> {
        Box::pin(async move { Ok(store::photo_shared_with(&self.db, media_id, user_id).await?) })
    }

    /// Photo messages held for this picture: sent now, or dropped (the sender has
    /// `moderation.decided` naming the photo).
    fn reviewed<'a>(&'a self, media_id: &'a str, approved: bool) -> BoxFuture<'a, AppResult<()>> {
        Box::pin(async move {
            for (conversation_id, sender_id, client_id) in
                store::take_held_photos(&self.db, media_id).await?
            {
                if approved {
                    let content = Content::photo(media_id.to_string());
                    self.send_held(sender_id, conversation_id, client_id, content)
                        .await?;
                }
            }
            Ok(())
        })
    }

    /// Every photo message carrying the picture: `chat.removed` to both sides of each.
    fn taken_down<'a>(&'a self, media_id: &'a str, item_id: i64) -> BoxFuture<'a, AppResult<()>> {
        Box::pin(async move {
            for (conv, seq) in store::remove_photo_messages(&self.db, media_id, item_id).await? {
                self.announce_removed(conv, seq, item_id).await?;
            }
            Ok(())
        })
    }
}
