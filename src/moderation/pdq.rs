//! PDQ perceptual hash (256 bits plus a quality score), written from the published
//! description of Facebook's algorithm (facebook/ThreatExchange, `pdq/`); none of its code is
//! copied. Unlike the 64-bit dHash used before, PDQ hashes are what other platforms and
//! hash-sharing programmes exchange, so a hash computed here can be compared with theirs.
//!
//! # The algorithm
//!
//! 1. **Luminance**: `Y = 0.299 R + 0.587 G + 0.114 B` per pixel, as `f32` (greyscale pixels
//!    are used as they are; alpha is ignored).
//! 2. **Pre-reduction** (only when a side exceeds 512 px): each axis longer than 512 is
//!    reduced by the smallest integer factor that brings it to 512 or less, every output
//!    pixel the mean of the input block it covers. The reference reduces such images to
//!    512 × 512 before hashing too, because the full-size filter is costly; see
//!    "Differences from the reference" below.
//! 3. **Jarosz filter**: two rounds of a 1-D box filter along the rows, then along the
//!    columns (a box run twice is a tent). The window per axis is `ceil(len / 128)`, half
//!    the distance between two samples of the 64-wide grid, so the two rounds together
//!    cover one grid cell. Near the edges the window is clipped and the mean taken over
//!    the pixels it still covers.
//! 4. **Decimation** to 64 × 64: output cell `i` takes input sample
//!    `floor((i + 0.5) * len / 64)` on each axis (the cell's centre).
//! 5. **Quality**: the sum over all horizontal and vertical neighbour pairs of the 64 × 64
//!    grid of `|trunc((a - b) * 100 / 255)|`, divided by 90 and clamped to 0..=100. Flat,
//!    featureless pictures score low; their hashes are unreliable.
//! 6. **DCT**: `B = D · A · Dᵀ` with `D` the 16 × 64 matrix of DCT-II rows 1..=16
//!    (`D[i][j] = sqrt(2/64) · cos(π (i + 1)(2j + 1) / 128)`), i.e. the lowest 16 × 16
//!    frequencies without the DC row and column. Computed as two matrix products, 16 × 64
//!    then 16 × 16.
//! 7. **Bits**: bit `16 i + j` is set when `B[i][j]` is greater than the median of the 256
//!    coefficients (the 128th smallest), so a hash has about 128 bits set.
//!
//! Two hashes match when their Hamming distance is at most [`MATCH_DISTANCE`]; a hash whose
//! quality is below [`MIN_QUALITY`] should not be relied on (the reference's guidance).
//!
//! # Bit order and hex
//!
//! [`Pdq::bits`] is the hash as a 256-bit big-endian number in which bit `k` (value `2^k`)
//! is DCT coefficient `k = 16 i + j`: byte `31 - k / 8`, mask `1 << (k % 8)`. [`Pdq::to_hex`]
//! prints those bytes in order, which is exactly the reference's 64-digit hex form, so hex
//! strings from other PDQ implementations parse with [`Pdq::from_hex`] and compare directly.
//!
//! # Differences from the reference
//!
//! * Images larger than 512 px: the reference C++ tool stretches them to 512 × 512 with a
//!   nearest-neighbour resize (the Python one fits them into 512 × 512 with PIL's
//!   thumbnail), then hashes. Here each axis is box-averaged by an integer factor instead:
//!   an anti-aliased reduction that keeps the aspect ratio, costs one streaming pass and
//!   needs no full-size float buffer. The reference implementations themselves disagree by
//!   a few bits on such images; the tests bound the distance (see them for the numbers).
//! * Images with no side above 512 px go through exactly the reference's steps in the same
//!   `f32` arithmetic, so identical pixels give the reference's hash.
//! * Decoding is the caller's: JPEG decoders differ by a grey level here and there, which
//!   can flip a coefficient that sits right at the median.

use std::sync::OnceLock;

use image::DynamicImage;

/// The algorithm's name and revision, stored with every hash so a later change of algorithm
/// (or of the pre-reduction) is never compared against hashes of an older one.
pub const PDQ_VERSION: &str = "pdq-1";

