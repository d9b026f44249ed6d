//! What a PDF embeds of one face: the font file cut down to a set of glyphs (outlines of the
//! others removed, glyph ids kept), compressed, with the glyphs' widths and their ToUnicode
//! map. Cutting and compressing a face costs milliseconds, so the set every Latin invoice
//! draws from — Noto Sans's ASCII, Latin-1 and invoice punctuation — is prepared once per
//! process and shared by every PDF whose Latin text stays inside it; other text is cut to
//! exactly the glyphs drawn.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use pdf_writer::types::{SystemInfo, UnicodeCmap};
use pdf_writer::{Name, Str};

use super::embed::{advance, EmbedError, GlyphText};
use super::typeface::{faces, FaceId, Typeface};

/// The character collection of every embedded font: glyph ids, no registry of their own.
pub(crate) const IDENTITY: SystemInfo =
    SystemInfo { registry: Str(b"Adobe"), ordering: Str(b"Identity"), supplement: 0 };

/// One face as embedded: its subset's name, widths (1/1000 em, by glyph id), the compressed
/// font file and the ToUnicode map.
pub(crate) struct FontProgram {
    pub name: String,
    pub widths: Vec<(u16, f32)>,
    pub file: Vec<u8>,
    pub to_unicode: Vec<u8>,
}

/// The faces with a shared common subset: Noto Sans Regular and Bold.
const LATIN_FACES: usize = 2;

/// The characters of the common subset besides printable ASCII and Latin-1.
const INVOICE_PUNCTUATION: &str = "–—‘’‚“”„…•·×−€‹›";

impl FontProgram {
    /// The program for `glyphs` of `face`: the shared common subset when it holds them all,
    /// else a subset of exactly these glyphs.
    pub(crate) fn for_glyphs(face: FaceId, glyphs: &BTreeMap<u16, GlyphText>) -> Result<Shared, EmbedError> {
        if let Some(common) = common(face) {
            let holds = |glyph: &u16| common.widths.binary_search_by_key(glyph, |(id, _)| *id).is_ok();
            if glyphs.keys().all(holds) {
                return Ok(Shared::Common(common));
            }
        }
        let texts = glyphs.iter().map(|(&glyph, known)| (glyph, known.text.clone())).collect();
        Ok(Shared::Own(FontProgram::cut(&faces()[face], &texts)?))
    }

    fn cut(typeface: &Typeface, glyphs: &BTreeMap<u16, Option<String>>) -> Result<FontProgram, EmbedError> {
        let ids: Vec<u16> = glyphs.keys().copied().collect();
        let font_file = subsetter::subset(typeface.data, 0, subsetter::Profile::pdf(&ids))
            .map_err(|error| EmbedError::new(typeface.name, error.to_string()))?;
        let mut to_unicode = UnicodeCmap::new(Name(b"Tally-UTF16"), IDENTITY);
        for (&glyph, text) in glyphs {
            if let Some(text) = text.as_deref().filter(|text| !text.is_empty()) {
                to_unicode.pair_with_multiple(glyph, text.chars());
            }
        }
        Ok(FontProgram {
            name: format!("{}+{}", subset_tag(typeface.name, &ids), typeface.name),
            widths: ids.iter().map(|&glyph| (glyph, advance(typeface, glyph))).collect(),
            file: miniz_oxide::deflate::compress_to_vec_zlib(&font_file, 6),
            to_unicode: to_unicode.finish().into_vec(),
        })
    }
}

/// A program shared by every PDF, or one made for this PDF.
pub(crate) enum Shared {
    Common(&'static FontProgram),
    Own(FontProgram),
}

impl std::ops::Deref for Shared {
    type Target = FontProgram;

    fn deref(&self) -> &FontProgram {
        match self {
            Shared::Common(program) => program,
            Shared::Own(program) => program,
        }
    }
}

/// The common subset of a Latin face, prepared on first use (`None` for other faces, or if
/// it could not be cut: every PDF then cuts its own).
fn common(face: FaceId) -> Option<&'static FontProgram> {
    static COMMON: [OnceLock<Option<FontProgram>>; LATIN_FACES] = [OnceLock::new(), OnceLock::new()];
    let slot = COMMON.get(face)?;
    slot.get_or_init(|| {
        let typeface = &faces()[face];
        let characters = (' '..='~').chain('\u{A0}'..='\u{FF}').chain(INVOICE_PUNCTUATION.chars());
        let mut glyphs: BTreeMap<u16, Option<String>> = BTreeMap::new();
        for ch in characters {
            if let Some(glyph) = typeface.face.glyph_index(ch) {
                // A glyph two characters share is named by the first.
                glyphs.entry(glyph.0).or_insert_with(|| Some(ch.to_string()));
            }
        }
        glyphs.entry(0).or_insert(None);
        FontProgram::cut(typeface, &glyphs).ok()
    })
    .as_ref()
}

/// The six capital letters PDF puts before a subset font's name, from the face and the glyphs
/// it holds (different subsets get different names, as readers expect).
fn subset_tag(face: &str, glyphs: &[u16]) -> String {
    let ids = glyphs.iter().flat_map(|glyph| glyph.to_be_bytes());
    let mut hash = crate::domain::fnv1a(face.bytes().chain(ids));
    (0..6)
        .map(|_| {
            let letter = char::from(b'A' + (hash % 26) as u8);
            hash /= 26;
            letter
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn used(glyphs: &[u16]) -> BTreeMap<u16, GlyphText> {
        glyphs.iter().map(|&glyph| (glyph, GlyphText::default())).collect()
    }

    fn glyph(face: FaceId, ch: char) -> u16 {
        faces()[face].face.glyph_index(ch).expect("a glyph").0
    }

    #[test]
    fn latin_text_shares_the_common_subset_and_other_text_gets_its_own() {
        let latin = used(&[glyph(0, 'A'), glyph(0, 'é'), glyph(0, '€')]);
        assert!(matches!(FontProgram::for_glyphs(0, &latin), Ok(Shared::Common(_))));
        let cyrillic = used(&[glyph(0, 'A'), glyph(0, 'Ж')]);
        let own = FontProgram::for_glyphs(0, &cyrillic).expect("cut");
        assert!(matches!(own, Shared::Own(_)));
        assert_eq!(
            own.widths.iter().map(|(id, _)| *id).collect::<Vec<_>>(),
            cyrillic.keys().copied().collect::<Vec<_>>()
        );
        let japanese = used(&[glyph(18, '株')]);
        assert!(matches!(FontProgram::for_glyphs(18, &japanese), Ok(Shared::Own(_))), "no common subset");
    }

    #[test]
    fn the_common_subset_names_each_glyph_by_its_character_and_stays_small() {
        let common = common(0).expect("Noto Sans has a common subset");
        let text = String::from_utf8_lossy(&common.to_unicode).into_owned();
        assert!(text.contains(&format!("<{:04X}> <0041>", glyph(0, 'A'))), "{text}");
        assert!(text.contains(&format!("<{:04X}> <20AC>", glyph(0, '€'))), "{text}");
        assert!(common.file.len() < 60_000, "the common subset stays small: {} bytes", common.file.len());
    }

    #[test]
    fn different_subsets_get_different_tags_of_six_capitals() {
        let tag = subset_tag("NotoSans-Regular", &[36]);
        assert_ne!(tag, subset_tag("NotoSans-Regular", &[36, 37]), "other glyphs");
        assert_ne!(tag, subset_tag("NotoSans-Bold", &[36]), "another face");
        assert!(tag.chars().all(|c| c.is_ascii_uppercase()) && tag.len() == 6);
    }
}
