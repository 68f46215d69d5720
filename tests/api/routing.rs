//! The command tables and `docs/protocol.md` name the same commands: every command the
//! session routes is documented, and every documented command is routed.

use std::collections::BTreeSet;

use duoxie::startup::App;
use tempfile::TempDir;

use crate::helpers::test_settings;

/// The names in the first column of the protocol's command tables: "Commands", the live
/// rooms' "Room commands" and their "Call commands", the "Community commands" and the
/// "Share code commands".
fn documented_commands() -> BTreeSet<String> {
    let doc = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/protocol.md"))
        .expect("read docs/protocol.md");
    let mut names = BTreeSet::new();
    for heading in [
        "\n### Commands",
        "\n#### Room commands",
        "\n##### Call commands",
        "\n#### Community commands",
        "\n#### Share code commands",
    ] {
        let start = doc
            .find(heading)
            .unwrap_or_else(|| panic!("a {} section", heading.trim()));
        let section = &doc[start..];
        let end = section[1..]
            .find("\n## ")
            .into_iter()
            .chain(section[1..].find("\n### "))
            .chain(section[1..].find("\n#### "))
            .chain(section[1..].find("\n##### "))
            .min()
            .map_or(section.len(), |i| i + 1);
        names.extend(
            section[..end]
                .lines()
                .filter_map(|line| line.strip_prefix("| `"))
                .filter_map(|rest| rest.split_once('`'))
                .map(|(name, _)| name.to_string()),
        );
    }
    names
}

#[actix_rt::test(system = "duoxie::startup::ServerSystem")]
async fn every_routed_command_is_documented_and_every_documented_one_routed() {
    let data_dir = TempDir::new().expect("tmp");
    let app = App::build(test_settings(None, &data_dir))
        .await
        .expect("build");
    let routed: BTreeSet<String> = app.command_names().iter().map(|n| n.to_string()).collect();
    drop(app);
    let mut documented = documented_commands();
    assert!(
        documented.remove("auth"),
        "the session's own `auth` is documented"
    );
    assert!(routed.len() > 20, "the tables were read: {routed:?}");
    let undocumented: Vec<_> = routed.difference(&documented).collect();
    let unrouted: Vec<_> = documented.difference(&routed).collect();
    assert!(
        undocumented.is_empty() && unrouted.is_empty(),
        "routed but not in docs/protocol.md: {undocumented:?}; documented but not routed: {unrouted:?}"
    );
}