/// The reference's guidance: two hashes at a Hamming distance of at most this match.
pub const MATCH_DISTANCE: u32 = 31;

/// The reference's guidance: a hash with a quality below this (0..=49) should be discarded,
/// the picture being too flat for its hash to mean much.
pub const MIN_QUALITY: u8 = 50;

/// Side of the decimated image the DCT runs on.
const GRID: usize = 64;
/// Side of the block of DCT coefficients kept.
const FREQS: usize = 16;
/// The reference hashes nothing smaller than this on either side (zero hash, quality 0).
const MIN_SIDE: usize = 5;
/// Sides longer than this are box-reduced before filtering.
const MAX_FILTERED_SIDE: usize = 512;
/// Rounds of (rows, columns) box filtering: two make a tent filter.
const JAROSZ_ROUNDS: usize = 2;

const LUMA_R: f32 = 0.299;
const LUMA_G: f32 = 0.587;
const LUMA_B: f32 = 0.114;

/// A PDQ hash: 256 bits and the quality (0..=100) of the picture they came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Pdq {
    /// The hash as a big-endian 256-bit number; bit `k` (value `2^k`) is DCT coefficient
    /// `k = 16 · row + column` (see the module documentation).
    pub bits: [u8; 32],
    /// 0..=100; below [`MIN_QUALITY`] the hash is unreliable. 0 when unknown.
    pub quality: u8,
}

impl Pdq {
    /// Hashes decoded pixels. RGB is converted to luminance, greyscale used as is, alpha
    /// ignored; other pixel formats (16-bit, float) are first converted to 8-bit RGB.
    /// EXIF orientation is the caller's business: pass the pixels upright.
    ///
    /// An image narrower or shorter than 5 px gets the all-zero hash with quality 0.
    pub fn of_image(img: &DynamicImage) -> Pdq {
        let width = img.width() as usize;
        let height = img.height() as usize;
        if width < MIN_SIDE || height < MIN_SIDE {
            return Pdq::unhashable();
        }
        let reduced = match img {
            DynamicImage::ImageLuma8(grey) => {
                let raw = grey.as_raw();
                reduce(width, height, |y, row| {
                    let src = &raw[y * width..(y + 1) * width];
                    for (dst, &v) in row.iter_mut().zip(src) {
                        *dst = f32::from(v);
                    }
                })
            }
            DynamicImage::ImageLumaA8(grey) => {
                let raw = grey.as_raw();
                reduce(width, height, |y, row| {
                    let src = &raw[y * width * 2..(y + 1) * width * 2];
                    for (dst, px) in row.iter_mut().zip(src.chunks_exact(2)) {
                        *dst = f32::from(px[0]);
                    }
                })
            }
            DynamicImage::ImageRgb8(rgb) => reduce_rgb(width, height, rgb.as_raw(), 3),
            DynamicImage::ImageRgba8(rgba) => reduce_rgb(width, height, rgba.as_raw(), 4),
            other => reduce_rgb(width, height, other.to_rgb8().as_raw(), 3),
        };
        hash_reduced(reduced)
    }

    /// The core: hashes a row-major `width × height` luminance image (values on the 0..=255
    /// scale). [`Pdq::of_image`] is this after the colour conversion, and gives the same
    /// hash for the same luminance.
    ///
    /// A side under 5 px, or a slice whose length is not `width * height`, gives the
    /// all-zero hash with quality 0.
    pub fn of_luma(width: usize, height: usize, luma: &[f32]) -> Pdq {
        if width < MIN_SIDE || height < MIN_SIDE || width.checked_mul(height) != Some(luma.len()) {
            return Pdq::unhashable();
        }
        let reduced = reduce(width, height, |y, row| {
            row.copy_from_slice(&luma[y * width..(y + 1) * width]);
        });
        hash_reduced(reduced)
    }

