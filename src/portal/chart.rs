//! Charts drawn by the server as inline SVG (DESIGN §11: no script, no CDN): a bar chart of
//! daily usage and a quota/budget progress bar. Pure: values in, SVG text out. Geometry is
//! computed in `Decimal` and rounded to tenths of a unit — no floating point.

use std::fmt::Write;

use rust_decimal::prelude::ToPrimitive;
use rust_decimal::Decimal;

/// Room under the bars for axis labels, in SVG units.
const AXIS: i64 = 16;

/// The drawing area of a chart, in SVG units. An SVG keeps its aspect ratio and scales with
/// its container, so a chart's units should be about its width in pixels for its labels to
/// stay legible.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Frame {
    width: i64,
    height: i64,
    class: &'static str,
}

impl Frame {
    /// A chart in a dashboard card: about a card's width on a phone or a desktop.
    pub(crate) const CARD: Frame = Frame { width: 300, height: 120, class: "chart" };
    /// A chart across a page: twice as wide; the stylesheet enlarges its labels on a phone,
    /// where it is drawn at half size.
    pub(crate) const WIDE: Frame = Frame { width: 600, height: 160, class: "chart wide" };
}

/// One bar: its axis label, its value, and the text a pointer or screen reader gets.
pub(crate) struct Bar {
    pub label: String,
    pub value: Decimal,
    pub title: String,
}

/// One stacked bar: its axis label, one value per series (bottom first), and its text.
pub(crate) struct Stack {
    pub label: String,
    pub parts: Vec<Decimal>,
    pub title: String,
}

/// A bar chart of `bars`, described by `description` for assistive technology. Every seventh
/// label is printed (none that would run off the right edge) so 31 days stay legible at
/// 375 px.
pub(crate) fn bar_chart(bars: &[Bar], description: &str) -> String {
    let stacks: Vec<Stack> =
        bars.iter().map(|b| Stack { label: b.label.clone(), parts: vec![b.value], title: b.title.clone() }).collect();
    stacked_chart(Frame::CARD, &stacks, 7, description)
}

