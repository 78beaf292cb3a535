//! The `ringbus` binary against real data directories: every command, its output, and the bad
//! inputs (missing directories, a directory another process writes, unknown topics, damaged segments, bad flags), which
//! must end in one line on stderr and a non-zero exit, never a panic.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

fn ringbus() -> Command {
    Command::new(env!("CARGO_BIN_EXE_ringbus"))
}

fn run(args: &[&str]) -> Output {
    ringbus().args(args).output().expect("the binary runs")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// A fresh scratch directory for one test.
fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("ringbus-cli-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Runs `ringbus publish` with `lines` on stdin.
fn publish(args: &[&str], lines: &str) -> Output {
    let mut child = ringbus()
        .arg("publish")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // A publish refused at once (a directory in use) may exit before it reads its input.
    match child.stdin.take().unwrap().write_all(lines.as_bytes()) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {}
        other => other.unwrap(),
    }
    child.wait_with_output().unwrap()
}

/// A failure: non-zero exit, one line on stderr naming the problem, no panic.
fn assert_clean_failure(o: &Output, needle: &str) {
    assert!(!o.status.success(), "expected a failure: {}", stdout(o));
    let err = stderr(o);
    assert!(err.contains(needle), "stderr {err:?} should mention {needle:?}");
    assert!(!err.contains("panicked") && !err.contains("RUST_BACKTRACE") && !err.contains("internal error"), "{err}");
    assert_eq!(err.trim_end().lines().count(), 1, "one line: {err:?}");
}

fn dir_str(d: &Path) -> &str {
    d.to_str().unwrap()
}

#[test]
fn publish_tail_topics_stats_verify_round_trip() {
    let dir = scratch("round-trip");
    let data = dir.join("data");
    let d = dir_str(&data);
    let o = publish(&[d, "orders", "--key", "customer-7", "--partitions", "2"], "first\n{\"amount\":12.5}\nthird\n");
    assert!(o.status.success(), "{}", stderr(&o));
    let offsets: Vec<u64> = stdout(&o).lines().map(|l| l.parse().unwrap()).collect();
    assert_eq!(offsets.len(), 3);
    assert!(offsets.windows(2).all(|w| w[0] < w[1]), "one key, one partition: {offsets:?}");

    // A second publish appends to the existing topic.
    let o = publish(&[d, "orders", "--key", "customer-7"], "fourth\n");
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).trim().parse::<u64>().unwrap() > offsets[2]);

    let o = run(&["tail", d, "orders", "--format", "raw"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(stdout(&o), "first\n{\"amount\":12.5}\nthird\nfourth\n");

    let o = run(&["tail", d, "orders"]);
    let text = stdout(&o);
    assert!(text.contains("customer-7 \"first\""), "{text}");
    assert!(text.contains("customer-7 {\"amount\":12.5}"), "JSON payloads shown as JSON: {text}");

    let o = run(&["tail", d, "orders", "--format", "json"]);
    let first: serde_json::Value = serde_json::from_str(stdout(&o).lines().nth(1).unwrap()).unwrap();
    assert_eq!(first["payload"]["amount"], 12.5);
    assert_eq!(first["key"], "customer-7");

    let o = run(&["tail", d, "orders", "--from", "latest"]);
    assert!(o.status.success() && stdout(&o).is_empty(), "latest: nothing old");
    let p = {
        let text = stdout(&run(&["tail", d, "orders"]));
        text.lines().next().unwrap().split('@').next().unwrap().to_owned()
    };
    let o = run(&["tail", d, "orders", "--partition", &p, "--from", &offsets[2].to_string(), "--format", "raw"]);
    assert_eq!(stdout(&o), "third\nfourth\n", "{}", stderr(&o));
    let o = run(&["tail", d, "orders", "--from", "2000-01-01T00:00:00Z", "--format", "raw"]);
    assert_eq!(stdout(&o).lines().count(), 4);
    let o = run(&["tail", d, "orders", "--from", "2999-01-01T00:00:00Z", "--format", "raw"]);
    assert_eq!(stdout(&o), "");

    // A group reads once, commits, and resumes.
    let o = run(&["tail", d, "orders", "--group", "billing", "--format", "raw"]);
    assert_eq!(stdout(&o).lines().count(), 4, "{}", stderr(&o));
    let o = run(&["tail", d, "orders", "--group", "billing", "--format", "raw"]);
    assert_eq!(stdout(&o), "", "the group committed everything");
    publish(&[d, "orders", "--key", "customer-7"], "fifth\n");
    let o = run(&["tail", d, "orders", "--group", "billing", "--format", "raw"]);
    assert_eq!(stdout(&o), "fifth\n");

    let o = run(&["topics", d]);
    assert!(stdout(&o).starts_with("orders\t2 partitions\tsync"), "{}", stdout(&o));
    let o = run(&["stats", d, "orders"]);
    let text = stdout(&o);
    assert!(text.contains("topic orders") && text.contains("group billing") && text.contains("lag 0 bytes"), "{text}");
    // The same figures as OpenMetrics text, for a scrape or a textfile collector.
    let o = run(&["stats", d, "--format", "prometheus"]);
    let text = stdout(&o);
    assert!(o.status.success() && text.ends_with("# EOF\n"), "{text}{}", stderr(&o));
    let published: u64 = text
        .lines()
        .filter(|l| l.starts_with("ringbus_next_offset{topic=\"orders\""))
        .map(|l| l.rsplit(' ').next().unwrap().parse::<u64>().unwrap())
        .sum();
    assert!(published > 0, "{text}");
    assert!(
        text.contains("ringbus_topics 1") && text.contains("ringbus_segments{topic=\"orders\",partition=\"0\"} 1"),
        "{text}"
    );
    assert_clean_failure(&run(&["stats", d, "nope", "--format", "prometheus"]), "no topic 'nope'");
    let o = run(&["verify", d]);
    assert!(o.status.success(), "{}{}", stdout(&o), stderr(&o));
    assert!(stdout(&o).contains("5 events checked") && stdout(&o).contains("ok: no damage"), "{}", stdout(&o));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn verify_names_the_damaged_segment_and_position() {
    let dir = scratch("verify");
    let data = dir.join("data");
    let d = dir_str(&data);
    let lines: String = (0..100).map(|i| format!("reading {i}\n")).collect();
    assert!(publish(&[d, "t"], &lines).status.success());
    let segment = std::fs::read_dir(data.join("t").join("0"))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .find(|p| p.extension().is_some_and(|e| e == "seg"))
        .unwrap();
    let mut bytes = std::fs::read(&segment).unwrap();
    // Event 10's frame: 64-byte header, then frames of 24 + 10 or 11 bytes, aligned to 40.
    let frame = 64 + 40 * 10;
    bytes[frame + 30] ^= 0x55;
    std::fs::write(&segment, &bytes).unwrap();
    let o = run(&["verify", d]);
    assert_eq!(o.status.code(), Some(1), "{}", stdout(&o));
    let text = stdout(&o);
    let name = segment.file_name().unwrap().to_str().unwrap();
    assert!(text.contains(name) && text.contains(&format!("at byte {frame}")) && text.contains("checksum"), "{text}");
    // The bus refuses to open it too, in one line.
    assert_clean_failure(&run(&["tail", d, "t"]), "corrupt log segment");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn bad_inputs_fail_in_one_line() {
    let dir = scratch("bad");
    let data = dir.join("data");
    let d = dir_str(&data);
    assert_clean_failure(&run(&["topics", d]), "does not exist");
    assert_clean_failure(&run(&["verify", d]), "does not exist");
    assert_clean_failure(&run(&["tail", d, "t"]), "does not exist");
    let file = dir.join("a-file");
    std::fs::write(&file, b"x").unwrap();
    assert_clean_failure(&run(&["stats", dir_str(&file)]), "not a directory");
    assert!(publish(&[d, "t"], "x\n").status.success());
    assert_clean_failure(&run(&["tail", d, "nope"]), "no topic 'nope'");
    assert_clean_failure(&run(&["stats", d, "nope"]), "no topic 'nope'");
    assert_clean_failure(&run(&["tail", d, "t", "--from", "yesterday"]), "--from");
    assert_clean_failure(&run(&["tail", d, "t", "--partition", "5"]), "--partition 5");
    assert_clean_failure(&publish(&[d, "t", "--partitions", "3"], "x\n"), "exists with 1 partitions");
    assert_clean_failure(&publish(&[d, "bad name"], "x\n"), "invalid name");
    // Bad flag values: clap's usage error (exit 2), no panic.
    for args in [
        &["tail", d, "t", "--format", "xml"][..],
        &["stats", d, "--format", "yaml"],
        &["bench", "iot", "--durability", "forever"],
        &["bench", "iot", "--sensors", "-3"],
        &["demo", "--duration", "soon"],
        &["no-such-command"],
    ] {
        let o = run(args);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", stderr(&o));
        assert!(!stderr(&o).contains("panicked"));
    }
    assert_clean_failure(&run(&["demo", "--duration", "0"]), "--duration");
    assert_clean_failure(&run(&["bench", "iot", "--duration", "1", "--producers", "0"]), "--producers");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_live_directory_is_read_while_its_owner_publishes() {
    let dir = scratch("live");
    let data = dir.join("data");
    let d = dir_str(&data);
    assert!(publish(&[d, "t"], "first\n").status.success());
    // A publish that waits on stdin holds the directory open: it is the owner.
    let mut holder = ringbus()
        .args(["publish", d, "t"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = holder.stdin.take().unwrap();
    let mut offsets = std::io::BufReader::new(holder.stdout.take().unwrap());
    let mut send = |text: &str| {
        stdin.write_all(text.as_bytes()).unwrap();
        stdin.flush().unwrap();
        let mut line = String::new();
        std::io::BufRead::read_line(&mut offsets, &mut line).unwrap();
        assert!(line.trim().parse::<u64>().is_ok(), "{line}");
    };
    send("second\n");
    // Reading commands follow it instead of failing; writing ones are refused.
    let topics = run(&["topics", d]);
    assert!(topics.status.success() && stdout(&topics).starts_with("t\t1 partitions"), "{}", stderr(&topics));
    let stats = run(&["stats", d, "t"]);
    assert!(stdout(&stats).contains("has it open"), "{}{}", stdout(&stats), stderr(&stats));
    // As metrics: what the files say, under the bus's names and labels.
    let metrics = run(&["stats", d, "--format", "prometheus"]);
    let text = stdout(&metrics);
    assert!(text.contains("ringbus_segments{topic=\"t\",partition=\"0\"} 1") && text.ends_with("# EOF\n"), "{text}");
    assert!(!text.contains("ringbus_published"), "the owner's counters are not in its files: {text}");
    let verify = run(&["verify", d]);
    assert!(verify.status.success() && stdout(&verify).contains("live: process"), "{}", stdout(&verify));
    let tail = run(&["tail", d, "t", "--format", "raw"]);
    assert_eq!(stdout(&tail), "first\nsecond\n", "{}", stderr(&tail));
    assert_clean_failure(&publish(&[d, "t"], "x\n"), "in use by another bus");
    // tail --follow from another terminal sees what the owner publishes next.
    let mut follow = ringbus()
        .args(["tail", d, "t", "--follow", "--format", "raw", "--from", "latest"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(300));
    send("third\n");
    let mut seen = String::new();
    std::io::BufRead::read_line(&mut std::io::BufReader::new(follow.stdout.as_mut().unwrap()), &mut seen).unwrap();
    assert_eq!(seen, "third\n");
    follow.kill().unwrap();
    follow.wait().unwrap();
    drop(stdin);
    assert!(holder.wait().unwrap().success());
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn verbose_prints_what_the_bus_chose_and_cut() {
    let dir = scratch("verbose");
    let data = dir.join("data");
    let d = dir_str(&data);
    assert!(publish(&[d, "t"], "kept\n").status.success());
    // Quiet by default.
    let o = run(&["topics", d]);
    assert!(o.status.success() && stderr(&o).is_empty(), "{}", stderr(&o));
    // A torn tail: half a frame after the last one (a 32-byte frame after the 64-byte header).
    let segment = data.join("t").join("0").join("00000000000000000000.seg");
    let mut bytes = std::fs::read(&segment).unwrap();
    bytes[64 + 32..64 + 32 + 7].copy_from_slice(b"garbage");
    std::fs::write(&segment, &bytes).unwrap();
    let o = run(&["-v", "tail", d, "t", "--format", "raw"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(stdout(&o), "kept\n");
    let err = stderr(&o);
    // The backend line: info, or a warning where io_uring had to be given up.
    assert!(err.lines().any(|l| l.starts_with("ringbus: ") && l.contains("persisters write with")), "{err}");
    assert!(err.contains("ringbus: warning: recovery cut a torn tail of 7 bytes at offset 32"), "{err}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn every_command_has_help() {
    for args in [
        &["--help"][..],
        &["demo", "--help"],
        &["bench", "--help"],
        &["bench", "iot", "--help"],
        &["topics", "--help"],
        &["stats", "--help"],
        &["tail", "--help"],
        &["verify", "--help"],
        &["publish", "--help"],
    ] {
        let o = run(args);
        assert!(o.status.success(), "{args:?}");
        assert!(stdout(&o).contains("Usage: ringbus"), "{args:?}: {}", stdout(&o));
    }
}

#[test]
fn demo_serves_its_metrics_while_it_runs() {
    use std::io::{BufRead, Read};
    let mut demo = ringbus()
        .args(["demo", "--duration", "3", "--metrics-addr", "0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut err = std::io::BufReader::new(demo.stderr.take().unwrap());
    let mut line = String::new();
    err.read_line(&mut line).unwrap();
    let url = line.trim().strip_prefix("serving metrics on http://").unwrap_or_else(|| panic!("{line}"));
    let addr = url.strip_suffix("/metrics").unwrap();
    assert!(addr.starts_with("127.0.0.1:"), "loopback by default: {addr}");
    std::thread::sleep(std::time::Duration::from_millis(500));
    let get = |path: &str| {
        let mut conn = std::net::TcpStream::connect(addr).unwrap();
        write!(conn, "GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
        let mut response = String::new();
        conn.read_to_string(&mut response).unwrap();
        response
    };
    let response = get("/metrics");
    assert!(response.starts_with("HTTP/1.1 200 OK"), "{response}");
    assert!(response.contains("Content-Type: application/openmetrics-text"), "{response}");
    assert!(response.contains("ringbus_published_total{topic=\"readings\",partition=\"0\"}"), "{response}");
    assert!(response.contains("ringbus_reader_lag_events{topic=\"readings\",group=\"aggregators\"}"), "{response}");
    assert!(response.trim_end().ends_with("# EOF"), "{response}");
    assert!(get("/other").starts_with("HTTP/1.1 404"));
    let out = demo.wait_with_output().unwrap();
    assert!(out.status.success() && stdout(&out).contains("aggregates      OK"), "{}", stdout(&out));
    assert_clean_failure(&run(&["demo", "--metrics-addr", "nowhere"]), "--metrics-addr");
}

#[test]
fn demo_runs_and_its_aggregates_check_passes() {
    let o = run(&["demo", "--duration", "3"]);
    let text = stdout(&o);
    assert!(o.status.success(), "{text}{}", stderr(&o));
    assert!(text.contains("aggregates      OK"), "{text}");
    assert!(text.contains("durability      async") && text.contains("latency p99.9"), "{text}");
    let events: u64 = text
        .lines()
        .find(|l| l.trim_start().starts_with("events "))
        .unwrap()
        .split_whitespace()
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    assert!(events > 0);
    // The temporary directory named in the output is gone.
    let dir = text.lines().find_map(|l| l.strip_prefix("data directory: ")).unwrap();
    let dir = dir.split(" (").next().unwrap();
    assert!(!Path::new(dir).exists(), "{dir} removed");
}

#[test]
fn bench_iot_writes_json_and_a_report_with_peers() {
    let dir = scratch("bench");
    let report = dir.join("report");
    let o = run(&[
        "bench",
        "iot",
        "--duration",
        "1",
        "--sensors",
        "500",
        "--format",
        "binary",
        "--durability",
        "sync",
        "--peers",
        "--json",
        "--report",
        dir_str(&report),
    ]);
    assert!(o.status.success(), "{}{}", stdout(&o), stderr(&o));
    let results: Vec<serde_json::Value> = stdout(&o).lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(results.len(), 2);
    assert_eq!(results[0]["system"], "ringbus");
    assert_eq!(results[1]["system"], "crossbeam-channel");
    for r in &results {
        assert_eq!(r["aggregates_match"], true, "{r}");
        assert!(r["events"].as_u64().unwrap() > 0);
        assert_eq!(r["events"], r["archived"]);
    }
    assert!(results[0]["durability"].as_str().unwrap().starts_with("sync"));
    let saved: serde_json::Value =
        serde_json::from_slice(&std::fs::read(report.join("results.json")).unwrap()).unwrap();
    assert_eq!(saved.as_array().unwrap().len(), 2);
    for svg in ["throughput.svg", "latency.svg"] {
        let text = std::fs::read_to_string(report.join(svg)).unwrap();
        assert!(text.starts_with("<svg") && text.contains("polyline") && text.contains("crossbeam-channel"), "{svg}");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}
