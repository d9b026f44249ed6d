//! The fonts the invoice PDF embeds (DESIGN §7: names in any script print). Noto Sans sets
//! Latin, Greek and Cyrillic; the Noto faces of other scripts, Droid Sans Fallback (Chinese and
//! Japanese) and the Hangul of Noto Sans CJK KR take each character Noto Sans lacks. They are compiled into the binary
//! (`assets/fonts/`, hinting stripped; see its README), parsed once, and embedded in a PDF
//! only as the subset of glyphs that PDF draws.

use std::sync::OnceLock;

/// The weight a piece of text is set in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Font {
    Regular,
    Bold,
}

/// An embedded font face, by its place in [`faces`].
pub(crate) type FaceId = usize;

/// One embedded font face.
pub(crate) struct Typeface {
    /// The PostScript name the PDF gives it (before the subset tag).
    pub name: &'static str,
    /// The font file.
    pub data: &'static [u8],
    /// The parsed face, for glyph lookup and shaping.
    pub face: rustybuzz::Face<'static>,
}

macro_rules! embedded {
    ($($name:literal),* $(,)?) => {
        [$(($name, include_bytes!(concat!("../../../assets/fonts/", $name, ".ttf")).as_slice())),*]
    };
}

/// The embedded font files, by PostScript name. The order is the order of preference.
const EMBEDDED: [(&str, &[u8]); 20] = embedded![
    "NotoSans-Regular",
    "NotoSans-Bold",
    "NotoSansHebrew-Regular",
    "NotoSansHebrew-Bold",
    "NotoSansArabic-Regular",
    "NotoSansArabic-Bold",
    "NotoSansDevanagari-Regular",
    "NotoSansDevanagari-Bold",
    "NotoSansBengali-Regular",
    "NotoSansBengali-Bold",
    "NotoSansTamil-Regular",
    "NotoSansTamil-Bold",
    "NotoSansThai-Regular",
    "NotoSansThai-Bold",
    "NotoSansArmenian-Regular",
    "NotoSansArmenian-Bold",
    "NotoSansGeorgian-Regular",
    "NotoSansGeorgian-Bold",
    "DroidSansFallbackFull",
    "NotoSansCJKkr-Hangul",
];

/// The faces from here on have no bold cut: bold text in them is drawn with a stroked outline.
const REGULAR_ONLY: FaceId = 18;

/// Every embedded face, parsed on first use.
pub(crate) fn faces() -> &'static [Typeface] {
    static FACES: OnceLock<Vec<Typeface>> = OnceLock::new();
    FACES.get_or_init(|| {
        EMBEDDED
            .iter()
            .map(|&(name, data)| Typeface {
                name,
                data,
                // A file compiled into the binary and parsed by the tests: it cannot be malformed.
                face: rustybuzz::Face::from_slice(data, 0).expect("an embedded font parses"),
            })
            .collect()
    })
}

impl Font {
    /// The faces tried, in order, for a character set in this weight.
    pub(crate) fn fallbacks(self) -> impl Iterator<Item = FaceId> {
        let first = match self {
            Font::Regular => 0,
            Font::Bold => 1,
        };
        (first..REGULAR_ONLY).step_by(2).chain(REGULAR_ONLY..EMBEDDED.len())
    }

    /// Whether text of this weight in `face` must be emboldened by stroking its outline.
    pub(crate) fn synthetic_bold(self, face: FaceId) -> bool {
        self == Font::Bold && face >= REGULAR_ONLY
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_embedded_face_parses_and_each_weight_tries_its_own_cut_first() {
        assert_eq!(faces().len(), EMBEDDED.len());
        let regular: Vec<&str> = Font::Regular.fallbacks().map(|id| faces()[id].name).collect();
        let bold: Vec<&str> = Font::Bold.fallbacks().map(|id| faces()[id].name).collect();
        assert_eq!(regular.first(), Some(&"NotoSans-Regular"));
        assert_eq!(bold.first(), Some(&"NotoSans-Bold"));
        assert!(regular.iter().skip(1).all(|name| !name.ends_with("-Bold")), "{regular:?}");
        assert!(bold.iter().all(|name| !name.ends_with("-Regular")), "{bold:?}");
        let last_resorts = ["DroidSansFallbackFull", "NotoSansCJKkr-Hangul"];
        assert!(regular.ends_with(&last_resorts), "the faces without a bold cut come last: {regular:?}");
        assert!(bold.ends_with(&last_resorts), "{bold:?}");
    }

    #[test]
    fn only_the_face_without_a_bold_cut_is_emboldened_by_stroking() {
        assert!(Font::Bold.synthetic_bold(REGULAR_ONLY) && Font::Bold.synthetic_bold(REGULAR_ONLY + 1));
        assert!(!Font::Regular.synthetic_bold(REGULAR_ONLY));
        assert!(!Font::Bold.synthetic_bold(1));
    }
}
