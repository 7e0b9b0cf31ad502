//! What the backup directory holds and what to do with it, decided on names alone:
//! which entries are complete backups, which are left over from a backup or a
//! deletion that was interrupted, which backups retention removes, and when the next
//! scheduled backup is due. Pure, so every rule is tested without a file system.
//!
//! A complete backup is only ever made by renaming a finished temporary directory to
//! `jsjb-backup-<UTC time>`, so a name of that form means a complete backup. A
//! backup being written is `.partial-…`; one being deleted is first renamed to
//! `.deleting-…`, so a deletion cut short never leaves a half backup under a
//! complete one's name.

use chrono::{DateTime, NaiveDateTime, Utc};

const PREFIX: &str = "jsjb-backup-";
pub const PARTIAL: &str = ".partial-";
pub const DELETING: &str = ".deleting-";
/// Millisecond precision: two backups a second apart (a manual one right after a
/// scheduled one) still get different names, and names sort as times do.
const TIME_FORMAT: &str = "%Y%m%dT%H%M%S%.3fZ";

/// The name of a backup started at `at`.
pub fn backup_name(at: DateTime<Utc>) -> String {
    format!("{PREFIX}{}", at.format(TIME_FORMAT))
}

/// When the backup named `name` was started, if `name` is a complete backup's name.
pub fn backup_time(name: &str) -> Option<DateTime<Utc>> {
    let stamp = name.strip_prefix(PREFIX)?;
    NaiveDateTime::parse_from_str(stamp, TIME_FORMAT)
        .ok()
        .map(|t| t.and_utc())
        // Only the exact form this module writes: no second spelling of one time.
        .filter(|t| backup_name(*t) == name)
}

/// What one entry of the backup directory is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Entry {
    Complete(DateTime<Utc>),
    /// Left by a backup or a deletion that did not finish: safe to remove when no
    /// backup is being written (the directory's lock is held).
    Leftover,
    /// Not ours (the lock file, anything an operator put there): left alone.
    Other,
}

pub fn classify(name: &str) -> Entry {
    if let Some(t) = backup_time(name) {
        return Entry::Complete(t);
    }
    let ours = |rest: &str| backup_time(rest).is_some();
    match (name.strip_prefix(PARTIAL), name.strip_prefix(DELETING)) {
        (Some(rest), _) | (_, Some(rest)) if ours(rest) => Entry::Leftover,
        _ => Entry::Other,
    }
}

/// The complete backups among `names` that retention removes so that the newest
/// `keep` remain, oldest first. `keep` is at least 1 (checked at start), so the
/// backup just written is never among them.
pub fn to_remove(names: &[String], keep: usize) -> Vec<String> {
    let mut complete: Vec<(DateTime<Utc>, &String)> = names
        .iter()
        .filter_map(|n| backup_time(n).map(|t| (t, n)))
        .collect();
    complete.sort();
    let excess = complete.len().saturating_sub(keep.max(1));
    complete
        .into_iter()
        .take(excess)
        .map(|(_, n)| n.clone())
        .collect()
}

/// The newest complete backup's time among `names`.
pub fn newest(names: &[String]) -> Option<DateTime<Utc>> {
    names.iter().filter_map(|n| backup_time(n)).max()
}

/// How long from `now` until the next scheduled backup: `every` after the newest
/// complete one, so a restarted server keeps the rhythm instead of backing up at each
/// start, and at once when there is none or it is overdue. A newest backup in the
/// future (the clock was set back) counts as made now.
pub fn next_due(
    newest: Option<DateTime<Utc>>,
    every: std::time::Duration,
    now: DateTime<Utc>,
) -> std::time::Duration {
    let Some(newest) = newest else {
        return std::time::Duration::ZERO;
    };
    let since = (now - newest).to_std().unwrap_or_default();
    every.saturating_sub(since)
}

