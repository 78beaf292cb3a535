//! Replays every input in `fuzz/regressions/<target>/` (inputs that once crashed a fuzz target,
//! kept so plain `cargo test` guards against their return), then a fixed pseudo-random sweep of
//! each target, so the decoders see odd bytes even where cargo fuzz cannot run.

use std::path::{Path, PathBuf};

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("ringbus-fuzzreg-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

fn inputs(target: &str) -> Vec<(String, Vec<u8>)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/regressions").join(target);
    let mut v: Vec<_> = std::fs::read_dir(&dir)
        .map(|d| {
            d.flatten()
                .map(|e| (e.file_name().to_string_lossy().into_owned(), std::fs::read(e.path()).unwrap()))
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

/// Deterministic inputs: random bytes, and a valid segment with random damage.
fn sweep(seed: u64, n: usize) -> Vec<Vec<u8>> {
    let mut x = seed;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    (0..n)
        .map(|i| {
            let len = (next() % 2048) as usize;
            let mut v: Vec<u8> = (0..len).map(|_| next() as u8).collect();
            if i % 2 == 0 && v.len() > 100 {
                // Mostly zeros with a few set bytes: closer to real segments.
                for b in v.iter_mut() {
                    if next() % 8 != 0 {
                        *b = 0;
                    }
                }
            }
            v
        })
        .collect()
}

#[test]
fn frame_decoder_inputs_never_panic() {
    for (name, data) in inputs("frame_decoder") {
        eprintln!("regression {name}");
        ringbus::fuzzing::decode_segment_bytes(&data);
    }
    for data in sweep(0x9e37_79b9_7f4a_7c15, 2_000) {
        ringbus::fuzzing::decode_segment_bytes(&data);
    }
}

#[test]
fn recovery_inputs_never_panic() {
    for (name, data) in
        inputs("recovery").into_iter().chain(sweep(0x2545_f491_4f6c_dd1d, 60).into_iter().map(|d| ("sweep".into(), d)))
    {
        let dir = scratch("recovery");
        let r = ringbus::fuzzing::recover_segment_file(&dir, &data);
        if name != "sweep" {
            eprintln!("regression {name}: {r:?}");
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }
}

/// Followers over the same hostile files (the recovery seeds and regressions too: a follower
/// reads what no owner has repaired).
#[test]
fn follower_inputs_never_panic() {
    let all = inputs("follower")
        .into_iter()
        .chain(inputs("recovery"))
        .chain(sweep(0x51f1_5eed_0f0f_1234, 60).into_iter().map(|d| ("sweep".into(), d)));
    for (name, data) in all {
        let dir = scratch("follower");
        let r = ringbus::fuzzing::follow_segment_files(&dir, &data);
        if name != "sweep" {
            eprintln!("follower input {name}: {r:?}");
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }
}

#[test]
fn ops_model_inputs_match_the_model() {
    for (name, data) in
        inputs("ops_model").into_iter().chain(sweep(0x1234_5678_9abc_def1, 20).into_iter().map(|d| ("sweep".into(), d)))
    {
        let dir = scratch("ops");
        eprintln!("ops input {name} ({} bytes)", data.len());
        ringbus::fuzzing::run_ops(&dir, &data);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}

/// The power-loss target's inputs (with the `power-loss` feature, which the test command turns
/// on): operation sequences and cut points under the simulator.
#[cfg(feature = "power-loss")]
#[test]
fn power_loss_inputs_keep_what_was_acknowledged() {
    for (name, data) in inputs("power_loss")
        .into_iter()
        .chain(sweep(0x0bad_5eed_dead_beef, 40).into_iter().map(|d| ("sweep".into(), d)))
    {
        let dir = scratch("power");
        eprintln!("power-loss input {name} ({} bytes)", data.len());
        ringbus::fuzzing::power_cut(&dir, &data);
    }
}

/// Inputs for the recovery target that hold real segments: three sealed-and-active segments
/// of a topic with small segments, with retention on, and the same with a torn tail appended
/// to the active one. Run with `--ignored` to write them to `fuzz/seeds/recovery/`.
#[test]
#[ignore = "writes fuzz seeds; run by hand"]
fn write_recovery_seeds() {
    use ringbus::{Bus, Durability, Record, TopicConfig};
    let dir = scratch("seeds");
    let bus = Bus::open(&dir).unwrap();
    let config =
        TopicConfig::new().capacity(4096).max_payload(512).max_key(0).segment_bytes(4160).durability(Durability::Sync);
    let t = bus.create_topic("t", config).unwrap();
    let mut p = t.publisher().unwrap();
    for i in 0..30u32 {
        p.publish(Record::new(&vec![i as u8; 300])).unwrap();
    }
    drop(p);
    bus.close();
    drop(bus);
    let mut segs: Vec<_> = std::fs::read_dir(dir.join("t/0"))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "seg"))
        .collect();
    segs.sort();
    let last: Vec<Vec<u8>> = segs.iter().rev().take(3).rev().map(|p| std::fs::read(p).unwrap()).collect();
    let out = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/seeds/recovery");
    std::fs::create_dir_all(&out).unwrap();
    let mut three = vec![2 | 4];
    last.iter().for_each(|s| three.extend_from_slice(s));
    std::fs::write(out.join("three-segments-retention"), &three).unwrap();
    // The active segment alone, its durable mark moved back and bytes after its last frame.
    let mut torn = last[2].clone();
    let first = u64::from_le_bytes(torn[16..24].try_into().unwrap());
    torn[40..48].copy_from_slice(&first.to_le_bytes());
    let end = torn.iter().rposition(|&b| b != 0).unwrap() + 1;
    torn.truncate(end);
    torn.extend_from_slice(&[0x5a; 40]);
    let mut one = vec![0];
    one.extend_from_slice(&torn);
    std::fs::write(out.join("torn-tail"), &one).unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
}

/// The recovery target's inputs (the seeds, the regressions, `RINGBUS_FUZZ_CORPUS` if set:
/// a corpus a fuzzing run built) reach the torn-tail, index-rebuild and retention paths;
/// prints how often each was reached.
#[test]
fn recovery_inputs_reach_the_rare_paths() {
    use std::sync::atomic::Ordering::Relaxed;
    let mut inputs = inputs("recovery");
    let seeds = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/seeds/recovery");
    let corpus = std::env::var_os("RINGBUS_FUZZ_CORPUS").map(PathBuf::from);
    for d in std::iter::once(seeds).chain(corpus) {
        for e in std::fs::read_dir(&d).unwrap_or_else(|e| panic!("{}: {e}", d.display())).flatten() {
            inputs.push((e.file_name().to_string_lossy().into_owned(), std::fs::read(e.path()).unwrap()));
        }
    }
    let before =
        [&ringbus::fuzzing::TORN_TAILS_CUT, &ringbus::fuzzing::INDEXES_REBUILT, &ringbus::fuzzing::SEGMENTS_RETIRED]
            .map(|c| c.load(Relaxed));
    for (name, data) in &inputs {
        let dir = scratch("paths");
        let r = ringbus::fuzzing::recover_segment_file(&dir, data);
        if !name.starts_with("id:") && inputs.len() < 50 {
            eprintln!("{name}: {r:?}");
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }
    let after =
        [&ringbus::fuzzing::TORN_TAILS_CUT, &ringbus::fuzzing::INDEXES_REBUILT, &ringbus::fuzzing::SEGMENTS_RETIRED]
            .map(|c| c.load(Relaxed));
    let [torn, rebuilt, retired] = [0, 1, 2].map(|i| after[i] - before[i]);
    eprintln!(
        "recovery inputs: {}; torn tails cut {torn}, time indexes rebuilt {rebuilt}, segments deleted by retention {retired}",
        inputs.len()
    );
    assert!(torn > 0 && rebuilt > 0 && retired > 0, "a rare path was not reached: {torn} {rebuilt} {retired}");
}
