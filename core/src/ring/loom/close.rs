//! Close racing claims: nothing acknowledged before the close is lost, nothing after it is
//! accepted.
#![deny(unsafe_code)]

use super::*;

/// Closing a multi-producer ring while a publisher claims with `fetch_add`: the reader gets
/// exactly the events whose publish succeeded, then sees the ring drained (a claim that met
/// the closed bit takes its bytes back, so the tail is the real end again).
#[test]
fn close_racing_fetch_add_claims_loses_no_acknowledged_event() {
    loom::model(|| {
        let ring = ring(128);
        let r = ring.clone();
        let producer = thread::spawn(move || {
            let mut cache = ProducerCache { limit: r.limit(), last_end: 0 };
            let mut acked = 0;
            for id in 0..2 {
                if publish_appending(&r, &mut cache, id).is_none() {
                    break;
                }
                acked += 1;
            }
            acked
        });
        let r = ring.clone();
        let closer = thread::spawn(move || r.close());
        let mut position = 0;
        let mut got = 0;
        loop {
            if let Some((id, _)) = read_gated(&ring, &mut position) {
                assert_eq!(id, got);
                got += 1;
                continue;
            }
            if ring.drained_at(position) {
                break;
            }
            let at = position;
            ring.readable.park_until(|| ring.is_ready_at(at) || ring.drained_at(at), None);
        }
        closer.join().unwrap();
        assert_eq!(got, producer.join().unwrap());
    });
}

/// Closing a ring while its exclusive publisher claims with plain stores: the reader
/// gets exactly the events whose publish succeeded, then sees the ring drained (a claim that
/// missed the close and was not waited for would be lost, or the reader would sleep forever).
#[test]
fn exclusive_publisher_close_loses_no_acknowledged_event() {
    loom::model(|| {
        let ring = Arc::new(Ring::new(128, HEADER_LEN + 8, true, Arc::new(Notifier::new())));
        let r = ring.clone();
        let producer = thread::spawn(move || {
            let mut cache = ProducerCache::default();
            let mut acked = 0;
            for id in 0..2 {
                let Ok(position) = r.try_claim(32, &mut cache) else { break };
                write(&r, position, id, &[id as u8; 8]);
                acked += 1;
            }
            acked
        });
        let r = ring.clone();
        let closer = thread::spawn(move || r.close());
        let mut position = 0;
        let mut got = 0;
        loop {
            if let Some((id, payload)) = read_gated(&ring, &mut position) {
                assert_eq!((id, payload), (got, vec![got as u8; 8]));
                got += 1;
                continue;
            }
            if ring.drained_at(position) {
                break;
            }
            let at = position;
            ring.readable.park_until(|| ring.is_ready_at(at) || ring.drained_at(at), None);
        }
        closer.join().unwrap();
        assert_eq!(got, producer.join().unwrap());
    });
}
