//! The embedded SQLite backend of the storage seam (`jsjb_storage::Storage`): one
//! database file, WAL, `synchronous=FULL`, one writer thread with group commit and a
//! pool of readers (`conn`).

pub mod audit;
mod citizen;
mod citizen_tokens;
mod conn;
mod handovers;
pub mod letters;
mod logins;
mod maintenance;
pub mod migrations;
pub mod notices;
pub mod reports;
mod signed_forms;
mod signoff;
pub mod snapshot;
pub mod telemetry;
mod writer_notices;

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use jsjb_core::letter::{LetterId, LetterState};
use jsjb_core::org::{Role, Tier, Unit, UnitId, UnitTree, UserId};
use jsjb_proto::NoticeKind;
use rusqlite::{Connection, OptionalExtension, params};
use serde_json::json;

use self::audit::{NewEntry, Verification};
use self::conn::{Readers, Writer};
use jsjb_storage::time::{from_db, to_db};
use jsjb_storage::{
    Actor, AttachmentKind, AttachmentMeta, CreatedLetter, Credentials, Draft, DraftMessage,
    DraftOutcome, LockoutPolicy, LoginAttempt, NewLetter, NewSession, NewUnit, NewUser,
    ProgressRecord, Rating, SavedClockRules, SavedRoutingRules, SessionRecord, Storage,
    StorageError, UnitMoved, UserChange, UserChanged, UserRecord,
};

/// SQLite's own error as the seam's [`StorageError::Backend`]: the seam knows no
/// `rusqlite`, so conversions are written here, once, as `.db()?`.
pub trait Db<T> {
    fn db(self) -> Result<T, StorageError>;
}

impl<T> Db<T> for rusqlite::Result<T> {
    fn db(self) -> Result<T, StorageError> {
        self.map_err(backend)
    }
}

pub fn backend(e: rusqlite::Error) -> StorageError {
    StorageError::Backend(Box::new(e))
}

pub struct SqliteStore {
    writer: Writer,
    readers: Arc<Readers>,
}

impl SqliteStore {
    /// Opens (creating if needed) and migrates the database, and starts the writer.
    /// Blocking: call it before serving, or from `spawn_blocking`.
    pub fn open(path: &Path) -> Result<SqliteStore, StorageError> {
        let conn = conn::open_writer(path)?;
        Ok(SqliteStore {
            writer: Writer::spawn(conn)?,
            readers: Readers::new(path),
        })
    }

    /// Runs `f` in a write transaction (see `conn::Writer`). For areas built on this
    /// backend (life cycle, sync, demo) that need their own transactions.
    pub async fn write<R, F>(&self, f: F) -> Result<R, StorageError>
    where
        R: Send + 'static,
        F: FnOnce(&Connection) -> Result<R, StorageError> + Send + 'static,
    {
        self.writer.write(f).await
    }

    /// Stops the writer thread after the job it is running, as if it had died. For
    /// fault tests of what the server does without a writer; nothing else calls it.
    #[doc(hidden)]
    pub fn stop_writer(&self) {
        self.writer.stop();
    }

    /// Runs `f` on a read-only connection.
    pub async fn read<R, F>(&self, f: F) -> Result<R, StorageError>
    where
        R: Send + 'static,
        F: FnOnce(&Connection) -> Result<R, StorageError> + Send + 'static,
    {
        self.readers.read(f).await
    }
}

fn corrupt(what: impl Into<String>) -> StorageError {
    StorageError::Corrupt(what.into())
}

fn time_col(text: &str) -> Result<DateTime<Utc>, StorageError> {
    from_db(text).map_err(|e| corrupt(format!("bad timestamp {text:?}: {e}")))
}

fn load_units(conn: &Connection) -> Result<Vec<Unit>, StorageError> {
    let mut stmt = conn
        .prepare_cached("SELECT id, parent_id, tier, name, active FROM units ORDER BY id")
        .db()?;
    let rows = stmt
        .query_map([], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, Option<i64>>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, String>(3)?,
                r.get::<_, bool>(4)?,
            ))
        })
        .db()?;
    let mut units = Vec::new();
    for row in rows {
        let (id, parent, tier, name, active) = row.db()?;
        let tier = Tier::ALL
            .into_iter()
            .find(|t| t.as_str() == tier)
            .ok_or_else(|| corrupt(format!("unit {id} has unknown tier {tier:?}")))?;
        units.push(Unit {
            id: UnitId(id),
            parent: parent.map(UnitId),
            tier,
            name,
            active,
        });
    }
    Ok(units)
}

fn load_clock_rules(conn: &Connection) -> Result<Option<SavedClockRules>, StorageError> {
    let row: Option<(String, String, String)> = conn
        .query_row(
            "SELECT version, doc, applied_at FROM clock_rules ORDER BY seq DESC LIMIT 1",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .optional()
        .db()?;
    row.map(|(version, doc_json, applied_at)| {
        Ok(SavedClockRules {
            version,
            doc_json,
            applied_at: time_col(&applied_at)?,
        })
    })
    .transpose()
}

fn load_routing_rules(conn: &Connection) -> Result<Option<SavedRoutingRules>, StorageError> {
    let row: Option<(i64, String, String, Option<i64>, String)> = conn
        .query_row(
            "SELECT version, rules, saved_at, saved_by, reason FROM routing_rules ORDER BY version DESC LIMIT 1",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)),
        )
        .optional()
        .db()?;
    row.map(|(version, rules_json, saved_at, saved_by, reason)| {
        Ok(SavedRoutingRules {
            version,
            rules_json,
            saved_at: time_col(&saved_at)?,
            saved_by: saved_by.map(UserId),
            reason,
        })
    })
    .transpose()
}

fn load_roles(conn: &Connection, user: i64) -> Result<BTreeSet<Role>, StorageError> {
    let mut stmt = conn
        .prepare_cached("SELECT role FROM user_roles WHERE user_id = ?1")
        .db()?;
    let rows = stmt.query_map([user], |r| r.get::<_, String>(0)).db()?;
    let mut roles = BTreeSet::new();
    for role in rows {
        let role = role.db()?;
        roles.insert(
            Role::parse(&role)
                .ok_or_else(|| corrupt(format!("user {user} has unknown role {role:?}")))?,
        );
    }
    Ok(roles)
}

