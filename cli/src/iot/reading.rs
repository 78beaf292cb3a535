//! One sensor reading and its two encodings (JSON and 24-byte binary), each stamped with its
//! send time.

use std::io::Write;

use crate::Format;

/// One sensor reading.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Reading {
    pub(crate) sensor: u32,
    pub(crate) seq: u32,
    /// Hundredths of a degree Celsius.
    pub(crate) centi: i32,
    /// When it was sent: ns since the pipeline started.
    pub(crate) sent_ns: u64,
}

impl Reading {
    pub(crate) fn encode(&self, format: Format, out: &mut Vec<u8>) {
        out.clear();
        match format {
            Format::Json => {
                let _ = write!(
                    out,
                    r#"{{"sensor":{},"seq":{},"centi":{},"t":{}}}"#,
                    self.sensor, self.seq, self.centi, self.sent_ns
                );
            }
            Format::Binary => {
                out.extend_from_slice(&self.sensor.to_le_bytes());
                out.extend_from_slice(&self.seq.to_le_bytes());
                out.extend_from_slice(&self.centi.to_le_bytes());
                out.extend_from_slice(&0u32.to_le_bytes());
                out.extend_from_slice(&self.sent_ns.to_le_bytes());
            }
        }
    }

    pub(crate) fn decode(format: Format, bytes: &[u8]) -> Option<Reading> {
        match format {
            Format::Binary => {
                let b: &[u8; 24] = bytes.try_into().ok()?;
                let u32_at = |i: usize| u32::from_le_bytes(b[i..i + 4].try_into().expect("4 bytes"));
                Some(Reading {
                    sensor: u32_at(0),
                    seq: u32_at(4),
                    centi: u32_at(8) as i32,
                    sent_ns: u64::from_le_bytes(b[16..24].try_into().expect("8 bytes")),
                })
            }
            Format::Json => {
                // The fixed shape written by `encode`; any other payload is not a reading.
                let text = std::str::from_utf8(bytes).ok()?;
                let field = |name: &str| -> Option<i64> {
                    let at = text.find(&format!("\"{name}\":"))? + name.len() + 3;
                    let end = text[at..].find([',', '}']).map(|e| at + e)?;
                    text[at..end].parse().ok()
                };
                Some(Reading {
                    sensor: u32::try_from(field("sensor")?).ok()?,
                    seq: u32::try_from(field("seq")?).ok()?,
                    centi: i32::try_from(field("centi")?).ok()?,
                    sent_ns: u64::try_from(field("t")?).ok()?,
                })
            }
        }
    }
}

/// A sensor's value at a sequence number: a deterministic walk between 15 and 30 degrees.
pub(crate) fn value(sensor: u32, seq: u32) -> i32 {
    let mut x = (u64::from(sensor) << 32 | u64::from(seq)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    x ^= x >> 29;
    1500 + (x % 1501) as i32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn readings_round_trip_in_both_formats() {
        let r = Reading { sensor: 9_999, seq: 12, centi: -1234, sent_ns: 5_000_000_123 };
        let mut buf = Vec::new();
        for format in [Format::Json, Format::Binary] {
            r.encode(format, &mut buf);
            assert_eq!(Reading::decode(format, &buf), Some(r), "{format:?}");
        }
        assert_eq!(Reading::decode(Format::Json, b"{\"sensor\":1}"), None);
        assert_eq!(Reading::decode(Format::Binary, b"short"), None);
    }
}
