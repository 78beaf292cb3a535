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
