//! The user's rights over their data (policy: 管理您的个人信息) and the jobs that keep the
//! policy's retention promises.
//!
//! Every domain that stores personal data is a [`DataDomain`] listed in [`DOMAINS`]: it names
//! the columns that hold a user id, contributes its section to the export, and erases its part
//! when an account is deleted. A test compares the named columns with every foreign key to
//! `users` in the schema, so a new table cannot be forgotten by the export or the deletion.
//!
//! [`Privacy`] is a stateless service (a few statements per call). The scheduled part (due
//! deletions, purges) is [`retention::RetentionJob`], one actor per node; every step is a
//! conditional statement, so several nodes running it at once do each thing once.

pub mod export;
pub mod retention;
pub mod store;

use std::sync::Arc;

use futures_util::future::BoxFuture;
use serde::Serialize;
use serde_json::{json, Value};
use sqlx::AnyConnection;

use crate::auth::phone_vault::PhoneVault;
use crate::bus::{Audience, Delivery, SharedBus};
use crate::config::PrivacySettings;
use crate::consent::receipt::ReceiptSigner;
use crate::error::{AppError, AppResult};
use crate::store::{begin_write, now_ms, Backend, Db};

/// Blocking file work off the async threads.
async fn web_block(work: impl FnOnce() -> anyhow::Result<()> + Send + 'static) -> AppResult<()> {
    actix_web::web::block(work)
        .await
        .map_err(|e| anyhow::anyhow!("blocking task: {e}"))??;
    Ok(())
}

/// Close code for sockets of an account being deleted.
pub const CLOSE_ACCOUNT_CLOSED: u16 = 4003;
/// The nickname an erased account shows.
pub const DELETED_NICKNAME: &str = "已注销用户";

/// What a domain needs to write its export section.
pub struct ExportContext {
    pub db: Db,
    pub signer: Arc<ReceiptSigner>,
    pub vault: Arc<PhoneVault>,
    /// Where uploads' bytes are: erased with the account once nothing refers to them.
    pub blobs: Arc<dyn crate::media::blob::BlobStore>,
}

/// One domain's part in the user's rights.
pub trait DataDomain: Sync {
    /// The export section.
    fn name(&self) -> &'static str;
    /// Every `(table, column)` of this domain that references `users`.
    fn personal_columns(&self) -> &'static [(&'static str, &'static str)];
    fn export<'a>(&'a self, cx: &'a ExportContext, user_id: i64)
        -> BoxFuture<'a, AppResult<Value>>;
    /// Writes the export section into the streamed document. The default writes
    /// [`DataDomain::export`] whole; a domain whose data can be large pages it instead.
    fn export_into<'a>(
        &'a self,
        cx: &'a ExportContext,
        user_id: i64,
        out: &'a mut export::ExportSink,
    ) -> BoxFuture<'a, AppResult<()>> {
        Box::pin(async move { out.value(&self.export(cx, user_id).await?) })
    }
    /// Erases this domain's part of a deleted account, inside the deletion transaction.
    fn erase<'a>(
        &'a self,
        conn: &'a mut AnyConnection,
        user_id: i64,
    ) -> BoxFuture<'a, Result<(), sqlx::Error>>;
}

struct AccountData;
struct ConsentData;
struct ChatData;
struct StaffAccessData;
struct MinorsData;
struct MediaData;
struct ModerationData;

/// Every domain holding personal data. Adding a table that references `users` without
/// listing it here fails `privacy::every_personal_column_is_exported_and_erased`.
pub static DOMAINS: &[&dyn DataDomain] = &[
    &ChatData,
    &ConsentData,
    &StaffAccessData,
    &MinorsData,
    &MediaData,
    &ModerationData,
    &AccountData,
];

