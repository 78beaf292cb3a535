//! Recovery: opening a partition directory finds where its log ends. Sealed segments must
//! reach the next one; the active segment is walked frame by frame; a torn tail (bytes after
//! the last whole frame, at or past the durable mark) is zeroed, whole frames after damage
//! there included: writes not yet synced persist out of order after a power cut, and none of
//! them was acknowledged. Anything invalid before the durable mark is [`Error::CorruptLog`]. `verify.rs` reports damage with the
//! same walk instead of refusing.
#![deny(unsafe_code)]

use std::fs::{File, OpenOptions};
use std::os::unix::fs::FileExt;
use std::path::Path;

use super::dir::{check_entry, create_dir};
use super::format::SEGMENT_HEADER_LEN;
use super::format::{decode_frame, parse_segment_name, segment_name, Frame, FrameError, SegmentHeader};
use super::fs;
use super::segment::create_segment;
use super::timeindex;
use crate::error::Error;

/// Offsets at or above this are refused (a ring position needs its top bit free).
pub(crate) const MAX_OFFSET: u64 = 1 << 62;

/// A recovered partition: its segments and where its log ends.
#[derive(Debug)]
pub(crate) struct Recovered {
    pub(crate) segments: Vec<u64>,
    /// The next frame's offset (the end of the last whole frame).
    pub(crate) next: u64,
    /// The last segment, open for writing.
    pub(crate) active: File,
    /// What the last segment's header says was durable.
    pub(crate) durable_mark: u64,
    /// Bytes of a torn tail that were cut off (0 after a clean close).
    pub(crate) truncated: u64,
    /// The last segment's time index (rebuilt from the frames walked) and its open interval.
    pub(crate) index: timeindex::IndexFile,
    pub(crate) interval: timeindex::Builder,
}

/// Where a walk over frames ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Walked {
    /// The end of the last whole valid frame (a log position).
    pub(crate) end: u64,
    /// Event frames passed (padding excluded).
    pub(crate) events: u64,
    /// Why the walk stopped; `None`: it reached the end of the bytes.
    pub(crate) stop: Option<FrameError>,
}

/// Walks frames in `body` (log position `first` at index 0) while whole valid frames follow.
pub(crate) fn walk(body: &[u8], first: u64, max_frame: usize) -> Walked {
    let (mut at, mut events) = (0usize, 0u64);
    while at + 8 <= body.len() {
        match decode_frame(&body[at..], first + at as u64, max_frame) {
            Ok(frame) => {
                events += u64::from(matches!(frame, Frame::Event { .. }));
                at += frame.span();
            }
            Err(e) => return Walked { end: first + at as u64, events, stop: Some(e) },
        }
    }
    Walked { end: first + at as u64, events, stop: None }
}

/// The position of the first valid event frame in `bytes` after its first word (log position
/// `from` at index 0), looking at every 8-byte boundary: where valid data resumes after
/// damage at `from`.
pub(crate) fn find_valid_frame(bytes: &[u8], from: u64, max_frame: usize) -> Option<u64> {
    (8..bytes.len()).step_by(8).map(|i| from + i as u64).find(|&p| {
        let i = (p - from) as usize;
        matches!(decode_frame(&bytes[i..], p, max_frame), Ok(Frame::Event { .. }))
    })
}

/// The index of the last nonzero byte of `bytes`. Compares 4 KiB blocks with zeros (a
/// `memcmp`, fast in debug builds too) from the end, then bytes within the block: the rest of a
/// preallocated segment is megabytes of zeros, which a byte loop took seconds to scan in a
/// debug build.
pub(crate) fn last_nonzero(bytes: &[u8]) -> Option<usize> {
    const ZEROS: [u8; 4096] = [0; 4096];
    let mut end = bytes.len();
    while end > 0 {
        let start = end.saturating_sub(ZEROS.len());
        let block = &bytes[start..end];
        if block != &ZEROS[..block.len()] {
            return block.iter().rposition(|&b| b != 0).map(|i| start + i);
        }
        end = start;
    }
    None
}

