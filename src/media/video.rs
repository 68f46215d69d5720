//! Short videos (MP4/QuickTime): the box structure is checked (a truncated or malformed file
//! is refused) and every metadata box (`udta`, `meta`, `uuid`: location, device, XMP) is
//! blanked into a `free` box of the same size. Sizes stay, so no chunk offset moves and the
//! video plays exactly as before. Pure, unit-tested.

use crate::error::{AppError, AppResult, ErrorCode};

/// Boxes whose children are boxes.
const CONTAINERS: [&[u8; 4]; 10] = [
    b"moov", b"trak", b"mdia", b"minf", b"dinf", b"stbl", b"edts", b"mvex", b"moof", b"traf",
];
/// Boxes that carry metadata, not media.
const METADATA: [&[u8; 4]; 3] = [b"udta", b"meta", b"uuid"];

fn invalid(why: &str) -> AppError {
    AppError::new(
        ErrorCode::InvalidMedia,
        format!("the video is malformed or truncated: {why}"),
    )
}

/// Blanks metadata boxes in place; returns how many were blanked.
pub fn strip_metadata(bytes: &mut [u8]) -> AppResult<usize> {
    let mut blanked = 0;
    walk(bytes, 0, &mut blanked)?;
    Ok(blanked)
}

fn walk(bytes: &mut [u8], depth: usize, blanked: &mut usize) -> AppResult<()> {
    if depth > 16 {
        return Err(invalid("boxes nested too deeply"));
    }
    let mut at = 0usize;
    while at < bytes.len() {
        if bytes.len() - at < 8 {
            return Err(invalid("a box header is cut off"));
        }
        let size32 = u32::from_be_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]]);
        let kind: [u8; 4] = [bytes[at + 4], bytes[at + 5], bytes[at + 6], bytes[at + 7]];
        let (header, size) = match size32 {
            0 => (8usize, (bytes.len() - at) as u64),
            1 => {
                if bytes.len() - at < 16 {
                    return Err(invalid("a large box header is cut off"));
                }
                let mut large = [0u8; 8];
                large.copy_from_slice(&bytes[at + 8..at + 16]);
                (16usize, u64::from_be_bytes(large))
            }
            n => (8usize, u64::from(n)),
        };
        let size = usize::try_from(size).map_err(|_| invalid("a box is too large"))?;
        if size < header || size > bytes.len() - at {
            return Err(invalid("a box runs past the end of the file"));
        }
        if METADATA.iter().any(|m| **m == kind) {
            bytes[at + 4..at + 8].copy_from_slice(b"free");
            bytes[at + header..at + size].fill(0);
            *blanked += 1;
        } else if CONTAINERS.iter().any(|c| **c == kind) {
            walk(&mut bytes[at + header..at + size], depth + 1, blanked)?;
        }
        at += size;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    pub fn mp4_box(kind: &[u8; 4], payload: &[u8]) -> Vec<u8> {
        let mut b = ((payload.len() + 8) as u32).to_be_bytes().to_vec();
        b.extend_from_slice(kind);
        b.extend_from_slice(payload);
        b
    }

    #[test]
    fn location_and_device_metadata_are_blanked_and_sizes_kept() {
        let gps = mp4_box(b"\xa9xyz", b"+31.2304+121.4737/");
        let udta = mp4_box(b"udta", &gps);
        let trak = mp4_box(
            b"trak",
            &mp4_box(b"meta", b"com.apple.quicktime.model iPhone"),
        );
        let mut moov_payload = mp4_box(b"mvhd", &[0u8; 20]);
        moov_payload.extend(udta);
        moov_payload.extend(trak);
        let mut file = mp4_box(b"ftyp", b"isom\0\0\0\0isom");
        file.extend(mp4_box(b"moov", &moov_payload));
        file.extend(mp4_box(b"mdat", &[7u8; 64]));
        let len = file.len();
        assert_eq!(strip_metadata(&mut file).expect("valid"), 2);
        assert_eq!(file.len(), len);
        for needle in [&b"+31.2304"[..], b"iPhone", b"udta", b"\xa9xyz"] {
            assert!(
                !file.windows(needle.len()).any(|w| w == needle),
                "{needle:?}"
            );
        }
        assert!(file.windows(64).any(|w| w == [7u8; 64]), "media untouched");
    }

    #[test]
    fn truncated_and_malformed_files_are_refused() {
        let mut file = mp4_box(b"ftyp", b"isom\0\0\0\0isom");
        file.extend(mp4_box(b"mdat", &[1u8; 32]));
        let mut cut = file[..file.len() - 5].to_vec();
        assert!(strip_metadata(&mut cut).is_err());
        let mut bad = file.clone();
        bad[0..4].copy_from_slice(&3u32.to_be_bytes());
        assert!(strip_metadata(&mut bad).is_err());
    }
}
