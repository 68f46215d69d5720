//! Media's settings: the `[media]` section (env `DUOXIE_MEDIA_*`), its defaults and the values it
//! refuses.

use crate::config::{check, Env, Section};
use serde::Deserialize;

#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MediaSettings {
    /// Largest photo upload, bytes. env `DUOXIE_MEDIA_MAX_IMAGE_BYTES`; default: 10485760.
    pub max_image_bytes: usize,
    /// Largest video upload, bytes. env `DUOXIE_MEDIA_MAX_VIDEO_BYTES`; default: 52428800.
    pub max_video_bytes: usize,
    /// Longest side of a photo, px, read from its header before decoding.
    /// env `DUOXIE_MEDIA_MAX_DIMENSION`; default: 8192.
    pub max_dimension: u32,
    /// Most pixels of a photo, read from its header. env `DUOXIE_MEDIA_MAX_PIXELS`;
    /// default: 24000000.
    pub max_pixels: u64,
    /// Memory one decode may allocate, bytes (`image::Limits::max_alloc`).
    /// env `DUOXIE_MEDIA_MAX_DECODE_BYTES`; default: 201326592 (192 MiB).
    pub max_decode_bytes: u64,
    /// Photos decoded at once per node; more wait, so memory stays bounded under a burst.
    /// env `DUOXIE_MEDIA_MAX_CONCURRENT_DECODES`; default: 2.
    pub max_concurrent_decodes: usize,
    /// Uploads one user may make per hour (each is screened, many are queued for review).
    /// env `DUOXIE_MEDIA_UPLOADS_PER_HOUR`; default: 60.
    pub uploads_per_hour: i64,
    /// Bytes of uploads one user may keep stored. env `DUOXIE_MEDIA_QUOTA_BYTES`;
    /// default: 536870912 (512 MiB).
    pub quota_bytes: i64,
}

impl Default for MediaSettings {
    fn default() -> Self {
        Self {
            max_image_bytes: 10 * 1024 * 1024,
            max_video_bytes: 50 * 1024 * 1024,
            max_dimension: 8192,
            max_pixels: 24_000_000,
            max_decode_bytes: 192 * 1024 * 1024,
            max_concurrent_decodes: 2,
            uploads_per_hour: 60,
            quota_bytes: 512 * 1024 * 1024,
        }
    }
}

impl Section for MediaSettings {
    const NAME: &'static str = "media";

    fn apply_env(&mut self, env: &Env<'_>) -> anyhow::Result<()> {
        crate::config::from_env!(
            env,
            "media",
            self,
            [
                max_image_bytes,
                max_video_bytes,
                max_dimension,
                max_pixels,
                max_decode_bytes,
                max_concurrent_decodes,
                uploads_per_hour,
                quota_bytes
            ]
        );
        Ok(())
    }

    fn validate(&self) -> anyhow::Result<()> {
        let m = self;
        check(
            m.max_image_bytes >= 1024,
            "DUOXIE_MEDIA_MAX_IMAGE_BYTES",
            "must be at least 1024",
        )?;
        check(
            m.max_video_bytes >= 1024,
            "DUOXIE_MEDIA_MAX_VIDEO_BYTES",
            "must be at least 1024",
        )?;
        check(
            (16..=65535).contains(&m.max_dimension),
            "DUOXIE_MEDIA_MAX_DIMENSION",
            "must be between 16 and 65535",
        )?;
        check(
            m.max_pixels >= 256,
            "DUOXIE_MEDIA_MAX_PIXELS",
            "must be at least 256",
        )?;
        check(
            m.max_decode_bytes >= 1024 * 1024,
            "DUOXIE_MEDIA_MAX_DECODE_BYTES",
            "must be at least 1048576",
        )?;
        check(
            m.max_concurrent_decodes >= 1,
            "DUOXIE_MEDIA_MAX_CONCURRENT_DECODES",
            "must be at least 1",
        )?;
        check(
            m.uploads_per_hour >= 1,
            "DUOXIE_MEDIA_UPLOADS_PER_HOUR",
            "must be at least 1",
        )?;
        check(
            m.quota_bytes >= m.max_video_bytes.max(m.max_image_bytes) as i64,
            "DUOXIE_MEDIA_QUOTA_BYTES",
            "must hold at least one upload of the largest kind",
        )?;
        Ok(())
    }
}
