//! A line of text as the PDF draws it: laid out in visual order (Unicode bidi, so Hebrew and
//! Arabic read right to left inside a left-to-right invoice), cut into runs by the embedded
//! face that has each character, and shaped (rustybuzz: kerning, ligatures, Arabic joining,
//! Indic conjuncts and mark placement). Pure: no PDF, no IO.

use std::collections::HashMap;
use std::ops::Range;
use std::sync::{Arc, Mutex, OnceLock, PoisonError};

use rustybuzz::{Direction, Feature, Script, ShapePlan, UnicodeBuffer};
use unicode_bidi::ParagraphBidiInfo;

use super::typeface::{faces, FaceId, Font};

/// One glyph, with its position relative to the pen, in em.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ShapedGlyph {
    pub id: u16,
    /// How far the pen moves after this glyph.
    pub advance: f32,
    pub x_offset: f32,
    pub y_offset: f32,
    /// The characters this glyph stands for, for copying and searching the PDF.
    pub text: Option<String>,
    /// Whether `text` is exactly this glyph's character (the face maps that character to this
    /// glyph), not the whole cluster a reordered, joined or combined glyph belongs to.
    pub exact: bool,
}

/// Consecutive glyphs of one face.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct GlyphRun {
    pub face: FaceId,
    pub glyphs: Vec<ShapedGlyph>,
    /// The run's text as written, when reading its glyphs one by one would not give it:
    /// shaping reordered, combined or split its characters. Not for right-to-left runs:
    /// readers expect their glyphs in drawing order and put the text back in reading order
    /// themselves (poppler, pdf.js and Acrobat all do).
    pub actual_text: Option<String>,
}

/// A shaped line: its runs from left to right.
#[derive(Debug, Clone, PartialEq, Default)]
pub(crate) struct ShapedText {
    pub runs: Vec<GlyphRun>,
}

impl ShapedText {
    /// The advance of the whole line, in em.
    pub(crate) fn width(&self) -> f32 {
        self.runs.iter().flat_map(|run| &run.glyphs).map(|glyph| glyph.advance).sum()
    }
}

/// Shapes `text` (one line) in `font`.
pub(crate) fn shape(text: &str, font: Font) -> ShapedText {
    let mut runs = Vec::new();
    for (range, right_to_left) in visual_runs(text) {
        let mut pieces = itemize(&text[range.clone()], font);
        if right_to_left {
            // The pieces of a right-to-left run follow each other from right to left.
            pieces.reverse();
        }
        for (piece, face) in pieces {
            let start = range.start + piece.start;
            runs.push(shape_piece(&text[start..range.start + piece.end], face, right_to_left));
        }
    }
    ShapedText { runs }
}

/// The byte ranges of `text` in the order they are seen, each with whether it reads right to
/// left.
fn visual_runs(text: &str) -> Vec<(Range<usize>, bool)> {
    if text.is_empty() {
        return Vec::new();
    }
    let bidi = ParagraphBidiInfo::new(text, None);
    if !bidi.has_rtl() {
        return vec![(0..text.len(), false)];
    }
    let (levels, runs) = bidi.visual_runs(0..text.len());
    runs.into_iter().map(|run| (run.clone(), levels[run.start].is_rtl())).collect()
}

/// Cuts `text` into ranges each set in one face: every character in the first face of the
/// fallback chain that has it. Spaces, punctuation and combining marks stay in the face of the
/// text around them when it has them, so a run of Arabic or Thai is shaped as one.
fn itemize(text: &str, font: Font) -> Vec<(Range<usize>, FaceId)> {
    let mut pieces: Vec<(Range<usize>, FaceId)> = Vec::new();
    for (at, ch) in text.char_indices() {
        let current = pieces.last().map(|(_, face)| *face);
        let face = face_for(ch, font, current);
        match pieces.last_mut() {
            Some((range, last)) if *last == face => range.end = at + ch.len_utf8(),
            _ => pieces.push((at..at + ch.len_utf8(), face)),
        }
    }
    pieces
}

