//! Chat's part in the user's rights: conversations, messages (paged into the streamed
//! export), blocks and held texts; erased with the account (delivered messages stay with
//! their recipients, from an anonymised sender).

use futures_util::future::BoxFuture;
use serde_json::{json, Value};
use sqlx::AnyConnection;

use super::store;
use super::store as chat;
use crate::error::AppResult;
use crate::rights::{DataDomain, ExportSink};
use crate::store::Db;

pub struct ChatRights;

impl DataDomain for ChatRights {
    fn name(&self) -> &'static str {
        "chat"
    }
    fn personal_columns(&self) -> &'static [(&'static str, &'static str)] {
        &[
            ("conversations", "user_a"),
            ("conversations", "user_b"),
            ("conversation_members", "user_id"),
            ("messages", "sender_id"),
            // The relations' table, exported in this section as the protocol documents it.
            ("blocks", "blocker_id"),
            ("blocks", "blocked_id"),
            ("held_photos", "sender_id"),
            ("held_texts", "sender_id"),
        ]
    }
    fn export<'a>(&'a self, db: &'a Db, user_id: i64) -> BoxFuture<'a, AppResult<Value>> {
        Box::pin(async move {
            let mut messages = Vec::new();
            let mut after = (0, 0);
            loop {
                let page = chat::export_messages_after(db, user_id, after, 1000).await?;
                let Some(last) = page.last() else { break };
                after = (last.conversation_id, last.seq);
                messages.extend(page);
            }
            Ok(json!({
                "conversations": chat::export_conversations(db, user_id).await?,
                "messages": messages,
                "blocks": crate::relations::export_blocks(db, user_id).await?,
                "held_texts": chat::export_held_texts(db, user_id).await?,
            }))
        })
    }
    /// Messages are paged: a user may hold hundreds of megabytes of them.
    fn export_into<'a>(
        &'a self,
        db: &'a Db,
        user_id: i64,
        out: &'a mut ExportSink,
    ) -> BoxFuture<'a, AppResult<()>> {
        Box::pin(async move {
            out.raw("{\"conversations\":");
            out.value(&chat::export_conversations(db, user_id).await?)?;
            out.raw(",\"messages\":[");
            let mut after = (0, 0);
            let mut first = true;
            loop {
                let page = chat::export_messages_after(db, user_id, after, 500).await?;
                let Some(last) = page.last() else { break };
                after = (last.conversation_id, last.seq);
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
            out.value(&crate::relations::export_blocks(db, user_id).await?)?;
            out.raw(",\"held_texts\":");
            out.value(&chat::export_held_texts(db, user_id).await?)?;
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
            crate::relations::erase_blocks(&mut *conn, user_id).await?;
            store::erase_held_texts(&mut *conn, user_id).await?;
            store::erase_held_photos(conn, user_id).await
        })
    }
}
