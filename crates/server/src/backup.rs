//! Backups of the database and the blob store, consistent together, and their restore.
//!
//! **Why a backup is consistent.** The database is copied first, as one committed
//! moment (`jsjb_storage_sqlite::snapshot`, `VACUUM INTO`), while the server goes on
//! writing. Then exactly the blobs that copy names are copied from the live store.
//! Blobs are content-addressed and immutable, nothing deletes one, and every writer
//! stores a blob (synced and renamed into place) before it commits the row that names
//! it; so every blob the copy names is already in the store, with the bytes its name
//! says, and stays there. Each blob is hashed as it is copied and checked against its
//! name, so a damaged live blob fails the backup instead of being preserved silently.
//!
//! **Why a kill leaves no half backup.** Everything is written into
//! `.partial-jsjb-backup-<time>` beside the others, each file synced, the manifest
//! last, the folders synced; then one `rename` gives it its final name and the parent
//! folder is synced. A folder named `jsjb-backup-<time>` therefore always holds a
//! complete backup; a kill at any moment leaves at most a `.partial-…` folder, which
//! the next backup removes. Retention renames a backup to `.deleting-…` before
//! removing it, for the same reason. One backup at a time writes into a folder: it
//! holds a lock (SQLite's own file lock on `.backup-lock.sqlite3`, which the OS
//! releases when the process dies; `File::lock` would need Rust 1.89 and the MSRV is
//! 1.85), so leftovers found while holding it are known to be stale.

pub mod manifest;
pub mod retention;
pub mod schedule;
pub mod settings;

pub use settings::BackupSchedule;

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use chrono::{DateTime, SecondsFormat, Utc};
use jsjb_storage::{Storage, StorageError};
use jsjb_storage_sqlite::SqliteStore;
use jsjb_storage_sqlite::snapshot::{self, SnapshotInfo};
use sha2::{Digest, Sha256};

use self::manifest::{BLOBS, DATABASE, FileEntry, FileFault, MANIFEST, Manifest, ManifestFault};
use self::retention::{DELETING, Entry, PARTIAL};

/// The lock file in a backup folder (see the module's documentation).
const LOCK: &str = ".backup-lock.sqlite3";

/// What a backup copies: the live database file and blob store.
#[derive(Debug, Clone)]
pub struct Sources {
    pub db: PathBuf,
    pub blob_dir: PathBuf,
}

impl Sources {
    pub fn of(config: &crate::Config) -> Sources {
        Sources {
            db: config.db.clone(),
            blob_dir: config.blob_dir.clone(),
        }
    }
}

/// A backup written.
#[derive(Debug)]
pub struct Made {
    pub path: PathBuf,
    pub manifest: Manifest,
    /// Older backups retention removed.
    pub removed: Vec<PathBuf>,
    /// Leftovers of interrupted backups or deletions removed first.
    pub leftovers: usize,
}

#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    #[error("another backup is being written into {0}")]
    Busy(String),
    #[error("copying the database: {0}")]
    Snapshot(#[source] StorageError),
    #[error("blob {0}, named by the database, is missing from the blob store")]
    MissingBlob(String),
    #[error("blob {sha256} in the blob store has the SHA-256 {found}: the stored file is damaged")]
    DamagedBlob { sha256: String, found: String },
    #[error("a backup named {0} already exists")]
    Exists(String),
    #[error("{what}: {source}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },
}

fn io(what: impl std::fmt::Display) -> impl FnOnce(std::io::Error) -> BackupError {
    move |source| BackupError::Io {
        what: what.to_string(),
        source,
    }
}

/// The names in the backup folder (none when it does not exist yet).
pub fn list(root: &Path) -> std::io::Result<Vec<String>> {
    let entries = match std::fs::read_dir(root) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let mut names = Vec::new();
    for entry in entries {
        if let Ok(name) = entry?.file_name().into_string() {
            names.push(name);
        }
    }
    names.sort();
    Ok(names)
}

/// The folder's lock, held while a backup is written or retention runs.
struct FolderLock {
    _conn: rusqlite::Connection,
}

