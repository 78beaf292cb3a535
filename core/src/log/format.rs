//! Segment files byte by byte: the segment header and the frame decoder used by recovery and
//! by readers behind the ring. FORMAT.md is the prose version; the two must agree.
//!
//! ```text
//! segment header (64 bytes)
//!   0..8    magic        b"RINGBUS\x00"
//!   8..12   version      u32 LE  FORMAT_VERSION
//!   12..16  header_len   u32 LE  64
//!   16..24  first_offset u64 LE  log position of the first frame (also the file name)
//!   24..32  created_ns   u64 LE  ns since the Unix epoch
//!   32..36  header_crc   u32 LE  CRC-32C of bytes 0..32
//!   36..40  reserved     0
//!   40..48  durable      u64 LE  every frame below this log position was durable (fsynced)
//!                                before the last write to this file; outside the header CRC,
//!                                rewritten in place, only ever grows
//!   48..64  reserved     0
//! 64..      frames, back to back, exactly as in the ring (see `ring/frame.rs`)
//! ```
//!
//! The frame at log position `p` lies at file offset `64 + (p - first_offset)`.
#![deny(unsafe_code)]

use crate::ring::frame::{align, decode_word0, frame_crc, prefix_len, FrameHeader, Word0, FLAG_PRODUCER, HEADER_LEN};

/// First bytes of every segment file.
pub(crate) const MAGIC: [u8; 8] = *b"RINGBUS\x00";
/// Version of the segment format. Readers refuse other versions (see FORMAT.md: compatibility).
pub(crate) const FORMAT_VERSION: u32 = 1;
/// Bytes of the segment header; frames start here.
pub(crate) const SEGMENT_HEADER_LEN: u64 = 64;
/// File offset of the `durable` field.
pub(crate) const DURABLE_FIELD: u64 = 40;
/// Segment files are named by their first offset, zero-padded to this many digits.
pub(crate) const NAME_DIGITS: usize = 20;
/// Segment file suffix.
pub(crate) const SEGMENT_SUFFIX: &str = ".seg";

/// A decoded segment header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct SegmentHeader {
    pub(crate) first_offset: u64,
    pub(crate) created_ns: u64,
    pub(crate) durable: u64,
}

/// Why a segment header was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum HeaderError {
    /// Shorter than 64 bytes.
    Short,
    /// Not a ringbus segment (or a header never written: zeros).
    Magic,
    /// A format version this build does not read.
    Version(u32),
    /// The header length field is not 64 (the version is right).
    HeaderLen(u32),
    /// The header's CRC does not match.
    Crc,
}

impl std::fmt::Display for HeaderError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            HeaderError::Short => write!(f, "segment header is shorter than 64 bytes"),
            HeaderError::Magic => write!(f, "segment header has no ringbus magic"),
            HeaderError::Version(v) => write!(f, "segment format version {v} is not {FORMAT_VERSION}"),
            HeaderError::HeaderLen(n) => {
                write!(
                    f,
                    "segment header length field is {n}, not {SEGMENT_HEADER_LEN} (format version {FORMAT_VERSION})"
                )
            }
            HeaderError::Crc => write!(f, "segment header checksum mismatch"),
        }
    }
}

impl SegmentHeader {
    /// The 64 header bytes.
    pub(crate) fn encode(&self) -> [u8; SEGMENT_HEADER_LEN as usize] {
        let mut b = [0u8; SEGMENT_HEADER_LEN as usize];
        b[0..8].copy_from_slice(&MAGIC);
        b[8..12].copy_from_slice(&FORMAT_VERSION.to_le_bytes());
        b[12..16].copy_from_slice(&(SEGMENT_HEADER_LEN as u32).to_le_bytes());
        b[16..24].copy_from_slice(&self.first_offset.to_le_bytes());
        b[24..32].copy_from_slice(&self.created_ns.to_le_bytes());
        let crc = crc32c::crc32c(&b[0..32]);
        b[32..36].copy_from_slice(&crc.to_le_bytes());
        b[40..48].copy_from_slice(&self.durable.to_le_bytes());
        b
    }

