//! The life cycle of a letter: the actions users ask for, the events that record what
//! happened, the fold of events into the letter's status, and the one transition
//! function that decides who may do what in which state.
//!
//! The server is the authority: it calls [`decide`] for every action and appends the
//! event it returns. The desktop calls the same function to show only the actions the
//! officer may take and to apply its own actions optimistically while offline.

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use ts_rs::TS;

use crate::calendar::WorkCalendar;
use crate::clock::{
    self, ClockInputs, ClockState, DispatchSpan, ExtensionGrant, Holding, LetterClocks, Policy,
};
use crate::letter::{
    Category, ContactMethod, ContactOutcome, FormDecision, LetterId, LetterState, ReturnReason,
    Satisfaction,
};
use crate::org::{Relation, Role, Tier, UnitId, UnitTree, UserId};

/// Longest free text an officer may attach to an action (notes, opinions, replies).
pub const MAX_TEXT_CHARS: usize = 5000;
/// How far in the future a reported contact time may lie (workstation clocks drift).
pub const CONTACT_TIME_TOLERANCE_SECS: i64 = 5 * 60;

/// Who acts: a user of a unit holding one or more roles.
///
/// A deputy holding a valid delegation (代签) from the chief acts with `Role::Chief`
/// added by the server for the delegated unit; the delegation itself is recorded there.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct Actor {
    pub user: UserId,
    pub unit: UnitId,
    pub roles: Vec<Role>,
}

impl Actor {
    pub fn has(&self, role: Role) -> bool {
        self.roles.contains(&role)
    }
}

/// The names of the actions, for permissions and for the UI's list of what it may offer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, TS)]
#[serde(rename_all = "snake_case")]
pub enum ActionKind {
    /// 派发/流转
    Dispatch,
    /// 签收
    SignFor,
    /// 联系来信人
    RecordContact,
    /// 首次反馈
    GiveFirstFeedback,
    /// 退单
    ReturnLetter,
    /// 退单裁定: the desk sends a returned letter back to the unit with a ruling.
    RuleReturn,
    /// 申请延期
    RequestExtension,
    /// 延期审批
    DecideExtension,
    /// 盯办
    AssignSupervisor,
    /// 催办
    Chase,
    /// 提交反馈表
    SubmitFeedbackForm,
    /// 一把手签批
    ApproveFeedbackForm,
    /// 回访
    RecordReturnVisit,
    /// 关联感谢信: a thank-you letter is linked to the case it thanks for and filed.
    LinkThanks,
    /// 重新分类: a desk corrects the letter's category and tags its problem classes.
    Reclassify,
}