fn lock(root: &Path) -> Result<FolderLock, BackupError> {
    let path = root.join(LOCK);
    let locking = |e: rusqlite::Error| BackupError::Io {
        what: format!("locking {}", path.display()),
        source: std::io::Error::other(e),
    };
    let conn = rusqlite::Connection::open(&path).map_err(locking)?;
    conn.busy_timeout(std::time::Duration::ZERO)
        .map_err(locking)?;
    match conn.execute_batch("BEGIN EXCLUSIVE") {
        Ok(()) => Ok(FolderLock { _conn: conn }),
        Err(rusqlite::Error::SqliteFailure(f, _))
            if f.code == rusqlite::ErrorCode::DatabaseBusy
                || f.code == rusqlite::ErrorCode::DatabaseLocked =>
        {
            Err(BackupError::Busy(root.display().to_string()))
        }
        Err(e) => Err(locking(e)),
    }
}

/// Writes a backup of `sources` into a new folder in `root`, named for `now`; then,
/// with `keep`, removes the backups beyond the newest `keep`. Blocking: run it on a
/// blocking thread. The server may be running and writing meanwhile.
pub fn create(
    sources: &Sources,
    root: &Path,
    now: DateTime<Utc>,
    keep: Option<usize>,
) -> Result<Made, BackupError> {
    std::fs::create_dir_all(root).map_err(io(format!("creating {}", root.display())))?;
    let _lock = lock(root)?;
    let leftovers = remove_leftovers(root)?;
    let name = retention::backup_name(now);
    let path = root.join(&name);
    if path.exists() {
        return Err(BackupError::Exists(path.display().to_string()));
    }
    let partial = root.join(format!("{PARTIAL}{name}"));
    std::fs::create_dir(&partial).map_err(io(format!("creating {}", partial.display())))?;
    let manifest = match write_partial(sources, &partial, now) {
        Ok(manifest) => manifest,
        Err(e) => {
            // Best effort: the next backup removes it anyway.
            let _ = std::fs::remove_dir_all(&partial);
            return Err(e);
        }
    };
    std::fs::rename(&partial, &path).map_err(io(format!("naming {}", path.display())))?;
    sync_dir(root)?;
    let removed = match keep {
        Some(keep) => prune(root, keep)?,
        None => Vec::new(),
    };
    Ok(Made {
        path,
        manifest,
        removed,
        leftovers,
    })
}

/// The database, its blobs and the manifest, all synced, in `partial`.
fn write_partial(
    sources: &Sources,
    partial: &Path,
    now: DateTime<Utc>,
) -> Result<Manifest, BackupError> {
    let db = partial.join(DATABASE);
    let info: SnapshotInfo =
        snapshot::snapshot_into(&sources.db, &db).map_err(BackupError::Snapshot)?;
    let (size, sha256) = hash_file(&db).map_err(io(format!("reading {}", db.display())))?;
    let mut files = vec![FileEntry {
        path: DATABASE.to_owned(),
        size,
        sha256,
    }];
    let mut fans = std::collections::BTreeSet::new();
    for sha in &info.blobs {
        if !crate::digest::is_sha256_hex(sha) {
            return Err(BackupError::Snapshot(StorageError::Corrupt(format!(
                "the database names a blob {sha:?} that is not a SHA-256"
            ))));
        }
        let fan = &sha[..2];
        let from = sources.blob_dir.join(fan).join(sha);
        let to_dir = partial.join(BLOBS).join(fan);
        if fans.insert(fan.to_owned()) {
            std::fs::create_dir_all(&to_dir)
                .map_err(io(format!("creating {}", to_dir.display())))?;
        }
        let (size, found) = match copy_hashing(&from, &to_dir.join(sha)) {
            Ok(done) => done,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(BackupError::MissingBlob(sha.clone()));
            }
            Err(e) => return Err(io(format!("copying {}", from.display()))(e)),
        };
        if &found != sha {
            return Err(BackupError::DamagedBlob {
                sha256: sha.clone(),
                found,
            });
        }
        files.push(FileEntry {
            path: manifest::blob_path(sha),
            size,
            sha256: found,
        });
    }
    let manifest = Manifest {
        format: manifest::FORMAT.to_owned(),
        server_version: env!("CARGO_PKG_VERSION").to_owned(),
        created_at: now.to_rfc3339_opts(SecondsFormat::Millis, true),
        schema_version: info.schema_version,
        latest_change_seq: info.latest_change_seq,
        audit_head: info.audit_head,
        files,
    };
    let text = serde_json::to_vec_pretty(&manifest).map_err(|e| BackupError::Io {
        what: "writing the manifest".to_owned(),
        source: std::io::Error::other(e),
    })?;
    let at = partial.join(MANIFEST);
    write_synced(&at, &text).map_err(io(format!("writing {}", at.display())))?;
    for fan in &fans {
        sync_dir(&partial.join(BLOBS).join(fan))?;
    }
    if !fans.is_empty() {
        sync_dir(&partial.join(BLOBS))?;
    }
    sync_dir(partial)?;
    Ok(manifest)
}