    /// Decodes and checks a header.
    pub(crate) fn decode(bytes: &[u8]) -> Result<Self, HeaderError> {
        if bytes.len() < SEGMENT_HEADER_LEN as usize {
            return Err(HeaderError::Short);
        }
        if bytes[0..8] != MAGIC {
            return Err(HeaderError::Magic);
        }
        let u32_at = |i: usize| u32::from_le_bytes(bytes[i..i + 4].try_into().expect("4 bytes"));
        let u64_at = |i: usize| u64::from_le_bytes(bytes[i..i + 8].try_into().expect("8 bytes"));
        if u32_at(8) != FORMAT_VERSION {
            return Err(HeaderError::Version(u32_at(8)));
        }
        if u32_at(12) != SEGMENT_HEADER_LEN as u32 {
            return Err(HeaderError::HeaderLen(u32_at(12)));
        }
        if crc32c::crc32c(&bytes[0..32]) != u32_at(32) {
            return Err(HeaderError::Crc);
        }
        Ok(Self { first_offset: u64_at(16), created_ns: u64_at(24), durable: u64_at(40) })
    }
}

/// The file name of the segment whose first frame is at `first_offset`.
pub(crate) fn segment_name(first_offset: u64) -> String {
    format!("{first_offset:0width$}{SEGMENT_SUFFIX}", width = NAME_DIGITS)
}

/// The first offset a segment file name stands for, if it is one.
pub(crate) fn parse_segment_name(name: &str) -> Option<u64> {
    let digits = name.strip_suffix(SEGMENT_SUFFIX)?;
    if digits.len() != NAME_DIGITS || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// One frame found in segment bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Frame {
    /// A padding frame of this aligned length: no event.
    Padding(usize),
    /// An event frame of this unaligned length whose CRC matched.
    Event { len: usize, timestamp: u64, key_len: usize },
}

impl Frame {
    /// Bytes from this frame's start to the next frame's.
    pub(crate) fn span(&self) -> usize {
        match *self {
            Frame::Padding(n) => n,
            Frame::Event { len, .. } => align(len),
        }
    }
}

/// Why bytes at a position are not a frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FrameError {
    /// Word 0 is zero: nothing was written here (the end of the log, or a torn write).
    Empty,
    /// Word 0 does not carry this position's tag, or its length is out of bounds.
    BadWord0,
    /// The frame runs past the bytes available.
    Truncated,
    /// The CRC-32C does not match.
    Crc,
}

impl std::fmt::Display for FrameError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            FrameError::Empty => "no frame (zero length word)",
            FrameError::BadWord0 => "bad frame length or position tag",
            FrameError::Truncated => "frame runs past the end of the data",
            FrameError::Crc => "frame checksum mismatch",
        })
    }
}

