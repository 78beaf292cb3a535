//! The segment walker: one partition's segment files read from another process, from a
//! position on, without any state shared with the owner but the files themselves.
//!
//! The walker reads with `pread` into a buffer and hands out only whole frames whose CRC checks
//! at their own position (the tag), so what the owner's persister is writing at this moment (a
//! frame whose bytes are half copied, zeros not yet overwritten) is never delivered: it is "not
//! there yet", and the walker tries again when woken. A segment ends where the next one starts
//! (`<position>.seg` exists once the persister rotated). Anything invalid below the segment's
//! durable mark is damage ([`Error::CorruptLog`]), since the owner fsynced it.
//!
//! After an owner crash, recovery keeps every whole frame up to the first invalid one and
//! zeroes the rest: the walker never went past the first invalid frame either, so its position
//! is at or before the recovered end, and what it delivered is what the owner kept (FORMAT.md:
//! recovery). A follower that sees only durable frames ([`Visibility::Durable`]) reads below
//! the segment header's `durable` field, which survives a power cut as well.
#![deny(unsafe_code)]

use std::fs::File;
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use crate::bus::event::{event_from_bytes, EventRef};
use crate::error::Error;
use crate::log::dir::check_entry;
use crate::log::format::{
    decode_frame, parse_segment_name, segment_name, Frame, FrameError, SegmentHeader, DURABLE_FIELD, SEGMENT_HEADER_LEN,
};
use crate::log::timeindex;
use crate::ring::frame::{align, PADDING};

/// Smallest and largest read (more when a frame is larger): small at the live tail, where
/// each wake-up finds a few new frames, large when catching up.
const MIN_READ: usize = 4 << 10;
const MAX_READ: usize = 1 << 20;

/// Which of the owner's frames a follower delivers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Visibility {
    /// Every whole frame the owner's persister has written to its segment files: they survive
    /// a crash of the owner's process (the page cache keeps them; recovery keeps every whole
    /// frame before the first torn one), not a power cut of the machine. The default.
    #[default]
    Written,
    /// Only frames below the durable mark (fsynced): they survive a power cut too. They appear
    /// after the owner's fsync, so `Durability::Async` topics show them an fsync interval
    /// later.
    Durable,
}

/// The open segment.
#[derive(Debug)]
struct Segment {
    first: u64,
    file: File,
    /// Log position where the file's bytes end.
    end: u64,
    /// The `durable` field as last read (frames below it were fsynced).
    durable: u64,
}

/// A reader of one partition directory's segments (see the module docs).
#[derive(Debug)]
pub(crate) struct Walker {
    dir: PathBuf,
    partition: u32,
    max_frame: usize,
    visibility: Visibility,
    position: u64,
    segment: Option<Segment>,
    buf: Vec<u8>,
    /// Log position of `buf[0]`.
    buf_start: u64,
    /// Events older than this are skipped (a `Start::Timestamp` seek, until the first event at
    /// or after it).
    skip_before: Option<u64>,
    /// The partition directory was checked (a directory, not a link out of the data
    /// directory) once it existed.
    dir_checked: bool,
}

/// What is at the walker's position.
enum Here {
    /// A whole valid frame, at `buf[at..]`.
    Frame(Frame, usize),
    /// Nothing deliverable (yet): zeros, a frame being written, or past the visible mark.
    Nothing,
}

impl Walker {
    /// A walker of partition directory `dir` at `position` (a frame start the caller checked,
    /// or the start of a segment).
    pub(crate) fn new(dir: PathBuf, partition: u32, max_frame: usize, visibility: Visibility, position: u64) -> Self {
        Self {
            dir,
            partition,
            max_frame,
            visibility,
            position,
            segment: None,
            buf: Vec::new(),
            buf_start: 0,
            skip_before: None,
            dir_checked: false,
        }
    }

    /// The next position to read.
    pub(crate) fn position(&self) -> u64 {
        self.position
    }

    /// The partition.
    pub(crate) fn partition(&self) -> u32 {
        self.partition
    }

    /// The partition directory.
    pub(crate) fn dir(&self) -> &Path {
        &self.dir
    }

    /// Moves to `position` (a frame start).
    pub(crate) fn seek(&mut self, position: u64) {
        self.position = position;
        if self.segment.as_ref().is_some_and(|s| position < s.first || position >= s.end) {
            self.segment = None;
        }
        self.buf.clear();
        self.buf_start = position;
    }

