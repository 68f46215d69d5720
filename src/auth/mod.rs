//! Accounts (policy: 注册及使用): phone-code login that registers on first use, optional
//! passwords, per-device tokens that can be listed and revoked, profiles and roles.
//!
//! [`Auth`] is a stateless service (every call is a few statements), so it is a cloneable
//! struct rather than an actor. It never logs a phone number, code or token: phones go through
//! [`policy::PhoneNumber`], whose `Display` masks them.
//!
//! [`Auth`]'s methods by concern: [`login`] (codes, login, the token check), [`profile`]
//! (profiles, directory, password), [`phone`] (changing the number), [`sessions`] (devices).

mod directory;
pub mod extractor;
pub mod limits;
pub mod moderated;
pub use directory::AccountDirectory;
mod login;
mod phone;
pub mod policy;
mod profile;
pub mod rights;
mod sessions;
pub mod settings;
pub mod standing;
mod store;

use std::sync::Arc;

use argon2::password_hash::{
    rand_core::OsRng, PasswordHash, PasswordHasher, PasswordVerifier, SaltString,
};
use argon2::Argon2;
use serde::{Deserialize, Serialize};

use crate::bus::{Audience, Delivery, SharedBus};
use crate::codes::{self, ClientIp, CodeSender, Purpose};
use crate::domain::Standing;
use crate::error::{AppError, AppResult, ErrorCode};
use crate::minors::AgeDeclaration;
use crate::phone::PhoneVault;
use crate::store::{now_ms, Db};
use policy::{Gender, Nickname, PhoneNumber, Role};
use settings::AuthSettings;

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
    /// A login with a code (which registers a new account) accepts the user agreement and the
    /// privacy policy: the version in force, as `GET /api/legal/...` showed it.
    #[serde(default)]
    pub accepted_policy_version: Option<String>,
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
            .phone_of(u.phone_sealed.as_deref(), u.id)
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

    /// The account's roles as they are now.
    pub async fn roles(&self, user_id: i64) -> AppResult<Vec<Role>> {
        Ok(parse_roles(&store::roles_of(&self.db, user_id).await?))
    }

    fn role_names(roles: &[Role]) -> Vec<String> {
        roles.iter().map(|r| r.as_str().to_string()).collect()
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
/// Takes a role back (the operator's CLI); false when the account did not hold it.
pub async fn revoke_role(db: &Db, user_id: i64, role: Role) -> anyhow::Result<bool> {
    Ok(store::revoke_role(db, user_id, role.as_str()).await?)
}

/// The account registered with a phone number, found by its keyed hash.
pub async fn account_by_phone(db: &Db, lookup: &str) -> anyhow::Result<Option<i64>> {
    Ok(store::user_id_by_phone(db, lookup).await?)
}

pub async fn grant_role(db: &Db, user_id: i64, role: &str) -> anyhow::Result<()> {
    let role = Role::parse(role).map_err(|e| anyhow::anyhow!(e.message))?;
    store::grant_role(db, user_id, role.as_str(), now_ms()).await?;
    Ok(())
}
