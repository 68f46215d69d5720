//! The image pipeline, synchronous and CPU-bound (run on the blocking pool, never on an
//! arbiter): limits from the header before any pixel is decoded, a decode under a memory
//! limit, EXIF orientation applied, then a fresh encode, which is what strips EXIF, GPS, XMP
//! and every other metadata from what is stored and served; thumbnails and a perceptual
//! hash from the same pixels.

use std::io::Cursor;

use image::codecs::jpeg::JpegEncoder;
use image::codecs::png::PngEncoder;
use image::{DynamicImage, ImageDecoder, ImageEncoder, ImageFormat, ImageReader, Limits};

use super::sniff::Format;
use crate::error::{AppError, AppResult, ErrorCode};
use crate::moderation::fingerprint::Fingerprint;

/// Longest side of each thumbnail, px: the chat bubble and the full-screen viewer.
pub const THUMBNAIL_SIZES: [u32; 2] = [256, 1080];
const JPEG_QUALITY: u8 = 85;

#[derive(Clone, Copy, Debug)]
pub struct ImageLimits {
    pub max_dimension: u32,
    pub max_pixels: u64,
    pub max_decode_bytes: u64,
}

pub struct Encoded {
    pub format: Format,
    pub bytes: Vec<u8>,
}

pub struct ProcessedImage {
    pub width: u32,
    pub height: u32,
    pub main: Encoded,
    /// `(longest side, image)` for each size smaller than the picture.
    pub thumbnails: Vec<(u32, Encoded)>,
    pub fingerprint: Fingerprint,
}

fn too_large(why: String) -> AppError {
    AppError::new(ErrorCode::ImageTooLarge, why)
}

fn invalid(why: impl Into<String>) -> AppError {
    AppError::new(ErrorCode::InvalidMedia, why)
}

/// Whether the file is whole: a truncated upload is refused rather than stored half grey.
pub fn is_complete(format: Format, bytes: &[u8]) -> bool {
    let trimmed = {
        let end = bytes.iter().rposition(|b| *b != 0).map_or(0, |i| i + 1);
        &bytes[..end]
    };
    match format {
        Format::Jpeg => trimmed.ends_with(&[0xFF, 0xD9]),
        Format::Png => {
            bytes.ends_with(&[0, 0, 0, 0, b'I', b'E', b'N', b'D', 0xAE, 0x42, 0x60, 0x82])
        }
        Format::Gif => trimmed.ends_with(&[0x3B]),
        Format::Webp => {
            bytes.len() >= 12
                && u32::from_le_bytes([bytes[4], bytes[5], bytes[6], bytes[7]]) as usize + 8
                    <= bytes.len()
        }
        Format::Mp4 | Format::Mov => true,
    }
}

fn image_format(format: Format) -> AppResult<ImageFormat> {
    Ok(match format {
        Format::Jpeg => ImageFormat::Jpeg,
        Format::Png => ImageFormat::Png,
        Format::Webp => ImageFormat::WebP,
        Format::Gif => ImageFormat::Gif,
        Format::Mp4 | Format::Mov => return Err(invalid("not an image")),
    })
}

fn map_decode_error(e: image::ImageError) -> AppError {
    match e {
        image::ImageError::Limits(l) => {
            too_large(format!("the image needs too much memory to decode: {l}"))
        }
        other => invalid(format!(
            "the image cannot be decoded (truncated or corrupt): {other}"
        )),
    }
}

/// The most pixels one byte of JPEG data can stand for. Every 8×8 block of a scan costs at
/// least one bit (its DC difference), so a whole image needs at least pixels / 512 bytes; a
/// file declaring more pixels than that is truncated or forged, and refusing it before the
/// decode saves the seconds a decoder spends inventing the missing pixels.
const MIN_JPEG_PIXELS_PER_BYTE: u64 = 512;

