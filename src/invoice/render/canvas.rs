//! One PDF page being drawn: shaped text in the embedded fonts (left- or right-aligned, or
//! rotated for a watermark), filled rectangles and rules, in PDF points from the bottom-left
//! corner of an A4 page. It notes the glyphs it draws, for the fonts to embed. It knows
//! nothing about invoices.

use pdf_writer::types::TextRenderingMode;
use pdf_writer::{Content, Finish, Name, Str, TextStr};

use super::embed::{advance, resource_name, UsedGlyphs};
use super::shaping::{shape, GlyphRun, ShapedGlyph, ShapedText};
use super::typeface::{faces, Font};
use super::wrap::width;

/// A4 in points.
pub(crate) const PAGE_WIDTH: f32 = 595.28;
pub(crate) const PAGE_HEIGHT: f32 = 841.89;

/// An RGB colour, each channel 0–1.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Rgb(pub f32, pub f32, pub f32);

/// The palette shared by every page (the same as the HTML page's CSS).
pub(crate) const INK: Rgb = Rgb(0.102, 0.122, 0.212);
pub(crate) const MUTED: Rgb = Rgb(0.361, 0.392, 0.471);
pub(crate) const RULE: Rgb = Rgb(0.890, 0.910, 0.933);
pub(crate) const SOFT: Rgb = Rgb(0.965, 0.973, 0.980);

/// A text style: font, size and colour.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Style {
    pub font: Font,
    pub size: f32,
    pub color: Rgb,
}

impl Style {
    /// Regular text of `size` points in `color`.
    pub(crate) const fn regular(size: f32, color: Rgb) -> Style {
        Style { font: Font::Regular, size, color }
    }

    /// Bold text of `size` points in `color`.
    pub(crate) const fn bold(size: f32, color: Rgb) -> Style {
        Style { font: Font::Bold, size, color }
    }

    /// How wide `text` is in this style.
    pub(crate) fn width(&self, text: &str) -> f32 {
        width(text, self.font, self.size)
    }

    /// This style, made smaller if need be so that `text` is at most `room` wide: a figure
    /// near 10^15 still fits its column instead of running into the next one.
    pub(crate) fn fitted(self, text: &str, room: f32) -> Style {
        let wide = self.width(text);
        match wide > room && wide > 0.0 {
            true => Style { size: self.size * room / wide, ..self },
            false => self,
        }
    }
}

/// The drawing operations of one page.
pub(crate) struct Canvas {
    content: Content,
    used: UsedGlyphs,
    #[cfg(test)]
    placed: Vec<Placed>,
}

/// Where a line of upright text landed: its left edge, baseline, width and size in points.
#[cfg(test)]
#[derive(Debug, Clone)]
pub(crate) struct Placed {
    pub x: f32,
    pub y: f32,
    pub width: f32,
    pub size: f32,
    pub text: String,
}

#[cfg(test)]
impl Placed {
    /// Whether the two texts' boxes (ascender to descender, ink to ink) share any area.
    pub(crate) fn overlaps(&self, other: &Placed) -> bool {
        let span = |p: &Placed| (p.y - 0.25 * p.size, p.y + 0.75 * p.size);
        let ((bottom, top), (other_bottom, other_top)) = (span(self), span(other));
        let apart_across = self.x + self.width <= other.x || other.x + other.width <= self.x;
        let apart_down = top <= other_bottom || other_top <= bottom;
        !(apart_across || apart_down)
    }
}

impl Canvas {
    /// An empty page.
    pub(crate) fn new() -> Canvas {
        Canvas {
            content: Content::new(),
            used: UsedGlyphs::default(),
            #[cfg(test)]
            placed: Vec::new(),
        }
    }

    /// Draws `text` with its baseline starting at (`x`, `y`).
    pub(crate) fn text(&mut self, x: f32, y: f32, style: Style, text: &str) {
        let shaped = shape(text, style.font);
        #[cfg(test)]
        self.place(x, y, style, &shaped, text);
        self.draw([1.0, 0.0, 0.0, 1.0, x, y], style, &shaped);
    }

    /// Draws `text` so that it ends at `right`.
    pub(crate) fn text_right(&mut self, right: f32, y: f32, style: Style, text: &str) {
        let shaped = shape(text, style.font);
        let x = right - shaped.width() * style.size;
        #[cfg(test)]
        self.place(x, y, style, &shaped, text);
        self.draw([1.0, 0.0, 0.0, 1.0, x, y], style, &shaped);
    }

    #[cfg(test)]
    fn place(&mut self, x: f32, y: f32, style: Style, shaped: &ShapedText, text: &str) {
        let width = shaped.width() * style.size;
        self.placed.push(Placed { x, y, width, size: style.size, text: text.to_owned() });
    }

