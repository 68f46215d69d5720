//! Inline SVG charts for the HTML report: paths, rectangles and text, so that the page needs
//! no script, no stylesheet and no network to be read years later.

use std::fmt::Write;

const WIDTH: f64 = 720.0;
const HEIGHT: f64 = 320.0;
/// Room for the tick labels and axis titles: left, right, top, bottom.
const MARGIN: (f64, f64, f64, f64) = (70.0, 20.0, 30.0, 50.0);
const PALETTE: [&str; 4] = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd"];

/// One axis: its title, its data range and where its ticks go.
pub struct Axis {
    pub title: String,
    pub min: f64,
    pub max: f64,
    pub ticks: Vec<(f64, String)>,
}

impl Axis {
    /// A linear axis from `min` to a round number at or above `max`, with about five ticks.
    pub fn linear(title: &str, min: f64, max: f64) -> Self {
        // A flat or empty series still gets a unit-high axis rather than a degenerate one.
        let max = if max > min { max } else { min + 1.0 };
        let step = nice_step((max - min) / 5.0);
        let top = min + ((max - min) / step).ceil().max(1.0) * step;
        let count = ((top - min) / step).round() as usize;
        let ticks = (0..=count)
            .map(|i| {
                let v = min + i as f64 * step;
                (v, number(v))
            })
            .collect();
        Self {
            title: title.to_string(),
            min,
            max: top,
            ticks,
        }
    }

    /// The axis of [`crate::stats::Histogram::percentile_curve`]: x = -log10(1 - q), ticked
    /// at p0, p90, p99, p99.9, ... as far as the data goes.
    pub fn percentile(title: &str, x_max: f64) -> Self {
        let whole = x_max.floor().max(0.0) as usize;
        let ticks = (0..=whole)
            .map(|k| {
                let label = match k {
                    0 => "p0".to_string(),
                    _ => format!("p{}", number(100.0 - 100.0 * 10f64.powi(-(k as i32)))),
                };
                (k as f64, label)
            })
            .collect();
        Self {
            title: title.to_string(),
            min: 0.0,
            max: x_max.max(1.0),
            ticks,
        }
    }

    fn fraction(&self, v: f64) -> f64 {
        let span = self.max - self.min;
        if span <= 0.0 {
            0.0
        } else {
            ((v - self.min) / span).clamp(0.0, 1.0)
        }
    }
}

/// The smallest 1, 2 or 5 times a power of ten at or above `raw`.
pub fn nice_step(raw: f64) -> f64 {
    let magnitude = 10f64.powf(raw.log10().floor());
    [1.0, 2.0, 5.0, 10.0]
        .into_iter()
        .map(|m| m * magnitude)
        .find(|&s| s >= raw * (1.0 - 1e-9))
        .unwrap_or(10.0 * magnitude)
}

/// A tick label: whole numbers without decimals, others with at most three.
fn number(v: f64) -> String {
    if (v - v.round()).abs() < 1e-9 {
        format!("{}", v.round() as i64)
    } else {
        let s = format!("{v:.3}");
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    }
}

/// Escapes text for SVG and HTML.
pub fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// Maps data coordinates to pixels inside the margins.
struct Plot<'a> {
    x: &'a Axis,
    y: &'a Axis,
}

impl Plot<'_> {
    fn px(&self, x: f64) -> f64 {
        MARGIN.0 + self.x.fraction(x) * (WIDTH - MARGIN.0 - MARGIN.1)
    }

    fn py(&self, y: f64) -> f64 {
        HEIGHT - MARGIN.3 - self.y.fraction(y) * (HEIGHT - MARGIN.2 - MARGIN.3)
    }

    /// The SVG path data of a polyline through `points`, one decimal per coordinate.
    fn path_d(&self, points: &[(f64, f64)]) -> String {
        let mut d = String::new();
        for (i, &(x, y)) in points.iter().enumerate() {
            let cmd = if i == 0 { 'M' } else { 'L' };
            let _ = write!(d, "{cmd}{:.1},{:.1} ", self.px(x), self.py(y));
        }
        d.trim_end().to_string()
    }

    /// Opening tag, title, grid, ticks and axis titles.
    fn frame(&self, title: &str) -> String {
        let mut s = format!(
            r#"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" width="{WIDTH}" height="{HEIGHT}" font-family="sans-serif" font-size="11">"#
        );
        let _ = write!(
            s,
            r#"<text x="{}" y="18" font-size="13" font-weight="bold">{}</text>"#,
            MARGIN.0,
            escape(title)
        );
        let (left, right) = (MARGIN.0, WIDTH - MARGIN.1);
        let (top, bottom) = (MARGIN.2, HEIGHT - MARGIN.3);
        for (v, label) in &self.y.ticks {
            let y = self.py(*v);
            let _ = write!(
                s,
                r##"<line x1="{left}" y1="{y:.1}" x2="{right}" y2="{y:.1}" stroke="#ddd"/><text x="{}" y="{:.1}" text-anchor="end">{}</text>"##,
                left - 6.0,
                y + 4.0,
                escape(label)
            );
        }
        for (v, label) in &self.x.ticks {
            let x = self.px(*v);
            let _ = write!(
                s,
                r##"<line x1="{x:.1}" y1="{bottom}" x2="{x:.1}" y2="{}" stroke="#999"/><text x="{x:.1}" y="{}" text-anchor="middle">{}</text>"##,
                bottom + 5.0,
                bottom + 18.0,
                escape(label)
            );
        }
        let _ = write!(
            s,
            r##"<rect x="{left}" y="{top}" width="{}" height="{}" fill="none" stroke="#999"/><text x="{}" y="{}" text-anchor="middle">{}</text><text transform="translate(16,{}) rotate(-90)" text-anchor="middle">{}</text>"##,
            right - left,
            bottom - top,
            (left + right) / 2.0,
            HEIGHT - 10.0,
            escape(&self.x.title),
            (top + bottom) / 2.0,
            escape(&self.y.title)
        );
        s
    }
}

