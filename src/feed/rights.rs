//! The community's part in the user's rights: posts, follows both ways, likes and the
//! follows setting in the export; erased with the account (the posts leave every feed).

use futures_util::future::BoxFuture;
use serde_json::Value;
use sqlx::AnyConnection;

use crate::error::AppResult;
use crate::rights::DataDomain;
use crate::store::{now_ms, Db};

pub struct FeedRights;

impl DataDomain for FeedRights {
    fn name(&self) -> &'static str {
        "community"
    }

    fn personal_columns(&self) -> &'static [(&'static str, &'static str)] {
        &[
            ("feed_posts", "author_id"),
            ("feed_follows", "follower_id"),
            ("feed_follows", "followee_id"),
            ("feed_profiles", "user_id"),
            ("feed_home", "user_id"),
            ("feed_likes", "user_id"),
            ("feed_comments", "author_id"),
            ("feed_shares", "user_id"),
            ("feed_readers", "user_id"),
        ]
    }

    fn export<'a>(&'a self, db: &'a Db, user_id: i64) -> BoxFuture<'a, AppResult<Value>> {
        Box::pin(async move { Ok(super::store::export_user(db, user_id).await?) })
    }

    fn erase<'a>(
        &'a self,
        conn: &'a mut AnyConnection,
        user_id: i64,
    ) -> BoxFuture<'a, Result<(), sqlx::Error>> {
        Box::pin(super::store::erase_user(conn, user_id, now_ms()))
    }
}
