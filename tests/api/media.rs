//! Uploads: the consent gate by source (and a withdrawal that lands mid-upload), photos
//! stored upright with no metadata, thumbnails, one copy of the same bytes, bad files refused
//! with their code and flat memory, videos stripped and held for review, and who may see what.

use image::codecs::jpeg::JpegEncoder;
use image::codecs::png::PngEncoder;
use image::{ImageEncoder, Rgb, RgbImage};
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::helpers::{spawn_app, spawn_app_with, spawn_logging_process, Failures, Store, TestApp};

/// A photo as phones send it: EXIF with orientation 6 (turn 90° clockwise) and a GPS note.
fn phone_photo(w: u32, h: u32) -> Vec<u8> {
    let picture = RgbImage::from_fn(w, h, |x, y| Rgb([(x % 251) as u8, (y % 241) as u8, 90]));
    let mut out = Vec::new();
    let mut encoder = JpegEncoder::new(&mut out);
    let mut exif = b"II\x2a\0\x08\0\0\0\x01\0\x12\x01\x03\0\x01\0\0\0".to_vec();
    exif.extend_from_slice(&[6, 0, 0, 0, 0, 0, 0, 0]);
    exif.extend_from_slice(b"GPSLatitude 31.2304N GPSLongitude 121.4737E");
    encoder.set_exif_metadata(exif).expect("exif");
    encoder
        .write_image(picture.as_raw(), w, h, image::ExtendedColorType::Rgb8)
        .expect("encode");
    out
}

pub fn png(w: u32, h: u32) -> Vec<u8> {
    let picture = RgbImage::from_fn(w, h, |x, _| Rgb([(x * 7 % 256) as u8, 10, 200]));
    let mut out = Vec::new();
    PngEncoder::new(&mut out)
        .write_image(picture.as_raw(), w, h, image::ExtendedColorType::Rgb8)
        .expect("encode");
    out
}

