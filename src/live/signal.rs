//! What a call's signalling frames may carry (docs/protocol.md, "Call commands"): a session
//! description (RFC 8866) with media sections, ICE credentials and a DTLS fingerprint, and ICE
//! candidates (RFC 8839 `candidate-attribute`). The server never interprets an SDP beyond
//! this; it refuses what no browser would send, so that a peer only ever receives something
//! its WebRTC stack was built to parse. Pure, unit-tested.

use crate::error::{AppError, AppResult, ErrorCode};

/// Longest `sdp_mid` (a=mid tokens are short: "0", "audio", "video").
pub const SDP_MID_MAX_CHARS: usize = 32;
/// Largest `sdp_mline_index`: more media sections than a call ever has.
pub const SDP_MLINE_INDEX_MAX: i64 = 63;

fn too_large(what: &str, max: usize) -> AppError {
    AppError::new(
        ErrorCode::SignalTooLarge,
        format!("the {what} is larger than {max} bytes"),
    )
}

fn invalid_sdp(why: &str) -> AppError {
    AppError::new(
        ErrorCode::InvalidSdp,
        format!("not a session description: {why}"),
    )
}

fn invalid_candidate(why: &str) -> AppError {
    AppError::new(
        ErrorCode::InvalidCandidate,
        format!("not an ICE candidate: {why}"),
    )
}

/// Checks a session description; `max_bytes` from `DUOXIE_LIVE_RTC_SDP_MAX_BYTES`.
pub fn check_sdp(sdp: &str, max_bytes: usize) -> AppResult<()> {
    if sdp.len() > max_bytes {
        return Err(too_large("SDP", max_bytes));
    }
    let lines: Vec<&str> = sdp
        .split('\n')
        .map(|l| l.strip_suffix('\r').unwrap_or(l))
        .filter(|l| !l.is_empty())
        .collect();
    if lines.first() != Some(&"v=0") {
        return Err(invalid_sdp("it must start with v=0"));
    }
    let (mut media, mut ufrag, mut pwd, mut fingerprint) = (0, false, false, false);
    let mut session = [false; 3]; // o=, s=, t=
    for line in &lines {
        let bytes = line.as_bytes();
        if bytes.len() < 2 || bytes[1] != b'=' || !bytes[0].is_ascii_lowercase() {
            return Err(invalid_sdp("every line is <letter>=<value>"));
        }
        if line.chars().any(|c| c.is_control() && c != '\t') {
            return Err(invalid_sdp("control characters"));
        }
        let value = &line[2..];
        match bytes[0] {
            b'o' if media == 0 => session[0] = true,
            b's' if media == 0 => session[1] = true,
            b't' if media == 0 => session[2] = true,
            b'm' => {
                check_media_line(value)?;
                media += 1;
            }
            b'a' => {
                if value.starts_with("ice-ufrag:") {
                    ufrag = true;
                } else if value.starts_with("ice-pwd:") {
                    pwd = true;
                } else if value.starts_with("fingerprint:") {
                    fingerprint = true;
                }
            }
            _ => {}
        }
    }
    if session.contains(&false) {
        return Err(invalid_sdp("o=, s= and t= are required before the media"));
    }
    if media == 0 {
        return Err(invalid_sdp("no media section (m=)"));
    }
    if !(ufrag && pwd) {
        return Err(invalid_sdp("no ICE credentials (a=ice-ufrag, a=ice-pwd)"));
    }
    if !fingerprint {
        return Err(invalid_sdp("no DTLS fingerprint (a=fingerprint)"));
    }
    Ok(())
}

/// `m=<media> <port> <proto> <fmt> ...`
fn check_media_line(value: &str) -> AppResult<()> {
    let mut parts = value.split(' ');
    let kind = parts.next().unwrap_or("");
    if !matches!(kind, "audio" | "video" | "application") {
        return Err(invalid_sdp(
            "a media section is audio, video or application",
        ));
    }
    let port = parts.next().unwrap_or("");
    let port = port.split('/').next().unwrap_or("");
    if port.parse::<u16>().is_err() {
        return Err(invalid_sdp("a media section's port is a number"));
    }
    let proto = parts.next().unwrap_or("");
    if proto.is_empty() || !proto.chars().all(|c| c.is_ascii_alphanumeric() || c == '/') {
        return Err(invalid_sdp("a media section names its transport"));
    }
    let formats: Vec<&str> = parts.collect();
    if formats.is_empty() || formats.iter().any(|f| f.is_empty()) {
        return Err(invalid_sdp("a media section lists its formats"));
    }
    Ok(())
}

