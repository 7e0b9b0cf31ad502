//! `--backup-dir`, `--backup-every`, `--backup-keep`: the scheduled backup's settings, a
//! leaf the server's `Config` holds (the task that uses them is `schedule.rs`).

use std::path::PathBuf;
use std::time::Duration;

/// `--backup-dir`, `--backup-every`, `--backup-keep`: scheduled backups while serving.
#[derive(Debug, Clone, clap::Args)]
pub struct BackupSchedule {
    /// Where scheduled backups go (a folder of `jsjb-backup-<time>` folders). None: no
    /// scheduled backups (`admin backup` still works).
    #[arg(long = "backup-dir", env = "JSJB_BACKUP_DIR", global = true)]
    pub dir: Option<PathBuf>,
    /// How often: `90s`, `30m`, `6h`, `1d` (counted from the newest backup in the
    /// folder, so a restart does not add one).
    #[arg(
        long = "backup-every",
        env = "JSJB_BACKUP_EVERY",
        default_value = "1d",
        value_parser = super::retention::parse_every,
        global = true
    )]
    pub every: Duration,
    /// How many complete backups to keep; older ones are deleted after each new one.
    #[arg(
        long = "backup-keep",
        env = "JSJB_BACKUP_KEEP",
        default_value_t = 7,
        value_parser = clap::value_parser!(u32).range(1..=1000),
        global = true
    )]
    pub keep: u32,
}

impl Default for BackupSchedule {
    fn default() -> Self {
        BackupSchedule {
            dir: None,
            every: Duration::from_secs(86_400),
            keep: 7,
        }
    }
}
