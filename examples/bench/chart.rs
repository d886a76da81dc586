//! Line charts as SVG, with no dependency: the benchmark's plots.

use std::fmt::Write as _;

/// One line of a chart.
pub struct Series {
    pub name: String,
    pub color: &'static str,
    pub dashed: bool,
    /// One value per x label; `None` where it was not measured.
    pub values: Vec<Option<f64>>,
}

/// A chart of `series` over the `x` labels, the y axis linear from 0 or
/// logarithmic (for values spanning decades).
pub fn svg(
    title: &str,
    x: &[String],
    x_name: &str,
    y_name: &str,
    series: &[Series],
    log_y: bool,
) -> String {
    let (w, h, left, bottom, top, right) = (720.0, 420.0, 80.0, 50.0, 30.0, 20.0);
    let values = || {
        series
            .iter()
            .flat_map(|s| s.values.iter().flatten().copied())
    };
    let max = values().fold(f64::MIN, f64::max);
    let min = values().fold(f64::MAX, f64::min);
    // Decades that hold every value, or 0 to 110 % of the largest.
    let (low, high) = if log_y {
        (
            min.log10().floor(),
            max.log10().ceil().max(min.log10().floor() + 1.0),
        )
    } else {
        (0.0, max * 1.1)
    };
    let scale = |v: f64| if log_y { v.log10() } else { v };
    let px = |i: usize| left + (w - left - right) * i as f64 / (x.len() - 1).max(1) as f64;
    let py = |v: f64| h - bottom - (h - bottom - top) * (scale(v) - low) / (high - low);
    let mut out = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{h}\" font-family=\"sans-serif\" font-size=\"12\">\n\
         <rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n\
         <text x=\"{}\" y=\"18\" text-anchor=\"middle\" font-size=\"14\">{title}</text>\n\
         <line x1=\"{left}\" y1=\"{}\" x2=\"{}\" y2=\"{}\" stroke=\"black\"/>\n\
         <line x1=\"{left}\" y1=\"{top}\" x2=\"{left}\" y2=\"{}\" stroke=\"black\"/>\n",
        w / 2.0,
        h - bottom,
        w - right,
        h - bottom,
        h - bottom
    );
    let ticks: Vec<f64> = if log_y {
        (low as i32..=high as i32).map(|e| 10f64.powi(e)).collect()
    } else {
        (0..=4).map(|k| high * f64::from(k) / 4.0).collect()
    };
    for v in ticks {
        let label = if v >= 1.0 {
            format!("{v:.0}")
        } else {
            format!("{v}")
        };
        let _ = writeln!(
            out,
            "<text x=\"{}\" y=\"{:.1}\" text-anchor=\"end\">{label}</text>\n\
             <line x1=\"{left}\" y1=\"{:.1}\" x2=\"{}\" y2=\"{:.1}\" stroke=\"#ddd\"/>",
            left - 6.0,
            py(v) + 4.0,
            py(v),
            w - right,
            py(v)
        );
    }
    for (i, label) in x.iter().enumerate() {
        let _ = writeln!(
            out,
            "<text x=\"{:.1}\" y=\"{}\" text-anchor=\"middle\">{label}</text>",
            px(i),
            h - bottom + 18.0
        );
    }
    let _ = writeln!(
        out,
        "<text x=\"{}\" y=\"{}\" text-anchor=\"middle\">{x_name}</text>\n\
         <text x=\"16\" y=\"{}\" text-anchor=\"middle\" transform=\"rotate(-90 16 {})\">{y_name}</text>",
        (left + w - right) / 2.0,
        h - 10.0,
        (top + h - bottom) / 2.0,
        (top + h - bottom) / 2.0
    );
    for (k, s) in series.iter().enumerate() {
        let points: Vec<String> = s
            .values
            .iter()
            .enumerate()
            .filter_map(|(i, v)| v.map(|v| format!("{:.1},{:.1}", px(i), py(v))))
            .collect();
        let dash = if s.dashed {
            " stroke-dasharray=\"6 4\""
        } else {
            ""
        };
        let _ = writeln!(
            out,
            "<polyline points=\"{}\" fill=\"none\" stroke=\"{}\" stroke-width=\"2\"{dash}/>\n\
             <text x=\"{}\" y=\"{}\" fill=\"{}\">{}</text>",
            points.join(" "),
            s.color,
            left + 10.0,
            top + 16.0 * (k + 1) as f64,
            s.color,
            s.name
        );
    }
    out.push_str("</svg>\n");
    out
}
