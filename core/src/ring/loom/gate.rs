//! Gating: producers never overwrite what a `Block` reader has not passed.
#![deny(unsafe_code)]

use super::*;

/// A Block reader gates producers: three events through a ring that holds one at a time,
/// none overwritten before it was read.
#[test]
fn block_reader_gates_producers() {
    loom::model(|| {
        let ring = ring(64);
        let cursor = Arc::new(Cursor::new(0));
        ring.join(JoinAt::Earliest, Some(GateSpec::new(GateKind::Cursor(cursor.clone()), "reader"))).unwrap();
        let r2 = ring.clone();
        let producer = thread::spawn(move || {
            let mut cache = ProducerCache::default();
            for i in 0..3 {
                publish(&r2, &mut cache, i, &[i as u8; 8]);
            }
        });
        let mut position = 0;
        for i in 0..3 {
            assert_eq!(next_gated(&ring, Some(&cursor), &mut position), (i, vec![i as u8; 8]));
        }
        producer.join().unwrap();
    });
}
