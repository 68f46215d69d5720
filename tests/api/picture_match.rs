//! The picture blocklist against product shots: generated jewellery photos in the layout
//! sellers use (the item lit in the middle of a plain backdrop, a caption below). The match
//! table (`match_table_of_generated_product_shots`) says which pairs must match (the same
//! photo re-encoded, resized, slightly cropped, recompressed, brighter or darker) and which
//! must not (other items shot the same way), and prints the measured figures that
//! `docs/moderation.md` quotes. The server tests then go through upload, report and
//! `reject_and_block` as users and moderators do.

use std::sync::Arc;

use duoxie::moderation::fingerprint::{Closeness, Fingerprint};
use duoxie::moderation::policy::{screen_image, PictureMatch, Verdict};
use duoxie::startup::App;
use image::codecs::jpeg::JpegEncoder;
use image::codecs::png::PngEncoder;
use image::imageops::FilterType;
use image::{DynamicImage, ImageEncoder, Rgb, RgbImage};
use serde_json::{json, Value};
use sqlx::Row;
use tempfile::TempDir;

use crate::helpers::{spawn_app, test_settings, Store, TestApp, TestUser};
use crate::moderation::claim_and_decide;

#[derive(Clone, Copy, Debug, PartialEq)]
enum Shape {
    Ring,
    Pendant,
    Bangle,
    Necklace,
    Earrings,
    Cabochon,
    BeadBracelet,
}

const SHAPES: [Shape; 7] = [
    Shape::Ring,
    Shape::Pendant,
    Shape::Bangle,
    Shape::Necklace,
    Shape::Earrings,
    Shape::Cabochon,
    Shape::BeadBracelet,
];

const COLOURS: [(&str, [u8; 3]); 7] = [
    ("red", [190, 40, 45]),
    ("green", [60, 150, 90]),
    ("purple", [120, 60, 150]),
    ("white", [228, 226, 212]),
    ("amber", [210, 150, 40]),
    ("blue", [50, 90, 180]),
    ("black", [38, 38, 44]),
];

/// One item as a seller photographs it. `seed` is the item itself: its veining, and where
/// exactly it lies on the backdrop (no two items are placed alike).
#[derive(Clone, Debug)]
struct Item {
    caption: String,
    shape: Shape,
    colour: [u8; 3],
    seed: u32,
}

fn hash32(mut x: u32) -> u32 {
    x ^= x >> 16;
    x = x.wrapping_mul(0x7feb_352d);
    x ^= x >> 15;
    x = x.wrapping_mul(0x846c_a68b);
    x ^ (x >> 16)
}

/// A value in 0..1, fixed by the seed and the salt.
fn unit(seed: u32, salt: u32) -> f32 {
    (hash32(seed.wrapping_mul(0x9e37_79b9) ^ salt) % 10_000) as f32 / 10_000.0
}

/// Smooth value noise, 0..1, features about `1 / scale` wide.
fn noise(seed: u32, x: f32, y: f32, scale: f32) -> f32 {
    let (x, y) = (x * scale, y * scale);
    let (x0, y0) = (x.floor(), y.floor());
    let (fx, fy) = (x - x0, y - y0);
    let corner = |dx: f32, dy: f32| {
        let h = hash32(seed ^ hash32((x0 + dx) as i32 as u32 ^ hash32((y0 + dy) as i32 as u32)));
        (h % 1000) as f32 / 1000.0
    };
    let smooth = |t: f32| t * t * (3.0 - 2.0 * t);
    let (sx, sy) = (smooth(fx), smooth(fy));
    let top = corner(0.0, 0.0) * (1.0 - sx) + corner(1.0, 0.0) * sx;
    let bottom = corner(0.0, 1.0) * (1.0 - sx) + corner(1.0, 1.0) * sx;
    top * (1.0 - sy) + bottom * sy
}

