//! The caller's profile, another user's public profile and the directory; profile changes
//! screened by moderation; the password.

use super::*;

/// Longest nickname search, characters (a nickname is at most 24).
const SEARCH_MAX_CHARS: usize = 24;

impl Auth {
    pub async fn me(&self, user_id: i64) -> AppResult<Me> {
        let u = store::user_by_id(&self.db, user_id)
            .await?
            .ok_or_else(|| AppError::not_found("user"))?;
        let roles = self.roles(user_id).await?;
        let phone_masked = self.masked_phone(&u);
        let age = crate::minors::age_row(&self.db, user_id)
            .await?
            .ok_or_else(|| AppError::not_found("user"))?;
        Ok(Me {
            standing: crate::minors::standing_of(&age, now_ms()),
            birth_date: age.birth_date,
            age_bracket: age.age_bracket,
            pending_review: Vec::new(),
            muted_until: crate::moderation::muted_until(&self.db, user_id).await?,
            id: u.id,
            nickname: u.nickname,
            avatar: u.avatar,
            gender: u.gender,
            intro: u.intro,
            roles: Self::role_names(&roles),
            phone_masked,
            has_password: u.has_password,
            created_at: u.created_at,
        })
    }

    /// `GET /api/users/{id}`: the public profile. Staff who give a reason also get the masked
    /// phone, and that read goes to the staff-access audit log (who, whose, what, why).
    pub async fn public_user(
        &self,
        viewer: &Identity,
        id: i64,
        reason: Option<&str>,
    ) -> AppResult<PublicUser> {
        if let Some(why) = reason {
            crate::error::refuse_nul("reason", why)?;
        }
        let u = store::user_by_id(&self.db, id)
            .await?
            .ok_or_else(|| AppError::not_found("user"))?;
        let reason = reason.map(str::trim).filter(|r| !r.is_empty());
        let phone_masked = match reason {
            Some(why) if viewer.is_staff() && viewer.user_id != id => {
                let why: String = why.chars().take(policy::REASON_MAX_CHARS).collect();
                crate::privacy::record_staff_access(
                    &self.db,
                    viewer.user_id,
                    id,
                    "profile with masked phone",
                    &why,
                    now_ms(),
                )
                .await?;
                tracing::info!(
                    staff_id = viewer.user_id,
                    subject_id = id,
                    "staff read personal data"
                );
                Some(self.masked_phone(&u))
            }
            Some(_) if !viewer.is_staff() => {
                return Err(AppError::forbidden("only staff read personal data"))
            }
            _ => None,
        };
        self.public_view(u, phone_masked).await
    }

    /// `GET /api/users?role=`: a directory of sellers or appraisers.
    pub async fn directory(&self, role: &str, limit: i64) -> AppResult<Vec<PublicUser>> {
        let role = Role::parse(role)?;
        if !matches!(role, Role::Seller | Role::Appraiser) {
            return Err(AppError::field(
                "role",
                "only seller and appraiser are listed",
            ));
        }
        let mut out = Vec::new();
        for u in store::users_with_role(&self.db, role.as_str(), limit.clamp(1, 200)).await? {
            out.push(self.public_view(u, None).await?);
        }
        Ok(out)
    }

    /// `GET /api/users?q=`: accounts by nickname (a seller or appraiser only, with `role`),
    /// newest first; accounts either side blocks are not found. `more` when the page was
    /// full.
    pub async fn search(
        &self,
        viewer: i64,
        q: &str,
        role: Option<&str>,
        before_id: Option<i64>,
        limit: i64,
    ) -> AppResult<(Vec<PublicUser>, bool)> {
        let q = q.trim();
        let chars = q.chars().count();
        if chars == 0 || chars > SEARCH_MAX_CHARS {
            return Err(AppError::field("q", "1 to 24 characters of a nickname"));
        }
        let role = match role {
            Some(raw) => {
                let role = Role::parse(raw)?;
                if !matches!(role, Role::Seller | Role::Appraiser) {
                    return Err(AppError::field(
                        "role",
                        "only seller and appraiser are listed",
                    ));
                }
                Some(role.as_str())
            }
            None => None,
        };
        let limit = limit.clamp(1, 100);
        let rows =
            store::search_users(&self.db, q, role, before_id.unwrap_or(i64::MAX), limit).await?;
        let more = rows.len() as i64 == limit;
        let hidden = crate::relations::hidden_presence(&self.db, viewer).await?;
        let mut out = Vec::new();
        for u in rows {
            if !hidden.contains(&u.id) {
                out.push(self.public_view(u, None).await?);
            }
        }
        Ok((out, more))
    }

