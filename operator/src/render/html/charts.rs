//! The page's charts, drawn here as inline SVG: failing findings by severity and by namespace.

use std::collections::HashMap;
use std::io::Write;

use super::escape::Esc;
use super::{CHART_NAMESPACES, SEVERITIES};

/// Horizontal bars, one per severity.
pub(super) fn severity_chart(out: &mut impl Write, counts: [u32; 4]) -> std::io::Result<()> {
    const WIDTH: f64 = 520.0;
    const LABEL: f64 = 80.0;
    const ROW: f64 = 34.0;
    let bar_area = WIDTH - LABEL - 50.0;
    let max = counts.iter().copied().max().unwrap_or(0).max(1);
    let height = ROW * 4.0 + 8.0;
    let total: u32 = counts.iter().sum();
    writeln!(
        out,
        "<svg id=\"chart-severity\" class=\"chart-svg\" viewBox=\"0 0 {WIDTH} {height}\" role=\"img\" \
         aria-label=\"{total} failing findings by severity\">"
    )?;
    for (i, (severity, count)) in SEVERITIES.iter().zip(counts).enumerate() {
        let s = severity.as_str();
        let y = 8.0 + ROW * i as f64;
        let w = bar_area * f64::from(count) / f64::from(max);
        writeln!(
            out,
            "<g class=\"bar\" data-severity=\"{s}\"><title>{s}: {count} failing findings</title>\
             <text class=\"label\" x=\"{lx}\" y=\"{ty:.1}\" text-anchor=\"end\">{s}</text>\
             <rect class=\"fill-{s}\" x=\"{LABEL}\" y=\"{y:.1}\" width=\"{w:.1}\" height=\"22\" rx=\"3\"/>\
             <text class=\"value\" x=\"{vx:.1}\" y=\"{ty:.1}\">{count}</text></g>",
            lx = LABEL - 8.0,
            ty = y + 16.0,
            vx = LABEL + w + 6.0,
        )?;
    }
    writeln!(out, "</svg>")
}

/// Stacked bars, one per namespace (worst first; cluster-scoped subjects as one more), at most
/// [`CHART_NAMESPACES`]; the rest are summed in one line of text, so that they do not dwarf the bars.
pub(super) fn namespace_chart(
    out: &mut impl Write,
    namespaces: &[(&str, [u32; 4])],
    scores: &HashMap<&str, u8>,
) -> std::io::Result<()> {
    const WIDTH: f64 = 520.0;
    const LABEL: f64 = 150.0;
    const ROW: f64 = 28.0;
    const LEGEND: f64 = 28.0;
    if namespaces.is_empty() {
        return writeln!(out, "<p id=\"chart-namespace\" class=\"empty\">No failing findings.</p>");
    }
    let (bars, rest) = namespaces.split_at(namespaces.len().min(CHART_NAMESPACES));
    let bar_area = WIDTH - LABEL - 50.0;
    let max = bars.iter().map(|(_, c)| c.iter().sum::<u32>()).max().unwrap_or(0).max(1);
    let lines = bars.len() + usize::from(!rest.is_empty());
    let height = LEGEND + ROW * lines as f64 + 4.0;
    writeln!(
        out,
        "<svg id=\"chart-namespace\" class=\"chart-svg\" viewBox=\"0 0 {WIDTH} {height}\" role=\"img\" \
         aria-label=\"Failing findings by namespace\">"
    )?;
    for (i, severity) in SEVERITIES.iter().enumerate() {
        let x = LABEL + 90.0 * i as f64;
        writeln!(
            out,
            "<rect class=\"fill-{s}\" x=\"{x}\" y=\"6\" width=\"12\" height=\"12\" rx=\"2\"/>\
             <text class=\"legend\" x=\"{tx}\" y=\"16\">{s}</text>",
            s = severity.as_str(),
            tx = x + 17.0,
        )?;
    }
    for (i, (namespace, counts)) in bars.iter().enumerate() {
        let y = LEGEND + ROW * i as f64;
        let total: u32 = counts.iter().sum();
        let (label, class, tooltip) = match (*namespace, scores.get(namespace)) {
            ("", _) => ("cluster-scoped".to_string(), "label cluster", "cluster-scoped subjects".to_string()),
            (ns, Some(score)) => (shorten(ns, 18), "label", format!("{ns} (namespace score {score})")),
            (ns, None) => (shorten(ns, 18), "label", ns.to_string()),
        };
        let breakdown: Vec<String> = SEVERITIES.iter().zip(counts).map(|(s, n)| format!("{n} {s}")).collect();
        write!(
            out,
            "<g class=\"bar\" data-namespace=\"{}\"><title>{}: {}</title>\
             <text class=\"{class}\" x=\"{lx}\" y=\"{ty:.1}\" text-anchor=\"end\">{}</text>",
            Esc(namespace),
            Esc(&tooltip),
            breakdown.join(", "),
            Esc(&label),
            lx = LABEL - 8.0,
            ty = y + 15.0,
        )?;
        let mut x = LABEL;
        for (severity, count) in SEVERITIES.iter().zip(counts) {
            if *count == 0 {
                continue;
            }
            let w = bar_area * f64::from(*count) / f64::from(max);
            write!(
                out,
                "<rect class=\"fill-{}\" x=\"{x:.1}\" y=\"{y:.1}\" width=\"{w:.1}\" height=\"20\"/>",
                severity.as_str()
            )?;
            x += w;
        }
        writeln!(out, "<text class=\"value\" x=\"{:.1}\" y=\"{:.1}\">{total}</text></g>", x + 6.0, y + 15.0)?;
    }
    if !rest.is_empty() {
        let total: u32 = rest.iter().flat_map(|(_, c)| c).sum();
        writeln!(
            out,
            "<text class=\"label cluster\" x=\"{LABEL}\" y=\"{:.1}\">and {} more namespaces: {total} failing findings</text>",
            LEGEND + ROW * bars.len() as f64 + 15.0,
            rest.len(),
        )?;
    }
    writeln!(out, "</svg>")
}

/// At most `max` characters, with an ellipsis when cut.
pub(super) fn shorten(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_string();
    }
    text.chars().take(max - 1).chain(std::iter::once('…')).collect()
}
