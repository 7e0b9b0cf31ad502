//! Units, the clock rules and the routing rules in PostgreSQL: a port of the SQLite
//! backend's, with the same refusals and audit entries.

use crate::cached::Cached;
use chrono::{DateTime, Utc};
use deadpool_postgres::GenericClient;
use jsjb_core::org::{Unit, UnitId, UnitTree, UserId};
use jsjb_storage::{Actor, NewUnit, SavedClockRules, SavedRoutingRules, StorageError, UnitMoved};
use serde_json::json;

use crate::audit::{self, NewEntry};
use crate::{Db, PgStore, begin_write, corrupt, load_units};

fn no_unit(unit: UnitId) -> StorageError {
    StorageError::NotFound(format!("there is no unit {}", unit.0))
}

/// A saved JSON document as the value an audit entry carries.
fn json_value(text: &str) -> Result<serde_json::Value, StorageError> {
    serde_json::from_str(text).map_err(|e| corrupt(e.to_string()))
}

async fn load_clock_rules(c: &impl GenericClient) -> Result<Option<SavedClockRules>, StorageError> {
    Ok(c.query_opt_c(
        "SELECT version, doc, applied_at FROM clock_rules ORDER BY seq DESC LIMIT 1",
        &[],
    )
    .await
    .db()?
    .map(|r| SavedClockRules {
        version: r.get(0),
        doc_json: r.get(1),
        applied_at: r.get(2),
    }))
}

async fn load_routing_rules(
    c: &impl GenericClient,
) -> Result<Option<SavedRoutingRules>, StorageError> {
    Ok(c
        .query_opt_c(
            "SELECT version, rules, saved_at, saved_by, reason FROM routing_rules ORDER BY version DESC LIMIT 1",
            &[],
        )
        .await
        .db()?
        .map(|r| SavedRoutingRules {
            version: r.get(0),
            rules_json: r.get(1),
            saved_at: r.get(2),
            saved_by: r.get::<_, Option<i64>>(3).map(UserId),
            reason: r.get(4),
        }))
}

pub(crate) async fn create_unit(
    store: &PgStore,
    unit: NewUnit,
    actor: Actor,
    now: DateTime<Utc>,
) -> Result<Unit, StorageError> {
    let mut client = store.writer().await?;
    let tx = begin_write(&mut client).await?;
    let mut units = load_units(&tx).await?;
    if let Some(parent) = unit.parent
        && units.iter().any(|u| u.id == parent && !u.active)
    {
        return Err(StorageError::Invalid {
            field: "parent_id",
            message: "the parent unit is deactivated".to_owned(),
        });
    }
    // The tree is checked with a stand-in id no unit has; the row then takes the
    // identity's next id (any unused id places the unit the same).
    let stand_in = units.iter().map(|u| u.id.0).max().unwrap_or(0) + 1;
    let mut created = Unit {
        id: UnitId(stand_in),
        parent: unit.parent,
        tier: unit.tier,
        name: unit.name,
        active: true,
    };
    units.push(created.clone());
    // The tree rules (one city root, branch under city, station under branch) live in
    // core; checking the whole tree with the new unit applies them.
    UnitTree::new(units).map_err(|e| StorageError::Invalid {
        field: "parent",
        message: format!("the unit cannot be placed there: {e}"),
    })?;
    created.id = UnitId(
        tx.query_one_c(
            "INSERT INTO units (parent_id, tier, name, created_at) VALUES ($1, $2, $3, $4) RETURNING id",
            &[
                &created.parent.map(|p| p.0),
                &created.tier.as_str(),
                &created.name,
                &now,
            ],
        )
        .await
        .db()?
        .get(0),
    );
    audit::append(
        &tx,
        NewEntry {
            at: now,
            actor: &actor,
            action: "unit.create",
            letter: None,
            unit: Some(created.id),
            user: None,
            payload: json!({
                "name": created.name,
                "tier": created.tier.as_str(),
                "parent": created.parent.map(|p| p.0),
            }),
        },
    )
    .await?;
    store.commit(tx).await?;
    Ok(created)
}