/// Decodes a JPEG strictly: the `image` crate's decoder fills missing or corrupt data with
/// grey (as browsers do), which would store a truncated upload; here any premature end or
/// stray marker is `invalid_media`.
///
/// A baseline JPEG is decoded without its final end marker: a decoder that meets the marker
/// early pads the missing scan data with zeros, so a file cut short and given a new end marker
/// would decode "whole"; without the marker, running out of data before the last block is an
/// error in strict mode, while a whole file never needs the marker to finish. (A progressive
/// JPEG needs its marker to finish its last scan, and a cut one is a coarser but real picture.)
fn decode_jpeg_whole(bytes: &[u8], limits: &ImageLimits) -> AppResult<DynamicImage> {
    use zune_core::bytestream::ZCursor;
    use zune_core::colorspace::ColorSpace;
    use zune_core::options::DecoderOptions;

    let options = DecoderOptions::default()
        .set_strict_mode(true)
        .set_max_width(limits.max_dimension as usize)
        .set_max_height(limits.max_dimension as usize)
        .jpeg_set_out_colorspace(ColorSpace::RGB);
    let data = if jpeg_is_progressive(bytes) {
        bytes
    } else {
        without_end_marker(bytes)
    };
    let mut decoder = zune_jpeg::JpegDecoder::new_with_options(ZCursor::new(data), options);
    let corrupt = |e: zune_jpeg::errors::DecodeErrors| {
        invalid(format!(
            "the image cannot be decoded whole (truncated or corrupt): {e}"
        ))
    };
    let pixels = decoder.decode().map_err(corrupt)?;
    let (w, h) = decoder
        .dimensions()
        .ok_or_else(|| invalid("the JPEG has no frame"))?;
    image::RgbImage::from_raw(w as u32, h as u32, pixels)
        .map(DynamicImage::ImageRgb8)
        .ok_or_else(|| invalid("the JPEG decoded to fewer pixels than it declares"))
}

fn check_size(w: u32, h: u32, limits: &ImageLimits) -> AppResult<()> {
    if w > limits.max_dimension || h > limits.max_dimension {
        return Err(too_large(format!(
            "{w}×{h} px: each side may be at most {} px",
            limits.max_dimension
        )));
    }
    if u64::from(w) * u64::from(h) > limits.max_pixels {
        return Err(too_large(format!(
            "{w}×{h} px: at most {} pixels",
            limits.max_pixels
        )));
    }
    Ok(())
}

/// The size a PNG (IHDR) or GIF (logical screen) declares, read straight from its first bytes.
fn declared_dimensions(format: Format, bytes: &[u8]) -> Option<(u32, u32)> {
    let be = |at: usize| Some(u32::from_be_bytes(bytes.get(at..at + 4)?.try_into().ok()?));
    let le = |at: usize| {
        Some(u32::from(u16::from_le_bytes(
            bytes.get(at..at + 2)?.try_into().ok()?,
        )))
    };
    match format {
        Format::Png if bytes.get(12..16) == Some(b"IHDR") => Some((be(16)?, be(20)?)),
        Format::Gif => Some((le(6)?, le(8)?)),
        _ => None,
    }
}

/// The bytes without trailing zero padding and the final `FF D9`.
fn without_end_marker(bytes: &[u8]) -> &[u8] {
    let end = bytes.iter().rposition(|b| *b != 0).map_or(0, |i| i + 1);
    let trimmed = &bytes[..end];
    trimmed.strip_suffix(&[0xFF, 0xD9]).unwrap_or(trimmed)
}

/// Whether the first frame header (SOFn) before the first scan is a progressive one.
fn jpeg_is_progressive(bytes: &[u8]) -> bool {
    let mut at = 2;
    while at + 4 <= bytes.len() {
        if bytes[at] != 0xFF {
            return false;
        }
        let marker = bytes[at + 1];
        match marker {
            // Fill bytes before a marker.
            0xFF => {
                at += 1;
                continue;
            }
            0xC2 | 0xC6 | 0xCA | 0xCE => return true,
            0xC0 | 0xC1 | 0xC3 | 0xC5 | 0xC7 | 0xC9 | 0xCB | 0xCD | 0xCF | 0xDA | 0xD9 => {
                return false
            }
            _ => {}
        }
        let length = usize::from(u16::from_be_bytes([bytes[at + 2], bytes[at + 3]]));
        at += 2 + length;
    }
    false
}

/// Decodes a picture this server stored (its own JPEG or PNG re-encoding), within the
/// decoder's default memory limit.
pub fn decode_stored(bytes: &[u8]) -> anyhow::Result<DynamicImage> {
    Ok(ImageReader::new(Cursor::new(bytes))
        .with_guessed_format()?
        .decode()?)
}