    /// The next event: its offset and where its frame (header included, unaligned length)
    /// lies in the buffer ([`event`](Self::event) borrows it). `None` when nothing more is
    /// there now.
    ///
    /// # Errors
    /// [`Error::OffsetTrimmed`] when retention deleted the segment the walker needs (it then
    /// stands at the earliest offset kept, so the next call goes on from there);
    /// [`Error::CorruptLog`] for damage below a durable mark; [`Error::Io`].
    pub(crate) fn next(&mut self) -> Result<Option<(u64, std::ops::Range<usize>)>, Error> {
        loop {
            let Some(frame_at) = self.frame()? else { return Ok(None) };
            let (frame, at) = frame_at;
            let position = self.position;
            self.position += frame.span() as u64;
            if let Frame::Event { len, timestamp, .. } = frame {
                if let Some(t) = self.skip_before {
                    if timestamp < t {
                        continue;
                    }
                    self.skip_before = None;
                }
                return Ok(Some((position, at..at + len)));
            }
        }
    }

    /// The event whose frame [`next`](Self::next) located.
    pub(crate) fn event(&self, offset: u64, frame: std::ops::Range<usize>) -> EventRef<'_> {
        event_from_bytes(offset, self.partition, &self.buf[frame])
    }

    /// Moves past every frame there is now (`Start::Latest`), starting from the last time-index
    /// interval of the last segment rather than its first frame.
    pub(crate) fn skip_to_end(&mut self) -> Result<(), Error> {
        let segments = list_segments(&self.dir)?;
        let Some(&last) = segments.last() else { return Ok(()) };
        if self.position < last {
            let from = timeindex::read_entries(&self.dir, last).and_then(|e| e.last().map(|e| e.end)).unwrap_or(last);
            self.seek(from);
            // A hint may be stale (its segment rewritten by recovery): start over if it does
            // not land on a frame or the end.
            if from != last && !self.at_boundary()? {
                self.seek(last);
            }
        }
        while self.frame_step()? {}
        Ok(())
    }

    /// Moves to `offset`, which must be an event's start (`Start::Offset`).
    ///
    /// # Errors
    /// [`Error::OffsetTrimmed`], [`Error::NotAnEventOffset`], [`Error::OffsetBeyondEnd`] (past
    /// the last whole frame written now).
    pub(crate) fn seek_offset(&mut self, offset: u64) -> Result<(), Error> {
        let segments = list_segments(&self.dir)?;
        let i = segments.partition_point(|&f| f <= offset);
        if i == 0 {
            let earliest = segments.first().copied().unwrap_or(0);
            if segments.is_empty() && offset == 0 {
                self.seek(0);
                return Ok(());
            }
            return Err(Error::OffsetTrimmed { partition: self.partition, offset, earliest });
        }
        let first = segments[i - 1];
        let from = timeindex::read_entries(&self.dir, first)
            .and_then(|e| e.iter().rev().find(|e| e.start <= offset).map(|e| e.start))
            .unwrap_or(first);
        self.seek(from);
        if from != first && !self.at_boundary()? {
            self.seek(first);
        }
        while self.position < offset {
            if !self.frame_step()? {
                return Err(Error::OffsetBeyondEnd { partition: self.partition, offset, next: self.position });
            }
        }
        if self.position != offset {
            return Err(Error::NotAnEventOffset { partition: self.partition, offset });
        }
        Ok(())
    }

    /// Moves to where a `Start::Timestamp(t)` reader begins: the first time-index interval, in
    /// log order, whose newest timestamp is at or after `t` (a segment without a usable index
    /// is walked), then skips the events older than `t` before the first one that is not.
    pub(crate) fn seek_timestamp(&mut self, t: u64) -> Result<(), Error> {
        let segments = list_segments(&self.dir)?;
        let mut from = segments.last().copied().unwrap_or(0);
        for (i, &first) in segments.iter().enumerate() {
            let sealed = i + 1 < segments.len();
            match timeindex::read_entries(&self.dir, first) {
                Some(entries) => {
                    if let Some(e) = entries.iter().find(|e| e.max_ts >= t) {
                        from = e.start;
                        break;
                    }
                    let covered = entries.last().map_or(first, |e| e.end);
                    if !sealed || covered != segments[i + 1] {
                        from = covered;
                        break;
                    }
                }
                None => {
                    from = first;
                    break;
                }
            }
        }
        self.seek(from);
        self.skip_before = Some(t);
        Ok(())
    }

    /// Whether the position is a frame's start or the end of what is written (used to check a
    /// time-index hint).
    fn at_boundary(&mut self) -> Result<bool, Error> {
        if self.frame()?.is_some() {
            return Ok(true);
        }
        // Nothing valid here: a boundary only if only zeros are here.
        let at = self.position.checked_sub(self.buf_start).map(|a| a as usize);
        Ok(at.and_then(|at| self.buf.get(at..at + 8)).map_or(true, |w| w == [0; 8]))
    }

    /// Moves past one frame if a whole one is here.
    fn frame_step(&mut self) -> Result<bool, Error> {
        match self.frame()? {
            Some((frame, _)) => {
                self.position += frame.span() as u64;
                Ok(true)
            }
            None => Ok(false),
        }
    }

    /// The whole frame at the position, moving to the next segment when this one has ended.
    fn frame(&mut self) -> Result<Option<(Frame, usize)>, Error> {
        loop {
            if self.segment.is_none() && !self.open_segment()? {
                return Ok(None);
            }
            match self.decode_here()? {
                Here::Frame(frame, at) => return Ok(Some((frame, at))),
                Here::Nothing => {
                    // The persister starts the next segment at the end of the last frame of
                    // this one, after writing (and fsyncing) all of this one.
                    let next = self.dir.join(segment_name(self.position));
                    let current = self.segment.as_ref().map(|s| s.first);
                    if current != Some(self.position) && open_file(&next)?.is_some() {
                        self.segment = None;
                        continue;
                    }
                    if self.segment_deleted() {
                        // Retention deleted it, and the next one too: opening the segment of
                        // the position reports what is kept now.
                        self.segment = None;
                        continue;
                    }
                    return Ok(None);
                }
            }
        }
    }

    /// Opens the segment holding the position; false if there is none yet (an empty partition
    /// directory, or none at all).
    fn open_segment(&mut self) -> Result<bool, Error> {
        if !self.dir_checked {
            match check_entry(&self.dir, true) {
                Err(Error::Io { kind: std::io::ErrorKind::NotFound, .. }) => return Ok(false),
                Err(e) => return Err(e),
                Ok(()) => self.dir_checked = true,
            }
        }
        for _ in 0..3 {
            let segments = list_segments(&self.dir)?;
            let i = segments.partition_point(|&f| f <= self.position);
            if i == 0 {
                match segments.first() {
                    None => return Ok(false),
                    Some(&earliest) => {
                        let trimmed =
                            Error::OffsetTrimmed { partition: self.partition, offset: self.position, earliest };
                        self.seek(earliest);
                        return Err(trimmed);
                    }
                }
            }
            let first = segments[i - 1];
            let path = self.dir.join(segment_name(first));
            // Deleted between the listing and the open (retention): list again.
            let Some(file) = open_file(&path)? else { continue };
            let mut head = [0u8; SEGMENT_HEADER_LEN as usize];
            let len = file.metadata().map_err(|e| Error::io(format!("reading {}", path.display()), &e))?.len();
            let corrupt =
                |reason: String| Error::CorruptLog { segment: path.display().to_string(), position: first, reason };
            // A segment is renamed into place whole (header, preallocation, fsync first).
            file.read_exact_at(&mut head, 0).map_err(|e| corrupt(format!("unreadable header: {e}")))?;
            let header = SegmentHeader::decode(&head).map_err(|e| corrupt(e.to_string()))?;
            if header.first_offset != first {
                return Err(corrupt(format!("header says it starts at {}", header.first_offset)));
            }
            let end = first + len.saturating_sub(SEGMENT_HEADER_LEN);
            self.segment = Some(Segment { first, file, end, durable: header.durable });
            self.buf.clear();
            self.buf_start = self.position;
            return Ok(true);
        }
        Err(Error::io(
            format!("opening the segment of offset {} in {}", self.position, self.dir.display()),
            &std::io::Error::new(std::io::ErrorKind::NotFound, "segments kept disappearing while listed"),
        ))
    }

    /// Decodes the frame at the position in the open segment, reading the file as needed.
    fn decode_here(&mut self) -> Result<Here, Error> {
        let mut fresh = false;
        let mut want = 8usize;
        let mut checked_mark = false;
        loop {
            let seg = self.segment.as_ref().expect("a segment is open");
            let limit = match self.visibility {
                Visibility::Written => seg.end,
                Visibility::Durable => seg.durable.clamp(seg.first, seg.end),
            };
            if self.position >= limit {
                if self.visibility == Visibility::Durable && !checked_mark && self.position < seg.end {
                    self.reload_durable()?;
                    checked_mark = true;
                    continue;
                }
                return Ok(Here::Nothing);
            }
            let have_to = self.buf_start + self.buf.len() as u64;
            if self.position < self.buf_start || self.position + want as u64 > have_to {
                self.fill(limit, want)?;
                fresh = true;
            }
            let at = (self.position - self.buf_start) as usize;
            match decode_frame(&self.buf[at..], self.position, self.max_frame) {
                Ok(frame) => return Ok(Here::Frame(frame, at)),
                Err(FrameError::Truncated) if self.buf_start + (self.buf.len() as u64) < limit => {
                    // Read the whole frame: its length is in word 0.
                    let word = u32::from_le_bytes(self.buf[at..at + 4].try_into().expect("4 bytes"));
                    want = align((word & !PADDING) as usize).max(want * 2);
                    continue;
                }
                Err(e) => {
                    if !fresh {
                        // Bytes read earlier: the owner may have written them since.
                        self.buf.clear();
                        continue;
                    }
                    if !checked_mark {
                        self.reload_durable()?;
                        checked_mark = true;
                        let seg = self.segment.as_ref().expect("a segment is open");
                        if self.position < seg.durable.min(seg.end) {
                            // Fsynced before the mark was written: read it once more, then
                            // it is damage.
                            self.buf.clear();
                            continue;
                        }
                        return Ok(Here::Nothing);
                    }
                    let seg = self.segment.as_ref().expect("a segment is open");
                    if self.position < seg.durable.min(seg.end) {
                        return Err(Error::CorruptLog {
                            segment: self.dir.join(segment_name(seg.first)).display().to_string(),
                            position: self.position,
                            reason: format!("{e}, before the durable mark {}", seg.durable),
                        });
                    }
                    return Ok(Here::Nothing);
                }
            }
        }
    }

    /// Whether the open segment's file was deleted (by retention) since it was opened.
    fn segment_deleted(&self) -> bool {
        use std::os::unix::fs::MetadataExt;
        self.segment.as_ref().and_then(|s| s.file.metadata().ok()).is_some_and(|m| m.nlink() == 0)
    }

    /// Reads the open segment's `durable` field again.
    fn reload_durable(&mut self) -> Result<(), Error> {
        let seg = self.segment.as_mut().expect("a segment is open");
        let field = read_durable_field(&seg.file, &self.dir.join(segment_name(seg.first)))?;
        seg.durable = seg.durable.max(field);
        Ok(())
    }

    /// Reads from the position up to `limit`: at least `want` bytes, about twice what the
    /// last read delivered (so reads stay small at the live tail and grow when catching up).
    fn fill(&mut self, limit: u64, want: usize) -> Result<(), Error> {
        let seg = self.segment.as_ref().expect("a segment is open");
        let used = (self.position.saturating_sub(self.buf_start) as usize).saturating_mul(2);
        let size = used.clamp(MIN_READ, MAX_READ).max(want);
        let len = (limit - self.position).min(size as u64) as usize;
        self.buf.resize(len, 0);
        self.buf_start = self.position;
        let mut done = 0;
        while done < len {
            let at = SEGMENT_HEADER_LEN + (self.position - seg.first) + done as u64;
            match seg.file.read_at(&mut self.buf[done..], at) {
                Ok(0) => break,
                Ok(n) => done += n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => {
                    let path = self.dir.join(segment_name(seg.first));
                    return Err(Error::io(format!("reading {} at offset {}", path.display(), self.position), &e));
                }
            }
        }
        self.buf.truncate(done);
        Ok(())
    }
}

