//! Connection ownership: one writer thread owns the only write connection; reads go
//! to a small pool of read-only connections on tokio's blocking threads.
//!
//! The writer commits in groups: it takes every job queued behind the first one,
//! runs each inside its own SAVEPOINT (a failing job rolls back alone) and commits
//! them together with one fsync. Replies go out only after that COMMIT, so a caller
//! never hears "done" for a write that could still be lost. See DESIGN.md.
//!
//! A job that panics is caught like `jsjb-store`'s handle does: its savepoint rolls
//! back, its caller gets an error, the rest of the group commits and the thread goes
//! on. The thread reports whether it is alive and whether a group has been running
//! for too long, so `/healthz` can say so without queueing a probe behind the writes.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

use rusqlite::{Connection, OpenFlags};

use jsjb_storage::StorageError;

use crate::{Db, telemetry};

/// The most jobs one group commit takes, so a flood of writes cannot starve replies.
const MAX_GROUP: usize = 256;
/// Read connections: at most this many reads run at once, each on a connection of the
/// pool (opened on first need, then kept). More reads wait their turn without a thread:
/// a burst of 250 desktops fetching their page at one poke used to run on 250 blocking
/// threads, each opening (and closing) a connection of its own, and the opens, the
/// statements prepared afresh on them and SQLite's global mutex made the burst take
/// 0.6–0.8 s (issue 15 item 1, docs/performance.md).
const MAX_READERS: usize = 8;
/// Prepared statements kept per connection.
const STATEMENT_CACHE: usize = 128;

/// Called with the outcome of the COMMIT after the job ran.
type Reply = Box<dyn FnOnce(Result<(), String>) + Send>;
/// A write job: runs on the writer's connection inside a savepoint, or is told why it
/// could not run. Returns whether it succeeded (so the savepoint is kept or rolled
/// back) and the reply to send once the group is committed.
type Job = Box<dyn FnOnce(Result<&Connection, String>) -> (bool, Reply) + Send>;

fn configure(conn: &Connection, read_only: bool) -> rusqlite::Result<()> {
    // Writers wait for each other (the CLI against a running server) instead of failing.
    conn.busy_timeout(std::time::Duration::from_secs(5))?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    // A request runs more distinct statements than rusqlite's default cache of 16 keeps
    // (session, units, scope, page, records, attachments, forms…): each one evicted is
    // parsed again on its next use.
    conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
    if read_only {
        conn.pragma_update(None, "query_only", "ON")?;
    } else {
        // WAL lets readers run beside the writer; FULL makes every commit durable:
        // a lost commit would be a lost officer action or audit entry.
        let mode: String = conn.query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))?;
        if !mode.eq_ignore_ascii_case("wal") {
            tracing::warn!(%mode, "SQLite refused WAL; continuing in this journal mode");
        }
        conn.pragma_update(None, "synchronous", "FULL")?;
    }
    Ok(())
}

/// Opens the write connection and brings the schema up to date.
pub fn open_writer(path: &Path) -> Result<Connection, StorageError> {
    let mut conn = Connection::open(path).db()?;
    configure(&conn, false).db()?;
    crate::migrations::migrate(&mut conn)?;
    Ok(conn)
}

/// A group that has been running this long means the writer is stuck (a group is
/// normally milliseconds; SQLite's busy timeout is 5 s).
const STUCK_AFTER: Duration = Duration::from_secs(30);

/// What the writer thread tells the rest of the server about itself: plain atomics,
/// so asking costs nothing and never waits for the writer.
struct Liveness {
    /// Cleared when the thread ends, however it ends.
    alive: AtomicBool,
    /// When the running group began, in milliseconds since `epoch` plus one; 0: idle.
    group_started: AtomicU64,
    epoch: Instant,
    /// Asks the thread to stop after its current group (fault tests only).
    stop: AtomicBool,
}

impl Liveness {
    fn now_ms(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX - 1) + 1
    }
}

/// Clears `alive` when the writer thread ends, even by unwinding.
struct AliveGuard(Arc<Liveness>);

impl Drop for AliveGuard {
    fn drop(&mut self) {
        self.0.alive.store(false, Ordering::SeqCst);
        self.0.group_started.store(0, Ordering::SeqCst);
    }
}

#[derive(Clone)]
pub struct Writer {
    jobs: mpsc::Sender<Job>,
    liveness: Arc<Liveness>,
}

