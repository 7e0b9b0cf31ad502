//! The clock rules the server served, kept in the cache's `settings` table (key
//! `clock_rules`): a desktop restarted offline keeps counting with the server's rules,
//! never with its compiled defaults once it has connected.

use jsjb_core::rules::{Rules, RulesDoc};
use rusqlite::{Connection, OptionalExtension};
use serde::{Deserialize, Serialize};

use crate::StoreError;

const KEY: &str = "clock_rules";

#[derive(Serialize, Deserialize)]
struct Kept {
    version: String,
    rules: RulesDoc,
}

/// The kept rules and their version; `None` when none were ever served. Rules kept by
/// an older app that this one cannot read are dropped (the next sync serves them again).
pub(crate) fn load(conn: &Connection) -> Result<Option<(String, Rules)>, StoreError> {
    let json: Option<String> = conn
        .query_row("SELECT value FROM settings WHERE key = ?1", [KEY], |r| {
            r.get(0)
        })
        .optional()?;
    let Some(json) = json else {
        return Ok(None);
    };
    Ok(serde_json::from_str::<Kept>(&json)
        .ok()
        .and_then(|k| Rules::new(k.rules).ok().map(|rules| (k.version, rules))))
}

pub(crate) fn save(conn: &Connection, version: &str, rules: &RulesDoc) -> Result<(), StoreError> {
    let json = serde_json::to_string(&Kept {
        version: version.to_owned(),
        rules: rules.clone(),
    })?;
    conn.execute(
        "INSERT INTO settings (key, value) VALUES (?1, ?2)
         ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        rusqlite::params![KEY, json],
    )?;
    Ok(())
}
