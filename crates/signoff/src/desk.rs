//! What the workstation (and the server, the same way) does with a letter: build its
//! feedback form from the `LetterRecord`, sign it, and wrap it for the API.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use jsjb_core::form::{
    self, FeedbackForm, FormDelegation, FormError, FormSigner, LetterFacts, Party, SignOff,
};
use jsjb_core::letter::FormDecision;
use jsjb_core::org::{Role, UnitId, UserId};
use jsjb_core::rules::Rules;
use jsjb_core::workflow::EventPayload;
use jsjb_proto::{LetterRecord, SignatureEnvelope};

use crate::crypto::SignoffError;
use crate::signer::Signer;
use crate::verify::sha256_hex;

/// Names for the form, from `Me.units` and the directory (`GET /api/v1/directory`).
#[derive(Debug, Clone, Default)]
pub struct Directory {
    pub units: HashMap<UnitId, String>,
    pub users: HashMap<UserId, String>,
}

impl form::Names for Directory {
    fn unit(&self, id: UnitId) -> String {
        self.units.get(&id).cloned().unwrap_or_default()
    }
    fn user(&self, id: UserId) -> String {
        self.users.get(&id).cloned().unwrap_or_default()
    }
}

/// Who signs: the user, and for a 代签 the grant and the chief it is from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SignerRef {
    pub user: UserId,
    /// `(grant id, chief)` when signing under a delegation.
    pub delegation: Option<(i64, UserId)>,
}

/// The decision being signed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    pub decision: FormDecision,
    pub opinion: String,
}

/// The feedback form of `letter` (which must be awaiting approval) as `signer` signs
/// it now: exactly the form the server rebuilds to verify the signature.
// The form has that many independent inputs; a struct would only rename them.
#[allow(clippy::too_many_arguments)]
pub fn form_of(
    letter: &LetterRecord,
    names: &Directory,
    rules: &Rules,
    signer: SignerRef,
    decision: &Decision,
    handwriting_png: &[u8],
    signed_at: DateTime<Utc>,
) -> Result<FeedbackForm, FormError> {
    use jsjb_core::form::Names as _;
    let events: Vec<(DateTime<Utc>, &EventPayload)> =
        letter.events.iter().map(|e| (e.at, &e.payload)).collect();
    let facts = LetterFacts {
        id: letter.id,
        tracking_code: &letter.tracking_code,
        channel: letter.channel,
        category: letter.category,
        received_at: letter.received_at,
        subject: &letter.subject,
        writer_name: &letter.writer.name,
        writer_phone: &letter.writer.phone,
        events: &events,
    };
    let signoff = SignOff {
        decision: decision.decision,
        opinion: decision.opinion.clone(),
        signer: FormSigner {
            user: Party {
                id: signer.user.0,
                name: names.user(signer.user),
            },
            unit: Party {
                id: letter.unit_id.0,
                name: names.unit(letter.unit_id),
            },
            // Signed in the chief's capacity; `on_behalf_of` marks a 代签.
            role: Role::Chief,
            on_behalf_of: signer.delegation.map(|(grant_id, chief)| FormDelegation {
                grant_id,
                chief: Party {
                    id: chief.0,
                    name: names.user(chief),
                },
            }),
        },
        handwriting_sha256: sha256_hex(handwriting_png),
        signed_at,
    };
    // The letter's clocks under the era each started in: the same choice the server
    // makes when it rebuilds the form to check the signature.
    let policy = rules.letter_policy(letter.category, events.iter().copied());
    form::build(&facts, names, &policy, rules.calendar(), signoff)
}

/// Signs a form and wraps it as the `signature` of the `approve_feedback_form` action.
pub fn envelope(
    signer: &dyn Signer,
    key_id: i64,
    form: &FeedbackForm,
    handwriting_png: &[u8],
) -> Result<SignatureEnvelope, SignoffError> {
    let bytes = form
        .to_canonical()
        .map_err(|e| SignoffError::Signing(e.to_string()))?;
    let signature = signer.sign(&bytes)?;
    Ok(SignatureEnvelope {
        key_id,
        form_b64: crate::b64::encode(&bytes),
        handwriting_png_b64: crate::b64::encode(handwriting_png),
        signature_der_b64: crate::b64::encode(&signature),
    })
}
