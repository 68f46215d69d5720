//! Bounding what a socket may have queued. actix's WebSocket context queues frames without
//! limit when the peer stops reading; this module measures that queue. The session adds each
//! frame's encoded size to an [`OutboundGauge`] when it queues it, and [`Gauged`], wrapped
//! around the response body stream, subtracts what the HTTP dispatcher takes (it takes only
//! while the socket accepts writes). Past the limit the session flags the gauge and stops;
//! `Gauged` then drops the backlog, writes one close frame and ends the stream.

use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::{BufMut, Bytes, BytesMut};
use futures_util::Stream;

#[derive(Default)]
pub struct OutboundGauge {
    queued: AtomicUsize,
    overflowed: AtomicBool,
}

/// Close code sent to a client that let its outbound queue grow past the limit.
pub const CLOSE_SLOW_CONSUMER: u16 = 4009;

impl OutboundGauge {
    /// Records a queued frame of `payload_len` bytes; false when the queue is now over `limit`.
    pub fn add(&self, payload_len: usize, limit: usize) -> bool {
        let size = encoded_len(payload_len);
        let queued = self.queued.fetch_add(size, Ordering::Relaxed) + size;
        queued <= limit
    }

    pub fn overflow(&self) {
        self.overflowed.store(true, Ordering::Relaxed);
    }

    pub fn queued(&self) -> usize {
        self.queued.load(Ordering::Relaxed)
    }

    fn taken(&self, n: usize) {
        // Pongs and close frames written by the context itself are not counted on the way
        // in, so saturate rather than wrap.
        let _ = self
            .queued
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |q| {
                Some(q.saturating_sub(n))
            });
    }
}

/// Size on the wire of an unmasked server frame with this payload.
pub fn encoded_len(payload_len: usize) -> usize {
    let header = match payload_len {
        0..=125 => 2,
        126..=65535 => 4,
        _ => 10,
    };
    header + payload_len
}

/// A close frame (server side, unmasked) with a code and a short reason.
fn close_frame(code: u16, reason: &str) -> Bytes {
    let reason = &reason.as_bytes()[..reason.len().min(123)];
    let mut buf = BytesMut::with_capacity(4 + reason.len());
    buf.put_u8(0x88);
    buf.put_u8((2 + reason.len()) as u8);
    buf.put_u16(code);
    buf.put_slice(reason);
    buf.freeze()
}

pub struct Gauged<S> {
    inner: S,
    gauge: Arc<OutboundGauge>,
    done: bool,
}

impl<S> Gauged<S> {
    pub fn new(inner: S, gauge: Arc<OutboundGauge>) -> Self {
        Self {
            inner,
            gauge,
            done: false,
        }
    }
}

impl<S, E> Stream for Gauged<S>
where
    S: Stream<Item = Result<Bytes, E>> + Unpin,
{
    type Item = Result<Bytes, E>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if self.done {
            return Poll::Ready(None);
        }
        if self.gauge.overflowed.load(Ordering::Relaxed) {
            self.done = true;
            return Poll::Ready(Some(Ok(close_frame(
                CLOSE_SLOW_CONSUMER,
                "too slow: outbound queue full",
            ))));
        }
        let polled = Pin::new(&mut self.inner).poll_next(cx);
        if let Poll::Ready(Some(Ok(chunk))) = &polled {
            self.gauge.taken(chunk.len());
        }
        polled
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frame_sizes_match_rfc6455_headers() {
        assert_eq!(encoded_len(0), 2);
        assert_eq!(encoded_len(125), 127);
        assert_eq!(encoded_len(126), 130);
        assert_eq!(encoded_len(65536), 65546);
    }

    #[test]
    fn the_gauge_reports_overflow_and_drains() {
        let g = OutboundGauge::default();
        assert!(g.add(100, 250));
        assert!(!g.add(100, 150));
        g.taken(204);
        assert_eq!(g.queued(), 0);
    }

    #[test]
    fn close_frames_are_well_formed() {
        let f = close_frame(4009, "slow");
        assert_eq!(&f[..], &[0x88, 6, 0x0f, 0xa9, b's', b'l', b'o', b'w']);
    }
}