/// Removes what interrupted backups and deletions left. Only with the lock held.
fn remove_leftovers(root: &Path) -> Result<usize, BackupError> {
    let names = list(root).map_err(io(format!("listing {}", root.display())))?;
    let mut removed = 0;
    for name in names {
        if retention::classify(&name) == Entry::Leftover {
            let path = root.join(&name);
            tracing::warn!(path = %path.display(), "removing what an interrupted backup left");
            std::fs::remove_dir_all(&path).map_err(io(format!("removing {}", path.display())))?;
            removed += 1;
        }
    }
    Ok(removed)
}

/// Removes the complete backups beyond the newest `keep`. Only with the lock held.
fn prune(root: &Path, keep: usize) -> Result<Vec<PathBuf>, BackupError> {
    let names = list(root).map_err(io(format!("listing {}", root.display())))?;
    let mut removed = Vec::new();
    for name in retention::to_remove(&names, keep) {
        let path = root.join(&name);
        let doomed = root.join(format!("{DELETING}{name}"));
        // Renamed first, so a deletion cut short never leaves a half backup that
        // looks complete.
        std::fs::rename(&path, &doomed).map_err(io(format!("retiring {}", path.display())))?;
        sync_dir(root)?;
        std::fs::remove_dir_all(&doomed).map_err(io(format!("removing {}", doomed.display())))?;
        tracing::info!(path = %path.display(), "old backup removed");
        removed.push(path);
    }
    Ok(removed)
}

const CHUNK: usize = 256 * 1024;

/// The size and SHA-256 of a file.
fn hash_file(path: &Path) -> std::io::Result<(u64, String)> {
    let mut file = std::fs::File::open(path)?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0_u8; CHUNK];
    let mut size = 0_u64;
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            return Ok((size, hex::encode(hasher.finalize())));
        }
        hasher.update(&buf[..n]);
        size += n as u64;
    }
}

/// Copies `from` into the new file `to`, synced; returns the size and SHA-256 of the
/// bytes copied (read once, so what is hashed is what was written).
fn copy_hashing(from: &Path, to: &Path) -> std::io::Result<(u64, String)> {
    let mut src = std::fs::File::open(from)?;
    let mut dst = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(to)?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0_u8; CHUNK];
    let mut size = 0_u64;
    loop {
        let n = src.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        dst.write_all(&buf[..n])?;
        size += n as u64;
    }
    dst.sync_all()?;
    Ok((size, hex::encode(hasher.finalize())))
}

fn write_synced(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)?;
    file.write_all(bytes)?;
    file.sync_all()
}

/// Makes a folder's entries (a new file, a rename) durable. A no-op where folders
/// cannot be opened (Windows), whose file systems order these themselves.
fn sync_dir(dir: &Path) -> Result<(), BackupError> {
    #[cfg(unix)]
    {
        std::fs::File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(io(format!("syncing {}", dir.display())))?;
    }
    #[cfg(not(unix))]
    let _ = dir;
    Ok(())
}