/// Opens a partition directory (creating it with a first segment at offset 0 if it is new),
/// checks its segments and finds the end of its log (see the module docs).
pub(crate) fn recover_partition(dir: &Path, max_frame: usize, segment_bytes: u64) -> Result<Recovered, Error> {
    create_dir(dir)?;
    check_entry(dir, true)?;
    let mut segments = Vec::new();
    let mut indexes = Vec::new();
    let entries = std::fs::read_dir(dir).map_err(|e| Error::io(format!("listing {}", dir.display()), &e))?;
    for entry in entries {
        let entry = entry.map_err(|e| Error::io(format!("listing {}", dir.display()), &e))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if let Some(first) = parse_segment_name(&name) {
            check_entry(&entry.path(), false)?;
            segments.push(first);
        } else if let Some(first) = name.strip_suffix(".tix").and_then(|n| parse_segment_name(&format!("{n}.seg"))) {
            check_entry(&entry.path(), false)?;
            indexes.push(first);
        } else if name.ends_with(".seg.tmp") {
            // A segment whose creation did not finish: it never held data.
            let _ = fs::remove_file(&entry.path());
        }
    }
    segments.sort_unstable();
    if let Some(&bad) = segments.iter().find(|&&l| l >= MAX_OFFSET || l % 8 != 0) {
        return Err(Error::CorruptLog {
            segment: dir.join(segment_name(bad)).display().to_string(),
            position: bad,
            reason: "segment offset is not a multiple of 8 below 2^62".into(),
        });
    }
    for orphan in indexes.iter().filter(|i| segments.binary_search(i).is_err()) {
        // The index of a segment retention deleted.
        let _ = fs::remove_file(&timeindex::index_path(dir, *orphan));
    }
    if segments.is_empty() {
        let active = create_segment(dir, 0, segment_bytes, 0)?;
        let index = timeindex::IndexFile::create(dir, 0, &[])?;
        let interval = timeindex::Builder::new(0);
        return Ok(Recovered { segments: vec![0], next: 0, active, durable_mark: 0, truncated: 0, index, interval });
    }
    let corrupt = |first: u64, position: u64, reason: String| Error::CorruptLog {
        segment: dir.join(segment_name(first)).display().to_string(),
        position,
        reason,
    };
    // Sealed segments: their headers, and that each one's durable mark reaches the next.
    for w in segments.windows(2) {
        let (first, next_first) = (w[0], w[1]);
        let path = dir.join(segment_name(first));
        let mut head = [0u8; SEGMENT_HEADER_LEN as usize];
        let f = File::open(&path).map_err(|e| Error::io(format!("opening {}", path.display()), &e))?;
        f.read_exact_at(&mut head, 0).map_err(|e| corrupt(first, first, format!("unreadable header: {e}")))?;
        let h = SegmentHeader::decode(&head).map_err(|e| corrupt(first, first, e.to_string()))?;
        if h.first_offset != first {
            return Err(corrupt(first, first, format!("header says it starts at {}", h.first_offset)));
        }
        if h.durable != next_first {
            return Err(corrupt(
                first,
                h.durable,
                format!("sealed segment ends at {} but the next starts at {next_first}", h.durable),
            ));
        }
    }
    let first = *segments.last().expect("not empty");
    let path = dir.join(segment_name(first));
    let active = OpenOptions::new()
        .read(true)
        .write(true)
        .open(&path)
        .map_err(|e| Error::io(format!("opening {}", path.display()), &e))?;
    let data = std::fs::read(&path).map_err(|e| Error::io(format!("reading {}", path.display()), &e))?;
    let h = SegmentHeader::decode(&data).map_err(|e| corrupt(first, first, e.to_string()))?;
    if h.first_offset != first {
        return Err(corrupt(first, first, format!("header says it starts at {}", h.first_offset)));
    }
    let body = &data[SEGMENT_HEADER_LEN as usize..];
    let Walked { end: next, stop, .. } = walk(body, first, max_frame);
    if next < h.durable {
        let reason = stop.map_or("the segment ends".to_owned(), |e| e.to_string());
        return Err(corrupt(first, next, format!("{reason}, before the durable mark {}", h.durable)));
    }
    let rest = &body[(next - first) as usize..];
    let mut truncated = 0;
    if let Some(last_nonzero) = last_nonzero(rest) {
        // Bytes follow the last whole frame, past the durable mark: a torn tail. Writes not
        // yet synced persist out of order, so whole frames may follow the damage; none of them
        // was acknowledged as durable (an fsync covers every write before it, so a synced
        // frame never follows a lost page).
        let resumes = find_valid_frame(rest, next, max_frame);
        truncated = (last_nonzero + 1) as u64;
        let zeros = vec![0u8; truncated as usize];
        fs::write_at(&active, &zeros, SEGMENT_HEADER_LEN + (next - first))
            .and_then(|()| fs::sync_data(&active))
            .map_err(|e| Error::io(format!("cutting the torn tail of {}", path.display()), &e))?;
        super::fuzz_entry::reached(&super::fuzz_entry::TORN_TAILS_CUT);
        let after = resumes.map_or(String::new(), |at| format!("; whole frames from offset {at} on were never synced"));
        crate::diag::warn!(
            "recovery cut a torn tail of {truncated} bytes at offset {next} off {} (a write a crash left \
             unfinished; nothing before it was lost{after})",
            path.display()
        );
    }
    let (entries, interval) = timeindex::build(body, first, next, max_frame);
    let index = timeindex::IndexFile::create(dir, first, &entries)?;
    Ok(Recovered { segments, next, active, durable_mark: h.durable, truncated, index, interval })
}

#[cfg(test)]
mod tests {
    use super::last_nonzero;

    #[test]
    fn last_nonzero_finds_the_last_set_byte() {
        for len in [0usize, 1, 4095, 4096, 4097, 10_000] {
            let mut v = vec![0u8; len];
            assert_eq!(last_nonzero(&v), None, "{len} zeros");
            for at in [0, len / 2, len.saturating_sub(1)].into_iter().filter(|&a| a < len) {
                v[at] = 7;
                assert_eq!(last_nonzero(&v), Some(at), "{len} bytes, last set at {at}");
            }
        }
    }
}