    /// The upright texts drawn so far, for checking that none runs into another.
    #[cfg(test)]
    pub(crate) fn placed(&self) -> &[Placed] {
        &self.placed
    }

    /// Draws `text` centred on (`x`, `y`) and turned `degrees` counter-clockwise.
    pub(crate) fn text_rotated(&mut self, x: f32, y: f32, degrees: f32, style: Style, text: &str) {
        let shaped = shape(text, style.font);
        let (sin, cos) = degrees.to_radians().sin_cos();
        let (half_width, half_height) = (shaped.width() * style.size / 2.0, style.size * 0.35);
        let origin_x = x - cos * half_width + sin * half_height;
        let origin_y = y - sin * half_width - cos * half_height;
        self.draw([cos, sin, -sin, cos, origin_x, origin_y], style, &shaped);
    }

    /// Draws `shaped` text along the baseline of `matrix` (the text's unit square). Glyphs that
    /// sit where their advances put them are shown together; a glyph that kerning, joining or
    /// mark placement moves starts a new showing at its exact place.
    fn draw(&mut self, matrix: [f32; 6], style: Style, shaped: &ShapedText) {
        let Rgb(r, g, b) = style.color;
        self.content.set_fill_rgb(r, g, b);
        self.content.begin_text();
        let mut pen = 0.0;
        for run in &shaped.runs {
            let synthetic_bold = style.font.synthetic_bold(run.face);
            if synthetic_bold {
                // A face without a bold cut: outline each glyph in its own colour as well.
                self.content.set_stroke_rgb(r, g, b).set_line_width(style.size * 0.035);
                self.content.set_text_rendering_mode(TextRenderingMode::FillStroke);
            }
            self.content.set_font(Name(resource_name(run.face).as_bytes()), style.size);
            if let Some(actual) = &run.actual_text {
                // Readers copy and search this text instead of the glyphs' own.
                let mut span = self.content.begin_marked_content_with_properties(Name(b"Span"));
                span.properties().actual_text(TextStr(actual));
                span.finish();
            }
            pen = self.show_run(run, matrix, style.size, pen);
            if run.actual_text.is_some() {
                self.content.end_marked_content();
            }
            if synthetic_bold {
                self.content.set_text_rendering_mode(TextRenderingMode::Fill);
            }
        }
        self.content.end_text();
    }

    /// Shows one run starting `pen` em along the baseline; returns where the pen ends.
    fn show_run(&mut self, run: &GlyphRun, matrix: [f32; 6], size: f32, mut pen: f32) -> f32 {
        let typeface = &faces()[run.face];
        let mut pending: Vec<u8> = Vec::new();
        let mut in_place = false;
        for glyph in &run.glyphs {
            self.used.record(run.face, glyph.id, glyph.text.as_deref(), glyph.exact);
            let natural = advance(typeface, glyph.id) / 1000.0;
            if !(in_place && is_unmoved(glyph)) {
                self.flush(&mut pending);
                let [a, b, c, d, e, f] = matrix;
                let (x, y) = ((pen + glyph.x_offset) * size, glyph.y_offset * size);
                self.content.set_text_matrix([a, b, c, d, e + a * x + c * y, f + b * x + d * y]);
            }
            pending.extend_from_slice(&glyph.id.to_be_bytes());
            // The next glyph follows on from this one only if the reader will put it there.
            in_place = is_unmoved(glyph) && (glyph.advance - natural).abs() < 1e-4;
            pen += glyph.advance;
        }
        self.flush(&mut pending);
        pen
    }

    fn flush(&mut self, pending: &mut Vec<u8>) {
        if !pending.is_empty() {
            self.content.show(Str(pending));
            pending.clear();
        }
    }

    /// Fills the rectangle whose bottom-left corner is (`x`, `y`).
    pub(crate) fn fill(&mut self, x: f32, y: f32, width: f32, height: f32, color: Rgb) {
        let Rgb(r, g, b) = color;
        self.content.set_fill_rgb(r, g, b);
        self.content.rect(x, y, width, height);
        self.content.fill_nonzero();
    }

    /// Draws a horizontal rule from `x1` to `x2` at height `y`.
    pub(crate) fn rule(&mut self, x1: f32, x2: f32, y: f32, thickness: f32, color: Rgb) {
        let Rgb(r, g, b) = color;
        self.content.set_stroke_rgb(r, g, b);
        self.content.set_line_width(thickness);
        self.content.move_to(x1, y);
        self.content.line_to(x2, y);
        self.content.stroke();
    }

    /// The page's content stream and the glyphs it draws.
    pub(crate) fn finish(self) -> (Vec<u8>, UsedGlyphs) {
        (self.content.finish().into_vec(), self.used)
    }
}

fn is_unmoved(glyph: &ShapedGlyph) -> bool {
    glyph.x_offset == 0.0 && glyph.y_offset == 0.0
}
