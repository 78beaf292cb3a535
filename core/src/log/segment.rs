//! Segment files: creating one (header, preallocation, fsync, rename, directory fsync) and
//! reading a header's creation time for retention by age.

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::Path;

use super::dir::sync_dir;
use super::format::{segment_name, SegmentHeader, SEGMENT_HEADER_LEN};
use super::fs;
use crate::config::TimestampSource;
use crate::error::Error;

/// Creates a segment file whose first frame is at `first` (temporary name, header, preallocate
/// to `segment_bytes`, fsync, rename, directory fsync) and returns it open for writing.
pub(crate) fn create_segment(dir: &Path, first: u64, segment_bytes: u64, durable: u64) -> Result<File, Error> {
    let path = dir.join(segment_name(first));
    let tmp = dir.join(format!("{}.tmp", segment_name(first)));
    let created_ns = crate::clock::now(TimestampSource::Precise);
    let header = SegmentHeader { first_offset: first, created_ns, durable };
    let make = || -> std::io::Result<File> {
        let f = fs::create_file(&tmp, true)?;
        fs::write_at(&f, &header.encode(), 0)?;
        fs::allocate(&f, segment_bytes)?;
        fs::sync_data(&f)?;
        fs::rename(&tmp, &path)?;
        Ok(f)
    };
    let f = make().map_err(|e| Error::io(format!("creating segment {}", path.display()), &e))?;
    sync_dir(dir)?;
    Ok(f)
}

/// The name of a partition's spare segment (its `.seg.tmp` ending makes opening the
/// directory delete it: it never holds data).
pub(crate) const SPARE: &str = "spare.seg.tmp";

/// Turns the prepared spare `dir/spare.seg.tmp` (zeros, `segment_bytes` long, fsynced) into
/// the segment whose first frame is at `first` (header, fsync, rename, directory fsync); `None`
/// when there is no spare of that size.
pub(crate) fn segment_from_spare(
    dir: &Path,
    first: u64,
    segment_bytes: u64,
    durable: u64,
) -> Result<Option<File>, Error> {
    let spare = dir.join(SPARE);
    if std::fs::metadata(&spare).map(|m| m.len()).ok() != Some(segment_bytes) {
        return Ok(None);
    }
    let path = dir.join(segment_name(first));
    let created_ns = crate::clock::now(TimestampSource::Precise);
    let header = SegmentHeader { first_offset: first, created_ns, durable };
    let make = || -> std::io::Result<File> {
        let f = fs::create_file(&spare, false)?;
        fs::write_at(&f, &header.encode(), 0)?;
        fs::sync_data(&f)?;
        fs::rename(&spare, &path)?;
        Ok(f)
    };
    let f = make().map_err(|e| Error::io(format!("creating segment {} from its spare", path.display()), &e))?;
    sync_dir(dir)?;
    Ok(Some(f))
}

/// The creation time in a segment's header.
pub(crate) fn segment_created_ns(path: &Path) -> Result<u64, Error> {
    let mut head = [0u8; SEGMENT_HEADER_LEN as usize];
    File::open(path)
        .and_then(|f| f.read_exact_at(&mut head, 0))
        .map_err(|e| Error::io(format!("reading the header of {}", path.display()), &e))?;
    SegmentHeader::decode(&head).map(|h| h.created_ns).map_err(|e| Error::CorruptLog {
        segment: path.display().to_string(),
        position: 0,
        reason: e.to_string(),
    })
}
