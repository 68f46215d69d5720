//! What a moderator's decision does to the content it is about: handed to the domain that
//! owns the content ([`super::content::ModeratedContent`]); an upheld appeal re-applies the
//! original as approved; `reject_and_block` adds the picture the content carried to the
//! blocklist.

use super::content::{ContentKinds, Decided, StoredPictures};
use super::*;

fn decided(item: &store::Item) -> Decided {
    Decided {
        item_id: item.id,
        kind: item.kind.clone(),
        subject_id: item.subject_id,
        content_ref: item.content_ref.clone(),
        content: item.content.clone(),
    }
}

/// What a decision does to the content it is about.
pub(super) async fn apply(
    db: &Db,
    contents: &ContentKinds,
    pictures: &dyn StoredPictures,
    item: &store::Item,
    decision: Decision,
    reason: &str,
    now: i64,
) -> AppResult<()> {
    // An appeal upheld applies the original content after all; dismissed, nothing changes.
    if item.kind == "appeal" {
        if decision != Decision::Approve {
            return Ok(());
        }
        let original = match item.content_ref.parse() {
            Ok(id) => store::item(db, id).await?,
            Err(_) => None,
        };
        if let Some(original) = original {
            Box::pin(apply(
                db,
                contents,
                pictures,
                &original,
                Decision::Approve,
                reason,
                now,
            ))
            .await?;
        }
        return Ok(());
    }
    let Some(content) = contents.of_kind(&item.kind) else {
        tracing::warn!(kind = %item.kind, "a decision on a kind no domain takes");
        return Ok(());
    };
    let item = decided(item);
    if decision == Decision::Approve {
        return content.restore(&item).await;
    }
    let hidden = content.hide(&item).await?;
    if let (Some(media_id), Decision::RejectAndBlock) = (&hidden.picture, decision) {
        pictures::block(db, pictures, media_id, reason, now).await?;
    }
    Ok(())
}
