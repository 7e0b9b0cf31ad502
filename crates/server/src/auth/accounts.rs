//! What logins and sessions share at run time, held by the server's state: the
//! password-checking threads, the over-limit addresses' slow lanes, and the session
//! revocations announced to the open streams. A leaf: no handler lives here.

use std::collections::HashMap;
use std::sync::mpsc::{SyncSender, TrySendError};
use std::sync::{Arc, Mutex, OnceLock};

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use jsjb_core::org::UserId;
use rand_core::OsRng;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, broadcast, oneshot};

use crate::config::Config;
use crate::error::ApiError;

fn argon2(memory_kib: u32) -> Result<Argon2<'static>, ApiError> {
    let params = Params::new(memory_kib, 2, 1, None)
        .map_err(|e| ApiError::Internal(format!("argon2 parameters: {e}")))?;
    Ok(Argon2::new(Algorithm::Argon2id, Version::V0x13, params))
}

/// Hashes a password with argon2id on a blocking thread (it takes tens of ms by design).
pub async fn hash_password(password: String, memory_kib: u32) -> Result<String, ApiError> {
    tokio::task::spawn_blocking(move || {
        let salt = SaltString::generate(&mut OsRng);
        argon2(memory_kib)?
            .hash_password(password.as_bytes(), &salt)
            .map(|h| h.to_string())
            .map_err(|e| ApiError::Internal(format!("hashing a password: {e}")))
    })
    .await
    .map_err(|e| ApiError::Internal(format!("hash task: {e}")))?
}

/// Checks a password against a stored PHC string. The parameters come from the
/// stored hash, so old hashes keep verifying after the configured cost changes.
fn verify_blocking(password: &str, phc: &str) -> Result<bool, ApiError> {
    let parsed = PasswordHash::new(phc)
        .map_err(|e| ApiError::Internal(format!("stored password hash is unreadable: {e}")))?;
    Ok(Argon2::default()
        .verify_password(password.as_bytes(), &parsed)
        .is_ok())
}

type PoolJob = Box<dyn FnOnce() + Send>;

/// The threads that check passwords, and the bounded queue in front of them.
///
/// Their own threads, not tokio's blocking pool: the SQLite readers run there, and a
/// flood of logins (each one argon2 check, tens of ms of CPU and 19 MiB by design)
/// must queue here instead of in front of the desks' reads. When the queue is full a
/// login is refused at once ([`ApiError::LoginsBusy`], 503 with Retry-After) rather
/// than waiting — and holding its memory — behind the flood.
pub struct PasswordPool {
    jobs: Option<SyncSender<PoolJob>>,
}

impl PasswordPool {
    /// Starts `workers` threads; `queue` checks may wait for them. The threads end
    /// when the pool is dropped.
    pub fn new(workers: usize, queue: usize) -> PasswordPool {
        let (jobs, rx) = std::sync::mpsc::sync_channel::<PoolJob>(queue.max(1));
        let rx = Arc::new(Mutex::new(rx));
        let mut started = 0;
        for i in 0..workers.max(1) {
            let rx = Arc::clone(&rx);
            let spawned = std::thread::Builder::new()
                .name(format!("jsjb-argon2-{i}"))
                .spawn(move || {
                    loop {
                        // The lock is held only while waiting for the next job.
                        let job = rx.lock().unwrap_or_else(|e| e.into_inner()).recv();
                        match job {
                            Ok(job) => job(),
                            Err(_) => break,
                        }
                    }
                });
            match spawned {
                Ok(_) => started += 1,
                Err(e) => tracing::error!(%e, "cannot start a password-checking thread"),
            }
        }
        PasswordPool {
            // Without a single thread every login would wait forever; refuse instead.
            jobs: (started > 0).then_some(jobs),
        }
    }

    /// Checks `password` against `phc` on the pool; `LoginsBusy` when its queue is full.
    pub async fn verify(&self, password: String, phc: String) -> Result<bool, ApiError> {
        let jobs = self
            .jobs
            .as_ref()
            .ok_or_else(|| ApiError::Internal("no password-checking thread runs".to_owned()))?;
        let (tx, rx) = oneshot::channel();
        let job: PoolJob = Box::new(move || {
            // The login may have been abandoned meanwhile; nobody to tell.
            let _ = tx.send(verify_blocking(&password, &phc));
        });
        match jobs.try_send(job) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) => return Err(ApiError::LoginsBusy),
            Err(TrySendError::Disconnected(_)) => {
                return Err(ApiError::Internal(
                    "the password-checking threads have stopped".to_owned(),
                ));
            }
        }
        rx.await
            .map_err(|_| ApiError::Internal("a password check was lost".to_owned()))?
    }
}

/// Logins from one over-limit address in its slow lane (waiting or being checked)
/// beyond which the next ones are refused outright (a flood from one address).
const SLOW_LANE_WAITERS: usize = 8;
/// The pause before each check of an over-limit address's password.
const SLOW_LANE_PAUSE: std::time::Duration = std::time::Duration::from_secs(1);