impl ActionKind {
    pub const ALL: [ActionKind; 15] = [
        ActionKind::Dispatch,
        ActionKind::SignFor,
        ActionKind::RecordContact,
        ActionKind::GiveFirstFeedback,
        ActionKind::ReturnLetter,
        ActionKind::RuleReturn,
        ActionKind::RequestExtension,
        ActionKind::DecideExtension,
        ActionKind::AssignSupervisor,
        ActionKind::Chase,
        ActionKind::SubmitFeedbackForm,
        ActionKind::ApproveFeedbackForm,
        ActionKind::RecordReturnVisit,
        ActionKind::LinkThanks,
        ActionKind::Reclassify,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ActionKind::Dispatch => "dispatch",
            ActionKind::SignFor => "sign_for",
            ActionKind::RecordContact => "record_contact",
            ActionKind::GiveFirstFeedback => "give_first_feedback",
            ActionKind::ReturnLetter => "return_letter",
            ActionKind::RuleReturn => "rule_return",
            ActionKind::RequestExtension => "request_extension",
            ActionKind::DecideExtension => "decide_extension",
            ActionKind::AssignSupervisor => "assign_supervisor",
            ActionKind::Chase => "chase",
            ActionKind::SubmitFeedbackForm => "submit_feedback_form",
            ActionKind::ApproveFeedbackForm => "approve_feedback_form",
            ActionKind::RecordReturnVisit => "record_return_visit",
            ActionKind::LinkThanks => "link_thanks",
            ActionKind::Reclassify => "reclassify",
        }
    }

    pub fn parse(s: &str) -> Option<ActionKind> {
        ActionKind::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

/// What a user asks to do to a letter, with its input.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(tag = "action", rename_all = "snake_case", deny_unknown_fields)]
pub enum Action {
    Dispatch {
        to: UnitId,
        #[serde(default)]
        note: String,
    },
    SignFor,
    RecordContact {
        method: ContactMethod,
        outcome: ContactOutcome,
        /// When the contact happened (it may be logged a little later).
        contacted_at: DateTime<Utc>,
        #[serde(default)]
        note: String,
        /// 约定回拨: when the officer will call back a writer not reached (only with
        /// `unreachable`; not before the attempt).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[ts(optional)]
        callback_at: Option<DateTime<Utc>>,
    },
    GiveFirstFeedback {
        text: String,
    },
    ReturnLetter {
        reason: ReturnReason,
        note: String,
    },
    /// 退单裁定 by the desk the letter was returned to.
    RuleReturn {
        ruling: String,
        /// What the desk rules; a body without it sends the letter back (the rule before
        /// the desk could uphold a return).
        #[serde(default)]
        outcome: RulingOutcome,
    },
    RequestExtension {
        reason: String,
        legal_basis: String,
        requested_due: DateTime<Utc>,
    },
    DecideExtension {
        approve: bool,
        /// When approving: a closure deadline other than the one asked for (later than
        /// the one in force). Without it the requested date is granted.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[ts(optional)]
        granted_due: Option<DateTime<Utc>>,
        #[serde(default)]
        note: String,
    },
    AssignSupervisor {
        supervisor: UserId,
        #[serde(default)]
        note: String,
    },
    Chase {
        note: String,
    },
    SubmitFeedbackForm {
        summary: String,
        result: String,
        reply: String,
    },
    ApproveFeedbackForm {
        decision: FormDecision,
        #[serde(default)]
        opinion: String,
    },
    /// 回访: how the writer was reached (or tried), and what they said.
    RecordReturnVisit {
        #[serde(default = "default_visit_method")]
        method: ContactMethod,
        /// Whether the visit reached the writer; an attempt that did not is recorded and
        /// the visit stays due.
        #[serde(default = "default_visit_outcome")]
        outcome: ContactOutcome,
        /// 是否解决: whether the writer says the problem was solved (when reached).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[ts(optional)]
        resolved: Option<bool>,
        /// 满意度 (when reached).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[ts(optional)]
        satisfaction: Option<Satisfaction>,
        #[serde(default)]
        note: String,
    },
    LinkThanks {
        case: LetterId,
        #[serde(default)]
        note: String,
    },
    /// The category and problem classes as they should be (the whole list, not a change
    /// to it). The server checks each class against its configured list.
    Reclassify {
        category: Category,
        #[serde(default)]
        problem_tags: Vec<String>,
        #[serde(default)]
        note: String,
    },
}

impl Action {
    pub fn kind(&self) -> ActionKind {
        match self {
            Action::Dispatch { .. } => ActionKind::Dispatch,
            Action::SignFor => ActionKind::SignFor,
            Action::RecordContact { .. } => ActionKind::RecordContact,
            Action::GiveFirstFeedback { .. } => ActionKind::GiveFirstFeedback,
            Action::ReturnLetter { .. } => ActionKind::ReturnLetter,
            Action::RuleReturn { .. } => ActionKind::RuleReturn,
            Action::RequestExtension { .. } => ActionKind::RequestExtension,
            Action::DecideExtension { .. } => ActionKind::DecideExtension,
            Action::AssignSupervisor { .. } => ActionKind::AssignSupervisor,
            Action::Chase { .. } => ActionKind::Chase,
            Action::SubmitFeedbackForm { .. } => ActionKind::SubmitFeedbackForm,
            Action::ApproveFeedbackForm { .. } => ActionKind::ApproveFeedbackForm,
            Action::RecordReturnVisit { .. } => ActionKind::RecordReturnVisit,
            Action::LinkThanks { .. } => ActionKind::LinkThanks,
            Action::Reclassify { .. } => ActionKind::Reclassify,
        }
    }
}

/// The desk's ruling on a returned letter (退单裁定).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, TS)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum RulingOutcome {
    /// 退单不成立: back to the unit that returned it. (A struct variant so that unknown
    /// fields are refused: serde ignores them on a unit variant of a tagged enum.)
    SendBack {},
    /// 退单成立，改派: to another unit below the desk.
    Redispatch { to: UnitId },
    /// 退单成立，上报: not this desk's to settle either; returned to the desk above it.
    PassUp { reason: ReturnReason },
}

impl Default for RulingOutcome {
    fn default() -> Self {
        RulingOutcome::SendBack {}
    }
}

fn default_visit_method() -> ContactMethod {
    ContactMethod::Phone
}

fn default_visit_outcome() -> ContactOutcome {
    ContactOutcome::Reached
}

/// What happened to a letter. Events are appended, never changed; the letter's status
/// is the fold of its events ([`LetterStatus::apply`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum EventPayload {
    /// 受理: the letter arrived on the platform at a desk.
    Received {
        unit: UnitId,
        tier: Tier,
    },
    /// 派发: sent down to a unit. `ruling` is set when a desk sends a returned letter back.
    Dispatched {
        from: UnitId,
        to: UnitId,
        to_tier: Tier,
        note: String,
        ruling: Option<String>,
        /// Set on a ruling that upheld the return and sent the letter elsewhere
        /// (改派); absent on a plain dispatch and on a ruling that sent it back.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[ts(optional)]
        return_upheld: Option<bool>,
    },
    SignedFor {
        unit: UnitId,
        handler: UserId,
    },
    ContactRecorded {
        method: ContactMethod,
        outcome: ContactOutcome,
        contacted_at: DateTime<Utc>,
        note: String,
        /// The call-back promised after an unreachable attempt (约定回拨); absent when
        /// none was set, and on contacts recorded before it could be.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[ts(optional)]
        callback_at: Option<DateTime<Utc>>,
    },
    FirstFeedbackGiven {
        text: String,
    },
    /// 退单: back up to the desk that dispatched it.
    Returned {
        from: UnitId,
        to: UnitId,
        to_tier: Tier,
        reason: ReturnReason,
        note: String,
    },
    ExtensionRequested {
        reason: String,
        legal_basis: String,
        requested_due: DateTime<Utc>,
        /// The closure deadline in force when asked.
        current_due: DateTime<Utc>,
    },
    ExtensionDecided {
        approve: bool,
        /// The new closure deadline when approved.
        new_due: Option<DateTime<Utc>>,
        note: String,
    },
    SupervisorAssigned {
        supervisor: UserId,
        note: String,
    },
    Chased {
        note: String,
    },
    FeedbackFormSubmitted {
        summary: String,
        result: String,
        reply: String,
    },
    FeedbackFormDecided {
        decision: FormDecision,
        opinion: String,
    },
    ReturnVisitRecorded {
        /// 是否解决, as the writer says; `None` on visits recorded before it was asked.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[ts(optional)]
        resolved: Option<bool>,
        satisfaction: Satisfaction,
        note: String,
        /// How the writer was reached; `None` on visits recorded before it was asked.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[ts(optional)]
        method: Option<ContactMethod>,
    },
    /// A return visit that did not reach the writer: the visit stays due.
    ReturnVisitAttempted {
        method: ContactMethod,
        note: String,
    },
    ThanksLinked {
        case: LetterId,
        note: String,
    },
    /// 重新分类: the category (and so the closure rule) and problem classes from now on.
    Reclassified {
        category: Category,
        problem_tags: Vec<String>,
        note: String,
    },
}

