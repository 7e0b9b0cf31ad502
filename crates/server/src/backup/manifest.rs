//! A backup's manifest (`manifest.json`): every file with its size and SHA-256, and
//! what the database held when it was copied. Pure: the checks here read no files,
//! so each fault a restore can name is tested on values.
//!
//! The manifest detects damage (a flipped bit, a truncated or missing file), not a
//! deliberate rewrite: whoever can edit a file can edit the manifest too. Tampering
//! with the records is what the audit chain and the heads desktops keep are for.

use std::collections::BTreeSet;

use jsjb_proto::AuditEntryHash;
use serde::{Deserialize, Serialize};

use crate::digest::is_sha256_hex;

/// The manifest format this server writes and reads.
pub const FORMAT: &str = "jsjb-backup-v1";
/// The manifest's own file name in a backup.
pub const MANIFEST: &str = "manifest.json";
/// The database's file name in a backup (and in a restored directory).
pub const DATABASE: &str = "jsjb.sqlite3";
/// The folder of the blobs in a backup, laid out as the live store is.
pub const BLOBS: &str = "blobs";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    pub format: String,
    /// The `jsjb-server` version that wrote the backup.
    pub server_version: String,
    /// When the backup was started (RFC 3339, UTC).
    pub created_at: String,
    /// The database's schema version (`PRAGMA user_version`) in the backup.
    pub schema_version: i64,
    /// The newest sync change in the backed-up database.
    pub latest_change_seq: i64,
    /// The newest audit entry in the backed-up database.
    pub audit_head: AuditEntryHash,
    /// Every file of the backup but the manifest: the database first, then the blobs
    /// in name order.
    pub files: Vec<FileEntry>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileEntry {
    /// Relative to the backup, `/`-separated: `jsjb.sqlite3` or `blobs/ab/ab…`.
    pub path: String,
    pub size: u64,
    pub sha256: String,
}

/// A manifest that cannot be trusted to say what the backup holds.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ManifestFault {
    #[error("the manifest is format {0:?}; this server reads {FORMAT}")]
    Format(String),
    #[error("the manifest does not list the database file {DATABASE}")]
    NoDatabase,
    #[error("the manifest names a file outside the backup's layout: {0:?}")]
    Path(String),
    #[error("the manifest lists {0} twice")]
    Duplicate(String),
    #[error("the manifest's SHA-256 of {0} is not 64 lower-case hex digits")]
    Digest(String),
    #[error("the manifest lists blob {path} with the SHA-256 of other bytes ({sha256})")]
    BlobName { path: String, sha256: String },
}

/// A file that is not what the manifest says.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FileFault {
    #[error("{path} is missing")]
    Missing { path: String },
    #[error("{path} is {found} bytes; the manifest says {expected}")]
    Size {
        path: String,
        expected: u64,
        found: u64,
    },
    #[error("{path} has SHA-256 {found}; the manifest says {expected}")]
    Digest {
        path: String,
        expected: String,
        found: String,
    },
}

/// The manifest's relative path of the blob `sha256`.
pub fn blob_path(sha256: &str) -> String {
    format!("{BLOBS}/{}/{sha256}", &sha256[..2])
}

/// The blob a manifest path names, if it names one in the store's layout.
fn blob_of(path: &str) -> Option<&str> {
    let rest = path.strip_prefix(BLOBS)?.strip_prefix('/')?;
    let (fan, sha) = rest.split_once('/')?;
    (is_sha256_hex(sha) && fan == &sha[..2]).then_some(sha)
}

impl Manifest {
    /// Checks the manifest on its own: a known format, the database listed, and every
    /// path one this server writes (so no entry can point a restore outside its
    /// directory), once, with a well-formed digest; a blob's digest is its name.
    pub fn check(&self) -> Result<(), ManifestFault> {
        if self.format != FORMAT {
            return Err(ManifestFault::Format(self.format.clone()));
        }
        let mut seen = BTreeSet::new();
        for f in &self.files {
            if f.path != DATABASE && blob_of(&f.path).is_none() {
                return Err(ManifestFault::Path(f.path.clone()));
            }
            if !seen.insert(f.path.as_str()) {
                return Err(ManifestFault::Duplicate(f.path.clone()));
            }
            if !is_sha256_hex(&f.sha256) {
                return Err(ManifestFault::Digest(f.path.clone()));
            }
            if blob_of(&f.path).is_some_and(|name| name != f.sha256) {
                return Err(ManifestFault::BlobName {
                    path: f.path.clone(),
                    sha256: f.sha256.clone(),
                });
            }
        }
        if !seen.contains(DATABASE) {
            return Err(ManifestFault::NoDatabase);
        }
        Ok(())
    }

    /// The blobs the manifest lists.
    pub fn blobs(&self) -> BTreeSet<&str> {
        self.files.iter().filter_map(|f| blob_of(&f.path)).collect()
    }

