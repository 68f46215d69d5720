//! A raw WebSocket client for what awc cannot do: invalid UTF-8, fragments, a socket that
//! never reads or never pongs.

use super::*;

/// Client side of RFC 6455 by hand: a masked frame.
pub(super) fn encode_client_frame(opcode: u8, payload: &[u8]) -> Vec<u8> {
    encode_client_fragment(opcode, payload, true)
}

/// A masked client frame; `fin: false` leaves a fragmented message open.
pub(super) fn encode_client_fragment(opcode: u8, payload: &[u8], fin: bool) -> Vec<u8> {
    let mut out = vec![if fin { 0x80 } else { 0 } | opcode];
    let len = payload.len();
    if len < 126 {
        out.push(0x80 | len as u8);
    } else if len <= 0xffff {
        out.push(0x80 | 126);
        out.extend_from_slice(&(len as u16).to_be_bytes());
    } else {
        out.push(0x80 | 127);
        out.extend_from_slice(&(len as u64).to_be_bytes());
    }
    let mask = random_u64().to_be_bytes();
    out.extend_from_slice(&mask[..4]);
    out.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
    out
}

/// One frame as the server sent it.
#[derive(Debug)]
pub struct RawFrame {
    pub opcode: u8,
    pub payload: Vec<u8>,
}

pub const OP_TEXT: u8 = 0x1;
pub const OP_CLOSE: u8 = 0x8;

/// A WebSocket client on a bare TCP stream: it sends exactly the bytes a test asks for, and
/// reads (or does not read) only when told to.
pub struct RawWs {
    stream: TcpStream,
    buf: Vec<u8>,
}

impl RawWs {
    /// Connects and upgrades with the token in the subprotocol header. `recv_buffer` shrinks
    /// the socket's receive buffer before connecting (so that a non-reading client backs up
    /// the server quickly).
    pub async fn connect(app: &TestApp, user: &TestUser, recv_buffer: Option<u32>) -> RawWs {
        let addr = ([127, 0, 0, 1], app.port).into();
        let socket = TcpSocket::new_v4().expect("create a TCP socket");
        if let Some(size) = recv_buffer {
            socket
                .set_recv_buffer_size(size)
                .expect("set the receive buffer size");
        }
        let mut stream = tokio::time::timeout(WAIT, socket.connect(addr))
            .await
            .expect("timed out connecting")
            .expect("connect to the server");
        let request = format!(
            "GET /ws HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\
             Sec-WebSocket-Protocol: duoxie.v1, auth.{}\r\n\r\n",
            app.port, user.token
        );
        stream
            .write_all(request.as_bytes())
            .await
            .expect("send the upgrade request");
        let mut raw = RawWs {
            stream,
            buf: Vec::new(),
        };
        let deadline = Instant::now() + WAIT;
        let head_end = loop {
            if let Some(i) = raw.buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break i + 4;
            }
            assert!(
                raw.fill(deadline, "the upgrade response").await,
                "closed during the upgrade"
            );
        };
        let head = String::from_utf8_lossy(&raw.buf[..head_end]).into_owned();
        assert!(head.starts_with("HTTP/1.1 101"), "upgrade refused: {head}");
        raw.buf.drain(..head_end);
        raw
    }

    /// One fragment of a message: `opcode` 0 for a continuation; `fin` ends the message.
    /// False once the server has closed the connection.
    pub async fn send_fragment(&mut self, opcode: u8, payload: &[u8], fin: bool) -> bool {
        self.stream
            .write_all(&encode_client_fragment(opcode, payload, fin))
            .await
            .is_ok()
    }

    pub async fn send_frame(&mut self, opcode: u8, payload: &[u8]) {
        self.stream
            .write_all(&encode_client_frame(opcode, payload))
            .await
            .expect("send a raw frame");
    }

    /// Reads more bytes into the buffer; false at end of stream (or a reset).
    async fn fill(&mut self, deadline: Instant, what: &str) -> bool {
        let mut chunk = [0u8; 65536];
        let read = tokio::time::timeout_at(deadline, self.stream.read(&mut chunk))
            .await
            .unwrap_or_else(|_| panic!("timed out after {WAIT:?} waiting for {what}"));
        match read {
            Ok(0) | Err(_) => false,
            Ok(n) => {
                self.buf.extend_from_slice(&chunk[..n]);
                true
            }
        }
    }

    /// The next whole frame, or `None` at end of stream.
    pub async fn read_frame(&mut self, what: &str) -> Option<RawFrame> {
        let deadline = Instant::now() + WAIT;
        loop {
            if let Some((frame, used)) = parse_frame(&self.buf) {
                self.buf.drain(..used);
                return Some(frame);
            }
            if !self.fill(deadline, what).await {
                return None;
            }
        }
    }

    /// The next text frame whose JSON satisfies `pred`; other frames are skipped.
    pub async fn next_json_where(&mut self, what: &str, pred: impl Fn(&Value) -> bool) -> Value {
        loop {
            let frame = self
                .read_frame(what)
                .await
                .unwrap_or_else(|| panic!("the stream ended while waiting for {what}"));
            if frame.opcode == OP_TEXT {
                let value: Value = serde_json::from_slice(&frame.payload)
                    .unwrap_or_else(|e| panic!("a text frame that is not JSON ({e})"));
                if pred(&value) {
                    return value;
                }
            }
            assert_ne!(
                frame.opcode, OP_CLOSE,
                "closed while waiting for {what}: {frame:?}"
            );
        }
    }

    /// Reads (and discards) frames until the close frame; its code, or `None` if the
    /// stream ended without one.
    pub async fn expect_close(&mut self) -> Option<u16> {
        while let Some(frame) = self.read_frame("a close frame").await {
            if frame.opcode == OP_CLOSE {
                return frame
                    .payload
                    .get(..2)
                    .map(|code| u16::from_be_bytes([code[0], code[1]]));
            }
        }
        None
    }
}

/// Parses one frame from the front of `buf`: the frame and how many bytes it took.
pub(super) fn parse_frame(buf: &[u8]) -> Option<(RawFrame, usize)> {
    if buf.len() < 2 {
        return None;
    }
    let opcode = buf[0] & 0x0f;
    let masked = buf[1] & 0x80 != 0;
    let (len, mut at) = match buf[1] & 0x7f {
        126 => (
            u16::from_be_bytes(buf.get(2..4)?.try_into().ok()?) as usize,
            4,
        ),
        127 => (
            u64::from_be_bytes(buf.get(2..10)?.try_into().ok()?) as usize,
            10,
        ),
        n => (n as usize, 2),
    };
    let mask = if masked {
        let m: [u8; 4] = buf.get(at..at + 4)?.try_into().ok()?;
        at += 4;
        Some(m)
    } else {
        None
    };
    let mut payload = buf.get(at..at + len)?.to_vec();
    if let Some(m) = mask {
        payload
            .iter_mut()
            .enumerate()
            .for_each(|(i, b)| *b ^= m[i % 4]);
    }
    Some((RawFrame { opcode, payload }, at + len))
}
