//! Accounts (policy: 注册及使用): phone-code login that registers on first use, optional
//! passwords, per-device tokens that can be listed and revoked, profiles and roles.
//!
//! [`Auth`] is a stateless service (every call is a few statements), so it is a cloneable
//! struct rather than an actor. It never logs a phone number, code or token: phones go through
//! [`policy::PhoneNumber`], whose `Display` masks them.

pub mod code_sender;
pub mod extractor;
pub mod limits;
pub mod phone_vault;
pub mod policy;
pub mod rights;
pub mod standing;
pub mod store;

use std::sync::Arc;

use argon2::password_hash::{
    rand_core::OsRng, PasswordHash, PasswordHasher, PasswordVerifier, SaltString,
};
use argon2::Argon2;
use serde::{Deserialize, Serialize};

use crate::bus::{Audience, Delivery, SharedBus};
use crate::config::AuthSettings;
use crate::domain::Standing;
use crate::error::{AppError, AppResult, ErrorCode};
use crate::minors::AgeDeclaration;
use crate::store::{now_ms, Db};
use code_sender::CodeSender;
use limits::ClientIp;
use phone_vault::PhoneVault;
use policy::{Gender, Nickname, PhoneNumber, Role};

pub use crate::domain::Identity;

/// The account as its owner sees it.
#[derive(Clone, Debug, Serialize)]
pub struct Me {
    pub id: i64,
    pub nickname: String,
    pub avatar: Option<String>,
    pub gender: String,
    pub intro: String,
    pub roles: Vec<String>,
    pub phone_masked: String,
    pub has_password: bool,
    pub created_at: i64,
    pub birth_date: Option<String>,
    pub age_bracket: Option<String>,
    /// `full`, `age_undeclared` (declare with `POST /api/me/age`) or `awaiting_guardian`.
    pub standing: Standing,
    /// Fields of this update held for a moderator (shown once approved).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub pending_review: Vec<&'static str>,
    /// A moderator's mute: no chat until then.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub muted_until: Option<i64>,
}

/// The account as others see it; `phone_masked` only for staff viewers.
#[derive(Clone, Debug, Serialize)]
pub struct PublicUser {
    pub id: i64,
    pub nickname: String,
    pub avatar: Option<String>,
    pub gender: String,
    pub intro: String,
    pub roles: Vec<String>,
    pub created_at: i64,
    pub last_seen_at: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub phone_masked: Option<String>,
    /// The account was deleted: only this anonymous shell remains.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub deleted: bool,
}

#[derive(Debug, Serialize)]
pub struct CodeSent {
    pub sent: bool,
    pub expires_in_ms: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dev_code: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    pub phone: String,
    #[serde(default)]
    pub code: Option<String>,
    #[serde(default)]
    pub password: Option<String>,
    #[serde(default)]
    pub device: Option<String>,
    /// Registration records the age: a birth date (YYYY-MM-DD) or an age bracket. Ignored
    /// when the account has declared one already.
    #[serde(default)]
    pub birth_date: Option<String>,
    #[serde(default)]
    pub age_bracket: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct PhoneChangeCodes {
    pub sent: bool,
    pub expires_in_ms: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dev_old_code: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dev_new_code: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct LoginResult {
    pub token: String,
    pub session_id: i64,
    pub user: Me,
    /// True when this login cancelled a pending account deletion.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub deletion_cancelled: bool,
}

/// `PATCH /api/me`: absent fields are left alone; `null` clears `avatar` and `intro`.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct ProfilePatch {
    #[serde(default, deserialize_with = "present")]
    pub nickname: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    pub avatar: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    pub gender: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    pub intro: Option<Option<String>>,
}

/// Distinguishes a field sent as `null` (`Some(None)`) from an absent one (`None`).
fn present<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Option<String>>, D::Error> {
    Option::<String>::deserialize(d).map(Some)
}

#[derive(Debug, Serialize)]
pub struct SessionView {
    pub id: i64,
    pub device: String,
    pub created_at: i64,
    pub last_used_at: i64,
    pub expires_at: i64,
    pub current: bool,
}

/// Close code for sockets whose token was revoked or expired.
pub const CLOSE_TOKEN_REVOKED: u16 = 4001;

/// How stale `last_used_at` may get before a request refreshes it; saves a write per request.
const TOUCH_INTERVAL_MS: i64 = 60_000;

#[derive(Clone)]
pub struct Auth {
    db: Db,
    settings: Arc<AuthSettings>,
    sender: Arc<dyn CodeSender>,
    bus: SharedBus,
    vault: Arc<PhoneVault>,
    backend: crate::store::Backend,
    /// Screens nicknames and introductions before anyone else sees them.
    moderation: actix::Addr<crate::moderation::ModerationServer>,
    /// Password hashes computed at once on this node: argon2 takes ~19 MiB each, so an
    /// unbounded burst of logins or password changes would take the node's memory.
    hashes: Arc<tokio::sync::Semaphore>,
}

impl Auth {
    pub fn new(
        db: Db,
        settings: AuthSettings,
        sender: Arc<dyn CodeSender>,
        bus: SharedBus,
        vault: Arc<PhoneVault>,
        backend: crate::store::Backend,
        moderation: actix::Addr<crate::moderation::ModerationServer>,
    ) -> Self {
        Self {
            db,
            hashes: Arc::new(tokio::sync::Semaphore::new(settings.max_concurrent_hashes)),
            settings: Arc::new(settings),
            sender,
            bus,
            vault,
            backend,
            moderation,
        }
    }