impl EventPayload {
    /// The stable name of the event kind, as stored.
    pub fn kind(&self) -> &'static str {
        match self {
            EventPayload::Received { .. } => "received",
            EventPayload::Dispatched { .. } => "dispatched",
            EventPayload::SignedFor { .. } => "signed_for",
            EventPayload::ContactRecorded { .. } => "contact_recorded",
            EventPayload::FirstFeedbackGiven { .. } => "first_feedback_given",
            EventPayload::Returned { .. } => "returned",
            EventPayload::ExtensionRequested { .. } => "extension_requested",
            EventPayload::ExtensionDecided { .. } => "extension_decided",
            EventPayload::SupervisorAssigned { .. } => "supervisor_assigned",
            EventPayload::Chased { .. } => "chased",
            EventPayload::FeedbackFormSubmitted { .. } => "feedback_form_submitted",
            EventPayload::FeedbackFormDecided { .. } => "feedback_form_decided",
            EventPayload::ReturnVisitRecorded { .. } => "return_visit_recorded",
            EventPayload::ReturnVisitAttempted { .. } => "return_visit_attempted",
            EventPayload::ThanksLinked { .. } => "thanks_linked",
            EventPayload::Reclassified { .. } => "reclassified",
        }
    }
}

/// An extension request waiting for a decision.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct PendingExtension {
    pub requested_at: DateTime<Utc>,
    pub requested_due: DateTime<Utc>,
    /// The closure deadline in force when asked: the one the decision would replace.
    pub current_due: DateTime<Utc>,
    /// What the decider reads before deciding (申请延期: 理由 and 依据).
    pub reason: String,
    pub legal_basis: String,
}

/// A letter's status: the fold of its events.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct LetterStatus {
    pub state: LetterState,
    pub category: Category,
    /// The unit holding the letter now.
    pub unit: UnitId,
    /// The units that dispatched it down, top first; the last one is the desk a 退单 goes back to.
    pub dispatch_chain: Vec<UnitId>,
    /// 承办人: the officer who signed for it.
    pub handler: Option<UserId>,
    /// 盯办民警
    pub supervisor: Option<UserId>,
    /// When the supervising officer last chased the case (催办): the handling unit's row
    /// shows it, and a new one is announced there.
    pub last_chased_at: Option<DateTime<Utc>>,
    pub pending_extension: Option<PendingExtension>,
    /// Set while a returned letter waits at the desk for re-dispatch or a ruling.
    pub returned_from: Option<UnitId>,
    /// Whether the return visit for the current closure is done.
    pub return_visit_done: bool,
    /// The case a thank-you letter was linked to.
    pub linked_case: Option<LetterId>,
    /// The number of events folded in: the version a client acts on.
    pub version: u32,
    pub clock_inputs: ClockInputs,
}

impl LetterStatus {
    /// The status of a letter just received at a desk.
    pub fn received(at: DateTime<Utc>, unit: UnitId, tier: Tier, category: Category) -> Self {
        LetterStatus {
            state: LetterState::Received,
            category,
            unit,
            dispatch_chain: Vec::new(),
            handler: None,
            supervisor: None,
            last_chased_at: None,
            pending_extension: None,
            returned_from: None,
            return_visit_done: false,
            linked_case: None,
            version: 1,
            clock_inputs: ClockInputs {
                received_at: at,
                category,
                dispatches: Vec::new(),
                first_contact_reached_at: None,
                first_feedback_at: None,
                extension: None,
                closed_at: None,
                reopened_at: None,
                holdings: vec![Holding {
                    unit,
                    tier,
                    from: at,
                    until: None,
                }],
            },
        }
    }

    /// Folds a whole event history, oldest first. `None` when the history does not start
    /// with `Received`.
    pub fn from_events<'a>(
        category: Category,
        events: impl IntoIterator<Item = (DateTime<Utc>, &'a EventPayload)>,
    ) -> Option<Self> {
        let mut events = events.into_iter();
        let (at, first) = events.next()?;
        let EventPayload::Received { unit, tier } = first else {
            return None;
        };
        let mut status = LetterStatus::received(at, *unit, *tier, category);
        for (at, event) in events {
            status.apply(at, event);
        }
        Some(status)
    }

