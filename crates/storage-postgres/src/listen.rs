//! Changes committed by other server nodes, heard through `LISTEN jsjb_changes` (the
//! trigger of migration V2 announces each change row at commit), so that each node can
//! poke its own desktops' streams from memory (the server's change hub).
//!
//! One connection of its own per node, outside the pool (a pooled connection is shared
//! and would drop its LISTEN when recycled). When it breaks, the listener reconnects with
//! a growing pause and reports [`ChangeNote::Resync`] once listening again: a change
//! committed while it was away was not heard, so every stream is poked with the newest
//! change — a spurious poke costs a desktop one empty pull, a missed one the change.

use std::time::Duration;

use futures_util::StreamExt;
use jsjb_core::org::UnitId;
use jsjb_storage::ChangeNote;
use tokio_postgres::{AsyncMessage, NoTls};

/// The channel migration V2's trigger notifies.
pub const CHANNEL: &str = "jsjb_changes";

const FIRST_PAUSE: Duration = Duration::from_millis(200);
const LONGEST_PAUSE: Duration = Duration::from_secs(10);

/// How often the listener asks its connection whether it still stands, and how long
/// the answer may take.
const HEARTBEAT: Duration = Duration::from_secs(15);
const HEARTBEAT_ANSWER: Duration = Duration::from_secs(10);

/// Stops the listener when dropped (the server holds it while it serves).
pub struct Listening(tokio::task::AbortHandle);

impl Drop for Listening {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Starts listening on the current runtime; `on_change` hears every change and each
/// (re)connection.
pub fn spawn(
    config: tokio_postgres::Config,
    on_change: Box<dyn Fn(ChangeNote) + Send + Sync>,
) -> Listening {
    let task = tokio::spawn(async move {
        let mut pause = FIRST_PAUSE;
        loop {
            match listen(&config, &on_change).await {
                // Heard for a while, then lost: start again promptly.
                Ok(()) => pause = FIRST_PAUSE,
                Err(e) => tracing::warn!(%e, "cannot listen for other nodes' changes; retrying"),
            }
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(LONGEST_PAUSE);
        }
    });
    Listening(task.abort_handle())
}

/// One connection's life: LISTEN, then every notification until the connection ends.
async fn listen(
    config: &tokio_postgres::Config,
    on_change: &(dyn Fn(ChangeNote) + Send + Sync),
) -> Result<(), tokio_postgres::Error> {
    let (client, mut connection) = config.connect(NoTls).await?;
    // The connection yields the notifications; it must be polled for the client's own
    // statements to go through too, so it is polled here and forwarded.
    let (sender, mut notes) = tokio::sync::mpsc::unbounded_channel();
    let pump = tokio::spawn(async move {
        let mut messages = futures_util::stream::poll_fn(move |cx| connection.poll_message(cx));
        while let Some(message) = messages.next().await {
            match message {
                Ok(AsyncMessage::Notification(n)) if n.channel() == CHANNEL => {
                    if sender.send(n.payload().to_owned()).is_err() {
                        return Ok(());
                    }
                }
                Ok(_) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    });
    client.batch_execute(&format!("LISTEN {CHANNEL}")).await?;
    tracing::info!("listening for other nodes' changes");
    on_change(ChangeNote::Resync);
    let mut heartbeat = tokio::time::interval(HEARTBEAT);
    heartbeat.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    heartbeat.tick().await;
    loop {
        tokio::select! {
            payload = notes.recv() => {
                let Some(payload) = payload else { break };
                match parse(&payload) {
                    Some(note) => on_change(note),
                    None => {
                        tracing::warn!(%payload, "an unreadable change notification; poking every stream");
                        on_change(ChangeNote::Resync);
                    }
                }
            }
            // A connection can die without a word (a database host gone, a firewall
            // dropping idle flows): a query now and then finds out, and the loop above
            // reconnects, so a node does not go deaf to the others for good.
            _ = heartbeat.tick() => {
                match tokio::time::timeout(HEARTBEAT_ANSWER, client.simple_query("SELECT 1")).await {
                    Ok(Ok(_)) => {}
                    Ok(Err(e)) => return Err(e),
                    Err(_) => {
                        tracing::warn!("the change listener's connection stopped answering; reconnecting");
                        pump.abort();
                        return Ok(());
                    }
                }
            }
        }
    }
    drop(client);
    match pump.await {
        Ok(result) => result,
        Err(_) => Ok(()),
    }
}

/// "<seq> <unit> [<previous unit>]" as migration V2's trigger writes it, or "units" or
/// "routing" as V4's does.
fn parse(payload: &str) -> Option<ChangeNote> {
    match payload {
        "units" => return Some(ChangeNote::UnitsChanged),
        "routing" => return Some(ChangeNote::RoutingChanged),
        _ => {}
    }
    let mut numbers = payload.split(' ').map(str::parse::<i64>);
    let seq = numbers.next()?.ok()?;
    let units = numbers
        .map(|n| n.ok().map(UnitId))
        .collect::<Option<Vec<_>>>()?;
    (!units.is_empty()).then_some(ChangeNote::Change { seq, units })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notifications_read_as_the_trigger_writes_them() {
        assert_eq!(
            parse("42 7"),
            Some(ChangeNote::Change {
                seq: 42,
                units: vec![UnitId(7)]
            })
        );
        assert_eq!(
            parse("43 7 3"),
            Some(ChangeNote::Change {
                seq: 43,
                units: vec![UnitId(7), UnitId(3)]
            })
        );
        assert_eq!(parse("units"), Some(ChangeNote::UnitsChanged));
        assert_eq!(parse("routing"), Some(ChangeNote::RoutingChanged));
        assert_eq!(parse(""), None);
        assert_eq!(parse("44"), None);
        assert_eq!(parse("x 7"), None);
        assert_eq!(parse("45 7 y"), None);
    }
}
