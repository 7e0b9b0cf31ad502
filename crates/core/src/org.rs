//! The organisation: a tree of units (市局 → 分局 → 派出所) and the roles users hold.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};
use ts_rs::TS;

/// A unit's id, assigned by the central server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, TS)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(transparent)]
#[ts(type = "number")]
pub struct UnitId(pub i64);

/// A user's id, assigned by the central server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, TS)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(transparent)]
#[ts(type = "number")]
pub struct UserId(pub i64);

/// The tier of a unit. The order is top-down: a city bureau is above its branches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, TS)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Tier {
    /// 市局
    City,
    /// 分局
    Branch,
    /// 派出所
    Station,
}

impl Tier {
    pub const ALL: [Tier; 3] = [Tier::City, Tier::Branch, Tier::Station];

    pub fn as_str(self) -> &'static str {
        match self {
            Tier::City => "city",
            Tier::Branch => "branch",
            Tier::Station => "station",
        }
    }

    /// The tier a child of this tier must have; `None` for a station (a leaf).
    pub fn child(self) -> Option<Tier> {
        match self {
            Tier::City => Some(Tier::Branch),
            Tier::Branch => Some(Tier::Station),
            Tier::Station => None,
        }
    }
}

/// A role a user holds. A user has one or more.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, TS)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// 接诉即办中心/专班: receives, classifies, dispatches, rules on returns, return visits.
    Dispatcher,
    /// 值班/承办民警: signs for, contacts the writer, handles, drafts the feedback form.
    Officer,
    /// 主办单位一把手: signs or sends back the unit's feedback forms.
    Chief,
    /// 盯办民警: follows up overdue or extended cases of units below, chases.
    Supervisor,
    /// 管理员: units, users, keys.
    Admin,
}

impl Role {
    pub const ALL: [Role; 5] = [
        Role::Dispatcher,
        Role::Officer,
        Role::Chief,
        Role::Supervisor,
        Role::Admin,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Dispatcher => "dispatcher",
            Role::Officer => "officer",
            Role::Chief => "chief",
            Role::Supervisor => "supervisor",
            Role::Admin => "admin",
        }
    }

    pub fn parse(s: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|r| r.as_str() == s)
    }
}

/// One unit of the tree.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Unit {
    pub id: UnitId,
    pub parent: Option<UnitId>,
    pub tier: Tier,
    pub name: String,
    /// False once an admin deactivated the unit: it keeps its letters' history but
    /// receives no new letters. (Absent in copies cached before units could be
    /// deactivated: they were all active.)
    #[serde(default = "Unit::active_default")]
    pub active: bool,
}

impl Unit {
    fn active_default() -> bool {
        true
    }
}

/// Where a user's unit stands relative to a letter's unit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, TS)]
#[serde(rename_all = "snake_case")]
pub enum Relation {
    /// The same unit.
    Same,
    /// The user's unit is an ancestor of the letter's unit (a tier above).
    Above,
    /// The user's unit is a descendant of the letter's unit (a tier below).
    Below,
    /// Neither: a sibling or a cousin. Nobody sees a sibling's letters.
    Unrelated,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OrgError {
    #[error("unit {0:?} is not in the tree")]
    UnknownUnit(UnitId),
    #[error("unit {0:?} appears twice")]
    DuplicateUnit(UnitId),
    #[error("unit {unit:?} ({tier:?}) cannot sit under its parent")]
    WrongTier { unit: UnitId, tier: Tier },
    #[error("the tree must have exactly one root, a city bureau")]
    Root,
}

/// The unit tree, validated: one city root, branches under it, stations under branches.
#[derive(Debug, Clone, Default)]
pub struct UnitTree {
    units: HashMap<UnitId, Unit>,
}

impl UnitTree {
    /// Builds and validates a tree from its units, in any order.
    pub fn new(units: impl IntoIterator<Item = Unit>) -> Result<Self, OrgError> {
        let mut map = HashMap::new();
        for unit in units {
            let id = unit.id;
            if map.insert(id, unit).is_some() {
                return Err(OrgError::DuplicateUnit(id));
            }
        }
        let tree = UnitTree { units: map };
        let mut roots = 0;
        for unit in tree.units.values() {
            match unit.parent {
                None => {
                    if unit.tier != Tier::City {
                        return Err(OrgError::Root);
                    }
                    roots += 1;
                }
                Some(parent) => {
                    let parent = tree
                        .units
                        .get(&parent)
                        .ok_or(OrgError::UnknownUnit(parent))?;
                    if parent.tier.child() != Some(unit.tier) {
                        return Err(OrgError::WrongTier {
                            unit: unit.id,
                            tier: unit.tier,
                        });
                    }
                }
            }
        }
        // Tiers strictly descend along every parent link, so no cycle can exist once
        // the tier check above passes; only the root count is left to check.
        if roots != 1 && !tree.units.is_empty() {
            return Err(OrgError::Root);
        }
        Ok(tree)
    }

    pub fn get(&self, id: UnitId) -> Option<&Unit> {
        self.units.get(&id)
    }

