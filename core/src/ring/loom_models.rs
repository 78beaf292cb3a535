//! Loom models of every ring protocol. Run with
//! `RUSTFLAGS="--cfg loom" LOOM_MAX_PREEMPTIONS=2 cargo test -p ringbus --release --lib loom`.
//!
//! Rings are 64 bytes: two 32-byte frames (24-byte header + 8-byte payload) fill one, so a
//! handful of events exercise wrapping, padding, gating and lapping.

use loom::sync::atomic::AtomicUsize;
use loom::thread;

use super::frame::{align, Word0, HEADER_LEN};
use super::group::{GroupCursor, Run};
use super::notify::Notifier;
use super::{ClaimError, Cursor, GateKind, JoinAt, Ring};
use crate::sync::{Arc, Mutex, Ordering};

const CAP: usize = 64;

fn ring() -> Arc<Ring> {
    Arc::new(Ring::new(CAP, HEADER_LEN + 8, false, Arc::new(Notifier::new())))
}

/// Publishes one event with `payload` (at most 8 bytes), parking while the ring is full.
fn publish(ring: &Ring, limit: &mut u64, payload: &[u8]) -> u64 {
    let len = HEADER_LEN + payload.len();
    let mut claimed = None;
    let ready = || match ring.try_claim(align(len), limit) {
        Ok(pair) => {
            claimed = Some(pair);
            true
        }
        Err(ClaimError::Full) => false,
        Err(ClaimError::Closed) => panic!("closed"),
    };
    assert!(ring.writable.park_until(ready, None));
    let (start, position) = claimed.expect("claimed");
    // SAFETY: claimed just above, not committed.
    unsafe {
        ring.write_header(position, len, 0, 0, 0, &[payload]);
        ring.write_body(position, HEADER_LEN, payload);
    }
    ring.commit(position, len);
    ring.publish(start, position + align(len) as u64);
    position
}

/// Waits (parked) for the next event of a gated reader and returns its payload.
fn next_gated(ring: &Ring, position: &mut u64) -> Vec<u8> {
    loop {
        if let Some(p) = read_gated(ring, position) {
            return p;
        }
        let at = *position;
        ring.readable.park_until(|| at < ring.committed(), None);
    }
}

/// Reads the next event at or after `*position` for a gated reader: skips padding, returns the
/// payload copy, or None if the next frame is not committed yet.
fn read_gated(ring: &Ring, position: &mut u64) -> Option<Vec<u8>> {
    loop {
        if *position >= ring.committed() {
            return None;
        }
        match ring.word0(*position) {
            Word0::Uncommitted => return None,
            Word0::Padding(n) => *position += n as u64,
            Word0::Event(len) => {
                let mut buf = Vec::new();
                ring.copy_frame(*position, len, &mut buf);
                *position += align(len) as u64;
                return Some(buf[HEADER_LEN..].to_vec());
            }
        }
    }
}

/// Two producers claim concurrently; one claim crosses the end and pads. A Block reader sees
/// both events whole, skipping the padding, and producers wait for it.
#[test]
fn multi_producer_claim_commit_and_padding_at_the_wrap() {
    loom::model(|| {
        let ring = ring();
        let mut limit = 0;
        publish(&ring, &mut limit, b"");
        publish(&ring, &mut limit, b"AAAAAAAA"); // tail now 56: the next 32-byte claim pads 8
        let cursor = Arc::new(Cursor::new(0));
        let joined = ring.join(JoinAt::Latest, Some((GateKind::Cursor(cursor.clone()), None))).unwrap();
        assert_eq!(joined.position, 56);
        let producers: Vec<_> = [b"11111111", b"22222222"]
            .into_iter()
            .map(|payload| {
                let ring = ring.clone();
                thread::spawn(move || {
                    let mut limit = 0;
                    publish(&ring, &mut limit, payload)
                })
            })
            .collect();
        let mut position = joined.position;
        let mut seen = Vec::new();
        while seen.len() < 2 {
            seen.push(next_gated(&ring, &mut position));
            cursor.release(position);
            ring.writable.notify();
        }
        let offsets: Vec<u64> = producers.into_iter().map(|h| h.join().unwrap()).collect();
        seen.sort();
        assert_eq!(seen, vec![b"11111111".to_vec(), b"22222222".to_vec()]);
        let mut offsets = offsets;
        offsets.sort();
        assert_eq!(offsets, vec![64, 96], "the first claim padded 56..64");
    });
}

