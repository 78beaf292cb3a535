//! Durable groups: members commit, commits survive a restart, `Start::Committed` resumes there
//! (at-least-once: what was handed out after the last commit comes again, nothing is skipped),
//! and a group that starts behind the ring reads segment files, each event to one member, then
//! continues on the ring.

use std::collections::HashSet;
use std::time::Duration;

use ringbus::{Bus, Durability, Error, Record, Start, SubscribeOptions, TopicConfig};

fn dir(name: &str) -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("ringbus-groups-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

fn config() -> TopicConfig {
    TopicConfig::new()
        .partitions(2)
        .capacity(64 << 10)
        .max_payload(1024)
        .segment_bytes(256 << 10)
        .durability(Durability::Async { max_delay: Duration::from_millis(2) })
}

fn publish(t: &ringbus::Topic, from: u64, to: u64) {
    let mut p = t.publisher().unwrap();
    for i in from..to {
        p.publish(Record::new(&i.to_le_bytes()).key(format!("sensor-{}", i % 13).as_bytes())).unwrap();
    }
}

fn id(payload: &[u8]) -> u64 {
    u64::from_le_bytes(payload[..8].try_into().unwrap())
}

#[test]
fn commits_survive_a_restart_and_committed_resumes_there() {
    let d = dir("resume");
    let (mut committed, mut uncommitted) = (HashSet::new(), HashSet::new());
    {
        let bus = Bus::open(&d).unwrap();
        let t = bus.create_topic("t", config()).unwrap();
        publish(&t, 0, 3_000);
        let group = t.group("agg", Start::Earliest).unwrap();
        let mut m = group.join();
        for _ in 0..1_000 {
            committed.insert(id(m.poll(Some(Duration::from_secs(5))).unwrap().unwrap().payload));
        }
        m.commit().unwrap();
        // Handed out after the commit, never committed: they come again after the restart.
        for _ in 0..100 {
            uncommitted.insert(id(m.poll(Some(Duration::from_secs(5))).unwrap().unwrap().payload));
        }
        assert_eq!(committed.len() + uncommitted.len(), 1_100);
    }
    let bus = Bus::open(&d).unwrap();
    let t = bus.topic("t").unwrap();
    publish(&t, 3_000, 3_500);
    t.close();
    let group = t.group("agg", Start::Committed).unwrap();
    let mut m = group.join();
    let mut again = Vec::new();
    loop {
        match m.poll(Some(Duration::from_secs(5))) {
            Ok(Some(e)) => again.push(id(e.payload)),
            Err(Error::Closed) => break,
            other => panic!("{other:?}"),
        }
    }
    let unique: HashSet<u64> = again.iter().copied().collect();
    assert_eq!(unique.len(), again.len(), "no event twice within the resumed run");
    // Everything not committed comes, the uncommitted 100 included; nothing committed does.
    assert_eq!(again.len(), 2_500, "3500 published, 1000 committed");
    for i in 0..3_500 {
        assert!(committed.contains(&i) != unique.contains(&i), "event {i}: committed and redelivered, or neither");
    }
    assert!(uncommitted.iter().all(|i| unique.contains(i)));
    drop(m);
    drop(bus);
    std::fs::remove_dir_all(&d).unwrap();
}

#[test]
fn a_group_behind_the_ring_reads_disk_once_per_event_then_the_ring() {
    let d = dir("backlog");
    let bus = Bus::open(&d).unwrap();
    let t = bus.create_topic("t", config()).unwrap();
    let backlog = 20_000u64; // far more than two 64 KiB rings hold
    publish(&t, 0, backlog);
    let group = t.group("workers", Start::Earliest).unwrap();
    let members: Vec<_> = (0..2)
        .map(|_| {
            let mut m = group.join();
            std::thread::spawn(move || {
                let mut got = Vec::new();
                loop {
                    match m.poll_batch(100, Some(Duration::from_secs(5)), |e| got.push(id(e.payload))) {
                        Ok(0) => panic!("stalled after {}", got.len()),
                        Ok(_) => {}
                        Err(Error::Closed) => return got,
                        Err(e) => panic!("{e}"),
                    }
                }
            })
        })
        .collect();
    // Producers keep going while the group catches up.
    publish(&t, backlog, backlog + 10_000);
    t.close();
    let mut all = Vec::new();
    for m in members {
        all.extend(m.join().unwrap());
    }
    let unique: HashSet<u64> = all.iter().copied().collect();
    assert_eq!(all.len(), unique.len(), "an event went to two members");
    assert_eq!(unique.len() as u64, backlog + 10_000, "events were lost");
    drop(bus);
    std::fs::remove_dir_all(&d).unwrap();
}

#[test]
fn a_member_leaving_mid_disk_run_loses_nothing() {
    let d = dir("leave");
    let bus = Bus::open(&d).unwrap();
    let t = bus.create_topic("t", config()).unwrap();
    publish(&t, 0, 5_000);
    t.close();
    let group = t.group("g", Start::Earliest).unwrap();
    let mut got = Vec::new();
    {
        let mut quitter = group.join();
        for _ in 0..3 {
            got.push(id(quitter.poll(Some(Duration::from_secs(5))).unwrap().unwrap().payload));
        }
    } // leaves with most of its disk run unprocessed
    let mut m = group.join();
    loop {
        match m.poll(Some(Duration::from_secs(5))) {
            Ok(Some(e)) => got.push(id(e.payload)),
            Err(Error::Closed) => break,
            other => panic!("{other:?}"),
        }
    }
    let unique: HashSet<u64> = got.iter().copied().collect();
    assert_eq!((got.len(), unique.len()), (5_000, 5_000));
    drop(bus);
    std::fs::remove_dir_all(&d).unwrap();
}

#[test]
fn committed_needs_a_persisted_topic_and_a_group() {
    let bus = Bus::new();
    let t = bus.create_topic("t", TopicConfig::new().capacity(64 << 10).max_payload(1024)).unwrap();
    assert!(matches!(t.group("g", Start::Committed), Err(Error::NotPersisted(_))));
    let g = t.group("g", Start::Earliest).unwrap();
    assert!(matches!(g.join().commit(), Err(Error::NotPersisted(_))));
    assert!(matches!(
        t.subscribe(SubscribeOptions::new().start(Start::Committed)),
        Err(Error::InvalidConfig { field: "start", .. })
    ));
    // A group that never committed starts at the earliest event kept.
    let d = dir("never");
    let bus = Bus::open(&d).unwrap();
    let t = bus.create_topic("t", config()).unwrap();
    publish(&t, 0, 10);
    let mut m = t.group("fresh", Start::Committed).unwrap().join();
    assert_eq!(id(m.poll(Some(Duration::from_secs(5))).unwrap().unwrap().payload) % 13, 0);
    drop(m);
    drop(bus);
    std::fs::remove_dir_all(&d).unwrap();
}

#[test]
fn a_member_outliving_its_bus_cannot_commit_into_the_directory() {
    let d = dir("outlive");
    let bus = Bus::open(&d).unwrap();
    let t = bus.create_topic("t", config()).unwrap();
    publish(&t, 0, 100);
    let group = t.group("agg", Start::Earliest).unwrap();
    let mut m = group.join();
    for _ in 0..40 {
        m.poll(Some(Duration::from_secs(5))).unwrap().unwrap();
    }
    // A closed topic still commits: members drain it and commit what they finished.
    t.close();
    let at_close = m.commit().unwrap();
    assert!(at_close.iter().sum::<u64>() > 0);
    drop((t, group, bus));
    // The directory lock is released: another bus may own the files now.
    let other = Bus::open(&d).unwrap();
    for _ in 0..40 {
        m.poll(Some(Duration::from_secs(5))).unwrap().unwrap();
    }
    assert!(matches!(m.commit(), Err(Error::Closed)));
    let t = other.topic("t").unwrap();
    assert_eq!(t.committed_groups().unwrap(), vec![("agg".to_owned(), at_close)], "the late commit wrote nothing");
    drop(m);
    drop(other);
    std::fs::remove_dir_all(&d).unwrap();
}

/// Members committing at the same moment from several threads all succeed, and the stored
/// offsets never move backwards (each commit is written whole, one at a time).
#[test]
fn members_committing_at_once_all_succeed() {
    let d = dir("concurrent");
    let bus = Bus::open(&d).unwrap();
    let t = bus.create_topic("t", config()).unwrap();
    publish(&t, 0, 2000);
    let g = t.group("g", Start::Earliest).unwrap();
    std::thread::scope(|s| {
        for _ in 0..4 {
            let mut m = g.join();
            s.spawn(move || {
                for _ in 0..100 {
                    m.poll_batch(7, Some(Duration::ZERO), |_| {}).unwrap();
                    m.commit().unwrap();
                }
            });
        }
        s.spawn(|| {
            let mut last = vec![0u64; 2];
            for _ in 0..200 {
                if let Some((_, offsets)) = t.committed_groups().unwrap().into_iter().find(|(n, _)| n == "g") {
                    assert!(offsets.iter().zip(&last).all(|(o, l)| o >= l), "{offsets:?} after {last:?}");
                    last = offsets;
                }
            }
        });
    });
    drop(bus);
    std::fs::remove_dir_all(&d).unwrap();
}