impl DataDomain for AccountData {
    fn name(&self) -> &'static str {
        "account"
    }
    fn personal_columns(&self) -> &'static [(&'static str, &'static str)] {
        &[
            ("user_roles", "user_id"),
            ("auth_tokens", "user_id"),
            ("phone_change_codes", "user_id"),
        ]
    }
    fn export<'a>(
        &'a self,
        cx: &'a ExportContext,
        user_id: i64,
    ) -> BoxFuture<'a, AppResult<Value>> {
        Box::pin(async move {
            use crate::auth::store as auth;
            let user = auth::user_by_id(&cx.db, user_id)
                .await?
                .ok_or_else(|| AppError::not_found("user"))?;
            // The owner's own copy: the one place the full number is returned.
            let phone = cx.vault.phone_of(&user).map(|p| p.expose().to_string());
            Ok(json!({
                "id": user.id,
                "phone": phone,
                "nickname": user.nickname,
                "avatar": user.avatar,
                "gender": user.gender,
                "intro": user.intro,
                "has_password": user.has_password,
                "created_at": user.created_at,
                "last_seen_at": user.last_seen_at,
                "roles": auth::roles_of(&cx.db, user_id).await?,
                "sessions": auth::all_sessions(&cx.db, user_id).await?,
            }))
        })
    }
    fn erase<'a>(
        &'a self,
        conn: &'a mut AnyConnection,
        user_id: i64,
    ) -> BoxFuture<'a, Result<(), sqlx::Error>> {
        Box::pin(crate::auth::store::erase_account(
            conn,
            user_id,
            DELETED_NICKNAME,
        ))
    }
}

impl DataDomain for ConsentData {
    fn name(&self) -> &'static str {
        "consents"
    }
    fn personal_columns(&self) -> &'static [(&'static str, &'static str)] {
        &[("consent_events", "user_id")]
    }
    fn export<'a>(
        &'a self,
        cx: &'a ExportContext,
        user_id: i64,
    ) -> BoxFuture<'a, AppResult<Value>> {
        Box::pin(async move {
            let history =
                crate::consent::history_with_receipts(&cx.db, &cx.signer, user_id).await?;
            Ok(json!({ "history": history }))
        })
    }
    fn erase<'a>(
        &'a self,
        conn: &'a mut AnyConnection,
        user_id: i64,
    ) -> BoxFuture<'a, Result<(), sqlx::Error>> {
        Box::pin(crate::consent::store::erase(conn, user_id))
    }
}

use crate::chat::store as chat;

fn json_i64(value: &Value, key: &str) -> i64 {
    value[key].as_i64().unwrap_or(0)
}

impl DataDomain for ChatData {
    fn name(&self) -> &'static str {
        "chat"
    }
    fn personal_columns(&self) -> &'static [(&'static str, &'static str)] {
        &[
            ("conversations", "user_a"),
            ("conversations", "user_b"),
            ("conversation_members", "user_id"),
            ("messages", "sender_id"),
            ("blocks", "blocker_id"),
            ("blocks", "blocked_id"),
            ("held_photos", "sender_id"),
            ("held_texts", "sender_id"),
        ]
    }
    fn export<'a>(
        &'a self,
        cx: &'a ExportContext,
        user_id: i64,
    ) -> BoxFuture<'a, AppResult<Value>> {
        Box::pin(async move {
            let mut messages = Vec::new();
            let mut after = (0, 0);
            loop {
                let page = chat::export_messages_after(&cx.db, user_id, after, 1000).await?;
                let Some(last) = page.last() else { break };
                after = (json_i64(last, "conversation_id"), json_i64(last, "seq"));
                messages.extend(page);
            }
            Ok(json!({
                "conversations": chat::export_conversations(&cx.db, user_id).await?,
                "messages": messages,
                "blocks": chat::export_blocks(&cx.db, user_id).await?,
                "held_texts": chat::export_held_texts(&cx.db, user_id).await?,
            }))
        })
    }
    /// Messages are paged: a user may hold hundreds of megabytes of them.
    fn export_into<'a>(
        &'a self,
        cx: &'a ExportContext,
        user_id: i64,
        out: &'a mut export::ExportSink,
    ) -> BoxFuture<'a, AppResult<()>> {
        Box::pin(async move {
            out.raw("{\"conversations\":");
            out.value(&chat::export_conversations(&cx.db, user_id).await?)?;
            out.raw(",\"messages\":[");
            let mut after = (0, 0);
            let mut first = true;
            loop {
                let page = chat::export_messages_after(&cx.db, user_id, after, 500).await?;
                let Some(last) = page.last() else { break };
                after = (json_i64(last, "conversation_id"), json_i64(last, "seq"));
                for message in &page {
                    if !first {
                        out.raw(",");
                    }
                    first = false;
                    out.value(message)?;
                }
                out.flush().await?;
            }
            out.raw("],\"blocks\":");
            out.value(&chat::export_blocks(&cx.db, user_id).await?)?;
            out.raw(",\"held_texts\":");
            out.value(&chat::export_held_texts(&cx.db, user_id).await?)?;
            out.raw("}");
            Ok(())
        })
    }
    fn erase<'a>(
        &'a self,
        conn: &'a mut AnyConnection,
        user_id: i64,
    ) -> BoxFuture<'a, Result<(), sqlx::Error>> {
        Box::pin(async move {
            crate::chat::store::erase(&mut *conn, user_id).await?;
            crate::chat::store::erase_held_texts(&mut *conn, user_id).await?;
            crate::chat::store::erase_held_photos(conn, user_id).await
        })
    }
}

