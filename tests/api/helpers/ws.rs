//! The JSON WebSocket client: replies matched by `re`, events buffered in arrival order.

use super::*;

/// What awc's framed socket is, without naming `actix_codec::Framed`.
pub(super) trait Transport:
    Stream<Item = Result<Frame, WsProtocolError>> + Sink<Message, Error = WsProtocolError> + Unpin
{
}

impl<T> Transport for T where
    T: Stream<Item = Result<Frame, WsProtocolError>>
        + Sink<Message, Error = WsProtocolError>
        + Unpin
{
}

/// A JSON WebSocket client. Frames that arrive while waiting for something else are kept, in
/// arrival order, for later waits.
pub struct WsClient {
    conn: Box<dyn Transport>,
    pending: VecDeque<Value>,
    next_id: u64,
    next_client_id: u64,
    /// Set once the socket closed: the close code if the server sent one.
    closed: Option<Option<u16>>,
    close_detail: String,
}

/// What one bounded read got.
enum Read {
    Frame(Value),
    Closed,
    TimedOut,
}

impl WsClient {
    pub(super) fn new(conn: impl Transport + 'static) -> WsClient {
        WsClient {
            conn: Box::new(conn),
            pending: VecDeque::new(),
            next_id: 0,
            next_client_id: 0,
            closed: None,
            close_detail: String::new(),
        }
    }

    pub async fn send_text(&mut self, text: impl Into<String>) {
        let text: String = text.into();
        self.conn
            .send(Message::Text(text.into()))
            .await
            .unwrap_or_else(|e| panic!("send a text frame: {e}"));
    }

    /// Like `send_text`, but a socket the server already closed is not a failure.
    pub async fn try_send_text(&mut self, text: impl Into<String>) -> bool {
        let text: String = text.into();
        self.conn.send(Message::Text(text.into())).await.is_ok()
    }

    pub async fn send_json(&mut self, value: &Value) {
        self.send_text(value.to_string()).await;
    }

    pub async fn send_binary(&mut self, bytes: impl Into<Bytes>) {
        self.conn
            .send(Message::Binary(bytes.into()))
            .await
            .unwrap_or_else(|e| panic!("send a binary frame: {e}"));
    }

    /// Sends a command with a fresh id and returns the id; the reply is awaited separately.
    pub async fn send_command(&mut self, ty: &str, data: Value) -> String {
        self.next_id += 1;
        let id = format!("c{}", self.next_id);
        self.send_json(&json!({ "id": id, "type": ty, "data": data }))
            .await;
        id
    }

    /// The whole reply envelope to a command.
    pub async fn request(&mut self, ty: &str, data: Value) -> Value {
        let id = self.send_command(ty, data).await;
        self.reply(&id).await
    }

    /// The reply's `data`; fails the test unless the reply is `ok`.
    pub async fn request_ok(&mut self, ty: &str, data: Value) -> Value {
        let reply = self.request(ty, data.clone()).await;
        assert_eq!(
            reply["ok"],
            json!(true),
            "{ty} {data} should succeed: {reply}"
        );
        reply["data"].clone()
    }

    /// The reply's `error`; fails the test unless the reply is an error.
    pub async fn request_err(&mut self, ty: &str, data: Value) -> Value {
        let reply = self.request(ty, data.clone()).await;
        assert_eq!(
            reply["ok"],
            json!(false),
            "{ty} {data} should fail: {reply}"
        );
        reply["error"].clone()
    }

    pub async fn reply(&mut self, id: &str) -> Value {
        self.find_reply(id).await.0
    }

    async fn find_reply(&mut self, id: &str) -> (Value, usize) {
        let what = format!("the reply to {id}");
        self.find_frame(&what, |f| f.get("re").and_then(Value::as_str) == Some(id))
            .await
    }

