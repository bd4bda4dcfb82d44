//! A small hand-written SVG line chart with log-log axes: enough for the
//! chains' time per task against chain length, no plotting crate.

use std::fmt::Write as _;

/// Width of the picture.
const WIDTH: f64 = 960.0;
/// Height of the picture.
const HEIGHT: f64 = 540.0;
/// The plot area: left, top, right, bottom.
const PLOT: (f64, f64, f64, f64) = (90.0, 80.0, 600.0, 460.0);
/// Extra room around the data on the x axis, in decades.
const X_PAD: f64 = 0.15;
/// Extra room around the data on the y axis, in decades.
const Y_PAD: f64 = 0.3;

/// How a series' points are drawn.
#[derive(Clone, Copy, PartialEq)]
pub enum Marker {
    /// A filled circle (measured).
    Filled,
    /// A hollow circle (estimated).
    Hollow,
}

/// One line of the chart.
pub struct Series {
    /// The legend's text.
    pub name: String,
    /// (x, y) points, x ascending; both positive.
    pub points: Vec<(f64, f64)>,
    /// Where the line starts before the first point, unmarked (an
    /// estimate going on from the last measured point of another series).
    pub from: Option<(f64, f64)>,
    /// Stroke colour.
    pub color: &'static str,
    /// An SVG `stroke-dasharray`, for a dashed line.
    pub dash: Option<&'static str>,
    /// How points are marked.
    pub marker: Marker,
    /// Whether each point's value is written above it.
    pub labelled: bool,
}

/// A horizontal reference line across the plot.
pub struct HLine {
    /// The legend's text.
    pub name: String,
    /// Its height.
    pub y: f64,
    /// Stroke colour.
    pub color: &'static str,
}

/// A chart with log-log axes.
pub struct Chart {
    /// Title, on top.
    pub title: String,
    /// A line under the title (machine, date).
    pub subtitle: String,
    /// The x axis' label.
    pub x_label: String,
    /// The y axis' label.
    pub y_label: String,
    /// The lines, drawn in order (later ones on top).
    pub series: Vec<Series>,
    /// Reference lines.
    pub hlines: Vec<HLine>,
    /// Labels of x ticks and point values of y, from the value.
    pub x_format: fn(f64) -> String,
    /// Labels of y ticks and point values, from the value.
    pub y_format: fn(f64) -> String,
}

/// A log axis: the decades it spans, mapped onto a pixel range.
struct Axis {
    /// log10 of the lowest value shown.
    lo: f64,
    /// log10 of the highest value shown.
    hi: f64,
    /// Pixel of `lo`.
    from: f64,
    /// Pixel of `hi`.
    to: f64,
}

impl Axis {
    /// The pixel of `value`.
    fn pixel(&self, value: f64) -> f64 {
        self.from + (value.log10() - self.lo) / (self.hi - self.lo) * (self.to - self.from)
    }

    /// The powers of ten within the axis.
    fn decades(&self) -> impl Iterator<Item = f64> {
        let first = self.lo.ceil() as i32;
        let last = self.hi.floor() as i32;
        (first..=last).map(|k| 10f64.powi(k))
    }
}

/// The lowest and highest of `values` (positive), as log10.
fn log_range(values: impl Iterator<Item = f64>) -> (f64, f64) {
    values
        .filter(|v| *v > 0.0 && v.is_finite())
        .map(f64::log10)
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
            (lo.min(v), hi.max(v))
        })
}

/// Escapes text for SVG.
fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// The chart as an SVG document.
pub fn svg(chart: &Chart) -> String {
    let (left, top, right, bottom) = PLOT;
    let points = || chart.series.iter().flat_map(|s| s.points.iter().copied());
    let (x_lo, x_hi) = log_range(points().map(|(x, _)| x));
    let (y_lo, y_hi) = log_range(
        points()
            .map(|(_, y)| y)
            .chain(chart.hlines.iter().map(|h| h.y)),
    );
    let x = Axis {
        lo: x_lo - X_PAD,
        hi: x_hi + X_PAD,
        from: left,
        to: right,
    };
    let (y_lo, y_hi) = (y_lo - Y_PAD, y_hi + Y_PAD);
    let y = Axis {
        // At least one power of ten on the axis.
        lo: if y_lo.ceil() > y_hi.floor() {
            y_lo.floor()
        } else {
            y_lo
        },
        hi: y_hi,
        from: bottom,
        to: top,
    };
    let mut out = String::new();
    let _ = writeln!(
        out,
        r##"<?xml version="1.0" encoding="UTF-8"?>
<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" viewBox="0 0 {WIDTH} {HEIGHT}" font-family="sans-serif" font-size="12">
<rect width="100%" height="100%" fill="white"/>
<text x="{}" y="30" text-anchor="middle" font-size="17" font-weight="bold">{}</text>
<text x="{}" y="52" text-anchor="middle" fill="#555">{}</text>"##,
        WIDTH / 2.0,
        escape(&chart.title),
        WIDTH / 2.0,
        escape(&chart.subtitle)
    );
    grid(&mut out, chart, &x, &y);
    for line in &chart.hlines {
        let py = y.pixel(line.y);
        let _ = writeln!(
            out,
            r#"<line x1="{left}" y1="{py:.1}" x2="{right}" y2="{py:.1}" stroke="{}" stroke-width="1.5" stroke-dasharray="2 4"/>"#,
            line.color
        );
    }
    for series in &chart.series {
        plot_series(&mut out, chart, series, &x, &y);
    }
    legend(&mut out, chart);
    out.push_str("</svg>\n");
    out
}

