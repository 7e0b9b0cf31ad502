//! The one thread that owns the connection, and the handle everyone else holds.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::mpsc;
use std::thread;

use tokio::sync::oneshot;

use crate::{Store, StoreError};

type Job = Box<dyn FnOnce(&mut Store) + Send>;

/// A cheap, cloneable handle to a [`Store`] living on its own thread.
///
/// Closures run one at a time, in the order sent, so a method's transaction is never
/// interleaved with another's. The thread ends when the last handle is dropped, after
/// finishing the closures already sent. A closure that panics does not take the store
/// down: its transaction rolls back (a `rusqlite::Transaction` rolls back on drop), its
/// caller gets [`StoreError::Closed`], and the next closure runs as usual.
///
/// Keep closures short: the UI's queries wait behind them.
#[derive(Clone)]
pub struct StoreHandle {
    jobs: mpsc::Sender<Job>,
}

impl StoreHandle {
    /// Moves the store onto a new thread named `jsjb-store`.
    pub fn spawn(store: Store) -> Result<StoreHandle, StoreError> {
        let (jobs, inbox) = mpsc::channel::<Job>();
        thread::Builder::new()
            .name("jsjb-store".to_owned())
            .spawn(move || {
                let mut store = store;
                for job in inbox {
                    // The panic's message was already printed by the panic hook; the
                    // caller learns of it by the reply channel closing.
                    let _ = catch_unwind(AssertUnwindSafe(|| job(&mut store)));
                }
            })
            .map_err(StoreError::Thread)?;
        Ok(StoreHandle { jobs })
    }

    fn send<R: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Store) -> R + Send + 'static,
    ) -> Result<oneshot::Receiver<R>, StoreError> {
        let (reply, answer) = oneshot::channel();
        self.jobs
            .send(Box::new(move |store: &mut Store| {
                // The caller may have given up waiting; that is not the store's problem.
                let _ = reply.send(f(store));
            }))
            .map_err(|_| StoreError::Closed)?;
        Ok(answer)
    }

    /// Runs `f` on the store's thread and waits for its result without blocking the
    /// async runtime (for the sync engine and async Tauri commands).
    pub async fn call<R: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Store) -> R + Send + 'static,
    ) -> Result<R, StoreError> {
        self.send(f)?.await.map_err(|_| StoreError::Closed)
    }

    /// Runs `f` on the store's thread and blocks until it is done (for plain threads and
    /// synchronous Tauri commands; never call it from inside an async task).
    pub fn call_blocking<R: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Store) -> R + Send + 'static,
    ) -> Result<R, StoreError> {
        self.send(f)?
            .blocking_recv()
            .map_err(|_| StoreError::Closed)
    }
}
