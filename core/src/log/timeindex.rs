//! The sparse time index: a hint for `Start::Timestamp` seeks, never trusted for data.
//!
//! Each segment `<first>.seg` may have `<first>.tix`: entries of 32 bytes, `start u64`,
//! `end u64`, `max_ts u64`, `crc u32` (CRC-32C of the 24 bytes before it), 4 zero bytes
//! (little-endian): the frames in `start .. end` (log offsets, frame boundaries, about
//! `INTERVAL` bytes) have timestamps of at most `max_ts`. Entries are
//! contiguous from the segment's first offset. The persister appends one when an interval is
//! complete (no fsync: it is a hint). A file that is missing, short, not contiguous or reaching
//! past the data is rebuilt from the segment when a seek needs it; recovery rebuilds the last
//! segment's index from the frames it walks.
//!
//! A seek for `t` takes the first interval, in log order, whose `max_ts >= t`: the first event
//! with a timestamp at or after `t` lies in it, since every earlier interval holds only
//! earlier timestamps. Timestamps need not be monotonic for this to hold.
#![deny(unsafe_code)]

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use super::format::{decode_frame, segment_name, Frame, SEGMENT_HEADER_LEN};
use super::fs;
use super::shared::LogShared;
use crate::error::Error;

/// Bytes of log an index entry covers (at least).
pub(crate) const INTERVAL: u64 = 64 << 10;
/// Bytes of one entry.
const ENTRY: usize = 32;

/// One index entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Entry {
    pub(crate) start: u64,
    pub(crate) end: u64,
    pub(crate) max_ts: u64,
}

/// The index file of the segment starting at `first`.
pub(crate) fn index_path(dir: &Path, first: u64) -> PathBuf {
    dir.join(segment_name(first).replace(".seg", ".tix"))
}

/// Builds index entries while frames go by (the persister, recovery, a rebuild).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Builder {
    start: u64,
    max_ts: u64,
    events: bool,
}

impl Builder {
    /// An interval starting at `start`.
    pub(crate) fn new(start: u64) -> Self {
        Self { start, max_ts: 0, events: false }
    }

    /// Notes the frame at `offset` (with `timestamp` if it is an event); returns the entry that
    /// completes before it, if the interval is long enough.
    pub(crate) fn frame(&mut self, offset: u64, timestamp: Option<u64>) -> Option<Entry> {
        let done = (offset - self.start >= INTERVAL).then(|| self.finish(offset));
        if let Some(ts) = timestamp {
            self.max_ts = self.max_ts.max(ts);
            self.events = true;
        }
        done.flatten()
    }

    /// Closes the interval at `end` (a frame boundary): its entry, and a new interval from
    /// `end`. `None` when it is empty.
    pub(crate) fn finish(&mut self, end: u64) -> Option<Entry> {
        let entry = (end > self.start).then_some(Entry { start: self.start, end, max_ts: self.max_ts });
        *self = Self::new(end);
        entry
    }
}

fn encode(entries: &[Entry]) -> Vec<u8> {
    let mut b = Vec::with_capacity(entries.len() * ENTRY);
    for e in entries {
        let at = b.len();
        b.extend_from_slice(&e.start.to_le_bytes());
        b.extend_from_slice(&e.end.to_le_bytes());
        b.extend_from_slice(&e.max_ts.to_le_bytes());
        let crc = crc32c::crc32c(&b[at..]);
        b.extend_from_slice(&crc.to_le_bytes());
        b.extend_from_slice(&[0; 4]);
    }
    b
}

/// An open index file the persister appends to.
#[derive(Debug)]
pub(crate) struct IndexFile {
    file: File,
    len: u64,
}

impl IndexFile {
    /// Creates (truncating) the index of the segment at `first` with `entries`.
    pub(crate) fn create(dir: &Path, first: u64, entries: &[Entry]) -> Result<Self, Error> {
        let path = index_path(dir, first);
        let file = fs::create_file(&path, true).map_err(|e| Error::io(format!("creating {}", path.display()), &e))?;
        let bytes = encode(entries);
        fs::write_at(&file, &bytes, 0).map_err(|e| Error::io(format!("writing {}", path.display()), &e))?;
        Ok(Self { file, len: bytes.len() as u64 })
    }

    /// Appends an entry. Failures are ignored: the index is a hint and is rebuilt when wrong.
    pub(crate) fn append(&mut self, entry: Entry) {
        if fs::write_at(&self.file, &encode(&[entry]), self.len).is_ok() {
            self.len += ENTRY as u64;
        }
    }
}