/// The PNG chunk checksum (CRC-32, ISO-HDLC), for hand-made chunks here and in `hardening`.
pub fn crc32(bytes: &[u8]) -> u32 {
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

/// A decompression bomb: a valid PNG header declaring `side`×`side`, and almost nothing else.
fn png_bomb(side: u32) -> Vec<u8> {
    let mut ihdr = b"IHDR".to_vec();
    ihdr.extend_from_slice(&side.to_be_bytes());
    ihdr.extend_from_slice(&side.to_be_bytes());
    ihdr.extend_from_slice(&[8, 2, 0, 0, 0]);
    let mut out = b"\x89PNG\r\n\x1a\n\0\0\0\x0d".to_vec();
    out.extend_from_slice(&ihdr);
    out.extend_from_slice(&crc32(&ihdr).to_be_bytes());
    // A few bytes of deflate stream: what a bomb has, and enough to look like image data.
    let idat = b"IDAT\x78\x9c\x63\x00\x00\x00\x01\x00\x01";
    out.extend_from_slice(&((idat.len() - 4) as u32).to_be_bytes());
    out.extend_from_slice(idat);
    out.extend_from_slice(&crc32(idat).to_be_bytes());
    out.extend_from_slice(&[0, 0, 0, 0, b'I', b'E', b'N', b'D', 0xAE, 0x42, 0x60, 0x82]);
    out
}

fn mp4_box(kind: &[u8; 4], payload: &[u8]) -> Vec<u8> {
    let mut b = ((payload.len() + 8) as u32).to_be_bytes().to_vec();
    b.extend_from_slice(kind);
    b.extend_from_slice(payload);
    b
}

/// A small MP4 whose `moov` carries a location (`©xyz` in `udta`).
fn mp4_with_location() -> Vec<u8> {
    let mut moov = mp4_box(b"mvhd", &[0u8; 20]);
    moov.extend(mp4_box(
        b"udta",
        &mp4_box(b"\xa9xyz", b"+31.2304+121.4737/"),
    ));
    let mut file = mp4_box(b"ftyp", b"isom\0\0\0\0isom");
    file.extend(mp4_box(b"moov", &moov));
    file.extend(mp4_box(b"mdat", &[5u8; 256]));
    file
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

async fn media_rows(app: &TestApp) -> i64 {
    use sqlx::Row;
    sqlx::query("SELECT COUNT(*) FROM media")
        .fetch_one(&app.db)
        .await
        .expect("count")
        .get(0)
}

async fn a_photo_is_stored_upright_without_metadata_and_with_thumbnails(store: Store) {
    let mut app = spawn_app(store).await;
    let user = app.new_user().await;
    app.grant_consents(&user, &["photo_album"]).await;
    let uploaded = app
        .upload(
            &user.token,
            "purpose=chat_photo&source=album",
            "image/jpeg",
            phone_photo(1600, 800),
        )
        .await
        .ok("upload");
    assert_eq!(
        (
            &uploaded["width"],
            &uploaded["height"],
            &uploaded["status"],
            &uploaded["kind"]
        ),
        (
            &json!(800),
            &json!(1600),
            &json!("approved"),
            &json!("image")
        ),
        "turned upright by its EXIF orientation: {uploaded}"
    );
    let sizes: Vec<&Value> = uploaded["thumbnails"]
        .as_array()
        .map(|t| t.iter().map(|t| &t["size"]).collect())
        .unwrap_or_default();
    assert_eq!(sizes, vec![&json!(256), &json!(1080)], "{uploaded}");

    let url = uploaded["url"].as_str().expect("url");
    let (status, kind, stored) = app.get_bytes(url, &user.token).await;
    assert_eq!((status, kind.as_str()), (200, "image/jpeg"));
    for needle in [&b"Exif"[..], b"GPSLatitude", b"121.4737"] {
        assert!(
            !contains(&stored, needle),
            "stored bytes still hold {:?}",
            String::from_utf8_lossy(needle)
        );
    }
    let decoded = image::load_from_memory(&stored).expect("a valid JPEG");
    assert_eq!((decoded.width(), decoded.height()), (800, 1600));
    let thumb_url = uploaded["thumbnails"][0]["url"]
        .as_str()
        .expect("thumb url");
    let (_, _, thumb) = app.get_bytes(thumb_url, &user.token).await;
    let thumb = image::load_from_memory(&thumb).expect("a valid thumbnail");
    assert_eq!(thumb.width().max(thumb.height()), 256);
}

async fn uploads_need_the_consent_for_their_declared_source(store: Store) {
    let mut app = spawn_app(store).await;
    let user = app.new_user().await;
    let photo = png(40, 30);
    let refused = app
        .upload(
            &user.token,
            "purpose=avatar&source=album",
            "image/png",
            photo.clone(),
        )
        .await;
    refused.assert_error(403, "consent_required", "no consent");
    assert_eq!(
        refused.body["error"]["missing_permissions"],
        json!(["photo_album"])
    );
    app.grant_consents(&user, &["camera"]).await;
    app.upload(
        &user.token,
        "purpose=avatar&source=album",
        "image/png",
        photo.clone(),
    )
    .await
    .assert_error(403, "consent_required", "camera does not cover the album");
    app.upload(
        &user.token,
        "purpose=avatar&source=camera",
        "image/png",
        photo,
    )
    .await
    .ok("camera source with camera consent");
    let video = app
        .upload(
            &user.token,
            "purpose=post_video&source=camera",
            "video/mp4",
            mp4_with_location(),
        )
        .await;
    video.assert_error(403, "consent_required", "a video also needs the microphone");
    assert_eq!(
        video.body["error"]["missing_permissions"],
        json!(["microphone"])
    );
    // Restricted accounts cannot upload at all.
    let child = {
        let phone = crate::helpers::random_phone();
        let code = app.request_code(&phone).await;
        let login = app
            .post(
                "/api/auth/login",
                None,
                &json!({ "phone": phone, "code": code, "age_bracket": "under_14", "accepted_policy_version": "1" }),
            )
            .await
            .ok("register a child");
        login["token"].as_str().expect("token").to_owned()
    };
    app.upload(
        &child,
        "purpose=avatar&source=camera",
        "image/png",
        png(10, 10),
    )
    .await
    .assert_error(403, "guardian_required", "an under-14 account");
    let _ = &mut app;
}

/// A withdrawal that commits while the bytes are still arriving refuses the upload.
async fn a_consent_withdrawn_during_an_upload_refuses_it(store: Store) {
    let mut app = spawn_app(store).await;
    let user = app.new_user().await;
    app.grant_consents(&user, &["photo_album"]).await;
    let photo = phone_photo(400, 300);
    let mut conn = tokio::net::TcpStream::connect(("127.0.0.1", app.port))
        .await
        .expect("connect");
    let head = format!(
        "POST /api/media?purpose=chat_photo&source=album HTTP/1.1\r\nHost: x\r\n\
         Authorization: Bearer {}\r\nContent-Type: image/jpeg\r\nContent-Length: {}\r\n\
         Connection: close\r\n\r\n",
        user.token,
        photo.len()
    );
    conn.write_all(head.as_bytes()).await.expect("head");
    let half = photo.len() / 2;
    conn.write_all(&photo[..half]).await.expect("first half");
    conn.flush().await.expect("flush");

    let mut ws = app.ws(&user).await;
    ws.request_ok("consent.withdraw", json!({ "permission": "photo_album" }))
        .await;
    conn.write_all(&photo[half..]).await.expect("second half");
    let mut answer = Vec::new();
    conn.read_to_end(&mut answer).await.expect("answer");
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 403"), "{answer}");
    assert!(answer.contains("consent_required"), "{answer}");
    assert_eq!(media_rows(&app).await, 0, "nothing stored");
}

async fn bad_files_are_refused_with_their_code_and_nothing_is_stored(store: Store) {
    let mut app = spawn_app_with(store, |s| s.media.max_image_bytes = 64 * 1024).await;
    let user = app.new_user().await;
    app.grant_consents(&user, &["photo_album", "camera", "microphone"])
        .await;
    let photo = phone_photo(200, 100);
    let truncated = photo[..photo.len() * 2 / 3].to_vec();
    let mut too_big = png(600, 600);
    too_big.resize(100 * 1024, 0);
    /// case, purpose, declared type, bytes, status, code.
    type Case<'a> = (&'a str, &'a str, &'a str, Vec<u8>, u16, &'a str);
    let cases: Vec<Case> = vec![
        (
            "svg",
            "chat_photo",
            "image/svg+xml",
            b"<svg xmlns='http://www.w3.org/2000/svg'/>".to_vec(),
            415,
            "unsupported_media",
        ),
        (
            "pdf",
            "chat_photo",
            "application/pdf",
            b"%PDF-1.7\n...".to_vec(),
            415,
            "unsupported_media",
        ),
        (
            "png declared as jpeg",
            "chat_photo",
            "image/jpeg",
            png(20, 20),
            415,
            "media_type_mismatch",
        ),
        (
            "truncated jpeg",
            "chat_photo",
            "image/jpeg",
            truncated,
            400,
            "invalid_media",
        ),
        (
            "bomb 60000²",
            "chat_photo",
            "image/png",
            png_bomb(60_000),
            413,
            "image_too_large",
        ),
        (
            "bomb 6000² (pixels)",
            "chat_photo",
            "image/png",
            png_bomb(6_000),
            413,
            "image_too_large",
        ),
        (
            "over the size limit",
            "chat_photo",
            "image/png",
            too_big,
            413,
            "file_too_large",
        ),
        (
            "video as a chat photo",
            "chat_photo",
            "video/mp4",
            mp4_with_location(),
            400,
            "invalid_field",
        ),
        (
            "photo as a video post",
            "post_video",
            "image/jpeg",
            phone_photo(20, 20),
            400,
            "invalid_field",
        ),
        (
            "empty",
            "chat_photo",
            "image/jpeg",
            Vec::new(),
            415,
            "unsupported_media",
        ),
    ];
    let mut failures = Failures::default();
    for (case, purpose, kind, bytes, status, code) in cases {
        let got = app
            .upload(
                &user.token,
                &format!("purpose={purpose}&source=album"),
                kind,
                bytes,
            )
            .await;
        failures.check(case, (status, code), (got.status, got.code()), &got.body);
    }
    let unknown = app
        .upload(
            &user.token,
            "purpose=selfie&source=album",
            "image/png",
            png(5, 5),
        )
        .await;
    failures.check("unknown purpose", 400, unknown.status, &unknown.body);
    failures.assert_none("bad uploads");
    assert_eq!(media_rows(&app).await, 0, "nothing stored");
    let _ = &mut app;
}

async fn the_same_bytes_are_stored_once(store: Store) {
    let mut app = spawn_app(store).await;
    let a = app.new_user().await;
    let b = app.new_user().await;
    app.grant_consents(&a, &["photo_album"]).await;
    app.grant_consents(&b, &["photo_album"]).await;
    let photo = phone_photo(300, 200);
    let first = app
        .upload(
            &a.token,
            "purpose=post_photo&source=album",
            "image/jpeg",
            photo.clone(),
        )
        .await
        .ok("first");
    let blobs = |app: &TestApp| walk(&app.data_dir().join("blobs"));
    let after_first = blobs(&app);
    let second = app
        .upload(
            &b.token,
            "purpose=post_photo&source=album",
            "image/jpeg",
            photo,
        )
        .await
        .ok("second");
    assert_ne!(first["id"], second["id"], "two uploads");
    assert_eq!(blobs(&app), after_first, "one copy of the bytes");
    assert_eq!(after_first, 2, "the photo and its one thumbnail (256)");
}

fn walk(dir: &std::path::Path) -> usize {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .flatten()
                .map(|e| {
                    if e.path().is_dir() {
                        walk(&e.path())
                    } else {
                        1
                    }
                })
                .sum()
        })
        .unwrap_or(0)
}