pub fn process_image(
    bytes: &[u8],
    format: Format,
    limits: &ImageLimits,
) -> AppResult<ProcessedImage> {
    let mut reader = ImageReader::with_format(Cursor::new(bytes), image_format(format)?);
    let mut decode_limits = Limits::default();
    decode_limits.max_alloc = Some(limits.max_decode_bytes);
    decode_limits.max_image_width = Some(limits.max_dimension);
    decode_limits.max_image_height = Some(limits.max_dimension);
    reader.limits(decode_limits);
    let mut decoder = match reader.into_decoder() {
        Ok(decoder) => decoder,
        Err(e) => {
            // A decoder that cannot even start (a PNG with no data after its header) must
            // still say `image_too_large` for a size that would never be allowed.
            if let Some((w, h)) = declared_dimensions(format, bytes) {
                check_size(w, h, limits)?;
            }
            return Err(map_decode_error(e));
        }
    };
    // From the header alone: a bomb declaring a huge canvas stops here, before any allocation.
    let (w, h) = decoder.dimensions();
    if w == 0 || h == 0 {
        return Err(invalid("the image has no pixels"));
    }
    check_size(w, h, limits)?;
    // Only once the size is known to be allowed: a bomb is `image_too_large` whatever follows.
    if !is_complete(format, bytes) {
        return Err(invalid("the file is truncated"));
    }
    let pixels = u64::from(w) * u64::from(h);
    if format == Format::Jpeg && (bytes.len() as u64) * MIN_JPEG_PIXELS_PER_BYTE < pixels {
        return Err(invalid(format!(
            "{w}×{h} px cannot be held in {} bytes: the file is truncated or forged",
            bytes.len()
        )));
    }
    let orientation = decoder
        .orientation()
        .unwrap_or(image::metadata::Orientation::NoTransforms);
    let mut picture = if format == Format::Jpeg {
        drop(decoder);
        decode_jpeg_whole(bytes, limits)?
    } else {
        DynamicImage::from_decoder(decoder).map_err(map_decode_error)?
    };
    picture.apply_orientation(orientation);

    let main = encode(&picture, format == Format::Jpeg)?;
    let longest = picture.width().max(picture.height());
    let mut thumbnails = Vec::new();
    for size in THUMBNAIL_SIZES {
        if size < longest {
            let small = picture.thumbnail(size, size);
            thumbnails.push((size, encode(&small, true)?));
        }
    }
    Ok(ProcessedImage {
        width: picture.width(),
        height: picture.height(),
        fingerprint: Fingerprint::of_image(&picture),
        main,
        thumbnails,
    })
}

