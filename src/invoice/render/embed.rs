//! Embedding the fonts a PDF draws with: for each face, a Type 0 font over a TrueType CID font
//! whose character ids are the face's glyph ids (Identity-H, Identity CID-to-GID), with its
//! [`FontProgram`] (the font file cut down to the glyphs drawn, and a ToUnicode map, so text
//! copies, searches and reads aloud as written).

use std::collections::BTreeMap;

use pdf_writer::types::{CidFontType, FontFlags};
use pdf_writer::{Filter, Finish, Name, Pdf, Rect, Ref};

use super::font_program::{FontProgram, IDENTITY};
use super::typeface::{faces, FaceId, Typeface};

/// The text a glyph stands for, and whether it is exactly that glyph's character.
#[derive(Debug, Default, Clone, PartialEq)]
pub(crate) struct GlyphText {
    pub text: Option<String>,
    pub exact: bool,
}

/// The glyphs a document draws, per face, each with the text it stands for (if known).
#[derive(Debug, Default)]
pub(crate) struct UsedGlyphs {
    faces: BTreeMap<FaceId, BTreeMap<u16, GlyphText>>,
}

impl UsedGlyphs {
    /// Notes that `glyph` of `face` is drawn, standing for `text` (`exact`ly, or as part of a
    /// shaped cluster). A PDF maps each glyph to one text: an exact one wins, else the first.
    /// The missing-glyph box (glyph 0) stands for no text: it is drawn for every character the
    /// face lacks, so no one of them may name it.
    pub(crate) fn record(&mut self, face: FaceId, glyph: u16, text: Option<&str>, exact: bool) {
        let text = text.filter(|_| glyph != 0);
        let slot = self.faces.entry(face).or_default().entry(glyph).or_default();
        if text.is_some() && (slot.text.is_none() || (exact && !slot.exact)) {
            *slot = GlyphText { text: text.map(str::to_owned), exact };
        }
    }

    /// Adds what another page drew.
    pub(crate) fn merge(&mut self, other: UsedGlyphs) {
        for (face, glyphs) in other.faces {
            for (glyph, known) in glyphs {
                self.record(face, glyph, known.text.as_deref(), known.exact);
            }
        }
    }
}

/// The name a face has in each page's resource dictionary.
pub(crate) fn resource_name(face: FaceId) -> String {
    format!("F{face}")
}

/// Why a font could not be embedded.
#[derive(Debug, thiserror::Error)]
#[error("the embedded font {name} could not be subset: {reason}")]
pub struct EmbedError {
    name: &'static str,
    reason: String,
}

impl EmbedError {
    pub(crate) fn new(name: &'static str, reason: String) -> EmbedError {
        EmbedError { name, reason }
    }
}

/// Writes every used face as font objects numbered from `next` on; returns each face's font
/// reference.
pub(crate) fn write_fonts(
    pdf: &mut Pdf,
    used: &UsedGlyphs,
    mut next: i32,
) -> Result<BTreeMap<FaceId, Ref>, EmbedError> {
    let mut refs = BTreeMap::new();
    for (&face, glyphs) in &used.faces {
        let [type0, cid, descriptor, file, cmap] = std::array::from_fn(|offset| Ref::new(next + offset as i32));
        next += 5;
        let typeface = &faces()[face];
        let program = FontProgram::for_glyphs(face, glyphs)?;
        let name = Name(program.name.as_bytes());
        pdf.type0_font(type0)
            .base_font(name)
            .encoding_predefined(Name(b"Identity-H"))
            .descendant_font(cid)
            .to_unicode(cmap);
        let mut cid_font = pdf.cid_font(cid);
        cid_font
            .subtype(CidFontType::Type2)
            .base_font(name)
            .system_info(IDENTITY)
            .font_descriptor(descriptor)
            .default_width(0.0)
            .cid_to_gid_map_predefined(Name(b"Identity"));
        let mut widths = cid_font.widths();
        for &(glyph, width) in &program.widths {
            widths.consecutive(glyph, [width]);
        }
        widths.finish();
        cid_font.finish();
        write_descriptor(pdf, descriptor, file, typeface, &program.name);
        pdf.stream(file, &program.file).filter(Filter::FlateDecode);
        pdf.cmap(cmap, &program.to_unicode);
        refs.insert(face, type0);
    }
    Ok(refs)
}

/// A glyph's advance in the PDF's glyph space (1/1000 em): what `W` says and what the page
/// content's positions assume.
pub(crate) fn advance(typeface: &Typeface, glyph: u16) -> f32 {
    let units = typeface.face.glyph_hor_advance(rustybuzz::ttf_parser::GlyphId(glyph)).unwrap_or(0);
    thousandths(typeface, f32::from(units))
}

/// `units` of the face's em in the PDF's glyph space (1/1000 em).
fn thousandths(typeface: &Typeface, units: f32) -> f32 {
    units * 1000.0 / typeface.face.units_per_em() as f32
}

fn write_descriptor(pdf: &mut Pdf, descriptor: Ref, file: Ref, typeface: &Typeface, name: &str) {
    let face = &typeface.face;
    let scale = |units: i16| thousandths(typeface, f32::from(units));
    let bbox = face.global_bounding_box();
    let cap_height = face.capital_height().filter(|&height| height > 0).unwrap_or(face.ascender());
    pdf.font_descriptor(descriptor)
        .name(Name(name.as_bytes()))
        // Symbolic: the glyphs are addressed by id, not through a standard Latin encoding.
        .flags(FontFlags::SYMBOLIC)
        .bbox(Rect::new(scale(bbox.x_min), scale(bbox.y_min), scale(bbox.x_max), scale(bbox.y_max)))
        .italic_angle(0.0)
        .ascent(scale(face.ascender()))
        .descent(scale(face.descender()))
        .cap_height(scale(cap_height))
        .stem_v(if face.is_bold() { 120.0 } else { 80.0 })
        .font_file2(file);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_glyph_keeps_the_first_text_it_was_drawn_for_and_pages_merge() {
        let mut first = UsedGlyphs::default();
        first.record(0, 36, Some("A"), true);
        first.record(0, 36, Some("Ä"), true);
        first.record(0, 40, Some("कि"), false);
        let mut second = UsedGlyphs::default();
        second.record(0, 37, None, false);
        second.record(0, 37, Some("B"), true);
        second.record(0, 40, Some("क"), true);
        second.record(18, 100, Some("株"), true);
        first.merge(second);
        first.record(0, 0, Some("\u{10FFFD}"), false);
        let text = |face: FaceId, glyph: u16| first.faces[&face][&glyph].text.clone();
        assert_eq!(first.faces.keys().copied().collect::<Vec<_>>(), vec![0, 18]);
        assert_eq!(text(0, 36).as_deref(), Some("A"), "the first exact text stays");
        assert_eq!(text(0, 37).as_deref(), Some("B"), "a glyph first drawn without text takes the next");
        assert_eq!(text(0, 40).as_deref(), Some("क"), "a glyph's own character wins over its cluster");
        assert_eq!(text(0, 0), None, "the missing-glyph box stands for nothing");
    }
}
