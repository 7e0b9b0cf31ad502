//! The signed feedback forms kept with a letter, as its `LetterRecord` carries them.
//! Read by the letter loader and written by the sign-off (`signoff.rs`), so neither
//! of those depends on the other for it.

use chrono::{DateTime, Utc};
use jsjb_core::letter::{FormDecision, LetterId};
use jsjb_core::org::UserId;
use jsjb_proto::SignedForm;
use jsjb_storage::StorageError;
use jsjb_storage::time::from_db;
use rusqlite::Connection;

use crate::Db;

fn corrupt(what: impl Into<String>) -> StorageError {
    StorageError::Corrupt(what.into())
}

fn time(text: &str) -> Result<DateTime<Utc>, StorageError> {
    from_db(text).map_err(|e| corrupt(format!("bad timestamp {text:?}: {e}")))
}

/// The signed forms of a letter, for its `LetterRecord` (oldest first).
pub fn load(conn: &Connection, letter: LetterId) -> Result<Vec<SignedForm>, StorageError> {
    let mut stmt = conn.prepare_cached(
        "SELECT f.event_seq, f.key_id, f.signer_user_id, f.on_behalf_of, f.decision, f.signed_at,
                f.form_bytes, f.signature_der, k.public_key_pem, f.handwriting_sha256
         FROM signed_forms f JOIN signing_keys k ON k.id = f.key_id
         WHERE f.letter_id = ?1 ORDER BY f.event_seq",
    )
    .db()?;
    let rows = stmt
        .query_map([letter.0], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, i64>(1)?,
                r.get::<_, i64>(2)?,
                r.get::<_, Option<i64>>(3)?,
                r.get::<_, String>(4)?,
                r.get::<_, String>(5)?,
                r.get::<_, Vec<u8>>(6)?,
                r.get::<_, Vec<u8>>(7)?,
                r.get::<_, String>(8)?,
                r.get::<_, String>(9)?,
            ))
        })
        .db()?;
    let mut out = Vec::new();
    for row in rows {
        let (seq, key, signer, behalf, decision, at, form, sig, pem, hand) = row.db()?;
        let seq = u32::try_from(seq).map_err(|_| corrupt("signed form seq"))?;
        out.push(SignedForm {
            event_seq: seq,
            letter_version: seq.saturating_sub(1),
            key_id: key,
            signer: UserId(signer),
            on_behalf_of: behalf.map(UserId),
            decision: FormDecision::parse(&decision)
                .ok_or_else(|| corrupt(format!("decision {decision:?}")))?,
            signed_at: time(&at)?,
            form_b64: jsjb_signoff::b64::encode(&form),
            signature_der_b64: jsjb_signoff::b64::encode(&sig),
            public_key_pem: pem,
            handwriting_sha256: hand,
        });
    }
    Ok(out)
}