/// Over-limit client addresses get one password check at a time, each after a pause:
/// guessing from there slows to about one guess a second, while the right password
/// from a desk at the same address still gets in (after at most that pause).
#[derive(Default)]
pub(super) struct SlowLanes {
    lanes: Arc<Mutex<HashMap<String, Lane>>>,
}

struct Lane {
    one_at_a_time: Arc<Semaphore>,
    /// Turns taken or waited for; the lane is dropped from the map at 0.
    turns: usize,
}

/// A turn in an address's slow lane: held until the login is answered.
pub(super) struct SlowLaneTurn {
    lanes: Arc<Mutex<HashMap<String, Lane>>>,
    key: String,
    _permit: Option<OwnedSemaphorePermit>,
}

impl Drop for SlowLaneTurn {
    fn drop(&mut self) {
        let mut lanes = self.lanes.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(lane) = lanes.get_mut(&self.key) {
            lane.turns = lane.turns.saturating_sub(1);
            if lane.turns == 0 {
                lanes.remove(&self.key);
            }
        }
    }
}

impl SlowLanes {
    pub(super) async fn enter(
        &self,
        key: &str,
        retry_after_secs: u64,
    ) -> Result<SlowLaneTurn, ApiError> {
        let one_at_a_time = {
            let mut lanes = self.lanes.lock().unwrap_or_else(|e| e.into_inner());
            let lane = lanes.entry(key.to_owned()).or_insert_with(|| Lane {
                one_at_a_time: Arc::new(Semaphore::new(1)),
                turns: 0,
            });
            if lane.turns >= SLOW_LANE_WAITERS {
                return Err(ApiError::TooManyAttempts { retry_after_secs });
            }
            lane.turns += 1;
            Arc::clone(&lane.one_at_a_time)
        };
        // From here the turn is counted; dropping it (also when the client goes away
        // while waiting) gives it back.
        let mut turn = SlowLaneTurn {
            lanes: Arc::clone(&self.lanes),
            key: key.to_owned(),
            _permit: None,
        };
        let permit = one_at_a_time
            .acquire_owned()
            .await
            .map_err(|_| ApiError::Internal("slow lane closed".to_owned()))?;
        turn._permit = Some(permit);
        tokio::time::sleep(SLOW_LANE_PAUSE).await;
        Ok(turn)
    }
}

/// Sessions that just ended, announced to the open SSE streams.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Revoked {
    /// One session (by token hash): a logout.
    Session(String),
    /// Every session of a user: a password reset.
    User(UserId),
}

/// Announcements a slow stream may fall behind by before it checks its session in
/// the database instead.
const REVOCATION_BACKLOG: usize = 256;

/// What logins and sessions share at run time (held by the server's state).
// Per node by design: the argon2 queue and slow lanes ration this node's own CPU.
pub struct Accounts {
    pub passwords: PasswordPool,
    pub(super) slow_lanes: SlowLanes,
    /// Revocations as they happen, so a stream ends with its session, not at its next
    /// check. Each stream matches them against its own session: no database read.
    revoked: broadcast::Sender<Revoked>,
}

impl Accounts {
    pub fn new(config: &Config) -> Accounts {
        Accounts {
            passwords: PasswordPool::new(config.argon2_workers(), config.argon2_queue),
            slow_lanes: SlowLanes::default(),
            revoked: broadcast::channel(REVOCATION_BACKLOG).0,
        }
    }

    /// Announces a revocation to the open streams.
    pub fn revoked(&self, what: Revoked) {
        // No stream open: nobody to tell.
        let _ = self.revoked.send(what);
    }

    pub fn watch_revocations(&self) -> broadcast::Receiver<Revoked> {
        self.revoked.subscribe()
    }
}

/// A hash to verify against when the user name is unknown, so that a wrong user name
/// takes as long as a wrong password and does not reveal which names exist.
pub(super) async fn decoy_hash(memory_kib: u32) -> Result<String, ApiError> {
    static DECOY: OnceLock<String> = OnceLock::new();
    if let Some(h) = DECOY.get() {
        return Ok(h.clone());
    }
    let h = hash_password("decoy password".to_owned(), memory_kib).await?;
    // (Computed once per process, on the blocking pool: it is not a login's work.)
    Ok(DECOY.get_or_init(|| h).clone())
}

/// Password rules, checked when a password is set (not at login).
pub fn check_new_password(password: &str) -> Result<(), ApiError> {
    use jsjb_proto::limits::{MAX_PASSWORD_CHARS, MIN_PASSWORD_CHARS};
    let n = password.chars().count();
    if n < MIN_PASSWORD_CHARS {
        return Err(ApiError::invalid(
            "password",
            format!("the password needs at least {MIN_PASSWORD_CHARS} characters"),
        ));
    }
    if n > MAX_PASSWORD_CHARS {
        return Err(ApiError::invalid(
            "password",
            format!("the password may have at most {MAX_PASSWORD_CHARS} characters"),
        ));
    }
    Ok(())
}
