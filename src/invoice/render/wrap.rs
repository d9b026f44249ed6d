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
/// letter and its marks). Each word (or character of a cut word) is shaped once and lines are
/// filled by adding widths, so a long text costs one shaping per word, not per candidate line.
pub(crate) fn wrap(text: &str, font: Font, size: f32, max_width: f32) -> Vec<String> {
    let space = width(" ", font, size);
    let mut lines: Vec<String> = Vec::new();
    let (mut line, mut line_width) = (String::new(), 0.0);
    for piece in pieces(text, font, size, max_width) {
        let gap = if line.is_empty() || piece.glued { 0.0 } else { space };
        if !line.is_empty() && line_width + gap + piece.width > max_width {
            lines.push(std::mem::take(&mut line));
            line_width = 0.0;
        } else if gap > 0.0 {
            line.push(' ');
            line_width += gap;
        }
        line.push_str(piece.text);
        line_width += piece.width;
    }
    if !line.is_empty() || lines.is_empty() {
        lines.push(line);
    }
    lines
}

/// What lines are filled with: a word, or one character of a word too wide for a line.
struct Piece<'t> {
    text: &'t str,
    width: f32,
    /// Follows the piece before it without a space (the rest of a cut word).
    glued: bool,
}

fn pieces(text: &str, font: Font, size: f32, max_width: f32) -> Vec<Piece<'_>> {
    let mut pieces = Vec::new();
    for word in text.split_whitespace() {
        let word_width = width(word, font, size);
        if word_width <= max_width {
            pieces.push(Piece { text: word, width: word_width, glued: false });
            continue;
        }
        for (at, character) in word.graphemes(true).enumerate() {
            pieces.push(Piece { text: character, width: width(character, font, size), glued: at > 0 });
        }
    }
    pieces
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

    #[test]
    fn a_cut_word_continues_on_the_next_line_and_the_next_word_keeps_its_space() {
        let lines = wrap(&format!("{} end", "x".repeat(30)), Font::Regular, 10.0, 100.0);
        assert!(lines.len() >= 2, "{lines:?}");
        assert!(lines.last().is_some_and(|last| last.ends_with(" end") || last == "end"), "{lines:?}");
        assert_eq!(lines.concat().replace(' ', ""), format!("{}end", "x".repeat(30)));
    }
}
