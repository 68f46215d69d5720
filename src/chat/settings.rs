//! Chat's settings: the `[chat]` section (env `DUOXIE_CHAT_*`), its defaults and the values it
//! refuses.

use crate::config::{check, Env, Section};
use serde::Deserialize;

#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ChatSettings {
    /// Longest chat text, characters. env `DUOXIE_CHAT_MAX_TEXT_CHARS`; default: 4000.
    pub max_text_chars: usize,
    /// Largest `chat.history` page. env `DUOXIE_CHAT_PAGE_MAX`; default: 100.
    pub page_max: i64,
    /// Most messages per conversation in one `chat.sync` reply. env `DUOXIE_CHAT_SYNC_MAX`;
    /// default: 500.
    pub sync_max: i64,
    /// Minimum interval between relayed typing indicators per socket and conversation, ms.
    /// env `DUOXIE_CHAT_TYPING_INTERVAL_MS`; default: 2000.
    pub typing_interval_ms: u64,
    /// How long a user whose last socket closed still counts as online, ms: a reconnect within
    /// it is no news to anyone (and costs nothing). env `DUOXIE_CHAT_PRESENCE_GRACE_MS`;
    /// default: 5000.
    pub presence_grace_ms: u64,
    /// New conversations one user may open per hour (opening an existing one is free).
    /// env `DUOXIE_CHAT_NEW_CONVERSATIONS_PER_HOUR`; default: 30.
    pub new_conversations_per_hour: i64,
    /// Most messages committed in one group-commit transaction.
    /// env `DUOXIE_CHAT_COMMIT_BATCH_MAX`; default: 256.
    pub commit_batch_max: usize,
    /// How long after sending a message its sender may recall it (撤回), ms.
    /// env `DUOXIE_CHAT_RECALL_WINDOW_MS`; default: 120000 (2 min).
    pub recall_window_ms: i64,
}

impl Default for ChatSettings {
    fn default() -> Self {
        Self {
            max_text_chars: 4000,
            page_max: 100,
            sync_max: 500,
            typing_interval_ms: 2000,
            presence_grace_ms: 5000,
            new_conversations_per_hour: 30,
            commit_batch_max: 256,
            recall_window_ms: 2 * 60 * 1000,
        }
    }
}

impl Section for ChatSettings {
    const NAME: &'static str = "chat";

    fn apply_env(&mut self, env: &Env<'_>) -> anyhow::Result<()> {
        crate::config::from_env!(
            env,
            "chat",
            self,
            [
                max_text_chars,
                page_max,
                sync_max,
                typing_interval_ms,
                presence_grace_ms,
                new_conversations_per_hour,
                commit_batch_max,
                recall_window_ms
            ]
        );
        Ok(())
    }

    fn validate(&self) -> anyhow::Result<()> {
        let c = self;
        check(
            (1..=65536).contains(&c.max_text_chars),
            "DUOXIE_CHAT_MAX_TEXT_CHARS",
            "must be between 1 and 65536",
        )?;
        check(
            (1..=1000).contains(&c.page_max),
            "DUOXIE_CHAT_PAGE_MAX",
            "must be between 1 and 1000",
        )?;
        check(
            (1..=10000).contains(&c.sync_max),
            "DUOXIE_CHAT_SYNC_MAX",
            "must be between 1 and 10000",
        )?;
        check(
            c.new_conversations_per_hour >= 1,
            "DUOXIE_CHAT_NEW_CONVERSATIONS_PER_HOUR",
            "must be at least 1",
        )?;
        check(
            (1..=10000).contains(&c.commit_batch_max),
            "DUOXIE_CHAT_COMMIT_BATCH_MAX",
            "must be between 1 and 10000",
        )?;
        check(
            c.recall_window_ms >= 0,
            "DUOXIE_CHAT_RECALL_WINDOW_MS",
            "must be >= 0",
        )?;
        Ok(())
    }
}