    /// Screens one profile text: `Ok(true)` to show now, `Ok(false)` held for a moderator.
    async fn screened(
        &self,
        user_id: i64,
        field: crate::moderation::ProfileField,
        text: &str,
    ) -> AppResult<bool> {
        self.moderation
            .send(crate::moderation::ScreenProfileText {
                user_id,
                field,
                text: text.to_string(),
            })
            .await
            .map_err(|_| AppError::unavailable("moderation unavailable"))?
    }

    pub fn vault(&self) -> &PhoneVault {
        &self.vault
    }

    /// The owner's number, masked, for display; empty for an erased (deleted) account.
    fn masked_phone(&self, u: &store::UserRow) -> String {
        self.vault
            .phone_of(u)
            .map(|phone| phone.to_string())
            .unwrap_or_default()
    }

    pub fn db(&self) -> &Db {
        &self.db
    }

    /// The client address of a request, as this deployment is configured to read it.
    pub fn client_ip(&self, req: &actix_web::HttpRequest) -> ClientIp {
        ClientIp::of(req, self.settings.trust_forwarded_for)
    }

    /// `POST /api/auth/code`: a fresh code for the phone, at most one per resend interval.
    #[tracing::instrument(skip_all)]
    pub async fn request_code(&self, phone: &str, ip: &ClientIp) -> AppResult<CodeSent> {
        let phone = PhoneNumber::parse(phone)?;
        let s = &self.settings;
        let lookup = self.vault.lookup(&phone);
        // The resend interval counts from the last code sent, whether or not it was used: a
        // login consumes its code row, and that must not allow the next code at once.
        let resend = crate::store::rate::Limit {
            max: 1,
            window_ms: s.code_resend_ms,
        };
        let key = format!("code:sent:{lookup}");
        if let Some(wait) = crate::store::rate::hit(&self.db, &key, resend, now_ms()).await? {
            return Err(AppError::new(
                ErrorCode::CodeCooldown,
                "a code was sent to this phone moments ago; wait before asking again",
            )
            .retry_after(wait));
        }
        limits::charge_code(&self.db, s, ip, &lookup).await?;
        let now = now_ms();
        let code = policy::new_login_code();
        let hash = policy::hash_secret(&[&lookup, &code]);
        let stored = store::put_login_code(
            &self.db,
            &lookup,
            &hash,
            now,
            now + s.code_ttl_ms,
            s.code_max_attempts,
            now - s.code_resend_ms,
        )
        .await?;
        if !stored {
            let sent_at = store::code_sent_at(&self.db, &lookup).await?.unwrap_or(now);
            let wait = (sent_at + s.code_resend_ms - now).max(1);
            return Err(AppError::new(
                ErrorCode::CodeCooldown,
                "a code was sent to this phone moments ago; wait before asking again",
            )
            .retry_after(wait as u64));
        }
        self.sender.send(&phone, &code)?;
        crate::metrics::inc(&crate::metrics::METRICS.auth_codes_sent);
        Ok(CodeSent {
            sent: true,
            expires_in_ms: s.code_ttl_ms,
            dev_code: s.dev_codes.then_some(code),
        })
    }