const USER_COLUMNS: &str = "id, unit_id, username, display_name, active, must_change_password";

fn user_from_row(conn: &Connection, r: &rusqlite::Row<'_>) -> Result<UserRecord, StorageError> {
    let id: i64 = r.get(0).db()?;
    Ok(UserRecord {
        id: UserId(id),
        unit_id: UnitId(r.get(1).db()?),
        username: r.get(2).db()?,
        display_name: r.get(3).db()?,
        active: r.get(4).db()?,
        must_change_password: r.get(5).db()?,
        roles: load_roles(conn, id)?,
    })
}

fn load_user(conn: &Connection, id: UserId) -> Result<Option<UserRecord>, StorageError> {
    let mut stmt = conn
        .prepare_cached(&format!("SELECT {USER_COLUMNS} FROM users WHERE id = ?1"))
        .db()?;
    let mut rows = stmt.query([id.0]).db()?;
    match rows.next().db()? {
        Some(r) => Ok(Some(user_from_row(conn, r)?)),
        None => Ok(None),
    }
}

/// Whether `unit` has an active chief other than `except`: a unit has one chief (a
/// second one could enrol a key and sign the unit's forms in their own right; deputies
/// sign through the chief's 代签 grant).
fn other_active_chief(
    tx: &Connection,
    unit: UnitId,
    except: Option<UserId>,
) -> Result<bool, StorageError> {
    tx.query_row(
        "SELECT EXISTS (SELECT 1 FROM users u JOIN user_roles r ON r.user_id = u.id
         WHERE u.unit_id = ?1 AND u.active = 1 AND r.role = 'chief' AND u.id IS NOT ?2)",
        params![unit.0, except.map(|u| u.0)],
        |r| r.get(0),
    )
    .db()
}

fn chief_exists() -> StorageError {
    StorageError::Conflict {
        code: "chief_exists",
        detail: "this unit has a chief already; a unit has one chief, and others sign only under the chief's delegation (代签)".to_owned(),
    }
}

fn is_unique_violation(e: &rusqlite::Error) -> bool {
    matches!(
        e,
        rusqlite::Error::SqliteFailure(f, _)
            if f.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE
                || f.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY
    )
}

#[async_trait]
impl Storage for SqliteStore {
    fn signoff(&self) -> &dyn jsjb_storage::signoff::SignoffStore {
        self
    }

    fn handovers(&self) -> &dyn jsjb_storage::handovers::HandoverStore {
        self
    }

    fn reports(&self) -> &dyn jsjb_storage::reports::ReportStore {
        self
    }

    fn citizen_tokens(&self) -> &dyn jsjb_storage::citizen_tokens::CitizenTokenStore {
        self
    }

    fn accepting_writes(&self) -> bool {
        self.writer.healthy()
    }

    async fn prune_idempotency(
        &self,
        before: DateTime<Utc>,
        per_user: u32,
        batch: u32,
    ) -> Result<u32, StorageError> {
        self.write(move |tx| maintenance::prune_idempotency(tx, before, per_user, batch))
            .await
    }

    async fn units(&self) -> Result<Vec<Unit>, StorageError> {
        self.read(load_units).await
    }

    async fn rename_unit(
        &self,
        unit: UnitId,
        name: String,
        reason: String,
        actor: Actor,
        now: DateTime<Utc>,
    ) -> Result<Unit, StorageError> {
        self.write(move |tx| {
            let before = load_units(tx)?
                .into_iter()
                .find(|u| u.id == unit)
                .ok_or_else(|| StorageError::NotFound(format!("there is no unit {}", unit.0)))?;
            tx.execute(
                "UPDATE units SET name = ?2 WHERE id = ?1",
                params![unit.0, name],
            )
            .db()?;
            audit::append(
                tx,
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
            .db()?;
            Ok(Unit { name, ..before })
        })
        .await
    }

    async fn set_unit_active(
        &self,
        unit: UnitId,
        active: bool,
        reason: String,
        actor: Actor,
        now: DateTime<Utc>,
    ) -> Result<Unit, StorageError> {
        self.write(move |tx| {
            let units = load_units(tx)?;
            let before = units
                .iter()
                .find(|u| u.id == unit)
                .cloned()
                .ok_or_else(|| StorageError::NotFound(format!("there is no unit {}", unit.0)))?;
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
                let count = |sql: &str| -> Result<i64, StorageError> {
                    tx.query_row(sql, [unit.0], |r| r.get(0)).db()
                };
                let users = count("SELECT count(*) FROM users WHERE unit_id = ?1 AND active = 1")?;
                let letters = count("SELECT count(*) FROM letters WHERE unit_id = ?1 AND state <> 'closed'")?;
                let children = count("SELECT count(*) FROM units WHERE parent_id = ?1 AND active = 1")?;
                if users + letters + children > 0 {
                    return Err(StorageError::Conflict {
                        code: "unit_in_use",
                        detail: format!(
                            "the unit still has {users} active users, {letters} open letters and {children} active units below it: move or deactivate them first"
                        ),
                    });
                }
            }
            tx.execute(
                "UPDATE units SET active = ?2 WHERE id = ?1",
                params![unit.0, active],
            )
            .db()?;
            audit::append(
                tx,
                NewEntry {
                    at: now,
                    actor: &actor,
                    action: if active { "unit.reactivate" } else { "unit.deactivate" },
                    letter: None,
                    unit: Some(unit),
                    user: None,
                    payload: json!({ "name": before.name, "reason": reason }),
                },
            )
            .db()?;
            Ok(Unit { active, ..before })
        })
        .await
    }

    async fn clock_rules(&self) -> Result<Option<SavedClockRules>, StorageError> {
        self.read(load_clock_rules).await
    }

