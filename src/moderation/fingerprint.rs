//! What the picture blocklist compares pictures by: the PDQ hash of the whole picture and of
//! a few centre crops, and a coarse colour signature. Pure; the match table is in
//! `tests/api/picture_match.rs` and its figures in `docs/moderation.md`.
//!
//! * **PDQ** ([`super::pdq`]) survives re-encoding, resizing and brightness changes, but not
//!   cropping: a 3 % border crop moves a product shot 54-86 bits. A picture is therefore
//!   also hashed cut by each of [`CUTS`], and an upload matches a listed picture when its
//!   whole-picture hash is near any of the listed one's views: a crop of a few per cent is
//!   then never far from one of them.
//! * **Colour**: PDQ sees only where a picture is lighter or darker than its median, and
//!   product shots share one layout (the item lit in the middle of a plain backdrop), so a
//!   red ring and a green one, or a blue one and a black one, of the same shape can hash
//!   alike. The colour signature holds, per cell of an 8 × 8 grid, the mean chroma and the
//!   mean luminance relative to the picture's own (so that a brighter copy keeps it); two
//!   pictures whose worst cell differs by more than the colour threshold are other items.
//!
//! Every stored fingerprint carries [`VERSION`]: one computed by another revision of this
//! module is never compared with a current one (the blocklist is rehashed instead).

use image::DynamicImage;

use super::pdq::{Pdq, MIN_QUALITY};

/// The algorithm family, as stored in the blocklist's `algorithm` column.
pub const ALGORITHM: &str = "pdq";

/// This module's revision: PDQ's own, the cuts and the colour grid. Change it whenever a
/// change here would move a hash.
pub const VERSION: &str = "pdq-1/cuts-11.1/colour-8x8-1";

/// The cuts hashed besides the whole picture: fractions of the side taken off the left,
/// top, right and bottom. Centre crops of 1.5-8 % (so that a crop of up to 9 % is never more
/// than 0.75 % from one), 3 % off two opposite sides (the picture made squarer or longer)
/// and 4 % off a single side (a status bar or caption cut away).
pub const CUTS: [[f32; 4]; 11] = [
    [0.015; 4],
    [0.03; 4],
    [0.045; 4],
    [0.06; 4],
    [0.08; 4],
    [0.03, 0.0, 0.03, 0.0],
    [0.0, 0.03, 0.0, 0.03],
    [0.0, 0.04, 0.0, 0.0],
    [0.0, 0.0, 0.0, 0.04],
    [0.04, 0.0, 0.0, 0.0],
    [0.0, 0.0, 0.04, 0.0],
];

/// Pictures are hashed from a copy whose longest side is at most this (PDQ itself filters
/// at 512 px, so nothing is lost), which keeps the cuts cheap for a 40-megapixel upload.
const WORKING_SIDE: u32 = 512;

/// Cells per side of the colour grid.
const COLOUR_GRID: usize = 8;
const CELLS: usize = COLOUR_GRID * COLOUR_GRID;

/// Per grid cell, row-major: mean Cb, mean Cr (halved offsets from grey) and mean luminance
/// relative to the whole picture's.
pub type Colour = [[i8; 3]; CELLS];

/// One view of the picture (whole, or one of [`CUTS`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cut {
    pub hash: Pdq,
    pub colour: Colour,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Fingerprint {
    /// The whole picture; its PDQ is the hash other platforms exchange.
    pub whole: Cut,
    /// The picture cut by each of [`CUTS`], in that order; empty for an upload's own
    /// fingerprint ([`Fingerprint::of_image`]).
    pub cuts: Vec<Cut>,
}

/// How alike an upload is to a listed picture, at the listed view (whole or cut) nearest
/// to the upload.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Closeness {
    /// Hamming distance (of 256) from the upload's hash to the nearest view's.
    pub bits: u32,
    /// The largest colour difference of any grid cell between the two (0..=442).
    pub colour: u32,
    /// Both pictures have enough detail (PDQ quality) for their hashes to be relied on.
    pub trusted: bool,
}

