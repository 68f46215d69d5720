//! Perceptual hash (dHash, 64 bits): near-duplicates of an image (re-encoded, resized,
//! slightly edited) land within a few bits of each other, so a blocklisted picture is caught
//! again after trivial changes. Pure, unit-tested.

use image::imageops::FilterType;
use image::DynamicImage;

/// Gradient hash: 9×8 greyscale, one bit per horizontal neighbour comparison.
pub fn dhash(image: &DynamicImage) -> u64 {
    let small = image.resize_exact(9, 8, FilterType::Triangle).to_luma8();
    let mut hash = 0u64;
    for y in 0..8 {
        for x in 0..8 {
            let left = small.get_pixel(x, y)[0];
            let right = small.get_pixel(x + 1, y)[0];
            hash = (hash << 1) | u64::from(left > right);
        }
    }
    hash
}

pub fn distance(a: u64, b: u64) -> u32 {
    (a ^ b).count_ones()
}

pub fn to_hex(hash: u64) -> String {
    format!("{hash:016x}")
}

pub fn from_hex(hex: &str) -> Option<u64> {
    u64::from_str_radix(hex, 16).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::{Rgb, RgbImage};

    fn gradient(w: u32, h: u32, shift: u8) -> DynamicImage {
        DynamicImage::ImageRgb8(RgbImage::from_fn(w, h, |x, y| {
            let v = ((x * 255 / w) as u8).wrapping_add(shift) ^ ((y * 97 / h) as u8);
            Rgb([v, v / 2, 255 - v])
        }))
    }

    #[test]
    fn resized_copies_are_near_and_different_pictures_are_far() {
        let original = gradient(400, 300, 0);
        let smaller = original.resize_exact(200, 150, FilterType::Lanczos3);
        let near = distance(dhash(&original), dhash(&smaller));
        assert!(near <= 6, "a resized copy is {near} bits away");
        let other = DynamicImage::ImageRgb8(RgbImage::from_fn(400, 300, |x, y| {
            let v = if (x / 40 + y / 40) % 2 == 0 { 250 } else { 5 };
            Rgb([v, v, v])
        }));
        let far = distance(dhash(&original), dhash(&other));
        assert!(far >= 16, "a different picture is only {far} bits away");
        assert_eq!(from_hex(&to_hex(dhash(&original))), Some(dhash(&original)));
    }
}
