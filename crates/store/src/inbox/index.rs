//! The inbox's filters, state tabs and order over every cached letter, answered from
//! memory (issue 15 item 3).
//!
//! Why in memory: the inbox ranks by groups that depend on `now` — a sign-for clock due
//! in five minutes is savable now and lost in six — so no SQL index hands rows out in
//! that order, and SQLite sorted every matching row for each page (17–50 ms at 100,000
//! letters). Here each letter is one compact entry of its listing keys (80 bytes) and a
//! page is one pass over them that filters, counts the state tabs and selects the top
//! rows, colouring and grouping with the very functions that colour the rows shown
//! (`rank.rs`).
//!
//! The `letters` table stays the only truth. SQLite's update hook notes every row of
//! it that any statement inserts, updates or deletes — a sync page, an officer's action,
//! a transaction later rolled back, a test writing through the raw connection — and the
//! index reads exactly those rows again before it next answers. So it cannot drift from
//! the table, whoever wrote to it; a change costs one primary-key read on the next page.
//! A commit by another connection to the same file (which the hook cannot see) moves
//! `PRAGMA data_version`, and then the whole table is read again.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, PoisonError};

use jsjb_core::letter::{Category, Channel, LetterState};
use rusqlite::hooks::Action;
use rusqlite::{Connection, OptionalExtension, Row};

use super::query::InboxQuery;
use super::rank::{InboxGroup, band_at, savable_due, sort_key};
use crate::StoreError;

/// Past this many changed rows the whole table is read again in one scan instead of
/// row by row (a first sync changes every row).
const RELOAD_ALL_AT: usize = 2_000;

/// `None` in an entry's `i64` fields (no clock, no handler): keeps an entry at 80 bytes
/// instead of 144 with `Option`s. No id or time is ever `i64::MIN`.
const NONE: i64 = i64::MIN;

fn opt(v: i64) -> Option<i64> {
    (v != NONE).then_some(v)
}

/// One letter's listing keys: what the filters and the order read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Entry {
    id: i64,
    unit: i64,
    handler: i64,
    supervisor: i64,
    next_due_at: i64,
    warn_at: i64,
    urgency_key: i64,
    sign_for_due: i64,
    contact_due: i64,
    state: LetterState,
    category: Category,
    channel: Channel,
    flags: u8,
}

const EXTENSION_PENDING: u8 = 1;
const EXTENDED: u8 = 2;
const VISIT_DUE: u8 = 4;

const KEY_COLUMNS: &str = "id, unit_id, handler_id, supervisor_id, next_due_at, warn_at, \
    urgency_key, sign_for_due, contact_due, state, category, channel, extension_pending, \
    extended, visit_due";

fn vocabulary<T>(row: &Row<'_>, i: usize, parse: fn(&str) -> Option<T>) -> Result<T, StoreError> {
    let value = crate::text_col(row, i)?;
    parse(value).ok_or_else(|| StoreError::Corrupt(format!("column {i}: {value:?}")))
}

fn entry_of(row: &Row<'_>) -> Result<Entry, StoreError> {
    let or_none =
        |i: usize| -> Result<i64, StoreError> { Ok(row.get::<_, Option<i64>>(i)?.unwrap_or(NONE)) };
    let flag = |i: usize, bit: u8| -> Result<u8, StoreError> {
        Ok(if row.get::<_, bool>(i)? { bit } else { 0 })
    };
    Ok(Entry {
        id: row.get(0)?,
        unit: row.get(1)?,
        handler: or_none(2)?,
        supervisor: or_none(3)?,
        next_due_at: or_none(4)?,
        warn_at: or_none(5)?,
        urgency_key: row.get(6)?,
        sign_for_due: or_none(7)?,
        contact_due: or_none(8)?,
        state: vocabulary(row, 9, LetterState::parse)?,
        category: vocabulary(row, 10, Category::parse)?,
        channel: vocabulary(row, 11, Channel::parse)?,
        flags: flag(12, EXTENSION_PENDING)? | flag(13, EXTENDED)? | flag(14, VISIT_DUE)?,
    })
}

