//! A signed-in session: what belongs to one server + user (its life — sign-in, resume,
//! sign-out — is `sign_in.rs`; what its news does is `news.rs`).
//!
//! One [`Session`] owns everything that belongs to one server + user: the client with
//! its token, the cache (through its handle; the connection lives on the store's own
//! thread), the sync engine and the tasks that forward its news to the UI. Signing out
//! (or in as someone else) stops the engine and the tasks and drops the handles, which
//! closes the cache: the next user gets their own cache file and never sees these
//! letters.

use std::sync::{Arc, Mutex, PoisonError};

use chrono::{DateTime, Utc};
use jsjb_core::org::UnitTree;
use jsjb_core::workflow::Actor;
use jsjb_proto::Me;
use jsjb_store::StoreHandle;
use jsjb_sync::{ServerClient, SyncHandle};
use tauri::async_runtime::JoinHandle;

use crate::ipc::SessionInfo;

/// Everything of one signed-in server + user.
pub struct Session {
    pub server_url: String,
    pub me: Me,
    pub tree: Arc<UnitTree>,
    /// Carries the session token.
    pub client: ServerClient,
    pub store: StoreHandle,
    pub sync: SyncHandle,
    tasks: Mutex<Vec<JoinHandle<()>>>,
}

impl Session {
    pub fn new(
        server_url: String,
        me: Me,
        tree: Arc<UnitTree>,
        client: ServerClient,
        store: StoreHandle,
        sync: SyncHandle,
    ) -> Session {
        Session {
            server_url,
            me,
            tree,
            client,
            store,
            sync,
            tasks: Mutex::new(Vec::new()),
        }
    }

    pub fn info(&self) -> SessionInfo {
        SessionInfo {
            server_url: self.server_url.clone(),
            me: self.me.clone(),
        }
    }

    /// The user as core's rules see them.
    pub fn actor(&self) -> Actor {
        Actor {
            user: self.me.user_id,
            unit: self.me.unit_id,
            roles: self.me.roles.clone(),
        }
    }

    /// The server's time as the sync engine estimates it.
    pub fn now(&self) -> DateTime<Utc> {
        self.sync.server_now()
    }

    /// Starts owning the tasks that forward this session's news (stopped with it).
    pub(crate) fn keep_tasks(&self, tasks: Vec<JoinHandle<()>>) {
        *self.tasks.lock().unwrap_or_else(PoisonError::into_inner) = tasks;
    }

    /// Stops the engine and the forwarding tasks. The cache closes when the last
    /// handle (this session's, or a command's still running) is dropped.
    pub(crate) async fn stop(&self) {
        self.sync.shutdown().await;
        let tasks = std::mem::take(&mut *self.tasks.lock().unwrap_or_else(PoisonError::into_inner));
        for task in tasks {
            task.abort();
        }
    }
}
