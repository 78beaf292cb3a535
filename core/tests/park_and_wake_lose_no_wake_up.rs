//! With the default `Park` strategy, readers and producers sleep when there is nothing to do,
//! and every sleeper is woken by the event (or the space) it waits for: the topic's
//! `late_wakeups` count (sleeps the 100 ms safety net ended although the condition was already
//! true) stays 0 over thousands of sleeps on both sides.

use std::thread;
use std::time::{Duration, Instant};

use ringbus::{Bus, Record, Start, SubscribeOptions, TopicConfig};

#[test]
fn sleepers_are_always_woken() {
    let t = Bus::new().create_topic("t", TopicConfig::new().capacity(4096).max_payload(64).max_key(0)).unwrap();
    let mut sub = t.subscribe(SubscribeOptions::new().start(Start::Earliest)).unwrap();
    let rounds = 3000u64;
    let started = Instant::now();
    let reader = thread::spawn(move || {
        let mut next = 0u64;
        while next < rounds {
            let e = sub.poll(Some(Duration::from_secs(30))).unwrap().expect("an event within 30 s");
            assert_eq!(e.payload, next.to_le_bytes());
            next += 1;
            // Now and then the reader dawdles, so the producer fills the ring and sleeps.
            if next % 97 == 0 {
                thread::sleep(Duration::from_millis(2));
            }
        }
    });
    let mut p = t.publisher().unwrap();
    for i in 0..rounds {
        p.publish(Record::new(&i.to_le_bytes())).unwrap();
        // And now and then the producer pauses long enough for the reader to go to sleep.
        if i % 7 == 0 {
            let until = Instant::now() + Duration::from_micros(300 + (i % 5) * 200);
            while Instant::now() < until {
                std::hint::spin_loop();
            }
        }
    }
    reader.join().unwrap();
    let stats = t.stats();
    assert!(stats.sleeps > 100, "the test must make threads sleep (slept {} times)", stats.sleeps);
    assert_eq!(stats.late_wakeups, 0, "a sleeper was not woken ({} sleeps in {:?})", stats.sleeps, started.elapsed());
}
