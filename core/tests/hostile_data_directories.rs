//! A data directory written by someone else: frames claiming huge lengths, a topic.conf with
//! absurd values, an offsets file pointing past the end of the log, a symbolic link where a
//! segment or a topic should be, a segment owned by another user, files every user may write.
//! Each gives a clear error naming the file: never a panic, an out-of-memory, a read outside the
//! directory, or a hang (every case runs under a 60 s watchdog).

use std::os::unix::fs::{FileExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::Duration;

use ringbus::{Bus, Durability, Error, Record, Start, SubscribeOptions, TopicConfig};

fn config() -> TopicConfig {
    TopicConfig::new().capacity(64 << 10).max_payload(1024).segment_bytes(128 << 10).durability(Durability::Sync)
}

/// A cleanly closed directory with topic `t` holding 200 events over two segments and group
/// `g` committed in the middle.
fn setup(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("ringbus-hostile-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let bus = Bus::open(&dir).unwrap();
    let t = bus.create_topic("t", config()).unwrap();
    let mut p = t.publisher().unwrap();
    let g = t.group("g", Start::Earliest).unwrap();
    let mut m = g.join();
    for i in 0..200u32 {
        p.publish(Record::new(&vec![i as u8; 900])).unwrap();
        // The group holds the ring back: it takes each event as it comes.
        while m.poll_batch(64, Some(Duration::ZERO), |_| {}).unwrap() > 0 {}
        if i == 100 {
            m.commit().unwrap();
        }
    }
    drop((p, m, g));
    bus.close();
    drop(bus);
    dir
}

fn segments(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir.join("t/0"))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "seg"))
        .collect();
    v.sort();
    assert!(v.len() >= 2, "the set-up makes at least two segments");
    v
}

/// Opens `dir` and reads everything (a subscription from the earliest and the group from its
/// commit), on a thread under a watchdog: the first error, or `Ok(events)`.
fn open_and_read(dir: &Path) -> Result<usize, Error> {
    let dir = dir.to_owned();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let result = (|| {
            let bus = Bus::open(&dir)?;
            let t = bus.topic("t").ok_or_else(|| Error::NotPersisted("topic t is missing".into()))?;
            let g = t.group("g", Start::Committed)?;
            let mut m = g.join();
            let mut sub = t.subscribe(SubscribeOptions::new().start(Start::Earliest))?;
            t.close();
            let mut n = 0;
            loop {
                match sub.poll(Some(Duration::from_secs(10)))? {
                    Some(_) => n += 1,
                    None => return Err(Error::NotPersisted("the subscription stalled".into())),
                }
                if n > 10_000 {
                    break;
                }
            }
            while m.poll_batch(64, Some(Duration::from_secs(1)), |_| {})? > 0 {}
            Ok(n)
        })();
        let result = match result {
            Err(Error::Closed) => Ok(0),
            other => other,
        };
        let _ = tx.send(result);
    });
    rx.recv_timeout(Duration::from_secs(60)).expect("opening a hostile directory hung (or panicked)")
}

/// `what` must fail with an error whose message names `file`.
fn expect_error_naming(dir: &Path, file: &Path, what: &str) {
    match open_and_read(dir) {
        Ok(n) => panic!("{what}: read {n} events, expected an error naming {}", file.display()),
        Err(e) => {
            let msg = e.to_string();
            assert!(
                msg.contains(&file.display().to_string()),
                "{what}: the error does not name {}: {msg}",
                file.display()
            );
            eprintln!("{what}: {msg}");
        }
    }
}

