//! What a file is, from its first bytes: the declared type is never trusted (policy: 审核,
//! and a file whose bytes do not match its type is refused). Pure, unit-tested.

use serde::{Deserialize, Serialize};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    Jpeg,
    Png,
    Webp,
    Gif,
    Mp4,
    Mov,
}

impl Format {
    pub fn is_video(self) -> bool {
        matches!(self, Format::Mp4 | Format::Mov)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Format::Jpeg => "jpeg",
            Format::Png => "png",
            Format::Webp => "webp",
            Format::Gif => "gif",
            Format::Mp4 => "mp4",
            Format::Mov => "mov",
        }
    }

    pub fn mime(self) -> &'static str {
        match self {
            Format::Jpeg => "image/jpeg",
            Format::Png => "image/png",
            Format::Webp => "image/webp",
            Format::Gif => "image/gif",
            Format::Mp4 => "video/mp4",
            Format::Mov => "video/quicktime",
        }
    }

    /// The formats a declared `Content-Type` may name for these bytes.
    pub fn matches_declared(self, declared: &str) -> bool {
        let declared = declared
            .split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase();
        match self {
            Format::Jpeg => matches!(
                declared.as_str(),
                "image/jpeg" | "image/jpg" | "image/pjpeg"
            ),
            Format::Mp4 => declared == "video/mp4",
            // QuickTime files are often sent as MP4: the container is the same family.
            Format::Mov => matches!(declared.as_str(), "video/quicktime" | "video/mp4"),
            other => declared == other.mime(),
        }
    }
}

/// The format the bytes are, or `None` for anything not accepted.
pub fn sniff(bytes: &[u8]) -> Option<Format> {
    if bytes.starts_with(&[0xFF, 0xD8, 0xFF]) {
        return Some(Format::Jpeg);
    }
    if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
        return Some(Format::Png);
    }
    if bytes.len() >= 12 && &bytes[..4] == b"RIFF" && &bytes[8..12] == b"WEBP" {
        return Some(Format::Webp);
    }
    if bytes.starts_with(b"GIF87a") || bytes.starts_with(b"GIF89a") {
        return Some(Format::Gif);
    }
    // ISO base media: a first box of type `ftyp`; the brand tells QuickTime from MP4.
    if bytes.len() >= 12 && &bytes[4..8] == b"ftyp" {
        return Some(if &bytes[8..12] == b"qt  " {
            Format::Mov
        } else {
            Format::Mp4
        });
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_are_told_by_their_bytes() {
        let cases: [(&[u8], Option<Format>); 9] = [
            (b"\xFF\xD8\xFF\xE0rest", Some(Format::Jpeg)),
            (b"\x89PNG\r\n\x1a\nrest", Some(Format::Png)),
            (b"RIFF\0\0\0\0WEBPVP8 ", Some(Format::Webp)),
            (b"GIF89a..", Some(Format::Gif)),
            (b"\0\0\0\x18ftypisom", Some(Format::Mp4)),
            (b"\0\0\0\x14ftypqt  ", Some(Format::Mov)),
            (b"<svg xmlns=", None),
            (b"%PDF-1.7", None),
            (b"", None),
        ];
        for (bytes, want) in cases {
            assert_eq!(sniff(bytes), want, "{bytes:?}");
        }
    }

    #[test]
    fn declared_types_must_agree() {
        assert!(Format::Jpeg.matches_declared("image/jpeg; charset=binary"));
        assert!(!Format::Png.matches_declared("image/jpeg"));
        assert!(Format::Mov.matches_declared("video/mp4"));
        assert!(!Format::Gif.matches_declared("image/png"));
    }
}