    /// Applies one event. Events come from [`decide`], so they are valid for the status;
    /// applying is total all the same (an odd event changes what it names and nothing else).
    pub fn apply(&mut self, at: DateTime<Utc>, event: &EventPayload) {
        self.version = self.version.saturating_add(1);
        let inputs = &mut self.clock_inputs;
        match event {
            EventPayload::Received { .. } => {}
            EventPayload::Dispatched {
                from, to, to_tier, ..
            } => {
                // A desk forwarding a letter it was sent without signing for it first has
                // received it all the same: the forward meets its own sign-for clock.
                if let Some(last) = inputs.dispatches.last_mut()
                    && last.unit == *from
                    && last.signed_at.is_none()
                {
                    last.signed_at = Some(at);
                }
                close_holding(&mut inputs.holdings, at);
                inputs.holdings.push(Holding {
                    unit: *to,
                    tier: *to_tier,
                    from: at,
                    until: None,
                });
                inputs.dispatches.push(DispatchSpan {
                    unit: *to,
                    tier: *to_tier,
                    dispatched_at: at,
                    signed_at: None,
                    ended_at: None,
                });
                self.dispatch_chain.push(*from);
                self.unit = *to;
                self.state = LetterState::Dispatched;
                self.handler = None;
                self.returned_from = None;
            }
            EventPayload::SignedFor { handler, .. } => {
                if let Some(last) = inputs.dispatches.last_mut()
                    && last.signed_at.is_none()
                {
                    last.signed_at = Some(at);
                }
                self.state = LetterState::Handling;
                self.handler = Some(*handler);
            }
            EventPayload::ContactRecorded {
                outcome,
                contacted_at,
                ..
            } => {
                if *outcome == ContactOutcome::Reached && inputs.first_contact_reached_at.is_none()
                {
                    // The reported time counts, but never before receipt nor after it was logged.
                    let when = (*contacted_at).clamp(inputs.received_at.min(at), at);
                    inputs.first_contact_reached_at = Some(when);
                }
            }
            EventPayload::FirstFeedbackGiven { .. } => {
                if inputs.first_feedback_at.is_none() {
                    inputs.first_feedback_at = Some(at);
                }
            }
            EventPayload::Returned {
                from, to, to_tier, ..
            } => {
                if let Some(last) = inputs.dispatches.last_mut()
                    && last.unit == *from
                    && last.signed_at.is_none()
                    && last.ended_at.is_none()
                {
                    last.ended_at = Some(at);
                }
                close_holding(&mut inputs.holdings, at);
                inputs.holdings.push(Holding {
                    unit: *to,
                    tier: *to_tier,
                    from: at,
                    until: None,
                });
                self.dispatch_chain.pop();
                self.unit = *to;
                self.state = LetterState::Received;
                self.handler = None;
                self.returned_from = Some(*from);
            }
            EventPayload::ExtensionRequested {
                reason,
                legal_basis,
                requested_due,
                current_due,
            } => {
                self.pending_extension = Some(PendingExtension {
                    requested_at: at,
                    requested_due: *requested_due,
                    current_due: *current_due,
                    reason: reason.clone(),
                    legal_basis: legal_basis.clone(),
                });
            }
            EventPayload::ExtensionDecided {
                approve, new_due, ..
            } => {
                self.pending_extension = None;
                if let (true, Some(new_due)) = (approve, new_due) {
                    inputs.extension = Some(ExtensionGrant {
                        decided_at: at,
                        new_due: *new_due,
                    });
                }
            }
            EventPayload::SupervisorAssigned { supervisor, .. } => {
                self.supervisor = Some(*supervisor);
            }
            EventPayload::Chased { .. } => {
                self.last_chased_at = Some(at);
            }
            EventPayload::Reclassified { category, .. } => {
                self.category = *category;
            }
            EventPayload::FeedbackFormSubmitted { .. } => {
                self.state = LetterState::AwaitingApproval;
            }
            EventPayload::FeedbackFormDecided { decision, .. } => match decision {
                FormDecision::Approve => {
                    self.state = LetterState::Closed;
                    inputs.closed_at = Some(at);
                    close_holding(&mut inputs.holdings, at);
                    self.return_visit_done = false;
                }
                FormDecision::SendBack => self.state = LetterState::Handling,
            },
            EventPayload::ReturnVisitRecorded { satisfaction, .. } => {
                self.return_visit_done = true;
                if *satisfaction == Satisfaction::Dissatisfied {
                    // 重办: the case reopens with the same unit and handler and a fresh
                    // closure clock; the earlier closure stays in the history for scoring.
                    self.state = LetterState::Handling;
                    self.return_visit_done = false;
                    inputs.reopened_at = Some(at);
                    inputs.closed_at = None;
                    let tier = inputs
                        .holdings
                        .last()
                        .map(|h| h.tier)
                        .unwrap_or(Tier::Station);
                    inputs.holdings.push(Holding {
                        unit: self.unit,
                        tier,
                        from: at,
                        until: None,
                    });
                }
            }
            // The writer was not reached: the visit is still due.
            EventPayload::ReturnVisitAttempted { .. } => {}
            EventPayload::ThanksLinked { case, .. } => {
                self.linked_case = Some(*case);
                self.state = LetterState::Closed;
                inputs.closed_at = Some(at);
                close_holding(&mut inputs.holdings, at);
                // A thank-you letter needs no return visit.
                self.return_visit_done = true;
            }
        }
    }

