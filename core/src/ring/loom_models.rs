//! Loom models of every ring protocol. Run with
//! `RUSTFLAGS="--cfg loom" LOOM_MAX_PREEMPTIONS=2 cargo test -p ringbus --release --lib loom`.
//!
//! Rings are 64 bytes (56 claimable: the word at the limit stays zero) or 128: a handful of
//! 24- or 32-byte frames exercise wrapping, padding, gating and lapping. Events carry their id
//! in the timestamp word, and optionally a payload.

use loom::sync::atomic::AtomicUsize;
use loom::thread;

use super::frame::{align, Word0, HEADER_LEN};
use super::group::{GroupCursor, Run};
use super::notify::Notifier;
use super::{ClaimError, Cursor, GateKind, JoinAt, ProducerCache, Ring};
use crate::sync::{Arc, Mutex, Ordering};

fn ring(capacity: usize) -> Arc<Ring> {
    Arc::new(Ring::new(capacity, HEADER_LEN + 8, false, Arc::new(Notifier::new())))
}

/// Writes and commits the event `id` with `payload` into the claimed frame at `position`.
fn write(ring: &Ring, position: u64, id: u64, payload: &[u8]) {
    let len = HEADER_LEN + payload.len();
    // SAFETY: the caller claimed the frame and has not committed it.
    unsafe {
        ring.write_header(position, len, id, 0, 0, &[payload]);
        ring.write_body(position, HEADER_LEN, payload);
    }
    ring.commit(position, len);
    ring.notify_readers();
}

/// Publishes event `id` as an exact claim (`try_claim`), parking while the ring is full.
fn publish(ring: &Ring, cache: &mut ProducerCache, id: u64, payload: &[u8]) -> u64 {
    let mut claimed = None;
    let ready = || match ring.try_claim(align(HEADER_LEN + payload.len()), cache) {
        Ok(position) => {
            claimed = Some(position);
            true
        }
        Err(ClaimError::Full) => false,
        Err(e) => panic!("{e:?}"),
    };
    assert!(ring.writable.park_until(ready, None));
    let position = claimed.expect("claimed");
    write(ring, position, id, payload);
    position
}

/// Publishes event `id` as a waiting claim (`claim`: `fetch_add` when the cache allows),
/// settling a reservation as the publisher does. `None` if the ring was closed.
fn publish_appending(ring: &Ring, cache: &mut ProducerCache, id: u64) -> Option<u64> {
    let bytes = HEADER_LEN;
    let mut pending = match ring.claim(bytes, cache) {
        Ok(position) => {
            write(ring, position, id, &[]);
            return Some(position);
        }
        Err(ClaimError::Closed) => return None,
        Err(ClaimError::Reserved(r)) => Some(r),
        Err(ClaimError::Full) => None,
    };
    let mut outcome = None;
    let ready = || {
        let claimed = match pending {
            Some(r) => match ring.settle(r, bytes, cache) {
                None => return false,
                Some(result) => result,
            },
            None => ring.try_claim(bytes, cache),
        };
        match claimed {
            Ok(position) => outcome = Some(Some(position)),
            Err(ClaimError::Reserved(r)) => {
                pending = Some(r);
                return false;
            }
            Err(ClaimError::Full) => {
                pending = None;
                return false;
            }
            Err(ClaimError::Closed) => outcome = Some(None),
        }
        true
    };
    assert!(ring.writable.park_until(ready, None));
    let position = outcome.expect("resolved")?;
    write(ring, position, id, &[]);
    Some(position)
}

/// The next event at or after `*position` for a gated reader: skips padding and returns (id,
/// payload), or `None` if the frame there is not committed yet. No frontier: word 0 only.
fn read_gated(ring: &Ring, position: &mut u64) -> Option<(u64, Vec<u8>)> {
    loop {
        match ring.word0(*position) {
            Word0::Uncommitted => return None,
            Word0::Padding(n) => *position += n as u64,
            Word0::Event(len) => {
                let mut buf = Vec::new();
                ring.copy_frame(*position, len, &mut buf);
                *position += align(len) as u64;
                let id = u64::from_le_bytes(buf[8..16].try_into().unwrap());
                return Some((id, buf[HEADER_LEN..].to_vec()));
            }
        }
    }
}