/// Whether the point (in item coordinates: the item spans about -1..1) is on the item.
fn covers(shape: Shape, u: f32, v: f32) -> bool {
    let circle = |cx: f32, cy: f32, r: f32| (u - cx).powi(2) + (v - cy).powi(2) < r * r;
    let annulus = |cx: f32, cy: f32, r0: f32, r1: f32| {
        let d = ((u - cx).powi(2) + (v - cy).powi(2)).sqrt();
        d > r0 && d < r1
    };
    let ellipse = |cx: f32, cy: f32, rx: f32, ry: f32| {
        ((u - cx) / rx).powi(2) + ((v - cy) / ry).powi(2) < 1.0
    };
    match shape {
        Shape::Ring => annulus(0.0, 0.15, 0.55, 0.75) || circle(0.0, -0.62, 0.25),
        Shape::Pendant => ellipse(0.0, 0.2, 0.45, 0.7) || annulus(0.0, -0.62, 0.08, 0.16),
        Shape::Bangle => annulus(0.0, 0.0, 0.68, 0.95),
        Shape::Necklace => (0..11).any(|i| {
            let a = std::f32::consts::PI * (0.1 + 0.8 * i as f32 / 10.0);
            circle(0.85 * a.cos(), 0.7 * a.sin() - 0.2, 0.12)
        }),
        Shape::Earrings => {
            ellipse(-0.45, 0.25, 0.22, 0.38)
                || ellipse(0.45, 0.25, 0.22, 0.38)
                || circle(-0.45, -0.3, 0.07)
                || circle(0.45, -0.3, 0.07)
        }
        Shape::Cabochon => ellipse(0.0, 0.0, 0.75, 0.55),
        Shape::BeadBracelet => (0..12).any(|i| {
            let a = std::f32::consts::TAU * i as f32 / 12.0;
            circle(0.72 * a.cos(), 0.72 * a.sin(), 0.17)
        }),
    }
}

/// A product shot of the item, `w × h`: a warm backdrop lit from the centre, a soft shadow,
/// the item shaded and veined, and a caption strip of glyph-like marks from its name.
fn product_shot(item: &Item, w: u32, h: u32) -> RgbImage {
    let side = w.min(h) as f32;
    // Where this item lies and how large: up to 6 % off centre, 90-110 % of the usual size.
    let cx = w as f32 / 2.0 + (unit(item.seed, 1) - 0.5) * 0.12 * side;
    let cy = h as f32 * 0.45 + (unit(item.seed, 2) - 0.5) * 0.12 * side;
    let scale = side * 0.3 * (0.9 + 0.2 * unit(item.seed, 3));
    let turn = (unit(item.seed, 4) - 0.5) * 0.6;
    let (sin, cos) = turn.sin_cos();
    let caption: Vec<u8> = item.caption.bytes().collect();
    RgbImage::from_fn(w, h, |x, y| {
        let (px, py) = (x as f32, y as f32);
        let (dx, dy) = (px - w as f32 / 2.0, py - h as f32 * 0.45);
        let r = (dx * dx + dy * dy).sqrt() / side;
        let light = 246.0 - 120.0 * r * r;
        let mut rgb = [light, light * 0.985, light * 0.955];
        // The shadow under the item.
        let (sx, sy) = ((px - cx) / scale, (py - cy - 0.18 * scale) / scale);
        let shadow = (-(sx * sx + sy * sy) * 1.3).exp() * 0.22;
        for c in &mut rgb {
            *c *= 1.0 - shadow;
        }
        let (u0, v0) = ((px - cx) / scale, (py - cy) / scale);
        let (u, v) = (u0 * cos + v0 * sin, -u0 * sin + v0 * cos);
        if covers(item.shape, u, v) {
            let shade = 0.75 + 0.35 * (-(u + 0.4) * 0.5 - (v + 0.4) * 0.5).clamp(-1.0, 1.0);
            let vein = 0.8 + 0.4 * noise(item.seed, u, v, 3.5);
            let glint = (-((u + 0.3).powi(2) + (v + 0.35).powi(2)) * 40.0).exp() * 90.0;
            for (c, base) in rgb.iter_mut().zip(item.colour) {
                *c = f32::from(base) * shade * vein + glint;
            }
        }
        // The caption: one block of marks per letter, 86-93 % of the way down.
        let (top, bottom) = (h as f32 * 0.86, h as f32 * 0.93);
        if py > top && py < bottom && !caption.is_empty() {
            let width = side * 0.06;
            let start = w as f32 / 2.0 - width * caption.len() as f32 / 2.0;
            let slot = ((px - start) / width).floor();
            if slot >= 0.0 && (slot as usize) < caption.len() {
                let letter = u32::from(caption[slot as usize]);
                let gx = (((px - start) / width).fract() * 5.0) as u32;
                let gy = ((py - top) / (bottom - top) * 7.0) as u32;
                if letter != u32::from(b' ') && gx < 4 && hash32(letter * 64 + gy * 5 + gx) % 3 == 0
                {
                    rgb = [60.0, 55.0, 50.0];
                }
            }
        }
        Rgb(rgb.map(|c| c.clamp(0.0, 255.0) as u8))
    })
}