    pub(super) async fn public_view(
        &self,
        u: store::UserRow,
        phone_masked: Option<String>,
    ) -> AppResult<PublicUser> {
        let roles = self.roles(u.id).await?;
        Ok(PublicUser {
            id: u.id,
            nickname: u.nickname,
            avatar: u.avatar,
            gender: u.gender,
            intro: u.intro,
            roles: Self::role_names(&roles),
            created_at: u.created_at,
            last_seen_at: u.last_seen_at,
            phone_masked,
            deleted: u.deleted,
        })
    }

    /// `PATCH /api/me`: profile data, which restricted accounts (no age declared, under 14
    /// without a guardian) may not set.
    pub async fn update_profile(&self, who: &Identity, patch: ProfilePatch) -> AppResult<Me> {
        who.standing.require_full()?;
        let user_id = who.user_id;
        let required = |field: &'static str, v: Option<Option<String>>| match v {
            Some(None) => Err(AppError::field(field, "cannot be null")),
            Some(Some(v)) => Ok(Some(v)),
            None => Ok(None),
        };
        let nickname = required("nickname", patch.nickname)?
            .as_deref()
            .map(Nickname::parse)
            .transpose()?;
        if let Some(name) = &nickname {
            let current = store::user_by_id(&self.db, user_id)
                .await?
                .map(|u| u.nickname)
                .unwrap_or_default();
            // Keeping one's own name (even a default one) is no impersonation.
            if name.as_str() != current && !who.is_staff() {
                name.check_not_reserved()?;
            }
        }
        let gender = required("gender", patch.gender)?
            .as_deref()
            .map(Gender::parse)
            .transpose()?;
        let intro = match &patch.intro {
            Some(Some(text)) => Some(policy::parse_profile_text(
                "intro",
                text,
                policy::INTRO_MAX_CHARS,
            )?),
            Some(None) => Some(String::new()),
            None => None,
        };
        // Screened before anyone else sees them: refused, held for a moderator, or shown.
        use crate::moderation::ProfileField;
        let mut pending_review = Vec::new();
        let nickname = match nickname {
            Some(n)
                if !self
                    .screened(user_id, ProfileField::Nickname, n.as_str())
                    .await? =>
            {
                pending_review.push("nickname");
                None
            }
            other => other,
        };
        let intro = match intro {
            Some(text)
                if !text.is_empty()
                    && !self.screened(user_id, ProfileField::Intro, &text).await? =>
            {
                pending_review.push("intro");
                None
            }
            other => other,
        };
        // The avatar is an upload of the user's own that passed screening (policy: 审核):
        // its media id, shown at `/api/media/{id}/content`.
        let avatar = match &patch.avatar {
            Some(Some(a)) => {
                let a = policy::parse_profile_text("avatar", a, policy::AVATAR_MAX_CHARS)?;
                if a.is_empty() {
                    Some(None)
                } else {
                    let media = crate::media::find(&self.db, &a)
                        .await?
                        .filter(|m| m.owner_id == user_id && m.purpose == "avatar")
                        .ok_or_else(|| {
                            AppError::field("avatar", "must be the id of your own avatar upload")
                        })?;
                    if media.status != "approved" {
                        return Err(AppError::field(
                            "avatar",
                            "this picture has not passed screening",
                        ));
                    }
                    Some(Some(a))
                }
            }
            Some(None) => Some(None),
            None => None,
        };
        store::update_profile(
            &self.db,
            user_id,
            &store::ProfileUpdate {
                nickname: nickname.as_ref().map(Nickname::as_str),
                avatar: avatar.as_ref().map(|a| a.as_deref()),
                gender: gender.map(Gender::as_str),
                intro: intro.as_deref(),
            },
        )
        .await?;
        let mut me = self.me(user_id).await?;
        me.pending_review = pending_review;
        Ok(me)
    }

    /// `POST /api/me/password`: sets or changes the password; changing needs the current one.
    pub async fn set_password(
        &self,
        user_id: i64,
        password: String,
        current: Option<String>,
    ) -> AppResult<()> {
        policy::check_password(&password)?;
        if let Some(stored) = store::password_hash(&self.db, user_id).await? {
            let current = current.ok_or_else(|| {
                AppError::field("current_password", "required to change a password")
            })?;
            self.claim_password_attempt(user_id).await?;
            if !self.verify_password(current, stored).await? {
                return Err(AppError::new(
                    ErrorCode::InvalidCredentials,
                    "the current password is wrong",
                ));
            }
            store::clear_wrong_passwords(&self.db, user_id).await?;
        }
        let hash = self
            .hashing(move || hash_password(&password))
            .await?
            .map_err(|e| anyhow::anyhow!("hash password: {e}"))?;
        store::set_password_hash(&self.db, user_id, &hash).await?;
        Ok(())
    }
}
