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
    // Up to this many events; the producer stops (and closes the topic) once both sides have
    // slept often enough, so a loaded machine just takes more rounds.
    let rounds = 30_000u64;
    let started = Instant::now();
    let reader = thread::spawn(move || {
        let mut next = 0u64;
        loop {
            let e = match sub.poll(Some(Duration::from_secs(30))) {
                Ok(Some(e)) => e,
                Ok(None) => panic!("no event within 30 s"),
                Err(ringbus::Error::Closed) => return next,
                Err(e) => panic!("{e}"),
            };
            assert_eq!(e.payload, next.to_le_bytes());
            next += 1;
            // Now and then the reader dawdles, so the producer fills the ring and sleeps.
            if next % 97 == 0 {
                thread::sleep(Duration::from_millis(2));
            }
        }
    });
    let mut p = t.publisher().unwrap();
    let mut published = 0;
    for i in 0..rounds {
        p.publish(Record::new(&i.to_le_bytes())).unwrap();
        // And now and then the producer pauses long enough for the reader to go to sleep.
        if i % 7 == 0 {
            let until = Instant::now() + Duration::from_micros(300 + (i % 5) * 200);
            while Instant::now() < until {
                std::hint::spin_loop();
            }
        }
        published = i + 1;
        if published % 1000 == 0 && t.stats().sleeps > 1000 {
            break;
        }
    }
    t.close();
    assert_eq!(reader.join().unwrap(), published, "every event arrived, in order");
    let stats = t.stats();
    assert!(stats.sleeps > 100, "the test must make threads sleep (slept {} times)", stats.sleeps);
    assert_eq!(stats.late_wakeups, 0, "a sleeper was not woken ({} sleeps in {:?})", stats.sleeps, started.elapsed());
}
