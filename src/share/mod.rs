//! Share codes (口令, "scene restore"): a short code that brings whoever has it to a post, a
//! live room or a user profile, the way a Chinese app's share text pasted into a chat does.
//!
//! A code is unguessable (`code.rs`), lives `DUOXIE_SHARE_CODE_TTL_MS`, and its creator may
//! revoke it. Resolving it answers exactly what the resolver could open themselves (`feed`
//! and `live` decide: a deleted or held post, a hidden room, a host who banned them, a user
//! either of them blocks): everything else, an unknown, expired or revoked code included, is
//! one answer, `share_code_invalid`, so that a code tells nothing of what it points at. The
//! client reads the clipboard for a code only with the clipboard consent (the `share_code`
//! feature); the server never sees the clipboard, only what the user chose to send.

pub mod code;
pub mod commands;
pub mod rights;
pub mod settings;
mod store;

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::commands::Caller;
use crate::error::{AppError, AppResult, ErrorCode};
use crate::feed::{Feed, PostView, Profile, UserRef};
use crate::live::messages::RoomView;
use crate::live::Live;
use crate::store::rate::{hit, Limit};
use crate::store::{now_ms, Db};
use settings::ShareSettings;
pub use store::CodeRow;

/// Draws before giving up on a free code (50 random bits: a second draw is already rare).
const DRAWS: usize = 4;
/// Most codes `share.mine` lists at once.
const MINE_MAX: i64 = 100;

pub struct Shares {
    db: Db,
    feed: Arc<Feed>,
    live: Arc<Live>,
    settings: ShareSettings,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Target {
    Post,
    Room,
    Profile,
}

impl Target {
    fn as_str(self) -> &'static str {
        match self {
            Target::Post => "post",
            Target::Room => "room",
            Target::Profile => "profile",
        }
    }

