//! Posts under moderation: a post a rule held (`post`) is published or stays rejected; a
//! reported post (`report_post`) is taken down from every timeline and screen when the report
//! is upheld.

use std::sync::Arc;

use futures_util::future::BoxFuture;
use serde_json::Value;

use super::{store, Feed};
use crate::error::{AppError, AppResult};
use crate::moderation::content::{Decided, Hidden, ModeratedContent, Reported};

pub const POST_KIND: &str = "post";
pub const REPORT_KIND: &str = "report_post";
pub const COMMENT_KIND: &str = "post_comment";
pub const COMMENT_REPORT_KIND: &str = "report_post_comment";

pub struct PostsUnderModeration(pub Arc<Feed>);

fn post_id(item: &Decided) -> AppResult<i64> {
    item.content_ref
        .parse()
        .map_err(|_| AppError::field("content_ref", "not a post id"))
}

impl ModeratedContent for PostsUnderModeration {
    fn kinds(&self) -> &'static [&'static str] {
        &[POST_KIND, REPORT_KIND]
    }

    fn restore<'a>(&'a self, item: &'a Decided) -> BoxFuture<'a, AppResult<()>> {
        Box::pin(async move {
            if item.kind == POST_KIND {
                self.0.publish_screened(post_id(item)?).await?;
            }
            Ok(())
        })
    }

    fn hide<'a>(&'a self, item: &'a Decided) -> BoxFuture<'a, AppResult<Hidden>> {
        Box::pin(async move {
            let id = post_id(item)?;
            if let Some(post) = store::post(&self.0.db, id).await? {
                let picture = post.media.first().cloned();
                self.0.take_down(id, post.author_id, "rejected").await?;
                return Ok(Hidden { picture });
            }
            Ok(Hidden::default())
        })
    }

    fn report_target(&self) -> Option<&'static str> {
        Some("post")
    }

    fn reported<'a>(
        &'a self,
        reporter: i64,
        fields: &'a Value,
    ) -> BoxFuture<'a, AppResult<Reported>> {
        Box::pin(async move {
            let id = fields["post_id"]
                .as_i64()
                .ok_or_else(|| AppError::field("post_id", "the reported post's id"))?;
            let post = self.0.view_for(reporter, id).await?;
            if post.author.id == Some(reporter) {
                return Err(AppError::field("post_id", "not your own post"));
            }
            let author = store::post(&self.0.db, id)
                .await?
                .map(|p| p.author_id)
                .ok_or_else(|| AppError::not_found("post"))?;
            Ok(Reported {
                kind: REPORT_KIND,
                author,
                content_ref: id.to_string(),
                preview: format!("{}\n{}", post.text, post.tags.join(" ")),
                media: post.media.clone(),
            })
        })
    }
}

/// Comments under moderation: a held comment (`post_comment`) is published or rejected; an
/// upheld report (`report_post_comment`) takes the comment down.
pub struct CommentsUnderModeration(pub Arc<Feed>);

async fn decided_comment(feed: &Feed, item: &Decided) -> AppResult<Option<store::CommentRow>> {
    let id: i64 = item
        .content_ref
        .parse()
        .map_err(|_| AppError::field("content_ref", "not a comment id"))?;
    Ok(store::comment(&feed.db, id).await?)
}

impl ModeratedContent for CommentsUnderModeration {
    fn kinds(&self) -> &'static [&'static str] {
        &[COMMENT_KIND, COMMENT_REPORT_KIND]
    }

    fn restore<'a>(&'a self, item: &'a Decided) -> BoxFuture<'a, AppResult<()>> {
        Box::pin(async move {
            if item.kind == COMMENT_KIND {
                if let Some(c) = decided_comment(&self.0, item).await? {
                    self.0.set_comment(&c, "published").await?;
                }
            }
            Ok(())
        })
    }

    fn hide<'a>(&'a self, item: &'a Decided) -> BoxFuture<'a, AppResult<Hidden>> {
        Box::pin(async move {
            if let Some(c) = decided_comment(&self.0, item).await? {
                self.0.set_comment(&c, "rejected").await?;
            }
            Ok(Hidden::default())
        })
    }

    fn report_target(&self) -> Option<&'static str> {
        Some("post_comment")
    }

    fn reported<'a>(
        &'a self,
        reporter: i64,
        fields: &'a Value,
    ) -> BoxFuture<'a, AppResult<Reported>> {
        Box::pin(async move {
            let id = fields["comment_id"]
                .as_i64()
                .ok_or_else(|| AppError::field("comment_id", "the reported comment's id"))?;
            let comment = self.0.reportable_comment(reporter, id).await?;
            if comment.author_id == reporter {
                return Err(AppError::field("comment_id", "not your own comment"));
            }
            Ok(Reported {
                kind: COMMENT_REPORT_KIND,
                author: comment.author_id,
                content_ref: id.to_string(),
                preview: comment.text,
                media: Vec::new(),
            })
        })
    }
}