impl Fingerprint {
    /// What every upload gets: the whole picture's view only (one PDQ, one colour grid).
    pub fn of_image(picture: &DynamicImage) -> Fingerprint {
        Fingerprint {
            whole: cut_of(&working_copy(picture)),
            cuts: Vec::new(),
        }
    }

    /// What a blocklisted picture gets: the whole picture and every one of [`CUTS`],
    /// twelve hashes, computed once when a moderator blocks it rather than for every upload.
    pub fn for_blocklist(picture: &DynamicImage) -> Fingerprint {
        let working = working_copy(picture);
        let (w, h) = (working.width() as f32, working.height() as f32);
        let cuts = CUTS
            .iter()
            .map(|[left, top, right, bottom]| {
                let (x, y) = ((w * left).round(), (h * top).round());
                let cw = (w - x - (w * right).round()).max(1.0);
                let ch = (h - y - (h * bottom).round()).max(1.0);
                cut_of(&working.crop_imm(x as u32, y as u32, cw as u32, ch as u32))
            })
            .collect();
        Fingerprint {
            whole: cut_of(&working),
            cuts,
        }
    }

    /// How close `self` (an upload, by its whole picture) comes to `listed` (a blocklisted
    /// picture, by whichever of its views is nearest).
    pub fn closeness(&self, listed: &Fingerprint) -> Closeness {
        let nearest = std::iter::once(&listed.whole)
            .chain(&listed.cuts)
            .map(|view| {
                (
                    self.whole.hash.distance(&view.hash),
                    colour_distance(&self.whole.colour, &view.colour),
                )
            })
            .min()
            .unwrap_or((256, 0));
        Closeness {
            bits: nearest.0,
            colour: nearest.1,
            trusted: self.whole.hash.quality >= MIN_QUALITY
                && listed.whole.hash.quality >= MIN_QUALITY,
        }
    }

    /// The stored form: every view (whole first, then [`CUTS`]) as its hash's 64 hex
    /// digits, its PDQ quality and its colour grid in hex, `hash:quality:colour`, joined by
    /// `;` (the version is stored beside it).
    pub fn encode(&self) -> String {
        let views: Vec<String> = std::iter::once(&self.whole)
            .chain(&self.cuts)
            .map(|view| {
                let colour: String = view
                    .colour
                    .iter()
                    .flatten()
                    .map(|v| format!("{:02x}", *v as u8))
                    .collect();
                format!("{}:{}:{colour}", view.hash.to_hex(), view.hash.quality)
            })
            .collect();
        views.join(";")
    }

    /// Parses [`Fingerprint::encode`]'s form; `None` for anything else.
    pub fn decode(text: &str) -> Option<Fingerprint> {
        let mut views = text
            .split(';')
            .map(|view| {
                let mut fields = view.split(':');
                let mut hash = Pdq::from_hex(fields.next()?)?;
                hash.quality = fields.next()?.parse().ok().filter(|q| *q <= 100)?;
                let colour_hex = fields.next()?.as_bytes();
                if fields.next().is_some() || colour_hex.len() != CELLS * 6 {
                    return None;
                }
                let mut colour = [[0i8; 3]; CELLS];
                for (cell, digits) in colour.iter_mut().zip(colour_hex.chunks_exact(6)) {
                    for (value, pair) in cell.iter_mut().zip(digits.chunks_exact(2)) {
                        *value =
                            u8::from_str_radix(std::str::from_utf8(pair).ok()?, 16).ok()? as i8;
                    }
                }
                Some(Cut { hash, colour })
            })
            .collect::<Option<Vec<_>>>()?;
        if views.len() != 1 && views.len() != CUTS.len() + 1 {
            return None;
        }
        let whole = views.remove(0);
        Some(Fingerprint { whole, cuts: views })
    }
}

fn working_copy(picture: &DynamicImage) -> DynamicImage {
    if picture.width().max(picture.height()) > WORKING_SIDE {
        DynamicImage::ImageRgb8(picture.thumbnail(WORKING_SIDE, WORKING_SIDE).to_rgb8())
    } else {
        DynamicImage::ImageRgb8(picture.to_rgb8())
    }
}