impl DataDomain for StaffAccessData {
    fn name(&self) -> &'static str {
        "staff_access"
    }
    fn personal_columns(&self) -> &'static [(&'static str, &'static str)] {
        &[
            ("staff_access_log", "staff_id"),
            ("staff_access_log", "subject_id"),
        ]
    }
    fn export<'a>(
        &'a self,
        cx: &'a ExportContext,
        user_id: i64,
    ) -> BoxFuture<'a, AppResult<Value>> {
        Box::pin(async move { Ok(json!(store::staff_access_to(&cx.db, user_id).await?)) })
    }
    fn erase<'a>(
        &'a self,
        conn: &'a mut AnyConnection,
        user_id: i64,
    ) -> BoxFuture<'a, Result<(), sqlx::Error>> {
        Box::pin(store::erase_staff_access(conn, user_id))
    }
}

impl DataDomain for MinorsData {
    fn name(&self) -> &'static str {
        "age_and_guardian"
    }
    fn personal_columns(&self) -> &'static [(&'static str, &'static str)] {
        &[
            ("guardian_codes", "child_id"),
            ("guardian_events", "child_id"),
        ]
    }
    fn export<'a>(
        &'a self,
        cx: &'a ExportContext,
        user_id: i64,
    ) -> BoxFuture<'a, AppResult<Value>> {
        Box::pin(crate::minors::Minors::export(&cx.db, &cx.vault, user_id))
    }
    fn erase<'a>(
        &'a self,
        conn: &'a mut AnyConnection,
        user_id: i64,
    ) -> BoxFuture<'a, Result<(), sqlx::Error>> {
        Box::pin(crate::minors::store::erase(conn, user_id))
    }
}

impl DataDomain for MediaData {
    fn name(&self) -> &'static str {
        "media"
    }
    fn personal_columns(&self) -> &'static [(&'static str, &'static str)] {
        &[("media", "owner_id")]
    }
    fn export<'a>(
        &'a self,
        cx: &'a ExportContext,
        user_id: i64,
    ) -> BoxFuture<'a, AppResult<Value>> {
        Box::pin(crate::media::Media::export(&cx.db, user_id))
    }
    fn erase<'a>(
        &'a self,
        conn: &'a mut AnyConnection,
        user_id: i64,
    ) -> BoxFuture<'a, Result<(), sqlx::Error>> {
        Box::pin(crate::media::store::erase_owned(conn, user_id))
    }
}

impl DataDomain for ModerationData {
    fn name(&self) -> &'static str {
        "moderation"
    }
    fn personal_columns(&self) -> &'static [(&'static str, &'static str)] {
        // Audit rows name the staff member who acted; they stay (accountability) and point
        // at the anonymised account after a deletion.
        &[
            ("moderation_items", "subject_id"),
            ("moderation_items", "reporter_id"),
            ("moderation_audit", "actor_id"),
            ("user_sanctions", "user_id"),
        ]
    }
    fn export<'a>(
        &'a self,
        cx: &'a ExportContext,
        user_id: i64,
    ) -> BoxFuture<'a, AppResult<Value>> {
        Box::pin(async move {
            let items: Vec<Value> = crate::moderation::store::items_about(&cx.db, user_id)
                .await?
                .into_iter()
                .map(|i| {
                    json!({
                        "kind": i.kind, "content": i.content, "state": i.state,
                        "decision": i.decision, "decision_reason": i.decision_reason,
                        "created_at": i.created_at,
                    })
                })
                .collect();
            let sanctions = crate::moderation::store::sanctions_of(&cx.db, user_id).await?;
            Ok(json!({ "decisions_about_my_content": items, "sanctions": sanctions }))
        })
    }
    fn erase<'a>(
        &'a self,
        conn: &'a mut AnyConnection,
        user_id: i64,
    ) -> BoxFuture<'a, Result<(), sqlx::Error>> {
        Box::pin(async move {
            crate::moderation::store::erase_items_about(&mut *conn, user_id).await?;
            crate::moderation::store::forget_reporter(&mut *conn, user_id).await?;
            crate::moderation::store::erase_sanctions(conn, user_id).await
        })
    }
}