/// The rows of `letters` written since the index last read them.
#[derive(Debug)]
struct Changed {
    ids: HashSet<i64>,
    /// Too many to read one by one, or the index has never been filled.
    all: bool,
}

/// The page the index selected: ids in inbox order, and the counts.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Selection {
    pub ids: Vec<i64>,
    /// Rows under every filter (the state filter included).
    pub total: u64,
    /// Per state under every filter except the state filter, in `LetterState::ALL`
    /// order, states with no letter left out.
    pub state_counts: Vec<(LetterState, u64)>,
}

/// The in-memory index of the `letters` table. See the module docs.
pub(crate) struct InboxIndex {
    entries: Vec<Entry>,
    /// Where each letter's entry is in `entries`.
    slots: HashMap<i64, usize>,
    changed: Arc<Mutex<Changed>>,
    /// `PRAGMA data_version` when the index last caught up: it moves when another
    /// connection (a second app instance on the same file, a restore tool) commits,
    /// which this connection's update hook never sees.
    data_version: Option<i64>,
}

impl InboxIndex {
    /// An empty index that notes every change `conn` makes to `letters` from now on
    /// (it replaces any update hook of `conn`); the first query reads the whole table.
    pub fn watch(conn: &Connection) -> Result<InboxIndex, StoreError> {
        let changed = Arc::new(Mutex::new(Changed {
            ids: HashSet::new(),
            all: true,
        }));
        let noted = Arc::clone(&changed);
        conn.update_hook(Some(
            move |_: Action, _db: &str, table: &str, rowid: i64| {
                if table != "letters" {
                    return;
                }
                let mut changed = noted.lock().unwrap_or_else(PoisonError::into_inner);
                if changed.all {
                    return;
                }
                changed.ids.insert(rowid);
                if changed.ids.len() > RELOAD_ALL_AT {
                    changed.all = true;
                    changed.ids = HashSet::new();
                }
            },
        ))?;
        Ok(InboxIndex {
            entries: Vec::new(),
            slots: HashMap::new(),
            changed,
            data_version: None,
        })
    }

    /// Reads again what changed since the last call. Called inside no transaction of
    /// the caller's, or inside one: either way it reads what `conn` sees.
    pub fn catch_up(&mut self, conn: &Connection) -> Result<(), StoreError> {
        let version: i64 = conn.query_row("PRAGMA data_version", [], |r| r.get(0))?;
        let written_elsewhere = self.data_version.replace(version) != Some(version);
        let (ids, all) = {
            let mut changed = self.changed.lock().unwrap_or_else(PoisonError::into_inner);
            let all = std::mem::replace(&mut changed.all, false) || written_elsewhere;
            (std::mem::take(&mut changed.ids), all)
        };
        let caught = if all {
            self.reload_all(conn)
        } else {
            self.reload(conn, &ids)
        };
        if caught.is_err() {
            // Whatever was half read is read again next time.
            let mut changed = self.changed.lock().unwrap_or_else(PoisonError::into_inner);
            changed.all = true;
            changed.ids.clear();
        }
        caught
    }

    fn reload_all(&mut self, conn: &Connection) -> Result<(), StoreError> {
        let mut stmt = conn.prepare(&format!("SELECT {KEY_COLUMNS} FROM letters"))?;
        let mut rows = stmt.query([])?;
        self.entries.clear();
        self.slots.clear();
        while let Some(row) = rows.next()? {
            let entry = entry_of(row)?;
            self.slots.insert(entry.id, self.entries.len());
            self.entries.push(entry);
        }
        self.entries.shrink_to_fit();
        Ok(())
    }

