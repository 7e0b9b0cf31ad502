//! The engine's decisions as plain functions: how long to back off, what a push result
//! means for the outbox, how far the workstation's clock is off, when to wake up.
//!
//! Following Atuin's split, nothing here does IO or reads a clock: the executor in
//! `engine.rs` gathers the inputs, asks these functions, and performs the answer. That
//! keeps every rule testable to the millisecond without a server.

use std::time::Duration;

use chrono::{DateTime, Utc};
use jsjb_core::letter::LetterId;
use jsjb_proto::{ActionResponse, AuditHead, AuditHeadAnswer, Change, LetterRecord, SyncPage};
use serde::Serialize;
use tokio::time::Instant;
use ts_rs::TS;

use crate::client::ClientError;

/// The delay before retry number `attempt` (1 for the first retry): exponential from
/// `base`, capped at `cap`, with "equal jitter" — half the delay fixed, half random —
/// so a room of desktops that lost the server together does not come back in lockstep,
/// yet none retries at once. `jitter` is a random number in `[0, 1)`.
pub fn backoff_delay(attempt: u32, base: Duration, cap: Duration, jitter: f64) -> Duration {
    let exponent = attempt.saturating_sub(1).min(30);
    let full = base.saturating_mul(1u32 << exponent).min(cap);
    let half = full / 2;
    half + half.mul_f64(jitter.clamp(0.0, 1.0))
}

/// One measurement of the server's clock against ours.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OffsetSample {
    /// Server clock minus workstation clock, in milliseconds.
    pub offset_ms: i64,
    /// The round trip the sample was taken in: its uncertainty is half of it.
    pub rtt_ms: i64,
}

/// Estimates the offset from one request: the server stamped `server_time` somewhere
/// between `sent` and `received` (local times); the midpoint is the best guess
/// (Cristian's algorithm), wrong by at most half the round trip.
pub fn offset_sample(
    sent: DateTime<Utc>,
    received: DateTime<Utc>,
    server_time: DateTime<Utc>,
) -> OffsetSample {
    // A local clock stepped backwards during the request gives a negative round trip;
    // count it as zero rather than trust a negative uncertainty.
    let rtt = (received - sent).max(chrono::TimeDelta::zero());
    let midpoint = sent + rtt / 2;
    OffsetSample {
        offset_ms: (server_time - midpoint).num_milliseconds(),
        rtt_ms: rtt.num_milliseconds(),
    }
}

/// Of two samples, the one with the shorter round trip: it bounds the error tighter.
pub fn better_sample(a: Option<OffsetSample>, b: OffsetSample) -> OffsetSample {
    match a {
        Some(a) if a.rtt_ms <= b.rtt_ms => a,
        _ => b,
    }
}

/// What to do with an outbox entry after the server answered (or did not).
#[derive(Debug)]
pub enum PushDecision {
    /// Accepted (or a replay of an earlier acceptance): forget the entry, store the
    /// letter as it is now.
    Accepted(Box<LetterRecord>),
    /// The server will never accept it as it is: keep it as failed with the reason for
    /// the officer, return the letter to the server's state, go on with the next entry.
    Refused {
        code: String,
        message: String,
        current: Option<Box<LetterRecord>>,
    },
    /// The server could not be asked (offline, timeout, 5xx, throttled): keep the entry
    /// pending, stop pushing, and retry later with the same idempotency key.
    Retry(ClientError),
    /// The session is gone: nothing can be pushed until the user signs in again.
    SessionExpired,
}

/// Reads a push result. Every 4xx but 401, 408 and 429 is a refusal: the same request
/// would get the same answer, and holding it at the head of the queue would block
/// every later action behind it.
pub fn decide_push(result: Result<ActionResponse, ClientError>) -> PushDecision {
    match result {
        Ok(response) => PushDecision::Accepted(Box::new(response.letter)),
        Err(ClientError::Unauthorized { .. }) => PushDecision::SessionExpired,
        Err(ClientError::Refused { status, problem })
            if status != 408 && status != 429 && (400..500).contains(&status) =>
        {
            let message = problem
                .detail
                .clone()
                .unwrap_or_else(|| problem.title.clone());
            PushDecision::Refused {
                code: problem.code.clone(),
                message,
                current: problem.current,
            }
        }
        Err(e) => PushDecision::Retry(e),
    }
}

