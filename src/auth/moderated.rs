//! Profiles under moderation: a nickname or intro held for review is applied once approved,
//! and a reported user (`report_user`) upheld has their profile reset.

use futures_util::future::BoxFuture;
use serde::Deserialize;
use serde_json::{json, Value};

use super::store;
use crate::error::{AppError, AppResult};
use crate::moderation::content::{Decided, Hidden, ModeratedContent, Reported};
use crate::store::Db;

pub struct ProfilesUnderModeration {
    pub db: Db,
}

#[derive(Deserialize)]
struct UserTarget {
    user_id: i64,
}

impl ModeratedContent for ProfilesUnderModeration {
    fn kinds(&self) -> &'static [&'static str] {
        &["nickname", "intro", "report_user"]
    }

    /// The held field is applied; a dismissed report changes nothing.
    fn restore<'a>(&'a self, item: &'a Decided) -> BoxFuture<'a, AppResult<()>> {
        Box::pin(async move {
            if item.kind == "report_user" {
                return Ok(());
            }
            let update = store::ProfileUpdate {
                nickname: (item.kind == "nickname").then_some(item.content.as_str()),
                avatar: None,
                gender: None,
                intro: (item.kind == "intro").then_some(item.content.as_str()),
            };
            store::update_profile(&self.db, item.subject_id, &update).await?;
            Ok(())
        })
    }

    /// A held field is never applied; a report upheld resets the profile to the defaults.
    fn hide<'a>(&'a self, item: &'a Decided) -> BoxFuture<'a, AppResult<Hidden>> {
        Box::pin(async move {
            if item.kind == "report_user" {
                let update = store::ProfileUpdate {
                    nickname: Some(&format!("用户{}", item.subject_id)),
                    avatar: Some(None),
                    gender: None,
                    intro: Some(""),
                };
                store::update_profile(&self.db, item.subject_id, &update).await?;
            }
            Ok(Hidden::default())
        })
    }

    fn report_target(&self) -> Option<&'static str> {
        Some("user")
    }

    /// Anyone but themselves; the profile is attached as it is now.
    fn reported<'a>(
        &'a self,
        reporter: i64,
        fields: &'a Value,
    ) -> BoxFuture<'a, AppResult<Reported>> {
        Box::pin(async move {
            let UserTarget { user_id } = crate::error::parse_value(fields.clone())?;
            if user_id == reporter {
                return Err(AppError::field("user_id", "you cannot report yourself"));
            }
            let u = store::user_by_id(&self.db, user_id)
                .await?
                .ok_or_else(|| AppError::not_found("user"))?;
            let snapshot = json!({ "nickname": u.nickname, "intro": u.intro, "avatar": u.avatar });
            Ok(Reported {
                kind: "report_user",
                author: user_id,
                content_ref: user_id.to_string(),
                preview: snapshot.to_string(),
                media: Vec::new(),
            })
        })
    }
}
