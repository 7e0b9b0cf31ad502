//! Which desktops a committed change concerns, decided in memory at publish time.
//!
//! A desktop's SSE stream is opened at its user's unit and sees that unit's subtree.
//! Each unit that has streams gets one `watch` channel holding the newest change
//! sequence number that touched its subtree. A commit publishes the units it touched
//! (the letter's unit now and before): the hub walks up from each to the root and
//! bumps those units' channels. So one change costs O(tree depth + streams woken), with
//! no database work per stream; and a slow desktop only ever sees the latest number
//! (a `watch` keeps one value), never a queue.
//!
//! Parents are learnt from the unit tree and cached; an admin's move of a unit re-teaches
//! the hub before the move is announced (`admin::post_unit_parent`). A unit the hub does not know yet (created by the admin
//! CLI in another process, say) is looked up by the caller before publishing
//! ([`crate::AppState::publish_change`]); if it is still unknown, every stream is poked —
//! a spurious poke costs a desktop one empty pull, a missed one would cost it the change.

use std::collections::{HashMap, HashSet};
use std::sync::{Mutex, MutexGuard, RwLock};

use jsjb_core::org::{Unit, UnitId};
use tokio::sync::watch;

#[derive(Default)]
pub struct ChangeHub {
    /// unit → its parent (`None` for the root).
    parents: RwLock<HashMap<UnitId, Option<UnitId>>>,
    /// unit → the newest change under it, for the streams opened at that unit. Units
    /// are few (hundreds to thousands) and stay: an entry is ~100 bytes.
    units: Mutex<HashMap<UnitId, watch::Sender<i64>>>,
}

impl ChangeHub {
    pub fn new() -> ChangeHub {
        ChangeHub::default()
    }

    /// Whether the hub knows the parent of every one of `units`.
    pub fn knows(&self, units: &[UnitId]) -> bool {
        let parents = match self.parents.read() {
            Ok(p) => p,
            Err(poisoned) => poisoned.into_inner(),
        };
        units.iter().all(|u| parents.contains_key(u))
    }

    /// Records the parents of `units` (the whole tree, as stored).
    pub fn learn<'a>(&self, units: impl IntoIterator<Item = &'a Unit>) {
        let mut parents = match self.parents.write() {
            Ok(p) => p,
            Err(poisoned) => poisoned.into_inner(),
        };
        for unit in units {
            parents.insert(unit.id, unit.parent);
        }
    }

    fn senders(&self) -> MutexGuard<'_, HashMap<UnitId, watch::Sender<i64>>> {
        match self.units.lock() {
            Ok(u) => u,
            // Every critical section below leaves the map whole.
            Err(poisoned) => poisoned.into_inner(),
        }
    }

    /// A receiver that changes whenever a change touches `unit`'s subtree; its value is
    /// the newest such change's sequence number (marked seen: only later ones wake it).
    pub fn subscribe(&self, unit: UnitId) -> watch::Receiver<i64> {
        self.senders()
            .entry(unit)
            .or_insert_with(|| watch::channel(0).0)
            .subscribe()
    }

    /// Announces change `seq`, which touched `touched` (a letter's unit now and before),
    /// to the streams of those units and of every unit above them.
    pub fn publish(&self, seq: i64, touched: &[UnitId]) {
        let mut targets = HashSet::new();
        {
            let parents = match self.parents.read() {
                Ok(p) => p,
                Err(poisoned) => poisoned.into_inner(),
            };
            for &unit in touched {
                if !parents.contains_key(&unit) {
                    drop(parents);
                    return self.publish_everywhere(seq);
                }
                let mut cursor = Some(unit);
                while let Some(u) = cursor {
                    // A cycle cannot be stored (tier rules); the guard keeps a bad cache
                    // from looping all the same.
                    if !targets.insert(u) || targets.len() > parents.len() {
                        break;
                    }
                    cursor = parents.get(&u).copied().flatten();
                }
            }
        }
        let senders = self.senders();
        for unit in targets {
            if let Some(sender) = senders.get(&unit) {
                bump(sender, seq);
            }
        }
    }

    /// Announces `seq` to every stream: for changes whose units are not known (the demo's
    /// bulk history).
    pub fn publish_everywhere(&self, seq: i64) {
        for sender in self.senders().values() {
            bump(sender, seq);
        }
    }

    /// Streams open at each unit (for tests and the bench's sanity checks).
    pub fn streams_at(&self, unit: UnitId) -> usize {
        self.senders()
            .get(&unit)
            .map_or(0, watch::Sender::receiver_count)
    }
}

/// Moves a unit's newest change forward (never back: commits may publish out of order).
fn bump(sender: &watch::Sender<i64>, seq: i64) {
    sender.send_if_modified(|latest| {
        if seq > *latest {
            *latest = seq;
            true
        } else {
            false
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use jsjb_core::org::Tier;

    fn unit(id: i64, parent: Option<i64>, tier: Tier) -> Unit {
        Unit {
            id: UnitId(id),
            parent: parent.map(UnitId),
            tier,
            name: format!("u{id}"),
            active: true,
        }
    }

    fn hub() -> ChangeHub {
        let hub = ChangeHub::new();
        let units = [
            unit(1, None, Tier::City),
            unit(2, Some(1), Tier::Branch),
            unit(3, Some(2), Tier::Station),
            unit(4, Some(1), Tier::Branch),
            unit(5, Some(4), Tier::Station),
        ];
        hub.learn(units.iter());
        hub
    }

    #[test]
    fn a_change_reaches_the_units_above_it_and_no_others() {
        let hub = hub();
        let mut city = hub.subscribe(UnitId(1));
        let mut branch = hub.subscribe(UnitId(2));
        let mut station = hub.subscribe(UnitId(3));
        let mut other = hub.subscribe(UnitId(4));
        hub.publish(7, &[UnitId(3)]);
        assert!(city.has_changed().unwrap_or(false));
        assert!(branch.has_changed().unwrap_or(false));
        assert!(station.has_changed().unwrap_or(false));
        assert!(!other.has_changed().unwrap_or(true));
        assert_eq!(*station.borrow_and_update(), 7);
        // A letter moved from station 3 to station 5 concerns both sides.
        hub.publish(8, &[UnitId(5), UnitId(3)]);
        assert_eq!(*other.borrow_and_update(), 8);
        assert_eq!(*station.borrow_and_update(), 8);
        assert_eq!(*city.borrow_and_update(), 8);
        assert_eq!(*branch.borrow_and_update(), 8);
    }

    #[test]
    fn pokes_coalesce_and_never_go_back() {
        let hub = hub();
        let mut station = hub.subscribe(UnitId(3));
        for seq in [3, 9, 5] {
            hub.publish(seq, &[UnitId(3)]);
        }
        assert_eq!(*station.borrow_and_update(), 9);
        hub.publish(4, &[UnitId(3)]);
        assert!(!station.has_changed().unwrap_or(true));
    }

    #[test]
    fn an_unknown_unit_pokes_everyone() {
        let hub = hub();
        let mut other = hub.subscribe(UnitId(5));
        hub.publish(11, &[UnitId(99)]);
        assert_eq!(*other.borrow_and_update(), 11);
    }
}
