//! The frame layout: what a producer writes and a reader decodes, in the ring and (unchanged)
//! in segment files later.
//!
//! ```text
//! word 0  bytes 0..4   length   u32 LE  header + key + payload; bit 31 marks a padding frame
//!         bytes 4..8   tag      u32 LE  (offset >> 3) as u32: the frame's own position
//! word 1  bytes 8..16  timestamp u64 LE ns since the Unix epoch
//! word 2  bytes 16..18 key_len  u16 LE
//!         bytes 18..20 flags    u16 LE  bit 0: the body starts with a producer id and sequence
//!                                       number (16 bytes, idempotent publish); others 0
//!         bytes 20..24 crc      u32 LE  CRC-32C (below) on persisted topics, 0 in memory
//! bytes 24..           [producer id u64, sequence u64 if flag 0], key, payload; the frame is
//!                      zero-padded to a multiple of 8
//! ```
//!
//! The CRC-32C covers word 0 (so the length and the position), the timestamp, key length and
//! flags (bytes 0..20), then the key and payload: everything but itself and the alignment
//! zeros. FORMAT.md describes the layout as it lies in segment files.
//!
//! Word 0 is the commit marker: a producer stores it last, with Release, and a reader that
//! Acquire-loads a word 0 whose tag matches the position it reads sees the whole frame. The
//! ring zeroes space before producers may claim it, so an uncommitted frame reads as 0. A
//! padding frame is only word 0 (it may be 8 bytes long) and fills the ring's end when the next
//! frame would not fit before it.
#![deny(unsafe_code)]

/// Bytes of the fixed frame header.
pub(crate) const HEADER_LEN: usize = 24;
/// Frames start at multiples of this.
pub(crate) const ALIGN: usize = 8;
/// Set in the length field of a padding frame.
pub(crate) const PADDING: u32 = 1 << 31;
/// Largest padding frame: a claim is at most half of a ring of at most 1 GiB, so the padding
/// before it is smaller than that.
pub(crate) const MAX_PADDING: usize = 1 << 29;
/// Largest key a frame can carry (the key length field is a u16).
pub(crate) const MAX_KEY_LEN: usize = u16::MAX as usize;

/// Rounds `len` up to the frame alignment.
#[inline]
pub(crate) const fn align(len: usize) -> usize {
    (len + ALIGN - 1) & !(ALIGN - 1)
}

/// The tag a frame at `position` carries.
#[inline]
pub(crate) const fn tag(position: u64) -> u32 {
    (position >> 3) as u32
}

/// Word 0 of a committed frame of `len` bytes (padding flag included) at `position`.
#[inline]
pub(crate) const fn commit_word(position: u64, len: u32) -> u64 {
    (tag(position) as u64) << 32 | len as u64
}

/// Frame flag: the body starts with a producer id and a sequence number.
pub(crate) const FLAG_PRODUCER: u16 = 1;
/// Bytes of the producer id and sequence number.
pub(crate) const PRODUCER_LEN: usize = 16;

/// Word 2 of a frame.
#[inline]
pub(crate) const fn meta_word(key_len: u16, flags: u16, crc: u32) -> u64 {
    key_len as u64 | (flags as u64) << 16 | (crc as u64) << 32
}

/// Bytes between the header and the key, by the frame's flags.
#[inline]
pub(crate) const fn prefix_len(flags: u16) -> usize {
    if flags & FLAG_PRODUCER != 0 {
        PRODUCER_LEN
    } else {
        0
    }
}

/// The CRC-32C of an event frame whose word 0 is `word0`, over the fields it covers (see the
/// module docs). `body` is the key and payload, given as consecutive pieces.
#[inline]
pub(crate) fn frame_crc(word0: u64, timestamp: u64, key_len: u16, flags: u16, body: &[&[u8]]) -> u32 {
    let mut head = [0u8; 20];
    head[..8].copy_from_slice(&word0.to_le_bytes());
    head[8..16].copy_from_slice(&timestamp.to_le_bytes());
    head[16..18].copy_from_slice(&key_len.to_le_bytes());
    head[18..20].copy_from_slice(&flags.to_le_bytes());
    body.iter().fold(crc32c::crc32c(&head), |crc, piece| crc32c::crc32c_append(crc, piece))
}

