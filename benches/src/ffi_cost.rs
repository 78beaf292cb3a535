//! What the C API costs per event over native Rust: the loops of `ffi/bench/c_api_bench.c`
//! run here on the Rust API, and the C program built and run beside them.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use ringbus::{Bus, Record, Start, SubscribeOptions, TopicConfig};

/// Median ns/event over 5 runs of `n` events, indexed as [`NATIVE_PATHS`], and the checksum
/// read back.
pub fn native(n: u64) -> ([f64; 5], u64) {
    let n = n - n % 64;
    let mut runs: [Vec<f64>; 5] = Default::default();
    let mut sum = 0;
    for _ in 0..5 {
        for batch in [false, true] {
            let (p, q, all, s) = one_run(n, batch);
            let k = if batch { 1 } else { 0 };
            runs[k].push(p);
            runs[k + 2].push(q);
            if let Some(all) = all {
                runs[4].push(all);
            }
            sum = s;
        }
    }
    (
        runs.map(|mut v| {
            v.sort_by(f64::total_cmp);
            v[v.len() / 2]
        }),
        sum,
    )
}

/// What [`native`] measures: publish single, publish batch (64), poll single, poll batch
/// (1024) reading the payload only, and the same batch poll reading every field a C view
/// carries (offset, partition, timestamp, key and payload).
pub const NATIVE_PATHS: [&str; 5] =
    ["publish_single", "publish_batch", "poll_single", "poll_batch", "poll_batch_all_fields"];

/// One run: publish and poll times in ns/event, the all-fields batch poll's (batch runs only),
/// and the checksum.
fn one_run(n: u64, batch: bool) -> (f64, f64, Option<f64>, u64) {
    let config = TopicConfig::new().capacity(64 << 20).max_payload(64).max_key(0);
    let topic = Bus::new().create_topic("bench", config).expect("topic");
    let mut sub = topic.subscribe(SubscribeOptions::new().start(Start::Earliest)).expect("subscribe");
    let mut all_fields = topic.subscribe(SubscribeOptions::new().start(Start::Earliest)).expect("subscribe");
    let mut p = topic.publisher().expect("publisher");
    let t0 = Instant::now();
    if batch {
        let mut values = [[0u8; 8]; 64];
        for i in (0..n).step_by(64) {
            for (j, v) in values.iter_mut().enumerate() {
                *v = (i + j as u64).to_le_bytes();
            }
            let records: [Record<'_>; 64] = std::array::from_fn(|j| Record::new(&values[j]));
            p.publish_batch(&records).expect("publish_batch");
        }
    } else {
        for i in 0..n {
            p.publish(&i.to_le_bytes()).expect("publish");
        }
    }
    let t1 = Instant::now();
    let (mut got, mut sum) = (0u64, 0u64);
    let max = if batch { 1024 } else { 1 };
    while got < n {
        got += sub
            .poll_batch(max, Some(Duration::ZERO), |e| {
                sum = sum.wrapping_add(u64::from_le_bytes(e.payload[..8].try_into().expect("8 bytes")));
            })
            .expect("poll") as u64;
    }
    let t2 = Instant::now();
    let per = |d: Duration| d.as_nanos() as f64 / n as f64;
    let all = batch.then(|| {
        let (mut got, mut check) = (0u64, 0u64);
        let t3 = Instant::now();
        while got < n {
            got += all_fields
                .poll_batch(max, Some(Duration::ZERO), |e| {
                    // What a C view holds, so the compiler cannot skip decoding it.
                    std::hint::black_box((e.offset, e.partition, e.timestamp, e.key));
                    check = check.wrapping_add(u64::from_le_bytes(e.payload[..8].try_into().expect("8 bytes")));
                })
                .expect("poll") as u64;
        }
        let elapsed = t3.elapsed();
        assert_eq!(check, sum, "all-fields poll: wrong checksum");
        per(elapsed)
    });
    (per(t1 - t0), per(t2 - t1), all, sum)
}

/// The C benchmark's paths, in the order [`c_api`] returns them, each with the index in
/// [`NATIVE_PATHS`] of the native figure it is compared with, and for batch polls the index of
/// the all-fields figure too.
pub const C_PATHS: [(&str, usize, Option<usize>); 5] = [
    ("publish_single", 0, None),
    ("publish_batch", 1, None),
    ("poll_single", 2, None),
    ("poll_batch", 3, Some(4)),
    ("poll_views", 3, Some(4)),
];

/// Builds libringbus (release) and the C benchmark, runs it with `n` events: its figures for
/// [`C_PATHS`] and the checksum, or why it could not run.
pub fn c_api(n: u64) -> Result<([f64; 5], u64), String> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let status = Command::new(&cargo)
        .args(["build", "--release", "--quiet", "-p", "ringbus-ffi"])
        .current_dir(&root)
        .status()
        .map_err(|e| format!("cargo build -p ringbus-ffi: {e}"))?;
    if !status.success() {
        return Err("cargo build --release -p ringbus-ffi failed".into());
    }
    let lib = root.join("target/release");
    let exe: PathBuf = lib.join("c_api_bench");
    let cc = Command::new("cc")
        .args(["-O2", "-std=c11", "-Wall", "-Wextra", "-Werror"])
        .arg(format!("-I{}", root.join("ffi/include").display()))
        .arg(root.join("ffi/bench/c_api_bench.c"))
        .arg(format!("-L{}", lib.display()))
        .arg("-lringbus")
        .arg(format!("-Wl,-rpath,{}", lib.display()))
        .arg("-o")
        .arg(&exe)
        .status()
        .map_err(|e| format!("cc could not be started ({e}); install gcc"))?;
    if !cc.success() {
        return Err("compiling ffi/bench/c_api_bench.c failed".into());
    }
    let out = Command::new(&exe).arg(n.to_string()).output().map_err(|e| format!("running the C benchmark: {e}"))?;
    if !out.status.success() {
        return Err(format!("the C benchmark failed: {}", String::from_utf8_lossy(&out.stderr)));
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let mut figures = [0.0; 5];
    let mut sum = 0;
    for (i, (test, _, _)) in C_PATHS.iter().enumerate() {
        let line = text.lines().find(|l| l.starts_with(&format!("{test} "))).ok_or(format!("no {test} line"))?;
        let mut parts = line.split(' ').skip(1);
        figures[i] = parts.next().and_then(|x| x.parse().ok()).ok_or("bad figure")?;
        sum = parts.next().and_then(|x| x.parse().ok()).ok_or("bad checksum")?;
    }
    Ok((figures, sum))
}
