//! Content-addressed storage: a blob's name is the SHA-256 of its bytes, so the same bytes
//! uploaded twice are stored once. [`BlobStore`] is the seam for an object store later; the
//! default keeps files in `<data_dir>/blobs/ab/abcdef…`. Calls block: run them on the
//! blocking pool.

use std::io::Write;
use std::path::PathBuf;

use anyhow::Context;
use sha2::{Digest, Sha256};

pub trait BlobStore: Send + Sync + 'static {
    /// Stores the bytes (unless already there) and returns their SHA-256, hex.
    fn put(&self, bytes: &[u8]) -> anyhow::Result<String>;
    fn get(&self, sha256: &str) -> anyhow::Result<Option<Vec<u8>>>;
    /// Removes a blob no media refers to any more; a missing one is not an error.
    fn delete(&self, sha256: &str) -> anyhow::Result<()>;
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

pub struct FsBlobStore {
    root: PathBuf,
}

impl FsBlobStore {
    pub fn new(data_dir: &std::path::Path) -> Self {
        Self {
            root: data_dir.join("blobs"),
        }
    }

    fn path(&self, sha256: &str) -> Option<PathBuf> {
        // Only our own names: 64 lowercase hex digits (no path tricks from a stored value).
        let valid = sha256.len() == 64
            && sha256
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
        valid.then(|| self.root.join(&sha256[..2]).join(sha256))
    }
}

impl BlobStore for FsBlobStore {
    fn put(&self, bytes: &[u8]) -> anyhow::Result<String> {
        let hash = sha256_hex(bytes);
        let path = self.path(&hash).context("hash is a valid name")?;
        if path.exists() {
            return Ok(hash);
        }
        let dir = path.parent().context("blob path has a folder")?;
        std::fs::create_dir_all(dir).with_context(|| format!("create {}", dir.display()))?;
        // Written aside and renamed into place: a reader never sees half a blob, and two
        // writers of the same bytes both end with the same whole file.
        let temp = dir.join(format!(".{hash}.{}", rand::random::<u64>()));
        let mut file =
            std::fs::File::create(&temp).with_context(|| format!("create {}", temp.display()))?;
        file.write_all(bytes)
            .and_then(|()| file.sync_all())
            .context("write blob")?;
        std::fs::rename(&temp, &path).with_context(|| format!("rename into {}", path.display()))?;
        Ok(hash)
    }

    fn delete(&self, sha256: &str) -> anyhow::Result<()> {
        let Some(path) = self.path(sha256) else {
            return Ok(());
        };
        match std::fs::remove_file(&path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(e).with_context(|| format!("remove {}", path.display())),
        }
    }

    fn get(&self, sha256: &str) -> anyhow::Result<Option<Vec<u8>>> {
        let Some(path) = self.path(sha256) else {
            return Ok(None);
        };
        match std::fs::read(&path) {
            Ok(bytes) => Ok(Some(bytes)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e).with_context(|| format!("read {}", path.display())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_bytes_are_stored_once_and_names_are_checked() {
        let dir = std::env::temp_dir().join(format!("duoxie-blobs-{}", rand::random::<u64>()));
        let store = FsBlobStore::new(&dir);
        let a = store.put(b"jade").expect("put");
        let b = store.put(b"jade").expect("put again");
        assert_eq!(a, b);
        let files = std::fs::read_dir(dir.join("blobs").join(&a[..2]))
            .expect("dir")
            .count();
        assert_eq!(files, 1);
        assert_eq!(store.get(&a).expect("get").as_deref(), Some(&b"jade"[..]));
        assert_eq!(store.get("../../etc/passwd").expect("refused"), None);
        let _ = std::fs::remove_dir_all(dir);
    }
}
