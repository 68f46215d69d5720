//! The WebSocket transport's settings: the `[ws]` section (env `DUOXIE_WS_*`), its defaults and the values it
//! refuses.

use crate::config::{check, Env, Section};
use serde::Deserialize;

#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WsSettings {
    /// Largest frame answered normally, bytes; larger gets `frame_too_large`, and above 4× this
    /// the socket is closed with 1009. env `DUOXIE_WS_MAX_FRAME_BYTES`; default: 65536.
    pub max_frame_bytes: usize,
    /// Token-bucket refill, frames per second per socket. env `DUOXIE_WS_RATE_PER_SEC`; default: 20.
    pub rate_per_sec: f64,
    /// Token-bucket size, frames. env `DUOXIE_WS_RATE_BURST`; default: 40.
    pub rate_burst: f64,
    /// Refused frames in a row before the socket is closed with 4008.
    /// env `DUOXIE_WS_FLOOD_CLOSE_AFTER`; default: 100.
    pub flood_close_after: u32,
    /// Bytes queued for a socket that is not reading before it is closed with 4009.
    /// env `DUOXIE_WS_OUTBOUND_QUEUE_BYTES`; default: 1048576.
    pub outbound_queue_bytes: usize,
    /// Time to send `auth` on a socket opened without a token, ms.
    /// env `DUOXIE_WS_AUTH_TIMEOUT_MS`; default: 10000.
    pub auth_timeout_ms: u64,
    /// Server ping interval, ms. env `DUOXIE_WS_HEARTBEAT_INTERVAL_MS`; default: 10000.
    pub heartbeat_interval_ms: u64,
    /// Silence after which a socket is closed with 4002, ms.
    /// env `DUOXIE_WS_CLIENT_TIMEOUT_MS`; default: 30000.
    pub client_timeout_ms: u64,
    /// Largest reply to one command, bytes: longer answers (`chat.sync`, `chat.history`,
    /// `chat.list`) stop early and say `more`. Must leave room in the outbound queue for one
    /// more maximal message. env `DUOXIE_WS_MAX_REPLY_BYTES`; default: 262144.
    pub max_reply_bytes: usize,
    /// Open sockets one user may hold on one node; more are refused with close 4010.
    /// env `DUOXIE_WS_MAX_SOCKETS_PER_USER`; default: 20.
    pub max_sockets_per_user: usize,
}

impl Default for WsSettings {
    fn default() -> Self {
        Self {
            max_frame_bytes: 64 * 1024,
            rate_per_sec: 20.0,
            rate_burst: 40.0,
            flood_close_after: 100,
            outbound_queue_bytes: 1024 * 1024,
            auth_timeout_ms: 10_000,
            heartbeat_interval_ms: 10_000,
            client_timeout_ms: 30_000,
            max_reply_bytes: 256 * 1024,
            max_sockets_per_user: 20,
        }
    }
}

impl Section for WsSettings {
    const NAME: &'static str = "ws";

    fn apply_env(&mut self, env: &Env<'_>) -> anyhow::Result<()> {
        crate::config::from_env!(
            env,
            "ws",
            self,
            [
                max_frame_bytes,
                rate_per_sec,
                rate_burst,
                flood_close_after,
                outbound_queue_bytes,
                auth_timeout_ms,
                heartbeat_interval_ms,
                client_timeout_ms,
                max_reply_bytes,
                max_sockets_per_user
            ]
        );
        Ok(())
    }

    fn validate(&self) -> anyhow::Result<()> {
        let w = self;
        check(
            w.max_sockets_per_user >= 1,
            "DUOXIE_WS_MAX_SOCKETS_PER_USER",
            "must be at least 1",
        )?;
        check(
            (128..=16 * 1024 * 1024).contains(&w.max_frame_bytes),
            "DUOXIE_WS_MAX_FRAME_BYTES",
            "must be between 128 and 16777216",
        )?;
        check(
            w.rate_per_sec > 0.0 && w.rate_per_sec.is_finite(),
            "DUOXIE_WS_RATE_PER_SEC",
            "must be > 0",
        )?;
        check(
            w.rate_burst >= 1.0 && w.rate_burst.is_finite(),
            "DUOXIE_WS_RATE_BURST",
            "must be >= 1",
        )?;
        check(
            w.flood_close_after >= 1,
            "DUOXIE_WS_FLOOD_CLOSE_AFTER",
            "must be at least 1",
        )?;
        check(
            w.outbound_queue_bytes >= 4096,
            "DUOXIE_WS_OUTBOUND_QUEUE_BYTES",
            "must be at least 4096",
        )?;
        check(
            w.heartbeat_interval_ms >= 10,
            "DUOXIE_WS_HEARTBEAT_INTERVAL_MS",
            "must be at least 10",
        )?;
        check(
            w.client_timeout_ms > w.heartbeat_interval_ms,
            "DUOXIE_WS_CLIENT_TIMEOUT_MS",
            "must be longer than the heartbeat interval",
        )?;
        check(
            w.auth_timeout_ms >= 10,
            "DUOXIE_WS_AUTH_TIMEOUT_MS",
            "must be at least 10",
        )?;
        Ok(())
    }
}
