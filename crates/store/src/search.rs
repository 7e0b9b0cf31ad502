//! The search over letters' text (tracking code, subject, body, writer's name): the one
//! owner of the three tables that answer it.
//!
//! Chinese has no spaces between words, so the indexes are of characters, not words:
//! - `letters_fts` (trigrams, over `letter_text`) finds a run of 3+ characters;
//! - `letters_chars` indexes every character as its own token (the text is stored with
//!   a space between characters), so a 1–2-character word is a one- or two-token phrase
//!   (trigrams cannot match fewer than 3 characters, and `LIKE` reads every letter:
//!   48 ms at 100,000, docs/performance.md);
//! - `LIKE` over `letter_text` is left only for a short word with punctuation in it,
//!   which the character index drops as separators.

use jsjb_core::letter::LetterId;
use rusqlite::{Connection, OptionalExtension, params, params_from_iter};

use crate::StoreError;

/// What one letter's text is searched by: tracking code, subject, body and writer's
/// name, one per line.
pub(crate) fn letter_text(tracking_code: &str, subject: &str, body: &str, writer: &str) -> String {
    format!("{tracking_code}\n{subject}\n{body}\n{writer}")
}

/// `text` with a space between every two characters: the character index's tokens.
fn spaced(text: &str) -> String {
    let mut out = String::with_capacity(text.len() * 2);
    for c in text.chars() {
        if !out.is_empty() {
            out.push(' ');
        }
        out.push(c);
    }
    out
}

/// Indexes a letter's text, replacing what was indexed for it before when `replacing`
/// (a letter new to the cache has nothing indexed).
pub(crate) fn index_letter(
    conn: &Connection,
    id: LetterId,
    text: &str,
    replacing: bool,
) -> Result<(), StoreError> {
    if replacing {
        forget_letter(conn, id)?;
    }
    conn.prepare_cached("INSERT INTO letter_text (id, text) VALUES (?1, ?2)")?
        .execute(params![id.0, text])?;
    conn.prepare_cached("INSERT INTO letters_fts (rowid, text) VALUES (?1, ?2)")?
        .execute(params![id.0, text])?;
    conn.prepare_cached("INSERT INTO letters_chars (rowid, text) VALUES (?1, ?2)")?
        .execute(params![id.0, spaced(text)])?;
    Ok(())
}

/// Removes a letter's text and its index entries. The trigram index has external
/// content: it forgets a row only when told the exact text it indexed.
pub(crate) fn forget_letter(conn: &Connection, id: LetterId) -> Result<(), StoreError> {
    let old: Option<String> = conn
        .prepare_cached("DELETE FROM letter_text WHERE id = ?1 RETURNING text")?
        .query_row([id.0], |r| r.get(0))
        .optional()?;
    if let Some(old) = old {
        conn.prepare_cached(
            "INSERT INTO letters_fts (letters_fts, rowid, text) VALUES ('delete', ?1, ?2)",
        )?
        .execute(params![id.0, old])?;
        conn.prepare_cached("DELETE FROM letters_chars WHERE rowid = ?1")?
            .execute([id.0])?;
    }
    Ok(())
}

/// Removes every letter's text and both indexes' entries (`delete-all`: both indexes
/// keep no content of their own).
pub(crate) fn forget_every_letter(conn: &Connection) -> Result<(), StoreError> {
    conn.execute_batch(
        "DELETE FROM letter_text;
         INSERT INTO letters_fts (letters_fts) VALUES ('delete-all');
         INSERT INTO letters_chars (letters_chars) VALUES ('delete-all');",
    )?;
    Ok(())
}

/// Fills the character index from the kept text (a cache from before migration 11).
pub(crate) fn index_every_letters_chars(conn: &Connection) -> Result<(), StoreError> {
    conn.execute("DELETE FROM letters_chars", [])?;
    let mut read = conn.prepare("SELECT id, text FROM letter_text")?;
    let mut insert = conn.prepare("INSERT INTO letters_chars (rowid, text) VALUES (?1, ?2)")?;
    let mut rows = read.query([])?;
    while let Some(row) = rows.next()? {
        let id: i64 = row.get(0)?;
        insert.execute(params![id, spaced(crate::text_col(row, 1)?)])?;
    }
    Ok(())
}

/// A `LIKE` pattern that finds `term` literally: `%`, `_` and the escape character
/// itself are escaped with `\`.
fn like_pattern(term: &str) -> String {
    let mut out = String::with_capacity(term.len() + 2);
    out.push('%');
    for c in term.chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('%');
    out
}

/// An FTS5 phrase that matches `term`'s tokens literally and in order.
fn fts_phrase(term: &str) -> String {
    format!("\"{}\"", term.replace('"', "\"\""))
}

/// The ids of the letters whose text holds every whitespace-separated word of `text`;
/// `None` when `text` has no word (every letter matches).
pub(crate) fn matching(conn: &Connection, text: &str) -> Result<Option<Vec<i64>>, StoreError> {
    let mut long = Vec::new();
    let mut short = Vec::new();
    let mut literal = Vec::new();
    for term in text.split_whitespace() {
        if term.chars().count() >= 3 {
            long.push(fts_phrase(term));
        } else if term.chars().all(char::is_alphanumeric) {
            short.push(fts_phrase(&spaced(term)));
        } else {
            literal.push(like_pattern(term));
        }
    }
    let mut selects = Vec::new();
    let mut values = Vec::new();
    if !long.is_empty() {
        selects.push("SELECT rowid FROM letters_fts WHERE letters_fts MATCH ?".to_owned());
        values.push(long.join(" "));
    }
    if !short.is_empty() {
        selects.push("SELECT rowid FROM letters_chars WHERE letters_chars MATCH ?".to_owned());
        values.push(short.join(" "));
    }
    if !literal.is_empty() {
        let likes = vec!["text LIKE ? ESCAPE '\\'"; literal.len()].join(" AND ");
        selects.push(format!("SELECT id FROM letter_text WHERE {likes}"));
        values.extend(literal);
    }
    if selects.is_empty() {
        return Ok(None);
    }
    let mut stmt = conn.prepare_cached(&selects.join(" INTERSECT "))?;
    let ids = stmt
        .query_map(params_from_iter(values.iter()), |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    Ok(Some(ids))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_and_phrases_are_literal() {
        assert_eq!(like_pattern("5%_\\"), "%5\\%\\_\\\\%");
        assert_eq!(fts_phrase("a\"b"), "\"a\"\"b\"");
        assert_eq!(spaced("噪音a1"), "噪 音 a 1");
        assert_eq!(spaced(""), "");
    }
}
