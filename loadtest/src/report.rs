//! What every scenario hands back, and its three renderings: the table on stdout, the JSON
//! file and the self-contained HTML page. Scenarios only fill in figures; none formats.

use std::fmt::Write;
use std::time::Duration;

use serde_json::{json, Value};

use crate::stats::{Histogram, SUMMARY_PERCENTILES};
use crate::svg::{self, Axis};

pub struct Report {
    pub scenario: &'static str,
    pub params: Value,
    pub elapsed: Duration,
    /// Headline figures, in the order the table shows them.
    pub figures: Vec<(&'static str, Value)>,
    /// Named latency samples; each gets a row, a percentile curve and a histogram.
    pub latencies: Vec<(&'static str, Histogram)>,
    /// Curves over time (sockets open, server memory), one chart each.
    pub series: Vec<Series>,
    /// Correctness failures: any makes the run exit non-zero.
    pub failures: Vec<String>,
}

pub struct Series {
    pub title: &'static str,
    pub x_title: &'static str,
    pub y_title: &'static str,
    pub points: Vec<(f64, f64)>,
}

/// The command line, so that a saved report says how to reproduce it.
fn command_line() -> String {
    std::env::args().collect::<Vec<_>>().join(" ")
}

/// A figure as the table and the page print it: floats with two decimals.
fn show(v: &Value) -> String {
    match v {
        Value::Number(n) if n.is_f64() => format!("{:.2}", n.as_f64().unwrap_or(0.0)),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn label(key: &str) -> String {
    key.replace('_', " ")
}

impl Report {
    pub fn passed(&self) -> bool {
        self.failures.is_empty()
    }

    pub fn table(&self) -> String {
        let mut out = format!(
            "scenario {}  {}\nelapsed {:.1}s\n\n",
            self.scenario,
            self.params,
            self.elapsed.as_secs_f64()
        );
        for (key, value) in &self.figures {
            let _ = writeln!(out, "{:<34}{:>14}", label(key), show(value));
        }
        if !self.latencies.is_empty() {
            let _ = write!(out, "\n{:<22}", "latency (ms)");
            for (name, _) in SUMMARY_PERCENTILES {
                let _ = write!(out, "{:>9}", name.replace('_', "."));
            }
            let _ = writeln!(out, "{:>9}{:>9}", "max", "count");
            for (name, h) in &self.latencies {
                let s = h.summary();
                let _ = write!(out, "{name:<22}");
                for ms in s.percentiles {
                    let _ = write!(out, "{ms:>9.2}");
                }
                let _ = writeln!(out, "{:>9.2}{:>9}", s.max, s.count);
            }
        }
        out.push('\n');
        if self.passed() {
            out.push_str("checks: passed\n");
        }
        for f in &self.failures {
            let _ = writeln!(out, "FAILED: {f}");
        }
        out
    }

    pub fn json(&self) -> Value {
        let figures: serde_json::Map<String, Value> = self
            .figures
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect();
        let latency: serde_json::Map<String, Value> = self
            .latencies
            .iter()
            .map(|(k, h)| (k.to_string(), h.json()))
            .collect();
        let series: serde_json::Map<String, Value> = self
            .series
            .iter()
            .map(|s| {
                let v = json!({ "x": s.x_title, "y": s.y_title, "points": s.points });
                (s.title.to_string(), v)
            })
            .collect();
        json!({
            "scenario": self.scenario,
            "command": command_line(),
            "params": self.params,
            "elapsed_s": self.elapsed.as_secs_f64(),
            "figures": figures,
            "latency_ms": latency,
            "series": series,
            "passed": self.passed(),
            "failures": self.failures,
        })
    }

    /// One HTML file with everything inline: the figures and an SVG chart per curve.
    pub fn html(&self) -> String {
        let mut body = String::new();
        let _ = write!(
            body,
            "<h1>duoxie-loadtest: {}</h1><p><code>{}</code><br>elapsed {:.1} s</p>",
            self.scenario,
            svg::escape(&command_line()),
            self.elapsed.as_secs_f64()
        );
        body.push_str(if self.passed() {
            r#"<p class="ok">checks passed</p>"#
        } else {
            ""
        });
        for f in &self.failures {
            let _ = write!(body, r#"<p class="fail">FAILED: {}</p>"#, svg::escape(f));
        }
        body.push_str("<h2>Parameters</h2><table>");
        if let Value::Object(params) = &self.params {
            for (k, v) in params {
                let _ = write!(body, "<tr><th>{}</th><td>{}</td></tr>", label(k), show(v));
            }
        }
        body.push_str("</table><h2>Figures</h2><table>");
        for (k, v) in &self.figures {
            let _ = write!(
                body,
                "<tr><th>{}</th><td>{}</td></tr>",
                label(k),
                svg::escape(&show(v))
            );
        }
        body.push_str("</table>");
        if !self.latencies.is_empty() {
            body.push_str("<h2>Latency (ms)</h2><table><tr><th></th>");
            for (name, _) in SUMMARY_PERCENTILES {
                let _ = write!(body, "<th>{}</th>", name.replace('_', "."));
            }
            body.push_str("<th>max</th><th>count</th></tr>");
            for (name, h) in &self.latencies {
                let s = h.summary();
                let _ = write!(body, "<tr><th>{}</th>", svg::escape(name));
                for ms in s.percentiles {
                    let _ = write!(body, "<td>{ms:.2}</td>");
                }
                let _ = write!(body, "<td>{:.2}</td><td>{}</td></tr>", s.max, s.count);
            }
            body.push_str("</table>");
            for (name, h) in &self.latencies {
                body.push_str(&latency_charts(name, h));
            }
        }
        for s in &self.series {
            body.push_str(&series_chart(s));
        }
        format!(
            "<!doctype html><html><head><meta charset=\"utf-8\"><title>duoxie-loadtest: {}</title>\
             <style>{STYLE}</style></head><body>{body}</body></html>\n",
            self.scenario
        )
    }
}

const STYLE: &str = "body{font-family:sans-serif;margin:2em;color:#222}\
table{border-collapse:collapse;margin:.5em 0}th,td{border:1px solid #ccc;padding:3px 8px;\
text-align:right}th{text-align:left;background:#f4f4f4}.ok{color:#080}.fail{color:#c00;\
font-weight:bold}svg{display:block;margin:1em 0}";

/// The percentile curve and the histogram of one latency sample.
fn latency_charts(name: &str, h: &Histogram) -> String {
    if h.count() == 0 {
        return String::new();
    }
    let curve = h.percentile_curve(200);
    let x_max = curve.last().map_or(1.0, |p| p.0);
    let mut out = svg::line_chart(
        &format!("{name}: latency by percentile"),
        &Axis::percentile("percentile", x_max),
        &Axis::linear("ms", 0.0, h.max_ms()),
        &[(name, &curve)],
    );
    // Up to p99.9, so that one outlier does not squash the shape; slower ones land in the
    // last bin.
    let upper = h.percentile_ms(99.9).max(0.001);
    let bins = h.bins(40, upper);
    let tallest = bins.iter().map(|b| b.2).max().unwrap_or(0) as f64;
    out.push_str(&svg::bar_chart(
        &format!("{name}: histogram (slower than p99.9 in the last bar)"),
        &Axis::linear("ms", 0.0, upper),
        &Axis::linear("samples", 0.0, tallest),
        &bins,
    ));
    out
}

fn series_chart(s: &Series) -> String {
    let x_max = s.points.iter().map(|p| p.0).fold(0.0, f64::max);
    let y_max = s.points.iter().map(|p| p.1).fold(0.0, f64::max);
    svg::line_chart(
        s.title,
        &Axis::linear(s.x_title, 0.0, x_max),
        &Axis::linear(s.y_title, 0.0, y_max),
        &[(s.title, &s.points)],
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Report {
        let mut h = Histogram::default();
        for ms in 1..=10 {
            h.record(Duration::from_millis(ms));
        }
        Report {
            scenario: "test",
            params: json!({ "sockets": 10 }),
            elapsed: Duration::from_secs(2),
            figures: vec![("sockets_opened", json!(10)), ("rate", json!(2.5))],
            latencies: vec![("open", h)],
            series: vec![Series {
                title: "sockets open",
                x_title: "s",
                y_title: "sockets",
                points: vec![(0.0, 0.0), (1.0, 10.0)],
            }],
            failures: vec![],
        }
    }

    #[test]
    fn the_table_json_and_page_carry_the_figures() {
        let mut r = sample();
        let table = r.table();
        assert!(table.contains("sockets opened") && table.contains("2.50"));
        assert!(table.contains("checks: passed"));
        let j = r.json();
        assert_eq!(j["figures"]["sockets_opened"], 10);
        assert_eq!(j["latency_ms"]["open"]["count"], 10);
        assert_eq!(j["series"]["sockets open"]["points"][1][1], 10.0);
        let page = r.html();
        assert_eq!(page.matches("<svg").count(), 3, "curve, histogram, series");
        // Self-contained: nothing to fetch.
        assert!(!page.contains("<script") && !page.contains("<link") && !page.contains("src="));
        r.failures.push("lost 1".into());
        assert!(!r.passed());
        assert!(r.table().contains("FAILED: lost 1"));
        assert_eq!(r.json()["passed"], false);
    }
}
