//! The lone publisher's plain-store claims and the second publisher that takes them away.
#![deny(unsafe_code)]

use super::*;

/// A second publisher arrives while the lone publisher claims with plain stores: `share`
/// waits for the claim in progress, and from then on both claim with `fetch_add`. Every event
/// lands in a frame of its own (a plain tail store racing a `fetch_add` would hand one frame
/// to both), and the first publisher's events stay in order.
#[test]
fn second_publisher_takes_exclusivity_away_without_losing_a_claim() {
    loom::model(|| {
        let ring = Arc::new(Ring::new(128, HEADER_LEN + 8, true, Arc::new(Notifier::new())));
        let r = ring.clone();
        let owner = thread::spawn(move || {
            let mut cache = ProducerCache::default();
            for id in 0..2 {
                publish_appending(&r, &mut cache, id).expect("open ring");
            }
        });
        let r = ring.clone();
        let second = thread::spawn(move || {
            r.share();
            let mut cache = ProducerCache::default();
            publish_appending(&r, &mut cache, 2).expect("open ring");
        });
        let mut position = 0;
        let mut seen = Vec::new();
        while seen.len() < 3 {
            let (id, _) = next_gated(&ring, None, &mut position);
            seen.push(id);
        }
        owner.join().unwrap();
        second.join().unwrap();
        assert_eq!(position, 3 * HEADER_LEN as u64);
        assert_eq!(ring.tail(), position);
        let owner_order: Vec<u64> = seen.iter().copied().filter(|&id| id < 2).collect();
        assert_eq!(owner_order, vec![0, 1]);
        assert!(seen.contains(&2));
    });
}
