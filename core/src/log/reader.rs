//! Reading the log from segment files: for readers that start (or fall) behind the ring.
#![deny(unsafe_code)]

use std::fs::File;
use std::os::unix::fs::FileExt;

use super::format::{decode_frame, Frame, FrameError, SEGMENT_HEADER_LEN};
use super::shared::LogShared;
use crate::error::Error;
use crate::ring::frame::{align, PADDING};
use crate::sync::{Arc, AtomicU64, Ordering};

/// Bytes read from a segment at once (more when a frame is larger).
const CHUNK: usize = 256 << 10;

/// A sequential reader of one partition's segments, from a position up to what the persister
/// has written.
#[derive(Debug)]
pub(crate) struct LogReader {
    log: Arc<LogShared>,
    position: u64,
    /// The open segment: (first offset, file, first offset of the next segment or u64::MAX).
    file: Option<(u64, File, u64)>,
    buf: Vec<u8>,
    /// Log position of `buf[0]`.
    buf_start: u64,
    /// Tells retention where this reader is.
    pin: Arc<AtomicU64>,
}

impl LogReader {
    /// A reader at `position`. Checks that the position is kept and is a frame's start.
    pub(crate) fn at(log: Arc<LogShared>, position: u64) -> Result<Self, Error> {
        // Pin first, then check: retention either saw the pin or deleted before the check.
        let pin = log.pin(position);
        let earliest = log.earliest();
        let partition = log.partition;
        if position < earliest {
            return Err(Error::OffsetTrimmed { partition, offset: position, earliest });
        }
        let mut reader = Self { log, position, file: None, buf: Vec::new(), buf_start: 0, pin };
        if position < reader.log.written() {
            match reader.frame_here() {
                Ok(_) => {}
                // A segment's first offset always starts a frame: damage there is damage.
                Err(e @ Error::CorruptLog { .. }) if reader.log.segments.read().binary_search(&position).is_ok() => {
                    return Err(e)
                }
                Err(Error::CorruptLog { .. }) => return Err(Error::NotAnEventOffset { partition, offset: position }),
                Err(e) => return Err(e),
            }
        }
        Ok(reader)
    }

    /// The next position to read.
    pub(crate) fn position(&self) -> u64 {
        self.position
    }

    /// Appends the next event frame (header included, unaligned length) to `out` and returns
    /// its position and length; `None` once the reader is at what the persister has written.
    pub(crate) fn next_event(&mut self, out: &mut Vec<u8>) -> Result<Option<(u64, usize)>, Error> {
        loop {
            if self.position >= self.log.written() {
                return Ok(None);
            }
            let (frame, at) = self.frame_here()?;
            let position = self.position;
            self.position += frame.span() as u64;
            self.pin.store(self.position, Ordering::Release);
            if let Frame::Event { len, .. } = frame {
                out.extend_from_slice(&self.buf[at..at + len]);
                return Ok(Some((position, len)));
            }
        }
    }

    /// Decodes the frame at `position` (below `written`): the frame and its index in `buf`.
    fn frame_here(&mut self) -> Result<(Frame, usize), Error> {
        let written = self.log.written();
        let (first, seg_end) = self.open_segment()?;
        let limit = written.min(seg_end);
        let mut want = 8usize;
        loop {
            let have_to = self.buf_start + self.buf.len() as u64;
            if self.position < self.buf_start || self.position + want as u64 > have_to {
                self.fill(first, limit, want)?;
            }
            let at = (self.position - self.buf_start) as usize;
            match decode_frame(&self.buf[at..], self.position, self.log.max_frame) {
                Ok(frame) => return Ok((frame, at)),
                Err(FrameError::Truncated) if self.buf_start + (self.buf.len() as u64) < limit => {
                    // Read the whole frame: its length is in word 0.
                    let word = u32::from_le_bytes(self.buf[at..at + 4].try_into().expect("4 bytes"));
                    want = align((word & !PADDING) as usize).max(want * 2);
                }
                Err(e) => {
                    return Err(Error::CorruptLog {
                        segment: self.log.segment_path(first).display().to_string(),
                        position: self.position,
                        reason: e.to_string(),
                    })
                }
            }
        }
    }

    /// Makes sure the segment holding `position` is open; returns (its first offset, the next
    /// segment's first offset or u64::MAX).
    fn open_segment(&mut self) -> Result<(u64, u64), Error> {
        if let Some((first, _, end)) = &mut self.file {
            if *end == u64::MAX {
                // It was the active segment: the persister may have started the next one.
                let segments = self.log.segments.read();
                let i = segments.partition_point(|&f| f <= *first);
                *end = segments.get(i).copied().unwrap_or(u64::MAX);
            }
            if (*first..*end).contains(&self.position) {
                return Ok((*first, *end));
            }
        }
        let segments = self.log.segments.read();
        let i = segments.partition_point(|&f| f <= self.position);
        if i == 0 {
            let earliest = segments.first().copied().unwrap_or(0);
            return Err(Error::OffsetTrimmed { partition: self.log.partition, offset: self.position, earliest });
        }
        let (first, end) = (segments[i - 1], segments.get(i).copied().unwrap_or(u64::MAX));
        drop(segments);
        let path = self.log.segment_path(first);
        let file = File::open(&path).map_err(|e| {
            if e.kind() == std::io::ErrorKind::NotFound {
                // Retention deleted it meanwhile.
                Error::OffsetTrimmed {
                    partition: self.log.partition,
                    offset: self.position,
                    earliest: self.log.earliest(),
                }
            } else {
                Error::io(format!("opening {}", path.display()), &e)
            }
        })?;
        self.file = Some((first, file, end));
        self.buf.clear();
        self.buf_start = self.position;
        Ok((first, end))
    }

    /// Reads at least `want` bytes from `position` (up to `limit`) into `buf`.
    fn fill(&mut self, first: u64, limit: u64, want: usize) -> Result<(), Error> {
        let (_, file, _) = self.file.as_ref().expect("segment open");
        let len = (limit - self.position).min(want.max(CHUNK) as u64) as usize;
        self.buf.resize(len, 0);
        self.buf_start = self.position;
        file.read_exact_at(&mut self.buf, SEGMENT_HEADER_LEN + (self.position - first)).map_err(|e| {
            Error::io(format!("reading {} at offset {}", self.log.segment_path(first).display(), self.position), &e)
        })
    }
}