/// Walks the frames of `body` (log offset `first` at index 0) up to `end`: the entries of the
/// complete intervals and the builder of the open one.
pub(crate) fn build(body: &[u8], first: u64, end: u64, max_frame: usize) -> (Vec<Entry>, Builder) {
    let mut b = Builder::new(first);
    let mut entries = Vec::new();
    let mut at = first;
    while at < end {
        let Ok(frame) = decode_frame(&body[(at - first) as usize..], at, max_frame) else { break };
        let ts = match frame {
            Frame::Event { timestamp, .. } => Some(timestamp),
            Frame::Padding(_) => None,
        };
        entries.extend(b.frame(at, ts));
        at += frame.span() as u64;
    }
    (entries, b)
}

/// The entries of segment `first`'s index file, if it exists and every entry checks (CRC,
/// contiguous from `first`); read-only. They may still reach past what the segment holds now
/// (the caller checks that against the data).
pub(crate) fn read_entries(dir: &Path, first: u64) -> Option<Vec<Entry>> {
    let path = index_path(dir, first);
    // A hint is never worth following a link for (nor reading anything but a plain file).
    if !std::fs::symlink_metadata(&path).ok()?.is_file() {
        return None;
    }
    let bytes = std::fs::read(path).ok()?;
    if bytes.len() % ENTRY != 0 {
        return None;
    }
    let checked =
        bytes.chunks_exact(ENTRY).all(|c| crc32c::crc32c(&c[..24]).to_le_bytes() == c[24..28] && c[28..32] == [0; 4]);
    let entries: Vec<Entry> = bytes
        .chunks_exact(ENTRY)
        .map(|c| Entry {
            start: u64::from_le_bytes(c[0..8].try_into().expect("8 bytes")),
            end: u64::from_le_bytes(c[8..16].try_into().expect("8 bytes")),
            max_ts: u64::from_le_bytes(c[16..24].try_into().expect("8 bytes")),
        })
        .collect();
    let contiguous = entries.first().map_or(true, |e| e.start == first)
        && entries.windows(2).all(|w| w[0].end == w[1].start)
        && entries.iter().all(|e| e.start < e.end);
    (checked && contiguous).then_some(entries)
}

/// The entries of the segment `first .. end` (`sealed`: `end` is its last frame's end), from
/// its index file, or rebuilt from the segment (and the file rewritten) when the file is
/// missing or does not describe the segment.
pub(crate) fn load(dir: &Path, first: u64, end: u64, sealed: bool, max_frame: usize) -> Result<Vec<Entry>, Error> {
    if let Some(entries) = read_entries(dir, first) {
        let inside = entries.iter().all(|e| e.end <= end);
        let complete = !sealed || entries.last().map_or(first, |e| e.end) == end;
        if inside && complete {
            return Ok(entries);
        }
    }
    super::fuzz_entry::reached(&super::fuzz_entry::INDEXES_REBUILT);
    let path = dir.join(segment_name(first));
    let mut body = vec![0u8; (end - first) as usize];
    File::open(&path)
        .and_then(|f| f.read_exact_at(&mut body, SEGMENT_HEADER_LEN))
        .map_err(|e| Error::io(format!("reading {} to rebuild its time index", path.display()), &e))?;
    let (mut entries, mut open) = build(&body, first, end, max_frame);
    if sealed {
        entries.extend(open.finish(end));
    }
    IndexFile::create(dir, first, &entries)?;
    Ok(entries)
}

/// Where a `Start::Timestamp(t)` reader of this partition's segment files starts: the start of
/// the first time-index interval whose newest timestamp is at or after `t`, or the start of the
/// unindexed tail of the log (the reader then skips events older than `t`).
pub(crate) fn seek(log: &LogShared, t: u64) -> Result<u64, Error> {
    let segments = log.segments.read().clone();
    let written = log.written();
    for (i, &first) in segments.iter().enumerate() {
        let sealed = i + 1 < segments.len();
        let end = segments.get(i + 1).copied().unwrap_or(written);
        let entries = load(&log.dir, first, end, sealed, log.max_frame)?;
        if let Some(e) = entries.iter().find(|e| e.max_ts >= t) {
            return Ok(e.start);
        }
        if !sealed {
            return Ok(entries.last().map_or(first, |e| e.end));
        }
    }
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn intervals_close_after_interval_bytes_and_cover_everything() {
        let mut b = Builder::new(0);
        let mut entries = Vec::new();
        let mut at = 0;
        for i in 0..10_000u64 {
            entries.extend(b.frame(at, Some(1_000 - (i % 1000))));
            at += 40;
        }
        entries.extend(b.finish(at));
        assert!(entries.len() > 5);
        assert_eq!(entries[0].start, 0);
        assert!(entries.windows(2).all(|w| w[0].end == w[1].start));
        assert_eq!(entries.last().unwrap().end, at);
        assert!(entries[..entries.len() - 1].iter().all(|e| e.max_ts == 1_000));
    }
}
