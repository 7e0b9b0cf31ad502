//! Automatic routing: rules (configuration, not code) that dispatch a new letter from
//! the city desk straight to a unit by its category and by words in it (a street, a
//! district). The dispatch goes through the same life-cycle rules as a desk's, recorded
//! with the rule's name as the actor.

use std::path::Path;

use jsjb_core::letter::Category;
use jsjb_core::org::UnitId;
use serde::{Deserialize, Serialize};

pub mod dispatch;

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
