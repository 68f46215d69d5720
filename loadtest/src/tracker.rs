//! The gap tracker of a client that follows the protocol: per conversation, the seqs it holds
//! (the contiguous cursor it syncs from, and the holes above it), how each message first
//! reached it (live or in a `chat.sync` reply), and whether a sync for it is in flight.
//!
//! A message is counted once, when it first arrives; seeing it again is a duplicate, of one of
//! three kinds with different meanings: live twice on one socket breaks the server's promise,
//! live again on a later socket is a race of a reconnect (allowed), and in a sync reply is what
//! a sync that overlaps live delivery returns by design (allowed, dropped by seq).
//!
//! Pure bookkeeping, no I/O: the chat client asks it what to sync and tells it what arrived.

use std::collections::BTreeMap;

use crate::stats::{Arrival, SeqSet};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Via {
    Live,
    Sync,
}

/// New messages by how they first arrived.
#[derive(Default, Clone, Copy, Debug, PartialEq, Eq)]
pub struct Tally {
    pub live: u64,
    pub by_sync: u64,
}

impl Tally {
    fn count(&mut self, via: Via) {
        match via {
            Via::Live => self.live += 1,
            Via::Sync => self.by_sync += 1,
        }
    }

    fn add(&mut self, o: &Tally) {
        self.live += o.live;
        self.by_sync += o.by_sync;
    }
}

#[derive(Default, Clone, Debug, PartialEq, Eq)]
pub struct Counts {
    /// Messages of the other participant: what "recovered live / by sync" reports.
    pub from_peer: Tally,
    /// The client's own messages echoed back to it.
    pub own: Tally,
    /// Live messages more than one past the highest seq held.
    pub gaps: u64,
    /// Seqs those live messages skipped (some arrive late, the others come by sync).
    pub gap_seqs: u64,
    /// A live message this socket already carried: the server promises this never happens.
    pub duplicates_live: u64,
    /// A live message a previous socket of the client already carried.
    pub duplicates_live_across_sockets: u64,
    /// A sync reply repeating a message already held.
    pub duplicates_in_sync: u64,
}

impl Counts {
    pub fn add(&mut self, o: &Counts) {
        self.from_peer.add(&o.from_peer);
        self.own.add(&o.own);
        self.gaps += o.gaps;
        self.gap_seqs += o.gap_seqs;
        self.duplicates_live += o.duplicates_live;
        self.duplicates_live_across_sockets += o.duplicates_live_across_sockets;
        self.duplicates_in_sync += o.duplicates_in_sync;
    }
}

#[derive(Debug)]
struct Stream {
    held: SeqSet,
    /// What the current socket carried (live or in a sync reply), above `socket_start`, the
    /// cursor when it opened: the server's no-repeat promise is per socket.
    on_socket: SeqSet,
    socket_start: i64,
    syncing: bool,
    /// Something asked for a sync while one was in flight: sync again when it is done.
    dirty: bool,
}

impl Stream {
    fn new(start_seq: i64) -> Self {
        Self {
            held: SeqSet::up_to(start_seq),
            on_socket: SeqSet::up_to(start_seq),
            socket_start: start_seq,
            syncing: false,
            dirty: false,
        }
    }
}

/// Everything one user's client knows about the conversations it follows.
#[derive(Debug)]
pub struct Tracker {
    user_id: i64,
    streams: BTreeMap<i64, Stream>,
    pub counts: Counts,
}

impl Tracker {
    pub fn new(user_id: i64) -> Self {
        Self {
            user_id,
            streams: BTreeMap::new(),
            counts: Counts::default(),
        }
    }

    /// Follows a conversation whose seqs up to `start_seq` are not expected.
    pub fn follow(&mut self, conversation_id: i64, start_seq: i64) {
        self.streams
            .entry(conversation_id)
            .or_insert_with(|| Stream::new(start_seq));
    }

    pub fn conversations(&self) -> Vec<i64> {
        self.streams.keys().copied().collect()
    }