    /// Reads every clock of the letter at `now`.
    pub fn clocks(
        &self,
        policy: &Policy,
        calendar: &WorkCalendar,
        now: DateTime<Utc>,
    ) -> LetterClocks {
        clock::evaluate(&self.clock_inputs, policy, calendar, now)
    }
}

fn close_holding(holdings: &mut [Holding], at: DateTime<Utc>) {
    if let Some(open) = holdings.last_mut()
        && open.until.is_none()
    {
        open.until = Some(at);
    }
}

/// Why an action is refused. Each variant has a stable code ([`RuleError::code`]) that
/// the server sends and the UI translates.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RuleError {
    #[error("the letter is outside the user's unit scope")]
    OutOfScope,
    #[error("none of the user's roles may {0:?}")]
    RoleNotAllowed(ActionKind),
    #[error("{action:?} is not possible while the letter is {state:?}")]
    WrongState {
        action: ActionKind,
        state: LetterState,
    },
    #[error("only the assigned supervising officer may chase this letter")]
    NotAssignedSupervisor,
    #[error("there is no extension request to decide")]
    NoPendingExtension,
    #[error("an extension request is already waiting for a decision")]
    ExtensionPending,
    #[error("the closure deadline has passed; an extension can only be asked before it")]
    DeadlinePassed,
    #[error("the letter can only be dispatched to a unit below the one holding it")]
    InvalidTarget,
    #[error("the unit is deactivated and receives no letters")]
    InactiveUnit,
    #[error("a supervisor is assigned only to an overdue or extended case")]
    NotOverdueOrExtended,
    #[error("the letter was not returned")]
    NotReturned,
    #[error("there is no desk above to return the letter to")]
    NothingToReturnTo,
    #[error("only a thank-you letter can be linked to a case")]
    NotThanks,
    #[error("this has already been done")]
    AlreadyDone,
    #[error("the writer must be given a first feedback before the feedback form is submitted")]
    FirstFeedbackMissing,
    #[error("{field}: {problem}")]
    Invalid {
        field: &'static str,
        problem: InputProblem,
    },
}

/// What is wrong with an input field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "snake_case")]
pub enum InputProblem {
    Required,
    TooLong,
    InTheFuture,
    BeforeReceipt,
    NotLater,
    /// Given for a choice it does not belong to (a granted date on a refusal).
    NotApplicable,
    /// Earlier than the contact attempt it follows (a call-back time).
    BeforeContact,
}

impl std::fmt::Display for InputProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            InputProblem::Required => "required",
            InputProblem::TooLong => "too long",
            InputProblem::InTheFuture => "in the future",
            InputProblem::BeforeReceipt => "before the letter was received",
            InputProblem::NotLater => "must be later than the current deadline",
            InputProblem::NotApplicable => "does not apply to this choice",
            InputProblem::BeforeContact => "before the contact attempt",
        })
    }
}

impl RuleError {
    /// The stable, machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            RuleError::OutOfScope => "out_of_scope",
            RuleError::RoleNotAllowed(_) => "role_not_allowed",
            RuleError::WrongState { .. } => "wrong_state",
            RuleError::NotAssignedSupervisor => "not_assigned_supervisor",
            RuleError::NoPendingExtension => "no_pending_extension",
            RuleError::ExtensionPending => "extension_pending",
            RuleError::DeadlinePassed => "deadline_passed",
            RuleError::InvalidTarget => "invalid_target",
            RuleError::InactiveUnit => "unit_inactive",
            RuleError::NotOverdueOrExtended => "not_overdue_or_extended",
            RuleError::NotReturned => "not_returned",
            RuleError::NothingToReturnTo => "nothing_to_return_to",
            RuleError::NotThanks => "not_thanks",
            RuleError::AlreadyDone => "already_done",
            RuleError::FirstFeedbackMissing => "first_feedback_missing",
            RuleError::Invalid { .. } => "invalid_input",
        }
    }
}

/// Everything [`decide`] needs besides the letter and the action.
pub struct DecisionContext<'a> {
    pub actor: &'a Actor,
    pub tree: &'a UnitTree,
    pub policy: &'a Policy,
    pub calendar: &'a WorkCalendar,
    pub now: DateTime<Utc>,
}

/// Who may take an action: the roles and where their unit must stand.
struct Permission {
    roles: &'static [Role],
    relations: &'static [Relation],
    states: &'static [LetterState],
}

const SAME: &[Relation] = &[Relation::Same];
const ABOVE: &[Relation] = &[Relation::Above];
const SAME_OR_ABOVE: &[Relation] = &[Relation::Same, Relation::Above];
const OPEN: &[LetterState] = &[
    LetterState::Dispatched,
    LetterState::Handling,
    LetterState::AwaitingApproval,
];
const WORKING: &[LetterState] = &[LetterState::Handling, LetterState::AwaitingApproval];

/// The roles that may take `kind` at all (the rule book's row), for the rules that follow
/// from it: a letter waits for the arrival alarm only of those who may sign for it.
pub fn roles_for(kind: ActionKind) -> &'static [Role] {
    permission(kind).roles
}