#[test]
fn the_set_up_reads_back() {
    let dir = setup("clean");
    assert!(open_and_read(&dir).is_ok());
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn frames_claiming_huge_lengths() {
    for (which, what) in [(0usize, "sealed segment"), (1, "active segment")] {
        let dir = setup(&format!("huge-{which}"));
        let seg = segments(&dir)[which].clone();
        let f = std::fs::OpenOptions::new().write(true).open(&seg).unwrap();
        // The first frame's length word, then one in the middle of the segment.
        for at in [64u64, 64 + 40 * 928] {
            f.write_all_at(&0xffff_fff0u32.to_le_bytes(), at).unwrap();
        }
        drop(f);
        expect_error_naming(&dir, &seg, &format!("huge frame lengths in the {what}"));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}

#[test]
fn topic_conf_with_absurd_values() {
    let cases = [
        ("partitions=99999999999999999999999", "an unparsable partition count"),
        ("partitions=4096\ncapacity=1073741824\nsegment_bytes=1073741888", "4 TiB of rings"),
        ("capacity=3", "a capacity that is no power of two"),
        ("segment_bytes=0", "empty segments"),
        ("max_payload=18446744073709551615", "a payload larger than memory"),
    ];
    for (i, (lines, what)) in cases.iter().enumerate() {
        let dir = setup(&format!("conf-{i}"));
        let conf = dir.join("t/topic.conf");
        let mut text = std::fs::read_to_string(&conf).unwrap();
        text.push_str(lines);
        text.push('\n');
        std::fs::write(&conf, text).unwrap();
        expect_error_naming(&dir, &conf, what);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}

#[test]
fn an_offsets_file_pointing_past_the_end() {
    for (i, offset) in [1u64 << 40, u64::MAX, 8].into_iter().enumerate() {
        let dir = setup(&format!("offsets-{i}"));
        let file = dir.join("t/groups/g.offsets");
        let mut text = format!("# ringbus group offsets: partition offset\n0 {offset}\n");
        let crc = crc32c_of(text.as_bytes());
        text.push_str(&format!("crc {crc:08x}\n"));
        std::fs::write(&file, text).unwrap();
        expect_error_naming(&dir, &file, &format!("committed offset {offset}"));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}

#[test]
fn symbolic_links_are_not_followed() {
    let outside = std::env::temp_dir().join(format!("ringbus-hostile-outside-{}", std::process::id()));
    std::fs::write(&outside, vec![0u8; 4096]).unwrap();
    // A segment.
    let dir = setup("link-segment");
    let seg = segments(&dir)[0].clone();
    std::fs::remove_file(&seg).unwrap();
    std::os::unix::fs::symlink(&outside, &seg).unwrap();
    expect_error_naming(&dir, &seg, "a symbolic link where a segment should be");
    std::fs::remove_dir_all(&dir).unwrap();
    // A topic directory pointing at a copy elsewhere.
    let dir = setup("link-topic");
    let moved = std::env::temp_dir().join(format!("ringbus-hostile-moved-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&moved);
    std::fs::rename(dir.join("t"), &moved).unwrap();
    std::os::unix::fs::symlink(&moved, dir.join("t")).unwrap();
    expect_error_naming(&dir, &dir.join("t"), "a symbolic link where a topic should be");
    std::fs::remove_dir_all(&dir).unwrap();
    std::fs::remove_dir_all(&moved).unwrap();
    std::fs::remove_file(&outside).unwrap();
}

#[test]
fn files_every_user_may_write() {
    let dir = setup("mode");
    for file in [segments(&dir)[0].clone(), dir.join("t/topic.conf"), dir.join("t/groups/g.offsets")] {
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o666)).unwrap();
        expect_error_naming(&dir, &file, &format!("mode 0666 on {}", file.display()));
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o640)).unwrap();
    }
    assert!(open_and_read(&dir).is_ok(), "restoring the modes restores the directory");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_segment_owned_by_another_user() {
    let dir = setup("owner");
    let seg = segments(&dir)[1].clone();
    // SAFETY: geteuid has no preconditions.
    let root = unsafe { libc::geteuid() } == 0;
    if !root {
        eprintln!("NOT RUN: giving a file to another user needs root (chown); the other hostile cases ran");
        std::fs::remove_dir_all(&dir).unwrap();
        return;
    }
    let c = std::ffi::CString::new(seg.to_str().unwrap()).unwrap();
    // SAFETY: a valid NUL-terminated path; 65534 is `nobody`.
    assert_eq!(unsafe { libc::chown(c.as_ptr(), 65534, 65534) }, 0);
    expect_error_naming(&dir, &seg, "a segment owned by another user");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// CRC-32C (Castagnoli), bitwise: the offsets file's checksum.
fn crc32c_of(bytes: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in bytes {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 == 1 { (crc >> 1) ^ 0x82f6_3b78 } else { crc >> 1 };
        }
    }
    !crc
}