    /// Records a message; `None` for a conversation not followed. A gap is only detected on
    /// live messages: a sync reply is contiguous from its cursor by construction.
    pub fn receive(
        &mut self,
        conversation_id: i64,
        seq: i64,
        sender_id: i64,
        via: Via,
    ) -> Option<Arrival> {
        let stream = self.streams.get_mut(&conversation_id)?;
        let carried_before = seq > stream.socket_start && stream.on_socket.contains(seq);
        stream.on_socket.insert(seq);
        let highest = stream.held.highest();
        if !stream.held.insert(seq) {
            match (via, carried_before) {
                (Via::Live, true) => self.counts.duplicates_live += 1,
                (Via::Live, false) => self.counts.duplicates_live_across_sockets += 1,
                (Via::Sync, _) => self.counts.duplicates_in_sync += 1,
            }
            return Some(Arrival::Duplicate);
        }
        if sender_id == self.user_id {
            self.counts.own.count(via);
        } else {
            self.counts.from_peer.count(via);
        }
        if via == Via::Live && seq > highest + 1 {
            let missing = seq - highest - 1;
            self.counts.gaps += 1;
            self.counts.gap_seqs += missing as u64;
            return Some(Arrival::Gap { missing });
        }
        Some(Arrival::New)
    }

    /// Where a sync of this conversation starts: the highest seq held with nothing missing
    /// below it, so that a hole is asked for whatever arrived live past it.
    pub fn cursor(&self, conversation_id: i64) -> Option<i64> {
        self.streams.get(&conversation_id).map(|s| s.held.floor())
    }

    pub fn holes(&self, conversation_id: i64) -> u64 {
        self.streams
            .get(&conversation_id)
            .map_or(0, |s| s.held.holes())
    }

    /// How many of `seqs` this client does not hold.
    pub fn missing(&self, conversation_id: i64, seqs: &[i64]) -> u64 {
        let held = self.streams.get(&conversation_id).map(|s| &s.held);
        seqs.iter()
            .filter(|&&seq| !held.is_some_and(|h| h.contains(seq)))
            .count() as u64
    }

    /// A reason to sync this conversation (a gap, `session.resync`, a new socket, the end of
    /// the run). True: start one now. False: one is in flight, and a fresh one follows it,
    /// since what triggered this may postdate the in-flight one's read.
    pub fn begin_sync(&mut self, conversation_id: i64) -> bool {
        let Some(stream) = self.streams.get_mut(&conversation_id) else {
            return false;
        };
        if stream.syncing {
            stream.dirty = true;
            return false;
        }
        stream.syncing = true;
        true
    }

    /// The sync of this conversation paged to its end (or failed). True: sync it again now,
    /// from its cursor (it stays marked as syncing).
    pub fn end_sync(&mut self, conversation_id: i64) -> bool {
        let Some(stream) = self.streams.get_mut(&conversation_id) else {
            return false;
        };
        let again = stream.syncing && stream.dirty;
        stream.dirty = false;
        stream.syncing = again;
        again
    }

    #[cfg(test)]
    fn syncing(&self, conversation_id: i64) -> bool {
        self.streams
            .get(&conversation_id)
            .is_some_and(|s| s.syncing)
    }