/// Waits (parked) for the next event of a gated reader; releases its cursor past it.
fn next_gated(ring: &Ring, cursor: Option<&Cursor>, position: &mut u64) -> (u64, Vec<u8>) {
    loop {
        if let Some(event) = read_gated(ring, position) {
            if let Some(c) = cursor {
                c.release(*position);
                ring.writable.notify();
            }
            return event;
        }
        let at = *position;
        ring.readable.park_until(|| ring.is_ready_at(at), None);
    }
}

/// Two publishers claim with `fetch_add` at once; one claim crosses the buffer's end, so it
/// pads both pieces and claims again. A Block reader sees both events whole, in the order of
/// their positions, skipping the padding.
#[test]
fn fetch_add_claims_pad_at_the_wrap() {
    loom::model(|| {
        let ring = ring(128);
        let mut cache = ProducerCache::default();
        publish(&ring, &mut cache, 0, &[0; 8]);
        publish(&ring, &mut cache, 1, &[1; 8]);
        publish(&ring, &mut cache, 2, &[]); // tail 88: a 24-byte claim at 112 crosses 128
        let cursor = Arc::new(Cursor::new(0));
        let joined = ring.join(JoinAt::Latest, Some((GateKind::Cursor(cursor.clone()), None))).unwrap();
        assert_eq!(joined.position, 88);
        let start = ProducerCache { limit: ring.limit(), last_end: ring.tail() };
        let producers: Vec<_> = [10, 11]
            .into_iter()
            .map(|id| {
                let ring = ring.clone();
                thread::spawn(move || {
                    let mut cache = start;
                    publish_appending(&ring, &mut cache, id).expect("open")
                })
            })
            .collect();
        let mut position = joined.position;
        let mut seen = Vec::new();
        while seen.len() < 2 {
            seen.push(next_gated(&ring, Some(&cursor), &mut position).0);
        }
        let mut offsets: Vec<(u64, u64)> = producers.into_iter().map(|h| h.join().unwrap()).zip([10, 11]).collect();
        offsets.sort();
        assert_eq!(offsets.iter().map(|o| o.0).collect::<Vec<_>>(), vec![88, 136], "112..136 was padded");
        assert_eq!(seen, offsets.iter().map(|o| o.1).collect::<Vec<_>>(), "read in position order");
    });
}

/// A `fetch_add` claim that lands past the limit (another publisher claimed since this one's
/// cache was filled) is taken back, or waits for its space when a claim sits on top of it;
/// the reader frees the space and every event arrives once, none overwritten.
#[test]
fn overshooting_fetch_add_claims_are_taken_back_or_wait() {
    loom::model(|| {
        let ring = ring(128);
        let cursor = Arc::new(Cursor::new(0));
        ring.join(JoinAt::Earliest, Some((GateKind::Cursor(cursor.clone()), None))).unwrap();
        let stale = ProducerCache { limit: ring.limit(), last_end: 0 };
        let mut cache = ProducerCache::default();
        for id in 0..4 {
            publish(&ring, &mut cache, id, &[]); // tail 96: the limit is 120
        }
        let producers: Vec<_> = [10, 11]
            .into_iter()
            .map(|id| {
                let ring = ring.clone();
                thread::spawn(move || {
                    let mut cache = stale;
                    publish_appending(&ring, &mut cache, id).expect("open")
                })
            })
            .collect();
        let mut position = 0;
        let mut seen = Vec::new();
        while seen.len() < 6 {
            seen.push(next_gated(&ring, Some(&cursor), &mut position).0);
        }
        for p in producers {
            p.join().unwrap();
        }
        assert_eq!(&seen[..4], &[0, 1, 2, 3]);
        let mut last = seen[4..].to_vec();
        last.sort();
        assert_eq!(last, vec![10, 11]);
    });
}

