//! The benchmark's report: results.json and SVG plots (throughput over time, latency
//! percentiles), drawn by hand: two line charts need no plotting library.

use std::fmt::Write as _;
use std::path::Path;

use super::run::RunResult;
use crate::Failure;

/// Writes `results.json`, `throughput.svg` and `latency.svg` into `dir`.
pub(crate) fn write(dir: &Path, results: &[RunResult]) -> Result<(), Failure> {
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
pub(crate) fn line_chart(title: &str, x_label: &str, y_label: &str, series: &[(String, Vec<(f64, f64)>)]) -> String {
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
pub(crate) fn category_chart(
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