/// A poke names the latest cursor of the caller's scope; a pull is due only when it is
/// beyond what we already have (our own actions poke us too).
pub fn poke_needs_pull(poke_cursor: i64, known_cursor: i64) -> bool {
    poke_cursor > known_cursor
}

/// How far a pull that started at cursor `start` has come at `at`, when the server's
/// changes reach `latest`: 0–99 % (caught up is no progress at all, not 100 %).
pub fn catch_up_percent(start: i64, at: i64, latest: i64) -> u8 {
    let (done, all) = ((at - start).max(0), (latest - start).max(1));
    u8::try_from((done.saturating_mul(100) / all).clamp(0, 99)).unwrap_or(99)
}

/// The letters a page touches, in page order, each once: for `LettersChanged`.
pub fn changed_ids(page: &SyncPage) -> Vec<LetterId> {
    let mut ids = Vec::with_capacity(page.changes.len());
    for change in &page.changes {
        let id = match change {
            Change::Letter { letter } => letter.id,
            Change::Removed { letter_id } => *letter_id,
        };
        if !ids.contains(&id) {
            ids.push(id);
        }
    }
    ids
}

/// Why the server's audit chain cannot be trusted, as this desktop witnessed it. `kept`
/// is the head this desktop holds, as `seq:hash`: an administrator checks the server's
/// database against it with `jsjb-server admin audit-verify --head <kept>`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum AuditAlarm {
    /// The server's chain is shorter than the head kept here: entries were deleted (or
    /// the database was put back from an older copy).
    Truncated {
        kept: String,
        #[ts(type = "number")]
        server_seq: i64,
    },
    /// The server holds another entry where the kept head's is: the chain was rewritten.
    Forked { kept: String },
    /// The head is signed by another key than the one pinned for this server.
    KeyChanged {
        kept: String,
        pinned_fingerprint: String,
        server_fingerprint: String,
    },
    /// The head's signature does not verify with the key it names.
    BadSignature { kept: Option<String> },
}

/// What a fresh audit head means for the kept one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HeadVerdict {
    /// First sight (the key is pinned with it) or a proven extension: keep it.
    Keep,
    /// The chain has not moved.
    Unchanged,
    /// Report loudly; keep the old head as the evidence.
    Alarm(AuditAlarm),
}

/// Whether the head's signature verifies with the key it carries, and that key is the
/// one its fingerprint names.
pub fn head_signature_ok(head: &AuditHead) -> bool {
    let Ok(key) = jsjb_signoff::PublicKey::from_pem(&head.public_key_pem) else {
        return false;
    };
    let Ok(signature) = jsjb_signoff::b64::decode(&head.signature) else {
        return false;
    };
    key.fingerprint().is_ok_and(|f| f == head.key_fingerprint)
        && key.verify(&head.signed_message(), &signature).is_ok()
}

/// Judges the server's answer against the head kept here. Each entry's hash covers the
/// one before it, so the server's entry at the kept `seq` having the kept hash proves
/// the chain still starts with everything this desktop saw; anything else is reported.
/// `answer.known` must be for `kept.seq` (the engine asks for it).
pub fn judge_head(kept: Option<&AuditHead>, answer: &AuditHeadAnswer) -> HeadVerdict {
    let head = &answer.head;
    if !head_signature_ok(head) {
        return HeadVerdict::Alarm(AuditAlarm::BadSignature {
            kept: kept.map(AuditHead::reference),
        });
    }
    let Some(kept) = kept else {
        return HeadVerdict::Keep;
    };
    if head.key_fingerprint != kept.key_fingerprint {
        return HeadVerdict::Alarm(AuditAlarm::KeyChanged {
            kept: kept.reference(),
            pinned_fingerprint: kept.key_fingerprint.clone(),
            server_fingerprint: head.key_fingerprint.clone(),
        });
    }
    if head.seq < kept.seq {
        return HeadVerdict::Alarm(AuditAlarm::Truncated {
            kept: kept.reference(),
            server_seq: head.seq,
        });
    }
    let proven = answer
        .known
        .as_ref()
        .is_some_and(|k| k.seq == kept.seq && k.hash == kept.hash);
    if !proven || (head.seq == kept.seq && head.hash != kept.hash) {
        return HeadVerdict::Alarm(AuditAlarm::Forked {
            kept: kept.reference(),
        });
    }
    if head.seq == kept.seq {
        HeadVerdict::Unchanged
    } else {
        HeadVerdict::Keep
    }
}

