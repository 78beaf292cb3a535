//! What the C API costs per event over native Rust: the loops of `ffi/bench/c_api_bench.c`
//! run here on the Rust API, and the C program built and run beside them.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use ringbus::{Bus, Record, Start, SubscribeOptions, TopicConfig};

/// Median ns/event over 5 runs of `n` events: publish single, publish batch (64), poll single,
/// poll batch (1024), and the checksum read back.
pub fn native(n: u64) -> ([f64; 4], u64) {
    let n = n - n % 64;
    let mut runs: [Vec<f64>; 4] = Default::default();
    let mut sum = 0;
    for _ in 0..5 {
        for batch in [false, true] {
            let (p, q, s) = one_run(n, batch);
            let k = if batch { 1 } else { 0 };
            runs[k].push(p);
            runs[k + 2].push(q);
            sum = s;
        }
    }
    let median = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    ([median(&mut runs[0]), median(&mut runs[1]), median(&mut runs[2]), median(&mut runs[3])], sum)
}

fn one_run(n: u64, batch: bool) -> (f64, f64, u64) {
    let config = TopicConfig::new().capacity(64 << 20).max_payload(64).max_key(0);
    let topic = Bus::new().create_topic("bench", config).expect("topic");
    let mut sub = topic.subscribe(SubscribeOptions::new().start(Start::Earliest)).expect("subscribe");
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
    (per(t1 - t0), per(t2 - t1), sum)
}

/// Builds libringbus (release) and the C benchmark, runs it with `n` events: the same four
/// figures and checksum, or why it could not run.
pub fn c_api(n: u64) -> Result<([f64; 4], u64), String> {
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
    let mut figures = [0.0; 4];
    let mut sum = 0;
    for (i, test) in ["publish_single", "publish_batch", "poll_single", "poll_batch"].iter().enumerate() {
        let line = text.lines().find(|l| l.starts_with(&format!("{test} "))).ok_or(format!("no {test} line"))?;
        let mut parts = line.split(' ').skip(1);
        figures[i] = parts.next().and_then(|x| x.parse().ok()).ok_or("bad figure")?;
        sum = parts.next().and_then(|x| x.parse().ok()).ok_or("bad checksum")?;
    }
    Ok((figures, sum))
}