/// Why a backup did not restore, or did not verify: the first fault found.
#[derive(Debug, thiserror::Error)]
pub enum RestoreFault {
    #[error("{0} has no manifest.json: it is not a complete backup")]
    NoManifest(String),
    #[error("the manifest cannot be read: {0}")]
    Unreadable(String),
    #[error(transparent)]
    Manifest(#[from] ManifestFault),
    #[error("in the backup: {0}")]
    File(FileFault),
    #[error("{0} exists and is not empty; restore into a new or empty folder")]
    NotEmpty(String),
    #[error("the restored database does not open: {0}")]
    Open(String),
    #[error("the restored audit log does not verify: {0}")]
    Audit(String),
    #[error("the restored database's newest change is {found}; the manifest says {expected}")]
    ChangeSeq { expected: i64, found: i64 },
    #[error("the restored audit chain ends at {found}; the manifest says {expected}")]
    AuditHead { expected: String, found: String },
    #[error("blob {0}, named by the restored database, is not in the backup")]
    BlobNotInBackup(String),
    #[error("restored: {0}")]
    RestoredBlob(FileFault),
    #[error("{what}: {source}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },
}

fn rio(what: impl std::fmt::Display) -> impl FnOnce(std::io::Error) -> RestoreFault {
    move |source| RestoreFault::Io {
        what: what.to_string(),
        source,
    }
}

/// A restore that stopped at a fault, with what had been checked before it.
#[derive(Debug)]
pub struct RestoreFailure {
    pub report: Vec<String>,
    pub fault: RestoreFault,
}

/// Restores the backup at `backup` into the new (or empty) folder `into`: the
/// database as `into/jsjb.sqlite3` and the blobs under `into/blobs`, every file
/// checked against the manifest as it is copied. With `verify`, then opens the
/// restored database with the normal storage, verifies its audit chain and letter
/// events (and that the chain holds the head the manifest recorded), its newest
/// change, and that every blob it names was restored with the bytes its name says.
/// Returns the report's lines, or the first fault with the lines before it.
pub async fn restore(
    backup: &Path,
    into: &Path,
    verify: bool,
) -> Result<Vec<String>, RestoreFailure> {
    let mut report = Vec::new();
    match restore_into(backup, into, verify, &mut report).await {
        Ok(()) => Ok(report),
        Err(fault) => Err(RestoreFailure { report, fault }),
    }
}

async fn restore_into(
    backup: &Path,
    into: &Path,
    verify: bool,
    report: &mut Vec<String>,
) -> Result<(), RestoreFault> {
    let (from, to) = (backup.to_owned(), into.to_owned());
    let (manifest, lines) = tokio::task::spawn_blocking(move || copy_out(&from, &to))
        .await
        .map_err(|e| rio("the restore task")(std::io::Error::other(e)))??;
    report.extend(lines);
    if !verify {
        report.push(
            "not verified (run with --verify to check the audit chain and the blobs)".to_owned(),
        );
        return Ok(());
    }

    let db = into.join(DATABASE);
    let store = {
        let db = db.clone();
        tokio::task::spawn_blocking(move || SqliteStore::open(&db))
            .await
            .map_err(|e| RestoreFault::Open(e.to_string()))?
            .map_err(|e| RestoreFault::Open(e.to_string()))?
    };
    let head = manifest.audit_head.clone();
    let v = store
        .verify_audit(vec![head.clone()])
        .await
        .map_err(|e| RestoreFault::Audit(e.to_string()))?;
    if let Some(failure) = v.failure() {
        return Err(RestoreFault::Audit(failure));
    }
    let info = store
        .read(snapshot::describe)
        .await
        .map_err(|e| RestoreFault::Open(e.to_string()))?;
    drop(store);
    if info.audit_head != head {
        return Err(RestoreFault::AuditHead {
            expected: format!("{}:{}", head.seq, head.hash),
            found: format!("{}:{}", info.audit_head.seq, info.audit_head.hash),
        });
    }
    report.push(format!(
        "audit     {} entries and {} letter events verify; the chain ends at the recorded head {}:{}",
        v.entries, v.events, head.seq, head.hash
    ));
    if info.latest_change_seq != manifest.latest_change_seq {
        return Err(RestoreFault::ChangeSeq {
            expected: manifest.latest_change_seq,
            found: info.latest_change_seq,
        });
    }
    report.push(format!(
        "changes   the newest change is {}, as recorded",
        info.latest_change_seq
    ));
    let listed: std::collections::BTreeSet<String> =
        manifest.blobs().into_iter().map(str::to_owned).collect();
    if let Some(missing) = info.blobs.difference(&listed).next() {
        return Err(RestoreFault::BlobNotInBackup(missing.clone()));
    }
    let restored = into.to_owned();
    let named = info.blobs.clone();
    let entries: Vec<FileEntry> = manifest
        .files
        .iter()
        .filter(|f| f.path != DATABASE)
        .cloned()
        .collect();
    tokio::task::spawn_blocking(move || check_restored_blobs(&restored, &named, &entries))
        .await
        .map_err(|e| rio("the blob check")(std::io::Error::other(e)))??;
    report.push(format!(
        "blobs     the {} blobs the database names are restored, each with the bytes its name says",
        info.blobs.len()
    ));
    Ok(())
}

/// Reads and checks the manifest, then copies every file into `into`, checking each.
fn copy_out(backup: &Path, into: &Path) -> Result<(Manifest, Vec<String>), RestoreFault> {
    let at = backup.join(MANIFEST);
    let text = match std::fs::read(&at) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(RestoreFault::NoManifest(backup.display().to_string()));
        }
        Err(e) => return Err(rio(format!("reading {}", at.display()))(e)),
    };
    let manifest: Manifest =
        serde_json::from_slice(&text).map_err(|e| RestoreFault::Unreadable(e.to_string()))?;
    manifest.check()?;
    let mut lines = vec![format!(
        "backup    {} (server {}, taken {}; schema {})",
        backup.display(),
        manifest.server_version,
        manifest.created_at,
        manifest.schema_version
    )];

    match std::fs::read_dir(into) {
        Ok(mut entries) => {
            if entries.next().is_some() {
                return Err(RestoreFault::NotEmpty(into.display().to_string()));
            }
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(rio(format!("reading {}", into.display()))(e)),
    }
    std::fs::create_dir_all(into.join(BLOBS))
        .map_err(rio(format!("creating {}", into.display())))?;
    for entry in &manifest.files {
        let from = backup.join(&entry.path);
        let to = into.join(&entry.path);
        if let Some(parent) = to.parent() {
            std::fs::create_dir_all(parent)
                .map_err(rio(format!("creating {}", parent.display())))?;
        }
        let found = match copy_hashing(&from, &to) {
            Ok(found) => Some(found),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => return Err(rio(format!("copying {}", from.display()))(e)),
        };
        manifest::check_file(entry, found.as_ref().map(|(n, s)| (*n, s.as_str())))
            .map_err(RestoreFault::File)?;
    }
    lines.push(format!(
        "files     {} checked ({} bytes): each matches the manifest's size and SHA-256",
        manifest.files.len(),
        manifest.total_bytes()
    ));
    lines.push(format!(
        "restored  into {} ({DATABASE}, {BLOBS}/)",
        into.display()
    ));
    Ok((manifest, lines))
}