    /// `POST /api/auth/login`: by code (registers on first use) or by password.
    #[tracing::instrument(skip_all)]
    pub async fn login(&self, req: LoginRequest, ip: &ClientIp) -> AppResult<LoginResult> {
        limits::charge_login(&self.db, &self.settings, ip).await?;
        let phone = PhoneNumber::parse(&req.phone)?;
        let device = match req.device.as_deref().map(str::trim) {
            Some(d) if !d.is_empty() => d.chars().take(policy::DEVICE_MAX_CHARS).collect(),
            _ => "unnamed device".to_string(),
        };
        // Checked before the code is spent, so a typo costs no attempt.
        let declared = if req.birth_date.is_some() || req.age_bracket.is_some() {
            let declaration = AgeDeclaration {
                birth_date: req.birth_date.clone(),
                age_bracket: req.age_bracket.clone(),
            };
            Some(declaration.parse(now_ms())?)
        } else {
            None
        };
        let user_id = match (req.code, req.password) {
            (Some(code), None) => self.check_code(&phone, code.trim()).await?,
            (None, Some(password)) => self.check_password(&phone, password).await?,
            _ => {
                return Err(AppError::field(
                    "code",
                    "give exactly one of `code` and `password`",
                ))
            }
        };
        if let Some(d) = &declared {
            crate::minors::store::declare_age(
                &self.db,
                user_id,
                d.birth_date.as_deref(),
                d.bracket,
                now_ms(),
            )
            .await?;
        }
        if let Some(until) =
            crate::moderation::store::suspended_until(&self.db, user_id, now_ms()).await?
        {
            let mut e = AppError::new(
                ErrorCode::Suspended,
                "this account is suspended by a moderator",
            );
            if until > 0 {
                e = e.retry_after((until - now_ms()).max(1) as u64);
            }
            return Err(e);
        }
        if crate::privacy::imposed_deletion_pending(&self.db, user_id).await? {
            return Err(AppError::forbidden(
                "this account is being deleted at its guardian's request or because it is \
                 under 14 without a guardian's consent",
            ));
        }
        // Logging in during the cooling-off period is how a user takes a deletion back.
        let deletion_cancelled = crate::privacy::cancel_deletion(&self.db, user_id).await?;
        if deletion_cancelled {
            tracing::info!(user_id, "account deletion cancelled by login");
        }
        let token = policy::new_token();
        let now = now_ms();
        let session_id = store::insert_token(
            &self.db,
            user_id,
            &policy::hash_secret(&[&token]),
            &device,
            now,
            now + self.settings.token_ttl_ms,
        )
        .await?;
        tracing::info!(user_id, session_id, "login");
        crate::metrics::inc(&crate::metrics::METRICS.auth_logins);
        Ok(LoginResult {
            token,
            session_id,
            user: self.me(user_id).await?,
            deletion_cancelled,
        })
    }

    async fn check_code(&self, phone: &PhoneNumber, code: &str) -> AppResult<i64> {
        let db = &self.db;
        let lookup = self.vault.lookup(phone);
        let Some(attempt) = store::spend_code_attempt(db, &lookup).await? else {
            return Err(if store::code_exists(db, &lookup).await? {
                AppError::new(
                    ErrorCode::TooManyAttempts,
                    "too many wrong codes; request a new one",
                )
            } else {
                AppError::new(ErrorCode::InvalidCode, "wrong or unknown code")
            });
        };
        if attempt.expires_at <= now_ms() {
            return Err(AppError::new(
                ErrorCode::CodeExpired,
                "the code has expired; request a new one",
            ));
        }
        let hash = policy::hash_secret(&[&lookup, code]);
        if hash != attempt.code_hash || !store::consume_code(db, &lookup, &hash).await? {
            return Err(AppError::new(
                ErrorCode::InvalidCode,
                "wrong or unknown code",
            ));
        }
        let nickname = format!("用户{}", &policy::new_login_code()[..4]);
        let user_id = store::ensure_user(db, &lookup, &nickname, now_ms()).await?;
        store::set_phone_sealed_if_missing(db, user_id, &self.vault.seal(phone, user_id)).await?;
        // Owning the phone proves enough to lift a password lock.
        store::clear_wrong_passwords(db, user_id).await?;
        Ok(user_id)
    }