/// A fresh file from pixels alone: JPEG for photos (and thumbnails of opaque pictures), PNG
/// where there is transparency or the source was lossless. No metadata is written.
fn encode(picture: &DynamicImage, prefer_jpeg: bool) -> AppResult<Encoded> {
    let mut out = Vec::new();
    let failed = |e: image::ImageError| AppError::from(anyhow::anyhow!("encode image: {e}"));
    if prefer_jpeg && !picture.color().has_alpha() {
        let rgb = picture.to_rgb8();
        JpegEncoder::new_with_quality(&mut out, JPEG_QUALITY)
            .write_image(
                rgb.as_raw(),
                rgb.width(),
                rgb.height(),
                image::ExtendedColorType::Rgb8,
            )
            .map_err(failed)?;
        Ok(Encoded {
            format: Format::Jpeg,
            bytes: out,
        })
    } else {
        let rgba = picture.to_rgba8();
        PngEncoder::new(&mut out)
            .write_image(
                rgba.as_raw(),
                rgba.width(),
                rgba.height(),
                image::ExtendedColorType::Rgba8,
            )
            .map_err(failed)?;
        Ok(Encoded {
            format: Format::Png,
            bytes: out,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::{Rgb, RgbImage};

    const LIMITS: ImageLimits = ImageLimits {
        max_dimension: 4096,
        max_pixels: 4_000_000,
        max_decode_bytes: 64 * 1024 * 1024,
    };

    fn baseline_jpeg(w: u32, h: u32) -> Vec<u8> {
        let picture = RgbImage::from_fn(w, h, |x, y| {
            Rgb([(x % 251) as u8, (y % 241) as u8, ((x + y) % 239) as u8])
        });
        let mut out = Vec::new();
        JpegEncoder::new(&mut out)
            .write_image(picture.as_raw(), w, h, image::ExtendedColorType::Rgb8)
            .expect("encode");
        out
    }

    #[test]
    fn a_jpeg_cut_short_is_refused_even_with_a_new_end_marker() {
        let whole = baseline_jpeg(640, 480);
        assert!(
            process_image(&whole, Format::Jpeg, &LIMITS).is_ok(),
            "the whole file"
        );
        for keep in [whole.len() / 2, whole.len() * 9 / 10, whole.len() - 40] {
            let mut forged = whole[..keep].to_vec();
            forged.extend_from_slice(&[0xFF, 0xD9]);
            let refused = process_image(&forged, Format::Jpeg, &LIMITS)
                .err()
                .map(|e| e.code);
            assert_eq!(
                refused,
                Some(ErrorCode::InvalidMedia),
                "cut at {keep} of {}",
                whole.len()
            );
        }
    }

    #[test]
    fn the_frame_header_says_whether_a_jpeg_is_progressive() {
        let app0 = [0xFF, 0xE0, 0x00, 0x04, 0x00, 0x00];
        let frame = |sof: u8| {
            let mut b = vec![0xFF, 0xD8];
            b.extend_from_slice(&app0);
            b.extend_from_slice(&[0xFF, sof, 0x00, 0x02]);
            b
        };
        assert!(jpeg_is_progressive(&frame(0xC2)));
        assert!(!jpeg_is_progressive(&frame(0xC0)));
        assert!(!jpeg_is_progressive(&baseline_jpeg(16, 16)));
        assert!(!jpeg_is_progressive(&[0xFF, 0xD8]), "no frame at all");
    }

    /// A JPEG with an EXIF block (orientation 6: rotate 90° clockwise, and a GPS marker).
    fn jpeg_with_exif(w: u32, h: u32) -> Vec<u8> {
        let picture = RgbImage::from_fn(w, h, |x, _| {
            if x < w / 2 {
                Rgb([255, 0, 0])
            } else {
                Rgb([0, 0, 255])
            }
        });
        let mut out = Vec::new();
        let mut encoder = JpegEncoder::new(&mut out);
        let mut exif = b"II\x2a\0\x08\0\0\0\x01\0\x12\x01\x03\0\x01\0\0\0".to_vec();
        exif.extend_from_slice(&[6, 0, 0, 0, 0, 0, 0, 0]);
        exif.extend_from_slice(b"GPSLatitude 31.2304N");
        encoder.set_exif_metadata(exif).expect("exif");
        encoder
            .write_image(picture.as_raw(), w, h, image::ExtendedColorType::Rgb8)
            .expect("encode");
        out
    }

    #[test]
    fn orientation_is_applied_and_metadata_is_gone() {
        let original = jpeg_with_exif(64, 32);
        assert!(original.windows(4).any(|w| w == b"Exif"));
        let done = process_image(&original, Format::Jpeg, &LIMITS).expect("processed");
        assert_eq!((done.width, done.height), (32, 64), "turned upright");
        for needle in [&b"Exif"[..], b"GPSLatitude"] {
            assert!(!done.main.bytes.windows(needle.len()).any(|w| w == needle));
        }
    }

    fn crc32(bytes: &[u8]) -> u32 {
        let mut crc = 0xFFFF_FFFFu32;
        for b in bytes {
            crc ^= u32::from(*b);
            for _ in 0..8 {
                crc = if crc & 1 == 1 {
                    (crc >> 1) ^ 0xEDB8_8320
                } else {
                    crc >> 1
                };
            }
        }
        !crc
    }

    #[test]
    fn a_bomb_is_refused_from_its_header() {
        // A valid PNG header declaring 60000×60000, with almost no data behind it.
        let mut ihdr = b"IHDR".to_vec();
        ihdr.extend_from_slice(&60000u32.to_be_bytes());
        ihdr.extend_from_slice(&60000u32.to_be_bytes());
        ihdr.extend_from_slice(&[8, 2, 0, 0, 0]);
        let mut png = b"\x89PNG\r\n\x1a\n\0\0\0\x0d".to_vec();
        png.extend_from_slice(&ihdr);
        png.extend_from_slice(&crc32(&ihdr).to_be_bytes());
        png.extend_from_slice(&[0, 0, 0, 0, b'I', b'E', b'N', b'D', 0xAE, 0x42, 0x60, 0x82]);
        let err = process_image(&png, Format::Png, &LIMITS)
            .err()
            .expect("refused");
        assert_eq!(err.code, ErrorCode::ImageTooLarge, "{}", err.message);
    }

    #[test]
    fn truncated_files_are_refused() {
        let whole = jpeg_with_exif(64, 32);
        let cut = &whole[..whole.len() / 2];
        let err = process_image(cut, Format::Jpeg, &LIMITS)
            .err()
            .expect("refused");
        assert_eq!(err.code, ErrorCode::InvalidMedia);
    }
}