    pub fn units(&self) -> impl Iterator<Item = &Unit> {
        self.units.values()
    }

    /// The unit's ancestors, nearest first.
    pub fn ancestors(&self, id: UnitId) -> Vec<UnitId> {
        let mut out = Vec::new();
        let mut cursor = self.units.get(&id).and_then(|u| u.parent);
        while let Some(p) = cursor {
            // The tier check in `new` rules out cycles; the length guard keeps a
            // malformed tree from looping forever all the same.
            if out.len() > self.units.len() {
                break;
            }
            out.push(p);
            cursor = self.units.get(&p).and_then(|u| u.parent);
        }
        out
    }

    /// The unit and every unit below it.
    pub fn subtree(&self, id: UnitId) -> Vec<UnitId> {
        let mut out: Vec<UnitId> = self
            .units
            .values()
            .filter(|u| u.id == id || self.ancestors(u.id).contains(&id))
            .map(|u| u.id)
            .collect();
        out.sort();
        out
    }

    /// The direct children of a unit, sorted by id.
    pub fn children(&self, id: UnitId) -> Vec<UnitId> {
        let mut out: Vec<UnitId> = self
            .units
            .values()
            .filter(|u| u.parent == Some(id))
            .map(|u| u.id)
            .collect();
        out.sort();
        out
    }

    /// Where `user_unit` stands relative to `letter_unit`.
    pub fn relation(&self, user_unit: UnitId, letter_unit: UnitId) -> Relation {
        if user_unit == letter_unit {
            Relation::Same
        } else if self.ancestors(letter_unit).contains(&user_unit) {
            Relation::Above
        } else if self.ancestors(user_unit).contains(&letter_unit) {
            Relation::Below
        } else {
            Relation::Unrelated
        }
    }

    /// Whether `unit` is `ancestor` or below it (the unit's scope).
    pub fn in_scope(&self, ancestor: UnitId, unit: UnitId) -> bool {
        matches!(
            self.relation(ancestor, unit),
            Relation::Same | Relation::Above
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn unit(id: i64, parent: Option<i64>, tier: Tier) -> Unit {
        Unit {
            id: UnitId(id),
            parent: parent.map(UnitId),
            tier,
            name: format!("unit {id}"),
            active: true,
        }
    }

    fn city() -> UnitTree {
        UnitTree::new([
            unit(1, None, Tier::City),
            unit(10, Some(1), Tier::Branch),
            unit(20, Some(1), Tier::Branch),
            unit(11, Some(10), Tier::Station),
            unit(12, Some(10), Tier::Station),
            unit(21, Some(20), Tier::Station),
        ])
        .expect("valid tree")
    }

    #[test]
    fn relations() {
        let t = city();
        assert_eq!(t.relation(UnitId(11), UnitId(11)), Relation::Same);
        assert_eq!(t.relation(UnitId(1), UnitId(11)), Relation::Above);
        assert_eq!(t.relation(UnitId(10), UnitId(11)), Relation::Above);
        assert_eq!(t.relation(UnitId(11), UnitId(10)), Relation::Below);
        assert_eq!(t.relation(UnitId(11), UnitId(12)), Relation::Unrelated);
        assert_eq!(t.relation(UnitId(10), UnitId(21)), Relation::Unrelated);
        assert_eq!(t.relation(UnitId(20), UnitId(10)), Relation::Unrelated);
    }

    #[test]
    fn subtree_and_ancestors() {
        let t = city();
        assert_eq!(
            t.subtree(UnitId(10)),
            vec![UnitId(10), UnitId(11), UnitId(12)]
        );
        assert_eq!(t.ancestors(UnitId(21)), vec![UnitId(20), UnitId(1)]);
        assert_eq!(t.children(UnitId(1)), vec![UnitId(10), UnitId(20)]);
        assert!(t.in_scope(UnitId(1), UnitId(21)));
        assert!(!t.in_scope(UnitId(10), UnitId(21)));
    }

    #[test]
    fn rejects_bad_trees() {
        assert_eq!(
            UnitTree::new([unit(1, None, Tier::Branch)]).err(),
            Some(OrgError::Root)
        );
        assert_eq!(
            UnitTree::new([unit(1, None, Tier::City), unit(2, Some(1), Tier::Station)]).err(),
            Some(OrgError::WrongTier {
                unit: UnitId(2),
                tier: Tier::Station
            })
        );
        assert_eq!(
            UnitTree::new([unit(1, None, Tier::City), unit(2, Some(9), Tier::Branch)]).err(),
            Some(OrgError::UnknownUnit(UnitId(9)))
        );
        assert_eq!(
            UnitTree::new([unit(1, None, Tier::City), unit(1, None, Tier::City)]).err(),
            Some(OrgError::DuplicateUnit(UnitId(1)))
        );
        assert_eq!(
            UnitTree::new([unit(1, None, Tier::City), unit(2, None, Tier::City)]).err(),
            Some(OrgError::Root)
        );
    }
}
