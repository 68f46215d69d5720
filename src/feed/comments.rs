//! Comments and replies on posts: screened like posts (refused, or held for a moderator and
//! shown to nobody but their author until approved), deleted by their author or by the post's
//! author, counted on the post; the post's author hears of each (`feed.comment`).

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::json;

use super::{moderated, policy, store, Feed, UserRef};
use crate::bus::{Audience, Delivery, EventFrame};
use crate::commands::Caller;
use crate::error::{AppError, AppResult, ErrorCode};
use crate::moderation::policy::{screen_text, Verdict};
use crate::store::{begin_write, now_ms};

#[derive(Debug, Clone, Serialize)]
pub struct CommentView {
    pub id: i64,
    pub post_id: i64,
    pub author: UserRef,
    pub reply_to: Option<i64>,
    pub text: String,
    /// `published`, or for its author only `screening`.
    pub status: String,
    pub created_at: i64,
}

#[derive(Debug, Serialize)]
pub struct OneComment {
    pub comment: CommentView,
}

#[derive(Debug, Serialize)]
pub struct Comments {
    pub comments: Vec<CommentView>,
    pub next: Option<i64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewComment {
    pub post_id: i64,
    pub text: String,
    #[serde(default)]
    pub reply_to: Option<i64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CommentPage {
    pub post_id: i64,
    #[serde(default)]
    pub after: Option<i64>,
    #[serde(default)]
    pub limit: Option<i64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CommentRef {
    pub comment_id: i64,
}

fn view(c: store::CommentRow) -> CommentView {
    CommentView {
        id: c.id,
        post_id: c.post_id,
        author: c.author,
        reply_to: c.reply_to,
        text: c.text,
        status: c.status,
        created_at: c.created_at,
    }
}

impl Feed {
    pub async fn comment(
        self: Arc<Self>,
        caller: Caller,
        body: NewComment,
    ) -> AppResult<OneComment> {
        let me = caller.user_id;
        // A post one may see (published, no block either way); a block between the commenter
        // and the post's author is said plainly.
        let post = store::post(&self.db, body.post_id)
            .await?
            .filter(|p| p.status == "published")
            .ok_or_else(|| AppError::not_found("post"))?;
        if post.author_id != me && self.blocked_between(me, post.author_id).await? {
            return Err(AppError::new(
                ErrorCode::Blocked,
                "you cannot comment on this post",
            ));
        }
        if let Some(parent) = body.reply_to {
            let ok = store::comment(&self.db, parent)
                .await?
                .is_some_and(|c| c.post_id == post.id && c.status == "published");
            if !ok {
                return Err(AppError::field(
                    "reply_to",
                    "a published comment on this post",
                ));
            }
        }
        if body.text.trim().is_empty() {
            return Err(AppError::field("text", "must not be empty"));
        }
        let text = policy::text(&body.text, self.settings.comment_max_chars, false)?;
        let held =
            match screen_text(&self.keywords.borrow(), &text) {
                Verdict::Pass => None,
                Verdict::Review(reasons) => Some(reasons),
                Verdict::Reject(_) => return Err(AppError::new(
                    ErrorCode::ContentRejected,
                    "this comment cannot be shown: no contact details or trades off the platform",
                )),
            };
        let now = now_ms();
        let mut tx = begin_write(&self.db, self.backend).await?;
        let id = store::insert_comment(
            &mut tx,
            post.id,
            me,
            body.reply_to,
            &text,
            held.is_none(),
            now,
        )
        .await?;
        tx.commit().await?;
        if held.is_none() {
            self.touch(post.id);
        }
        let comment = store::comment(&self.db, id)
            .await?
            .ok_or_else(|| AppError::not_found("comment"))?;
        match held {
            Some(reasons) => {
                let moderation = self
                    .moderation
                    .get()
                    .ok_or_else(|| AppError::unavailable("moderation is not running"))?;
                moderation
                    .send(crate::moderation::QueueContent {
                        kind: moderated::COMMENT_KIND,
                        author_id: me,
                        content_ref: id.to_string(),
                        content: text,
                        reasons,
                        media: Vec::new(),
                    })
                    .await
                    .map_err(|_| AppError::unavailable("moderation unavailable"))??;
            }
            None => self.tell_post_author(post.author_id, &comment),
        }
        Ok(OneComment {
            comment: view(comment),
        })
    }

    /// The post's author hears of a comment they did not write themselves.
    fn tell_post_author(&self, post_author: i64, comment: &store::CommentRow) {
        if comment.author_id == post_author {
            return;
        }
        let frame = EventFrame::new(
            "feed.comment",
            &json!({ "comment": view(comment.clone()) }),
            None,
        );
        self.bus
            .publish(Audience::User(post_author), Delivery::Event(frame));
    }

    pub async fn comments(
        self: Arc<Self>,
        caller: Caller,
        body: CommentPage,
    ) -> AppResult<Comments> {
        let me = caller.user_id;
        self.view_for(me, body.post_id).await?;
        let limit = self.limit(body.limit)?;
        let hidden = crate::relations::hidden_presence(&self.db, me).await?;
        let rows =
            store::comments_of(&self.db, body.post_id, me, body.after.unwrap_or(0), limit).await?;
        let next = (rows.len() as i64 == limit)
            .then(|| rows.last().map(|c| c.id))
            .flatten();
        Ok(Comments {
            comments: rows
                .into_iter()
                .filter(|c| !hidden.contains(&c.author_id))
                .map(view)
                .collect(),
            next,
        })
    }

    /// Its author, or the post's author, deletes a comment.
    pub async fn delete_comment(
        self: Arc<Self>,
        caller: Caller,
        body: CommentRef,
    ) -> AppResult<super::Deleted> {
        let comment = store::comment(&self.db, body.comment_id)
            .await?
            .filter(|c| c.status != "deleted")
            .ok_or_else(|| AppError::not_found("comment"))?;
        let post_author = store::post(&self.db, comment.post_id)
            .await?
            .map(|p| p.author_id);
        if comment.author_id != caller.user_id && post_author != Some(caller.user_id) {
            return Err(AppError::forbidden(
                "only its author or the post's author deletes a comment",
            ));
        }
        self.set_comment(&comment, "deleted").await?;
        Ok(super::Deleted { deleted: true })
    }

    /// A comment moves to `to`; a comment leaving publication is removed from the screens of
    /// the post's readers who hear of it (the post's author).
    pub(crate) async fn set_comment(&self, comment: &store::CommentRow, to: &str) -> AppResult<()> {
        let mut tx = begin_write(&self.db, self.backend).await?;
        let changed = store::set_comment_status(&mut tx, comment, to, now_ms()).await?;
        tx.commit().await?;
        if changed {
            self.touch(comment.post_id);
        }
        if changed && to == "published" {
            if let Some(post) = store::post(&self.db, comment.post_id).await? {
                self.tell_post_author(post.author_id, comment);
            }
        }
        Ok(())
    }

    /// The comment as `reporter` may see it.
    pub(crate) async fn reportable_comment(
        &self,
        reporter: i64,
        comment_id: i64,
    ) -> AppResult<store::CommentRow> {
        let comment = store::comment(&self.db, comment_id)
            .await?
            .filter(|c| c.status == "published")
            .ok_or_else(|| AppError::not_found("comment"))?;
        self.view_for(reporter, comment.post_id).await?;
        if self.blocked_between(reporter, comment.author_id).await? {
            return Err(AppError::not_found("comment"));
        }
        Ok(comment)
    }
}