    /// The 64 lowercase hex digits of [`Pdq::bits`], most significant first: the same text
    /// the reference implementations print for the same hash.
    pub fn to_hex(&self) -> String {
        const DIGITS: &[u8; 16] = b"0123456789abcdef";
        let mut out = String::with_capacity(64);
        for byte in self.bits {
            out.push(char::from(DIGITS[usize::from(byte >> 4)]));
            out.push(char::from(DIGITS[usize::from(byte & 0x0f)]));
        }
        out
    }

    /// Parses the reference's hex form: exactly 64 hex digits (either case), nothing else.
    /// The text carries no quality, so the result has quality 0.
    pub fn from_hex(hex: &str) -> Option<Pdq> {
        let digits = hex.as_bytes();
        if digits.len() != 64 {
            return None;
        }
        let mut bits = [0u8; 32];
        for (byte, pair) in bits.iter_mut().zip(digits.chunks_exact(2)) {
            let high = char::from(pair[0]).to_digit(16)?;
            let low = char::from(pair[1]).to_digit(16)?;
            *byte = u8::try_from((high << 4) | low).ok()?;
        }
        Some(Pdq { bits, quality: 0 })
    }

    /// Hamming distance between the two hashes' bits, 0..=256 (quality plays no part).
    pub fn distance(&self, other: &Pdq) -> u32 {
        self.bits
            .iter()
            .zip(other.bits.iter())
            .map(|(a, b)| (a ^ b).count_ones())
            .sum()
    }

    fn unhashable() -> Pdq {
        Pdq {
            bits: [0; 32],
            quality: 0,
        }
    }
}

/// A luminance image, row-major, with no side above [`MAX_FILTERED_SIDE`].
struct Reduced {
    width: usize,
    height: usize,
    luma: Vec<f32>,
}

/// [`reduce`] for interleaved 8-bit RGB(A) rows of `channels` bytes a pixel.
fn reduce_rgb(width: usize, height: usize, raw: &[u8], channels: usize) -> Reduced {
    let stride = width * channels;
    reduce(width, height, |y, row| {
        let src = &raw[y * stride..(y + 1) * stride];
        for (dst, px) in row.iter_mut().zip(src.chunks_exact(channels)) {
            *dst =
                LUMA_R * f32::from(px[0]) + LUMA_G * f32::from(px[1]) + LUMA_B * f32::from(px[2]);
        }
    })
}

/// Box-reduces a `width × height` image, read one row at a time through `fill_row(y, row)`,
/// so that no side exceeds [`MAX_FILTERED_SIDE`]: an axis of length `n` is divided into
/// blocks of `ceil(n / 512)` pixels (the last one possibly shorter) and each output pixel is
/// the mean of its block. An axis already short enough is left alone (factor 1 copies the
/// values exactly). Memory: the output plus one input row and one accumulator row.
fn reduce(width: usize, height: usize, mut fill_row: impl FnMut(usize, &mut [f32])) -> Reduced {
    let fx = width.div_ceil(MAX_FILTERED_SIDE);
    let fy = height.div_ceil(MAX_FILTERED_SIDE);
    let out_w = width.div_ceil(fx);
    let out_h = height.div_ceil(fy);
    let mut luma = vec![0f32; out_w * out_h];
    if fx == 1 && fy == 1 {
        for (y, out_row) in luma.chunks_exact_mut(width).enumerate() {
            fill_row(y, out_row);
        }
        return Reduced {
            width,
            height,
            luma,
        };
    }

    let mut row = vec![0f32; width];
    let mut acc = vec![0f32; out_w];
    for (by, out_row) in luma.chunks_exact_mut(out_w).enumerate() {
        let first = by * fy;
        let last = (first + fy).min(height);
        acc.fill(0.0);
        for y in first..last {
            fill_row(y, &mut row);
            for (sum, block) in acc.iter_mut().zip(row.chunks(fx)) {
                *sum += block.iter().sum::<f32>();
            }
        }
        let rows = (last - first) as f32;
        for (bx, (dst, sum)) in out_row.iter_mut().zip(&acc).enumerate() {
            let cols = (((bx + 1) * fx).min(width) - bx * fx) as f32;
            *dst = sum / (rows * cols);
        }
    }
    Reduced {
        width: out_w,
        height: out_h,
        luma,
    }
}