fn jpeg(picture: &RgbImage, quality: u8) -> Vec<u8> {
    let mut out = Vec::new();
    JpegEncoder::new_with_quality(&mut out, quality)
        .write_image(
            picture.as_raw(),
            picture.width(),
            picture.height(),
            image::ExtendedColorType::Rgb8,
        )
        .expect("encode jpeg");
    out
}

fn png(picture: &RgbImage) -> Vec<u8> {
    let mut out = Vec::new();
    PngEncoder::new(&mut out)
        .write_image(
            picture.as_raw(),
            picture.width(),
            picture.height(),
            image::ExtendedColorType::Rgb8,
        )
        .expect("encode png");
    out
}

fn decoded(bytes: &[u8]) -> RgbImage {
    image::load_from_memory(bytes)
        .expect("decode what we encoded")
        .to_rgb8()
}

/// Cut `left, top, right, bottom` (fractions of the side) off the picture.
fn cropped(picture: &RgbImage, cut: [f32; 4]) -> RgbImage {
    let (w, h) = (picture.width() as f32, picture.height() as f32);
    let (x, y) = ((w * cut[0]) as u32, (h * cut[1]) as u32);
    let cw = (w * (1.0 - cut[0] - cut[2])) as u32;
    let ch = (h * (1.0 - cut[1] - cut[3])) as u32;
    image::imageops::crop_imm(picture, x, y, cw, ch).to_image()
}

fn brightened(picture: &RgbImage, factor: f32) -> RgbImage {
    let mut out = picture.clone();
    for px in out.pixels_mut() {
        px.0 =
            px.0.map(|c| (f32::from(c) * factor).clamp(0.0, 255.0) as u8);
    }
    out
}

fn resized(picture: &RgbImage, factor: f32) -> RgbImage {
    let (w, h) = (
        picture.width() as f32 * factor,
        picture.height() as f32 * factor,
    );
    image::imageops::resize(picture, w as u32, h as u32, FilterType::Triangle)
}