    async fn apply_clock_rules(
        &self,
        version: String,
        doc_json: String,
        now: DateTime<Utc>,
    ) -> Result<SavedClockRules, StorageError> {
        self.write(move |tx| {
            if let Some(current) = load_clock_rules(tx)?
                && current.version == version
            {
                return Ok(current);
            }
            tx.execute(
                "INSERT INTO clock_rules (version, doc, applied_at) VALUES (?1, ?2, ?3)",
                params![version, doc_json, to_db(now)],
            )
            .db()?;
            audit::append(
                tx,
                NewEntry {
                    at: now,
                    actor: &Actor::server(),
                    action: "rules.apply",
                    letter: None,
                    unit: None,
                    user: None,
                    payload: json!({
                        "version": version,
                        "rules": serde_json::from_str::<serde_json::Value>(&doc_json)
                            .map_err(|e| corrupt(e.to_string()))?,
                    }),
                },
            )
            .db()?;
            load_clock_rules(tx)?.ok_or_else(|| corrupt("clock rules vanished"))
        })
        .await
    }

    async fn routing_rules(&self) -> Result<Option<SavedRoutingRules>, StorageError> {
        self.read(load_routing_rules).await
    }

    async fn save_routing_rules(
        &self,
        rules_json: String,
        expected_version: i64,
        reason: String,
        actor: Actor,
        now: DateTime<Utc>,
    ) -> Result<SavedRoutingRules, StorageError> {
        self.write(move |tx| {
            let current = load_routing_rules(tx)?.map_or(0, |r| r.version);
            if current != expected_version {
                return Err(StorageError::Conflict {
                    code: "stale_version",
                    detail: format!(
                        "the rules were saved meanwhile (version {current}); reload them and make your change again"
                    ),
                });
            }
            let version = current + 1;
            tx.execute(
                "INSERT INTO routing_rules (version, rules, saved_at, saved_by, reason) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![version, rules_json, to_db(now), actor.user.map(|u| u.0), reason],
            )
            .db()?;
            audit::append(
                tx,
                NewEntry {
                    at: now,
                    actor: &actor,
                    action: "routing.save",
                    letter: None,
                    unit: None,
                    user: None,
                    payload: json!({
                        "version": version,
                        "rules": serde_json::from_str::<serde_json::Value>(&rules_json)
                            .map_err(|e| corrupt(e.to_string()))?,
                        "reason": reason,
                    }),
                },
            )
            .db()?;
            load_routing_rules(tx)?.ok_or_else(|| corrupt("routing rules vanished"))
        })
        .await
    }