/// Parses a backup interval: a whole number and a unit, `90s`, `30m`, `6h`, `1d`;
/// between 1 second and 30 days.
pub fn parse_every(text: &str) -> Result<std::time::Duration, String> {
    let bad = || format!("{text:?} is not an interval like 90s, 30m, 6h or 1d");
    let text = text.trim();
    let split = text.find(|c: char| !c.is_ascii_digit()).ok_or_else(bad)?;
    let (digits, unit) = text.split_at(split);
    let n: u64 = digits.parse().map_err(|_| bad())?;
    let unit_secs = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => return Err(bad()),
    };
    let secs = n.checked_mul(unit_secs).ok_or_else(bad)?;
    if !(1..=30 * 86_400).contains(&secs) {
        return Err(format!(
            "the backup interval must be between 1 second and 30 days, got {text}"
        ));
    }
    Ok(std::time::Duration::from_secs(secs))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use std::time::Duration;

    fn at(h: u32, m: u32, s: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 5, 1, h, m, s)
            .single()
            .expect("time")
    }

    #[test]
    fn names_read_back_as_their_time_and_nothing_else_does() {
        let t = at(2, 0, 0) + chrono::Duration::milliseconds(7);
        let name = backup_name(t);
        assert_eq!(name, "jsjb-backup-20260501T020000.007Z");
        assert_eq!(backup_time(&name), Some(t));
        assert_eq!(classify(&name), Entry::Complete(t));
        assert_eq!(classify(&format!(".partial-{name}")), Entry::Leftover);
        assert_eq!(classify(&format!(".deleting-{name}")), Entry::Leftover);
        for other in [
            ".backup-lock.sqlite3",
            "jsjb-backup-20260501T020000Z",
            "jsjb-backup-20260501T020000.007Z.old",
            ".partial-notes",
            "notes",
        ] {
            assert_eq!(classify(other), Entry::Other, "{other}");
        }
    }

    #[test]
    fn retention_removes_the_oldest_beyond_keep() {
        let names: Vec<String> = [at(3, 0, 0), at(1, 0, 0), at(2, 0, 0), at(4, 0, 0)]
            .into_iter()
            .map(backup_name)
            .chain([".partial-x".to_owned(), "notes".to_owned()])
            .collect();
        assert_eq!(
            to_remove(&names, 2),
            [backup_name(at(1, 0, 0)), backup_name(at(2, 0, 0))]
        );
        assert_eq!(to_remove(&names, 4), Vec::<String>::new());
        assert_eq!(to_remove(&names, 10), Vec::<String>::new());
        // Never the newest, whatever `keep` says.
        assert_eq!(to_remove(&names, 0).len(), 3);
        assert_eq!(newest(&names), Some(at(4, 0, 0)));
        assert_eq!(newest(&["notes".to_owned()]), None);
    }

    #[test]
    fn the_next_backup_is_due_every_after_the_newest() {
        let hour = Duration::from_secs(3600);
        assert_eq!(next_due(None, hour, at(5, 0, 0)), Duration::ZERO);
        assert_eq!(
            next_due(Some(at(4, 30, 0)), hour, at(5, 0, 0)),
            Duration::from_secs(1800)
        );
        assert_eq!(
            next_due(Some(at(3, 0, 0)), hour, at(5, 0, 0)),
            Duration::ZERO
        );
        // The clock went back: wait a whole interval, not a negative one.
        assert_eq!(next_due(Some(at(6, 0, 0)), hour, at(5, 0, 0)), hour);
    }

    #[test]
    fn intervals_parse_with_a_unit_within_bounds() {
        assert_eq!(parse_every("90s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_every("30m"), Ok(Duration::from_secs(1800)));
        assert_eq!(parse_every("6h"), Ok(Duration::from_secs(6 * 3600)));
        assert_eq!(parse_every("1d"), Ok(Duration::from_secs(86_400)));
        for bad in [
            "",
            "6",
            "h",
            "6 h",
            "6H",
            "-1h",
            "0s",
            "31d",
            "1.5h",
            "99999999999999999999d",
        ] {
            assert!(parse_every(bad).is_err(), "{bad:?}");
        }
    }
}