impl Writer {
    /// Starts the writer thread; it stops when the last `Writer` handle is dropped.
    pub fn spawn(conn: Connection) -> Result<Writer, StorageError> {
        let (jobs, rx) = mpsc::channel::<Job>();
        let liveness = Arc::new(Liveness {
            alive: AtomicBool::new(true),
            group_started: AtomicU64::new(0),
            epoch: Instant::now(),
            stop: AtomicBool::new(false),
        });
        let guard = AliveGuard(Arc::clone(&liveness));
        std::thread::Builder::new()
            .name("jsjb-sqlite-writer".to_owned())
            .spawn(move || run_writer(conn, rx, guard))?;
        Ok(Writer { jobs, liveness })
    }

    /// Whether the writer thread is running and not stuck in one group. Cheap: reads
    /// two atomics, so a health check never queues behind a large group of writes.
    pub fn healthy(&self) -> bool {
        let live = &self.liveness;
        if !live.alive.load(Ordering::SeqCst) {
            return false;
        }
        match live.group_started.load(Ordering::SeqCst) {
            0 => true,
            started => {
                let running = live.now_ms().saturating_sub(started);
                u128::from(running) < STUCK_AFTER.as_millis()
            }
        }
    }

    /// Makes the writer thread end after the job it is running, as if it had died:
    /// for tests of what the server does without a writer.
    pub fn stop(&self) {
        self.liveness.stop.store(true, Ordering::SeqCst);
        // Wake the thread if it is waiting for a job; the no-op job runs, then it stops.
        let _ = self.enqueue(Box::new(|_| (true, Box::new(|_| {}))));
    }

    /// Sends `job` to the writer thread, counted in the queue depth until it takes it.
    fn enqueue(&self, job: Job) -> Result<(), StorageError> {
        let depth = metrics::gauge!(telemetry::QUEUE_DEPTH);
        depth.increment(1.0);
        self.jobs.send(job).map_err(|_| {
            depth.decrement(1.0);
            StorageError::Closed
        })
    }

    /// Runs `f` in a write transaction on the writer thread; resolves once committed.
    pub async fn write<R, F>(&self, f: F) -> Result<R, StorageError>
    where
        R: Send + 'static,
        F: FnOnce(&Connection) -> Result<R, StorageError> + Send + 'static,
    {
        let (tx, rx) = tokio::sync::oneshot::channel::<Result<R, StorageError>>();
        let job: Job = Box::new(move |conn| match conn {
            Err(why) => {
                let reply: Reply = Box::new(move |_| {
                    let _ = tx.send(Err(StorageError::Commit(why)));
                });
                (false, reply)
            }
            Ok(conn) => {
                // A panic in `f` is this caller's failure alone: it gets an error and
                // the savepoint rolls back (run_group sees `ok == false`).
                let result = match catch_unwind(AssertUnwindSafe(|| f(conn))) {
                    Ok(result) => result,
                    Err(_) => Err(StorageError::Commit(
                        "the write job panicked; its changes were rolled back".to_owned(),
                    )),
                };
                let ok = result.is_ok();
                let reply: Reply = Box::new(move |commit| {
                    let outcome = match commit {
                        Ok(()) => result,
                        Err(e) => Err(StorageError::Commit(e)),
                    };
                    // The caller may have gone away (request cancelled); nothing to do.
                    let _ = tx.send(outcome);
                });
                (ok, reply)
            }
        });
        self.enqueue(job)?;
        rx.await.map_err(|_| StorageError::Closed)?
    }
}

fn run_writer(conn: Connection, rx: mpsc::Receiver<Job>, guard: AliveGuard) {
    let live = &guard.0;
    while let Ok(first) = rx.recv() {
        let mut group = vec![first];
        while group.len() < MAX_GROUP {
            match rx.try_recv() {
                Ok(job) => group.push(job),
                Err(_) => break,
            }
        }
        // Looked up each time: the recorder may be installed after the thread starts.
        metrics::gauge!(telemetry::QUEUE_DEPTH).decrement(group.len() as f64);
        metrics::histogram!(telemetry::COMMIT_JOBS).record(group.len() as f64);
        live.group_started.store(live.now_ms(), Ordering::SeqCst);
        let started = Instant::now();
        run_group(&conn, group);
        metrics::histogram!(telemetry::COMMIT_DURATION).record(started.elapsed().as_secs_f64());
        live.group_started.store(0, Ordering::SeqCst);
        if live.stop.load(Ordering::SeqCst) {
            tracing::warn!("sqlite writer stopped on request");
            break;
        }
    }
    tracing::debug!("sqlite writer stopped");
    drop(guard);
}

