//! A new letter dispatched by the routing rules, through the same action pipeline as
//! a desk's dispatch, recorded with the rule's name as the actor.

use jsjb_core::letter::LetterId;
use jsjb_core::org::{Role, UserId};
use jsjb_core::workflow::{Action, Actor as CoreActor};
use jsjb_storage::{ActionCommit, ActionOutcome, Actor};

use crate::actions;
use crate::idempotency;
use crate::state::AppState;

/// Applies the routing rules to a letter just received at the city desk. A rule whose
/// unit cannot take the letter is logged and the letter stays with the desk.
pub async fn route_new_letter(state: &AppState, letter: LetterId) {
    let rules = state.routing_rules();
    if rules.rules.is_empty() {
        return;
    }
    let record = match state.store.letter(letter).await {
        Ok(Some(record)) => record,
        Ok(None) => return,
        Err(e) => {
            tracing::warn!(%e, letter = letter.0, "routing: cannot read the letter");
            return;
        }
    };
    let Some((_, rule)) = rules.route(record.category, &record.subject, &record.body) else {
        return;
    };
    let decide = match actions::rules(state).await {
        Ok(r) => actions::decision(
            r,
            // The rules act for the desk holding the letter: a dispatcher of its unit.
            CoreActor {
                user: UserId(0),
                unit: record.unit_id,
                roles: vec![Role::Dispatcher],
            },
            state.time.now(),
            Some(record.version),
            Action::Dispatch {
                to: rule.to_unit,
                note: format!("自动分派：{}", rule.name),
            },
            actions::Extras::default(),
        ),
        Err(e) => {
            tracing::warn!(%e, "routing: cannot load the unit tree");
            return;
        }
    };
    let commit = ActionCommit {
        letter,
        actor: Actor {
            user: None,
            unit: Some(record.unit_id),
            role: Some(Role::Dispatcher),
            label: format!("routing:{}", rule.name),
            workstation: None,
        },
        at: state.time.now(),
        idempotency: None,
        audit_action: "letter.dispatch",
        history_full: idempotency::history_full(),
    };
    match state.store.apply_action(commit, decide).await {
        Ok(ActionOutcome::Applied {
            change_seq,
            prev_unit,
            letter,
            ..
        }) => {
            state
                .publish_change(change_seq, &[letter.unit_id, prev_unit])
                .await;
        }
        Ok(ActionOutcome::Refused(answer)) => {
            tracing::warn!(rule = %rule.name, body = %answer.body, "routing rule refused by the rules; the desk keeps the letter");
        }
        Ok(_) => {}
        Err(e) => tracing::warn!(%e, rule = %rule.name, "routing failed"),
    }
}