/// Decodes the frame at log position `position` from `bytes` (which start at that frame), with
/// event frames at most `max_frame` bytes long. Never panics, whatever the bytes.
pub(crate) fn decode_frame(bytes: &[u8], position: u64, max_frame: usize) -> Result<Frame, FrameError> {
    let Some(w) = bytes.get(0..8) else { return Err(FrameError::Truncated) };
    let word0 = u64::from_le_bytes(w.try_into().expect("8 bytes"));
    if word0 == 0 {
        return Err(FrameError::Empty);
    }
    match decode_word0(word0, position, max_frame) {
        Word0::Uncommitted => Err(FrameError::BadWord0),
        Word0::Padding(n) => {
            if bytes.len() < n {
                Err(FrameError::Truncated)
            } else {
                Ok(Frame::Padding(n))
            }
        }
        Word0::Event(len) => {
            // The whole aligned span must be there: the next frame starts after it.
            if bytes.len() < align(len) {
                return Err(FrameError::Truncated);
            }
            let frame = &bytes[..len];
            let header = FrameHeader::parse(frame);
            let (timestamp, key_len, flags, crc) = (header.timestamp, header.key_len(), header.flags(), header.crc());
            if flags & !FLAG_PRODUCER != 0 || HEADER_LEN + prefix_len(flags) + key_len as usize > len {
                return Err(FrameError::BadWord0);
            }
            if frame_crc(word0, timestamp, key_len, flags, &[&frame[HEADER_LEN..]]) != crc {
                return Err(FrameError::Crc);
            }
            Ok(Frame::Event { len, timestamp, key_len: key_len as usize })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ring::frame::{commit_word, meta_word};

    fn frame_bytes(position: u64, ts: u64, key: &[u8], payload: &[u8]) -> Vec<u8> {
        let len = HEADER_LEN + key.len() + payload.len();
        let w0 = commit_word(position, len as u32);
        let crc = frame_crc(w0, ts, key.len() as u16, 0, &[key, payload]);
        let mut b = Vec::new();
        b.extend_from_slice(&w0.to_le_bytes());
        b.extend_from_slice(&ts.to_le_bytes());
        b.extend_from_slice(&meta_word(key.len() as u16, 0, crc).to_le_bytes());
        b.extend_from_slice(key);
        b.extend_from_slice(payload);
        b.resize(align(len), 0);
        b
    }

    #[test]
    fn header_round_trips_and_rejects_damage() {
        let h = SegmentHeader { first_offset: 4096, created_ns: 7, durable: 128 };
        let b = h.encode();
        assert_eq!(SegmentHeader::decode(&b), Ok(h));
        assert_eq!(SegmentHeader::decode(&[0u8; 64]), Err(HeaderError::Magic));
        assert_eq!(SegmentHeader::decode(&b[..63]), Err(HeaderError::Short));
        let mut bad = b;
        bad[17] ^= 1;
        assert_eq!(SegmentHeader::decode(&bad), Err(HeaderError::Crc));
        let mut v2 = b;
        v2[8] = 2;
        assert_eq!(SegmentHeader::decode(&v2), Err(HeaderError::Version(2)));
        let mut len = b;
        len[12] = 65;
        assert_eq!(SegmentHeader::decode(&len), Err(HeaderError::HeaderLen(65)));
        assert!(HeaderError::HeaderLen(65).to_string().contains("length field is 65"));
        // The durable field is outside the CRC: it is rewritten in place.
        let mut d = b;
        d[40] = 9;
        assert_eq!(SegmentHeader::decode(&d).map(|h| h.durable), Ok(9));
    }

    #[test]
    fn names_round_trip() {
        assert_eq!(segment_name(42), "00000000000000000042.seg");
        assert_eq!(parse_segment_name(&segment_name(u64::MAX / 2)), Some(u64::MAX / 2));
        for bad in ["42.seg", "0000000000000000004x.seg", "00000000000000000042.log", "../x.seg"] {
            assert_eq!(parse_segment_name(bad), None, "{bad}");
        }
    }

    #[test]
    fn frames_decode_and_every_flipped_bit_is_caught() {
        let b = frame_bytes(64, 99, b"k", b"hello");
        assert_eq!(decode_frame(&b, 64, 1024), Ok(Frame::Event { len: 30, timestamp: 99, key_len: 1 }));
        assert_eq!(decode_frame(&b, 72, 1024), Err(FrameError::BadWord0));
        assert_eq!(decode_frame(&b[..20], 64, 1024), Err(FrameError::Truncated));
        assert_eq!(decode_frame(&[0u8; 32], 64, 1024), Err(FrameError::Empty));
        for bit in 0..30 * 8 {
            let mut d = b.clone();
            d[bit / 8] ^= 1 << (bit % 8);
            assert!(decode_frame(&d, 64, 1024).is_err(), "bit {bit} flipped went unnoticed");
        }
    }
}