/// Grid lines, ticks, tick labels, the frame and the axis labels.
fn grid(out: &mut String, chart: &Chart, x: &Axis, y: &Axis) {
    let (left, top, right, bottom) = PLOT;
    for value in x.decades() {
        let px = x.pixel(value);
        let _ = writeln!(
            out,
            r##"<line x1="{px:.1}" y1="{top}" x2="{px:.1}" y2="{bottom}" stroke="#e3e3e3"/>
<text x="{px:.1}" y="{}" text-anchor="middle">{}</text>"##,
            bottom + 18.0,
            escape(&(chart.x_format)(value))
        );
    }
    for value in y.decades() {
        let py = y.pixel(value);
        let _ = writeln!(
            out,
            r##"<line x1="{left}" y1="{py:.1}" x2="{right}" y2="{py:.1}" stroke="#e3e3e3"/>
<text x="{}" y="{:.1}" text-anchor="end">{}</text>"##,
            left - 8.0,
            py + 4.0,
            escape(&(chart.y_format)(value))
        );
    }
    let _ = writeln!(
        out,
        r##"<rect x="{left}" y="{top}" width="{}" height="{}" fill="none" stroke="#333"/>
<text x="{}" y="{}" text-anchor="middle" font-size="13">{}</text>
<text x="22" y="{}" text-anchor="middle" font-size="13" transform="rotate(-90 22 {})">{}</text>"##,
        right - left,
        bottom - top,
        (left + right) / 2.0,
        bottom + 42.0,
        escape(&chart.x_label),
        (top + bottom) / 2.0,
        (top + bottom) / 2.0,
        escape(&chart.y_label)
    );
}

/// One series: its line, markers and value labels.
fn plot_series(out: &mut String, chart: &Chart, series: &Series, x: &Axis, y: &Axis) {
    let path: Vec<String> = series
        .from
        .iter()
        .chain(&series.points)
        .map(|&(px, py)| format!("{:.1},{:.1}", x.pixel(px), y.pixel(py)))
        .collect();
    let dash = dash_attribute(series);
    let _ = writeln!(
        out,
        r#"<polyline points="{}" fill="none" stroke="{}" stroke-width="2"{dash}/>"#,
        path.join(" "),
        series.color
    );
    for &(vx, vy) in &series.points {
        let (px, py) = (x.pixel(vx), y.pixel(vy));
        let _ = writeln!(out, "{}", marker(series, px, py));
        if series.labelled {
            let _ = writeln!(
                out,
                r#"<text x="{px:.1}" y="{:.1}" text-anchor="middle" fill="{}">{}</text>"#,
                py - 10.0,
                series.color,
                escape(&value_label(chart, series, vy))
            );
        }
    }
}

/// The label of a point of `series` at height `value`: estimates start
/// with "≈".
fn value_label(chart: &Chart, series: &Series, value: f64) -> String {
    let text = (chart.y_format)(value);
    match series.marker {
        Marker::Filled => text,
        Marker::Hollow => format!("≈{text}"),
    }
}

/// The marker of a point of `series` at pixel (`px`, `py`).
fn marker(series: &Series, px: f64, py: f64) -> String {
    let fill = match series.marker {
        Marker::Filled => series.color,
        Marker::Hollow => "white",
    };
    format!(
        r#"<circle cx="{px:.1}" cy="{py:.1}" r="5" fill="{fill}" stroke="{}" stroke-width="2"/>"#,
        series.color
    )
}

/// The SVG attribute drawing `series` dashed, if it is.
fn dash_attribute(series: &Series) -> String {
    series
        .dash
        .map(|d| format!(r#" stroke-dasharray="{d}""#))
        .unwrap_or_default()
}

/// The legend, right of the plot.
fn legend(out: &mut String, chart: &Chart) {
    let (_, top, right, _) = PLOT;
    let x0 = right + 24.0;
    let mut row = top + 10.0;
    for series in &chart.series {
        let dash = dash_attribute(series);
        let _ = writeln!(
            out,
            r#"<line x1="{x0}" y1="{row}" x2="{}" y2="{row}" stroke="{}" stroke-width="2"{dash}/>
{}
<text x="{}" y="{}">{}</text>"#,
            x0 + 36.0,
            series.color,
            marker(series, x0 + 18.0, row),
            x0 + 46.0,
            row + 4.0,
            escape(&series.name)
        );
        row += 26.0;
    }
    for line in &chart.hlines {
        let _ = writeln!(
            out,
            r#"<line x1="{x0}" y1="{row}" x2="{}" y2="{row}" stroke="{}" stroke-width="1.5" stroke-dasharray="2 4"/>
<text x="{}" y="{}">{}</text>"#,
            x0 + 36.0,
            line.color,
            x0 + 46.0,
            row + 4.0,
            escape(&line.name)
        );
        row += 26.0;
    }
}