/// Two producers commit adjacent frames in either order: a reader with no frontier returns
/// neither frame before its commit and never the second before the first.
#[test]
fn reader_stops_at_an_uncommitted_frame() {
    loom::model(|| {
        let ring = ring(128);
        let producers: Vec<_> = [1, 2]
            .into_iter()
            .map(|id| {
                let ring = ring.clone();
                thread::spawn(move || {
                    let mut cache = ProducerCache::default();
                    publish(&ring, &mut cache, id, &[id as u8; 8])
                })
            })
            .collect();
        let mut position = 0;
        let first = read_gated(&ring, &mut position);
        let offsets: Vec<u64> = producers.into_iter().map(|h| h.join().unwrap()).collect();
        let id_at_0 = if offsets[0] == 0 { 1 } else { 2 };
        if let Some((id, payload)) = &first {
            assert_eq!(*id, id_at_0, "the frame at 0 comes first");
            assert_eq!(payload, &[id_at_0 as u8; 8]);
        } else {
            assert_eq!(position, 0);
        }
        let mut rest = Vec::new();
        while let Some((id, _)) = read_gated(&ring, &mut position) {
            rest.push(id);
        }
        let all: Vec<u64> = first.map(|e| e.0).into_iter().chain(rest).collect();
        assert_eq!(all, vec![id_at_0, 3 - id_at_0]);
    });
}

/// Closing a multi-producer ring while a publisher claims with `fetch_add`: the reader gets
/// exactly the events whose publish succeeded, then sees the ring drained (a claim that met
/// the closed bit takes its bytes back, so the tail is the real end again).
#[test]
fn close_racing_fetch_add_claims_loses_no_acknowledged_event() {
    loom::model(|| {
        let ring = ring(128);
        let r = ring.clone();
        let producer = thread::spawn(move || {
            let mut cache = ProducerCache { limit: r.limit(), last_end: 0 };
            let mut acked = 0;
            for id in 0..2 {
                if publish_appending(&r, &mut cache, id).is_none() {
                    break;
                }
                acked += 1;
            }
            acked
        });
        let r = ring.clone();
        let closer = thread::spawn(move || r.close());
        let mut position = 0;
        let mut got = 0;
        loop {
            if let Some((id, _)) = read_gated(&ring, &mut position) {
                assert_eq!(id, got);
                got += 1;
                continue;
            }
            if ring.drained_at(position) {
                break;
            }
            let at = position;
            ring.readable.park_until(|| ring.is_ready_at(at) || ring.drained_at(at), None);
        }
        closer.join().unwrap();
        assert_eq!(got, producer.join().unwrap());
    });
}

/// Closing a ring while its exclusive publisher claims with plain stores: the reader
/// gets exactly the events whose publish succeeded, then sees the ring drained (a claim that
/// missed the close and was not waited for would be lost, or the reader would sleep forever).
#[test]
fn exclusive_publisher_close_loses_no_acknowledged_event() {
    loom::model(|| {
        let ring = Arc::new(Ring::new(128, HEADER_LEN + 8, true, Arc::new(Notifier::new())));
        let r = ring.clone();
        let producer = thread::spawn(move || {
            let mut cache = ProducerCache::default();
            let mut acked = 0;
            for id in 0..2 {
                let Ok(position) = r.try_claim(32, &mut cache) else { break };
                write(&r, position, id, &[id as u8; 8]);
                acked += 1;
            }
            acked
        });
        let r = ring.clone();
        let closer = thread::spawn(move || r.close());
        let mut position = 0;
        let mut got = 0;
        loop {
            if let Some((id, payload)) = read_gated(&ring, &mut position) {
                assert_eq!((id, payload), (got, vec![got as u8; 8]));
                got += 1;
                continue;
            }
            if ring.drained_at(position) {
                break;
            }
            let at = position;
            ring.readable.park_until(|| ring.is_ready_at(at) || ring.drained_at(at), None);
        }
        closer.join().unwrap();
        assert_eq!(got, producer.join().unwrap());
    });
}

