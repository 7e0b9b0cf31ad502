//! A small Server-Sent Events parser (the WHATWG "event stream" format), fed with the
//! chunks of a response body.
//!
//! We need three things of SSE — the event name, its data, and the comment lines the
//! server sends as heartbeats — so a few dozen lines beat a dependency. The parser is
//! pure: it owns no IO and is tested with chunks split at every awkward place.

/// One item of the stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SseItem {
    /// A dispatched event: `event:` (default `message`) and the `data:` lines joined by `\n`.
    Event { event: String, data: String },
    /// A comment line (`: heartbeat`): proof the connection is alive.
    Comment,
}

/// Incremental parser. Feed it bytes with [`SseParser::push`]; it returns the items
/// completed by them and keeps the unfinished tail.
#[derive(Debug, Default)]
pub struct SseParser {
    /// Bytes of the line not yet ended. Kept as bytes so a UTF-8 character split across
    /// chunks is decoded only once whole.
    line: Vec<u8>,
    /// The previous chunk ended with `\r`: a `\n` starting the next chunk belongs to it.
    after_cr: bool,
    event: String,
    data: String,
    has_data: bool,
}

impl SseParser {
    pub fn new() -> SseParser {
        SseParser::default()
    }

    pub fn push(&mut self, chunk: &[u8]) -> Vec<SseItem> {
        let mut out = Vec::new();
        for &b in chunk {
            if self.after_cr {
                self.after_cr = false;
                if b == b'\n' {
                    continue;
                }
            }
            match b {
                b'\n' => self.end_line(&mut out),
                b'\r' => {
                    self.after_cr = true;
                    self.end_line(&mut out);
                }
                _ => self.line.push(b),
            }
        }
        out
    }

    fn end_line(&mut self, out: &mut Vec<SseItem>) {
        let raw = std::mem::take(&mut self.line);
        let line = String::from_utf8_lossy(&raw);
        if line.is_empty() {
            // A blank line dispatches the event, if it carried data (the spec drops
            // events without data).
            let event = std::mem::take(&mut self.event);
            let data = std::mem::take(&mut self.data);
            if std::mem::take(&mut self.has_data) {
                out.push(SseItem::Event {
                    event: if event.is_empty() {
                        "message".to_owned()
                    } else {
                        event
                    },
                    data,
                });
            }
            return;
        }
        if line.starts_with(':') {
            out.push(SseItem::Comment);
            return;
        }
        let (field, value) = match line.split_once(':') {
            Some((f, v)) => (f, v.strip_prefix(' ').unwrap_or(v)),
            None => (line.as_ref(), ""),
        };
        match field {
            "event" => value.clone_into(&mut self.event),
            "data" => {
                if self.has_data {
                    self.data.push('\n');
                }
                self.data.push_str(value);
                self.has_data = true;
            }
            // `id` and `retry` are not used: the cursor in each poke is our resume point,
            // and the engine runs its own backoff.
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn poke(n: i64) -> SseItem {
        SseItem::Event {
            event: "poke".into(),
            data: format!("{{\"cursor\":{n}}}"),
        }
    }

    #[test]
    fn events_and_heartbeats() {
        let mut p = SseParser::new();
        let items = p.push(b": heartbeat\n\nevent: poke\ndata: {\"cursor\":7}\n\n");
        assert_eq!(items, vec![SseItem::Comment, poke(7)]);
    }

    #[test]
    fn every_split_point_gives_the_same_items() {
        let text = "event: poke\r\ndata: {\"cursor\":1}\r\n\r\n: hb\r\rdata:a\ndata:  b\n\nevent:poke\ndata:{\"cursor\":2}\n\n".as_bytes();
        let whole = SseParser::new().push(text);
        assert_eq!(
            whole,
            vec![
                poke(1),
                SseItem::Comment,
                SseItem::Event {
                    event: "message".into(),
                    data: "a\n b".into()
                },
                poke(2),
            ]
        );
        for cut in 0..text.len() {
            let mut p = SseParser::new();
            let mut items = p.push(&text[..cut]);
            items.extend(p.push(&text[cut..]));
            assert_eq!(items, whole, "split at {cut}");
        }
    }

    #[test]
    fn a_utf8_character_split_across_chunks_survives() {
        let text = "data: 来件\n\n".as_bytes();
        let mut p = SseParser::new();
        let mut items = p.push(&text[..8]);
        items.extend(p.push(&text[8..]));
        assert_eq!(
            items,
            vec![SseItem::Event {
                event: "message".into(),
                data: "来件".into()
            }]
        );
    }

    #[test]
    fn an_event_without_data_is_dropped_and_does_not_leak_its_name() {
        let mut p = SseParser::new();
        assert!(p.push(b"event: poke\n\n").is_empty());
        assert_eq!(
            p.push(b"data: x\n\n"),
            vec![SseItem::Event {
                event: "message".into(),
                data: "x".into()
            }]
        );
    }
}
