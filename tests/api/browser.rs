//! The web client in a real browser: Debian's Chromium driven by `playwright-core`
//! (`tests/browser/`), against a server this test starts on a real port, phone-sized and in
//! zh-CN. The scenarios are Node scripts; this test gives them a server and accounts, runs
//! them and fails with their output. Missing Chromium or Node fails the test with what to
//! install (`.ci/run` installs them): a browser test is never skipped silently.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use crate::helpers::{spawn_app, spawn_app_with, Store};

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
#[actix_rt::test(system = "duoxie::startup::ServerSystem")]
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
#[actix_rt::test(system = "duoxie::startup::ServerSystem")]
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

/// The 我的 tab (`static/js/pages/me*.js`) at phone and desktop size: the profile with a new
/// nickname and an uploaded avatar (after granting the album in the page), the consent
/// receipts as a table that verifies and downloads, the export as tables with its JSON,
/// another device signed out through the in-page dialog, English and back; no sideways
/// scroll, no window dialogs, no console errors.
#[actix_rt::test(system = "duoxie::startup::ServerSystem")]
async fn the_me_tab_edits_the_profile_and_shows_receipts_export_and_devices() {
    let mut app = spawn_app(Store::Sqlite).await;
    let buyer = app.new_user().await;
    run_scenario(
        "me_page.mjs",
        vec![
            ("DUOXIE_BASE_URL", format!("http://127.0.0.1:{}", app.port)),
            ("DUOXIE_BUYER_PHONE", buyer.phone.clone()),
        ],
    )
    .await;
}

/// The moderator console (`static/js/console/*.js`) at phone and desktop size: a plain account
/// is turned away in Chinese, a report with its category arrives live, is claimed and decided
/// (a rejection needs a reason), the English switch holds over a reload and back; no sideways
/// scroll, no window dialogs, no console errors.
#[actix_rt::test(system = "duoxie::startup::ServerSystem")]
async fn the_console_triages_a_report_in_both_languages_at_phone_and_desktop_size() {
    let mut app = spawn_app(Store::Sqlite).await;
    let buyer = app.new_user().await;
    let seller = app.new_user().await;
    let moderator = app.new_user().await;
    app.grant_role(moderator.id, "moderator").await;
    run_scenario(
        "console_page.mjs",
        vec![
            ("DUOXIE_BASE_URL", format!("http://127.0.0.1:{}", app.port)),
            ("DUOXIE_BUYER_PHONE", buyer.phone.clone()),
            ("DUOXIE_SELLER_PHONE", seller.phone.clone()),
            ("DUOXIE_MODERATOR_PHONE", moderator.phone.clone()),
        ],
    )
    .await;
}

/// The user web client (`static/index.html` and `static/js/pages/*.js`) at phone and desktop
/// size: login with the agreement, the seller directory as a new buyer's first screen, search
/// by nickname, live texts both ways, a photo, an emoji from the picker, a recall, the four
/// tabs, the English switch and back; no sideways scroll on any view, no console errors.
#[actix_rt::test(system = "duoxie::startup::ServerSystem")]
async fn the_web_client_chats_at_phone_and_desktop_size_in_both_languages() {
    let mut app = spawn_app(Store::Sqlite).await;
    let buyer = app.new_user().await;
    let seller = app.new_user().await;
    app.grant_role(seller.id, "seller").await;
    run_scenario(
        "web_client.mjs",
        vec![
            ("DUOXIE_BASE_URL", format!("http://127.0.0.1:{}", app.port)),
            ("DUOXIE_BUYER_PHONE", buyer.phone.clone()),
            ("DUOXIE_SELLER_PHONE", seller.phone.clone()),
        ],
    )
    .await;
}

/// A new privacy-policy version asks again in the web client: the page open under version 1 is
/// told live when version 2 is published (the scenario prints `READY publish-policy` and waits
/// for `published` on its stdin, so the publication happens exactly then, with no timing), the
/// banner stays over a reload, 同意 records both documents under version 2, and then it is gone.
#[actix_rt::test(system = "duoxie::startup::ServerSystem")]
async fn the_web_client_asks_again_for_a_new_policy_version() {
    use std::io::{BufRead, BufReader, Write};
    use std::process::Stdio;

    let mut app = spawn_app_with(Store::Sqlite, |s| s.policy_poll_ms = 100).await;
    let buyer = app.new_user().await;
    let dir = browser_dir();
    let install_dir = dir.clone();
    tokio::task::spawn_blocking(move || install_playwright(&install_dir))
        .await
        .expect("install playwright-core");
    let artifacts = std::env::temp_dir().join(format!(
        "duoxie-browser-policy_banner-{}",
        crate::helpers::random_u64()
    ));
    let mut child = Command::new("node")
        .arg("policy_banner.mjs")
        .current_dir(&dir)
        .env("DUOXIE_BASE_URL", format!("http://127.0.0.1:{}", app.port))
        .env("DUOXIE_BUYER_PHONE", &buyer.phone)
        .env("DUOXIE_NEW_POLICY_VERSION", "2")
        .env("DUOXIE_ARTIFACTS", &artifacts)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start node");
    let mut stdin = child.stdin.take().expect("the scenario's stdin");
    let stdout = child.stdout.take().expect("the scenario's stdout");
    let (lines_tx, mut lines) = tokio::sync::mpsc::unbounded_channel();
    let reader = std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if lines_tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut output = Vec::new();
    let mut published = false;
    tokio::time::timeout(SCENARIO_TIMEOUT, async {
        while let Some(line) = lines.recv().await {
            println!("{line}");
            if line == "READY publish-policy" {
                duoxie::consent::publish_policy_version(&app.db, "2")
                    .await
                    .expect("publish version 2");
                published = true;
                writeln!(stdin, "published").expect("tell the scenario");
                stdin.flush().expect("flush the scenario's stdin");
            }
            output.push(line);
        }
    })
    .await
    .expect("the browser scenario finishes in time");
    reader.join().expect("the output reader");
    let status = child.wait().expect("the scenario's exit");
    assert!(
        published && status.success(),
        "browser scenario failed ({status}, published: {published}; screenshots in {}):\n{}",
        artifacts.display(),
        output.join("\n")
    );
}