/// The edits a picture goes through between a blocklisted upload and the next one: what a
/// seller re-posting a refused photo, or a forward of it, does to it.
#[allow(clippy::type_complexity)]
fn edits() -> Vec<(&'static str, Box<dyn Fn(&RgbImage) -> RgbImage>)> {
    vec![
        ("re-encoded (JPEG q90)", Box::new(|p| decoded(&jpeg(p, 90)))),
        (
            "recompressed twice (JPEG q40, q30)",
            Box::new(|p| decoded(&jpeg(&decoded(&jpeg(p, 40)), 30))),
        ),
        ("resized to 50 %", Box::new(|p| resized(p, 0.5))),
        ("resized to 140 %", Box::new(|p| resized(p, 1.4))),
        ("brighter (+15 %)", Box::new(|p| brightened(p, 1.15))),
        ("darker (-15 %)", Box::new(|p| brightened(p, 0.85))),
        // Crop sizes between the listed cuts (1.5, 3, 4.5, 6, 8 %), never on one.
        ("cropped 1 % each side", Box::new(|p| cropped(p, [0.01; 4]))),
        (
            "cropped 2.2 % each side",
            Box::new(|p| cropped(p, [0.022; 4])),
        ),
        (
            "cropped 3.7 % each side",
            Box::new(|p| cropped(p, [0.037; 4])),
        ),
        (
            "cropped 5.3 % each side",
            Box::new(|p| cropped(p, [0.053; 4])),
        ),
        (
            "cropped 3 % top only",
            Box::new(|p| cropped(p, [0.0, 0.03, 0.0, 0.0])),
        ),
        (
            "cropped 5 % bottom only",
            Box::new(|p| cropped(p, [0.0, 0.0, 0.0, 0.05])),
        ),
        (
            "cropped 2 % left, 3 % right",
            Box::new(|p| cropped(p, [0.02, 0.0, 0.03, 0.0])),
        ),
        (
            "cropped 2.5 % top and bottom",
            Box::new(|p| cropped(p, [0.0, 0.025, 0.0, 0.025])),
        ),
        (
            "cropped 2.2 %, halved, JPEG q60",
            Box::new(|p| decoded(&jpeg(&resized(&cropped(p, [0.022; 4]), 0.5), 60))),
        ),
    ]
}

/// Every shape in every colour, each a distinct item (its own seed and placement), plus a
/// second item of each shape in green jade: the hardest pairs, same shape, same colour.
fn catalogue() -> Vec<Item> {
    let mut items = Vec::new();
    for (s, shape) in SHAPES.iter().enumerate() {
        for (c, (colour_name, colour)) in COLOURS.iter().enumerate() {
            items.push(Item {
                caption: format!("{colour_name} {shape:?} {}", (b'A' + s as u8) as char),
                shape: *shape,
                colour: *colour,
                seed: (s * 16 + c) as u32 + 1,
            });
        }
        items.push(Item {
            caption: format!("jade {shape:?} {}", (b'H' + s as u8) as char),
            shape: *shape,
            colour: COLOURS[1].1,
            seed: 500 + s as u32,
        });
    }
    items
}

/// An upload's fingerprint.
fn print_of(picture: &RgbImage) -> Fingerprint {
    Fingerprint::of_image(&DynamicImage::ImageRgb8(picture.clone()))
}

/// A blocklisted picture's fingerprint.
fn listed_print_of(picture: &RgbImage) -> Fingerprint {
    Fingerprint::for_blocklist(&DynamicImage::ImageRgb8(picture.clone()))
}

fn thresholds() -> PictureMatch {
    PictureMatch::from(&duoxie::settings::Settings::default().moderation)
}

fn refused(upload: &Fingerprint, listed: &Fingerprint) -> bool {
    matches!(
        screen_image(upload, std::slice::from_ref(listed), &thresholds()),
        Verdict::Reject(_)
    )
}

fn held(upload: &Fingerprint, listed: &Fingerprint) -> bool {
    matches!(
        screen_image(upload, std::slice::from_ref(listed), &thresholds()),
        Verdict::Review(_)
    )
}

fn median(values: &mut [u32]) -> u32 {
    values.sort_unstable();
    values.get(values.len() / 2).copied().unwrap_or(0)
}

