//! The scheduled backup: the task that runs it while serving (its configuration is
//! `settings.rs`, which the server's `Config` holds without depending on this task).

use crate::state::AppState;

/// Starts the scheduled backups when a backup folder is configured: each is written
/// with [`super::create`] on a blocking thread, then retention runs. A failure is
/// logged and the next attempt is one interval later.
pub fn spawn(state: &AppState) -> Option<tokio::task::JoinHandle<()>> {
    let schedule = state.config.backup.clone();
    let dir = schedule.dir.clone()?;
    let sources = super::Sources::of(&state.config);
    let time = std::sync::Arc::clone(&state.time);
    tracing::info!(
        dir = %dir.display(),
        every_secs = schedule.every.as_secs(),
        keep = schedule.keep,
        "scheduled backups on"
    );
    Some(tokio::spawn(async move {
        let mut failed = false;
        loop {
            let wait = if failed {
                schedule.every
            } else {
                let listed = dir.clone();
                let names = tokio::task::spawn_blocking(move || super::list(&listed))
                    .await
                    .ok()
                    .and_then(Result::ok)
                    .unwrap_or_default();
                super::retention::next_due(
                    super::retention::newest(&names),
                    schedule.every,
                    time.now(),
                )
            };
            tokio::time::sleep(wait).await;
            let (sources, dir, now) = (sources.clone(), dir.clone(), time.now());
            let keep = schedule.keep as usize;
            let started = std::time::Instant::now();
            let done =
                tokio::task::spawn_blocking(move || super::create(&sources, &dir, now, Some(keep)))
                    .await;
            failed = match done {
                Ok(Ok(made)) => {
                    tracing::info!(
                        path = %made.path.display(),
                        files = made.manifest.files.len(),
                        bytes = made.manifest.total_bytes(),
                        latest_change_seq = made.manifest.latest_change_seq,
                        audit_seq = made.manifest.audit_head.seq,
                        removed = made.removed.len(),
                        secs = started.elapsed().as_secs_f32(),
                        "backup written"
                    );
                    false
                }
                Ok(Err(e)) => {
                    tracing::error!(%e, "scheduled backup failed; trying again in one interval");
                    true
                }
                Err(e) => {
                    tracing::error!(%e, "scheduled backup task failed");
                    true
                }
            };
        }
    }))
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    #[derive(clap::Parser)]
    struct Cli {
        #[command(flatten)]
        config: crate::Config,
    }

    #[test]
    fn the_schedule_is_read_from_flags_and_checked_at_start() {
        let cli = Cli::try_parse_from([
            "x",
            "--backup-dir",
            "/srv/backups",
            "--backup-every",
            "6h",
            "--backup-keep",
            "3",
        ])
        .expect("valid flags");
        let b = &cli.config.backup;
        assert_eq!(b.dir.as_deref(), Some(std::path::Path::new("/srv/backups")));
        assert_eq!(b.every, std::time::Duration::from_secs(6 * 3600));
        assert_eq!(b.keep, 3);
        assert_eq!(cli.config.validate(), Ok(()));

        let defaults = Cli::try_parse_from(["x"]).expect("defaults");
        assert_eq!(defaults.config.backup.dir, None);
        assert_eq!(defaults.config.backup.every.as_secs(), 86_400);
        assert_eq!(defaults.config.backup.keep, 7);

        assert!(Cli::try_parse_from(["x", "--backup-keep", "0"]).is_err());
        assert!(Cli::try_parse_from(["x", "--backup-every", "0s"]).is_err());
        // Backups inside the blob store would be backed up into themselves.
        let inside = Cli::try_parse_from([
            "x",
            "--blob-dir",
            "/srv/blobs",
            "--backup-dir",
            "/srv/blobs/b",
        ])
        .expect("parses");
        assert!(matches!(
            inside.config.validate(),
            Err(crate::config::ConfigError::BackupDir(_))
        ));
    }
}