/// The live rooms' pages (`static/js/pages/live*.js`): a host opens a room and goes live, two
/// spectators find it and open it; a comment and likes reach the other pages; recovery after a
/// dropped connection; pin, pause, a helper removing a comment; a mute disables a composer; a
/// kick and a ban take effect on the removed pages; the host ends the room.
#[actix_rt::test(system = "duoxie::startup::ServerSystem")]
async fn live_rooms_work_for_a_host_and_two_spectators() {
    let mut app = spawn_app(Store::Sqlite).await;
    let host = app.new_user().await;
    app.grant_role(host.id, "appraiser").await;
    let viewer1 = app.new_user().await;
    let viewer2 = app.new_user().await;
    run_scenario(
        "live_room.mjs",
        vec![
            ("DUOXIE_BASE_URL", format!("http://127.0.0.1:{}", app.port)),
            ("DUOXIE_HOST_PHONE", host.phone.clone()),
            ("DUOXIE_VIEWER1_PHONE", viewer1.phone.clone()),
            ("DUOXIE_VIEWER2_PHONE", viewer2.phone.clone()),
        ],
    )
    .await;
}

/// Appraisal calls (连线鉴定, docs/live.md) in two Chromium pages with fake cameras: the buyer
/// queues from the room page (camera and microphone asked in the page first), the host calls
/// from the console, the buyer answers, the call connects (`connectionState` "connected" and
/// video frames decoded on both pages), and the buyer's withdrawal of the camera ends it on
/// the host's page with the reason shown.
#[actix_rt::test(system = "duoxie::startup::ServerSystem")]
async fn an_appraisal_call_connects_two_browsers_and_a_withdrawal_ends_it() {
    let mut app = spawn_app(Store::Sqlite).await;
    let host = app.new_user().await;
    app.grant_role(host.id, "appraiser").await;
    let buyer = app.new_user().await;
    run_scenario(
        "live_call.mjs",
        vec![
            ("DUOXIE_BASE_URL", format!("http://127.0.0.1:{}", app.port)),
            ("DUOXIE_HOST_PHONE", host.phone.clone()),
            ("DUOXIE_BUYER_PHONE", buyer.phone.clone()),
        ],
    )
    .await;
}

/// The same call with relay-only ICE (`iceTransportPolicy: "relay"` on both pages) through a
/// real coturn started with a generated secret: it connects only if the TURN REST
/// credentials the server hands out are the ones coturn's `use-auth-secret` accepts.
#[actix_rt::test(system = "duoxie::startup::ServerSystem")]
async fn an_appraisal_call_connects_relay_only_through_coturn() {
    let turn = crate::helpers::Coturn::start().await;
    let url = format!("turn:127.0.0.1:{}?transport=udp", turn.port);
    let secret = turn.secret.clone();
    let mut app = spawn_app_with(Store::Sqlite, move |s| {
        s.live.turn_urls = url;
        s.live.turn_secret = Some(secret.parse().expect("secret"));
    })
    .await;
    let host = app.new_user().await;
    app.grant_role(host.id, "appraiser").await;
    let buyer = app.new_user().await;
    run_scenario(
        "live_call.mjs",
        vec![
            ("DUOXIE_BASE_URL", format!("http://127.0.0.1:{}", app.port)),
            ("DUOXIE_HOST_PHONE", host.phone.clone()),
            ("DUOXIE_BUYER_PHONE", buyer.phone.clone()),
            ("DUOXIE_ICE_POLICY", "relay".to_string()),
        ],
    )
    .await;
    drop(turn);
}

/// The 社区 tab (`static/js/pages/community*.js`): a post with two pictures, category and tags; a
/// held post only its author sees until a moderator publishes it from the console; search,
/// profile, follow and the lists (also hidden); likes and comments (live to the author, who
/// deletes one); a new post arriving and leaving a follower's feed live; share codes (口令)
/// copied, opened by hand and from the clipboard (consent asked first), refused once revoked;
/// 发现 personalised only while the consent is granted; English, desktop, no sideways scroll.
#[actix_rt::test(system = "duoxie::startup::ServerSystem")]
async fn the_community_tab_posts_follows_comments_shares_and_discovers() {
    let mut app = spawn_app(Store::Sqlite).await;
    let author = app.new_user().await;
    let reader = app.new_user().await;
    let moderator = app.new_user().await;
    app.grant_role(moderator.id, "moderator").await;
    run_scenario(
        "community.mjs",
        vec![
            ("DUOXIE_BASE_URL", format!("http://127.0.0.1:{}", app.port)),
            ("DUOXIE_AUTHOR_PHONE", author.phone.clone()),
            ("DUOXIE_READER_PHONE", reader.phone.clone()),
            ("DUOXIE_MODERATOR_PHONE", moderator.phone.clone()),
        ],
    )
    .await;
}
