//! The action pipeline every way of acting on a letter goes through (a desk's POST,
//! the chief's signed approval, the routing rules, the desk-typed letter's first
//! dispatch): who the actor is to the rules, the facts from outside the letter some
//! actions are checked against, and the decision run inside the storage transaction
//! (scope first, then the version, then `jsjb_core::workflow::decide`).

use std::sync::Arc;

use chrono::{DateTime, Utc};
use jsjb_core::letter::LetterId;
use jsjb_core::org::{Relation, Role, UnitTree};
use jsjb_core::rules::Rules as ClockRules;
use jsjb_core::workflow::{
    Action, ActionKind, Actor as CoreActor, DecisionContext, EventPayload, LetterStatus, decide,
};
use jsjb_proto::LetterRecord;
use jsjb_storage::{DecideFn, UserRecord};

use crate::auth::{Session, unit_tree};
use crate::error::ApiError;
use crate::idempotency::render;
use crate::state::AppState;

/// The audit verb of an action.
pub fn audit_action(kind: ActionKind) -> &'static str {
    match kind {
        ActionKind::Dispatch => "letter.dispatch",
        ActionKind::SignFor => "letter.sign_for",
        ActionKind::RecordContact => "letter.record_contact",
        ActionKind::GiveFirstFeedback => "letter.give_first_feedback",
        ActionKind::ReturnLetter => "letter.return",
        ActionKind::RuleReturn => "letter.rule_return",
        ActionKind::RequestExtension => "letter.request_extension",
        ActionKind::DecideExtension => "letter.decide_extension",
        ActionKind::AssignSupervisor => "letter.assign_supervisor",
        ActionKind::Chase => "letter.chase",
        ActionKind::SubmitFeedbackForm => "letter.submit_feedback_form",
        ActionKind::ApproveFeedbackForm => "letter.approve_feedback_form",
        ActionKind::RecordReturnVisit => "letter.record_return_visit",
        ActionKind::LinkThanks => "letter.link_thanks",
        ActionKind::Reclassify => "letter.reclassify",
    }
}

/// The core's view of a signed-in user.
pub fn core_actor(session: &Session) -> CoreActor {
    CoreActor {
        user: session.user_id,
        unit: session.unit_id,
        roles: session.roles.iter().copied().collect(),
    }
}

/// Facts from outside the letter that some actions are checked against, loaded before
/// the action's transaction.
#[derive(Default)]
pub struct Extras {
    /// For `assign_supervisor`: the named supervising officer.
    pub supervisor: Option<UserRecord>,
    /// For `link_thanks`: the unit holding the case thanked for.
    pub case_unit: Option<jsjb_core::org::UnitId>,
}

/// Everything the rules need, owned, so it can run inside the storage transaction.
pub struct Rules {
    pub tree: UnitTree,
    /// The clock rules (each letter's clocks under the era they started in).
    pub clock: Arc<ClockRules>,
    /// The configured problem classes a reclassification may use.
    pub problem_classes: Vec<String>,
}

/// Builds the decision run inside the action's transaction: version check, the core
/// transition function, and the checks that need `extras`.
pub fn decision(
    rules: Rules,
    actor: CoreActor,
    now: DateTime<Utc>,
    expected_version: Option<u32>,
    action: Action,
    extras: Extras,
) -> DecideFn {
    Box::new(move |record: &LetterRecord, status: &LetterStatus| {
        // Scope before anything else: a letter outside the caller's scope reads as absent
        // (as `GET` answers), so no later refusal — least of all `stale_version`, which
        // carries the letter — can tell a stranger anything about it.
        if !rules.tree.in_scope(actor.unit, status.unit) {
            return Err(render(&not_in_scope(record.id)));
        }
        if let Some(expected) = expected_version
            && expected != record.version
        {
            return Err(render(&ApiError::Stale {
                version: record.version,
                current: Box::new(record.clone()),
            }));
        }
        let policy = rules.clock.policy_for(&status.clock_inputs);
        let ctx = DecisionContext {
            actor: &actor,
            tree: &rules.tree,
            policy: &policy,
            calendar: rules.clock.calendar(),
            now,
        };
        let event = decide(&ctx, status, &action).map_err(|e| render(&ApiError::Rule(e)))?;
        check_extras(&rules, &actor, status, &event, &extras).map_err(|e| render(&e))?;
        Ok(event)
    })
}

fn check_extras(
    rules: &Rules,
    actor: &CoreActor,
    status: &LetterStatus,
    event: &EventPayload,
    extras: &Extras,
) -> Result<(), ApiError> {
    let tree = &rules.tree;
    match event {
        EventPayload::SupervisorAssigned { supervisor, .. } => {
            let Some(user) = extras.supervisor.as_ref().filter(|u| u.id == *supervisor) else {
                return Err(ApiError::invalid("supervisor", "no such user"));
            };
            if !user.active || !user.roles.contains(&Role::Supervisor) {
                return Err(ApiError::invalid(
                    "supervisor",
                    "the user named is not an active supervising officer (盯办民警)",
                ));
            }
            // A supervisor follows up cases of units below their own.
            if tree.relation(user.unit_id, status.unit) != Relation::Above {
                return Err(ApiError::invalid(
                    "supervisor",
                    "the supervising officer must belong to a unit above the handling unit",
                ));
            }
            Ok(())
        }
        EventPayload::ThanksLinked { .. } => match extras.case_unit {
            Some(unit) if tree.in_scope(actor.unit, unit) => Ok(()),
            _ => Err(ApiError::invalid(
                "case",
                "the case thanked for does not exist in your scope",
            )),
        },
        EventPayload::Reclassified { problem_tags, .. } => {
            match crate::reference::unknown_class(&rules.problem_classes, problem_tags) {
                Some(_) => Err(ApiError::invalid(
                    "problem_tags",
                    "not one of the configured problem classes (问题分类)",
                )),
                None => Ok(()),
            }
        }
        _ => Ok(()),
    }
}

/// The rules' inputs for this server.
pub async fn rules(state: &AppState) -> Result<Rules, ApiError> {
    Ok(Rules {
        tree: unit_tree(state).await?,
        clock: Arc::clone(&state.rules),
        problem_classes: state.config.problem_classes.clone(),
    })
}

/// Loads what `check_extras` needs for an action.
pub async fn extras_for(state: &AppState, action: &Action) -> Result<Extras, ApiError> {
    let mut extras = Extras::default();
    match action {
        Action::AssignSupervisor { supervisor, .. } => {
            extras.supervisor = state.store.user(*supervisor).await?;
        }
        Action::LinkThanks { case, .. } => {
            extras.case_unit = state.store.letter(*case).await?.map(|l| l.unit_id);
        }
        _ => {}
    }
    Ok(extras)
}

/// The answer for a letter the caller may not see: the same as for one that does not exist.
pub fn not_in_scope(id: LetterId) -> ApiError {
    ApiError::NotFound(format!("letter {} does not exist in your scope", id.0))
}
