//! One PDF page being drawn: text in the two Helvetica fonts (left- or right-aligned, or
//! rotated for a watermark), filled rectangles and rules, in PDF points from the bottom-left
//! corner of an A4 page. It knows nothing about invoices.

use pdf_writer::{Content, Name, Str};

use super::helvetica::{encode, Font};

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
        self.font.width(text, self.size)
    }
}

/// The drawing operations of one page.
pub(crate) struct Canvas {
    content: Content,
}

impl Canvas {
    /// An empty page.
    pub(crate) fn new() -> Canvas {
        Canvas { content: Content::new() }
    }

    /// Draws `text` with its baseline starting at (`x`, `y`).
    pub(crate) fn text(&mut self, x: f32, y: f32, style: Style, text: &str) {
        self.text_matrix([1.0, 0.0, 0.0, 1.0, x, y], style, text);
    }

    /// Draws `text` so that it ends at `right`.
    pub(crate) fn text_right(&mut self, right: f32, y: f32, style: Style, text: &str) {
        self.text(right - style.width(text), y, style, text);
    }

    /// Draws `text` centred on (`x`, `y`) and turned `degrees` counter-clockwise.
    pub(crate) fn text_rotated(&mut self, x: f32, y: f32, degrees: f32, style: Style, text: &str) {
        let (sin, cos) = degrees.to_radians().sin_cos();
        let (half_width, half_height) = (style.width(text) / 2.0, style.size * 0.35);
        let origin_x = x - cos * half_width + sin * half_height;
        let origin_y = y - sin * half_width - cos * half_height;
        self.text_matrix([cos, sin, -sin, cos, origin_x, origin_y], style, text);
    }

    fn text_matrix(&mut self, matrix: [f32; 6], style: Style, text: &str) {
        let Rgb(r, g, b) = style.color;
        self.content.set_fill_rgb(r, g, b);
        self.content.begin_text();
        self.content.set_font(Name(style.font.resource_name()), style.size);
        self.content.set_text_matrix(matrix);
        self.content.show(Str(&encode(text)));
        self.content.end_text();
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

    /// The page's content stream.
    pub(crate) fn finish(self) -> Vec<u8> {
        self.content.finish().into_vec()
    }
}