pub(crate) async fn rename_unit(
    store: &PgStore,
    unit: UnitId,
    name: String,
    reason: String,
    actor: Actor,
    now: DateTime<Utc>,
) -> Result<Unit, StorageError> {
    let mut client = store.writer().await?;
    let tx = begin_write(&mut client).await?;
    let before = load_units(&tx)
        .await?
        .into_iter()
        .find(|u| u.id == unit)
        .ok_or_else(|| no_unit(unit))?;
    tx.execute_c(
        "UPDATE units SET name = $2 WHERE id = $1",
        &[&unit.0, &name],
    )
    .await
    .db()?;
    audit::append(
        &tx,
        NewEntry {
            at: now,
            actor: &actor,
            action: "unit.rename",
            letter: None,
            unit: Some(unit),
            user: None,
            payload: json!({ "from": before.name, "to": name, "reason": reason }),
        },
    )
    .await?;
    store.commit(tx).await?;
    Ok(Unit { name, ..before })
}

pub(crate) async fn move_unit(
    store: &PgStore,
    unit: UnitId,
    parent: UnitId,
    reason: String,
    actor: Actor,
    now: DateTime<Utc>,
) -> Result<UnitMoved, StorageError> {
    let mut client = store.writer().await?;
    let tx = begin_write(&mut client).await?;
    let mut units = load_units(&tx).await?;
    let moved = units
        .iter_mut()
        .find(|u| u.id == unit)
        .ok_or_else(|| no_unit(unit))?;
    let from = moved.parent.ok_or_else(|| StorageError::Invalid {
        field: "unit",
        message: "the city bureau is the root of the tree and cannot move".to_owned(),
    })?;
    if from == parent {
        return Err(StorageError::Conflict {
            code: "already_done",
            detail: "the unit is under that parent already".to_owned(),
        });
    }
    moved.parent = Some(parent);
    let moved = moved.clone();
    if units.iter().any(|u| u.id == parent && !u.active) {
        return Err(StorageError::Invalid {
            field: "parent_id",
            message: "the new parent unit is deactivated".to_owned(),
        });
    }
    // The tree rules live in core: the whole tree with the unit moved must hold them
    // (a station goes under a branch, never under a station or the city).
    let tree = UnitTree::new(units).map_err(|e| StorageError::Invalid {
        field: "parent_id",
        message: format!("the unit cannot be placed there: {e}"),
    })?;
    tx.execute_c(
        "UPDATE units SET parent_id = $2 WHERE id = $1",
        &[&unit.0, &parent.0],
    )
    .await
    .db()?;
    // Every letter of the moved subtree is announced as leaving the old parent: the old
    // parent's desktops get a removal, the new parent's the letter. Sequence numbers
    // are drawn in letter order, as SQLite's rowids are.
    let ids: Vec<i64> = tree.subtree(unit).iter().map(|u| u.0).collect();
    let row = tx
        .query_one_c(
            "WITH appended AS (
                 INSERT INTO changes (letter_id, unit_id, prev_unit_id, at)
                 SELECT id, unit_id, $2, $3 FROM letters WHERE unit_id = ANY($1) ORDER BY id
                 RETURNING seq)
             SELECT count(*), max(seq) FROM appended",
            &[&ids, &from.0, &now],
        )
        .await
        .db()?;
    let appended: i64 = row.get(0);
    let last_change_seq: Option<i64> = row.get(1);
    audit::append(
        &tx,
        NewEntry {
            at: now,
            actor: &actor,
            action: "unit.move",
            letter: None,
            unit: Some(unit),
            user: None,
            payload: json!({
                "from": from.0,
                "to": parent.0,
                "letters": appended,
                "reason": reason,
            }),
        },
    )
    .await?;
    store.commit(tx).await?;
    Ok(UnitMoved {
        unit: moved,
        from,
        last_change_seq,
    })
}

