//! The content-addressed attachment store: `<dir>/<sha[0..2]>/<sha>`.
//!
//! A blob is written to a temporary file, synced, and renamed into place, so a
//! reader never sees half a file and a crash leaves at most a stray temp file. The
//! name is the SHA-256 of the bytes, so storing the same bytes twice is a no-op and
//! a blob can be checked against its name at any time.

use std::io::Write;
use std::path::{Path, PathBuf};

use crate::digest::{is_sha256_hex, sha256_hex};

#[derive(Debug, Clone)]
pub struct BlobStore {
    dir: PathBuf,
}

impl BlobStore {
    /// Opens the store, creating the directory if needed.
    pub fn open(dir: &Path) -> std::io::Result<BlobStore> {
        std::fs::create_dir_all(dir.join("tmp"))?;
        Ok(BlobStore {
            dir: dir.to_owned(),
        })
    }

    fn path(&self, sha256: &str) -> PathBuf {
        self.dir.join(&sha256[..2]).join(sha256)
    }

    /// Stores the bytes and returns their SHA-256. Blocking: run on a blocking thread.
    pub fn put(&self, bytes: &[u8]) -> std::io::Result<String> {
        let sha = sha256_hex(bytes);
        let target = self.path(&sha);
        if target.exists() {
            return Ok(sha);
        }
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent)?;
        }
        let mut tmp = tempfile_in(&self.dir.join("tmp"))?;
        tmp.1.write_all(bytes)?;
        tmp.1.sync_all()?;
        std::fs::rename(&tmp.0, &target)?;
        Ok(sha)
    }

    /// Reads a blob; `None` when it is not stored.
    pub async fn get(&self, sha256: &str) -> std::io::Result<Option<Vec<u8>>> {
        if !is_sha256_hex(sha256) {
            return Ok(None);
        }
        match tokio::fs::read(self.path(sha256)).await {
            Ok(bytes) => Ok(Some(bytes)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }
}

/// A new, uniquely named file in `dir`. Random names keep concurrent uploads of the
/// same bytes from writing into one temp file.
fn tempfile_in(dir: &Path) -> std::io::Result<(PathBuf, std::fs::File)> {
    use rand_core::{OsRng, RngCore};
    for _ in 0..8 {
        let mut raw = [0_u8; 12];
        OsRng.fill_bytes(&mut raw);
        let path = dir.join(format!("{}.part", hex::encode(raw)));
        match std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)
        {
            Ok(file) => return Ok((path, file)),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e),
        }
    }
    Err(std::io::Error::other(
        "could not create a unique temporary file",
    ))
}