    /// Password login; after `password_max_attempts` wrong passwords in a row the account's
    /// password use is locked for `password_lockout_ms` (a code login lifts it). An unknown
    /// phone, or an account without a password, costs one hash too, so that the answer and
    /// its timing are the same whether the number is registered or not.
    async fn check_password(&self, phone: &PhoneNumber, password: String) -> AppResult<i64> {
        let wrong = || AppError::new(ErrorCode::InvalidCredentials, "wrong phone or password");
        let account = match store::user_id_by_phone(&self.db, &self.vault.lookup(phone)).await? {
            Some(user_id) => store::password_state(&self.db, user_id)
                .await?
                .and_then(|state| state.hash)
                .map(|hash| (user_id, hash)),
            None => None,
        };
        let Some((user_id, stored)) = account else {
            // An unknown number locks after as many wrong passwords as an account does, so
            // that `too_many_attempts` does not tell registered numbers apart either.
            let s = &self.settings;
            let key = format!("pw:unknown:{}", self.vault.lookup(phone));
            let limit = crate::store::rate::Limit {
                max: s.password_max_attempts,
                window_ms: s.password_lockout_ms.max(1),
            };
            if let Some(wait) = crate::store::rate::hit(&self.db, &key, limit, now_ms()).await? {
                return Err(AppError::new(
                    ErrorCode::TooManyAttempts,
                    "too many wrong passwords; try again later or log in with a code",
                )
                .retry_after(wait));
            }
            self.verify_password(password, dummy_hash().await?).await?;
            return Err(wrong());
        };
        self.claim_password_attempt(user_id).await?;
        if self.verify_password(password, stored).await? {
            store::clear_wrong_passwords(&self.db, user_id).await?;
            Ok(user_id)
        } else {
            Err(wrong())
        }
    }

    /// Counts a password attempt before its hash is computed, so that parallel guesses
    /// cannot all slip under the limit: `too_many_attempts` once it is reached.
    async fn claim_password_attempt(&self, user_id: i64) -> AppResult<()> {
        let s = &self.settings;
        let now = now_ms();
        if store::claim_password_attempt(
            &self.db,
            user_id,
            s.password_max_attempts,
            now + s.password_lockout_ms,
            now,
        )
        .await?
        {
            return Ok(());
        }
        let until = store::password_state(&self.db, user_id)
            .await?
            .and_then(|state| state.locked_until)
            .unwrap_or(now + 1);
        Err(AppError::new(
            ErrorCode::TooManyAttempts,
            "too many wrong passwords; try again later or log in with a code",
        )
        .retry_after((until - now).max(1) as u64))
    }

    /// Runs one argon2 computation on the blocking pool, at most
    /// `DUOXIE_AUTH_MAX_CONCURRENT_HASHES` at once on this node.
    async fn hashing<T: std::marker::Send + 'static>(
        &self,
        work: impl FnOnce() -> T + std::marker::Send + 'static,
    ) -> AppResult<T> {
        let _slot = tokio::time::timeout(HASH_WAIT, self.hashes.acquire())
            .await
            .map_err(|_| AppError::unavailable("too many password checks at once; retry"))?
            .map_err(|_| AppError::unavailable("shutting down"))?;
        actix_web::web::block(work)
            .await
            .map_err(|e| anyhow::anyhow!("password hashing task: {e}").into())
    }

    async fn verify_password(&self, password: String, stored: String) -> AppResult<bool> {
        self.hashing(move || {
            PasswordHash::new(&stored)
                .map(|parsed| {
                    Argon2::default()
                        .verify_password(password.as_bytes(), &parsed)
                        .is_ok()
                })
                .unwrap_or(false)
        })
        .await
    }

    /// Resolves a bearer token, refusing unknown, expired and revoked ones alike.
    pub async fn authenticate(&self, token: &str) -> AppResult<Identity> {
        let now = now_ms();
        let row = store::token_by_hash(&self.db, &policy::hash_secret(&[token]), now)
            .await?
            .ok_or_else(AppError::unauthorized)?;
        if row.revoked_at.is_some() || row.expires_at <= now {
            return Err(AppError::unauthorized());
        }
        if now - row.last_used_at > TOUCH_INTERVAL_MS {
            store::touch_token(&self.db, row.id, now).await?;
        }
        let roles = parse_roles(&row.roles);
        Ok(Identity {
            user_id: row.user_id,
            token_id: row.id,
            roles,
            expires_at: row.expires_at,
            standing: crate::minors::standing_of(&row.age, now),
            muted_until: row.muted_until.unwrap_or(0),
        })
    }

    async fn roles(&self, user_id: i64) -> AppResult<Vec<Role>> {
        Ok(parse_roles(&store::roles_of(&self.db, user_id).await?))
    }

    fn role_names(roles: &[Role]) -> Vec<String> {
        roles.iter().map(|r| r.as_str().to_string()).collect()
    }

