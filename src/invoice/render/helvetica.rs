//! The two PDF base-14 fonts the invoice PDF uses (Helvetica and Helvetica-Bold): every PDF
//! reader has them, so nothing is embedded. Text is encoded as WinAnsi (Latin-1 plus the
//! typographic marks), and measured with Adobe's published AFM advance widths so amounts
//! can be right-aligned and long text wrapped. Characters outside WinAnsi print as `?`.

/// A font of the invoice PDF.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Font {
    Regular,
    Bold,
}

/// Advance widths (1/1000 em) of the printable ASCII characters 32..=126, from the AFM files.
const REGULAR: [u16; 95] = [
    278, 278, 355, 556, 556, 889, 667, 191, 333, 333, 389, 584, 278, 333, 278, 278, // space … /
    556, 556, 556, 556, 556, 556, 556, 556, 556, 556, 278, 278, 584, 584, 584, 556, // 0 … ?
    1015, 667, 667, 722, 722, 667, 611, 778, 722, 278, 500, 667, 556, 833, 722, 778, // @ … O
    667, 778, 722, 667, 611, 722, 667, 944, 667, 667, 611, 278, 278, 278, 469, 556, // P … _
    333, 556, 556, 500, 556, 556, 278, 556, 556, 222, 222, 500, 222, 833, 556, 556, // ` … o
    556, 556, 333, 500, 278, 556, 500, 722, 500, 500, 500, 334, 260, 334, 584, // p … ~
];
const BOLD: [u16; 95] = [
    278, 333, 474, 556, 556, 889, 722, 238, 333, 333, 389, 584, 278, 333, 278, 278, // space … /
    556, 556, 556, 556, 556, 556, 556, 556, 556, 556, 333, 333, 584, 584, 584, 611, // 0 … ?
    975, 722, 722, 722, 722, 667, 611, 778, 722, 278, 556, 722, 611, 833, 722, 778, // @ … O
    667, 778, 722, 667, 611, 722, 667, 944, 667, 667, 611, 333, 278, 333, 584, 556, // P … _
    333, 556, 611, 556, 611, 556, 333, 611, 611, 278, 278, 556, 278, 889, 611, 611, // ` … o
    611, 611, 389, 556, 333, 611, 556, 778, 556, 556, 500, 389, 280, 389, 584, // p … ~
];

/// WinAnsi codes 0x80..=0x9F that differ from Latin-1, with the character each stands for.
const WIN_ANSI_EXTRAS: [(char, u8); 27] = [
    ('€', 0x80),
    ('‚', 0x82),
    ('ƒ', 0x83),
    ('„', 0x84),
    ('…', 0x85),
    ('†', 0x86),
    ('‡', 0x87),
    ('ˆ', 0x88),
    ('‰', 0x89),
    ('Š', 0x8A),
    ('‹', 0x8B),
    ('Œ', 0x8C),
    ('Ž', 0x8E),
    ('‘', 0x91),
    ('’', 0x92),
    ('“', 0x93),
    ('”', 0x94),
    ('•', 0x95),
    ('–', 0x96),
    ('—', 0x97),
    ('˜', 0x98),
    ('™', 0x99),
    ('š', 0x9A),
    ('›', 0x9B),
    ('œ', 0x9C),
    ('ž', 0x9E),
    ('Ÿ', 0x9F),
];