fn cut_of(view: &DynamicImage) -> Cut {
    Cut {
        hash: Pdq::of_image(view),
        colour: colour_signature(view),
    }
}

/// The largest difference of any cell, Euclidean over its three values.
fn colour_distance(a: &Colour, b: &Colour) -> u32 {
    a.iter()
        .zip(b)
        .map(|(x, y)| {
            let squares: f32 = x
                .iter()
                .zip(y)
                .map(|(p, q)| (f32::from(*p) - f32::from(*q)).powi(2))
                .sum();
            squares.sqrt().round() as u32
        })
        .max()
        .unwrap_or(0)
}

/// Per cell: mean Cb and Cr (BT.601, offset from grey, halved to fit an `i8`) and the
/// cell's mean luminance relative to the picture's (`64 · (cell / mean − 1)`), which a
/// uniformly brighter or darker copy keeps.
fn colour_signature(picture: &DynamicImage) -> Colour {
    // Views are RGB already (see `working_copy`): borrowed, not copied again.
    let converted;
    let rgb = match picture.as_rgb8() {
        Some(rgb) => rgb,
        None => {
            converted = picture.to_rgb8();
            &converted
        }
    };
    let (w, h) = (rgb.width().max(1) as usize, rgb.height().max(1) as usize);
    let mut sums = [[0f64; 4]; CELLS];
    for (x, y, px) in rgb.enumerate_pixels() {
        let cell = (y as usize * COLOUR_GRID / h) * COLOUR_GRID + x as usize * COLOUR_GRID / w;
        let [r, g, b] = px.0.map(f64::from);
        let s = &mut sums[cell];
        s[0] += -0.168_736 * r - 0.331_264 * g + 0.5 * b;
        s[1] += 0.5 * r - 0.418_688 * g - 0.081_312 * b;
        s[2] += 0.299 * r + 0.587 * g + 0.114 * b;
        s[3] += 1.0;
    }
    let means = sums.map(|[cb, cr, y, n]| {
        let n = n.max(1.0);
        [cb / n, cr / n, y / n]
    });
    let mean_luma = (means.iter().map(|m| m[2]).sum::<f64>() / CELLS as f64).max(1.0);
    let fit = |v: f64| v.round().clamp(-127.0, 127.0) as i8;
    means.map(|[cb, cr, y]| {
        [
            fit(cb / 2.0),
            fit(cr / 2.0),
            fit(64.0 * (y / mean_luma - 1.0)),
        ]
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::{Rgb, RgbImage};

    fn spot(colour: [u8; 3], radius: f32) -> DynamicImage {
        DynamicImage::ImageRgb8(RgbImage::from_fn(200, 160, |x, y| {
            let (dx, dy) = (x as f32 - 100.0, y as f32 - 80.0);
            let d = (dx * dx + dy * dy).sqrt();
            if d < radius {
                Rgb(colour)
            } else {
                let v = (230.0 - d * 0.6) as u8;
                Rgb([v, v, v.saturating_sub(4)])
            }
        }))
    }

    #[test]
    fn the_stored_form_reads_back_as_it_was() {
        let print = Fingerprint::for_blocklist(&spot([200, 40, 40], 40.0));
        let text = print.encode();
        assert_eq!(Fingerprint::decode(&text), Some(print));
        let upload = Fingerprint::of_image(&spot([200, 40, 40], 40.0));
        assert_eq!(Fingerprint::decode(&upload.encode()), Some(upload));
        assert_eq!(Fingerprint::decode(&text[..text.len() - 1]), None);
        assert_eq!(Fingerprint::decode(&format!("{text};")), None);
        assert_eq!(Fingerprint::decode(""), None);
    }

    #[test]
    fn the_same_shape_in_another_colour_differs_in_colour() {
        let red = Fingerprint::of_image(&spot([200, 40, 40], 40.0));
        let green = Fingerprint::of_image(&spot([40, 160, 60], 40.0));
        let same = red.closeness(&red);
        assert_eq!((same.bits, same.colour), (0, 0));
        let other = green.closeness(&red);
        assert!(other.colour > 60, "{other:?}");
    }
}