/// The permission table: one row per action. This is the rule book of DOMAIN.md.
fn permission(kind: ActionKind) -> Permission {
    use LetterState as S;
    use Role as R;
    let (roles, relations, states): (&'static [Role], _, &'static [LetterState]) = match kind {
        ActionKind::Dispatch => (
            &[R::Dispatcher],
            SAME,
            &[S::Received, S::Dispatched, S::Handling],
        ),
        ActionKind::SignFor => (&[R::Officer, R::Dispatcher], SAME, &[S::Dispatched]),
        // The handling officer, or the desk while the letter waits there (the seed's city
        // desk called the writer back in 13 minutes); `contact_fits` pairs each role with
        // its states.
        ActionKind::RecordContact => (
            &[R::Officer, R::Dispatcher],
            SAME,
            &[S::Received, S::Dispatched, S::Handling, S::AwaitingApproval],
        ),
        ActionKind::GiveFirstFeedback => (&[R::Officer], SAME, WORKING),
        ActionKind::ReturnLetter => (
            &[R::Officer, R::Dispatcher],
            SAME,
            &[S::Dispatched, S::Handling],
        ),
        ActionKind::RuleReturn => (&[R::Dispatcher], SAME, &[S::Received]),
        ActionKind::RequestExtension => (&[R::Officer], SAME, WORKING),
        ActionKind::DecideExtension => (&[R::Dispatcher, R::Chief], ABOVE, OPEN),
        ActionKind::AssignSupervisor => (&[R::Dispatcher, R::Chief], ABOVE, OPEN),
        ActionKind::Chase => (&[R::Supervisor], ABOVE, OPEN),
        ActionKind::SubmitFeedbackForm => (&[R::Officer], SAME, &[S::Handling]),
        ActionKind::ApproveFeedbackForm => (&[R::Chief], SAME, &[S::AwaitingApproval]),
        ActionKind::RecordReturnVisit => (&[R::Dispatcher], SAME_OR_ABOVE, &[S::Closed]),
        ActionKind::LinkThanks => (&[R::Dispatcher], SAME, &[S::Received]),
        // The desk holding it, or a desk above it, while it is open.
        ActionKind::Reclassify => (
            &[R::Dispatcher],
            SAME_OR_ABOVE,
            &[S::Received, S::Dispatched, S::Handling, S::AwaitingApproval],
        ),
    };
    Permission {
        roles,
        relations,
        states,
    }
}

/// Checks scope, role and state for an action, without looking at its input.
/// The order of the checks fixes which error a user sees first: scope, then role, then state.
pub fn permits(
    ctx: &DecisionContext<'_>,
    status: &LetterStatus,
    kind: ActionKind,
) -> Result<(), RuleError> {
    let relation = ctx.tree.relation(ctx.actor.unit, status.unit);
    if matches!(relation, Relation::Unrelated | Relation::Below) {
        return Err(RuleError::OutOfScope);
    }
    let rule = permission(kind);
    if !rule.roles.iter().any(|r| ctx.actor.has(*r)) {
        return Err(RuleError::RoleNotAllowed(kind));
    }
    if !rule.relations.contains(&relation) {
        return Err(RuleError::OutOfScope);
    }
    if !rule.states.contains(&status.state) {
        return Err(RuleError::WrongState {
            action: kind,
            state: status.state,
        });
    }
    if kind == ActionKind::RecordContact && !contact_fits(ctx.actor, status.state) {
        return Err(RuleError::WrongState {
            action: kind,
            state: status.state,
        });
    }
    // Conditions that depend on the letter's history rather than its state alone.
    match kind {
        ActionKind::ReturnLetter if status.dispatch_chain.is_empty() => {
            Err(RuleError::NothingToReturnTo)
        }
        ActionKind::RuleReturn if status.returned_from.is_none() => Err(RuleError::NotReturned),
        ActionKind::LinkThanks if status.category != Category::Thanks => Err(RuleError::NotThanks),
        ActionKind::GiveFirstFeedback if status.clock_inputs.first_feedback_at.is_some() => {
            Err(RuleError::AlreadyDone)
        }
        ActionKind::RecordReturnVisit if status.return_visit_done => Err(RuleError::AlreadyDone),
        // The writer hears from us before the case can close.
        ActionKind::SubmitFeedbackForm if status.clock_inputs.first_feedback_at.is_none() => {
            Err(RuleError::FirstFeedbackMissing)
        }
        ActionKind::RequestExtension if status.pending_extension.is_some() => {
            Err(RuleError::ExtensionPending)
        }
        ActionKind::RequestExtension => {
            let clocks = status.clocks(ctx.policy, ctx.calendar, ctx.now);
            // "Before the deadline" includes the deadline itself, as for every clock.
            if ctx.now > clocks.closure.due_at {
                Err(RuleError::DeadlinePassed)
            } else {
                Ok(())
            }
        }
        ActionKind::DecideExtension if status.pending_extension.is_none() => {
            Err(RuleError::NoPendingExtension)
        }
        ActionKind::AssignSupervisor => {
            let clocks = status.clocks(ctx.policy, ctx.calendar, ctx.now);
            let overdue = clocks
                .readings()
                .any(|c| matches!(c.state, ClockState::Breached | ClockState::MetLate));
            if overdue || status.clock_inputs.extension.is_some() {
                Ok(())
            } else {
                Err(RuleError::NotOverdueOrExtended)
            }
        }
        ActionKind::Chase if status.supervisor != Some(ctx.actor.user) => {
            Err(RuleError::NotAssignedSupervisor)
        }
        _ => Ok(()),
    }
}

