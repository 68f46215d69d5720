//! The caller's devices (sessions) and revoking one.

use super::*;

impl Auth {
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