/// A second publisher arrives while the lone publisher claims with plain stores: `share`
/// waits for the claim in progress, and from then on both claim with `fetch_add`. Every event
/// lands in a frame of its own (a plain tail store racing a `fetch_add` would hand one frame
/// to both), and the first publisher's events stay in order.
#[test]
fn second_publisher_takes_exclusivity_away_without_losing_a_claim() {
    loom::model(|| {
        let ring = Arc::new(Ring::new(128, HEADER_LEN + 8, true, Arc::new(Notifier::new())));
        let r = ring.clone();
        let owner = thread::spawn(move || {
            let mut cache = ProducerCache::default();
            for id in 0..2 {
                publish_appending(&r, &mut cache, id).expect("open ring");
            }
        });
        let r = ring.clone();
        let second = thread::spawn(move || {
            r.share();
            let mut cache = ProducerCache::default();
            publish_appending(&r, &mut cache, 2).expect("open ring");
        });
        let mut position = 0;
        let mut seen = Vec::new();
        while seen.len() < 3 {
            let (id, _) = next_gated(&ring, None, &mut position);
            seen.push(id);
        }
        owner.join().unwrap();
        second.join().unwrap();
        assert_eq!(position, 3 * HEADER_LEN as u64);
        assert_eq!(ring.tail(), position);
        let owner_order: Vec<u64> = seen.iter().copied().filter(|&id| id < 2).collect();
        assert_eq!(owner_order, vec![0, 1]);
        assert!(seen.contains(&2));
    });
}

/// A Block reader gates producers: three events through a ring that holds one at a time,
/// none overwritten before it was read.
#[test]
fn block_reader_gates_producers() {
    loom::model(|| {
        let ring = ring(64);
        let cursor = Arc::new(Cursor::new(0));
        ring.join(JoinAt::Earliest, Some((GateKind::Cursor(cursor.clone()), None))).unwrap();
        let r2 = ring.clone();
        let producer = thread::spawn(move || {
            let mut cache = ProducerCache::default();
            for i in 0..3 {
                publish(&r2, &mut cache, i, &[i as u8; 8]);
            }
        });
        let mut position = 0;
        for i in 0..3 {
            assert_eq!(next_gated(&ring, Some(&cursor), &mut position), (i, vec![i as u8; 8]));
        }
        producer.join().unwrap();
    });
}

/// Two members claim runs concurrently while a producer needs the space they free; one member
/// leaves with part of its run unprocessed. Every event reaches exactly one member.
#[test]
fn group_claims_deliver_each_event_once_even_when_a_member_leaves() {
    loom::model(|| {
        let ring = ring(64);
        let group = Arc::new(GroupCursor::new());
        ring.join(JoinAt::Earliest, Some((GateKind::Group(group.clone()), None))).unwrap();
        let mut cache = ProducerCache::default();
        publish(&ring, &mut cache, 0, &[]);
        publish(&ring, &mut cache, 1, &[]); // 48 of 56 bytes: the third needs both freed
        let delivered = Arc::new(Mutex::new(Vec::new()));
        let done = Arc::new(AtomicUsize::new(0));

        let r = ring.clone();
        let producer = thread::spawn(move || {
            let mut cache = ProducerCache::default();
            publish(&r, &mut cache, 2, &[]);
        });

        // The leaver claims a run of up to 2, processes its first event, then leaves.
        let (r, g, d, n) = (ring.clone(), group.clone(), delivered.clone(), done.clone());
        let leaver = thread::spawn(move || {
            let slot = g.add_member();
            if let Some(Run { start, end }) = g.claim(&r, &slot, 2) {
                let mut position = start;
                let (id, _) = read_gated(&r, &mut position).expect("claimed frames are committed");
                d.lock().push(id);
                n.fetch_add(1, Ordering::SeqCst);
                g.remove_member(&slot, Some(Run { start: position, end }));
            } else {
                g.remove_member(&slot, None);
            }
            r.readable.wake_all();
            r.writable.wake_all();
        });

        let slot = group.add_member();
        while done.load(Ordering::SeqCst) < 3 {
            match group.claim(&ring, &slot, 2) {
                Some(Run { start, end }) => {
                    let mut position = start;
                    while position < end {
                        if let Some((id, _)) = read_gated(&ring, &mut position) {
                            delivered.lock().push(id);
                            done.fetch_add(1, Ordering::SeqCst);
                        }
                    }
                    slot.release();
                    ring.writable.notify();
                }
                None => {
                    let ready = || group.has_work(&ring) || done.load(Ordering::SeqCst) >= 3;
                    ring.readable.park_until(ready, None);
                }
            }
        }
        leaver.join().unwrap();
        producer.join().unwrap();
        let mut all = delivered.lock().clone();
        all.sort();
        assert_eq!(all, vec![0, 1, 2]);
    });
}