    /// The reply to `id` and the not yet claimed events that arrived before it.
    pub async fn reply_with_preceding_events(&mut self, id: &str) -> (Vec<Value>, Value) {
        let (reply, arrived_before) = self.find_reply(id).await;
        let later = self.pending.split_off(arrived_before);
        let earlier = std::mem::replace(&mut self.pending, later);
        let (events, others): (Vec<Value>, Vec<Value>) =
            earlier.into_iter().partition(|f| f.get("re").is_none());
        for frame in others.into_iter().rev() {
            self.pending.push_front(frame);
        }
        (events, reply)
    }

    /// The next event (a frame without `re`) of this type.
    pub async fn next_event(&mut self, ty: &str) -> Value {
        let what = format!("a {ty} event");
        self.next_event_where(&what, |e| e["type"] == ty).await
    }

    /// The next event (a frame without `re`) that satisfies `pred`.
    pub async fn next_event_where(&mut self, what: &str, pred: impl Fn(&Value) -> bool) -> Value {
        self.next_frame_where(what, |f| f.get("re").is_none() && pred(f))
            .await
    }

    /// The first frame, buffered or new, that satisfies `pred`; all others stay buffered.
    pub async fn next_frame_where(&mut self, what: &str, pred: impl Fn(&Value) -> bool) -> Value {
        self.find_frame(what, pred).await.0
    }

    /// The first matching frame and how many of the buffered frames arrived before it.
    async fn find_frame(&mut self, what: &str, pred: impl Fn(&Value) -> bool) -> (Value, usize) {
        if let Some(i) = self.pending.iter().position(&pred) {
            let frame = self.pending.remove(i).expect("index from position");
            return (frame, i);
        }
        let deadline = Instant::now() + WAIT;
        loop {
            match self.read_frame(what, deadline).await {
                Some(frame) if pred(&frame) => return (frame, self.pending.len()),
                Some(frame) => self.pending.push_back(frame),
                None => panic!(
                    "socket closed (code {:?}{}) while waiting for {what}; unclaimed frames: {:?}",
                    self.closed.flatten(),
                    self.close_detail,
                    self.pending
                ),
            }
        }
    }

    /// Reads until the socket closes and returns the close code (`None`: closed without one).
    /// Frames read meanwhile stay buffered.
    pub async fn expect_close(&mut self) -> Option<u16> {
        let deadline = Instant::now() + WAIT;
        while self.closed.is_none() {
            if let Some(frame) = self.read_frame("the socket to close", deadline).await {
                self.pending.push_back(frame);
            }
        }
        self.closed.flatten()
    }

    /// Closes from the client side and waits for the server to finish the close.
    pub async fn close(mut self) {
        // Error ignored: a server that already closed has nothing left to close.
        let _ = self
            .conn
            .send(Message::Close(Some(CloseCode::Normal.into())))
            .await;
        self.expect_close().await;
    }

    /// Reads one JSON frame, answering pings meanwhile; `None` once the socket is closed.
    async fn read_frame(&mut self, what: &str, deadline: Instant) -> Option<Value> {
        match self.read_frame_by(deadline).await {
            Read::Frame(frame) => Some(frame),
            Read::Closed => None,
            Read::TimedOut => panic!(
                "timed out after {WAIT:?} waiting for {what}; unclaimed frames: {:?}",
                self.pending
            ),
        }
    }

