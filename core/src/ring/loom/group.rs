//! Work-queue groups: each event to exactly one member, also when a member leaves mid-run.
#![deny(unsafe_code)]

use super::*;

/// Two members claim runs concurrently while a producer needs the space they free; one member
/// leaves with part of its run unprocessed. Every event reaches exactly one member.
#[test]
fn group_claims_deliver_each_event_once_even_when_a_member_leaves() {
    loom::model(|| {
        let ring = ring(64);
        let group = Arc::new(GroupCursor::new());
        ring.join(JoinAt::Earliest, Some(GateSpec::new(GateKind::Group(group.clone()), "group"))).unwrap();
        let mut cache = ProducerCache::default();
        publish(&ring, &mut cache, 0, &[]);
        publish(&ring, &mut cache, 1, &[]); // 48 of 56 bytes: the third needs both freed
        let delivered = Arc::new(Mutex::new(Vec::new()));
        let done = Arc::new(AtomicUsize::new(0));

        let r = ring.clone();
        let producer = thread::spawn(move || {
            let mut cache = ProducerCache::default();
            publish(&r, &mut cache, 2, &[]);
        });

        // The leaver claims a run of up to 2, processes its first event, then leaves.
        let (r, g, d, n) = (ring.clone(), group.clone(), delivered.clone(), done.clone());
        let leaver = thread::spawn(move || {
            let slot = g.add_member();
            if let Some(Run { start, end }) = g.claim(&r, &slot, 2) {
                let mut position = start;
                let (id, _) = read_gated(&r, &mut position).expect("claimed frames are committed");
                d.lock().push(id);
                n.fetch_add(1, Ordering::SeqCst);
                g.remove_member(&slot, Some(Run { start: position, end }));
            } else {
                g.remove_member(&slot, None);
            }
            r.readable.wake_all();
            r.writable.wake_all();
        });

        let slot = group.add_member();
        while done.load(Ordering::SeqCst) < 3 {
            match group.claim(&ring, &slot, 2) {
                Some(Run { start, end }) => {
                    let mut position = start;
                    while position < end {
                        if let Some((id, _)) = read_gated(&ring, &mut position) {
                            delivered.lock().push(id);
                            done.fetch_add(1, Ordering::SeqCst);
                        }
                    }
                    slot.release();
                    ring.writable.notify();
                }
                None => {
                    let ready = || group.has_work(&ring) || done.load(Ordering::SeqCst) >= 3;
                    ring.readable.park_until(ready, None);
                }
            }
        }
        leaver.join().unwrap();
        producer.join().unwrap();
        let mut all = delivered.lock().clone();
        all.sort();
        assert_eq!(all, vec![0, 1, 2]);
    });
}