fn face_for(ch: char, font: Font, current: Option<FaceId>) -> FaceId {
    let has = |face: FaceId| faces()[face].face.glyph_index(ch).is_some();
    let preferred = font.fallbacks().find(|&face| has(face));
    match (current, preferred) {
        // Faces are numbered in order of preference: stay unless an earlier one has the letter.
        (Some(current), Some(preferred)) if has(current) && (!ch.is_alphanumeric() || current <= preferred) => current,
        (_, Some(preferred)) => preferred,
        // No face has it: it draws as the missing-glyph box of the face around it.
        (Some(current), None) => current,
        (None, None) => font.fallbacks().next().unwrap_or_default(),
    }
}

/// Shapes one piece of text in one face and direction; the glyphs come out left to right.
fn shape_piece(text: &str, face: FaceId, right_to_left: bool) -> GlyphRun {
    let typeface = &faces()[face].face;
    let mut buffer = UnicodeBuffer::new();
    buffer.push_str(text);
    buffer.guess_segment_properties();
    buffer.set_direction(if right_to_left { Direction::RightToLeft } else { Direction::LeftToRight });
    let plan = plan(face, buffer.direction(), buffer.script());
    let shaped = rustybuzz::shape_with_plan(typeface, &plan, buffer);
    let em = typeface.units_per_em() as f32;
    let mut glyphs: Vec<ShapedGlyph> = shaped
        .glyph_infos()
        .iter()
        .zip(shaped.glyph_positions())
        .map(|(info, position)| ShapedGlyph {
            id: u16::try_from(info.glyph_id).unwrap_or(0),
            advance: position.x_advance as f32 / em,
            x_offset: position.x_offset as f32 / em,
            y_offset: position.y_offset as f32 / em,
            text: None,
            exact: false,
        })
        .collect();
    let clusters: Vec<usize> = shaped.glyph_infos().iter().map(|info| info.cluster as usize).collect();
    let mut all_exact = true;
    for (range, indices) in clusters_of(text, &clusters) {
        all_exact &= name_glyphs(&text[range], indices, &mut glyphs, face, right_to_left);
    }
    let actual_text = (!right_to_left && !all_exact).then(|| text.to_owned());
    GlyphRun { face, glyphs, actual_text }
}

/// The shaping plan of a face, direction and script, compiled once per process: compiling
/// one looks up every feature of the face, several times the cost of shaping a name.
/// Standard ligatures are off ("fi" stays two letters, as invoices are read and searched);
/// the ligatures a script requires (Arabic lam-alef) are not standard ones and stay on.
fn plan(face: FaceId, direction: Direction, script: Script) -> Arc<ShapePlan> {
    type Plans = Mutex<HashMap<(FaceId, bool, Script), Arc<ShapePlan>>>;
    static PLANS: OnceLock<Plans> = OnceLock::new();
    let key = (face, direction == Direction::RightToLeft, script);
    let mut plans = PLANS.get_or_init(Plans::default).lock().unwrap_or_else(PoisonError::into_inner);
    let plan = plans.entry(key).or_insert_with(|| {
        let no_ligatures = Feature::new(rustybuzz::ttf_parser::Tag::from_bytes(b"liga"), 0, ..);
        Arc::new(ShapePlan::new(&faces()[face].face, direction, Some(script), None, &[no_ligatures]))
    });
    Arc::clone(plan)
}

/// Each cluster's text range and the indices of its glyphs (in drawing order). A cluster's
/// glyphs are consecutive (the shaper's default, monotone clusters), so one pass finds them.
fn clusters_of(text: &str, clusters: &[usize]) -> Vec<(Range<usize>, Range<usize>)> {
    let mut starts: Vec<usize> = clusters.to_vec();
    starts.sort_unstable();
    starts.dedup();
    let end_of = |start: usize| starts.get(starts.partition_point(|&s| s <= start)).copied().unwrap_or(text.len());
    let mut out = Vec::new();
    let mut first = 0;
    for chunk in clusters.chunk_by(|a, b| a == b) {
        let start = chunk[0];
        out.push((start..end_of(start), first..first + chunk.len()));
        first += chunk.len();
    }
    out
}