/// The three header words of a frame as they lie in its first [`HEADER_LEN`] bytes (a copy of
/// a frame, or a segment file's bytes): the one place header bytes are decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct FrameHeader {
    /// Word 0: length (bit 31: padding) and position tag.
    pub(crate) word0: u64,
    /// Word 1: ns since the Unix epoch.
    pub(crate) timestamp: u64,
    /// Word 2: key length, flags and CRC-32C (see [`meta_word`]).
    pub(crate) meta: u64,
}

impl FrameHeader {
    /// Reads the header words from `frame`, which holds at least [`HEADER_LEN`] bytes.
    #[inline]
    pub(crate) fn parse(frame: &[u8]) -> Self {
        let word = |i: usize| u64::from_le_bytes(frame[i..i + 8].try_into().expect("8 bytes"));
        Self { word0: word(0), timestamp: word(8), meta: word(16) }
    }

    /// The key length field.
    #[inline]
    pub(crate) fn key_len(&self) -> u16 {
        self.meta as u16
    }

    /// The flags field.
    #[inline]
    pub(crate) fn flags(&self) -> u16 {
        (self.meta >> 16) as u16
    }

    /// The CRC-32C field.
    #[inline]
    pub(crate) fn crc(&self) -> u32 {
        (self.meta >> 32) as u32
    }
}

/// What word 0 at a position says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Word0 {
    /// Not committed yet (zero), or bytes of another lap (tag mismatch).
    Uncommitted,
    /// A padding frame of this aligned length: skip it.
    Padding(usize),
    /// An event frame of this unaligned length (header + key + payload).
    Event(usize),
}

/// Decodes word 0 read at `position`; `max_len` bounds a sane event frame.
#[inline]
pub(crate) fn decode_word0(word: u64, position: u64, max_len: usize) -> Word0 {
    let len = word as u32;
    if word == 0 || (word >> 32) as u32 != tag(position) {
        return Word0::Uncommitted;
    }
    if len & PADDING != 0 {
        let pad = (len & !PADDING) as usize;
        if pad == 0 || pad % ALIGN != 0 || pad > MAX_PADDING {
            // Unreachable for frames this crate wrote; treat as not (yet) valid.
            return Word0::Uncommitted;
        }
        return Word0::Padding(pad);
    }
    let len = len as usize;
    if !(HEADER_LEN..=max_len).contains(&len) {
        return Word0::Uncommitted;
    }
    Word0::Event(len)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commit_word_round_trips() {
        let w = commit_word(4096, 40);
        assert_eq!(decode_word0(w, 4096, 1 << 20), Word0::Event(40));
        assert_eq!(decode_word0(w, 4096 + 1024, 1 << 20), Word0::Uncommitted);
        assert_eq!(decode_word0(0, 0, 1 << 20), Word0::Uncommitted);
        let p = commit_word(8, 16 | PADDING);
        assert_eq!(decode_word0(p, 8, 1 << 20), Word0::Padding(16));
        // Padding before a batch claim can be longer than the largest event frame.
        let p = commit_word(64, 5000 | PADDING);
        assert_eq!(decode_word0(p, 64, 280), Word0::Padding(5000));
        assert_eq!(decode_word0(commit_word(0, 8), 0, 1 << 20), Word0::Uncommitted);
    }

    #[test]
    fn align_rounds_up_to_eight() {
        assert_eq!(align(0), 0);
        assert_eq!(align(1), 8);
        assert_eq!(align(24), 24);
        assert_eq!(align(25), 32);
    }
}