/// The table `docs/moderation.md` quotes (run with `--nocapture` to see it): at the default
/// thresholds no other item is ever refused or even held for review, every re-encoded,
/// resized or brightened copy is refused, and crops are refused but for a few (recall
/// over all edits at least 97 %).
#[test]
fn match_table_of_generated_product_shots() {
    let items = catalogue();
    let m = thresholds();
    let originals: Vec<RgbImage> = items.iter().map(|i| product_shot(i, 400, 400)).collect();
    let prints: Vec<Fingerprint> = originals.iter().map(print_of).collect();
    let listed: Vec<Fingerprint> = originals.iter().map(listed_print_of).collect();
    let mut table = vec![
        "| pair | pairs | refused | bits (min / median / max) | colour (max) |".to_string(),
        "|---|---:|---:|---|---:|".to_string(),
    ];
    let (mut must_match, mut matched, mut missed_required) = (0, 0, Vec::new());
    // One original of each shape, in turning colours, goes through every edit.
    let edited: Vec<usize> = (0..SHAPES.len()).map(|s| s * 8 + s % 7).collect();
    for (name, edit) in edits() {
        let (mut bits, mut colour, mut hits) = (Vec::new(), 0, 0);
        for &i in &edited {
            let upload = print_of(&edit(&originals[i]));
            let c: Closeness = upload.closeness(&listed[i]);
            bits.push(c.bits);
            colour = colour.max(c.colour);
            if refused(&upload, &listed[i]) {
                hits += 1;
            } else if !name.starts_with("cropped") {
                missed_required.push(format!("{name} of {}: {c:?}", items[i].caption));
            }
        }
        must_match += edited.len();
        matched += hits;
        let (min, max) = (
            *bits.iter().min().unwrap_or(&0),
            *bits.iter().max().unwrap_or(&0),
        );
        table.push(format!(
            "| {name} | {} | {hits} | {min} / {} / {max} | {colour} |",
            edited.len(),
            median(&mut bits)
        ));
    }
    // Every pair of distinct items.
    let (mut pairs, mut false_matches, mut bits, mut same_kind_bits) =
        (0, Vec::new(), vec![], vec![]);
    let mut held_for_review = Vec::new();
    for a in 0..items.len() {
        for b in a + 1..items.len() {
            // Either may be the listed one; the nearer way round is what counts.
            let c = prints[a]
                .closeness(&listed[b])
                .min(prints[b].closeness(&listed[a]));
            pairs += 1;
            bits.push(c.bits);
            if items[a].shape == items[b].shape && items[a].colour == items[b].colour {
                same_kind_bits.push(c.bits);
            }
            if refused(&prints[a], &listed[b]) || refused(&prints[b], &listed[a]) {
                false_matches.push(format!(
                    "{} ~ {}: {c:?}",
                    items[a].caption, items[b].caption
                ));
            } else if held(&prints[a], &listed[b]) || held(&prints[b], &listed[a]) {
                held_for_review.push(format!(
                    "{} ~ {}: {c:?}",
                    items[a].caption, items[b].caption
                ));
            }
        }
    }
    let (min, max) = (
        *bits.iter().min().unwrap_or(&0),
        *bits.iter().max().unwrap_or(&0),
    );
    table.push(format!(
        "| different items | {pairs} | {} (held for review: {}) | {min} / {} / {max} | |",
        false_matches.len(),
        held_for_review.len(),
        median(&mut bits)
    ));
    table.push(format!(
        "| of them same shape and colour | {} | | {} / {} / {} | |",
        same_kind_bits.len(),
        same_kind_bits.iter().min().unwrap_or(&0),
        median(&mut same_kind_bits.clone()),
        same_kind_bits.iter().max().unwrap_or(&0),
    ));
    let precision = matched as f64 / (matched + false_matches.len()).max(1) as f64;
    let recall = matched as f64 / must_match.max(1) as f64;
    println!(
        "thresholds: {m:?}\n{}\nprecision {precision:.3}, recall {recall:.3} ({matched} of {must_match} edits refused, {} of {pairs} other items)",
        table.join("\n"),
        false_matches.len()
    );
    assert!(
        false_matches.is_empty(),
        "other items refused: {false_matches:#?}"
    );
    assert!(
        held_for_review.is_empty(),
        "other items held for review: {held_for_review:#?}"
    );
    assert!(
        missed_required.is_empty(),
        "re-encoded, resized or brightened copies that got through: {missed_required:#?}"
    );
    // Crops: the cuts cover most, not all (an uneven crop between two cuts can escape).
    assert!(recall >= 0.97, "recall {recall:.3}");
}