/// Gives the glyphs of one cluster their text: each its own character when the cluster is
/// drawn one glyph per character, in order, with the face's own glyph for each; otherwise the
/// whole cluster on its first glyph (Arabic joined forms and ligatures, Indic conjuncts).
/// Returns whether the cluster was exact.
fn name_glyphs(
    cluster: &str,
    indices: Range<usize>,
    glyphs: &mut [ShapedGlyph],
    face: FaceId,
    right_to_left: bool,
) -> bool {
    let mut logical: Vec<usize> = indices.collect();
    if right_to_left {
        logical.reverse();
    }
    let typeface = &faces()[face].face;
    let exact = cluster.chars().count() == logical.len()
        && cluster.chars().zip(&logical).all(|(ch, &index)| {
            typeface.glyph_index(ch).is_some_and(|glyph| glyph.0 == glyphs[index].id && glyph.0 != 0)
        });
    if exact {
        for (ch, &index) in cluster.chars().zip(&logical) {
            glyphs[index].text = Some(ch.to_string());
            glyphs[index].exact = true;
        }
    } else if let Some(&first) = logical.first() {
        // Right-to-left text is read glyph by glyph leftwards and then reversed by the
        // reader, so a ligature's letters are given in drawing order too.
        let text = if right_to_left { cluster.chars().rev().collect() } else { cluster.to_owned() };
        glyphs[first].text = Some(text);
    }
    exact
}

#[cfg(test)]
mod tests {
    use super::*;