    fn reload(&mut self, conn: &Connection, ids: &HashSet<i64>) -> Result<(), StoreError> {
        if ids.is_empty() {
            return Ok(());
        }
        let mut stmt =
            conn.prepare_cached(&format!("SELECT {KEY_COLUMNS} FROM letters WHERE id = ?1"))?;
        for &id in ids {
            let entry = stmt
                .query_row([id], |row| Ok(entry_of(row)))
                .optional()?
                .transpose()?;
            match (entry, self.slots.get(&id).copied()) {
                (Some(entry), Some(slot)) => self.entries[slot] = entry,
                (Some(entry), None) => {
                    self.slots.insert(id, self.entries.len());
                    self.entries.push(entry);
                }
                (None, Some(slot)) => {
                    self.slots.remove(&id);
                    self.entries.swap_remove(slot);
                    if let Some(moved) = self.entries.get(slot) {
                        self.slots.insert(moved.id, slot);
                    }
                }
                (None, None) => {}
            }
        }
        Ok(())
    }

    /// The page `query` asks for at `now` (µs), among `among` when a text search chose
    /// the candidates. The text filter itself is the caller's (it is SQL).
    pub fn select(&self, query: &InboxQuery, now: i64, among: Option<&[i64]>) -> Selection {
        let mut counts = [0_u64; LetterState::ALL.len()];
        let mut keys: Vec<(InboxGroup, i64, i64)> = Vec::new();
        let mut visit = |e: &Entry| {
            if !passes_all_but_state(query, e, now) {
                return;
            }
            if let Some(i) = LetterState::ALL.iter().position(|s| *s == e.state) {
                counts[i] += 1;
            }
            if query.states.is_empty() || query.states.contains(&e.state) {
                let savable = savable_due(opt(e.sign_for_due), opt(e.contact_due), now);
                keys.push(sort_key(
                    savable,
                    opt(e.next_due_at),
                    e.urgency_key,
                    e.id,
                    now,
                ));
            }
        };
        match among {
            Some(ids) => ids
                .iter()
                .filter_map(|id| self.slots.get(id))
                .for_each(|&slot| visit(&self.entries[slot])),
            None => self.entries.iter().for_each(visit),
        }
        let total = keys.len() as u64;
        let offset = usize::try_from(query.offset).unwrap_or(usize::MAX);
        let limit = usize::try_from(query.limit.min(super::query::MAX_PAGE)).unwrap_or(0);
        let end = offset.saturating_add(limit).min(keys.len());
        let ids = if offset >= end {
            Vec::new()
        } else {
            // Only the rows up to the page's end need an order: select them, sort those.
            if end < keys.len() {
                keys.select_nth_unstable(end);
                keys.truncate(end);
            }
            keys.sort_unstable();
            keys[offset..end].iter().map(|k| k.2).collect()
        };
        Selection {
            ids,
            total,
            state_counts: LetterState::ALL
                .iter()
                .zip(counts)
                .filter(|(_, n)| *n > 0)
                .map(|(s, n)| (*s, n))
                .collect(),
        }
    }
}

/// Every filter of `query` except the states and the text.
fn passes_all_but_state(query: &InboxQuery, e: &Entry, now: i64) -> bool {
    (query.categories.is_empty() || query.categories.contains(&e.category))
        && (query.channels.is_empty() || query.channels.contains(&e.channel))
        && query.handler.is_none_or(|h| h.0 == e.handler)
        && query.unit.is_none_or(|u| u.0 == e.unit)
        && query.supervisor.is_none_or(|s| s.0 == e.supervisor)
        && (!query.extension_pending || e.flags & EXTENSION_PENDING != 0)
        && (!query.extended || e.flags & EXTENDED != 0)
        && (!query.visit_due || e.flags & VISIT_DUE != 0)
        && (query.bands.is_empty() || {
            let (band, _) = band_at(opt(e.next_due_at), opt(e.warn_at), now);
            query.bands.contains(&band)
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_entry_stays_small() {
        // 100,000 cached letters: 8 MB of entries, plus the slot map.
        assert!(std::mem::size_of::<Entry>() <= 80);
    }
}