async fn videos_lose_their_metadata_and_wait_for_review(store: Store) {
    let mut app = spawn_app(store).await;
    let owner = app.new_user().await;
    let other = app.new_user().await;
    app.grant_consents(&owner, &["camera", "microphone"]).await;
    let uploaded = app
        .upload(
            &owner.token,
            "purpose=post_video&source=camera",
            "video/mp4",
            mp4_with_location(),
        )
        .await
        .ok("video");
    assert_eq!(
        (&uploaded["kind"], &uploaded["status"]),
        (&json!("video"), &json!("in_review"))
    );
    let url = uploaded["url"].as_str().expect("url");
    let (status, kind, stored) = app.get_bytes(url, &owner.token).await;
    assert_eq!((status, kind.as_str()), (200, "video/mp4"));
    assert!(
        !contains(&stored, b"+31.2304") && !contains(&stored, b"udta"),
        "location gone"
    );
    assert_eq!(
        stored.len(),
        mp4_with_location().len(),
        "sizes kept: offsets still valid"
    );
    let (hidden, _, _) = app.get_bytes(url, &other.token).await;
    assert_eq!(hidden, 404, "not shown to others before review");
}

async fn others_see_only_approved_public_media(store: Store) {
    let mut app = spawn_app(store).await;
    let owner = app.new_user().await;
    let other = app.new_user().await;
    let staff = app.new_user().await;
    app.grant_role(staff.id, "moderator").await;
    let staff = app.login_again(&staff).await;
    app.grant_consents(&owner, &["photo_album"]).await;
    let avatar = app
        .upload(
            &owner.token,
            "purpose=avatar&source=album",
            "image/png",
            png(50, 50),
        )
        .await
        .ok("avatar");
    let chat = app
        .upload(
            &owner.token,
            "purpose=chat_photo&source=album",
            "image/png",
            png(50, 50),
        )
        .await
        .ok("chat");
    let path = |m: &Value| format!("/api/media/{}", m["id"].as_str().expect("id"));
    app.get(&path(&avatar), Some(&other.token))
        .await
        .ok("an approved avatar is public");
    app.get(&path(&chat), Some(&other.token))
        .await
        .assert_error(404, "not_found", "someone else's chat photo");
    app.get(&path(&chat), Some(&staff.token)).await.ok("staff");
    app.get(
        "/api/media/00000000000000000000000000000000",
        Some(&owner.token),
    )
    .await
    .assert_error(404, "not_found", "unknown id");
    app.get(&path(&avatar), None)
        .await
        .assert_error(401, "unauthorized", "no token");
}

