//! Reference data the desks work with that is the bureau's to configure: the problem
//! classes (问题分类). Served to the desktops with the signed-in user, so no desktop
//! carries a compiled-in list, and checked on every reclassification.

/// At most this many classes may be configured (the desk picks from a list).
pub const MAX_PROBLEM_CLASSES: usize = 64;

/// The 18 common problem classes the bureau tracks: the default configuration.
pub const DEFAULT_PROBLEM_CLASSES: [&str; 18] = [
    "户政落户",
    "身份证件",
    "居住证",
    "出入境",
    "噪音扰民",
    "电动车被盗",
    "电信网络诈骗",
    "交通违法",
    "违章停车",
    "治安隐患",
    "邻里纠纷",
    "寻求帮助",
    "养犬管理",
    "非法营运",
    "黄赌毒线索",
    "执法态度",
    "办事效率",
    "表扬感谢",
];

pub fn default_problem_classes() -> Vec<String> {
    DEFAULT_PROBLEM_CLASSES
        .iter()
        .map(|c| (*c).to_owned())
        .collect()
}

/// 1 to [`MAX_PROBLEM_CLASSES`] distinct classes, each 1 to `MAX_TAG_CHARS` characters
/// once trimmed (a class is a tag on letters, under the tags' limits).
/// `Err` names what is wrong.
pub fn check_problem_classes(classes: &[String]) -> Result<(), String> {
    if classes.is_empty() || classes.len() > MAX_PROBLEM_CLASSES {
        return Err(format!("{} given", classes.len()));
    }
    let mut seen = std::collections::BTreeSet::new();
    for class in classes {
        let name = class.trim();
        if name.is_empty()
            || name != class
            || name.chars().count() > jsjb_core::letter::MAX_TAG_CHARS
            || !seen.insert(name)
        {
            return Err(format!("{class:?}"));
        }
    }
    Ok(())
}

/// The first of `tags` (trimmed) that is not a configured class, if any: a desk tags
/// letters only with the bureau's classes (on 录入来电 and on 重新分类).
pub fn unknown_class<'a>(classes: &[String], tags: &'a [String]) -> Option<&'a str> {
    tags.iter()
        .map(|t| t.trim())
        .find(|t| !classes.iter().any(|c| c == t))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_is_valid_and_bad_lists_are_refused() {
        assert!(check_problem_classes(&default_problem_classes()).is_ok());
        for bad in [
            vec![],
            vec![String::new()],
            vec![" 噪音扰民".to_owned()],
            vec!["噪音扰民".to_owned(), "噪音扰民".to_owned()],
            vec!["长".repeat(33)],
        ] {
            assert!(check_problem_classes(&bad).is_err(), "{bad:?}");
        }
    }
}