/// The engine loop's state, as far as deciding when to wake is concerned.
#[derive(Debug, Clone, Copy)]
pub struct LoopState {
    /// A pull is wanted (start, poke, poll, user request).
    pub need_pull: bool,
    /// A push is wanted (start, new outbox entry, user request).
    pub need_push: bool,
    /// After a failure: not before this instant.
    pub retry_at: Option<Instant>,
    /// The SSE stream is connected: pokes will tell us about changes.
    pub live: bool,
    /// When the last successful cycle ended.
    pub last_cycle: Option<Instant>,
    /// The session expired: wait for a new token.
    pub session_expired: bool,
}

/// How often to pull without being poked.
#[derive(Debug, Clone, Copy)]
pub struct Intervals {
    /// While the SSE stream is down.
    pub poll: Duration,
    /// While it is up: a safety net against a lost poke.
    pub safety: Duration,
}

/// What the loop does next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wake {
    /// Run a cycle (push and/or pull) now.
    RunNow,
    /// Wait for a command, a poke, or this instant, whichever comes first; at the
    /// instant, run a full cycle.
    At(Instant),
    /// Wait for a command only.
    Idle,
}

pub fn next_wake(state: &LoopState, intervals: Intervals, now: Instant) -> Wake {
    if state.session_expired {
        return Wake::Idle;
    }
    if let Some(at) = state.retry_at
        && at > now
    {
        return Wake::At(at);
    }
    if state.need_pull || state.need_push || state.retry_at.is_some() {
        return Wake::RunNow;
    }
    let every = if state.live {
        intervals.safety
    } else {
        intervals.poll
    };
    match state.last_cycle {
        Some(last) if last + every > now => Wake::At(last + every),
        _ => Wake::RunNow,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeDelta;
    use jsjb_proto::Problem;
    use rstest::rstest;

    const S: Duration = Duration::from_secs(1);

    #[rstest]
    #[case(1, 0.0, 500)]
    #[case(1, 0.999_999, 999)]
    #[case(2, 0.0, 1_000)]
    #[case(3, 0.5, 3_000)]
    #[case(6, 0.0, 16_000)]
    #[case(7, 0.0, 30_000)] // 64 s capped at 60 s
    #[case(7, 0.999_999, 59_999)]
    #[case(40, 0.0, 30_000)] // no overflow for a day of retries
    #[case(u32::MAX, 1.0, 60_000)]
    fn backoff_doubles_up_to_the_cap_with_half_jitter(
        #[case] attempt: u32,
        #[case] jitter: f64,
        #[case] millis: u64,
    ) {
        let d = backoff_delay(attempt, S, 60 * S, jitter);
        assert_eq!(d.as_millis() as u64, millis);
    }

    #[rstest]
    #[case::first_page_of_a_first_sync(0, 500, 100_000, 0)]
    #[case::half_way(0, 50_000, 100_000, 50)]
    #[case::from_where_the_pull_started(40_000, 70_000, 100_000, 50)]
    #[case::the_last_page_but_one_is_not_done(0, 99_999, 100_000, 99)]
    #[case::a_cursor_past_latest_changes_nothing(0, 100_500, 100_000, 99)]
    #[case::nothing_to_go(100, 100, 100, 0)]
    #[case::a_latest_behind_the_start(100, 150, 50, 99)]
    fn a_long_pull_s_progress(
        #[case] start: i64,
        #[case] at: i64,
        #[case] latest: i64,
        #[case] percent: u8,
    ) {
        assert_eq!(catch_up_percent(start, at, latest), percent);
    }

    #[test]
    fn backoff_is_never_zero() {
        assert!(backoff_delay(0, S, 60 * S, 0.0) >= S / 2);
    }

    fn at(ms: i64) -> DateTime<Utc> {
        DateTime::<Utc>::UNIX_EPOCH + TimeDelta::milliseconds(1_800_000_000_000 + ms)
    }

    #[test]
    fn offset_is_measured_from_the_midpoint() {
        // Workstation 15 minutes slow: the server stamped 900 000 ms ahead of our midpoint.
        let s = offset_sample(at(0), at(200), at(100 + 900_000));
        assert_eq!(
            s,
            OffsetSample {
                offset_ms: 900_000,
                rtt_ms: 200
            }
        );
        let fast = offset_sample(at(1_000), at(1_040), at(1_020 - 60_000));
        assert_eq!(fast.offset_ms, -60_000);
    }

    #[test]
    fn a_clock_stepping_back_mid_request_counts_as_zero_rtt() {
        let s = offset_sample(at(100), at(50), at(100));
        assert_eq!(
            s,
            OffsetSample {
                offset_ms: 0,
                rtt_ms: 0
            }
        );
    }

    #[test]
    fn the_shorter_round_trip_wins() {
        let slow = OffsetSample {
            offset_ms: 10,
            rtt_ms: 900,
        };
        let quick = OffsetSample {
            offset_ms: 12,
            rtt_ms: 30,
        };
        assert_eq!(better_sample(None, slow), slow);
        assert_eq!(better_sample(Some(slow), quick), quick);
        assert_eq!(better_sample(Some(quick), slow), quick);
    }

    fn problem(status: u16, code: &str) -> Problem {
        Problem {
            type_uri: "about:blank".into(),
            title: "t".into(),
            status,
            detail: Some(format!("detail of {code}")),
            code: code.into(),
            current: None,
            field: None,
            retry_after: None,
        }
    }

    fn refused(status: u16, code: &str) -> ClientError {
        ClientError::Refused {
            status,
            problem: Box::new(problem(status, code)),
        }
    }

    #[rstest]
    #[case(409, "stale_version")]
    #[case(403, "out_of_scope")]
    #[case(403, "role_not_allowed")]
    #[case(422, "wrong_state")]
    #[case(422, "invalid_input")]
    #[case(404, "not_found")]
    #[case(400, "malformed_json")]
    fn client_errors_refuse_the_entry(#[case] status: u16, #[case] code: &str) {
        match decide_push(Err(refused(status, code))) {
            PushDecision::Refused {
                code: c,
                message,
                current,
            } => {
                assert_eq!(c, code);
                assert_eq!(message, format!("detail of {code}"));
                assert!(current.is_none());
            }
            other => panic!("{other:?}"),
        }
    }

    #[rstest]
    #[case(refused(429, "too_many_requests"))]
    #[case(refused(408, "request_timeout"))]
    #[case(ClientError::Server { status: 503, problem: None })]
    #[case(ClientError::Unreachable("connection refused".into()))]
    #[case(ClientError::Decode("eof".into()))]
    fn transient_errors_keep_the_entry(#[case] e: ClientError) {
        assert!(matches!(decide_push(Err(e)), PushDecision::Retry(_)));
    }

    #[test]
    fn unauthorized_stops_the_push() {
        let e = ClientError::Unauthorized {
            code: "session_expired".into(),
        };
        assert!(matches!(decide_push(Err(e)), PushDecision::SessionExpired));
    }

    #[rstest]
    #[case(5, 4, true)]
    #[case(4, 4, false)]
    #[case(3, 4, false)]
    fn pokes_at_or_below_our_cursor_are_ignored(
        #[case] poke: i64,
        #[case] known: i64,
        #[case] pull: bool,
    ) {
        assert_eq!(poke_needs_pull(poke, known), pull);
    }

    fn idle_state() -> LoopState {
        LoopState {
            need_pull: false,
            need_push: false,
            retry_at: None,
            live: true,
            last_cycle: None,
            session_expired: false,
        }
    }

    const IV: Intervals = Intervals {
        poll: Duration::from_secs(30),
        safety: Duration::from_secs(300),
    };

    #[test]
    fn wakes() {
        let now = Instant::now();
        let last = Some(now);
        // Nothing done yet: run.
        assert_eq!(next_wake(&idle_state(), IV, now), Wake::RunNow);
        // Live and just synced: the safety pull in 5 minutes.
        let live = LoopState {
            last_cycle: last,
            ..idle_state()
        };
        assert_eq!(next_wake(&live, IV, now), Wake::At(now + IV.safety));
        // SSE down: poll in 30 s.
        let polling = LoopState {
            live: false,
            ..live
        };
        assert_eq!(next_wake(&polling, IV, now), Wake::At(now + IV.poll));
        // A poke: run now.
        let poked = LoopState {
            need_pull: true,
            ..live
        };
        assert_eq!(next_wake(&poked, IV, now), Wake::RunNow);
        // Backing off: even a poke waits for the retry instant.
        let later = now + Duration::from_secs(8);
        let backing = LoopState {
            retry_at: Some(later),
            ..poked
        };
        assert_eq!(next_wake(&backing, IV, now), Wake::At(later));
        assert_eq!(next_wake(&backing, IV, later), Wake::RunNow);
        // Session expired: only a command wakes us.
        let expired = LoopState {
            session_expired: true,
            ..poked
        };
        assert_eq!(next_wake(&expired, IV, now), Wake::Idle);
    }

    mod audit_heads {
        use super::super::*;
        use jsjb_proto::AuditEntryHash;
        use jsjb_signoff::{Signer, SoftwareSigner, b64};

        fn signed(signer: &SoftwareSigner, seq: i64, hash: &str) -> AuditHead {
            let signed_at = chrono::Utc::now();
            let key = signer.public_key();
            let message = jsjb_proto::audit_head_message(seq, hash, signed_at);
            AuditHead {
                seq,
                hash: hash.to_owned(),
                signed_at,
                public_key_pem: key.to_pem().expect("pem"),
                key_fingerprint: key.fingerprint().expect("fp"),
                signature: b64::encode(&signer.sign(&message).expect("sign")),
            }
        }

        fn answer(head: AuditHead, known: Option<(i64, &str)>) -> AuditHeadAnswer {
            AuditHeadAnswer {
                head,
                known: known.map(|(seq, hash)| AuditEntryHash {
                    seq,
                    hash: hash.to_owned(),
                }),
            }
        }

        #[test]
        fn a_head_is_kept_only_when_the_server_proves_it_extends_the_kept_one() {
            let key = SoftwareSigner::generate().expect("key");
            let (a, b, c) = ("a".repeat(64), "b".repeat(64), "c".repeat(64));
            let kept = signed(&key, 10, &a);
            // First sight pins the key.
            assert_eq!(
                judge_head(None, &answer(kept.clone(), None)),
                HeadVerdict::Keep
            );
            // Longer, and entry 10 is still the one we saw.
            let longer = signed(&key, 12, &b);
            assert_eq!(
                judge_head(Some(&kept), &answer(longer.clone(), Some((10, &a)))),
                HeadVerdict::Keep
            );
            assert_eq!(
                judge_head(Some(&kept), &answer(signed(&key, 10, &a), Some((10, &a)))),
                HeadVerdict::Unchanged
            );
            // Shorter: the tail is gone.
            assert_eq!(
                judge_head(Some(&kept), &answer(signed(&key, 8, &c), None)),
                HeadVerdict::Alarm(AuditAlarm::Truncated {
                    kept: kept.reference(),
                    server_seq: 8
                })
            );
            // Longer, but entry 10 is another one (rewritten and re-hashed), or missing.
            let forked = HeadVerdict::Alarm(AuditAlarm::Forked {
                kept: kept.reference(),
            });
            assert_eq!(
                judge_head(Some(&kept), &answer(longer.clone(), Some((10, &c)))),
                forked
            );
            assert_eq!(judge_head(Some(&kept), &answer(longer, None)), forked);
            assert_eq!(
                judge_head(Some(&kept), &answer(signed(&key, 10, &c), Some((10, &c)))),
                forked
            );
            // Another key.
            let other = SoftwareSigner::generate().expect("key");
            assert!(matches!(
                judge_head(Some(&kept), &answer(signed(&other, 12, &b), Some((10, &a)))),
                HeadVerdict::Alarm(AuditAlarm::KeyChanged { .. })
            ));
            // A signature that does not cover what the head says.
            let mut lying = signed(&key, 12, &b);
            lying.seq = 13;
            assert!(matches!(
                judge_head(Some(&kept), &answer(lying, Some((10, &a)))),
                HeadVerdict::Alarm(AuditAlarm::BadSignature { .. })
            ));
        }
    }
}
