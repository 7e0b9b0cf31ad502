//! Automatic routing (自动分派): rules (configuration, not code) that send a new letter
//! from the city desk straight to a unit by its category and by words in it (a street,
//! a district). The first rule that matches wins. The server applies them at intake and
//! the admin console edits and tests them; both use these types and this matching.

use serde::{Deserialize, Serialize};
use ts_rs::TS;

use crate::letter::Category;
use crate::org::{UnitId, UnitTree};

/// The most rules a configuration may hold (they are checked for every letter).
pub const MAX_RULES: usize = 500;
/// The longest rule name (it is shown in the letter's history as `routing:<name>`).
pub const MAX_RULE_NAME_CHARS: usize = 64;
/// The longest keyword.
pub const MAX_KEYWORD_CHARS: usize = 32;

/// One rule: every condition given must hold; at least one must be given.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
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
    /// Where matching letters go: an active unit below the city bureau.
    pub to_unit: UnitId,
}

/// The rules, in order: the first that matches routes the letter.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, TS)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct RoutingRules {
    pub rules: Vec<RoutingRule>,
}

/// What is wrong with a set of rules.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RuleSetError {
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
    /// The rules' own shape: names, conditions, keyword lengths, how many.
    pub fn validate(&self) -> Result<(), RuleSetError> {
        if self.rules.len() > MAX_RULES {
            return Err(RuleSetError::TooMany);
        }
        for (index, rule) in self.rules.iter().enumerate() {
            let problem =
                if rule.name.trim().is_empty() || rule.name.chars().count() > MAX_RULE_NAME_CHARS {
                    Some("give the rule a name of 1 to 64 characters")
                } else if rule.categories.is_empty() && rule.keywords.is_empty() {
                    Some("a rule needs categories, keywords or both; it would route every letter")
                } else if rule
                    .keywords
                    .iter()
                    .any(|k| k.trim().is_empty() || k.chars().count() > MAX_KEYWORD_CHARS)
                {
                    Some("keywords must be 1 to 32 characters")
                } else {
                    None
                };
            if let Some(problem) = problem {
                return Err(RuleSetError::Rule {
                    index,
                    name: rule.name.clone(),
                    problem,
                });
            }
        }
        Ok(())
    }

    /// [`Self::validate`], and every rule's unit is an active unit below the root of
    /// `tree` (the city desk dispatches from the root).
    pub fn validate_in(&self, tree: &UnitTree) -> Result<(), RuleSetError> {
        self.validate()?;
        for (index, rule) in self.rules.iter().enumerate() {
            let problem = match tree.get(rule.to_unit) {
                None => Some("there is no such unit"),
                Some(u) if u.parent.is_none() => {
                    Some("a rule sends letters away from the city desk, not to it")
                }
                Some(u) if !u.active => Some("the unit is deactivated"),
                Some(_) => None,
            };
            if let Some(problem) = problem {
                return Err(RuleSetError::Rule {
                    index,
                    name: rule.name.clone(),
                    problem,
                });
            }
        }
        Ok(())
    }

    /// The first rule matching the letter, with its position.
    pub fn route(
        &self,
        category: Category,
        subject: &str,
        body: &str,
    ) -> Option<(usize, &RoutingRule)> {
        self.rules.iter().enumerate().find(|(_, rule)| {
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
    use crate::org::{Tier, Unit};

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
        let to = |c, s: &str, b: &str| r.route(c, s, b).map(|(i, rule)| (i, rule.to_unit));
        assert_eq!(
            to(Category::Inquiry, "港澳通行证续签", ""),
            Some((0, UnitId(2)))
        );
        assert_eq!(
            to(Category::Complaint, "港澳通行证", "华强北路口"),
            Some((1, UnitId(5)))
        );
        assert_eq!(to(Category::Complaint, "噪音", "福田"), None);
    }

    #[test]
    fn bad_rules_are_named() {
        let bad: RoutingRules =
            serde_json::from_str(r#"{"rules": [{"name": "all", "to_unit": 2}]}"#).expect("parses");
        assert!(matches!(
            bad.validate(),
            Err(RuleSetError::Rule { index: 0, .. })
        ));
        assert!(
            serde_json::from_str::<RoutingRules>(
                r#"{"rules": [{"name": "x", "to_unit": 2, "oops": 1}]}"#
            )
            .is_err()
        );
    }

    #[test]
    fn a_rule_goes_to_an_active_unit_below_the_city() {
        let unit = |id: i64, parent: Option<i64>, tier, active| Unit {
            id: UnitId(id),
            parent: parent.map(UnitId),
            tier,
            name: format!("u{id}"),
            active,
        };
        let tree = UnitTree::new([
            unit(1, None, Tier::City, true),
            unit(2, Some(1), Tier::Branch, true),
            unit(5, Some(2), Tier::Station, true),
            unit(6, Some(2), Tier::Station, false),
        ])
        .expect("tree");
        rules().validate_in(&tree).expect("valid");
        let to = |unit: i64| RoutingRules {
            rules: vec![RoutingRule {
                name: "r".into(),
                categories: vec![Category::Help],
                keywords: vec![],
                to_unit: UnitId(unit),
            }],
        };
        for (unit, problem) in [
            (1, "a rule sends letters away from the city desk, not to it"),
            (6, "the unit is deactivated"),
            (99, "there is no such unit"),
        ] {
            assert_eq!(
                to(unit).validate_in(&tree),
                Err(RuleSetError::Rule {
                    index: 0,
                    name: "r".into(),
                    problem
                }),
                "unit {unit}"
            );
        }
    }
}
