//! Claims: `fetch_add` claims that cross the buffer's end or overshoot the limit, and readers
//! that stop at an uncommitted frame.
#![deny(unsafe_code)]

use super::*;

/// Two publishers claim with `fetch_add` at once; one claim crosses the buffer's end, so it
/// pads both pieces and claims again. A Block reader sees both events whole, in the order of
/// their positions, skipping the padding.
#[test]
fn fetch_add_claims_pad_at_the_wrap() {
    loom::model(|| {
        let ring = ring(128);
        let mut cache = ProducerCache::default();
        publish(&ring, &mut cache, 0, &[0; 8]);
        publish(&ring, &mut cache, 1, &[1; 8]);
        publish(&ring, &mut cache, 2, &[]); // tail 88: a 24-byte claim at 112 crosses 128
        let cursor = Arc::new(Cursor::new(0));
        let joined =
            ring.join(JoinAt::Latest, Some(GateSpec::new(GateKind::Cursor(cursor.clone()), "reader"))).unwrap();
        assert_eq!(joined.position, 88);
        let start = ProducerCache { limit: ring.limit(), last_end: ring.tail() };
        let producers: Vec<_> = [10, 11]
            .into_iter()
            .map(|id| {
                let ring = ring.clone();
                thread::spawn(move || {
                    let mut cache = start;
                    publish_appending(&ring, &mut cache, id).expect("open")
                })
            })
            .collect();
        let mut position = joined.position;
        let mut seen = Vec::new();
        while seen.len() < 2 {
            seen.push(next_gated(&ring, Some(&cursor), &mut position).0);
        }
        let mut offsets: Vec<(u64, u64)> = producers.into_iter().map(|h| h.join().unwrap()).zip([10, 11]).collect();
        offsets.sort();
        assert_eq!(offsets.iter().map(|o| o.0).collect::<Vec<_>>(), vec![88, 136], "112..136 was padded");
        assert_eq!(seen, offsets.iter().map(|o| o.1).collect::<Vec<_>>(), "read in position order");
    });
}

/// A `fetch_add` claim that lands past the limit (another publisher claimed since this one's
/// cache was filled) is taken back, or waits for its space when a claim sits on top of it;
/// the reader frees the space and every event arrives once, none overwritten.
#[test]
fn overshooting_fetch_add_claims_are_taken_back_or_wait() {
    loom::model(|| {
        let ring = ring(128);
        let cursor = Arc::new(Cursor::new(0));
        ring.join(JoinAt::Earliest, Some(GateSpec::new(GateKind::Cursor(cursor.clone()), "reader"))).unwrap();
        let stale = ProducerCache { limit: ring.limit(), last_end: 0 };
        let mut cache = ProducerCache::default();
        for id in 0..4 {
            publish(&ring, &mut cache, id, &[]); // tail 96: the limit is 120
        }
        let producers: Vec<_> = [10, 11]
            .into_iter()
            .map(|id| {
                let ring = ring.clone();
                thread::spawn(move || {
                    let mut cache = stale;
                    publish_appending(&ring, &mut cache, id).expect("open")
                })
            })
            .collect();
        let mut position = 0;
        let mut seen = Vec::new();
        while seen.len() < 6 {
            seen.push(next_gated(&ring, Some(&cursor), &mut position).0);
        }
        for p in producers {
            p.join().unwrap();
        }
        assert_eq!(&seen[..4], &[0, 1, 2, 3]);
        let mut last = seen[4..].to_vec();
        last.sort();
        assert_eq!(last, vec![10, 11]);
    });
}

/// Two producers commit adjacent frames in either order: a reader with no frontier returns
/// neither frame before its commit and never the second before the first.
#[test]
fn reader_stops_at_an_uncommitted_frame() {
    loom::model(|| {
        let ring = ring(128);
        let producers: Vec<_> = [1, 2]
            .into_iter()
            .map(|id| {
                let ring = ring.clone();
                thread::spawn(move || {
                    let mut cache = ProducerCache::default();
                    publish(&ring, &mut cache, id, &[id as u8; 8])
                })
            })
            .collect();
        let mut position = 0;
        let first = read_gated(&ring, &mut position);
        let offsets: Vec<u64> = producers.into_iter().map(|h| h.join().unwrap()).collect();
        let id_at_0 = if offsets[0] == 0 { 1 } else { 2 };
        if let Some((id, payload)) = &first {
            assert_eq!(*id, id_at_0, "the frame at 0 comes first");
            assert_eq!(payload, &[id_at_0 as u8; 8]);
        } else {
            assert_eq!(position, 0);
        }
        let mut rest = Vec::new();
        while let Some((id, _)) = read_gated(&ring, &mut position) {
            rest.push(id);
        }
        let all: Vec<u64> = first.map(|e| e.0).into_iter().chain(rest).collect();
        assert_eq!(all, vec![id_at_0, 3 - id_at_0]);
    });
}
