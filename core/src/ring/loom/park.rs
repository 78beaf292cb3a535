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

/// A waker that raises a flag.
struct FlagWaker(loom::sync::atomic::AtomicBool);

impl std::task::Wake for FlagWaker {
    fn wake(self: std::sync::Arc<Self>) {
        self.0.store(true, Ordering::Release);
    }
}

fn flag_waker() -> (std::sync::Arc<FlagWaker>, std::task::Waker) {
    let flag = std::sync::Arc::new(FlagWaker(loom::sync::atomic::AtomicBool::new(false)));
    (flag.clone(), std::task::Waker::from(flag))
}

/// A task registers its waker while a producer makes the condition true and notifies: the
/// task's check sees the condition, or its waker is woken (and its next poll is ready). In
/// the end no waiter is counted, so producers go back to paying one load.
#[test]
fn a_registered_task_is_woken_or_sees_the_condition() {
    loom::model(|| {
        let notifier = Arc::new(Notifier::new());
        let condition = Arc::new(loom::sync::atomic::AtomicBool::new(false));
        let (n, c) = (notifier.clone(), condition.clone());
        let producer = thread::spawn(move || {
            c.store(true, Ordering::Release);
            n.notify();
        });
        let (woken, waker) = flag_waker();
        let mut cx = std::task::Context::from_waker(&waker);
        let mut slot = WakerSlot::new();
        let ready = || condition.load(Ordering::Acquire);
        let first = notifier.poll_ready(&mut slot, &mut cx, ready);
        producer.join().unwrap();
        if first.is_pending() {
            assert!(woken.0.load(Ordering::Acquire), "a wake-up was lost");
            assert!(notifier.poll_ready(&mut slot, &mut cx, ready).is_ready());
        }
        assert_eq!(notifier.waiting(), 0);
    });
}

/// A waiting future dropped while a wake-up runs (cancellation) leaves nothing counted, and
/// a second task registered beside it is still woken.
#[test]
fn a_cancelled_registration_leaves_no_waiter() {
    loom::model(|| {
        let notifier = Arc::new(Notifier::new());
        let condition = Arc::new(loom::sync::atomic::AtomicBool::new(false));
        let ready = || condition.load(Ordering::Acquire);
        let (_, dropped_waker) = flag_waker();
        let mut dropped = WakerSlot::new();
        let pending = notifier.poll_ready(&mut dropped, &mut std::task::Context::from_waker(&dropped_waker), ready);
        assert!(pending.is_pending());
        let (woken, waker) = flag_waker();
        let mut kept = WakerSlot::new();
        assert!(notifier.poll_ready(&mut kept, &mut std::task::Context::from_waker(&waker), ready).is_pending());
        let (n, c) = (notifier.clone(), condition.clone());
        let producer = thread::spawn(move || {
            c.store(true, Ordering::Release);
            n.notify();
        });
        notifier.cancel(&mut dropped);
        producer.join().unwrap();
        assert!(woken.0.load(Ordering::Acquire), "the kept task was not woken");
        assert_eq!(notifier.waiting(), 0);
    });
}