/// Steps 3 to 7 of the module documentation on an already reduced image.
fn hash_reduced(mut image: Reduced) -> Pdq {
    let grid = filter_and_decimate(&mut image);
    let quality = quality(&grid);
    let coefficients = dct_16x16(&grid);
    Pdq {
        bits: bits_above_median(&coefficients),
        quality,
    }
}

/// The Jarosz tent filter (in place, one scratch buffer) followed by sampling the 64 × 64
/// grid at cell centres.
fn filter_and_decimate(image: &mut Reduced) -> [[f32; GRID]; GRID] {
    let (w, h) = (image.width, image.height);
    let window_x = w.div_ceil(2 * GRID);
    let window_y = h.div_ceil(2 * GRID);
    let mut scratch = vec![0f32; w * h];
    let mut column_sums = vec![0f32; w];
    for _ in 0..JAROSZ_ROUNDS {
        for (src, dst) in image.luma.chunks_exact(w).zip(scratch.chunks_exact_mut(w)) {
            box_along_row(src, dst, window_x);
        }
        box_along_columns(&scratch, &mut image.luma, w, window_y, &mut column_sums);
    }

    let mut grid = [[0f32; GRID]; GRID];
    for (i, grid_row) in grid.iter_mut().enumerate() {
        // floor((i + 0.5) * h / 64), in integers.
        let y = (2 * i + 1) * h / (2 * GRID);
        let src = &image.luma[y * w..(y + 1) * w];
        for (j, cell) in grid_row.iter_mut().enumerate() {
            *cell = src[(2 * j + 1) * w / (2 * GRID)];
        }
    }
    grid
}

/// Offsets of a box window of `window` samples around its output sample: it covers
/// `i - before ..= i + after`, one more sample after than before when `window` is even.
fn window_extent(window: usize) -> (usize, usize) {
    let after = window / 2;
    (window - 1 - after, after)
}

/// A running-sum box filter over one row: `dst[i]` is the mean of `src` over the window
/// around `i`, clipped to the row. Additions before subtractions, in `f32`, like the
/// reference, so the same input gives the same output bits.
fn box_along_row(src: &[f32], dst: &mut [f32], window: usize) {
    let n = src.len();
    let (before, after) = window_extent(window);
    let mut sum: f32 = src[..after.min(n)].iter().sum();
    for (i, out) in dst.iter_mut().enumerate() {
        if i + after < n {
            sum += src[i + after];
        }
        if i > before {
            sum -= src[i - before - 1];
        }
        let covered = (i + after).min(n - 1) + 1 - i.saturating_sub(before);
        *out = sum / covered as f32;
    }
}

/// [`box_along_row`] down every column at once (`sums` holds one running sum per column),
/// walking whole rows so memory is read in order.
fn box_along_columns(src: &[f32], dst: &mut [f32], width: usize, window: usize, sums: &mut [f32]) {
    let n = src.len() / width;
    let (before, after) = window_extent(window);
    let row = |y: usize| &src[y * width..(y + 1) * width];
    sums.fill(0.0);
    for y in 0..after.min(n) {
        for (s, v) in sums.iter_mut().zip(row(y)) {
            *s += v;
        }
    }
    for (i, out_row) in dst.chunks_exact_mut(width).enumerate() {
        if i + after < n {
            for (s, v) in sums.iter_mut().zip(row(i + after)) {
                *s += v;
            }
        }
        if i > before {
            for (s, v) in sums.iter_mut().zip(row(i - before - 1)) {
                *s -= v;
            }
        }
        let covered = ((i + after).min(n - 1) + 1 - i.saturating_sub(before)) as f32;
        for (out, s) in out_row.iter_mut().zip(sums.iter()) {
            *out = s / covered;
        }
    }
}