/// Named polylines on shared axes, with a legend when there is more than one.
pub fn line_chart(title: &str, x: &Axis, y: &Axis, series: &[(&str, &[(f64, f64)])]) -> String {
    let plot = Plot { x, y };
    let mut s = plot.frame(title);
    for (i, (name, points)) in series.iter().enumerate() {
        let color = PALETTE[i % PALETTE.len()];
        let _ = write!(
            s,
            r#"<path d="{}" fill="none" stroke="{color}" stroke-width="1.8"/>"#,
            plot.path_d(points)
        );
        if series.len() > 1 {
            let ly = MARGIN.2 + 14.0 + 14.0 * i as f64;
            let _ = write!(
                s,
                r#"<text x="{}" y="{ly}" fill="{color}">{}</text>"#,
                MARGIN.0 + 10.0,
                escape(name)
            );
        }
    }
    s.push_str("</svg>");
    s
}

/// Bars for (low, high, count) bins.
pub fn bar_chart(title: &str, x: &Axis, y: &Axis, bins: &[(f64, f64, u64)]) -> String {
    let plot = Plot { x, y };
    let mut s = plot.frame(title);
    let base = plot.py(y.min);
    for &(lo, hi, count) in bins {
        if count == 0 {
            continue;
        }
        let (x0, x1, top) = (plot.px(lo), plot.px(hi), plot.py(count as f64));
        let _ = write!(
            s,
            r#"<rect x="{x0:.1}" y="{top:.1}" width="{:.1}" height="{:.1}" fill="{}"><title>{}–{} ms: {count}</title></rect>"#,
            (x1 - x0 - 1.0).max(0.5),
            base - top,
            PALETTE[0],
            number(lo),
            number(hi)
        );
    }
    s.push_str("</svg>");
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nice_steps_are_one_two_five() {
        assert_eq!(nice_step(0.7), 1.0);
        assert_eq!(nice_step(1.0), 1.0);
        assert_eq!(nice_step(1.3), 2.0);
        assert_eq!(nice_step(3.0), 5.0);
        assert_eq!(nice_step(420.0), 500.0);
        assert_eq!(nice_step(0.012), 0.02);
    }

    #[test]
    fn a_linear_axis_covers_the_data_with_round_ticks() {
        let a = Axis::linear("ms", 0.0, 17.0);
        assert_eq!(a.max, 20.0);
        let labels: Vec<&str> = a.ticks.iter().map(|(_, l)| l.as_str()).collect();
        assert_eq!(labels, ["0", "5", "10", "15", "20"]);
        assert_eq!(Axis::linear("n", 0.0, 0.0).max, 1.0);
    }

    #[test]
    fn the_percentile_axis_names_its_ticks() {
        let a = Axis::percentile("q", 3.2);
        let labels: Vec<&str> = a.ticks.iter().map(|(_, l)| l.as_str()).collect();
        assert_eq!(labels, ["p0", "p90", "p99", "p99.9"]);
        assert_eq!(a.max, 3.2);
    }

    #[test]
    fn path_data_maps_corners_to_the_plot_area() {
        let x = Axis::linear("x", 0.0, 10.0);
        let y = Axis::linear("y", 0.0, 10.0);
        let plot = Plot { x: &x, y: &y };
        let d = plot.path_d(&[(0.0, 0.0), (10.0, 10.0), (20.0, -5.0)]);
        let (l, r) = (MARGIN.0, WIDTH - MARGIN.1);
        let (t, b) = (MARGIN.2, HEIGHT - MARGIN.3);
        // Out-of-range points are clamped to the frame rather than drawn outside it.
        assert_eq!(d, format!("M{l:.1},{b:.1} L{r:.1},{t:.1} L{r:.1},{b:.1}"));
        assert_eq!(plot.path_d(&[]), "");
    }

    #[test]
    fn charts_are_well_formed_and_escaped() {
        let x = Axis::linear("time <s>", 0.0, 1.0);
        let y = Axis::linear("n", 0.0, 1.0);
        let svg = line_chart("a & b", &x, &y, &[("one", &[(0.0, 0.0), (1.0, 1.0)])]);
        assert!(svg.starts_with("<svg") && svg.ends_with("</svg>"));
        assert!(svg.contains("a &amp; b") && svg.contains("time &lt;s&gt;"));
        assert_eq!(svg.matches("<path").count(), 1);
        let bars = bar_chart("h", &x, &y, &[(0.0, 0.5, 1), (0.5, 1.0, 0)]);
        assert_eq!(
            bars.matches("<rect").count(),
            2,
            "frame + one non-empty bin"
        );
    }
}