/// A DropOldest (ungated) reader racing a producer that laps it never accepts torn bytes:
/// whatever passes the lap check is a whole event of the lap it expected.
#[test]
fn drop_oldest_reader_detects_laps() {
    loom::model(|| {
        let ring = ring(64);
        let mut cache = ProducerCache::default();
        publish(&ring, &mut cache, 1, &[1; 8]);
        let r = ring.clone();
        let producer = thread::spawn(move || {
            let mut cache = ProducerCache::default();
            // Two more events lap the first (the ring holds one 32-byte frame at a time).
            publish(&r, &mut cache, 2, &[2; 8]);
            publish(&r, &mut cache, 3, &[3; 8]);
        });
        let mut position = 0;
        let mut buf = Vec::new();
        let mut accepted = Vec::new();
        for _ in 0..2 {
            match ring.word0(position) {
                Word0::Event(len) => {
                    ring.copy_frame(position, len, &mut buf);
                    if ring.lapped(position) {
                        position = ring.earliest_with_index().0;
                    } else {
                        let payload = &buf[HEADER_LEN..];
                        assert!(payload.iter().all(|b| *b == payload[0]), "torn event accepted: {payload:?}");
                        assert_eq!(u64::from(payload[0] - 1), position / 32, "event of the expected lap");
                        accepted.push(payload[0]);
                        position += align(len) as u64;
                    }
                }
                Word0::Padding(n) => position += n as u64,
                Word0::Uncommitted => {
                    if ring.lapped(position) {
                        position = ring.earliest_with_index().0;
                    }
                }
            }
        }
        producer.join().unwrap();
        assert!(accepted.windows(2).all(|w| w[0] < w[1]), "in order: {accepted:?}");
    });
}

/// A reader parks waiting for data and a producer parks waiting for space; neither wake-up
/// is lost (a lost one deadlocks, which loom reports).
#[test]
fn park_and_wake_lose_no_wake_up() {
    loom::model(|| {
        let ring = ring(64);
        let cursor = Arc::new(Cursor::new(0));
        ring.join(JoinAt::Earliest, Some((GateKind::Cursor(cursor.clone()), None))).unwrap();
        let mut cache = ProducerCache::default();
        publish(&ring, &mut cache, 1, &[]);
        publish(&ring, &mut cache, 2, &[]); // full: the third needs both read
        let r = ring.clone();
        let producer = thread::spawn(move || {
            let mut cache = ProducerCache::default();
            publish(&r, &mut cache, 3, &[]);
        });
        // Consume both (frees space, wakes the producer), then park for the third.
        let mut position = 0;
        for id in 1..=3 {
            assert_eq!(next_gated(&ring, Some(&cursor), &mut position).0, id);
        }
        producer.join().unwrap();
    });
}
