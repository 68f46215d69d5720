//! The ICE servers a call's two parties get: STUN as configured, TURN with short-lived
//! credentials in the TURN REST scheme coturn's `use-auth-secret` accepts (username
//! `<unix expiry>:<user id>`, password base64(HMAC-SHA1(secret, username))), so that the
//! shared secret never leaves the server and a leaked credential dies on its own.

use base64::Engine;
use hmac::{Hmac, Mac};
use serde::Serialize;
use sha1::Sha1;

use super::settings::LiveSettings;

/// One entry of `RTCConfiguration.iceServers`.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct IceServer {
    pub urls: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub credential: Option<String>,
}

/// The comma-separated URLs of a setting, blanks dropped.
pub fn split_urls(raw: &str) -> impl Iterator<Item = &str> {
    raw.split(',').map(str::trim).filter(|u| !u.is_empty())
}

/// The TURN REST password for `username`.
fn password(secret: &str, username: &str) -> String {
    // HMAC takes a key of any length: new_from_slice cannot fail for it.
    let mut mac = match Hmac::<Sha1>::new_from_slice(secret.as_bytes()) {
        Ok(mac) => mac,
        Err(_) => unreachable!("HMAC accepts keys of every length"),
    };
    mac.update(username.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

/// The servers for `user_id`'s side of a call, TURN credentials valid until
/// `now_ms + turn_ttl_ms`.
pub fn ice_servers(settings: &LiveSettings, user_id: i64, now_ms: i64) -> Vec<IceServer> {
    let mut servers = Vec::new();
    let stun: Vec<String> = split_urls(&settings.stun_urls).map(String::from).collect();
    if !stun.is_empty() {
        servers.push(IceServer {
            urls: stun,
            username: None,
            credential: None,
        });
    }
    let turn: Vec<String> = split_urls(&settings.turn_urls).map(String::from).collect();
    if let (false, Some(secret)) = (turn.is_empty(), &settings.turn_secret) {
        let expiry = (now_ms + settings.turn_ttl_ms) / 1000;
        let username = format!("{expiry}:{user_id}");
        servers.push(IceServer {
            urls: turn,
            credential: Some(password(secret.expose(), &username)),
            username: Some(username),
        });
    }
    servers
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_password_is_the_turn_rest_hmac() {
        // Python: base64.b64encode(hmac.new(b'north-sea-secret-0123', b'1764619200:5',
        // hashlib.sha1).digest())
        assert_eq!(
            password("north-sea-secret-0123", "1764619200:5"),
            "e/VyTQqEZ4xATc7HvnKr5JQ4rx0="
        );
    }

    #[test]
    fn servers_follow_the_settings() {
        let mut s = LiveSettings::default();
        assert!(ice_servers(&s, 5, 0).is_empty(), "nothing configured");
        s.stun_urls = " stun:a.example.cn:3478 , ,stun:b.example.cn:3478".into();
        s.turn_urls = "turn:t.example.cn:3478?transport=udp".into();
        s.turn_secret = Some("north-sea-secret-0123".parse().expect("secret"));
        s.turn_ttl_ms = 3_600_000;
        let servers = ice_servers(&s, 5, 1_764_615_600_000);
        assert_eq!(servers.len(), 2);
        assert_eq!(
            servers[0].urls,
            ["stun:a.example.cn:3478", "stun:b.example.cn:3478"]
        );
        assert_eq!(servers[0].username, None);
        assert_eq!(servers[1].username.as_deref(), Some("1764619200:5"));
        assert_eq!(
            servers[1].credential.as_deref(),
            Some("e/VyTQqEZ4xATc7HvnKr5JQ4rx0=")
        );
    }
}
