//! Automatic routing: rules (configuration, not code) that dispatch a new letter from
//! the city desk straight to a unit by its category and by words in it (a street, a
//! district). The dispatch goes through the same life-cycle rules as a desk's, recorded
//! with the rule's name as the actor.

use std::path::Path;

use jsjb_core::letter::{Category, LetterId};
use jsjb_core::org::{Role, UnitId, UserId};
use jsjb_core::workflow::{Action, Actor as CoreActor};
use serde::{Deserialize, Serialize};

use crate::letters;
use crate::state::AppState;
use jsjb_storage::{ActionCommit, ActionOutcome, Actor};

/// The most rules a configuration may hold (they are checked for every letter).
const MAX_RULES: usize = 500;

/// One rule: every condition given must hold; at least one must be given.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoutingRule {
    /// Shown in the letter's history as who dispatched it (`routing:<name>`).
    pub name: String,
    /// The letter's category is one of these (any when empty).
    #[serde(default)]
    pub categories: Vec<Category>,
    /// One of these words appears in the subject or the text (any when empty).
    #[serde(default)]
    pub keywords: Vec<String>,
    /// Where matching letters go: a unit below the city bureau.
    pub to_unit: UnitId,
}

/// The rules, in order: the first that matches routes the letter.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoutingRules {
    pub rules: Vec<RoutingRule>,
}

#[derive(Debug, thiserror::Error)]
pub enum RoutingError {
    #[error("cannot read the routing rules {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("the routing rules {path} are not valid JSON of the documented shape: {source}")]
    Parse {
        path: String,
        source: serde_json::Error,
    },
    #[error("routing rule {index} ({name:?}): {problem}")]
    Rule {
        index: usize,
        name: String,
        problem: &'static str,
    },
    #[error("at most {MAX_RULES} routing rules are allowed")]
    TooMany,
}

impl RoutingRules {
    /// Reads and validates a JSON file `{"rules": [...]}`.
    pub fn load(path: &Path) -> Result<RoutingRules, RoutingError> {
        let text = std::fs::read_to_string(path).map_err(|source| RoutingError::Read {
            path: path.display().to_string(),
            source,
        })?;
        let rules: RoutingRules =
            serde_json::from_str(&text).map_err(|source| RoutingError::Parse {
                path: path.display().to_string(),
                source,
            })?;
        rules.validate()?;
        Ok(rules)
    }

    pub fn validate(&self) -> Result<(), RoutingError> {
        if self.rules.len() > MAX_RULES {
            return Err(RoutingError::TooMany);
        }
        for (index, rule) in self.rules.iter().enumerate() {
            let problem = if rule.name.trim().is_empty() || rule.name.chars().count() > 64 {
                Some("give the rule a name of 1 to 64 characters")
            } else if rule.categories.is_empty() && rule.keywords.is_empty() {
                Some("a rule needs categories, keywords or both; it would route every letter")
            } else if rule
                .keywords
                .iter()
                .any(|k| k.trim().is_empty() || k.chars().count() > 32)
            {
                Some("keywords must be 1 to 32 characters")
            } else {
                None
            };
            if let Some(problem) = problem {
                return Err(RoutingError::Rule {
                    index,
                    name: rule.name.clone(),
                    problem,
                });
            }
        }
        Ok(())
    }

    /// The first rule matching the letter.
    pub fn route(&self, category: Category, subject: &str, body: &str) -> Option<&RoutingRule> {
        self.rules.iter().find(|rule| {
            (rule.categories.is_empty() || rule.categories.contains(&category))
                && (rule.keywords.is_empty()
                    || rule
                        .keywords
                        .iter()
                        .any(|k| subject.contains(k.as_str()) || body.contains(k.as_str())))
        })
    }
}

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
    let Some(rule) = rules.route(record.category, &record.subject, &record.body) else {
        return;
    };
    let decide = match letters::rules(state).await {
        Ok(r) => letters::decision(
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
            letters::Extras::default(),
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
        history_full: crate::letters::history_full(),
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

#[cfg(test)]
mod tests {
    use super::*;

    fn rules() -> RoutingRules {
        serde_json::from_str(
            r#"{"rules": [
                {"name": "出入境", "categories": ["inquiry"], "keywords": ["港澳", "护照"], "to_unit": 2},
                {"name": "华富辖区", "keywords": ["华富", "华强北"], "to_unit": 5}
            ]}"#,
        )
        .expect("valid")
    }

    #[test]
    fn first_match_wins_and_all_conditions_hold() {
        let r = rules();
        r.validate().expect("valid");
        let to = |c, s: &str, b: &str| r.route(c, s, b).map(|rule| rule.to_unit);
        assert_eq!(to(Category::Inquiry, "港澳通行证续签", ""), Some(UnitId(2)));
        assert_eq!(
            to(Category::Complaint, "港澳通行证", "华强北路口"),
            Some(UnitId(5))
        );
        assert_eq!(to(Category::Complaint, "噪音", "福田"), None);
    }

    #[test]
    fn bad_rules_are_named() {
        let bad: RoutingRules =
            serde_json::from_str(r#"{"rules": [{"name": "all", "to_unit": 2}]}"#).expect("parses");
        assert!(matches!(
            bad.validate(),
            Err(RoutingError::Rule { index: 0, .. })
        ));
        assert!(
            serde_json::from_str::<RoutingRules>(
                r#"{"rules": [{"name": "x", "to_unit": 2, "oops": 1}]}"#
            )
            .is_err()
        );
    }
}