    async fn move_unit(
        &self,
        unit: UnitId,
        parent: UnitId,
        reason: String,
        actor: Actor,
        now: DateTime<Utc>,
    ) -> Result<UnitMoved, StorageError> {
        self.write(move |tx| {
            let mut units = load_units(tx)?;
            let moved = units
                .iter_mut()
                .find(|u| u.id == unit)
                .ok_or_else(|| StorageError::NotFound(format!("there is no unit {}", unit.0)))?;
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
            // The tree rules live in core: the whole tree with the unit moved must hold
            // them (a station goes under a branch, never under a station or the city).
            let tree = UnitTree::new(units).map_err(|e| StorageError::Invalid {
                field: "parent_id",
                message: format!("the unit cannot be placed there: {e}"),
            })?;
            tx.execute(
                "UPDATE units SET parent_id = ?2 WHERE id = ?1",
                params![unit.0, parent.0],
            )
            .db()?;
            // Every letter of the moved subtree is announced as leaving the old parent:
            // the old parent's desktops get a removal, the new parent's the letter.
            let subtree = tree.subtree(unit);
            let ids: Vec<i64> = subtree.iter().map(|u| u.0).collect();
            let at = to_db(now);
            let appended = tx
                .execute(
                    "INSERT INTO changes (letter_id, unit_id, prev_unit_id, at)
                     SELECT id, unit_id, ?2, ?3 FROM letters
                     WHERE unit_id IN (SELECT value FROM json_each(?1)) ORDER BY id",
                    params![
                        serde_json::to_string(&ids).map_err(|e| corrupt(e.to_string()))?,
                        from.0,
                        at
                    ],
                )
                .db()?;
            let last_change_seq = (appended > 0).then(|| tx.last_insert_rowid());
            audit::append(
                tx,
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
            .db()?;
            Ok(UnitMoved {
                unit: moved,
                from,
                last_change_seq,
            })
        })
        .await
    }

    async fn create_unit(
        &self,
        unit: NewUnit,
        actor: Actor,
        now: DateTime<Utc>,
    ) -> Result<Unit, StorageError> {
        self.write(move |tx| {
            let mut units = load_units(tx)?;
            if let Some(parent) = unit.parent
                && units.iter().any(|u| u.id == parent && !u.active)
            {
                return Err(StorageError::Invalid {
                    field: "parent_id",
                    message: "the parent unit is deactivated".to_owned(),
                });
            }
            let next_id: i64 =
                tx.query_row("SELECT coalesce(max(id), 0) + 1 FROM units", [], |r| r.get(0)).db()?;
            let created = Unit {
                id: UnitId(next_id),
                parent: unit.parent,
                tier: unit.tier,
                name: unit.name,
                active: true,
            };
            units.push(created.clone());
            // The tree rules (one city root, branch under city, station under branch)
            // live in core; checking the whole tree with the new unit applies them.
            UnitTree::new(units).map_err(|e| StorageError::Invalid {
                field: "parent",
                message: format!("the unit cannot be placed there: {e}"),
            })?;
            tx.execute(
                "INSERT INTO units (id, parent_id, tier, name, created_at) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![
                    created.id.0,
                    created.parent.map(|p| p.0),
                    created.tier.as_str(),
                    created.name,
                    to_db(now)
                ],
            )
            .db()?;
            audit::append(
                tx,
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
            .db()?;
            Ok(created)
        })
        .await
    }

    async fn users(&self) -> Result<Vec<UserRecord>, StorageError> {
        self.read(|conn| {
            let mut stmt = conn
                .prepare(&format!("SELECT {USER_COLUMNS} FROM users ORDER BY id"))
                .db()?;
            let mut rows = stmt.query([]).db()?;
            let mut out = Vec::new();
            while let Some(r) = rows.next().db()? {
                out.push(user_from_row(conn, r)?);
            }
            Ok(out)
        })
        .await
    }

    async fn user(&self, id: UserId) -> Result<Option<UserRecord>, StorageError> {
        self.read(move |conn| load_user(conn, id)).await
    }

    async fn create_user(
        &self,
        user: NewUser,
        actor: Actor,
        now: DateTime<Utc>,
    ) -> Result<UserRecord, StorageError> {
        self.write(move |tx| {
            let unit_exists: bool = tx.query_row(
                "SELECT EXISTS (SELECT 1 FROM units WHERE id = ?1 AND active = 1)",
                [user.unit_id.0],
                |r| r.get(0),
            )
            .db()?;
            if !unit_exists {
                return Err(StorageError::Invalid {
                    field: "unit_id",
                    message: format!("there is no active unit {}", user.unit_id.0),
                });
            }
            if user.roles.contains(&Role::Chief) && other_active_chief(tx, user.unit_id, None)? {
                return Err(chief_exists());
            }
            let at = to_db(now);
            let inserted = tx.execute(
                "INSERT INTO users (unit_id, username, display_name, password_hash, created_at, password_changed_at, password_set_by, must_change_password)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?5, ?6, ?7)",
                // An initial password chosen by a signed-in admin is theirs to know: the
                // user replaces it at the first sign-in (the CLI's bootstrap accounts not).
                params![user.unit_id.0, user.username, user.display_name, user.password_hash, at, actor.user.map(|u| u.0), actor.user.is_some()],
            );
            match inserted {
                Err(e) if is_unique_violation(&e) => {
                    return Err(StorageError::Conflict {
                        code: "username_taken",
                        detail: format!("the user name {:?} is taken; choose another", user.username),
                    });
                }
                other => other.db()?,
            };
            let id = UserId(tx.last_insert_rowid());
            for role in &user.roles {
                tx.execute(
                    "INSERT INTO user_roles (user_id, role) VALUES (?1, ?2)",
                    params![id.0, role.as_str()],
                )
                .db()?;
            }
            audit::append(
                tx,
                NewEntry {
                    at: now,
                    actor: &actor,
                    action: "user.create",
                    letter: None,
                    unit: Some(user.unit_id),
                    user: Some(id),
                    payload: json!({
                        "username": user.username,
                        "display_name": user.display_name,
                        "roles": user.roles.iter().map(|r| r.as_str()).collect::<Vec<_>>(),
                    }),
                },
            )
            .db()?;
            load_user(tx, id)?.ok_or_else(|| corrupt("user vanished after insert"))
        })
        .await
    }

    async fn set_password(
        &self,
        user: UserId,
        password_hash: String,
        actor: Actor,
        now: DateTime<Utc>,
    ) -> Result<(), StorageError> {
        self.write(move |tx| {
            let at = to_db(now);
            // Whoever sets a password may know it: remembered, so that they do not count
            // as independent of this account in the dual control of signing keys.
            let set_by = actor.user.filter(|by| *by != user).map(|u| u.0);
            // A password another signed-in user chose must be changed at the next sign-in.
            let changed = tx.execute(
                "UPDATE users SET password_hash = ?2, password_changed_at = ?3, failed_logins = 0, locked_until = NULL,
                    password_set_by = ?4, must_change_password = ?5
                 WHERE id = ?1",
                params![user.0, password_hash, at, set_by, set_by.is_some()],
            )
            .db()?;
            if changed == 0 {
                return Err(StorageError::NotFound(format!("there is no user {}", user.0)));
            }
            // A new password ends the name's lock-out and its history of failures.
            tx.execute(
                "DELETE FROM login_lockouts WHERE username = (SELECT username FROM users WHERE id = ?1)",
                [user.0],
            )
            .db()?;
            // Whoever knew the old password may hold a session: end them all.
            let revoked = tx.execute(
                "UPDATE sessions SET revoked_at = ?2 WHERE user_id = ?1 AND revoked_at IS NULL",
                params![user.0, at],
            )
            .db()?;
            audit::append(
                tx,
                NewEntry {
                    at: now,
                    actor: &actor,
                    action: "user.password_reset",
                    letter: None,
                    unit: None,
                    user: Some(user),
                    payload: json!({ "sessions_revoked": revoked }),
                },
            )
            .db()?;
            // Nothing else changes (no key is activated or revoked), and the user is
            // told at their next sign-in, so a reset cannot be used unnoticed.
            notices::add(
                tx,
                notices::NewNotice {
                    user,
                    kind: NoticeKind::PasswordReset,
                    at: now,
                    by: actor.user,
                    key: None,
                    detail: String::new(),
                },
            )?;
            Ok(())
        })
        .await
    }

    async fn update_user(
        &self,
        user: UserId,
        change: UserChange,
        reason: String,
        actor: Actor,
        now: DateTime<Utc>,
    ) -> Result<UserChanged, StorageError> {
        self.write(move |tx| {
            let before = load_user(tx, user)?
                .ok_or_else(|| StorageError::NotFound(format!("there is no user {}", user.0)))?;
            let display_name = change
                .display_name
                .clone()
                .unwrap_or_else(|| before.display_name.clone());
            let roles = change.roles.clone().unwrap_or_else(|| before.roles.clone());
            let unit_id = change.unit_id.unwrap_or(before.unit_id);
            if roles.is_empty() {
                return Err(StorageError::Invalid {
                    field: "roles",
                    message: "a user needs at least one role".to_owned(),
                });
            }
            if (display_name.as_str(), &roles, unit_id)
                == (before.display_name.as_str(), &before.roles, before.unit_id)
            {
                return Err(StorageError::Conflict {
                    code: "already_done",
                    detail: "nothing would change".to_owned(),
                });
            }
            let unit_exists: bool = tx
                .query_row(
                    // Staying in a unit deactivated meanwhile is allowed; moving into one not.
                    "SELECT EXISTS (SELECT 1 FROM units WHERE id = ?1 AND (active = 1 OR id = ?2))",
                    params![unit_id.0, before.unit_id.0],
                    |r| r.get(0),
                )
                .db()?;
            if !unit_exists {
                return Err(StorageError::Invalid {
                    field: "unit_id",
                    message: format!("there is no unit {}", unit_id.0),
                });
            }
            if before.active
                && roles.contains(&Role::Chief)
                && other_active_chief(tx, unit_id, Some(user))?
            {
                return Err(chief_exists());
            }
            tx.execute(
                "UPDATE users SET display_name = ?2, unit_id = ?3 WHERE id = ?1",
                params![user.0, display_name, unit_id.0],
            )
            .db()?;
            if roles != before.roles {
                tx.execute("DELETE FROM user_roles WHERE user_id = ?1", [user.0])
                    .db()?;
                for role in &roles {
                    tx.execute(
                        "INSERT INTO user_roles (user_id, role) VALUES (?1, ?2)",
                        params![user.0, role.as_str()],
                    )
                    .db()?;
                }
            }
            // A new scope or new powers: the desktop signs in again and sees them.
            let sessions_revoked = if unit_id != before.unit_id || roles != before.roles {
                tx.execute(
                    "UPDATE sessions SET revoked_at = ?2 WHERE user_id = ?1 AND revoked_at IS NULL",
                    params![user.0, to_db(now)],
                )
                .db()?
            } else {
                0
            };
            // Signing rights belong to the chief of one unit: they end when either goes.
            let left_chief_post = before.roles.contains(&Role::Chief)
                && (!roles.contains(&Role::Chief) || unit_id != before.unit_id);
            let deputy_moved = unit_id != before.unit_id;
            let (keys_revoked, delegations_revoked) = if left_chief_post || deputy_moved {
                signoff::end_signing_rights(tx, user, &reason, &actor, now)?
            } else {
                (0, 0)
            };
            audit::append(
                tx,
                NewEntry {
                    at: now,
                    actor: &actor,
                    action: "user.update",
                    letter: None,
                    unit: Some(unit_id),
                    user: Some(user),
                    payload: json!({
                        "before": {
                            "display_name": before.display_name,
                            "unit": before.unit_id.0,
                            "roles": before.roles.iter().map(|r| r.as_str()).collect::<Vec<_>>(),
                        },
                        "after": {
                            "display_name": display_name,
                            "unit": unit_id.0,
                            "roles": roles.iter().map(|r| r.as_str()).collect::<Vec<_>>(),
                        },
                        "sessions_revoked": sessions_revoked,
                        "keys_revoked": keys_revoked,
                        "delegations_revoked": delegations_revoked,
                        "reason": reason,
                    }),
                },
            )
            .db()?;
            Ok(UserChanged {
                user: load_user(tx, user)?.ok_or_else(|| corrupt("user vanished"))?,
                sessions_revoked,
                keys_revoked,
                delegations_revoked,
            })
        })
        .await
    }

    async fn set_user_active(
        &self,
        user: UserId,
        active: bool,
        reason: String,
        actor: Actor,
        now: DateTime<Utc>,
    ) -> Result<UserRecord, StorageError> {
        self.write(move |tx| {
            let before = load_user(tx, user)?
                .ok_or_else(|| StorageError::NotFound(format!("there is no user {}", user.0)))?;
            if before.active == active {
                return Err(StorageError::Conflict {
                    code: "already_done",
                    detail: format!(
                        "the user is {} already",
                        if active { "active" } else { "inactive" }
                    ),
                });
            }
            // One chief per unit holds for a returning chief too.
            if active
                && before.roles.contains(&Role::Chief)
                && other_active_chief(tx, before.unit_id, Some(user))?
            {
                return Err(chief_exists());
            }
            let at = to_db(now);
            tx.execute(
                "UPDATE users SET active = ?2 WHERE id = ?1",
                params![user.0, active],
            )
            .db()?;
            let revoked = if active {
                0
            } else {
                tx.execute(
                    "UPDATE sessions SET revoked_at = ?2 WHERE user_id = ?1 AND revoked_at IS NULL",
                    params![user.0, at],
                )
                .db()?
            };
            audit::append(
                tx,
                NewEntry {
                    at: now,
                    actor: &actor,
                    action: if active {
                        "user.reactivate"
                    } else {
                        "user.deactivate"
                    },
                    letter: None,
                    unit: Some(before.unit_id),
                    user: Some(user),
                    payload: json!({ "reason": reason, "sessions_revoked": revoked }),
                },
            )
            .db()?;
            load_user(tx, user)?.ok_or_else(|| corrupt("user vanished after update"))
        })
        .await
    }

    async fn change_own_password(
        &self,
        user: UserId,
        password_hash: String,
        keep_session: String,
        actor: Actor,
        now: DateTime<Utc>,
    ) -> Result<(), StorageError> {
        self.write(move |tx| {
            let at = to_db(now);
            // Set by the user themself: the chain of who may know it ends here.
            let changed = tx.execute(
                "UPDATE users SET password_hash = ?2, password_changed_at = ?3, password_set_by = ?1,
                    must_change_password = 0
                 WHERE id = ?1 AND active = 1",
                params![user.0, password_hash, at],
            )
            .db()?;
            if changed == 0 {
                return Err(StorageError::NotFound(format!("there is no active user {}", user.0)));
            }
            let revoked = tx.execute(
                "UPDATE sessions SET revoked_at = ?2 WHERE user_id = ?1 AND revoked_at IS NULL AND token_hash <> ?3",
                params![user.0, at, keep_session],
            )
            .db()?;
            audit::append(
                tx,
                NewEntry {
                    at: now,
                    actor: &actor,
                    action: "user.password_change",
                    letter: None,
                    unit: None,
                    user: Some(user),
                    payload: json!({ "sessions_revoked": revoked }),
                },
            )
            .db()?;
            Ok(())
        })
        .await
    }

    async fn last_sign_ins(&self) -> Result<Vec<(UserId, DateTime<Utc>)>, StorageError> {
        self.read(|conn| {
            let mut stmt = conn
                .prepare_cached("SELECT user_id, MAX(created_at) FROM sessions GROUP BY user_id")
                .db()?;
            let rows = stmt
                .query_map([], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?)))
                .db()?;
            let mut out = Vec::new();
            for row in rows {
                let (id, at) = row.db()?;
                out.push((UserId(id), time_col(&at)?));
            }
            Ok(out)
        })
        .await
    }

    async fn notices(&self, user: UserId) -> Result<Vec<jsjb_proto::Notice>, StorageError> {
        self.read(move |conn| notices::open(conn, user)).await
    }

    async fn acknowledge_notices(
        &self,
        user: UserId,
        up_to: i64,
        actor: Actor,
        now: DateTime<Utc>,
    ) -> Result<usize, StorageError> {
        self.write(move |tx| {
            let n = notices::acknowledge(tx, user, up_to, now)?;
            if n > 0 {
                audit::append(
                    tx,
                    NewEntry {
                        at: now,
                        actor: &actor,
                        action: "notice.acknowledge",
                        letter: None,
                        unit: None,
                        user: Some(user),
                        payload: json!({ "up_to": up_to, "count": n }),
                    },
                )
                .db()?;
            }
            Ok(n)
        })
        .await
    }

    async fn credentials(&self, username: &str) -> Result<Option<Credentials>, StorageError> {
        let username = username.to_owned();
        self.read(move |conn| {
            let found: Option<(i64, String)> = conn
                .query_row(
                    "SELECT id, password_hash FROM users WHERE username = ?1",
                    [&username],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .optional()
                .db()?;
            let Some((id, password_hash)) = found else {
                return Ok(None);
            };
            let user = load_user(conn, UserId(id))?.ok_or_else(|| corrupt("user vanished"))?;
            Ok(Some(Credentials {
                user,
                password_hash,
            }))
        })
        .await
    }

    async fn login_lock(
        &self,
        username: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<DateTime<Utc>>, StorageError> {
        let username = username.to_owned();
        self.read(move |conn| logins::locked_until(conn, &username, now))
            .await
    }

    async fn ip_failures_since(
        &self,
        ip_bucket: &str,
        since: DateTime<Utc>,
    ) -> Result<u32, StorageError> {
        let ip_bucket = ip_bucket.to_owned();
        self.read(move |conn| logins::ip_failures_since(conn, &ip_bucket, since))
            .await
    }

    async fn record_login_failure(
        &self,
        attempt: LoginAttempt,
        count_for_name: bool,
        policy: LockoutPolicy,
    ) -> Result<Option<DateTime<Utc>>, StorageError> {
        self.write(move |tx| logins::record_failure(tx, &attempt, count_for_name, policy))
            .await
    }

    async fn record_login_success(
        &self,
        attempt: LoginAttempt,
        session: NewSession,
    ) -> Result<Option<DateTime<Utc>>, StorageError> {
        self.write(move |tx| logins::record_success(tx, &attempt, &session))
            .await
    }

    async fn session(&self, token_hash: &str) -> Result<Option<SessionRecord>, StorageError> {
        let token_hash = token_hash.to_owned();
        self.read(move |conn| {
            let found: Option<(i64, String, String, Option<String>)> = conn
                .query_row(
                    "SELECT user_id, expires_at, coalesce(last_seen_at, created_at), revoked_at
                     FROM sessions WHERE token_hash = ?1",
                    [&token_hash],
                    |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
                )
                .optional()
                .db()?;
            let Some((user_id, expires_at, last_seen_at, revoked_at)) = found else {
                return Ok(None);
            };
            let user = load_user(conn, UserId(user_id))?
                .ok_or_else(|| corrupt("session of a missing user"))?;
            Ok(Some(SessionRecord {
                user,
                expires_at: time_col(&expires_at)?,
                last_seen_at: time_col(&last_seen_at)?,
                revoked: revoked_at.is_some(),
            }))
        })
        .await
    }

    async fn revoke_session(
        &self,
        token_hash: &str,
        actor: Actor,
        now: DateTime<Utc>,
    ) -> Result<(), StorageError> {
        let token_hash = token_hash.to_owned();
        self.write(move |tx| {
            let changed = tx.execute(
                "UPDATE sessions SET revoked_at = ?2 WHERE token_hash = ?1 AND revoked_at IS NULL",
                params![token_hash, to_db(now)],
            )
            .db()?;
            if changed > 0 {
                audit::append(
                    tx,
                    NewEntry {
                        at: now,
                        actor: &actor,
                        action: "auth.logout",
                        letter: None,
                        unit: None,
                        user: actor.user,
                        payload: json!({ "session": token_hash.get(..8).unwrap_or_default() }),
                    },
                )
                .db()?;
            }
            Ok(())
        })
        .await
    }

    async fn touch_session(
        &self,
        token_hash: &str,
        now: DateTime<Utc>,
    ) -> Result<(), StorageError> {
        let token_hash = token_hash.to_owned();
        self.write(move |tx| {
            tx.execute(
                "UPDATE sessions SET last_seen_at = ?2 WHERE token_hash = ?1 AND revoked_at IS NULL",
                params![token_hash, to_db(now)],
            )
            .db()?;
            Ok(())
        })
        .await
    }

    async fn revoke_user_sessions(
        &self,
        user: UserId,
        reason: String,
        actor: Actor,
        now: DateTime<Utc>,
    ) -> Result<usize, StorageError> {
        self.write(move |tx| {
            if load_user(tx, user)?.is_none() {
                return Err(StorageError::NotFound(format!(
                    "there is no user {}",
                    user.0
                )));
            }
            let at = to_db(now);
            let revoked = tx
                .execute(
                    "UPDATE sessions SET revoked_at = ?2
                     WHERE user_id = ?1 AND revoked_at IS NULL AND expires_at > ?2",
                    params![user.0, at],
                )
                .db()?;
            audit::append(
                tx,
                NewEntry {
                    at: now,
                    actor: &actor,
                    action: "user.sessions_revoke",
                    letter: None,
                    unit: None,
                    user: Some(user),
                    payload: json!({ "sessions_revoked": revoked, "reason": reason }),
                },
            )
            .db()?;
            Ok(revoked)
        })
        .await
    }

    async fn create_letter(
        &self,
        letter: NewLetter,
        actor: Actor,
    ) -> Result<CreatedLetter, StorageError> {
        self.write(move |tx| {
            if let Some(claim) = &letter.idempotency
                && let Some(first) = letters::replayed_letter(tx, claim)?
            {
                return Ok(first);
            }
            let unit = match letter.unit {
                Some(u) => u,
                None => UnitId(
                    tx.query_row("SELECT id FROM units WHERE parent_id IS NULL", [], |r| r.get(0))
                        .optional()
                        .db()?
                        .ok_or_else(|| StorageError::Conflict {
                            code: "no_city_unit",
                            detail: "the platform has no city unit yet; an admin must create it before letters can be received".to_owned(),
                        })?,
                ),
            };
            let at = to_db(letter.received_at);
            let tags = serde_json::to_string(&letter.problem_tags)
                .map_err(|e| corrupt(format!("tags: {e}")))?;
            let inserted = tx.execute(
                "INSERT INTO letters (tracking_code, channel, category, problem_tags, subject, body,
                    writer_name, writer_phone, writer_extra, received_at, state, unit_id, version, updated_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, 'received', ?11, 1, ?10)",
                params![
                    letter.tracking_code,
                    letter.channel.as_str(),
                    letter.category.as_str(),
                    tags,
                    letter.subject,
                    letter.body,
                    letter.writer_name,
                    letter.writer_phone,
                    letter.writer_extra.to_string(),
                    at,
                    unit.0
                ],
            );
            match inserted {
                Err(e) if is_unique_violation(&e) => {
                    return Err(StorageError::Conflict {
                        code: "tracking_code_taken",
                        detail: "tracking code collision; retry".to_owned(),
                    });
                }
                other => other.db()?,
            };
            let id = LetterId(tx.last_insert_rowid());
            for (position, (meta, original_name)) in letter.attachments.iter().enumerate() {
                // The same bytes sent twice (or in two letters) are stored once.
                tx.execute(
                    "INSERT INTO attachments (sha256, mime, size, kind, created_at) VALUES (?1, ?2, ?3, ?4, ?5)
                     ON CONFLICT (sha256) DO NOTHING",
                    params![meta.sha256, meta.mime, meta.size as i64, meta.kind.as_str(), at],
                )
                .db()?;
                tx.execute(
                    "INSERT INTO letter_attachments (letter_id, position, sha256, original_name) VALUES (?1, ?2, ?3, ?4)",
                    params![id.0, position as i64, meta.sha256, original_name],
                )
                .db()?;
            }
            let tier: String = tx.query_row("SELECT tier FROM units WHERE id = ?1", [unit.0], |r| r.get(0)).db()?;
            let tier = Tier::ALL
                .into_iter()
                .find(|t| t.as_str() == tier)
                .ok_or_else(|| corrupt(format!("unit {} has unknown tier {tier:?}", unit.0)))?;
            // The first event of every letter: what `LetterStatus::from_events` folds from.
            let received = jsjb_core::workflow::EventPayload::Received { unit, tier };
            tx.execute(
                "INSERT INTO letter_events (letter_id, seq, at, actor_user_id, actor_unit_id, actor_role, actor, workstation, kind, payload)
                 VALUES (?1, 1, ?2, ?3, ?4, ?5, ?6, ?7, 'received', ?8)",
                params![
                    id.0,
                    at,
                    actor.user.map(|u| u.0),
                    actor.unit.map(|u| u.0),
                    actor.role.map(|r| r.as_str()),
                    actor.label,
                    actor.workstation,
                    letters::payload_json(&received)?
                ],
            )
            .db()?;
            tx.execute(
                "INSERT INTO changes (letter_id, unit_id, prev_unit_id, at) VALUES (?1, ?2, NULL, ?3)",
                params![id.0, unit.0, at],
            )
            .db()?;
            let change_seq = tx.last_insert_rowid();
            audit::append(
                tx,
                NewEntry {
                    at: letter.received_at,
                    actor: &actor,
                    action: "letter.receive",
                    letter: Some(id),
                    unit: Some(unit),
                    user: None,
                    payload: json!({
                        "tracking_code": letter.tracking_code,
                        "channel": letter.channel.as_str(),
                        "category": letter.category.as_str(),
                        "attachments": letter.attachments.iter().map(|(m, _)| m.sha256.clone()).collect::<Vec<_>>(),
                        // The first event itself, so that `audit::verify_events` holds it
                        // to this entry like every later one.
                        "event": serde_json::to_value(&received).map_err(|e| corrupt(format!("event payload: {e}")))?,
                    }),
                },
            )
            .db()?;
            if let Some(claim) = &letter.idempotency {
                letters::remember_created(tx, claim, id, unit, letter.received_at)?;
            }
            Ok(CreatedLetter {
                id,
                unit,
                change_seq,
                tracking_code: letter.tracking_code,
                // As stored (to the microsecond), so a replay answers with the same time.
                received_at: time_col(&at)?,
                replayed: false,
            })
        })
        .await
    }

    async fn progress(&self, tracking_code: &str) -> Result<Option<ProgressRecord>, StorageError> {
        let code = tracking_code.to_owned();
        self.read(move |conn| {
            let found: Option<(i64, String, String, String, String)> = conn
                .query_row(
                    "SELECT id, writer_phone, state, category, received_at FROM letters WHERE tracking_code = ?1",
                    [&code],
                    |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)),
                )
                .optional()
                .db()?;
            let Some((id, writer_phone, state, category, received_at)) = found else {
                return Ok(None);
            };
            let mut stmt = conn.prepare_cached(
                "SELECT at, payload FROM letter_events WHERE letter_id = ?1 ORDER BY seq",
            )
            .db()?;
            let mut events = Vec::new();
            for row in stmt.query_map([id], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))).db()? {
                let (at, payload) = row.db()?;
                let event = serde_json::from_str(&payload)
                    .map_err(|e| corrupt(format!("letter {id} event payload: {e}")))?;
                events.push((time_col(&at)?, event));
            }
            Ok(Some(ProgressRecord {
                tracking_code: code,
                writer_phone,
                state: LetterState::parse(&state)
                    .ok_or_else(|| corrupt(format!("letter {id} has unknown state {state:?}")))?,
                category: jsjb_core::letter::Category::parse(&category)
                    .ok_or_else(|| corrupt(format!("letter {id} has unknown category {category:?}")))?,
                received_at: time_col(&received_at)?,
                events,
            }))
        })
        .await
    }

    async fn attachment(
        &self,
        sha256: &str,
    ) -> Result<Option<(AttachmentMeta, Vec<UnitId>)>, StorageError> {
        let sha = sha256.to_owned();
        self.read(move |conn| {
            let found: Option<(String, i64, String)> = conn
                .query_row(
                    "SELECT mime, size, kind FROM attachments WHERE sha256 = ?1",
                    [&sha],
                    |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
                )
                .optional()
                .db()?;
            let Some((mime, size, kind)) = found else { return Ok(None) };
            let mut stmt = conn.prepare_cached(
                "SELECT DISTINCT l.unit_id FROM letter_attachments a JOIN letters l ON l.id = a.letter_id
                 WHERE a.sha256 = ?1",
            )
            .db()?;
            let units = stmt
                .query_map([&sha], |r| r.get::<_, i64>(0).map(UnitId))
                .db()?
                .collect::<Result<Vec<_>, _>>()
                .db()?;
            let meta = AttachmentMeta {
                sha256: sha,
                mime,
                size: u64::try_from(size).map_err(|_| corrupt("negative attachment size"))?,
                kind: AttachmentKind::parse(&kind).ok_or_else(|| corrupt(format!("attachment kind {kind:?}")))?,
            };
            Ok(Some((meta, units)))
        })
        .await
    }

    async fn latest_change_seq(&self) -> Result<i64, StorageError> {
        self.read(|conn| {
            conn.query_row("SELECT coalesce(max(seq), 0) FROM changes", [], |r| {
                r.get(0)
            })
            .db()
        })
        .await
    }

    async fn letter(&self, id: LetterId) -> Result<Option<jsjb_proto::LetterRecord>, StorageError> {
        self.read(move |conn| Ok(letters::load_record(conn, id)?.map(|(record, _)| record)))
            .await
    }

    async fn apply_action(
        &self,
        commit: jsjb_storage::ActionCommit,
        decide: jsjb_storage::DecideFn,
    ) -> Result<jsjb_storage::ActionOutcome, StorageError> {
        self.write(move |tx| letters::apply_action(tx, commit, decide))
            .await
    }

    async fn sync_page(
        &self,
        scope: Vec<UnitId>,
        cursor: i64,
        limit: u32,
    ) -> Result<jsjb_storage::SyncBatch, StorageError> {
        self.read(move |conn| letters::sync_page(conn, &scope, cursor, limit))
            .await
    }

    async fn latest_change_in_scope(
        &self,
        scope: Vec<UnitId>,
        after: i64,
    ) -> Result<Option<i64>, StorageError> {
        self.read(move |conn| letters::latest_change_in_scope(conn, &scope, after))
            .await
    }

    async fn reveal_writer(
        &self,
        letter: LetterId,
        actor: Actor,
        now: DateTime<Utc>,
    ) -> Result<jsjb_proto::Writer, StorageError> {
        self.write(move |tx| letters::reveal_writer(tx, letter, &actor, now))
            .await
    }

    async fn verify_audit(
        &self,
        heads: Vec<jsjb_proto::AuditEntryHash>,
    ) -> Result<Verification, StorageError> {
        self.read(move |conn| audit::verify_all(conn, &heads).db())
            .await
    }

    async fn audit_tip(
        &self,
        known: Option<i64>,
    ) -> Result<
        (
            jsjb_proto::AuditEntryHash,
            Option<jsjb_proto::AuditEntryHash>,
        ),
        StorageError,
    > {
        self.read(move |conn| audit::tip(conn, known).db()).await
    }

    async fn recent_duplicate(
        &self,
        phone: &str,
        body: &str,
        since: DateTime<Utc>,
    ) -> Result<Option<(String, DateTime<Utc>)>, StorageError> {
        let (phone, body) = (phone.to_owned(), body.to_owned());
        self.read(move |conn| citizen::recent_duplicate(conn, &phone, &body, since))
            .await
    }

    async fn writer_notice_feed(&self) -> Result<(i64, Option<DateTime<Utc>>), StorageError> {
        self.read(writer_notices::feed).await
    }

    async fn enqueue_writer_notices(
        &self,
        notices: Vec<jsjb_storage::writer_notices::NewWriterNotice>,
        cursor: i64,
        now: DateTime<Utc>,
    ) -> Result<Vec<jsjb_storage::writer_notices::RecordedAttempt>, StorageError> {
        self.write(move |conn| writer_notices::enqueue(conn, &notices, cursor, now))
            .await
    }

    async fn claim_writer_notices(
        &self,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<jsjb_storage::writer_notices::ClaimedNotice>, StorageError> {
        self.write(move |conn| writer_notices::claim(conn, now, lease_until, limit))
            .await
    }

    async fn record_writer_notice(
        &self,
        id: i64,
        attempt: jsjb_storage::writer_notices::NoticeAttempt,
        now: DateTime<Utc>,
    ) -> Result<Option<jsjb_storage::writer_notices::RecordedAttempt>, StorageError> {
        self.write(move |conn| writer_notices::record(conn, id, &attempt, now))
            .await
    }

    async fn letters_from_sender(
        &self,
        channel: jsjb_core::letter::Channel,
        sender: &str,
        limit: u32,
    ) -> Result<Vec<String>, StorageError> {
        let sender = sender.to_owned();
        self.read(move |conn| citizen::letters_from_sender(conn, channel, &sender, limit))
            .await
    }

    async fn rate_letter(
        &self,
        tracking_code: &str,
        rating: Rating,
        actor: Actor,
    ) -> Result<(), StorageError> {
        let code = tracking_code.to_owned();
        self.write(move |tx| citizen::rate_letter(tx, &code, &rating, &actor))
            .await
    }

    async fn rating(&self, tracking_code: &str) -> Result<Option<Rating>, StorageError> {
        let code = tracking_code.to_owned();
        self.read(move |conn| citizen::rating(conn, &code)).await
    }

    async fn draft(
        &self,
        channel: jsjb_core::letter::Channel,
        sender: &str,
    ) -> Result<Option<Draft>, StorageError> {
        let sender = sender.to_owned();
        self.read(move |conn| citizen::draft(conn, channel, &sender))
            .await
    }

    async fn message_seen(
        &self,
        channel: jsjb_core::letter::Channel,
        msg_id: &str,
    ) -> Result<bool, StorageError> {
        let msg_id = msg_id.to_owned();
        self.read(move |conn| citizen::message_seen(conn, channel, &msg_id))
            .await
    }

    async fn apply_message(&self, message: DraftMessage) -> Result<DraftOutcome, StorageError> {
        self.write(move |tx| citizen::apply_message(tx, &message))
            .await
    }
}