impl Font {
    /// The PostScript name of the base-14 font.
    pub(crate) fn base_name(self) -> &'static [u8] {
        match self {
            Font::Regular => b"Helvetica",
            Font::Bold => b"Helvetica-Bold",
        }
    }

    /// The name of the font in each page's resource dictionary.
    pub(crate) fn resource_name(self) -> &'static [u8] {
        match self {
            Font::Regular => b"F1",
            Font::Bold => b"F2",
        }
    }

    /// The width of `text` at `size` points.
    pub(crate) fn width(self, text: &str, size: f32) -> f32 {
        let units: f32 = encode(text).into_iter().map(|code| f32::from(self.advance(code))).sum();
        units * size / 1000.0
    }

    /// The advance of one WinAnsi code. Outside ASCII the widths are close approximations
    /// (accented letters as wide as a typical letter of their case), enough for alignment.
    fn advance(self, code: u8) -> u16 {
        let table = match self {
            Font::Regular => &REGULAR,
            Font::Bold => &BOLD,
        };
        match code {
            32..=126 => table[usize::from(code - 32)],
            0x85 | 0x89 | 0x97 | 0x99 => 1000,
            0x95 => 350,
            0xA0 | 0xB7 => 278,
            0xD7 => 584,
            0xC0..=0xDE => 722,
            _ if self == Font::Bold => 611,
            _ => 556,
        }
    }
}

/// `text` in WinAnsiEncoding, one byte a character; `?` for characters it lacks. A minus
/// sign becomes a hyphen-minus.
pub(crate) fn encode(text: &str) -> Vec<u8> {
    text.chars().map(win_ansi).collect()
}

fn win_ansi(ch: char) -> u8 {
    let code = u32::from(ch);
    match code {
        0x20..=0x7E | 0xA0..=0xFF => u8::try_from(code).unwrap_or(b'?'),
        0x2212 => b'-',
        _ => WIN_ANSI_EXTRAS.iter().find(|(extra, _)| *extra == ch).map_or(b'?', |(_, byte)| *byte),
    }
}

/// Breaks `text` into lines no wider than `max_width` at `size`, at spaces; a word longer
/// than a line is cut where it overflows.
pub(crate) fn wrap(text: &str, font: Font, size: f32, max_width: f32) -> Vec<String> {
    let mut lines: Vec<String> = Vec::new();
    let mut current = String::new();
    for word in text.split_whitespace() {
        let candidate = if current.is_empty() { word.to_owned() } else { format!("{current} {word}") };
        if font.width(&candidate, size) <= max_width {
            current = candidate;
            continue;
        }
        if !current.is_empty() {
            lines.push(std::mem::take(&mut current));
        }
        for ch in word.chars() {
            current.push(ch);
            if font.width(&current, size) > max_width && current.chars().count() > 1 {
                current.pop();
                lines.push(std::mem::replace(&mut current, ch.to_string()));
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
    fn widths_follow_the_helvetica_metrics() {
        assert_eq!(Font::Regular.width("0", 10.0), 5.56);
        assert_eq!(Font::Regular.width("Wil", 1000.0), 944.0 + 222.0 + 222.0);
        assert_eq!(Font::Bold.width("Wil", 1000.0), 944.0 + 278.0 + 278.0);
        assert!(Font::Bold.width("Invoice", 12.0) > Font::Regular.width("Invoice", 12.0));
    }

    #[test]
    fn text_is_encoded_as_win_ansi_with_a_question_mark_for_what_it_lacks() {
        assert_eq!(encode("1 – 2 × 3 €"), b"1 \x96 2 \xD7 3 \x80");
        assert_eq!(encode("Müller"), b"M\xFCller");
        assert_eq!(encode("株式会社"), b"????");
        assert_eq!(encode("−5"), b"-5");
    }

    #[test]
    fn long_text_wraps_at_spaces_and_overlong_words_are_cut() {
        let lines = wrap("Memory usage of the image resizing function", Font::Regular, 10.0, 100.0);
        assert!(lines.len() > 1);
        assert!(lines.iter().all(|l| Font::Regular.width(l, 10.0) <= 100.0), "{lines:?}");
        assert_eq!(lines.join(" "), "Memory usage of the image resizing function");
        let cut = wrap(&"x".repeat(60), Font::Regular, 10.0, 100.0);
        assert!(cut.len() > 1 && cut.iter().all(|l| Font::Regular.width(l, 10.0) <= 100.0));
        assert_eq!(wrap("", Font::Regular, 10.0, 100.0), vec![String::new()]);
    }
}
