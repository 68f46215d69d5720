//! What a moderator's decision does to the content it is about: applied to a profile field,
//! a chat message or text, a picture, and an upheld appeal re-applies the original.

use super::*;

/// What a decision does to the content it is about.
#[allow(clippy::too_many_arguments)]
pub(super) async fn apply(
    db: &Db,
    bus: &SharedBus,
    chat: &Addr<crate::chat::ChatServer>,
    blobs: &Arc<dyn BlobStore>,
    item: &store::Item,
    decision: Decision,
    reason: &str,
    now: i64,
) -> AppResult<()> {
    let approved = decision == Decision::Approve;
    match item.kind.as_str() {
        "nickname" | "intro" if approved => {
            let update = crate::auth::store::ProfileUpdate {
                nickname: (item.kind == "nickname").then_some(item.content.as_str()),
                avatar: None,
                gender: None,
                intro: (item.kind == "intro").then_some(item.content.as_str()),
            };
            crate::auth::store::update_profile(db, item.subject_id, &update).await?;
        }
        // A report upheld (rejected content) takes the content down; dismissed, nothing changes.
        "report_message" if !approved => {
            if let Some((conv, seq)) = item.content_ref.split_once(':') {
                if let (Ok(conv), Ok(seq)) = (conv.parse(), seq.parse()) {
                    crate::chat::store::remove_message(db, conv, seq, item.id).await?;
                    announce_removed(db, bus, conv, seq, item.id).await?;
                }
            }
            // A photo message's text is its picture: taken down everywhere it was sent, and
            // blocklisted from the same card when the moderator says so.
            if crate::media::store::by_id(db, &item.content)
                .await?
                .is_some()
            {
                take_down_picture(db, bus, &item.content, item.id).await?;
                if decision == Decision::RejectAndBlock {
                    pictures::block(db, blobs, &item.content, reason, now).await?;
                }
            }
        }
        // A held chat text: sent now as any message (its seq taken now), or dropped; the
        // sender has `moderation.decided` either way.
        "chat_text" => {
            let Some((conversation, client_id)) = item.content_ref.split_once(':') else {
                return Ok(());
            };
            let Ok(conversation_id) = conversation.parse::<i64>() else {
                return Ok(());
            };
            let held =
                crate::chat::store::take_held_text(db, conversation_id, item.subject_id, client_id)
                    .await?;
            if let (Some(body), true) = (held, approved) {
                let sent = chat
                    .send(crate::chat::SendScreened {
                        sender_id: item.subject_id,
                        conversation_id,
                        client_id: client_id.to_string(),
                        content: crate::chat::policy::Content { kind: "text", body },
                    })
                    .await
                    .map_err(|_| AppError::unavailable("chat service stopped"))?;
                if let Err(e) = sent {
                    tracing::warn!(error = %e.message, "a held chat text could not be sent");
                }
            }
        }
        "report_user" if !approved => {
            let update = crate::auth::store::ProfileUpdate {
                nickname: Some(&format!("用户{}", item.subject_id)),
                avatar: Some(None),
                gender: None,
                intro: Some(""),
            };
            crate::auth::store::update_profile(db, item.subject_id, &update).await?;
        }
        // An appeal upheld applies the original content after all.
        "appeal" if approved => {
            if let Some(original) = match item.content_ref.parse() {
                Ok(id) => store::item(db, id).await?,
                Err(_) => None,
            } {
                Box::pin(apply(
                    db,
                    bus,
                    chat,
                    blobs,
                    &original,
                    Decision::Approve,
                    reason,
                    now,
                ))
                .await?;
            }
        }
        // A report upheld takes the picture down (and may block it); dismissed, the picture
        // keeps the state its own screening gave it: a report never approves anything.
        "report_media" if !approved => {
            take_down_picture(db, bus, &item.content_ref, item.id).await?;
            if decision == Decision::RejectAndBlock {
                pictures::block(db, blobs, &item.content_ref, reason, now).await?;
            }
        }
        "media" => {
            let status = if approved { "approved" } else { "rejected" };
            crate::media::store::set_status(db, &item.content_ref, status).await?;
            // Photo messages held for this picture: sent now, or dropped (the sender has
            // `moderation.decided` naming the photo).
            for (conversation_id, sender_id, client_id) in
                crate::chat::store::take_held_photos(db, &item.content_ref).await?
            {
                if approved {
                    let sent = chat
                        .send(crate::chat::SendScreened {
                            sender_id,
                            conversation_id,
                            client_id,
                            content: crate::chat::policy::Content::photo(item.content_ref.clone()),
                        })
                        .await
                        .map_err(|_| AppError::unavailable("chat service stopped"))?;
                    if let Err(e) = sent {
                        tracing::warn!(error = %e.message, "a held photo message could not be sent");
                    }
                }
            }
            if decision == Decision::RejectAndBlock {
                pictures::block(db, blobs, &item.content_ref, reason, now).await?;
            }
        }
        _ => {}
    }
    Ok(())
}

/// Hides a picture from everyone but its owner and staff, and takes down every photo message
/// that carries it (`chat.removed` to both sides of each).
pub(super) async fn take_down_picture(
    db: &Db,
    bus: &SharedBus,
    media_id: &str,
    item_id: i64,
) -> AppResult<()> {
    crate::media::store::set_status(db, media_id, "rejected").await?;
    for (conv, seq) in crate::chat::store::remove_photo_messages(db, media_id, item_id).await? {
        announce_removed(db, bus, conv, seq, item_id).await?;
    }
    Ok(())
}

/// `chat.removed` to both participants; `item_id` is the decision the author may appeal.
pub(super) async fn announce_removed(
    db: &Db,
    bus: &SharedBus,
    conversation_id: i64,
    seq: i64,
    item_id: i64,
) -> AppResult<()> {
    if let Some((a, b)) = crate::chat::store::members(db, conversation_id).await? {
        bus.publish(
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