    pub async fn me(&self, user_id: i64) -> AppResult<Me> {
        let u = store::user_by_id(&self.db, user_id)
            .await?
            .ok_or_else(|| AppError::not_found("user"))?;
        let roles = self.roles(user_id).await?;
        let phone_masked = self.masked_phone(&u);
        let age = crate::minors::store::age_row(&self.db, user_id)
            .await?
            .ok_or_else(|| AppError::not_found("user"))?;
        Ok(Me {
            standing: crate::minors::standing_of(&age, now_ms()),
            birth_date: age.birth_date,
            age_bracket: age.age_bracket,
            pending_review: Vec::new(),
            muted_until: crate::moderation::store::muted_until(&self.db, user_id, now_ms()).await?,
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

    async fn public_view(
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
                    let media = crate::media::store::by_id(&self.db, &a)
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

    /// `POST /api/me/phone/codes`: starts rebinding the account to `new_phone`: one code to the
    /// current number (the owner agrees) and one to the new number (they hold it).
    pub async fn request_phone_change(
        &self,
        user_id: i64,
        new_phone: &str,
        ip: &ClientIp,
    ) -> AppResult<PhoneChangeCodes> {
        let new_phone =
            PhoneNumber::parse(new_phone).map_err(|e| AppError::field("new_phone", e.message))?;
        let user = store::user_by_id(&self.db, user_id)
            .await?
            .ok_or_else(AppError::unauthorized)?;
        let old_phone = self
            .vault
            .phone_of(&user)
            .ok_or_else(|| AppError::forbidden("this account has no phone number to change"))?;
        // Charged before the number is looked up: probing which numbers are registered costs
        // the same share as sending codes.
        limits::charge_code(&self.db, &self.settings, ip, &self.vault.lookup(&new_phone)).await?;
        limits::charge_code(&self.db, &self.settings, ip, &self.vault.lookup(&old_phone)).await?;
        if old_phone == new_phone {
            return Err(AppError::field(
                "new_phone",
                "is already this account's number",
            ));
        }
        // Whether the new number already has an account is not said here (that answered 200
        // probes in half a second): its owner gets a code like anyone, and only someone holding
        // both codes learns at confirmation that the number is taken.
        let new_lookup = self.vault.lookup(&new_phone);
        let (old_code, new_code) = (policy::new_login_code(), policy::new_login_code());
        let old_lookup = self.vault.lookup(&old_phone);
        let s = &self.settings;
        let now = now_ms();
        let stored = store::put_phone_change(
            &self.db,
            &store::NewPhoneChange {
                user_id,
                new_lookup: &new_lookup,
                new_sealed: &self.vault.seal(&new_phone, user_id),
                old_code_hash: &policy::hash_secret(&[&old_lookup, "rebind", &old_code]),
                new_code_hash: &policy::hash_secret(&[&new_lookup, "rebind", &new_code]),
                now,
                expires_at: now + s.code_ttl_ms,
                attempts: s.code_max_attempts,
                resend_before: now - s.code_resend_ms,
            },
        )
        .await?;
        if !stored {
            return Err(AppError::new(
                ErrorCode::CodeCooldown,
                "codes were sent moments ago; wait before asking again",
            )
            .retry_after(s.code_resend_ms.max(1) as u64));
        }
        self.sender.send(&old_phone, &old_code)?;
        self.sender.send(&new_phone, &new_code)?;
        tracing::info!(user_id, new_phone = %new_phone, "phone change codes sent");
        Ok(PhoneChangeCodes {
            sent: true,
            expires_in_ms: s.code_ttl_ms,
            dev_old_code: s.dev_codes.then_some(old_code),
            dev_new_code: s.dev_codes.then_some(new_code),
        })
    }

    /// `POST /api/me/phone`: both codes right, and the account moves to the new number.
    pub async fn confirm_phone_change(
        &self,
        user_id: i64,
        old_code: &str,
        new_code: &str,
    ) -> AppResult<Me> {
        let Some(pending) = store::spend_phone_change_attempt(&self.db, user_id).await? else {
            return Err(if store::phone_change_pending(&self.db, user_id).await? {
                AppError::new(
                    ErrorCode::TooManyAttempts,
                    "too many wrong codes; start again",
                )
            } else {
                AppError::new(ErrorCode::InvalidCode, "no phone change is pending")
            });
        };
        if pending.expires_at <= now_ms() {
            return Err(AppError::new(
                ErrorCode::CodeExpired,
                "the codes have expired; start again",
            ));
        }
        let user = store::user_by_id(&self.db, user_id)
            .await?
            .ok_or_else(AppError::unauthorized)?;
        let old_lookup = self
            .vault
            .phone_of(&user)
            .map(|phone| self.vault.lookup(&phone))
            .unwrap_or_default();
        let old_ok =
            policy::hash_secret(&[&old_lookup, "rebind", old_code.trim()]) == pending.old_code_hash;
        let new_ok = policy::hash_secret(&[&pending.new_lookup, "rebind", new_code.trim()])
            == pending.new_code_hash;
        if !(old_ok && new_ok) {
            // Which one was wrong is not said: that would halve the guessing.
            return Err(AppError::new(ErrorCode::InvalidCode, "wrong code"));
        }
        if !store::apply_phone_change(
            &self.db,
            self.backend,
            user_id,
            &pending.new_lookup,
            &pending.new_sealed,
        )
        .await?
        {
            return Err(AppError::field(
                "new_phone",
                "already belongs to an account",
            ));
        }
        tracing::info!(user_id, "phone number changed");
        self.me(user_id).await
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

    pub async fn sessions(&self, who: &Identity) -> AppResult<Vec<SessionView>> {
        Ok(store::live_sessions(&self.db, who.user_id, now_ms())
            .await?
            .into_iter()
            .map(|s| SessionView {
                current: s.id == who.token_id,
                id: s.id,
                device: s.device,
                created_at: s.created_at,
                last_used_at: s.last_used_at,
                expires_at: s.expires_at,
            })
            .collect())
    }

    /// Revokes one device's token and closes its live sockets on every node.
    pub async fn revoke_session(&self, user_id: i64, token_id: i64) -> AppResult<()> {
        if !store::revoke_token(&self.db, user_id, token_id, now_ms()).await? {
            return Err(AppError::not_found("session"));
        }
        tracing::info!(user_id, session_id = token_id, "session revoked");
        self.bus.publish(
            Audience::User(user_id),
            Delivery::CloseToken {
                token_id,
                code: CLOSE_TOKEN_REVOKED,
                reason: "token revoked".into(),
            },
        );
        Ok(())
    }
}

/// Everyone is a buyer; granted roles come on top. Unknown names (from a newer version) are
/// ignored rather than failing the login.
fn parse_roles(granted: &[String]) -> Vec<Role> {
    let mut roles = vec![Role::Buyer];
    for role in granted.iter().filter_map(|raw| Role::parse(raw).ok()) {
        if !roles.contains(&role) {
            roles.push(role);
        }
    }
    roles
}

fn hash_password(password: &str) -> Result<String, argon2::password_hash::Error> {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
}

/// Longest a password check waits for a hashing slot before answering `unavailable`.
const HASH_WAIT: std::time::Duration = std::time::Duration::from_secs(10);

/// A hash of a random password with the real parameters: checked against when there is no
/// account (or no password), so that a wrong phone takes as long as a wrong password.
async fn dummy_hash() -> AppResult<String> {
    static DUMMY: tokio::sync::OnceCell<String> = tokio::sync::OnceCell::const_new();
    DUMMY
        .get_or_try_init(|| async {
            actix_web::web::block(|| hash_password(&policy::new_token()))
                .await
                .map_err(|e| AppError::from(anyhow::anyhow!("dummy hash task: {e}")))?
                .map_err(|e| AppError::from(anyhow::anyhow!("dummy hash: {e}")))
        })
        .await
        .cloned()
}

/// Seals phone numbers stored before sealing existed. Idempotent, and safe with several
/// nodes starting at once: each row is updated only while it still holds the plain number.
pub async fn seal_legacy_phones(db: &Db, vault: &PhoneVault) -> anyhow::Result<usize> {
    let legacy = store::legacy_phones(db).await?;
    for (user_id, plain) in &legacy {
        let Ok(phone) = PhoneNumber::parse(plain) else {
            tracing::warn!(user_id, "stored phone number is not valid; left unsealed");
            continue;
        };
        store::seal_legacy_phone(
            db,
            *user_id,
            plain,
            &vault.lookup(&phone),
            &vault.seal(&phone, *user_id),
        )
        .await?;
    }
    if !legacy.is_empty() {
        tracing::info!(count = legacy.len(), "sealed legacy phone numbers");
    }
    Ok(legacy.len())
}

/// Grants a role (used by `duoxie admin grant-role` and by tests).
pub async fn grant_role(db: &Db, user_id: i64, role: &str) -> anyhow::Result<()> {
    let role = Role::parse(role).map_err(|e| anyhow::anyhow!(e.message))?;
    store::grant_role(db, user_id, role.as_str(), now_ms()).await?;
    Ok(())
}