/// Who records the contact with the writer in which state: the desk holding the letter
/// while it waits there (received, or dispatched to it and not yet forwarded), the
/// handling officer once it is signed for.
fn contact_fits(actor: &Actor, state: LetterState) -> bool {
    let at_desk = matches!(state, LetterState::Received | LetterState::Dispatched);
    (at_desk && actor.has(Role::Dispatcher))
        || (WORKING.contains(&state) && actor.has(Role::Officer))
}

/// The actions the user may take on the letter now (for the UI: offer only these).
pub fn available_actions(ctx: &DecisionContext<'_>, status: &LetterStatus) -> Vec<ActionKind> {
    ActionKind::ALL
        .into_iter()
        .filter(|k| permits(ctx, status, *k).is_ok())
        .collect()
}

/// The tier of a unit a letter may be dispatched to: it exists and is active.
fn active_tier(tree: &UnitTree, unit: UnitId) -> Result<Tier, RuleError> {
    match tree.get(unit) {
        Some(u) if u.active => Ok(u.tier),
        Some(_) => Err(RuleError::InactiveUnit),
        None => Err(RuleError::InvalidTarget),
    }
}

/// The transition function: decides whether `ctx.actor` may take `action` on the letter
/// now, and returns the event to append — or why not.
pub fn decide(
    ctx: &DecisionContext<'_>,
    status: &LetterStatus,
    action: &Action,
) -> Result<EventPayload, RuleError> {
    permits(ctx, status, action.kind())?;
    let event = match action {
        Action::Dispatch { to, note } => {
            if ctx.tree.relation(status.unit, *to) != Relation::Above {
                return Err(RuleError::InvalidTarget);
            }
            let to_tier = active_tier(ctx.tree, *to)?;
            EventPayload::Dispatched {
                from: status.unit,
                to: *to,
                to_tier,
                note: optional_text("note", note)?,
                ruling: None,
                return_upheld: None,
            }
        }
        Action::SignFor => EventPayload::SignedFor {
            unit: status.unit,
            handler: ctx.actor.user,
        },
        Action::RecordContact {
            method,
            outcome,
            contacted_at,
            note,
            callback_at,
        } => {
            if *contacted_at > ctx.now + Duration::seconds(CONTACT_TIME_TOLERANCE_SECS) {
                return Err(invalid("contacted_at", InputProblem::InTheFuture));
            }
            if *contacted_at < status.clock_inputs.received_at {
                return Err(invalid("contacted_at", InputProblem::BeforeReceipt));
            }
            if let Some(callback) = callback_at {
                // A call-back is promised to a writer who was not reached.
                if *outcome == ContactOutcome::Reached {
                    return Err(invalid("callback_at", InputProblem::NotApplicable));
                }
                // Against the attempt, not against `now`: the server decides a contact
                // queued offline when it arrives, possibly after the promised time, and
                // must not refuse the attempt for that. (The form checks the officer's
                // `now` when the time is typed.)
                if callback < contacted_at {
                    return Err(invalid("callback_at", InputProblem::BeforeContact));
                }
            }
            EventPayload::ContactRecorded {
                method: *method,
                outcome: *outcome,
                contacted_at: *contacted_at,
                note: optional_text("note", note)?,
                callback_at: *callback_at,
            }
        }
        Action::GiveFirstFeedback { text } => EventPayload::FirstFeedbackGiven {
            text: required_text("text", text)?,
        },
        Action::ReturnLetter { reason, note } => {
            let to = *status
                .dispatch_chain
                .last()
                .ok_or(RuleError::NothingToReturnTo)?;
            let to_tier = ctx
                .tree
                .get(to)
                .map(|u| u.tier)
                .ok_or(RuleError::InvalidTarget)?;
            EventPayload::Returned {
                from: status.unit,
                to,
                to_tier,
                reason: *reason,
                note: required_text("note", note)?,
            }
        }
        Action::RuleReturn { ruling, outcome } => {
            let returned_from = status.returned_from.ok_or(RuleError::NotReturned)?;
            let ruling = required_text("ruling", ruling)?;
            let tier_of = |unit: UnitId| {
                ctx.tree
                    .get(unit)
                    .map(|u| u.tier)
                    .ok_or(RuleError::InvalidTarget)
            };
            match outcome {
                RulingOutcome::SendBack {} => EventPayload::Dispatched {
                    from: status.unit,
                    to: returned_from,
                    to_tier: tier_of(returned_from)?,
                    note: String::new(),
                    ruling: Some(ruling),
                    return_upheld: None,
                },
                RulingOutcome::Redispatch { to } => {
                    // Sending it to the unit that returned it is a refusal, not this.
                    if *to == returned_from
                        || ctx.tree.relation(status.unit, *to) != Relation::Above
                    {
                        return Err(RuleError::InvalidTarget);
                    }
                    EventPayload::Dispatched {
                        from: status.unit,
                        to: *to,
                        to_tier: active_tier(ctx.tree, *to)?,
                        note: String::new(),
                        ruling: Some(ruling),
                        return_upheld: Some(true),
                    }
                }
                RulingOutcome::PassUp { reason } => {
                    let to = *status
                        .dispatch_chain
                        .last()
                        .ok_or(RuleError::NothingToReturnTo)?;
                    EventPayload::Returned {
                        from: status.unit,
                        to,
                        to_tier: tier_of(to)?,
                        reason: *reason,
                        note: ruling,
                    }
                }
            }
        }
        Action::RequestExtension {
            reason,
            legal_basis,
            requested_due,
        } => {
            let current_due = status
                .clocks(ctx.policy, ctx.calendar, ctx.now)
                .closure
                .due_at;
            if *requested_due <= current_due {
                return Err(invalid("requested_due", InputProblem::NotLater));
            }
            EventPayload::ExtensionRequested {
                reason: required_text("reason", reason)?,
                legal_basis: required_text("legal_basis", legal_basis)?,
                requested_due: *requested_due,
                current_due,
            }
        }
        Action::DecideExtension {
            approve,
            granted_due,
            note,
        } => {
            let pending = status
                .pending_extension
                .as_ref()
                .ok_or(RuleError::NoPendingExtension)?;
            let new_due = match (approve, granted_due) {
                (false, Some(_)) => {
                    return Err(invalid("granted_due", InputProblem::NotApplicable));
                }
                (false, None) => None,
                // A granted date must still extend the deadline in force.
                (true, Some(due)) if *due <= pending.current_due => {
                    return Err(invalid("granted_due", InputProblem::NotLater));
                }
                (true, Some(due)) => Some(*due),
                (true, None) => Some(pending.requested_due),
            };
            EventPayload::ExtensionDecided {
                approve: *approve,
                new_due,
                note: if *approve {
                    optional_text("note", note)?
                } else {
                    required_text("note", note)?
                },
            }
        }
        Action::AssignSupervisor { supervisor, note } => EventPayload::SupervisorAssigned {
            supervisor: *supervisor,
            note: optional_text("note", note)?,
        },
        Action::Chase { note } => EventPayload::Chased {
            note: required_text("note", note)?,
        },
        Action::SubmitFeedbackForm {
            summary,
            result,
            reply,
        } => EventPayload::FeedbackFormSubmitted {
            summary: required_text("summary", summary)?,
            result: required_text("result", result)?,
            reply: required_text("reply", reply)?,
        },
        Action::ApproveFeedbackForm { decision, opinion } => EventPayload::FeedbackFormDecided {
            decision: *decision,
            opinion: match decision {
                FormDecision::Approve => optional_text("opinion", opinion)?,
                FormDecision::SendBack => required_text("opinion", opinion)?,
            },
        },
        Action::RecordReturnVisit {
            method,
            outcome,
            resolved,
            satisfaction,
            note,
        } => match outcome {
            ContactOutcome::Reached => {
                let resolved = resolved.ok_or(invalid("resolved", InputProblem::Required))?;
                let satisfaction =
                    satisfaction.ok_or(invalid("satisfaction", InputProblem::Required))?;
                EventPayload::ReturnVisitRecorded {
                    resolved: Some(resolved),
                    satisfaction,
                    note: match satisfaction {
                        Satisfaction::Dissatisfied => required_text("note", note)?,
                        _ => optional_text("note", note)?,
                    },
                    method: Some(*method),
                }
            }
            ContactOutcome::Unreachable => {
                // Nobody answered, so nobody said whether it was solved.
                if resolved.is_some() {
                    return Err(invalid("resolved", InputProblem::NotApplicable));
                }
                if satisfaction.is_some() {
                    return Err(invalid("satisfaction", InputProblem::NotApplicable));
                }
                EventPayload::ReturnVisitAttempted {
                    method: *method,
                    note: optional_text("note", note)?,
                }
            }
        },
        Action::LinkThanks { case, note } => EventPayload::ThanksLinked {
            case: *case,
            note: optional_text("note", note)?,
        },
        Action::Reclassify {
            category,
            problem_tags,
            note,
        } => EventPayload::Reclassified {
            category: *category,
            problem_tags: problem_tags_of(problem_tags)?,
            note: optional_text("note", note)?,
        },
    };
    Ok(event)
}