fn run_group(conn: &Connection, group: Vec<Job>) {
    if let Err(e) = conn.execute_batch("BEGIN IMMEDIATE") {
        for job in group {
            let (_, reply) = job(Err(e.to_string()));
            reply(Err(e.to_string()));
        }
        return;
    }
    let mut replies = Vec::with_capacity(group.len());
    for job in group {
        if let Err(e) = conn.execute_batch("SAVEPOINT job") {
            let (_, reply) = job(Err(e.to_string()));
            replies.push((reply, Some(e.to_string())));
            continue;
        }
        // `write` already catches a panic in the caller's closure; this is the net for
        // anything else a job does, so that no job can end the thread. The job's reply
        // sender unwinds with it, so its caller hears that it failed.
        let Ok((ok, reply)) = catch_unwind(AssertUnwindSafe(|| job(Ok(conn)))) else {
            tracing::error!("a write job panicked outside its closure; rolled back");
            if let Err(e) = conn.execute_batch("ROLLBACK TO job; RELEASE job") {
                tracing::error!(%e, "cannot roll back the panicked job");
            }
            continue;
        };
        let undo = if ok {
            conn.execute_batch("RELEASE job")
        } else {
            conn.execute_batch("ROLLBACK TO job; RELEASE job")
        };
        replies.push((reply, undo.err().map(|e| e.to_string())));
    }
    let commit = conn.execute_batch("COMMIT").map_err(|e| e.to_string());
    if commit.is_err() {
        // Leave the connection usable for the next group.
        let _ = conn.execute_batch("ROLLBACK");
    }
    for (reply, savepoint_error) in replies {
        match (&commit, savepoint_error) {
            (Err(e), _) => reply(Err(e.clone())),
            (Ok(()), Some(e)) => reply(Err(e)),
            (Ok(()), None) => reply(Ok(())),
        }
    }
}

/// Read-only connections, used on tokio's blocking pool.
pub struct Readers {
    path: PathBuf,
    idle: Mutex<Vec<Connection>>,
    /// One per read running: never more than [`MAX_READERS`] connections.
    running: Arc<tokio::sync::Semaphore>,
}

impl Readers {
    pub fn new(path: &Path) -> Arc<Readers> {
        Arc::new(Readers {
            path: path.to_owned(),
            idle: Mutex::new(Vec::new()),
            running: Arc::new(tokio::sync::Semaphore::new(MAX_READERS)),
        })
    }

    fn take(&self) -> Result<Connection, StorageError> {
        let pooled = self.idle.lock().unwrap_or_else(|e| e.into_inner()).pop();
        match pooled {
            Some(conn) => Ok(conn),
            None => {
                let conn = Connection::open_with_flags(
                    &self.path,
                    OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
                )
                .db()?;
                configure(&conn, true).db()?;
                Ok(conn)
            }
        }
    }

    fn give_back(&self, conn: Connection) {
        let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
        if idle.len() < MAX_READERS {
            idle.push(conn);
        }
    }

    /// Runs `f` on a read connection without blocking the async runtime.
    pub async fn read<R, F>(self: &Arc<Self>, f: F) -> Result<R, StorageError>
    where
        R: Send + 'static,
        F: FnOnce(&Connection) -> Result<R, StorageError> + Send + 'static,
    {
        let readers = Arc::clone(self);
        // The permit goes with the blocking task, so that a read whose caller went away
        // (a client that disconnected) still counts until it is done.
        let permit = Arc::clone(&self.running)
            .acquire_owned()
            .await
            .map_err(|e| StorageError::Commit(format!("read pool closed: {e}")))?;
        tokio::task::spawn_blocking(move || {
            let _permit = permit;
            let conn = readers.take()?;
            // Every read is one transaction, so all its statements see one snapshot: a
            // sync page and its `next_cursor` must come from the same moment, or a change
            // committed between two statements is skipped for good.
            let result = conn
                .unchecked_transaction()
                .map_err(crate::backend)
                .and_then(|tx| {
                    let result = f(&tx)?;
                    tx.commit().db()?;
                    Ok(result)
                });
            readers.give_back(conn);
            result
        })
        .await
        .map_err(|e| StorageError::Commit(format!("read task failed: {e}")))?
    }
}