/// Checks one trickled candidate; `""` is the end of candidates.
pub fn check_candidate(
    candidate: &str,
    sdp_mid: Option<&str>,
    sdp_mline_index: Option<i64>,
    max_bytes: usize,
) -> AppResult<()> {
    if candidate.len() > max_bytes {
        return Err(too_large("candidate", max_bytes));
    }
    if let Some(mid) = sdp_mid {
        if mid.chars().count() > SDP_MID_MAX_CHARS || mid.chars().any(|c| c.is_control()) {
            return Err(AppError::field(
                "sdp_mid",
                format!("at most {SDP_MID_MAX_CHARS} characters, no control characters"),
            ));
        }
    }
    if let Some(index) = sdp_mline_index {
        if !(0..=SDP_MLINE_INDEX_MAX).contains(&index) {
            return Err(AppError::field(
                "sdp_mline_index",
                format!("must be between 0 and {SDP_MLINE_INDEX_MAX}"),
            ));
        }
    }
    if candidate.is_empty() {
        return Ok(());
    }
    let body = candidate
        .strip_prefix("candidate:")
        .or_else(|| candidate.strip_prefix("a=candidate:"))
        .ok_or_else(|| invalid_candidate("it starts with candidate:"))?;
    let fields: Vec<&str> = body.split(' ').collect();
    if fields.len() < 8 || fields.iter().any(|f| f.is_empty()) {
        return Err(invalid_candidate(
            "foundation component transport priority address port typ type",
        ));
    }
    let is_token = |s: &str| {
        !s.is_empty()
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || "+/-_.:".contains(c))
    };
    if fields[0].len() > 32 || !is_token(fields[0]) {
        return Err(invalid_candidate("the foundation is 1-32 ICE characters"));
    }
    match fields[1].parse::<u16>() {
        Ok(1..=256) => {}
        _ => return Err(invalid_candidate("the component is 1-256")),
    }
    if !matches!(fields[2].to_ascii_lowercase().as_str(), "udp" | "tcp") {
        return Err(invalid_candidate("the transport is udp or tcp"));
    }
    if fields[3].parse::<u32>().is_err() {
        return Err(invalid_candidate("the priority is a 32-bit number"));
    }
    // An IPv4 or IPv6 address, or an mDNS name (browsers hide host addresses behind
    // <uuid>.local).
    let address = fields[4];
    let is_address = address.parse::<std::net::IpAddr>().is_ok()
        || (address.len() <= 253 && is_token(address) && address.contains('.'));
    if !is_address {
        return Err(invalid_candidate(
            "the address is an IP address or a .local name",
        ));
    }
    if fields[5].parse::<u16>().is_err() {
        return Err(invalid_candidate("the port is a number"));
    }
    if fields[6] != "typ" || !matches!(fields[7], "host" | "srflx" | "prflx" | "relay") {
        return Err(invalid_candidate("typ host, srflx, prflx or relay"));
    }
    // The rest are name-value pairs (raddr, rport, tcptype, generation, ufrag, network-id …).
    let rest = &fields[8..];
    if rest.len() % 2 != 0 || !rest.iter().all(|f| is_token(f)) {
        return Err(invalid_candidate("extensions come as name value pairs"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An offer as Chromium makes it (trimmed to its structure).
    pub const OFFER: &str = "v=0\r\no=- 4611731400430051336 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n\
        a=group:BUNDLE 0 1\r\na=msid-semantic: WMS\r\n\
        m=audio 9 UDP/TLS/RTP/SAVPF 111 63\r\nc=IN IP4 0.0.0.0\r\na=rtcp:9 IN IP4 0.0.0.0\r\n\
        a=ice-ufrag:Hk3z\r\na=ice-pwd:4Pa2vHXyHVZ7Yx5X6a9n2bqJ\r\na=ice-options:trickle\r\n\
        a=fingerprint:sha-256 1B:8D:3A:EF:00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF:01:02:03:04:05:06:07:08:09:0A:0B:0C\r\n\
        a=setup:actpass\r\na=mid:0\r\na=sendrecv\r\na=rtpmap:111 opus/48000/2\r\n\
        m=video 9 UDP/TLS/RTP/SAVPF 96 97\r\nc=IN IP4 0.0.0.0\r\na=mid:1\r\na=rtpmap:96 VP8/90000\r\n";

    #[test]
    fn a_browser_offer_passes() {
        check_sdp(OFFER, 16_384).expect("offer");
        check_sdp(&OFFER.replace("\r\n", "\n"), 16_384).expect("bare LF too");
    }

    #[test]
    fn malformed_descriptions_are_refused() {
        let cases: Vec<(String, &str)> = vec![
            (String::new(), "empty"),
            ("hello".into(), "not SDP"),
            (OFFER.replacen("v=0", "v=1", 1), "version"),
            (OFFER.replace("s=-\r\n", ""), "no s="),
            (
                OFFER
                    .replace("m=audio 9", "m=audio x")
                    .replace("m=video 9", "m=video x"),
                "port",
            ),
            (
                OFFER
                    .split("m=audio")
                    .next()
                    .map(String::from)
                    .unwrap_or_default(),
                "no media",
            ),
            (
                OFFER.replace(
                    "m=video 9 UDP/TLS/RTP/SAVPF 96 97",
                    "m=video 9 UDP/TLS/RTP/SAVPF",
                ),
                "formats",
            ),
            (OFFER.replace("m=audio", "m=telepathy"), "media kind"),
            (OFFER.replace("a=ice-pwd", "a=ice-pwx"), "no ice-pwd"),
            (
                OFFER.replace("a=fingerprint", "a=fingerprinx"),
                "no fingerprint",
            ),
            (OFFER.replace("s=-", "s=\u{0}"), "NUL"),
            (OFFER.replace("s=-", "s=-\u{1b}[31m"), "escape"),
            (format!("{OFFER}garbage line\r\n"), "not letter="),
            (format!("{OFFER}A=x\r\n"), "upper-case type"),
        ];
        for (sdp, why) in cases {
            let err = check_sdp(&sdp, 16_384).expect_err(why);
            assert_eq!(err.code, ErrorCode::InvalidSdp, "{why}");
        }
        let big = format!("{OFFER}{}", "a=x-pad:0\r\n".repeat(2000));
        assert_eq!(
            check_sdp(&big, 16_384).expect_err("big").code,
            ErrorCode::SignalTooLarge
        );
    }

    #[test]
    fn browser_candidates_pass() {
        for c in [
            "candidate:842163049 1 udp 1677729535 203.0.113.7 46154 typ srflx raddr 0.0.0.0 rport 0 generation 0 ufrag Hk3z network-cost 999",
            "candidate:1 1 UDP 2122260223 192.168.1.3 54400 typ host",
            "candidate:3 1 tcp 1518280447 192.168.1.3 9 typ host tcptype active generation 0",
            "candidate:2 1 udp 2122262783 2001:db8::7 50000 typ host",
            "candidate:4 1 udp 2113937151 5f3b1a8e-0c1d-4b6e-9a52-1f0c9d6a7b21.local 61234 typ host generation 0",
            "candidate:5 1 udp 41885439 198.51.100.2 50123 typ relay raddr 203.0.113.7 rport 46154",
            "",
        ] {
            check_candidate(c, Some("0"), Some(0), 1024).expect(c);
        }
    }

    #[test]
    fn malformed_candidates_are_refused() {
        for c in [
            "hello",
            "candidate:",
            "candidate:1 1 udp 2122260223 192.168.1.3 54400 typ",
            "candidate:1 0 udp 2122260223 192.168.1.3 54400 typ host",
            "candidate:1 1 sctp 2122260223 192.168.1.3 54400 typ host",
            "candidate:1 1 udp 99999999999 192.168.1.3 54400 typ host",
            "candidate:1 1 udp 2122260223 not_an<address 54400 typ host",
            "candidate:1 1 udp 2122260223 192.168.1.3 70000 typ host",
            "candidate:1 1 udp 2122260223 192.168.1.3 54400 typ alien",
            "candidate:1 1 udp 2122260223 192.168.1.3 54400 typ host generation",
            "candidate:1  1 udp 2122260223 192.168.1.3 54400 typ host",
            "candidate:1 1 udp 2122260223 192.168.1.3 54400 typ host raddr <script>",
        ] {
            let err = check_candidate(c, Some("0"), Some(0), 1024).expect_err(c);
            assert_eq!(err.code, ErrorCode::InvalidCandidate, "{c}");
        }
        let long = format!(
            "candidate:1 1 udp 1 10.0.0.1 1 typ host{}",
            " a b".repeat(400)
        );
        assert_eq!(
            check_candidate(&long, None, None, 1024)
                .expect_err("long")
                .code,
            ErrorCode::SignalTooLarge
        );
        assert_eq!(
            check_candidate("", Some(&"m".repeat(33)), None, 1024)
                .expect_err("mid")
                .code,
            ErrorCode::InvalidField
        );
        assert_eq!(
            check_candidate("", None, Some(64), 1024)
                .expect_err("index")
                .code,
            ErrorCode::InvalidField
        );
    }
}