/// The issue's own scenario, through the server: a red "Pendant C" rejected and
/// blocklisted from a report; other items in the same layout are shown at once, the same
/// photo edited is refused without being told how close it came.
async fn a_blocklisted_product_shot_refuses_its_copies_and_nothing_else(store: Store) {
    let mut app = spawn_app(store).await;
    let (seller, reporter) = (app.new_user().await, app.new_user().await);
    let staff = app.new_user().await;
    app.grant_role(staff.id, "moderator").await;
    let staff = app.login_again(&staff).await;
    app.grant_consents(&seller, &["photo_album"]).await;
    let mut console = app.ws(&staff).await;
    console.request_ok("mod.subscribe", json!({})).await;

    let pendant = Item {
        caption: "Pendant C".into(),
        shape: Shape::Pendant,
        colour: [190, 40, 45],
        seed: 3,
    };
    let shot = product_shot(&pendant, 640, 640);
    let listed = post_photo(&app, &seller, png(&shot)).await;
    assert_eq!(listed["status"], json!("approved"), "{listed}");
    let mut ws = app.ws(&reporter).await;
    let report = ws
        .request_ok(
            "report.create",
            json!({ "target": "media", "media_id": listed["id"], "reason": "假货" }),
        )
        .await;
    claim_and_decide(&mut console, &report["item_id"], "reject_and_block", "假货").await;
    let row = sqlx::query("SELECT algorithm, version, pdq, quality FROM picture_blocklist")
        .fetch_one(&app.db)
        .await
        .expect("the picture is blocklisted");
    assert_eq!(row.get::<String, _>(0), "pdq");
    assert_eq!(
        row.get::<String, _>(1),
        duoxie::moderation::fingerprint::VERSION
    );
    assert_eq!(row.get::<String, _>(2).len(), 64, "a 256-bit PDQ in hex");

    // Other items, the same way: a green ring, a purple bracelet, and six more.
    let others = [
        ("Jade ring A", Shape::Ring, [60, 150, 90]),
        ("Bracelet B", Shape::BeadBracelet, [120, 60, 150]),
        ("Pendant D", Shape::Pendant, [60, 150, 90]),
        ("Pendant E", Shape::Pendant, [190, 40, 45]),
        ("Bangle F", Shape::Bangle, [228, 226, 212]),
        ("Earrings G", Shape::Earrings, [210, 150, 40]),
        ("Cabochon H", Shape::Cabochon, [50, 90, 180]),
        ("Necklace I", Shape::Necklace, [190, 40, 45]),
    ];
    for (n, (caption, shape, colour)) in others.into_iter().enumerate() {
        let item = Item {
            caption: caption.into(),
            shape,
            colour,
            seed: 40 + n as u32,
        };
        let posted = post_photo(&app, &seller, jpeg(&product_shot(&item, 640, 640), 88)).await;
        assert_eq!(
            posted["status"],
            json!("approved"),
            "{caption} is another item: shown at once, not held: {posted}"
        );
    }

    for (what, copy) in [
        ("re-encoded", jpeg(&shot, 80)),
        (
            "cropped 2 % and halved",
            jpeg(&resized(&cropped(&shot, [0.02; 4]), 0.5), 70),
        ),
        ("brighter", png(&brightened(&shot, 1.12))),
    ] {
        let mime = mime_of(&copy);
        let refused = app
            .upload(&seller.token, "purpose=post_photo&source=album", mime, copy)
            .await;
        refused.assert_error(422, "content_rejected", what);
        let message = refused.body["error"]["message"]
            .as_str()
            .unwrap_or_default();
        assert!(
            !message.contains("bit") && !message.chars().any(|c| c.is_ascii_digit()),
            "a refusal never says how close the picture came: {message}"
        );
    }
}

