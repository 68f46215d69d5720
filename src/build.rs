//! Lists every file under `static/` for the binary to serve (`src/http/client.rs`), so a new
//! page module is served without anyone keeping a list by hand. Only std: no build dependency.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

// What `/static/{path}` serves, by extension (the handler gives each its content type).
const SERVED: &[&str] = &["js", "css", "html", "txt", "md"];

fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() {
            walk(&path, out)?;
        } else if path
            .extension()
            .and_then(|e| e.to_str())
            .is_some_and(|e| SERVED.contains(&e))
        {
            out.push(path);
        }
    }
    Ok(())
}

fn main() -> std::io::Result<()> {
    let manifest =
        PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").map_err(std::io::Error::other)?);
    let root = manifest.join("static");
    // A directory makes cargo rescan it whole: an added, removed or edited file reruns this.
    println!("cargo:rerun-if-changed=static");
    let mut files = Vec::new();
    walk(&root, &mut files)?;
    files.sort();
    let mut code = String::from("&[\n");
    for file in &files {
        let rel = file
            .strip_prefix(&root)
            .map_err(std::io::Error::other)?
            .to_string_lossy()
            .replace('\\', "/");
        writeln!(
            code,
            "    ({rel:?}, include_str!({:?})),",
            file.display().to_string()
        )
        .map_err(std::io::Error::other)?;
    }
    code.push(']');
    let out = PathBuf::from(std::env::var("OUT_DIR").map_err(std::io::Error::other)?);
    std::fs::write(out.join("static_files.rs"), code)
}