/// Bombs and garbage, many times over, against a real server process: its resident memory
/// must not grow with them (every refusal happens before a large allocation).
async fn bombs_leave_the_servers_memory_flat(store: Store) {
    let log = tempfile::NamedTempFile::new().expect("log file");
    let mut node = spawn_logging_process(store, log.path()).await;
    let user = node.app.new_user().await;
    node.app.grant_consents(&user, &["photo_album"]).await;
    let rss = |pid: u32| -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("proc status");
        status
            .lines()
            .find(|l| l.starts_with("VmRSS:"))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|kb| kb.parse().ok())
            .expect("VmRSS")
    };
    // Warm up: the first upload pulls in the decoder code and pool buffers.
    node.app
        .upload(
            &user.token,
            "purpose=chat_photo&source=album",
            "image/png",
            png(64, 64),
        )
        .await
        .ok("warm-up");
    let before = rss(node.pid());
    for round in 0..30 {
        let (bomb, kind) = if round % 2 == 0 {
            (png_bomb(65_000), "image/png")
        } else {
            (png_bomb(7_000), "image/png")
        };
        let got = node
            .app
            .upload(&user.token, "purpose=chat_photo&source=album", kind, bomb)
            .await;
        assert_eq!(got.code(), "image_too_large", "{got:?}");
    }
    let after = rss(node.pid());
    let grown_mib = after.saturating_sub(before) / 1024;
    assert!(
        grown_mib < 48,
        "resident memory grew by {grown_mib} MiB over 30 bombs ({before} kB → {after} kB)"
    );
}