/// Blocklist entries made by the 64-bit dHash before are rehashed at start-up from their
/// pictures; an entry whose picture is gone is kept on record but screens nothing.
async fn the_old_blocklist_is_rehashed_from_its_pictures_at_start_up(store: Store) {
    let data_dir = Arc::new(TempDir::new().expect("tmp"));
    let database_url = store.database_url();
    let settings = test_settings(database_url.clone(), &data_dir);
    let mut first = crate::helpers::start_app(settings, data_dir.clone()).await;
    let seller = first.new_user().await;
    first.grant_consents(&seller, &["photo_album"]).await;
    let item = Item {
        caption: "Bangle Z".into(),
        shape: Shape::Bangle,
        colour: [60, 150, 90],
        seed: 77,
    };
    let shot = product_shot(&item, 500, 500);
    let posted = post_photo(&first, &seller, png(&shot)).await;
    // As a row written before fingerprints: a dHash, no fingerprint, a dHash blocklist entry.
    sqlx::query(
        "UPDATE media SET phash = 'f0e1d2c3b4a59687', fingerprint = NULL, \
         fingerprint_version = NULL WHERE id = $1",
    )
    .bind(posted["id"].as_str())
    .execute(&first.db)
    .await
    .expect("age the row");
    for phash in ["f0e1d2c3b4a59687", "00000000000000ff"] {
        sqlx::query(
            "INSERT INTO media_hash_blocklist (phash, reason, created_at) VALUES ($1, 'old', 1)",
        )
        .bind(phash)
        .execute(&first.db)
        .await
        .expect("a dHash entry");
    }
    first.shutdown();
    drop(first);

    let app = App::build(test_settings(database_url.clone(), &data_dir))
        .await
        .expect("restart");
    let db = app.db();
    drop(app);
    let rows = sqlx::query("SELECT version, media_id, reason FROM picture_blocklist")
        .fetch_all(&db)
        .await
        .expect("blocklist");
    assert_eq!(rows.len(), 1, "the entry with a picture is rehashed");
    assert_eq!(
        rows[0].get::<String, _>(0),
        duoxie::moderation::fingerprint::VERSION
    );
    assert_eq!(
        rows[0].get::<Option<String>, _>(1).as_deref(),
        posted["id"].as_str()
    );
    assert_eq!(
        rows[0].get::<String, _>(2),
        "old",
        "the decision's reason is kept"
    );
    let left: Vec<String> = sqlx::query("SELECT phash FROM media_hash_blocklist")
        .fetch_all(&db)
        .await
        .expect("legacy")
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(
        left,
        ["00000000000000ff"],
        "the one without a picture stays on record"
    );

    let settings = test_settings(database_url, &data_dir);
    let node = crate::helpers::start_app(settings, data_dir.clone()).await;
    node.upload(
        &seller.token,
        "purpose=post_photo&source=album",
        "image/jpeg",
        jpeg(&shot, 75),
    )
    .await
    .assert_error(
        422,
        "content_rejected",
        "the rehashed entry refuses the picture",
    );
}

fn mime_of(bytes: &[u8]) -> &'static str {
    if bytes.starts_with(b"\x89PNG") {
        "image/png"
    } else {
        "image/jpeg"
    }
}

async fn post_photo(app: &TestApp, user: &TestUser, bytes: Vec<u8>) -> Value {
    let mime = mime_of(&bytes);
    app.upload(&user.token, "purpose=post_photo&source=album", mime, bytes)
        .await
        .ok("a product shot")
}

/// The stored forms of an upload's and a blocklisted picture's fingerprints read back as
/// they were computed, and a lossless copy hashes the same.
#[test]
fn a_product_shot_fingerprint_survives_its_stored_form() {
    let shot = product_shot(&catalogue()[0], 300, 200);
    let print = print_of(&shot);
    let again = Fingerprint::decode(&print.encode()).expect("stored form");
    assert_eq!(again, print);
    let reread = image::load_from_memory(&png(&shot)).expect("png");
    assert_eq!(Fingerprint::of_image(&reread), print);
    let listed = listed_print_of(&shot);
    assert_eq!(Fingerprint::decode(&listed.encode()), Some(listed));
}

store_tests!(
    a_blocklisted_product_shot_refuses_its_copies_and_nothing_else,
    the_old_blocklist_is_rehashed_from_its_pictures_at_start_up,
);