#[derive(Debug, Serialize)]
pub struct DeletionScheduled {
    pub requested_at: i64,
    /// When the account is erased unless the user logs in before.
    pub due_at: i64,
}

#[derive(Clone)]
pub struct Privacy {
    cx: Arc<ExportContext>,
    backend: Backend,
    bus: SharedBus,
    settings: Arc<PrivacySettings>,
    exports: Arc<export::ExportSlots>,
}

impl Privacy {
    pub fn new(
        cx: ExportContext,
        backend: Backend,
        bus: SharedBus,
        settings: PrivacySettings,
    ) -> Self {
        Self {
            cx: Arc::new(cx),
            backend,
            bus,
            exports: Arc::new(export::ExportSlots::new(settings.max_concurrent_exports)),
            settings: Arc::new(settings),
        }
    }

    fn db(&self) -> &Db {
        &self.cx.db
    }

    /// `GET /api/me/export`: every domain's section.
    /// `GET /api/me/export`: the whole document as a stream of JSON bytes (see [`export`]).
    pub fn export(
        &self,
        user_id: i64,
    ) -> AppResult<impl futures_util::Stream<Item = Result<bytes::Bytes, std::io::Error>>> {
        export::start(self.cx.clone(), &self.exports, user_id)
    }

    /// `POST /api/me/deletion`: starts the cooling-off period and logs the account out
    /// everywhere; logging in again before `due_at` cancels the deletion.
    pub async fn request_deletion(&self, user_id: i64) -> AppResult<DeletionScheduled> {
        let now = now_ms();
        let due = now.saturating_add(self.settings.deletion_cooling_off_ms);
        let (requested_at, due_at) = store::request_deletion(self.db(), user_id, now, due)
            .await?
            .ok_or_else(|| AppError::not_found("user"))?;
        crate::auth::store::revoke_all_tokens(self.db(), user_id, now).await?;
        tracing::info!(user_id, due_at, "account deletion requested");
        self.close_sockets(user_id, "account deletion requested");
        Ok(DeletionScheduled {
            requested_at,
            due_at,
        })
    }

    fn close_sockets(&self, user_id: i64, reason: &str) {
        self.bus.publish(
            Audience::User(user_id),
            Delivery::CloseUser {
                code: CLOSE_ACCOUNT_CLOSED,
                reason: reason.into(),
            },
        );
    }

    /// Removes those of `candidates` that no upload refers to any more.
    pub async fn delete_unreferenced_blobs(&self, candidates: Vec<String>) -> AppResult<()> {
        let unused = crate::media::store::unreferenced(self.db(), &candidates).await?;
        let blobs = self.cx.blobs.clone();
        web_block(move || unused.iter().try_for_each(|b| blobs.delete(b))).await
    }

    /// Erases one account whose cooling-off period ended: the claim and every domain's
    /// erasure in one transaction. False when another node, or a login, got there first.
    pub async fn erase_due_account(&self, user_id: i64) -> AppResult<bool> {
        let uploaded = crate::media::store::blobs_of(self.db(), user_id).await?;
        let mut tx = begin_write(self.db(), self.backend).await?;
        if !store::claim_deletion(&mut tx, user_id, now_ms()).await? {
            tx.rollback().await?;
            return Ok(false);
        }
        for domain in DOMAINS {
            domain.erase(&mut tx, user_id).await?;
        }
        tx.commit().await?;
        // The bytes of the user's uploads, unless the same bytes are someone else's upload too.
        self.delete_unreferenced_blobs(uploaded).await?;
        tracing::info!(user_id, "account deleted");
        crate::metrics::inc(&crate::metrics::METRICS.accounts_deleted);
        self.close_sockets(user_id, "account deleted");
        Ok(true)
    }
}
