//! Breaking long text (descriptions, names, addresses) into lines that fit a column, measured
//! as the PDF sets it.

use unicode_segmentation::UnicodeSegmentation;

use super::shaping::shape;
use super::typeface::Font;

/// How wide `text` is in `font` at `size` points.
pub(crate) fn width(text: &str, font: Font, size: f32) -> f32 {
    shape(text, font).width() * size
}

/// Breaks `text` into lines no wider than `max_width` at `size`, at spaces; a word longer
/// than a line is cut where it overflows, between user-perceived characters (never between a
/// letter and its marks).
pub(crate) fn wrap(text: &str, font: Font, size: f32, max_width: f32) -> Vec<String> {
    let mut lines: Vec<String> = Vec::new();
    let mut current = String::new();
    for word in text.split_whitespace() {
        let candidate = if current.is_empty() { word.to_owned() } else { format!("{current} {word}") };
        if width(&candidate, font, size) <= max_width {
            current = candidate;
            continue;
        }
        if !current.is_empty() {
            lines.push(std::mem::take(&mut current));
        }
        for character in word.graphemes(true) {
            let before = current.len();
            current.push_str(character);
            if width(&current, font, size) > max_width && before > 0 {
                current.truncate(before);
                lines.push(std::mem::replace(&mut current, character.to_owned()));
            }
        }
    }
    if !current.is_empty() || lines.is_empty() {
        lines.push(current);
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_text_wraps_at_spaces_and_overlong_words_are_cut() {
        let lines = wrap("Memory usage of the image resizing function", Font::Regular, 10.0, 100.0);
        assert!(lines.len() > 1);
        assert!(lines.iter().all(|l| width(l, Font::Regular, 10.0) <= 100.0), "{lines:?}");
        assert_eq!(lines.join(" "), "Memory usage of the image resizing function");
        let cut = wrap(&"x".repeat(60), Font::Regular, 10.0, 100.0);
        assert!(cut.len() > 1 && cut.iter().all(|l| width(l, Font::Regular, 10.0) <= 100.0));
        assert_eq!(wrap("", Font::Regular, 10.0, 100.0), vec![String::new()]);
    }

    #[test]
    fn text_without_spaces_in_another_script_is_cut_to_fit_too() {
        let name = "深圳市腾讯计算机系统有限公司深圳市腾讯计算机系统有限公司";
        let lines = wrap(name, Font::Bold, 10.0, 120.0);
        assert!(lines.len() > 1 && lines.iter().all(|l| width(l, Font::Bold, 10.0) <= 120.0), "{lines:?}");
        assert_eq!(lines.concat(), name);
        let marked = "सेवाएँ".repeat(12);
        let lines = wrap(&marked, Font::Regular, 10.0, 60.0);
        let marks = ['\u{947}', '\u{93E}', '\u{901}'];
        assert!(
            lines.len() > 1 && lines.iter().all(|line| !line.starts_with(marks)),
            "no line starts with a mark: {lines:?}"
        );
        assert_eq!(lines.concat(), marked);
    }
}