async fn rejected_uploads_are_removed_once_the_appeal_window_has_passed(store: Store) {
    let mut app = spawn_app_with(store, |s| s.privacy.retention_interval_ms = 20).await;
    let user = app.new_user().await;
    app.grant_consents(&user, &["photo_album"]).await;
    let kept = app
        .upload(
            &user.token,
            "purpose=post_photo&source=album",
            "image/png",
            png(30, 30),
        )
        .await
        .ok("kept");
    let rejected = app
        .upload(
            &user.token,
            "purpose=post_photo&source=album",
            "image/png",
            png(40, 40),
        )
        .await
        .ok("to be rejected");
    let old = crate::helpers::now_ms() - 21 * 24 * 3600 * 1000;
    sqlx::query("UPDATE media SET status = 'rejected', created_at = $1 WHERE id = $2")
        .bind(old)
        .bind(rejected["id"].as_str().expect("id"))
        .execute(&app.db)
        .await
        .expect("age a rejection");
    let deadline = tokio::time::Instant::now() + crate::helpers::WAIT;
    while media_rows(&app).await > 1 {
        assert!(tokio::time::Instant::now() < deadline, "not purged in time");
        tokio::time::sleep(crate::helpers::POLL_INTERVAL).await;
    }
    app.get(
        &format!("/api/media/{}", kept["id"].as_str().expect("id")),
        Some(&user.token),
    )
    .await
    .ok("the approved one stays");
    assert_eq!(
        walk(&app.data_dir().join("blobs")),
        1,
        "only the kept picture's bytes remain"
    );
    let _ = &mut app;
}

async fn a_bad_purpose_or_source_is_an_invalid_field_naming_it(store: Store) {
    let mut app = spawn_app(store).await;
    let user = app.new_user().await;
    app.grant_consents(&user, &["photo_album"]).await;
    let mut failures = Failures::default();
    for (query, field) in [
        ("source=album", "purpose"),
        ("purpose=chat_photo", "source"),
        ("purpose=selfie&source=album", "purpose"),
        ("purpose=chat_photo&source=drawer", "source"),
        ("purpose=chat_photo&source=album&extra=1", "extra"),
    ] {
        let answer = app.upload(&user.token, query, "image/png", png(8, 8)).await;
        failures.check(
            query,
            (400, "invalid_field", json!(field)),
            (answer.status, answer.code(), answer.field().clone()),
            &answer,
        );
    }
    failures.assert_none("upload query");
}

store_tests!(
    a_bad_purpose_or_source_is_an_invalid_field_naming_it,
    rejected_uploads_are_removed_once_the_appeal_window_has_passed,
    a_photo_is_stored_upright_without_metadata_and_with_thumbnails,
    uploads_need_the_consent_for_their_declared_source,
    a_consent_withdrawn_during_an_upload_refuses_it,
    bad_files_are_refused_with_their_code_and_nothing_is_stored,
    the_same_bytes_are_stored_once,
    videos_lose_their_metadata_and_wait_for_review,
    others_see_only_approved_public_media,
    bombs_leave_the_servers_memory_flat,
);