/// Step 5: the gradient-sum quality heuristic, 0..=100.
fn quality(grid: &[[f32; GRID]; GRID]) -> u8 {
    // |trunc((a - b) * 100 / 255)|: only steps of at least 2.55 grey levels count.
    let step = |a: f32, b: f32| (((a - b) * 100.0) / 255.0) as i32;
    let mut total: u64 = 0;
    for i in 0..GRID {
        for j in 0..GRID {
            if i + 1 < GRID {
                total += u64::from(step(grid[i][j], grid[i + 1][j]).unsigned_abs());
            }
            if j + 1 < GRID {
                total += u64::from(step(grid[i][j], grid[i][j + 1]).unsigned_abs());
            }
        }
    }
    u8::try_from((total / 90).min(100)).unwrap_or(100)
}

/// Rows 1..=16 of the 64-point orthonormal DCT-II matrix, computed once.
fn dct_matrix() -> &'static [[f32; GRID]; FREQS] {
    static MATRIX: OnceLock<[[f32; GRID]; FREQS]> = OnceLock::new();
    MATRIX.get_or_init(|| {
        // The scale is rounded to f32 first, the cosine taken in f64, the product rounded
        // to f32: the reference's roundings, so the matrix is bit-for-bit its matrix.
        let scale = f64::from((2.0f64 / GRID as f64).sqrt() as f32);
        let mut matrix = [[0f32; GRID]; FREQS];
        for (i, row) in matrix.iter_mut().enumerate() {
            for (j, cell) in row.iter_mut().enumerate() {
                let angle = std::f64::consts::PI / (2.0 * GRID as f64)
                    * (i + 1) as f64
                    * (2 * j + 1) as f64;
                *cell = (scale * angle.cos()) as f32;
            }
        }
        matrix
    })
}

/// Step 6: `D · A · Dᵀ`, as `T = D · A` (16 × 64) then `T · Dᵀ` (16 × 16). Each sum runs
/// over `k` in ascending order from zero, as in the reference.
fn dct_16x16(grid: &[[f32; GRID]; GRID]) -> [[f32; FREQS]; FREQS] {
    let d = dct_matrix();
    let mut t = [[0f32; GRID]; FREQS];
    for (t_row, d_row) in t.iter_mut().zip(d.iter()) {
        for (&weight, a_row) in d_row.iter().zip(grid.iter()) {
            for (t_cell, &a) in t_row.iter_mut().zip(a_row.iter()) {
                *t_cell += weight * a;
            }
        }
    }
    let mut b = [[0f32; FREQS]; FREQS];
    for (b_row, t_row) in b.iter_mut().zip(t.iter()) {
        for (b_cell, d_row) in b_row.iter_mut().zip(d.iter()) {
            *b_cell = t_row
                .iter()
                .zip(d_row.iter())
                .fold(0.0, |sum, (&x, &y)| sum + x * y);
        }
    }
    b
}

