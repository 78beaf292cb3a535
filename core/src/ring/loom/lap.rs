//! Lapping: a `DropOldest` reader detects that producers overwrote what it copied.
#![deny(unsafe_code)]

use super::*;

/// A DropOldest (ungated) reader racing a producer that laps it never accepts torn bytes:
/// whatever passes the lap check is a whole event of the lap it expected.
#[test]
fn drop_oldest_reader_detects_laps() {
    loom::model(|| {
        let ring = ring(64);
        let mut cache = ProducerCache::default();
        publish(&ring, &mut cache, 1, &[1; 8]);
        let r = ring.clone();
        let producer = thread::spawn(move || {
            let mut cache = ProducerCache::default();
            // Two more events lap the first (the ring holds one 32-byte frame at a time).
            publish(&r, &mut cache, 2, &[2; 8]);
            publish(&r, &mut cache, 3, &[3; 8]);
        });
        let mut position = 0;
        let mut buf = Vec::new();
        let mut accepted = Vec::new();
        for _ in 0..2 {
            match ring.word0(position) {
                Word0::Event(len) => {
                    ring.copy_frame(position, len, &mut buf);
                    if ring.lapped(position) {
                        position = ring.earliest_with_index().0;
                    } else {
                        let payload = &buf[HEADER_LEN..];
                        assert!(payload.iter().all(|b| *b == payload[0]), "torn event accepted: {payload:?}");
                        assert_eq!(u64::from(payload[0] - 1), position / 32, "event of the expected lap");
                        accepted.push(payload[0]);
                        position += align(len) as u64;
                    }
                }
                Word0::Padding(n) => position += n as u64,
                Word0::Uncommitted => {
                    if ring.lapped(position) {
                        position = ring.earliest_with_index().0;
                    }
                }
            }
        }
        producer.join().unwrap();
        assert!(accepted.windows(2).all(|w| w[0] < w[1]), "in order: {accepted:?}");
    });
}