/// A stacked bar chart: series `i` of every stack is drawn in class `s{i}` (coloured by the
/// stylesheet), the tallest stack fills the height, and every `label_every`-th label is
/// printed.
pub(crate) fn stacked_chart(frame: Frame, stacks: &[Stack], label_every: usize, description: &str) -> String {
    let Frame { width, height, class } = frame;
    let mut svg = format!(
        r#"<svg class="{class}" viewBox="0 0 {width} {height}" role="img" aria-label="{}">"#,
        escape(description)
    );
    let baseline = height - AXIS;
    let _ = write!(svg, r#"<line class="axis" x1="0" y1="{baseline}" x2="{width}" y2="{baseline}"/>"#);
    let height_of = |s: &Stack| s.parts.iter().fold(Decimal::ZERO, |sum, p| sum.saturating_add(*p));
    let max = stacks.iter().map(height_of).max().filter(|m| *m > Decimal::ZERO);
    let count = i64::try_from(stacks.len()).unwrap_or(i64::MAX).max(1);
    let slot = Decimal::from(width) / Decimal::from(count);
    let scale = |value: Decimal| max.map_or(Decimal::ZERO, |m| value * Decimal::from(baseline - 4) / m);
    // Where the last label printed ends: a label starting before it would print over it (a
    // month of hours puts 24 bars under one label's width).
    let mut free_from = Decimal::ZERO;
    for (i, stack) in stacks.iter().enumerate() {
        let x = slot * Decimal::from(i) + slot / Decimal::TEN;
        let (left, w) = (tenths(x), tenths(slot * Decimal::new(8, 1)));
        let mut top = Decimal::from(baseline);
        let _ = write!(svg, "<g><title>{}</title>", escape(&stack.title));
        for (series, part) in stack.parts.iter().enumerate() {
            let height = scale(*part);
            top -= height;
            let (y, h) = (tenths(top), tenths(height));
            let _ = write!(svg, r#"<rect class="bar s{series}" x="{left}" y="{y}" width="{w}" height="{h}"/>"#);
        }
        svg.push_str("</g>");
        if i % label_every.max(1) == 0 && x >= free_from && fits(frame, x, &stack.label) {
            let _ = write!(svg, r#"<text class="tick" x="{left}" y="{}">{}</text>"#, height - 5, escape(&stack.label));
            free_from = x + label_width(frame, &stack.label);
        }
    }
    svg.push_str("</svg>");
    svg
}

/// Whether a label starting at `x` ends short of the right edge (about 6 units a character
/// at the tick's 11 units, twice that for a wide chart's labels on a phone, and a margin).
fn fits(frame: Frame, x: Decimal, label: &str) -> bool {
    x + label_width(frame, label) <= Decimal::from(frame.width)
}

/// A label's width with its margin, in the chart's units (see [`fits`]).
fn label_width(frame: Frame, label: &str) -> Decimal {
    let per_char: i64 = if frame.width > Frame::CARD.width { 11 } else { 6 };
    let chars = i64::try_from(label.chars().count()).unwrap_or(i64::MAX / 12);
    Decimal::from(per_char.saturating_mul(chars).saturating_add(12))
}

/// How full a quota is, in whole percent (rounded down), 0 for a zero limit.
pub(crate) fn percent_used(used: Decimal, limit: Decimal) -> u32 {
    if limit <= Decimal::ZERO {
        return 0;
    }
    (used * Decimal::ONE_HUNDRED / limit).floor().to_u32().unwrap_or(u32::MAX)
}

/// A horizontal bar filled to `percent` (capped at 100), marked `over` past 100 %.
pub(crate) fn progress_bar(percent: u32, description: &str) -> String {
    let class = if percent >= 100 {
        "fill over"
    } else if percent >= 80 {
        "fill near"
    } else {
        "fill"
    };
    horizontal_bar(percent, class, description)
}

/// A horizontal bar comparing a part with the largest one (`percent` of it): neutral, as a
/// large share is not a warning.
pub(crate) fn share_bar(percent: u32, description: &str) -> String {
    horizontal_bar(percent, "fill share", description)
}

fn horizontal_bar(percent: u32, class: &str, description: &str) -> String {
    let fill = percent.min(100);
    format!(
        r#"<svg class="progress" viewBox="0 0 100 8" preserveAspectRatio="none" role="img" aria-label="{}"><rect class="track" x="0" y="0" width="100" height="8" rx="4"/><rect class="{class}" x="0" y="0" width="{fill}" height="8" rx="4"/></svg>"#,
        escape(description)
    )
}

/// `value` rounded to one decimal, as SVG text.
fn tenths(value: Decimal) -> String {
    value.round_dp(1).normalize().to_string()
}

/// Text for SVG content and attributes.
fn escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bar(label: &str, value: i64) -> Bar {
        Bar { label: label.into(), value: Decimal::from(value), title: format!("{label}: {value}") }
    }

    #[test]
    fn the_tallest_bar_fills_the_height_and_the_others_scale_to_it() {
        let svg = bar_chart(&[bar("1", 10), bar("2", 5), bar("3", 0)], "Invocations per day");
        assert!(svg.contains(r#"aria-label="Invocations per day""#), "{svg}");
        assert!(svg.contains(r#"x="10" y="4" width="80" height="100""#), "the tallest: {svg}");
        assert!(svg.contains(r#"x="110" y="54" width="80" height="50""#), "half: {svg}");
        assert!(svg.contains(r#"x="210" y="104" width="80" height="0""#), "zero: {svg}");
        assert!(svg.contains("<title>2: 5</title>"), "each bar says its value: {svg}");
        assert_eq!(svg.matches("<rect").count(), 3);
    }

    #[test]
    fn an_empty_or_all_zero_chart_draws_flat_bars_without_dividing_by_zero() {
        assert!(bar_chart(&[], "none").starts_with("<svg"));
        assert!(bar_chart(&[bar("1", 0)], "zero").contains(r#"height="0""#));
    }

    #[test]
    fn labels_never_print_over_one_another() {
        // A month of hours, labelled every 24th bar: 31 labels of 12 characters in 600 units.
        let stacks: Vec<Stack> = (0..744)
            .map(|h| Stack {
                label: format!("{:>2} Dec 00:00", h / 24 + 1),
                parts: vec![Decimal::ONE],
                title: String::new(),
            })
            .collect();
        let svg = stacked_chart(Frame::WIDE, &stacks, 24, "Invocations by hour");
        let starts: Vec<Decimal> = svg
            .match_indices(r#"<text class="tick" x=""#)
            .map(|(at, tag)| {
                let rest = &svg[at + tag.len()..];
                rest[..rest.find('"').unwrap()].parse().unwrap()
            })
            .collect();
        assert!(starts.len() > 1, "some labels print: {svg}");
        let width = label_width(Frame::WIDE, "01 Dec 00:00");
        for pair in starts.windows(2) {
            assert!(pair[1] - pair[0] >= width, "a label at {} overprints the one at {}", pair[1], pair[0]);
        }
    }

    #[test]
    fn every_seventh_day_but_the_last_few_is_labelled_and_labels_are_escaped() {
        let bars: Vec<Bar> = (0..15).map(|i| bar(&format!("<{i}>"), i)).collect();
        let svg = bar_chart(&bars, "a \"quoted\" chart");
        assert_eq!(svg.matches("<text").count(), 2, "days 0 and 7; 14 is too close to the edge");
        assert!(svg.contains("&lt;7&gt;") && svg.contains("a &quot;quoted&quot; chart"));
    }

    #[test]
    fn stacked_parts_sit_on_each_other_and_the_tallest_stack_fills_the_height() {
        let stack = |label: &str, parts: &[i64]| Stack {
            label: label.into(),
            parts: parts.iter().map(|p| Decimal::from(*p)).collect(),
            title: label.into(),
        };
        let svg = stacked_chart(Frame::CARD, &[stack("a", &[3, 1]), stack("b", &[2, 0])], 1, "by function");
        assert!(svg.contains(r#"class="bar s0" x="15" y="29" width="120" height="75""#), "{svg}");
        assert!(svg.contains(r#"class="bar s1" x="15" y="4" width="120" height="25""#), "on top: {svg}");
        assert!(svg.contains(r#"class="bar s0" x="165" y="54" width="120" height="50""#), "{svg}");
        assert_eq!(svg.matches("<text").count(), 2, "short labels fit: {svg}");
    }

    #[test]
    fn a_progress_bar_is_capped_at_full_and_marked_over_its_limit() {
        assert_eq!(percent_used(Decimal::from(50), Decimal::from(200)), 25);
        assert_eq!(percent_used(Decimal::from(1), Decimal::ZERO), 0);
        assert!(progress_bar(25, "x").contains(r#"class="fill" x="0" y="0" width="25""#));
        assert!(progress_bar(85, "x").contains(r#"class="fill near""#));
        assert!(progress_bar(150, "x").contains(r#"class="fill over" x="0" y="0" width="100""#));
        assert!(share_bar(95, "x").contains(r#"class="fill share" x="0" y="0" width="95""#), "never a warning");
    }
}
