//! Idempotent publish: per partition, each producer's last accepted sequence number, so a
//! retried record is dropped instead of published twice. Only the idempotent path takes the
//! table's lock; a reopened persisted topic refills it from its log (`persisted.rs`).
#![deny(unsafe_code)]

use std::collections::HashMap;
use std::time::Duration;

/// A partition's memory of idempotent producers.
#[derive(Debug, Default)]
pub(crate) struct DedupTable {
    /// Producer id -> (last accepted sequence, its offset, when it was accepted, ns).
    last: HashMap<u64, (u64, u64, u64)>,
    /// Duplicates dropped.
    pub(crate) duplicates: u64,
    inserts: u64,
}

impl DedupTable {
    /// The offset of the accepted record `sequence` duplicates, if it is a duplicate.
    pub(crate) fn duplicate_of(&self, producer: u64, sequence: u64) -> Option<u64> {
        self.last.get(&producer).filter(|(last, _, _)| sequence <= *last).map(|&(_, offset, _)| offset)
    }

    /// Records an accepted record; forgets producers not heard of for `window` (checked every
    /// 1024 records).
    pub(crate) fn accept(&mut self, producer: u64, sequence: u64, offset: u64, now_ns: u64, window: Duration) {
        let entry = self.last.entry(producer).or_insert((sequence, offset, now_ns));
        if sequence >= entry.0 {
            *entry = (sequence, offset, now_ns);
        }
        self.inserts += 1;
        if self.inserts % 1024 == 0 {
            let horizon = now_ns.saturating_sub(window.as_nanos() as u64);
            self.last.retain(|_, (_, _, seen)| *seen >= horizon);
        }
    }
}