/// Every blob in `named` is restored under `into` and hashes to its name.
fn check_restored_blobs(
    into: &Path,
    named: &std::collections::BTreeSet<String>,
    entries: &[FileEntry],
) -> Result<(), RestoreFault> {
    for entry in entries {
        if !named.contains(&entry.sha256) {
            continue;
        }
        let found = match hash_file(&into.join(&entry.path)) {
            Ok(found) => Some(found),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => return Err(rio(format!("reading {}", entry.path))(e)),
        };
        manifest::check_file(entry, found.as_ref().map(|(n, s)| (*n, s.as_str())))
            .map_err(RestoreFault::RestoredBlob)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_backup_at_a_time_writes_into_a_folder() {
        let dir = tempfile::tempdir().expect("dir");
        let held = lock(dir.path()).expect("first");
        assert!(matches!(lock(dir.path()), Err(BackupError::Busy(_))));
        drop(held);
        lock(dir.path()).expect("free again");
    }

    #[test]
    fn leftovers_go_and_retention_keeps_the_newest_complete_ones() {
        let dir = tempfile::tempdir().expect("dir");
        let root = dir.path();
        let t0 = chrono::DateTime::parse_from_rfc3339("2026-05-01T00:00:00Z")
            .expect("t")
            .with_timezone(&Utc);
        let names: Vec<String> = (0..4)
            .map(|i| retention::backup_name(t0 + chrono::Duration::hours(i)))
            .collect();
        for n in &names {
            std::fs::create_dir_all(root.join(n).join("blobs")).expect("backup");
        }
        std::fs::create_dir(root.join(format!("{PARTIAL}{}", names[3]))).expect("partial");
        std::fs::create_dir(root.join(format!("{DELETING}{}", names[0]))).expect("deleting");
        std::fs::write(root.join("README"), "the operator's").expect("other");
        assert_eq!(remove_leftovers(root).expect("clean"), 2);
        let removed = prune(root, 2).expect("prune");
        assert_eq!(removed, [root.join(&names[0]), root.join(&names[1])]);
        assert_eq!(
            list(root).expect("list"),
            ["README".to_owned(), names[2].clone(), names[3].clone()]
        );
    }
}
