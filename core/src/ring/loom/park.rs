//! Parking and waking: no lost wake-up between a parking reader and a committing producer.
#![deny(unsafe_code)]

use super::*;

/// A reader parks waiting for data and a producer parks waiting for space; neither wake-up
/// is lost (a lost one deadlocks, which loom reports).
#[test]
fn park_and_wake_lose_no_wake_up() {
    loom::model(|| {
        let ring = ring(64);
        let cursor = Arc::new(Cursor::new(0));
        ring.join(JoinAt::Earliest, Some(GateSpec::new(GateKind::Cursor(cursor.clone()), "reader"))).unwrap();
        let mut cache = ProducerCache::default();
        publish(&ring, &mut cache, 1, &[]);
        publish(&ring, &mut cache, 2, &[]); // full: the third needs both read
        let r = ring.clone();
        let producer = thread::spawn(move || {
            let mut cache = ProducerCache::default();
            publish(&r, &mut cache, 3, &[]);
        });
        // Consume both (frees space, wakes the producer), then park for the third.
        let mut position = 0;
        for id in 1..=3 {
            assert_eq!(next_gated(&ring, Some(&cursor), &mut position).0, id);
        }
        producer.join().unwrap();
    });
}