/// Publishes `n` empty events claimed together (one claim, `n` commits, one publish).
fn publish_batch(ring: &Ring, n: usize) {
    let mut limit = 0;
    let (start, position) = ring.try_claim(n * HEADER_LEN, &mut limit).expect("room");
    for i in 0..n as u64 {
        let p = position + i * HEADER_LEN as u64;
        // SAFETY: claimed just above, not committed.
        unsafe { ring.write_header(p, HEADER_LEN, 0, 0, 0, &[]) };
        ring.commit(p, HEADER_LEN);
    }
    ring.publish(start, position + (n * HEADER_LEN) as u64);
}

/// The commit frontier: a batch claim and a single claim commit in any order, the frontier may
/// stop inside the batch, and still no committed frame is left behind it (a reader waiting at
/// the frontier for all three events would sleep forever, which loom reports).
#[test]
fn commit_frontier_strands_no_frame() {
    loom::model(|| {
        let ring = Arc::new(Ring::new(128, HEADER_LEN + 8, false, Arc::new(Notifier::new())));
        let producers: Vec<_> = [2, 1]
            .into_iter()
            .map(|n| {
                let ring = ring.clone();
                thread::spawn(move || publish_batch(&ring, n))
            })
            .collect();
        let mut position = 0;
        for _ in 0..3 {
            assert!(next_gated(&ring, &mut position).is_empty());
        }
        for p in producers {
            p.join().unwrap();
        }
        assert_eq!(ring.committed(), 72);
    });
}

/// Closing a single-producer ring while its publisher claims with plain stores: the reader
/// gets exactly the events whose publish succeeded, then sees the ring drained (a claim that
/// missed the close and was not waited for would be lost, or the reader would sleep forever).
#[test]
fn single_producer_close_loses_no_acknowledged_event() {
    loom::model(|| {
        let ring = Arc::new(Ring::new(CAP, HEADER_LEN + 8, true, Arc::new(Notifier::new())));
        let r = ring.clone();
        let producer = thread::spawn(move || {
            let mut limit = 0;
            let mut acked = 0u8;
            for i in 0..2u8 {
                let Ok((start, position)) = r.try_claim(32, &mut limit) else { break };
                // SAFETY: claimed just above, not committed.
                unsafe {
                    r.write_header(position, 32, 0, 0, 0, &[&[i; 8]]);
                    r.write_body(position, HEADER_LEN, &[i; 8]);
                }
                r.commit(position, 32);
                r.publish(start, position + 32);
                acked += 1;
            }
            acked
        });
        let r = ring.clone();
        let closer = thread::spawn(move || r.close());
        let mut position = 0;
        let mut got = 0u8;
        loop {
            if let Some(p) = read_gated(&ring, &mut position) {
                assert_eq!(p, [got; 8]);
                got += 1;
                continue;
            }
            if ring.drained_at(position) {
                break;
            }
            let at = position;
            ring.readable.park_until(|| at < ring.committed() || ring.drained_at(at), None);
        }
        closer.join().unwrap();
        assert_eq!(got, producer.join().unwrap());
    });
}

/// A reader racing a producer never returns a frame before its commit, and then only whole.
#[test]
fn reader_stops_at_an_uncommitted_frame() {
    loom::model(|| {
        let ring = ring();
        let r2 = ring.clone();
        let producer = thread::spawn(move || {
            let mut limit = 0;
            publish(&r2, &mut limit, b"abcdefgh");
        });
        let mut position = 0;
        let first = read_gated(&ring, &mut position);
        if let Some(p) = &first {
            assert_eq!(p, b"abcdefgh");
        }
        producer.join().unwrap();
        if first.is_none() {
            assert_eq!(read_gated(&ring, &mut position).as_deref(), Some(&b"abcdefgh"[..]));
        }
    });
}