fn invalid(field: &'static str, problem: InputProblem) -> RuleError {
    RuleError::Invalid { field, problem }
}

fn optional_text(field: &'static str, text: &str) -> Result<String, RuleError> {
    let text = text.trim();
    if text.chars().count() > MAX_TEXT_CHARS {
        return Err(invalid(field, InputProblem::TooLong));
    }
    Ok(text.to_owned())
}

/// The problem classes as given, trimmed, without repeats: at most
/// [`MAX_PROBLEM_TAGS`](crate::letter::MAX_PROBLEM_TAGS), each 1 to
/// [`MAX_TAG_CHARS`](crate::letter::MAX_TAG_CHARS) characters. (Which classes exist is the
/// server's configuration, checked there.)
fn problem_tags_of(tags: &[String]) -> Result<Vec<String>, RuleError> {
    let mut out: Vec<String> = Vec::new();
    for tag in tags {
        let tag = tag.trim();
        if tag.is_empty() {
            return Err(invalid("problem_tags", InputProblem::Required));
        }
        if tag.chars().count() > crate::letter::MAX_TAG_CHARS {
            return Err(invalid("problem_tags", InputProblem::TooLong));
        }
        if !out.iter().any(|t| t == tag) {
            out.push(tag.to_owned());
        }
    }
    if out.len() > crate::letter::MAX_PROBLEM_TAGS {
        return Err(invalid("problem_tags", InputProblem::TooLong));
    }
    Ok(out)
}

fn required_text(field: &'static str, text: &str) -> Result<String, RuleError> {
    let text = optional_text(field, text)?;
    if text.is_empty() {
        return Err(invalid(field, InputProblem::Required));
    }
    Ok(text)
}