    /// Reads one JSON frame, answering pings meanwhile, unless `deadline` passes first. A
    /// frame that has already arrived is returned even when the deadline is past.
    async fn read_frame_by(&mut self, deadline: Instant) -> Read {
        loop {
            if self.closed.is_some() {
                return Read::Closed;
            }
            // `Next` holds no data of its own: dropping it on timeout loses no frame.
            let Ok(next) = tokio::time::timeout_at(deadline, self.conn.next()).await else {
                return Read::TimedOut;
            };
            match next {
                None => self.closed = Some(None),
                Some(Err(e)) => {
                    self.closed = Some(None);
                    self.close_detail = format!(", error {e}");
                }
                Some(Ok(Frame::Text(bytes))) => {
                    return Read::Frame(serde_json::from_slice(&bytes).unwrap_or_else(|e| {
                        panic!("server sent a text frame that is not JSON ({e}): {bytes:?}")
                    }))
                }
                Some(Ok(Frame::Ping(payload))) => {
                    // Error ignored: a failed pong shows up as a closed socket on the next read.
                    let _ = self.conn.send(Message::Pong(payload)).await;
                }
                Some(Ok(Frame::Pong(_))) => {}
                Some(Ok(Frame::Close(reason))) => {
                    self.closed = Some(reason.map(|r| u16::from(r.code)));
                }
                Some(Ok(other)) => panic!("unexpected frame: {other:?}"),
            }
        }
    }

    /// The first event, buffered or arriving within `within`, that satisfies `pred`; `None`
    /// if none came in time. For polling a condition; a closed socket fails the test.
    pub async fn next_event_within(
        &mut self,
        within: Duration,
        pred: impl Fn(&Value) -> bool,
    ) -> Option<Value> {
        let is_match = |f: &Value| f.get("re").is_none() && pred(f);
        if let Some(i) = self.pending.iter().position(is_match) {
            return self.pending.remove(i);
        }
        let deadline = Instant::now() + within;
        loop {
            match self.read_frame_by(deadline).await {
                Read::Frame(frame) if is_match(&frame) => return Some(frame),
                Read::Frame(frame) => self.pending.push_back(frame),
                Read::TimedOut => return None,
                Read::Closed => panic!(
                    "socket closed (code {:?}{}) while polling for an event; unclaimed frames: {:?}",
                    self.closed.flatten(),
                    self.close_detail,
                    self.pending
                ),
            }
        }
    }

    /// Moves the frames that have already arrived into the buffer, without waiting.
    pub async fn read_arrived(&mut self) {
        while let Read::Frame(frame) = self.read_frame_by(Instant::now()).await {
            self.pending.push_back(frame);
        }
    }

    /// Removes and returns the buffered frames (events and replies) that satisfy `pred`, in
    /// arrival order; reads nothing new.
    pub fn take_buffered(&mut self, pred: impl Fn(&Value) -> bool) -> Vec<Value> {
        let (taken, kept): (VecDeque<Value>, VecDeque<Value>) = std::mem::take(&mut self.pending)
            .into_iter()
            .partition(|f| pred(f));
        self.pending = kept;
        taken.into()
    }

    // ---- chat conveniences ----

    /// `chat.open` with a peer; returns the conversation id.
    pub async fn open_chat(&mut self, peer_id: i64) -> i64 {
        let data = self
            .request_ok("chat.open", json!({ "peer_id": peer_id }))
            .await;
        data["conversation"]["id"]
            .as_i64()
            .unwrap_or_else(|| panic!("chat.open without conversation.id: {data}"))
    }

    /// A fresh client id for `chat.send`.
    pub fn client_id(&mut self) -> String {
        self.next_client_id += 1;
        format!("m-{:x}-{}", random_u64(), self.next_client_id)
    }

    /// `chat.send` with a fresh client id; returns the committed message.
    pub async fn say(&mut self, conversation_id: i64, text: &str) -> Value {
        let client_id = self.client_id();
        let data = self
            .request_ok(
                "chat.send",
                json!({ "conversation_id": conversation_id, "client_id": client_id, "text": text }),
            )
            .await;
        assert_eq!(data["duplicate"], json!(false), "a fresh client id: {data}");
        data["message"].clone()
    }

    /// The next `chat.message` event of one conversation.
    pub async fn next_message(&mut self, conversation_id: i64) -> Value {
        let what = format!("a chat.message in conversation {conversation_id}");
        self.next_event_where(&what, |e| {
            e["type"] == "chat.message" && e["data"]["conversation_id"] == conversation_id
        })
        .await
    }
}