/// A Block reader gates producers: three events through a ring that holds two, none
/// overwritten before it was read.
#[test]
fn block_reader_gates_producers() {
    loom::model(|| {
        let ring = ring();
        let cursor = Arc::new(Cursor::new(0));
        ring.join(JoinAt::Earliest, Some((GateKind::Cursor(cursor.clone()), None))).unwrap();
        let r2 = ring.clone();
        let producer = thread::spawn(move || {
            let mut limit = 0;
            for i in 0..3u8 {
                publish(&r2, &mut limit, &[i; 8]);
            }
        });
        let mut position = 0;
        for i in 0..3u8 {
            let payload = next_gated(&ring, &mut position);
            assert_eq!(payload, [i; 8]);
            cursor.release(position);
            ring.writable.notify();
        }
        producer.join().unwrap();
    });
}

/// Two members claim runs concurrently while a producer needs the space they free; one member
/// leaves with part of its run unprocessed. Every event reaches exactly one member.
#[test]
fn group_claims_deliver_each_event_once_even_when_a_member_leaves() {
    loom::model(|| {
        let ring = ring();
        let group = Arc::new(GroupCursor::new());
        ring.join(JoinAt::Earliest, Some((GateKind::Group(group.clone()), None))).unwrap();
        let mut limit = 0;
        publish(&ring, &mut limit, &[0; 8]);
        publish(&ring, &mut limit, &[1; 8]);
        let delivered = Arc::new(Mutex::new(Vec::new()));
        let done = Arc::new(AtomicUsize::new(0));

        let r = ring.clone();
        let producer = thread::spawn(move || {
            let mut limit = 0;
            publish(&r, &mut limit, &[2; 8]);
        });

        // The leaver claims a run of up to 2, processes its first event, then leaves.
        let (r, g, d, n) = (ring.clone(), group.clone(), delivered.clone(), done.clone());
        let leaver = thread::spawn(move || {
            let slot = g.add_member();
            if let Some(Run { start, end }) = g.claim(&r, &slot, 2) {
                let mut position = start;
                let payload = read_gated(&r, &mut position).expect("claimed frames are committed");
                d.lock().push(payload[0]);
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
                        if let Some(p) = read_gated(&ring, &mut position) {
                            delivered.lock().push(p[0]);
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
        let ring = ring();
        let mut limit = 0;
        publish(&ring, &mut limit, &[1; 8]);
        let r = ring.clone();
        let producer = thread::spawn(move || {
            let mut limit = 0;
            // Two more events lap the first (the ring holds two).
            publish(&r, &mut limit, &[2; 8]);
            publish(&r, &mut limit, &[3; 8]);
        });
        let mut position = 0;
        let mut buf = Vec::new();
        let mut accepted = Vec::new();
        for _ in 0..2 {
            match ring.word0(position) {
                Word0::Event(len) => {
                    ring.copy_frame(position, len, &mut buf);
                    if ring.lapped(position) {
                        let (earliest, _) = ring.earliest_with_index();
                        position = earliest;
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
        let ring = ring();
        let cursor = Arc::new(Cursor::new(0));
        ring.join(JoinAt::Earliest, Some((GateKind::Cursor(cursor.clone()), None))).unwrap();
        let mut limit = 0;
        publish(&ring, &mut limit, &[1; 8]);
        publish(&ring, &mut limit, &[2; 8]); // full: the reader gates at 0
        let r = ring.clone();
        let producer = thread::spawn(move || {
            let mut limit = 0;
            let mut position = None;
            let ready = || match r.try_claim(32, &mut limit) {
                Ok(p) => {
                    position = Some(p);
                    true
                }
                Err(_) => false,
            };
            assert!(r.writable.park_until(ready, None));
            let (start, p) = position.unwrap();
            // SAFETY: claimed above, not committed.
            unsafe {
                r.write_header(p, 32, 0, 0, 0, &[&[3; 8]]);
                r.write_body(p, HEADER_LEN, &[3; 8]);
            }
            r.commit(p, 32);
            r.publish(start, p + 32);
        });
        // Consume the first event (frees space, wakes the producer), then park for the third.
        let mut position = 0;
        assert_eq!(read_gated(&ring, &mut position).unwrap(), [1; 8]);
        cursor.release(position);
        ring.writable.notify();
        assert_eq!(read_gated(&ring, &mut position).unwrap(), [2; 8]);
        let at = position;
        let ready = || at < ring.committed();
        assert!(ring.readable.park_until(ready, None));
        assert_eq!(read_gated(&ring, &mut position).unwrap(), [3; 8]);
        producer.join().unwrap();
    });
}
