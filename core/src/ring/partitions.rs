//! A topic's partitions as the layers above the ring see them: one ring per partition and the
//! notifier their readers (and the persister) wait on. The bus's topic holds them; the
//! persister is handed them, and nothing else of the topic.
#![deny(unsafe_code)]

use super::notify::Notifier;
use super::Ring;
use crate::sync::Arc;

/// A topic's rings and their readers' notifier.
#[derive(Debug)]
pub(crate) struct Partitions {
    /// One ring per partition, index = partition.
    pub(crate) rings: Box<[Ring]>,
    /// Readers of every ring wait here (each ring wakes it after commits and on close).
    pub(crate) readable: Arc<Notifier>,
}

impl Partitions {
    /// Rings of `capacity` bytes for event frames of at most `max_frame` bytes, partition `p`
    /// starting at `starts[p]` (the end of its log, for a persisted topic reopened), with a
    /// CRC-32C in every frame when `checksums`. Each starts exclusive: the first publisher
    /// claims alone until a second one comes.
    #[cfg(not(loom))]
    pub(crate) fn new(starts: &[u64], capacity: usize, max_frame: usize, checksums: bool) -> Self {
        let readable = Arc::new(Notifier::new());
        let rings = starts
            .iter()
            .map(|&start| Ring::starting_at(start, capacity, max_frame, true, checksums, readable.clone()))
            .collect();
        Self { rings, readable }
    }

    /// Closes every ring (see [`Ring::close`]).
    pub(crate) fn close(&self) {
        for ring in self.rings.iter() {
            ring.close();
        }
    }
}