    fn from_stored(s: &str) -> Option<Self> {
        match s {
            "post" => Some(Target::Post),
            "room" => Some(Target::Room),
            "profile" => Some(Target::Profile),
            _ => None,
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateBody {
    pub target: Target,
    pub id: i64,
}

#[derive(Debug, Serialize)]
pub struct Created {
    pub code: String,
    pub target: Target,
    pub id: i64,
    pub expires_at: i64,
    /// The post's share count after this share (posts only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shares: Option<i64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CodeBody {
    /// The code, or the whole text it was pasted in.
    pub code: String,
}

/// What a code opens, as the resolver may see it.
#[derive(Debug, Serialize)]
#[serde(tag = "target", rename_all = "snake_case")]
pub enum Resolved {
    Post { post: PostView },
    Room { room: RoomView },
    Profile { user: UserRef, profile: Profile },
}

#[derive(Debug, Serialize)]
pub struct Revoked {
    pub revoked: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MineBody {
    #[serde(default)]
    pub after: Option<i64>,
    #[serde(default)]
    pub limit: Option<i64>,
}

#[derive(Debug, Serialize)]
pub struct Mine {
    pub codes: Vec<CodeRow>,
    pub next: Option<i64>,
}

fn invalid() -> AppError {
    AppError::new(
        ErrorCode::ShareCodeInvalid,
        "this share code is unknown, expired or revoked, or points at something you cannot see",
    )
}

impl Shares {
    pub fn new(db: Db, feed: Arc<Feed>, live: Arc<Live>, settings: ShareSettings) -> Self {
        Self {
            db,
            feed,
            live,
            settings,
        }
    }

    async fn charge(&self, key: String, limit: Limit, what: &str) -> AppResult<()> {
        match hit(&self.db, &key, limit, now_ms()).await? {
            None => Ok(()),
            Some(wait) => Err(AppError::new(
                ErrorCode::RateLimited,
                format!("too many share codes {what}; try again later"),
            )
            .retry_after(wait)),
        }
    }

    /// What the target is as `viewer` may see it; `not_found` (from the domain) otherwise.
    async fn open(&self, viewer: i64, target: Target, id: i64) -> AppResult<Resolved> {
        Ok(match target {
            Target::Post => Resolved::Post {
                post: self.feed.post_for(viewer, id).await?,
            },
            Target::Room => Resolved::Room {
                room: self.live.room_for_share(viewer, id).await?,
            },
            Target::Profile => {
                let profile = self.feed.profile_for(viewer, id).await?;
                Resolved::Profile {
                    user: profile.user.clone(),
                    profile,
                }
            }
        })
    }

    /// `share.create`: a code for something the caller may see (a published post, a room
    /// not hidden, a profile); a post's share counts the caller once.
    pub async fn create(self: Arc<Self>, caller: Caller, body: CreateBody) -> AppResult<Created> {
        let me = caller.user_id;
        self.open(me, body.target, body.id).await?;
        self.charge(
            format!("share:create:{me}"),
            Limit::per_hour(self.settings.codes_per_hour),
            "made",
        )
        .await?;
        // Counted only once the code is allowed: a refused share.create shares nothing.
        let shares = match body.target {
            Target::Post => Some(self.feed.record_share(me, body.id).await?),
            _ => None,
        };
        let now = now_ms();
        let expires_at = now + self.settings.code_ttl_ms;
        for _ in 0..DRAWS {
            let code = code::generate();
            let new = store::NewCode {
                code: &code,
                creator_id: me,
                target: body.target.as_str(),
                target_id: body.id,
                expires_at,
            };
            if store::insert(&self.db, &new, now).await?.is_some() {
                return Ok(Created {
                    code,
                    target: body.target,
                    id: body.id,
                    expires_at,
                    shares,
                });
            }
        }
        Err(AppError::unavailable(
            "no free share code was found; try again",
        ))
    }

    /// `share.resolve`: what the code opens, or `share_code_invalid` whatever the reason.
    pub async fn resolve(self: Arc<Self>, caller: Caller, body: CodeBody) -> AppResult<Resolved> {
        let me = caller.user_id;
        self.charge(
            format!("share:resolve:{me}"),
            Limit::per_minute(self.settings.resolves_per_minute),
            "resolved",
        )
        .await?;
        let Some(code) = code::find(&body.code) else {
            return Err(AppError::field("code", "no share code in this text"));
        };
        let row = store::by_code(&self.db, &code)
            .await?
            .filter(|c| c.revoked_at.is_none() && c.expires_at > now_ms())
            .ok_or_else(invalid)?;
        let target = Target::from_stored(&row.target).ok_or_else(invalid)?;
        match self.open(me, target, row.target_id).await {
            Ok(resolved) => Ok(resolved),
            Err(e) if e.code == ErrorCode::NotFound => Err(invalid()),
            Err(e) => Err(e),
        }
    }

    /// `share.revoke`: the creator's own live code stops resolving at once.
    pub async fn revoke(self: Arc<Self>, caller: Caller, body: CodeBody) -> AppResult<Revoked> {
        let code = code::find(&body.code).ok_or_else(invalid)?;
        if store::revoke(&self.db, caller.user_id, &code, now_ms()).await? {
            Ok(Revoked { revoked: true })
        } else {
            Err(invalid())
        }
    }

    /// `share.mine`: the caller's live codes, oldest first.
    pub async fn mine(self: Arc<Self>, caller: Caller, body: MineBody) -> AppResult<Mine> {
        let limit = body.limit.unwrap_or(20);
        if !(1..=MINE_MAX).contains(&limit) {
            return Err(AppError::field(
                "limit",
                format!("must be between 1 and {MINE_MAX}"),
            ));
        }
        let codes = store::live_of(
            &self.db,
            caller.user_id,
            body.after.unwrap_or(0),
            limit,
            now_ms(),
        )
        .await?;
        let next = (codes.len() as i64 == limit)
            .then(|| codes.last().map(|c| c.id))
            .flatten();
        Ok(Mine { codes, next })
    }
}
