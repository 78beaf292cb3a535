//! Loom models of every ring protocol, one file per protocol, and the helpers they share.
//! Run with `RUSTFLAGS="--cfg loom" LOOM_MAX_PREEMPTIONS=2 cargo test -p ringbus --release --lib loom`.
//!
//! Rings are 64 bytes (56 claimable: the word at the limit stays zero) or 128: a handful of
//! 24- or 32-byte frames exercise wrapping, padding, gating and lapping. Events carry their id
//! in the timestamp word, and optionally a payload.

mod claim;
mod close;
mod exclusive;
mod gate;
mod group;
mod lap;
mod park;

use loom::sync::atomic::AtomicUsize;
use loom::thread;

use super::frame::{align, Word0, HEADER_LEN};
use super::group::{GroupCursor, Run};
use super::notify::{Notifier, WakerSlot};
use super::{ClaimError, Cursor, GateKind, GateSpec, JoinAt, ProducerCache, Ring};
use crate::sync::{Arc, Mutex, Ordering};

pub(super) fn ring(capacity: usize) -> Arc<Ring> {
    Arc::new(Ring::new(capacity, HEADER_LEN + 8, false, Arc::new(Notifier::new())))
}

/// Writes and commits the event `id` with `payload` into the claimed frame at `position`.
pub(super) fn write(ring: &Ring, position: u64, id: u64, payload: &[u8]) {
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
pub(super) fn publish(ring: &Ring, cache: &mut ProducerCache, id: u64, payload: &[u8]) -> u64 {
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
pub(super) fn publish_appending(ring: &Ring, cache: &mut ProducerCache, id: u64) -> Option<u64> {
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
pub(super) fn read_gated(ring: &Ring, position: &mut u64) -> Option<(u64, Vec<u8>)> {
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
pub(super) fn next_gated(ring: &Ring, cursor: Option<&Cursor>, position: &mut u64) -> (u64, Vec<u8>) {
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