pub(crate) async fn set_unit_active(
    store: &PgStore,
    unit: UnitId,
    active: bool,
    reason: String,
    actor: Actor,
    now: DateTime<Utc>,
) -> Result<Unit, StorageError> {
    let mut client = store.writer().await?;
    let tx = begin_write(&mut client).await?;
    let units = load_units(&tx).await?;
    let before = units
        .iter()
        .find(|u| u.id == unit)
        .cloned()
        .ok_or_else(|| no_unit(unit))?;
    let Some(parent) = before.parent else {
        return Err(StorageError::Invalid {
            field: "unit",
            message: "the city bureau is the root of the tree and stays active".to_owned(),
        });
    };
    if before.active == active {
        return Err(StorageError::Conflict {
            code: "already_done",
            detail: format!(
                "the unit is {} already",
                if active { "active" } else { "deactivated" }
            ),
        });
    }
    if active {
        if !units.iter().any(|u| u.id == parent && u.active) {
            return Err(StorageError::Conflict {
                code: "parent_inactive",
                detail: "reactivate the unit above it first".to_owned(),
            });
        }
    } else {
        let r = tx
            .query_one_c(
                "SELECT (SELECT count(*) FROM users WHERE unit_id = $1 AND active),
                        (SELECT count(*) FROM letters WHERE unit_id = $1 AND state <> 'closed'),
                        (SELECT count(*) FROM units WHERE parent_id = $1 AND active)",
                &[&unit.0],
            )
            .await
            .db()?;
        let (users, letters, children): (i64, i64, i64) = (r.get(0), r.get(1), r.get(2));
        if users + letters + children > 0 {
            return Err(StorageError::Conflict {
                code: "unit_in_use",
                detail: format!(
                    "the unit still has {users} active users, {letters} open letters and {children} active units below it: move or deactivate them first"
                ),
            });
        }
    }
    tx.execute_c(
        "UPDATE units SET active = $2 WHERE id = $1",
        &[&unit.0, &active],
    )
    .await
    .db()?;
    audit::append(
        &tx,
        NewEntry {
            at: now,
            actor: &actor,
            action: if active {
                "unit.reactivate"
            } else {
                "unit.deactivate"
            },
            letter: None,
            unit: Some(unit),
            user: None,
            payload: json!({ "name": before.name, "reason": reason }),
        },
    )
    .await?;
    store.commit(tx).await?;
    Ok(Unit { active, ..before })
}

pub(crate) async fn clock_rules(store: &PgStore) -> Result<Option<SavedClockRules>, StorageError> {
    load_clock_rules(&store.client().await?).await
}

pub(crate) async fn apply_clock_rules(
    store: &PgStore,
    version: String,
    doc_json: String,
    now: DateTime<Utc>,
) -> Result<SavedClockRules, StorageError> {
    let mut client = store.writer().await?;
    let tx = begin_write(&mut client).await?;
    if let Some(current) = load_clock_rules(&tx).await?
        && current.version == version
    {
        return Ok(current);
    }
    // `seq` is no identity (as SQLite's INTEGER PRIMARY KEY): the next one is drawn
    // under the write lock.
    tx.execute_c(
        "INSERT INTO clock_rules (seq, version, doc, applied_at)
         SELECT coalesce(max(seq), 0) + 1, $1, $2, $3 FROM clock_rules",
        &[&version, &doc_json, &now],
    )
    .await
    .db()?;
    audit::append(
        &tx,
        NewEntry {
            at: now,
            actor: &Actor::server(),
            action: "rules.apply",
            letter: None,
            unit: None,
            user: None,
            payload: json!({ "version": version, "rules": json_value(&doc_json)? }),
        },
    )
    .await?;
    let saved = load_clock_rules(&tx)
        .await?
        .ok_or_else(|| corrupt("clock rules vanished"))?;
    store.commit(tx).await?;
    Ok(saved)
}

pub(crate) async fn routing_rules(
    store: &PgStore,
) -> Result<Option<SavedRoutingRules>, StorageError> {
    load_routing_rules(&store.client().await?).await
}

pub(crate) async fn save_routing_rules(
    store: &PgStore,
    rules_json: String,
    expected_version: i64,
    reason: String,
    actor: Actor,
    now: DateTime<Utc>,
) -> Result<SavedRoutingRules, StorageError> {
    let mut client = store.writer().await?;
    let tx = begin_write(&mut client).await?;
    let current = load_routing_rules(&tx).await?.map_or(0, |r| r.version);
    if current != expected_version {
        return Err(StorageError::Conflict {
            code: "stale_version",
            detail: format!(
                "the rules were saved meanwhile (version {current}); reload them and make your change again"
            ),
        });
    }
    let version = current + 1;
    tx.execute_c(
        "INSERT INTO routing_rules (version, rules, saved_at, saved_by, reason) VALUES ($1, $2, $3, $4, $5)",
        &[&version, &rules_json, &now, &actor.user.map(|u| u.0), &reason],
    )
    .await
    .db()?;
    audit::append(
        &tx,
        NewEntry {
            at: now,
            actor: &actor,
            action: "routing.save",
            letter: None,
            unit: None,
            user: None,
            payload: json!({
                "version": version,
                "rules": json_value(&rules_json)?,
                "reason": reason,
            }),
        },
    )
    .await?;
    let saved = load_routing_rules(&tx)
        .await?
        .ok_or_else(|| corrupt("routing rules vanished"))?;
    store.commit(tx).await?;
    Ok(saved)
}
