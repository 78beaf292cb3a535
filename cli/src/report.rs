//! Times as text, and the benchmark's report: results.json and SVG plots (throughput over
//! time, latency percentiles), drawn by hand: two line charts need no plotting library.

use std::fmt::Write as _;
use std::path::Path;

use crate::pipeline::RunResult;
use crate::Failure;

/// Days since 1970-01-01 of a civil date (proleptic Gregorian).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The civil date of a day count since 1970-01-01.
fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = if z >= 0 { z } else { z - 146_096 } / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

/// ns since the Unix epoch as RFC 3339 UTC with microseconds.
pub fn format_time(ns: u64) -> String {
    let secs = (ns / 1_000_000_000) as i64;
    let (y, mo, d) = civil_from_days(secs.div_euclid(86_400));
    let s = secs.rem_euclid(86_400);
    format!(
        "{y:04}-{mo:02}-{d:02}T{:02}:{:02}:{:02}.{:06}Z",
        s / 3600,
        s % 3600 / 60,
        s % 60,
        ns % 1_000_000_000 / 1000
    )
}

/// Parses RFC 3339 (`2026-11-26T10:00:00Z`, with optional fraction and `+hh:mm` offset; a
/// space may stand for the `T`) into ns since the Unix epoch.
pub fn parse_time(text: &str) -> Option<u64> {
    let b = text.as_bytes();
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || !(b[10] == b'T' || b[10] == b' ' || b[10] == b't') {
        return None;
    }
    if b[13] != b':' || b[16] != b':' {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<i64> {
        let s = text.get(r)?;
        s.bytes().all(|c| c.is_ascii_digit()).then(|| s.parse().ok())?
    };
    let (y, mo, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (h, mi, s) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || s > 60 {
        return None;
    }
    let mut i = 19;
    let mut frac_ns = 0i64;
    if b.get(i) == Some(&b'.') {
        i += 1;
        let start = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        let digits = &text[start..i];
        if digits.is_empty() {
            return None;
        }
        let mut padded = digits.chars().take(9).collect::<String>();
        while padded.len() < 9 {
            padded.push('0');
        }
        frac_ns = padded.parse().ok()?;
    }
    let offset_secs = match text.get(i..)? {
        "Z" | "z" => 0,
        tz if tz.len() == 6 && (tz.starts_with('+') || tz.starts_with('-')) && &tz[3..4] == ":" => {
            let oh: i64 = tz[1..3].parse().ok()?;
            let om: i64 = tz[4..6].parse().ok()?;
            let sign = if tz.starts_with('-') { -1 } else { 1 };
            sign * (oh * 3600 + om * 60)
        }
        _ => return None,
    };
    let secs = days_from_civil(y, mo, d) * 86_400 + h * 3600 + mi * 60 + s - offset_secs;
    let ns = i128::from(secs) * 1_000_000_000 + i128::from(frac_ns);
    u64::try_from(ns).ok()
}

/// Writes `results.json`, `throughput.svg` and `latency.svg` into `dir`.
pub fn write(dir: &Path, results: &[RunResult]) -> Result<(), Failure> {
    std::fs::create_dir_all(dir).map_err(|e| Failure::new(format!("creating {}: {e}", dir.display())))?;
    let json = serde_json::Value::Array(results.iter().map(RunResult::to_json).collect());
    let text = serde_json::to_string_pretty(&json).map_err(|e| Failure::new(e.to_string()))?;
    let write = |name: &str, body: &str| {
        let path = dir.join(name);
        std::fs::write(&path, body).map_err(|e| Failure::new(format!("writing {}: {e}", path.display())))
    };
    write("results.json", &text)?;
    let series: Vec<(String, Vec<(f64, f64)>)> = results
        .iter()
        .map(|r| (r.system.clone(), r.throughput.iter().map(|&(t, rate)| (t, rate / 1e6)).collect()))
        .collect();
    write("throughput.svg", &line_chart("Ingest rate over time", "seconds", "million events/s", &series))?;
    let percentiles = [50.0, 90.0, 99.0, 99.9, 99.99];
    let latency: Vec<(String, Vec<(f64, f64)>)> = results
        .iter()
        .map(|r| {
            let points = percentiles.iter().enumerate().map(|(i, &q)| (i as f64, r.latency_us(q) / 1000.0)).collect();
            (r.system.clone(), points)
        })
        .collect();
    let labels: Vec<String> = percentiles.iter().map(|q| format!("p{q}")).collect();
    write("latency.svg", &category_chart("Publish-to-consume latency", "percentile", "ms", &labels, &latency))?;
    Ok(())
}

const COLORS: [&str; 6] = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b"];
const W: f64 = 720.0;
const H: f64 = 400.0;
const LEFT: f64 = 70.0;
const RIGHT: f64 = 160.0;
const TOP: f64 = 40.0;
const BOTTOM: f64 = 50.0;

/// A "nice" axis maximum at or above `v`.
fn nice_max(v: f64) -> f64 {
    if v <= 0.0 || !v.is_finite() {
        return 1.0;
    }
    let p = 10f64.powf(v.log10().floor());
    [1.0, 2.0, 2.5, 5.0, 10.0].iter().map(|m| m * p).find(|&m| m >= v).unwrap_or(10.0 * p)
}

fn frame(svg: &mut String, title: &str, x_label: &str, y_label: &str, y_max: f64) {
    let _ = write!(
        svg,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" font-family="sans-serif" font-size="12">"#
    );
    let _ = write!(svg, r#"<rect width="{W}" height="{H}" fill="white"/>"#);
    let _ = write!(svg, r#"<text x="{}" y="22" font-size="15" text-anchor="middle">{title}</text>"#, W / 2.0);
    let (x0, y0, x1, y1) = (LEFT, H - BOTTOM, W - RIGHT, TOP);
    let _ = write!(svg, r#"<line x1="{x0}" y1="{y0}" x2="{x1}" y2="{y0}" stroke="black"/>"#);
    let _ = write!(svg, r#"<line x1="{x0}" y1="{y0}" x2="{x0}" y2="{y1}" stroke="black"/>"#);
    for i in 0..=4 {
        let v = y_max * f64::from(i) / 4.0;
        let y = y0 - (y0 - y1) * f64::from(i) / 4.0;
        let _ = write!(svg, r##"<line x1="{x0}" y1="{y}" x2="{x1}" y2="{y}" stroke="#ddd"/>"##);
        let _ = write!(svg, r#"<text x="{}" y="{}" text-anchor="end">{}</text>"#, x0 - 6.0, y + 4.0, trim(v));
    }
    let _ = write!(svg, r#"<text x="{}" y="{}" text-anchor="middle">{x_label}</text>"#, (x0 + x1) / 2.0, H - 12.0);
    let _ = write!(
        svg,
        r#"<text x="16" y="{}" text-anchor="middle" transform="rotate(-90 16 {})">{y_label}</text>"#,
        (y0 + y1) / 2.0,
        (y0 + y1) / 2.0
    );
}

fn trim(v: f64) -> String {
    let s = format!("{v:.2}");
    s.trim_end_matches('0').trim_end_matches('.').to_owned()
}

fn legend(svg: &mut String, names: &[&str]) {
    for (i, name) in names.iter().enumerate() {
        let y = TOP + 10.0 + 20.0 * i as f64;
        let x = W - RIGHT + 15.0;
        let c = COLORS[i % COLORS.len()];
        let _ = write!(svg, r#"<line x1="{x}" y1="{y}" x2="{}" y2="{y}" stroke="{c}" stroke-width="3"/>"#, x + 20.0);
        let _ = write!(svg, r#"<text x="{}" y="{}">{}</text>"#, x + 26.0, y + 4.0, escape(name));
    }
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

/// A line chart of (x, y) series.
pub fn line_chart(title: &str, x_label: &str, y_label: &str, series: &[(String, Vec<(f64, f64)>)]) -> String {
    let x_max = nice_max(series.iter().flat_map(|s| s.1.iter().map(|p| p.0)).fold(0.0, f64::max));
    let y_max = nice_max(series.iter().flat_map(|s| s.1.iter().map(|p| p.1)).fold(0.0, f64::max));
    let mut svg = String::new();
    frame(&mut svg, title, x_label, y_label, y_max);
    let (x0, y0, x1, y1) = (LEFT, H - BOTTOM, W - RIGHT, TOP);
    for i in 0..=4 {
        let v = x_max * f64::from(i) / 4.0;
        let x = x0 + (x1 - x0) * f64::from(i) / 4.0;
        let _ = write!(svg, r#"<text x="{x}" y="{}" text-anchor="middle">{}</text>"#, y0 + 16.0, trim(v));
    }
    for (i, (_, points)) in series.iter().enumerate() {
        let path: Vec<String> = points
            .iter()
            .map(|&(x, y)| format!("{:.1},{:.1}", x0 + (x1 - x0) * x / x_max, y0 - (y0 - y1) * y / y_max))
            .collect();
        let _ = write!(
            svg,
            r#"<polyline fill="none" stroke="{}" stroke-width="2" points="{}"/>"#,
            COLORS[i % COLORS.len()],
            path.join(" ")
        );
    }
    legend(&mut svg, &series.iter().map(|s| s.0.as_str()).collect::<Vec<_>>());
    svg.push_str("</svg>\n");
    svg
}

/// A line chart over labelled categories (x = category index).
pub fn category_chart(
    title: &str,
    x_label: &str,
    y_label: &str,
    labels: &[String],
    series: &[(String, Vec<(f64, f64)>)],
) -> String {
    let y_max = nice_max(series.iter().flat_map(|s| s.1.iter().map(|p| p.1)).fold(0.0, f64::max));
    let mut svg = String::new();
    frame(&mut svg, title, x_label, y_label, y_max);
    let (x0, y0, x1, y1) = (LEFT, H - BOTTOM, W - RIGHT, TOP);
    let n = labels.len().max(2) as f64 - 1.0;
    let x_of = |i: f64| x0 + 20.0 + (x1 - x0 - 40.0) * i / n;
    for (i, label) in labels.iter().enumerate() {
        let _ = write!(svg, r#"<text x="{}" y="{}" text-anchor="middle">{label}</text>"#, x_of(i as f64), y0 + 16.0);
    }
    for (i, (_, points)) in series.iter().enumerate() {
        let c = COLORS[i % COLORS.len()];
        let path: Vec<String> =
            points.iter().map(|&(x, y)| format!("{:.1},{:.1}", x_of(x), y0 - (y0 - y1) * y / y_max)).collect();
        let _ = write!(svg, r#"<polyline fill="none" stroke="{c}" stroke-width="2" points="{}"/>"#, path.join(" "));
        for &(x, y) in points {
            let _ =
                write!(svg, r#"<circle cx="{:.1}" cy="{:.1}" r="3" fill="{c}"/>"#, x_of(x), y0 - (y0 - y1) * y / y_max);
        }
    }
    legend(&mut svg, &series.iter().map(|s| s.0.as_str()).collect::<Vec<_>>());
    svg.push_str("</svg>\n");
    svg
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_round_trip() {
        assert_eq!(format_time(0), "1970-01-01T00:00:00.000000Z");
        let t = parse_time("2026-11-26T10:00:00.123456789Z").unwrap();
        assert_eq!(format_time(t), "2026-11-26T10:00:00.123456Z");
        assert_eq!(parse_time("2026-11-26T11:00:00+01:00"), parse_time("2026-11-26T10:00:00Z"));
        assert_eq!(parse_time("2000-02-29 00:00:00Z").map(|t| t / 1_000_000_000), Some(951_782_400));
        for bad in ["", "2026-11-26", "2026-13-01T00:00:00Z", "2026-11-26T10:00:00", "2026-11-26T10:00:00.Z", "x"] {
            assert_eq!(parse_time(bad), None, "{bad}");
        }
    }
}
