//! The web client in a real browser: Debian's Chromium driven by `playwright-core`
//! (`tests/browser/`), against a server this test starts on a real port, phone-sized and in
//! zh-CN. The scenarios are Node scripts; this test gives them a server and accounts, runs
//! them and fails with their output. Missing Chromium or Node fails the test with what to
//! install (`.ci/run` installs them): a browser test is never skipped silently.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use crate::helpers::{spawn_app, Store};

const CHROMIUM: &str = "/usr/bin/chromium";
/// A whole scenario, set-up included; its own waits are shorter.
const SCENARIO_TIMEOUT: Duration = Duration::from_secs(240);

fn browser_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/browser")
}

/// `npm ci` once, when `node_modules` is missing (a fresh clone).
fn install_playwright(dir: &Path) {
    assert!(
        Path::new(CHROMIUM).exists(),
        "browser tests need Debian's Chromium at {CHROMIUM} and CJK fonts: \
         `apt-get install chromium fonts-noto-cjk` (.ci/run installs them)"
    );
    let node = Command::new("node").arg("--version").output();
    assert!(
        node.as_ref().is_ok_and(|o| o.status.success()),
        "browser tests need Node.js (`apt-get install nodejs npm`): {node:?}"
    );
    if dir.join("node_modules/playwright-core").exists() {
        return;
    }
    let out = Command::new("npm")
        .args(["ci", "--no-audit", "--no-fund"])
        .current_dir(dir)
        .output()
        .expect("run npm ci in tests/browser");
    assert!(
        out.status.success(),
        "npm ci in tests/browser failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Runs `tests/browser/<script>` with the environment given; panics with its output unless
/// it exits 0.
async fn run_scenario(script: &str, env: Vec<(&'static str, String)>) {
    let dir = browser_dir();
    let artifacts = std::env::temp_dir().join(format!(
        "duoxie-browser-{}-{}",
        script.trim_end_matches(".mjs"),
        crate::helpers::random_u64()
    ));
    let script = script.to_string();
    let run = tokio::task::spawn_blocking(move || {
        install_playwright(&dir);
        Command::new("node")
            .arg(&script)
            .current_dir(&dir)
            .envs(env)
            .env("DUOXIE_ARTIFACTS", &artifacts)
            .output()
            .map(|out| (out, artifacts))
    });
    let (out, artifacts) = tokio::time::timeout(SCENARIO_TIMEOUT, run)
        .await
        .expect("the browser scenario finishes in time")
        .expect("the scenario task")
        .expect("start node");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    println!("{stdout}");
    assert!(
        out.status.success(),
        "browser scenario failed ({}; screenshots in {}):\n{stdout}\n{stderr}",
        out.status,
        artifacts.display()
    );
}

/// A held chat text shows as under review, also after a reload; once a moderator rejects it
/// from the console, the bubble offers the appeal, also after a reload, and no longer once
/// appealed; nothing scrolls sideways at 390 px.
#[actix_rt::test]
async fn the_web_client_shows_held_and_rejected_texts_with_their_appeal() {
    let mut app = spawn_app(Store::Sqlite).await;
    let buyer = app.new_user().await;
    let seller = app.new_user().await;
    app.grant_role(seller.id, "seller").await;
    let moderator = app.new_user().await;
    app.grant_role(moderator.id, "moderator").await;
    run_scenario(
        "chat_moderation.mjs",
        vec![
            ("DUOXIE_BASE_URL", format!("http://127.0.0.1:{}", app.port)),
            ("DUOXIE_BUYER_PHONE", buyer.phone.clone()),
            ("DUOXIE_SELLER_PHONE", seller.phone.clone()),
            ("DUOXIE_MODERATOR_PHONE", moderator.phone.clone()),
        ],
    )
    .await;
}

/// The client library (`static/js/client.js`) in the page, over the real server: acks by
/// command id, every message once and in order across a dropped connection (recovered with
/// `chat.sync`), error codes shown in both languages.
#[actix_rt::test]
async fn the_client_library_delivers_every_message_once_in_order_across_a_reconnect() {
    let mut app = spawn_app(Store::Sqlite).await;
    let buyer = app.new_user().await;
    let seller = app.new_user().await;
    run_scenario(
        "client_library.mjs",
        vec![
            ("DUOXIE_BASE_URL", format!("http://127.0.0.1:{}", app.port)),
            ("DUOXIE_BUYER_PHONE", buyer.phone.clone()),
            ("DUOXIE_SELLER_PHONE", seller.phone.clone()),
        ],
    )
    .await;
}
