//! The dependency rule of `src/lib.rs`, read off the source: which top-level module (a folder
//! or a file of `src/`) names which (`crate::<module>`).
//!
//! - The kernel (`store`, `bus`, `error`, `domain`, `config`, `commands`, `metrics`, `keys`,
//!   `rights`) names no domain and no transport.
//! - The transport `ws` names no command of any domain.
//! - No import cycle between modules: where one domain needs another that stands above it, it
//!   defines a trait the other implements (`moderation::content::ModeratedContent`,
//!   `media::moderated::PictureUses`) or asks the kernel's (`domain::Accounts`).
//! - No module names another domain's `store`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

const KERNEL: &[&str] = &[
    "store", "bus", "error", "domain", "config", "commands", "metrics", "keys", "rights", "phone",
    "codes", "catalog",
];

fn rust_files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("read src") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// module → the other modules it names.
fn module_graph() -> BTreeMap<String, BTreeSet<String>> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let module_of = |path: &Path| -> String {
        let rel = path.strip_prefix(&src).expect("under src");
        let first = rel.components().next().expect("a component");
        first
            .as_os_str()
            .to_string_lossy()
            .trim_end_matches(".rs")
            .to_string()
    };
    let modules: BTreeSet<String> = files
        .iter()
        .map(|f| module_of(f))
        .filter(|m| m != "lib" && m != "main" && m != "build")
        .collect();
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for file in &files {
        let from = module_of(file);
        let text = std::fs::read_to_string(file).expect("read a source file");
        for (at, _) in text.match_indices("crate::") {
            let name: String = text[at + "crate::".len()..]
                .chars()
                .take_while(|c| c.is_ascii_lowercase() || *c == '_')
                .collect();
            if name != from && modules.contains(&name) {
                graph.entry(from.clone()).or_default().insert(name);
            }
        }
    }
    graph
}

fn reaches(graph: &BTreeMap<String, BTreeSet<String>>, from: &str, to: &str) -> bool {
    let mut seen = BTreeSet::new();
    let mut stack = vec![from.to_string()];
    while let Some(m) = stack.pop() {
        if m == to {
            return true;
        }
        if seen.insert(m.clone()) {
            stack.extend(graph.get(&m).into_iter().flatten().cloned());
        }
    }
    false
}

#[test]
fn the_kernel_names_no_domain_and_no_transport() {
    let graph = module_graph();
    let mut wrong = Vec::new();
    for k in KERNEL {
        for to in graph.get(*k).into_iter().flatten() {
            if !KERNEL.contains(&to.as_str()) {
                wrong.push(format!("{k} -> {to}"));
            }
        }
    }
    assert!(wrong.is_empty(), "the kernel reaches up: {wrong:?}");
}

#[test]
fn no_import_cycle_between_modules() {
    let graph = module_graph();
    assert!(graph.len() > 10, "the source was read: {graph:?}");
    let mut cycles = Vec::new();
    for (from, tos) in &graph {
        for to in tos {
            // An edge closes a cycle when its target leads back to its source.
            if reaches(&graph, to, from) {
                cycles.push(format!("{from} -> {to}"));
            }
        }
    }
    assert!(
        cycles.is_empty(),
        "import cycles (a domain names one that stands on it; define a trait the other \
         implements, or ask the kernel): {cycles:?}"
    );
}

#[test]
fn no_module_names_another_domains_store() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let mut reaching = BTreeSet::new();
    for file in &files {
        let rel = file.strip_prefix(&src).expect("under src");
        let own = rel
            .components()
            .next()
            .map(|c| {
                c.as_os_str()
                    .to_string_lossy()
                    .trim_end_matches(".rs")
                    .to_string()
            })
            .unwrap_or_default();
        let text = std::fs::read_to_string(file).expect("read a source file");
        for (at, _) in text.match_indices("crate::") {
            let path: String = text[at + "crate::".len()..]
                .chars()
                .take_while(|c| c.is_ascii_lowercase() || *c == '_' || *c == ':')
                .collect();
            let mut parts = path.split("::");
            let (Some(module), Some(inner)) = (parts.next(), parts.next()) else {
                continue;
            };
            if inner == "store" && module != "store" && module != own {
                reaching.insert(format!("{} -> crate::{module}::store", rel.display()));
            }
        }
    }
    assert!(
        reaching.is_empty(),
        "a domain's store is its own; call a narrow function of the domain instead: {reaching:?}"
    );
}

#[test]
fn the_websocket_transport_names_no_command() {
    let ws = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/ws");
    let mut files = Vec::new();
    rust_files(&ws, &mut files);
    let prefixes = [
        "\"chat.",
        "\"consent.",
        "\"mod.",
        "\"user.",
        "\"report.",
        "\"appeal.",
        "\"presence.",
    ];
    let mut named = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(&file).expect("read");
        for p in prefixes {
            if text.contains(p) {
                named.push(format!("{} names {p}…", file.display()));
            }
        }
    }
    assert!(named.is_empty(), "{named:?}");
}