    /// The database's entry. `check` makes sure there is one.
    pub fn database(&self) -> Option<&FileEntry> {
        self.files.iter().find(|f| f.path == DATABASE)
    }

    /// The bytes of all files listed.
    pub fn total_bytes(&self) -> u64 {
        self.files.iter().map(|f| f.size).sum()
    }
}

/// Compares a file as found (`None`: not there) with its entry.
pub fn check_file(entry: &FileEntry, found: Option<(u64, &str)>) -> Result<(), FileFault> {
    let path = entry.path.clone();
    let Some((size, sha256)) = found else {
        return Err(FileFault::Missing { path });
    };
    if size != entry.size {
        return Err(FileFault::Size {
            path,
            expected: entry.size,
            found: size,
        });
    }
    if sha256 != entry.sha256 {
        return Err(FileFault::Digest {
            path,
            expected: entry.sha256.clone(),
            found: sha256.to_owned(),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::digest::sha256_hex;

    fn blob(bytes: &[u8]) -> FileEntry {
        let sha256 = sha256_hex(bytes);
        FileEntry {
            path: blob_path(&sha256),
            size: bytes.len() as u64,
            sha256,
        }
    }

    fn manifest() -> Manifest {
        Manifest {
            format: FORMAT.to_owned(),
            server_version: "0.1.0".to_owned(),
            created_at: "2026-05-01T02:00:00Z".to_owned(),
            schema_version: 12,
            latest_change_seq: 7,
            audit_head: AuditEntryHash {
                seq: 9,
                hash: sha256_hex(b"head"),
            },
            files: vec![
                FileEntry {
                    path: DATABASE.to_owned(),
                    size: 4096,
                    sha256: sha256_hex(b"db"),
                },
                blob(b"one"),
                blob(b"two"),
            ],
        }
    }

    #[test]
    fn a_well_formed_manifest_passes_and_lists_its_blobs() {
        let m = manifest();
        assert_eq!(m.check(), Ok(()));
        assert_eq!(m.blobs().len(), 2);
        assert!(m.blobs().contains(sha256_hex(b"one").as_str()));
        assert_eq!(m.database().map(|d| d.size), Some(4096));
        assert_eq!(m.total_bytes(), 4096 + 3 + 3);
        let text = serde_json::to_string(&m).expect("json");
        assert_eq!(serde_json::from_str::<Manifest>(&text).expect("back"), m);
    }

    #[test]
    fn each_untrustworthy_manifest_is_named() {
        let mut m = manifest();
        m.format = "jsjb-backup-v0".to_owned();
        assert!(matches!(m.check(), Err(ManifestFault::Format(_))));

        let mut m = manifest();
        m.files.remove(0);
        assert_eq!(m.check(), Err(ManifestFault::NoDatabase));

        for path in [
            "../jsjb.sqlite3",
            "/etc/passwd",
            "blobs/../../x",
            "blobs/zz/0000000000000000000000000000000000000000000000000000000000000000",
            "blobs/00/../00",
            "notes.txt",
        ] {
            let mut m = manifest();
            m.files[1].path = path.to_owned();
            assert_eq!(
                m.check(),
                Err(ManifestFault::Path(path.to_owned())),
                "{path}"
            );
        }

        let mut m = manifest();
        let again = m.files[1].clone();
        m.files.push(again);
        assert!(matches!(m.check(), Err(ManifestFault::Duplicate(_))));

        let mut m = manifest();
        m.files[0].sha256 = "ABC".to_owned();
        assert_eq!(m.check(), Err(ManifestFault::Digest(DATABASE.to_owned())));

        let mut m = manifest();
        m.files[2].sha256 = sha256_hex(b"one");
        assert!(matches!(m.check(), Err(ManifestFault::BlobName { .. })));

        // Unknown fields are refused rather than silently ignored.
        let mut v = serde_json::to_value(manifest()).expect("json");
        v["extra"] = serde_json::json!(1);
        assert!(serde_json::from_value::<Manifest>(v).is_err());
    }

    #[test]
    fn a_file_is_checked_for_presence_then_size_then_digest() {
        let entry = blob(b"one");
        let sha = entry.sha256.clone();
        assert_eq!(check_file(&entry, Some((3, &sha))), Ok(()));
        assert!(matches!(
            check_file(&entry, None),
            Err(FileFault::Missing { .. })
        ));
        assert!(matches!(
            check_file(&entry, Some((2, &sha))),
            Err(FileFault::Size {
                expected: 3,
                found: 2,
                ..
            })
        ));
        let other = sha256_hex(b"onf");
        let fault = check_file(&entry, Some((3, &other))).expect_err("digest");
        assert!(fault.to_string().contains(&other), "{fault}");
    }
}
