//! Durable groups' committed offsets: `<topic>/groups/<group>.offsets`, one line per
//! partition and a CRC-32C line, replaced whole on every commit.
#![deny(unsafe_code)]

use std::fs;
use std::path::{Path, PathBuf};

use super::dir::{check_entry, create_dir, replace_file};
use crate::error::Error;

/// The file holding group `group`'s committed offsets in a topic directory.
pub(crate) fn group_offsets_path(topic_dir: &Path, group: &str) -> PathBuf {
    topic_dir.join("groups").join(format!("{group}.offsets"))
}

/// Stores a group's committed offsets, one per partition (see [`write_offsets`]).
pub(crate) fn write_group_offsets(topic_dir: &Path, group: &str, offsets: &[u64]) -> Result<(), Error> {
    create_dir(&topic_dir.join("groups"))?;
    let lines: Vec<(u32, u64)> = offsets.iter().enumerate().map(|(p, &o)| (p as u32, o)).collect();
    write_offsets(&group_offsets_path(topic_dir, group), &lines)
}

/// Stores committed offsets in `path` (temporary file, fsync, rename, directory fsync): lines
/// `<partition> <offset>`, then `crc <CRC-32C of the lines above>`. The directory must exist.
pub(crate) fn write_offsets(path: &Path, offsets: &[(u32, u64)]) -> Result<(), Error> {
    let mut text = String::from("# ringbus group offsets: partition offset\n");
    for (p, o) in offsets {
        text.push_str(&format!("{p} {o}\n"));
    }
    let crc = crc32c::crc32c(text.as_bytes());
    text.push_str(&format!("crc {crc:08x}\n"));
    replace_file(path, text.as_bytes())
}

/// A group's committed offsets, if it ever committed.
///
/// # Errors
/// [`Error::Io`], or [`Error::CorruptLog`] naming the file when its checksum fails or a
/// partition's line is missing or unreadable.
pub(crate) fn read_group_offsets(topic_dir: &Path, group: &str, partitions: u32) -> Result<Option<Vec<u64>>, Error> {
    let path = group_offsets_path(topic_dir, group);
    let Some(lines) = read_offsets(&path)? else { return Ok(None) };
    let corrupt = |reason: String| Error::CorruptLog { segment: path.display().to_string(), position: 0, reason };
    let mut offsets = vec![None; partitions as usize];
    for (p, o) in lines {
        match offsets.get_mut(p as usize) {
            Some(slot) => *slot = Some(o),
            None => return Err(corrupt(format!("partition {p} is not one of the topic's {partitions}"))),
        }
    }
    offsets
        .into_iter()
        .collect::<Option<Vec<u64>>>()
        .map(Some)
        .ok_or_else(|| corrupt("a partition has no offset".into()))
}

/// The `(partition, offset)` lines of an offsets file written by [`write_offsets`], if it
/// exists.
///
/// # Errors
/// [`Error::Io`] (an entry that is not a regular file of the directory's owner included), or
/// [`Error::CorruptLog`] naming the file when its checksum fails or a line is unreadable.
pub(crate) fn read_offsets(path: &Path) -> Result<Option<Vec<(u32, u64)>>, Error> {
    match check_entry(path, false) {
        Err(Error::Io { kind: std::io::ErrorKind::NotFound, .. }) => return Ok(None),
        other => other?,
    }
    let text = match fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(Error::io(format!("reading {}", path.display()), &e)),
    };
    let corrupt = |reason: String| Error::CorruptLog { segment: path.display().to_string(), position: 0, reason };
    let body_end = text.rfind("crc ").ok_or_else(|| corrupt("no checksum line".into()))?;
    let (body, crc_line) = text.split_at(body_end);
    let crc = u32::from_str_radix(crc_line.trim().trim_start_matches("crc "), 16)
        .map_err(|_| corrupt("unreadable checksum line".into()))?;
    if crc32c::crc32c(body.as_bytes()) != crc {
        return Err(corrupt("offsets checksum mismatch".into()));
    }
    let mut lines = Vec::new();
    for line in body.lines().filter(|l| !l.starts_with('#') && !l.is_empty()) {
        let mut it = line.split(' ');
        match (it.next().map(str::parse::<u32>), it.next().map(str::parse::<u64>), it.next()) {
            (Some(Ok(p)), Some(Ok(o)), None) => lines.push((p, o)),
            _ => return Err(corrupt(format!("unreadable line {line:?}"))),
        }
    }
    Ok(Some(lines))
}

/// Every group that committed in `topic_dir`, with its offsets, sorted by name.
pub(crate) fn committed_groups(topic_dir: &Path, partitions: u32) -> Result<Vec<(String, Vec<u64>)>, Error> {
    let groups_dir = topic_dir.join("groups");
    let entries = match fs::read_dir(&groups_dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(Error::io(format!("listing {}", groups_dir.display()), &e)),
    };
    let mut names: Vec<String> = entries
        .flatten()
        .filter_map(|e| e.file_name().to_string_lossy().strip_suffix(".offsets").map(str::to_owned))
        .collect();
    names.sort();
    let mut groups = Vec::with_capacity(names.len());
    for name in names {
        if let Some(offsets) = read_group_offsets(topic_dir, &name, partitions)? {
            groups.push((name, offsets));
        }
    }
    Ok(groups)
}