/// Step 7: one bit per coefficient, set when it is above the median (the 128th smallest of
/// the 256, the value the reference's Torben median search returns).
fn bits_above_median(coefficients: &[[f32; FREQS]; FREQS]) -> [u8; 32] {
    let mut sorted = [0f32; FREQS * FREQS];
    for (dst, &c) in sorted.iter_mut().zip(coefficients.iter().flatten()) {
        *dst = c;
    }
    let (_, &mut median, _) = sorted.select_nth_unstable_by(FREQS * FREQS / 2 - 1, f32::total_cmp);
    let mut bits = [0u8; 32];
    for (k, &c) in coefficients.iter().flatten().enumerate() {
        if c > median {
            bits[31 - k / 8] |= 1 << (k % 8);
        }
    }
    bits
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::codecs::jpeg::JpegEncoder;
    use image::imageops::FilterType;
    use image::{GrayImage, Luma, Rgb, RgbImage};

    const DATA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/pdq/");

    struct Vector {
        file: String,
        hash: Pdq,
        /// `None` where the reference gives no quality for this hash.
        quality: Option<u8>,
        source: String,
    }

    fn vectors() -> Vec<Vector> {
        let text = std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/data/pdq/vectors.csv"
        ))
        .expect("vectors.csv");
        text.lines()
            .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
            .map(|l| {
                let fields: Vec<&str> = l.splitn(4, ',').collect();
                assert_eq!(fields.len(), 4, "malformed vector line {l:?}");
                Vector {
                    file: fields[0].to_string(),
                    hash: Pdq::from_hex(fields[1]).expect("expected hash is 64 hex digits"),
                    quality: match fields[2] {
                        "-" => None,
                        q => Some(q.parse().expect("expected quality is a number or -")),
                    },
                    source: fields[3].to_string(),
                }
            })
            .collect()
    }

    fn load(file: &str) -> DynamicImage {
        image::open(format!("{DATA}{file}")).unwrap_or_else(|e| panic!("{file}: {e}"))
    }

    /// The reference's published vectors.
    ///
    /// Images of at most 512 px a side (all but the bridge) go through exactly the
    /// reference's arithmetic: fed the pixels PIL decodes, this module reproduced the
    /// published hash and quality bit for bit for every one tried (seven of the eight, while
    /// writing it; `wee` is kept as a test below). What remains is the JPEG decoder: the reference's pixels came from libjpeg
    /// (through PIL), ours from zune-jpeg (through `image`), and a grey level of difference
    /// here and there pushes a coefficient lying right at the median across it. Measured:
    /// 0 or 2 bits. Hence "at most 4 bits" rather than equality.
    ///
    /// The bridge (1600 × 1004) is box-reduced to 400 × 502 here, where the published
    /// hashes came from PIL's 512 × 321 bicubic thumbnail (Python), the full-size image
    /// (Java) and the C++ tool; those three disagree among themselves by 4 to 8 bits. It is
    /// held to the reference's own conformance rule for other implementations instead:
    /// within 10 bits when the quality is 80 or more (pdq/README.md, "Hashing").
    /// Measured: 6 (Python), 4 (Java), 10 (C++ example output).
    #[test]
    fn matches_the_reference_vectors() {
        let vectors = vectors();
        assert!(vectors.len() >= 5, "too few vectors: {}", vectors.len());
        let mut hashed: Vec<(String, Pdq, bool)> = Vec::new();
        let mut report = Vec::new();
        for v in &vectors {
            let (ours, large) = match hashed.iter().find(|(f, _, _)| *f == v.file) {
                Some(&(_, hash, large)) => (hash, large),
                None => {
                    let img = load(&v.file);
                    let large = img.width() as usize > MAX_FILTERED_SIDE
                        || img.height() as usize > MAX_FILTERED_SIDE;
                    let hash = Pdq::of_image(&img);
                    hashed.push((v.file.clone(), hash, large));
                    (hash, large)
                }
            };
            let distance = ours.distance(&v.hash);
            report.push(format!(
                "{}: distance {distance} to {}, quality {} (reference {:?})",
                v.file, v.source, ours.quality, v.quality
            ));
            let bound = if large { 10 } else { 4 };
            assert!(
                distance <= bound,
                "{}: {} is {distance} bits from {} ({})",
                v.file,
                ours.to_hex(),
                v.hash.to_hex(),
                v.source
            );
            if let Some(quality) = v.quality {
                assert!(
                    ours.quality.abs_diff(quality) <= 3,
                    "{}: quality {} against the reference's {quality}",
                    v.file,
                    ours.quality
                );
            }
        }
        println!("{}", report.join("\n"));
    }

    /// `wee.jpg` as PIL (libjpeg) decodes it, raw RGB: with the reference's own pixels the
    /// hash is the published one exactly, and so is the quality.
    #[test]
    fn reference_decoded_pixels_give_the_reference_hash_exactly() {
        let raw = std::fs::read(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/data/pdq/wee-pil.rgb"
        ))
        .expect("wee-pil.rgb");
        let img = DynamicImage::ImageRgb8(RgbImage::from_raw(34, 42, raw).expect("34 × 42 RGB"));
        let expected = vectors()
            .into_iter()
            .find(|v| v.file == "wee.jpg")
            .expect("the wee.jpg vector");
        let ours = Pdq::of_image(&img);
        assert_eq!(ours.to_hex(), expected.hash.to_hex());
        assert_eq!(Some(ours.quality), expected.quality);
    }

    #[test]
    fn hex_round_trips_and_rejects_malformed_text() {
        let hex = "d8f8f0cce0f4a84f0e370a22028f67f0b36e2ed596623e1d33e6b39c4e9c9b22";
        let hash = Pdq::from_hex(hex).expect("valid hex");
        assert_eq!(hash.to_hex(), hex);
        assert_eq!(hash.quality, 0);
        assert_eq!(hash.bits[0], 0xd8);
        assert_eq!(hash.bits[31], 0x22);
        assert_eq!(Pdq::from_hex(&hex.to_uppercase()), Some(hash));
        let computed = Pdq::of_image(&load("q2821.jpg"));
        assert_eq!(
            Pdq::from_hex(&computed.to_hex()).map(|h| h.bits),
            Some(computed.bits)
        );

        assert_eq!(Pdq::from_hex(&hex[..63]), None);
        assert_eq!(Pdq::from_hex(&format!("{hex}0")), None);
        assert_eq!(Pdq::from_hex(&format!("+{}", &hex[1..])), None);
        assert_eq!(Pdq::from_hex(&format!("{}g", &hex[..63])), None);
        assert_eq!(Pdq::from_hex(&format!("é{}", &hex[2..])), None);
    }

    #[test]
    fn bit_k_is_coefficient_k() {
        // Bit 0 (coefficient row 0, column 0) is the least significant bit of the last
        // byte; bit 255 the most significant of the first.
        let mut bits = [0u8; 32];
        bits[31] = 1;
        bits[0] = 0x80;
        let hash = Pdq { bits, quality: 0 };
        assert_eq!(
            hash.to_hex(),
            "8000000000000000000000000000000000000000000000000000000000000001"
        );
        assert_eq!(hash.distance(&Pdq::unhashable()), 2);
        let ones = Pdq {
            bits: [0xff; 32],
            quality: 0,
        };
        assert_eq!(ones.distance(&Pdq::unhashable()), 256);
    }

    /// Half size, then JPEG at quality 70. Only pictures that stay well above 128 px: at
    /// 128 px and below the filter window is a single pixel, decimation to 64 × 64 aliases,
    /// and PDQ itself stops matching fine textures (the reference Python implementation puts
    /// a half-size q70 copy of the 256 px `q0122.jpg` 58 bits from the original).
    #[test]
    fn a_smaller_jpeg_copy_still_matches() {
        for file in ["bridge-1-original.jpg", "square-256x256.jpg"] {
            let original = load(file);
            let half = original.resize_exact(
                original.width() / 2,
                original.height() / 2,
                FilterType::Triangle,
            );
            let mut jpeg = Vec::new();
            JpegEncoder::new_with_quality(&mut jpeg, 70)
                .encode_image(&half.to_rgb8())
                .expect("encode");
            let copy = image::load_from_memory(&jpeg).expect("decode");
            let distance = Pdq::of_image(&original).distance(&Pdq::of_image(&copy));
            println!("{file}: half-size JPEG q70 copy at distance {distance}");
            assert!(
                distance <= MATCH_DISTANCE,
                "{file}: the copy is {distance} bits away"
            );
        }
    }

    fn rings(w: u32, h: u32) -> DynamicImage {
        DynamicImage::ImageRgb8(RgbImage::from_fn(w, h, |x, y| {
            let (dx, dy) = (x as f32 - w as f32 / 3.0, y as f32 - h as f32 / 2.0);
            let v = (128.0 + 120.0 * ((dx * dx + dy * dy).sqrt() / 9.0).sin()) as u8;
            Rgb([v, v / 2, 255 - v])
        }))
    }

    fn blocks(w: u32, h: u32) -> DynamicImage {
        DynamicImage::ImageRgb8(RgbImage::from_fn(w, h, |x, y| {
            let v = if (x * 5 / w + y * 3 / h) % 2 == 0 {
                230
            } else {
                20
            };
            Rgb([v, 255 - v, v])
        }))
    }

    #[test]
    fn different_pictures_are_far_apart() {
        let a = Pdq::of_image(&rings(300, 200));
        let b = Pdq::of_image(&blocks(300, 200));
        let far = a.distance(&b);
        assert!(far > 60, "two different pictures are only {far} bits apart");
        assert!(a.quality >= MIN_QUALITY && b.quality >= MIN_QUALITY);

        // A negative flips the sign of every coefficient, so (nearly) every bit.
        let negative = {
            let mut img = rings(300, 200);
            img.invert();
            Pdq::of_image(&img)
        };
        assert!(a.distance(&negative) >= 250);
    }

    #[test]
    fn of_image_is_of_luma_on_the_same_luminance() {
        // Large enough (700 × 600) to take the reduction path as well.
        let grey = GrayImage::from_fn(700, 600, |x, y| Luma([((x * 7 + y * 3) % 251) as u8]));
        let luma: Vec<f32> = grey.as_raw().iter().map(|&v| f32::from(v)).collect();
        assert_eq!(
            Pdq::of_image(&DynamicImage::ImageLuma8(grey)),
            Pdq::of_luma(700, 600, &luma)
        );
        let rgb = load("wee.jpg");
        let rgb8 = rgb.to_rgb8();
        let luma: Vec<f32> = rgb8
            .pixels()
            .map(|p| LUMA_R * f32::from(p[0]) + LUMA_G * f32::from(p[1]) + LUMA_B * f32::from(p[2]))
            .collect();
        assert_eq!(
            Pdq::of_image(&rgb),
            Pdq::of_luma(rgb8.width() as usize, rgb8.height() as usize, &luma)
        );
    }

    #[test]
    fn degenerate_input_gets_the_zero_hash() {
        let zero = Pdq::unhashable();
        assert_eq!(Pdq::of_luma(4, 100, &[0.0; 400]), zero);
        assert_eq!(Pdq::of_luma(10, 10, &[0.0; 99]), zero);
        assert_eq!(Pdq::of_luma(usize::MAX, 2, &[]), zero);
        assert_eq!(
            Pdq::of_image(&DynamicImage::ImageRgb8(RgbImage::new(100, 4))),
            zero
        );
        // A flat picture hashes (no panic, no NaN) with quality 0.
        let flat = Pdq::of_luma(64, 64, &[77.0; 64 * 64]);
        assert_eq!(flat.quality, 0);
        let weird = Pdq::of_luma(8, 8, &[f32::NAN; 64]);
        assert_eq!(weird.quality, 0);
    }

    #[test]
    fn a_grid_sized_input_is_not_filtered() {
        // 64 × 64 gives windows of 1 and decimation picks every sample, as the reference's
        // shortcut for already-downsampled frames: the DCT then sees the input itself.
        let luma: Vec<f32> = (0..64 * 64).map(|i| ((i * 37) % 255) as f32).collect();
        let mut image = Reduced {
            width: 64,
            height: 64,
            luma: luma.clone(),
        };
        let grid = filter_and_decimate(&mut image);
        for (i, row) in grid.iter().enumerate() {
            assert_eq!(&row[..], &luma[i * 64..(i + 1) * 64]);
        }
    }

    #[test]
    fn box_filter_matches_the_reference_window_layout() {
        // Window 7 covers i-3..=i+3, window 8 covers i-3..=i+4, clipped at the edges.
        let src: Vec<f32> = (0..16).map(|v| v as f32).collect();
        let mut out = vec![0f32; 16];
        box_along_row(&src, &mut out, 7);
        assert_eq!(out[0], 6.0 / 4.0);
        assert_eq!(out[4], 28.0 / 7.0);
        assert_eq!(out[15], 54.0 / 4.0);
        box_along_row(&src, &mut out, 8);
        assert_eq!(out[0], 10.0 / 5.0);
        assert_eq!(out[4], 36.0 / 8.0);
        assert_eq!(out[12], 84.0 / 7.0);
        assert_eq!(out[15], 54.0 / 4.0);
        // The column filter is the row filter transposed.
        let mut by_columns = vec![0f32; 16];
        let mut sums = vec![0f32; 1];
        box_along_columns(&src, &mut by_columns, 1, 8, &mut sums);
        assert_eq!(by_columns, out);
    }
}
