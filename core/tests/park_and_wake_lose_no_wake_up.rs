//! With the default `Park` strategy, readers and producers sleep when there is nothing to do,
//! and every sleeper is woken by the event (or the space) it waits for: the topic's
//! `late_wakeups` count (sleeps the 100 ms safety net ended although the condition was already
//! true) stays 0 over hundreds to thousands of sleeps on both sides.

use std::thread;
use std::time::{Duration, Instant};

use ringbus::{Bus, Record, Start, SubscribeOptions, TopicConfig};

#[test]
fn sleepers_are_always_woken() {
    let t = Bus::new().create_topic("t", TopicConfig::new().capacity(4096).max_payload(64).max_key(0)).unwrap();
    let mut sub = t.subscribe(SubscribeOptions::new().start(Start::Earliest)).unwrap();
    // The producer stops (and closes the topic) once both sides have slept often enough. A
    // loaded machine stretches the 200 yields before a park (each may wait a time slice), so
    // while threads rarely sleep the producer's pauses grow.
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
    let mut published = 0u64;
    let mut pause = Duration::from_micros(300);
    let mut sleeps_before = 0;
    loop {
        p.publish(Record::new(&published.to_le_bytes())).unwrap();
        // And now and then the producer pauses long enough for the reader to go to sleep.
        if published % 7 == 0 {
            let until = Instant::now() + pause + Duration::from_micros((published % 5) * 200);
            while Instant::now() < until {
                std::hint::spin_loop();
            }
        }
        published += 1;
        if published % 100 == 0 {
            let sleeps = t.stats().sleeps;
            let elapsed = started.elapsed();
            if sleeps > 1000 || (sleeps > 200 && elapsed > Duration::from_secs(10)) || elapsed > Duration::from_secs(60)
            {
                break;
            }
            if sleeps - sleeps_before < 2 {
                // Well below the 100 ms safety net: an event that lands as a park times out
                // would count as a late wake-up.
                pause = (pause * 2).min(Duration::from_millis(20));
            }
            sleeps_before = sleeps;
        }
    }
    t.close();
    assert_eq!(reader.join().unwrap(), published, "every event arrived, in order");
    let stats = t.stats();
    assert!(stats.sleeps > 100, "the test must make threads sleep (slept {} times)", stats.sleeps);
    assert_eq!(stats.late_wakeups, 0, "a sleeper was not woken ({} sleeps in {:?})", stats.sleeps, started.elapsed());
}