/// Opens a file of the data directory read-only without following a symbolic link; `None`
/// when it does not exist.
pub(crate) fn open_file(path: &Path) -> Result<Option<File>, Error> {
    match std::fs::OpenOptions::new().read(true).custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC).open(path) {
        Ok(f) => {
            let meta = f.metadata().map_err(|e| Error::io(format!("opening {}", path.display()), &e))?;
            if !meta.is_file() {
                return Err(Error::io(
                    format!("opening {}", path.display()),
                    &std::io::Error::new(std::io::ErrorKind::PermissionDenied, "it is not a regular file"),
                ));
            }
            Ok(Some(f))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) if e.raw_os_error() == Some(libc::ELOOP) => Err(Error::io(
            format!("opening {}", path.display()),
            &std::io::Error::new(
                std::io::ErrorKind::PermissionDenied,
                "it is a symbolic link, and ringbus follows none in its data directory",
            ),
        )),
        Err(e) => Err(Error::io(format!("opening {}", path.display()), &e)),
    }
}

/// The `durable` field of segment `first` in partition directory `dir`.
pub(crate) fn durable_mark(dir: &Path, first: u64) -> Result<u64, Error> {
    let path = dir.join(segment_name(first));
    match open_file(&path)? {
        Some(file) => read_durable_field(&file, &path),
        None => Ok(first),
    }
}

/// The `durable` field of segment file `file` (at `path`).
fn read_durable_field(file: &File, path: &Path) -> Result<u64, Error> {
    let mut field = [0u8; 8];
    file.read_exact_at(&mut field, DURABLE_FIELD)
        .map_err(|e| Error::io(format!("reading the header of {}", path.display()), &e))?;
    Ok(u64::from_le_bytes(field))
}

/// The first offsets of the segments in a partition directory, ascending (empty when the
/// directory does not exist yet).
pub(crate) fn list_segments(dir: &Path) -> Result<Vec<u64>, Error> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(Error::io(format!("listing {}", dir.display()), &e)),
    };
    let mut segments: Vec<u64> =
        entries.flatten().filter_map(|e| parse_segment_name(&e.file_name().to_string_lossy())).collect();
    segments.sort_unstable();
    Ok(segments)
}