    fn face_names(shaped: &ShapedText) -> Vec<&'static str> {
        shaped.runs.iter().map(|run| faces()[run.face].name).collect()
    }

    /// The text as a PDF reader gives it: a run's actual text, or its glyphs' texts in order.
    fn text_of(shaped: &ShapedText) -> String {
        let glyph_texts = |run: &GlyphRun| run.glyphs.iter().filter_map(|glyph| glyph.text.clone()).collect();
        shaped.runs.iter().map(|run| run.actual_text.clone().unwrap_or_else(|| glyph_texts(run))).collect()
    }

    fn no_missing_glyphs(shaped: &ShapedText) -> bool {
        shaped.runs.iter().flat_map(|run| &run.glyphs).all(|glyph| glyph.id != 0)
    }

    #[test]
    fn names_in_every_embedded_script_have_glyphs_and_read_back_as_written() {
        let names = [
            ("Müller & Søn GmbH", "NotoSans-Regular"),
            ("Ωμέγα Λτδ", "NotoSans-Regular"),
            ("ООО «Ромашка»", "NotoSans-Regular"),
            ("株式会社サンプル", "DroidSansFallbackFull"),
            ("북한산 주식회사", "NotoSansCJKkr-Hangul"),
            ("深圳市腾讯计算机系统有限公司", "DroidSansFallbackFull"),
            ("मुंबई सेवाएँ", "NotoSansDevanagari-Regular"),
            ("বাংলা", "NotoSansBengali-Regular"),
            ("தமிழ்", "NotoSansTamil-Regular"),
            ("บริษัท ไทย", "NotoSansThai-Regular"),
            ("Հայաստան", "NotoSansArmenian-Regular"),
            ("საქართველო", "NotoSansGeorgian-Regular"),
        ];
        for (name, face) in names {
            let shaped = shape(name, Font::Regular);
            assert!(no_missing_glyphs(&shaped), "{name} draws a missing-glyph box");
            assert_eq!(face_names(&shaped), vec![face], "{name} is one run in {face}");
            assert_eq!(text_of(&shaped), name, "{name} copies out as written");
        }
    }

    #[test]
    fn right_to_left_names_are_shaped_right_to_left_and_keep_their_logical_text() {
        let hebrew = shape("שלום בע״מ", Font::Regular);
        assert!(no_missing_glyphs(&hebrew));
        assert_eq!(face_names(&hebrew), vec!["NotoSansHebrew-Regular"]);
        let first_drawn = hebrew.runs[0].glyphs[0].text.clone();
        assert_eq!(first_drawn.as_deref(), Some("מ"), "the last letter is drawn leftmost");
        assert!(hebrew.runs[0].glyphs[0].exact, "a Hebrew letter is its own glyph");

        let arabic = shape("شركة", Font::Regular);
        assert!(no_missing_glyphs(&arabic));
        let run = &arabic.runs[0];
        let drawn_rightmost = run.glyphs.last().expect("glyphs");
        assert_eq!(drawn_rightmost.text.as_deref(), Some("ش"), "the first letter is drawn rightmost");
        let isolated = faces()[run.face].face.glyph_index('ش').map(|glyph| glyph.0);
        assert_ne!(Some(drawn_rightmost.id), isolated, "a joined letter takes its initial form, not its isolated one");
        let letters_drawn: String = "شركة".chars().rev().collect();
        assert_eq!(text_of(&arabic), letters_drawn, "each joined form stands for its letter, in drawing order");
        assert_eq!(text_of(&hebrew), "שלום בע״מ".chars().rev().collect::<String>());
        let lam_alef = shape("الأمل", Font::Regular);
        assert_eq!(lam_alef.runs[0].glyphs.len(), 4, "lam and alef join in their required ligature");
    }

    #[test]
    fn glyphs_drawn_one_per_character_name_their_character_and_need_no_actual_text() {
        let latin = shape("Acme Müller", Font::Regular);
        assert!(latin.runs.iter().all(|run| run.actual_text.is_none()));
        assert!(latin.runs[0]
            .glyphs
            .iter()
            .all(|glyph| glyph.exact && glyph.text.as_ref().is_some_and(|t| t.chars().count() == 1)));
        // The vowel sign ि is written after क but drawn before it.
        let reordered = shape("कि", Font::Regular);
        assert_eq!(reordered.runs[0].actual_text.as_deref(), Some("कि"));
        assert!(reordered.runs[0].glyphs.iter().all(|glyph| !glyph.exact));
    }

    #[test]
    fn latin_text_around_another_script_stays_in_noto_sans() {
        let shaped = shape("Acme 株式会社 Ltd", Font::Regular);
        assert_eq!(face_names(&shaped), vec!["NotoSans-Regular", "DroidSansFallbackFull", "NotoSans-Regular"]);
        assert_eq!(text_of(&shaped), "Acme 株式会社 Ltd");
        let mixed = shape("Invoice for שלום Ltd", Font::Bold);
        assert_eq!(face_names(&mixed), vec!["NotoSans-Bold", "NotoSansHebrew-Bold", "NotoSans-Bold"]);
    }

    #[test]
    fn bold_text_uses_the_bold_cuts_and_is_wider() {
        let regular = shape("Invoice", Font::Regular);
        let bold = shape("Invoice", Font::Bold);
        assert_eq!(face_names(&bold), vec!["NotoSans-Bold"]);
        assert!(bold.width() > regular.width());
    }

    #[test]
    fn standard_ligatures_are_off_so_every_letter_is_its_own_glyph() {
        let office = shape("office", Font::Regular);
        assert_eq!(office.runs[0].glyphs.len(), 6, "no ffi ligature");
        assert!(office.runs[0].glyphs.iter().all(|glyph| glyph.exact));
    }

    #[test]
    fn kerning_moves_glyphs_closer_than_their_advances() {
        let kerned = shape("AV", Font::Regular).width();
        let apart = shape("A", Font::Regular).width() + shape("V", Font::Regular).width();
        assert!(kerned < apart, "AV is kerned: {kerned} < {apart}");
    }

    #[test]
    fn a_character_no_face_has_draws_one_missing_glyph_and_empty_text_draws_nothing() {
        let shaped = shape("a\u{10FFFD}b", Font::Regular);
        let glyphs: Vec<u16> = shaped.runs.iter().flat_map(|run| &run.glyphs).map(|g| g.id).collect();
        assert_eq!(glyphs.iter().filter(|&&id| id == 0).count(), 1, "{glyphs:?}");
        assert_eq!(shape("", Font::Regular), ShapedText::default());
        assert_eq!(shape("", Font::Regular).width(), 0.0);
    }
}