    /// A new socket: syncs in flight on the old one will never be answered, and the no-repeat
    /// promise starts afresh.
    pub fn new_socket(&mut self) {
        for stream in self.streams.values_mut() {
            stream.syncing = false;
            stream.dirty = false;
            stream.socket_start = stream.held.floor();
            stream.on_socket = SeqSet::up_to(stream.socket_start);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ME: i64 = 1;
    const PEER: i64 = 2;
    const CONV: i64 = 7;

    fn tracker(start_seq: i64) -> Tracker {
        let mut t = Tracker::new(ME);
        t.follow(CONV, start_seq);
        t
    }

    #[test]
    fn the_cursor_is_contiguous_and_holes_are_what_is_missing_below_the_top() {
        let mut t = tracker(10);
        assert_eq!(t.cursor(CONV), Some(10));
        assert_eq!(t.receive(CONV, 11, PEER, Via::Live), Some(Arrival::New));
        assert_eq!(
            t.receive(CONV, 14, ME, Via::Live),
            Some(Arrival::Gap { missing: 2 })
        );
        // The cursor stays below the hole: a sync from the highest seq would skip it.
        assert_eq!(t.cursor(CONV), Some(11));
        assert_eq!(t.holes(CONV), 2);
        assert_eq!(t.missing(CONV, &[11, 12, 13, 14]), 2);
        assert_eq!(t.receive(CONV, 13, PEER, Via::Sync), Some(Arrival::New));
        assert_eq!(t.receive(CONV, 12, PEER, Via::Sync), Some(Arrival::New));
        assert_eq!((t.cursor(CONV), t.holes(CONV)), (Some(14), 0));
        assert_eq!((t.counts.gaps, t.counts.gap_seqs), (1, 2));
        assert_eq!(t.receive(99, 1, PEER, Via::Live), None, "not followed");
        assert_eq!(t.missing(99, &[1]), 1);
    }

    #[test]
    fn a_late_live_message_filling_a_hole_is_new_not_a_gap() {
        let mut t = tracker(0);
        t.receive(CONV, 2, PEER, Via::Live);
        assert_eq!(t.receive(CONV, 1, PEER, Via::Live), Some(Arrival::New));
        assert_eq!(
            t.counts.from_peer,
            Tally {
                live: 2,
                by_sync: 0
            }
        );
    }

    #[test]
    fn each_message_counts_once_by_how_it_first_came_and_by_whom() {
        let mut t = tracker(0);
        t.receive(CONV, 1, PEER, Via::Live);
        t.receive(CONV, 2, ME, Via::Live);
        t.receive(CONV, 3, PEER, Via::Sync);
        t.receive(CONV, 4, ME, Via::Sync);
        // Repeats change nothing but the duplicate counts.
        t.receive(CONV, 1, PEER, Via::Sync);
        t.receive(CONV, 3, PEER, Via::Sync);
        assert_eq!(
            t.counts.from_peer,
            Tally {
                live: 1,
                by_sync: 1
            }
        );
        assert_eq!(
            t.counts.own,
            Tally {
                live: 1,
                by_sync: 1
            }
        );
        assert_eq!(t.counts.duplicates_in_sync, 2);
        assert_eq!(t.counts.duplicates_live, 0);
        // Seqs before the run are held already.
        let mut t = tracker(5);
        assert_eq!(
            t.receive(CONV, 5, PEER, Via::Sync),
            Some(Arrival::Duplicate)
        );
    }

    #[test]
    fn a_live_repeat_is_a_fault_on_one_socket_and_a_race_across_sockets() {
        let mut t = tracker(0);
        t.receive(CONV, 1, PEER, Via::Live);
        t.receive(CONV, 2, PEER, Via::Sync);
        t.receive(CONV, 1, PEER, Via::Live);
        // What a sync reply carried counts as carried by this socket too.
        t.receive(CONV, 2, PEER, Via::Live);
        assert_eq!(t.counts.duplicates_live, 2);
        t.receive(CONV, 4, PEER, Via::Live);
        t.new_socket();
        t.receive(CONV, 2, PEER, Via::Live);
        t.receive(CONV, 4, PEER, Via::Live);
        assert_eq!(t.counts.duplicates_live_across_sockets, 2);
        // Once the new socket carried it, a repeat is this socket's fault again.
        t.receive(CONV, 4, PEER, Via::Live);
        assert_eq!(t.counts.duplicates_live, 3);
    }

    #[test]
    fn one_sync_per_conversation_at_a_time_and_a_fresh_one_after_it_if_asked() {
        let mut t = tracker(0);
        assert!(t.begin_sync(CONV));
        assert!(t.syncing(CONV));
        assert!(!t.begin_sync(CONV), "one in flight");
        assert!(t.end_sync(CONV), "asked again meanwhile");
        assert!(t.syncing(CONV));
        assert!(!t.end_sync(CONV));
        assert!(!t.syncing(CONV));
        assert!(t.begin_sync(CONV));
        t.new_socket();
        assert!(!t.syncing(CONV), "the old socket's sync is void");
        assert!(t.begin_sync(CONV));
        assert!(!t.begin_sync(99) && !t.end_sync(99), "not followed");
    }
}
