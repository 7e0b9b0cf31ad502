//! `cargo xtask cycles`: import circles between the files of each crate.
//!
//! A file *imports* another when it names a path into it: `use crate::a::b`, a
//! `crate::a::f()` in code, `super::`/`self::` paths, or a child module's items used by
//! its parent (`b::f()` in `a.rs` for `a/b.rs`). Each path goes to the deepest module
//! file it reaches (`crate::a::b::C` is `a/b.rs` when that file exists, else `a.rs`). The
//! crate root (`lib.rs`/`main.rs`) is left out: it is where the crate is composed and
//! re-exported, so every file "reaches" it. Comments and `#[cfg(test)] mod tests` are
//! ignored (a test naming another module is not part of the design).
//!
//! A circle is a strongly connected group of two or more files. The circles that exist
//! today are written in `xtask/module-cycles.txt`; the check fails when a circle appears
//! that is not inside one listed there (a new one, or a listed one that grew), and says
//! when a listed one has shrunk or gone so the list can be tightened
//! (`cargo xtask cycles --write`). The goal (issue 11) is an empty list.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

use crate::shell::{root, say};

const BASELINE: &str = "xtask/module-cycles.txt";

/// Module path inside a crate: `["storage", "sqlite"]` for `storage/sqlite.rs`.
type ModPath = Vec<String>;

/// `write` records today's circles as the baseline; `why` also prints, for each circle,
/// the file-to-file imports that tie it (what to cut to untie it).
pub fn run(write: bool, why: bool) -> Result<()> {
    let root = root();
    let mut found = Vec::new();
    for (name, src) in crate_sources(&root)? {
        for circle in circles(&src)? {
            found.push(format!("{name}: {}", circle.files.join(" ")));
            if why {
                for (from, to) in &circle.imports {
                    println!("    {name}: {from} -> {to}");
                }
            }
        }
    }
    found.sort();
    let baseline_path = root.join(BASELINE);
    if write {
        let mut text = String::from(
            "# Import circles between files, one per line (crate: files). Written by\n\
             # `cargo xtask cycles --write`; the check fails on any circle not inside one here.\n",
        );
        for line in &found {
            text.push_str(line);
            text.push('\n');
        }
        std::fs::write(&baseline_path, text).context("writing the circle list")?;
        say(format!("{} circle(s) written to {BASELINE}", found.len()));
        return Ok(());
    }
    let baseline = read_baseline(&baseline_path)?;
    let mut new = Vec::new();
    for line in &found {
        if !baseline.iter().any(|known| within(line, known)) {
            new.push(line.clone());
        }
    }
    for known in &baseline {
        if !found.contains(known) {
            say(format!(
                "circle shrank or is gone (tighten {BASELINE}): {known}"
            ));
        }
    }
    for line in &found {
        say(format!("circle: {line}"));
    }
    if !new.is_empty() {
        bail!(
            "new import circle(s) between files:\n  {}",
            new.join("\n  ")
        );
    }
    say(format!("{} known circle(s), none new", found.len()));
    Ok(())
}

fn read_baseline(path: &Path) -> Result<Vec<String>> {
    let text = std::fs::read_to_string(path).with_context(|| format!("reading {BASELINE}"))?;
    Ok(text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(str::to_owned)
        .collect())
}

/// `line`'s files are all in `known`'s, in the same crate.
fn within(line: &str, known: &str) -> bool {
    let split = |s: &str| -> Option<(String, BTreeSet<String>)> {
        let (krate, files) = s.split_once(": ")?;
        Some((
            krate.to_owned(),
            files.split_whitespace().map(str::to_owned).collect(),
        ))
    };
    match (split(line), split(known)) {
        (Some((a, fa)), Some((b, fb))) => a == b && fa.is_subset(&fb),
        _ => false,
    }
}

/// Every crate's `src` folder, by package name.
fn crate_sources(root: &Path) -> Result<Vec<(String, PathBuf)>> {
    let mut out = vec![
        ("jsjb-desk".to_owned(), root.join("src-tauri/src")),
        ("xtask".to_owned(), root.join("xtask/src")),
    ];
    let mut crates: Vec<_> = std::fs::read_dir(root.join("crates"))?
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| p.join("src").is_dir())
        .collect();
    crates.sort();
    for dir in crates {
        let name = dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        out.push((format!("jsjb-{name}"), dir.join("src")));
    }
    Ok(out)
}

/// One circle: its files (sorted) and the imports between them.
struct Circle {
    files: Vec<String>,
    imports: Vec<(String, String)>,
}

/// The circles among the files under `src`.
fn circles(src: &Path) -> Result<Vec<Circle>> {
    let mut files = BTreeMap::new();
    collect(src, src, &mut files)?;
    let modules: BTreeSet<ModPath> = files.keys().cloned().collect();
    let reexports = match files.get(&Vec::new()) {
        Some(root) => root_reexports(&code_only(&std::fs::read_to_string(root)?)),
        None => BTreeMap::new(),
    };
    let mut edges: BTreeMap<ModPath, BTreeSet<ModPath>> = BTreeMap::new();
    for (module, path) in &files {
        if module.is_empty() {
            continue;
        }
        let text = std::fs::read_to_string(path)?;
        let targets = edges.entry(module.clone()).or_default();
        for reference in references(&code_only(&text), module, &modules) {
            let reference = through_root(reference, &reexports, &modules);
            if let Some(target) = deepest(&reference, &modules)
                && !target.is_empty()
                && &target != module
            {
                targets.insert(target);
            }
        }
    }
    let mut groups: Vec<Circle> = strongly_connected(&edges)
        .into_iter()
        .filter(|g| g.len() > 1)
        .map(|g| {
            let mut names: Vec<String> = g.iter().map(|m| file_name(&files, m, src)).collect();
            names.sort();
            let mut imports = Vec::new();
            for from in &g {
                for to in edges.get(from).into_iter().flatten() {
                    if g.contains(to) {
                        imports.push((file_name(&files, from, src), file_name(&files, to, src)));
                    }
                }
            }
            imports.sort();
            Circle {
                files: names,
                imports,
            }
        })
        .collect();
    groups.sort_by(|a, b| a.files.cmp(&b.files));
    Ok(groups)
}

fn file_name(files: &BTreeMap<ModPath, PathBuf>, module: &ModPath, src: &Path) -> String {
    files
        .get(module)
        .and_then(|p| p.strip_prefix(src).ok())
        .map(|p| p.to_string_lossy().replace('\\', "/"))
        .unwrap_or_else(|| module.join("::"))
}

fn collect(src: &Path, dir: &Path, files: &mut BTreeMap<ModPath, PathBuf>) -> Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() {
            // `src/bin/*` are crates of their own.
            if dir == src && path.file_name().is_some_and(|n| n == "bin") {
                continue;
            }
            collect(src, &path, files)?;
        } else if path.extension().is_some_and(|e| e == "rs") {
            let rel = path.strip_prefix(src)?.with_extension("");
            let mut module: ModPath = rel
                .components()
                .map(|c| c.as_os_str().to_string_lossy().into_owned())
                .collect();
            if module.last().is_some_and(|l| l == "mod")
                || (module.len() == 1 && (module[0] == "lib" || module[0] == "main"))
            {
                module.pop();
            }
            files.insert(module, path);
        }
    }
    Ok(())
}

/// The text without comments and without the trailing `#[cfg(test)] mod tests`.
fn code_only(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut lines = text.lines().peekable();
    while let Some(line) = lines.next() {
        let trimmed = line.trim_start();
        if trimmed.starts_with("#[cfg(test)]")
            && lines
                .peek()
                .is_some_and(|next| next.trim_start().starts_with("mod tests"))
        {
            break;
        }
        if trimmed.starts_with("//") {
            continue;
        }
        out.push_str(strip_trailing_comment(line));
        out.push('\n');
    }
    out
}

/// `line` up to a `//` that is outside a string literal.
fn strip_trailing_comment(line: &str) -> &str {
    let bytes = line.as_bytes();
    let mut in_string = false;
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'\\' if in_string => i += 1,
            b'"' => in_string = !in_string,
            b'/' if !in_string && bytes.get(i + 1) == Some(&b'/') => return &line[..i],
            _ => {}
        }
        i += 1;
    }
    line
}

/// Every module path named in `code` (absolute, from the crate root).
fn references(code: &str, module: &ModPath, modules: &BTreeSet<ModPath>) -> Vec<ModPath> {
    let mut out = Vec::new();
    // Children of this module, named without a prefix (`sqlite::Store` in `storage.rs`).
    let children: Vec<String> = modules
        .iter()
        .filter(|m| m.len() == module.len() + 1 && m.starts_with(module))
        .filter_map(|m| m.last().cloned())
        .collect();
    let bytes = code.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        let at_word_start = i == 0 || !is_ident(bytes[i - 1]) && bytes[i - 1] != b':';
        if !at_word_start || !is_ident(bytes[i]) {
            i += 1;
            continue;
        }
        let start = i;
        while i < bytes.len() && is_ident(bytes[i]) {
            i += 1;
        }
        let word = &code[start..i];
        if !code[i..].starts_with("::") {
            continue;
        }
        let base: Option<ModPath> = match word {
            "crate" => Some(Vec::new()),
            "super" => Some(module[..module.len().saturating_sub(1)].to_vec()),
            "self" => Some(module.clone()),
            w if children.iter().any(|c| c == w) => {
                let mut m = module.clone();
                m.push(w.to_owned());
                // Do not consume the separator: the child is the path's first segment.
                out.push(m);
                continue;
            }
            _ => None,
        };
        let Some(mut base) = base else { continue };
        i += 2;
        // `super::super::x`
        while code[i..].starts_with("super::") {
            base.pop();
            i += "super::".len();
        }
        let (paths, end) = use_tree(code, i);
        i = end;
        for tail in paths {
            let mut full = base.clone();
            full.extend(tail);
            out.push(full);
        }
    }
    out
}

/// The items the crate root re-exports (`pub use state::AppState;` in `lib.rs`), by
/// name: the module path each comes from.
fn root_reexports(code: &str) -> BTreeMap<String, ModPath> {
    let mut out = BTreeMap::new();
    let mut from = 0;
    while let Some(found) = code[from..].find("pub use ") {
        let at = from + found + "pub use ".len();
        let (paths, end) = use_tree(code, at);
        from = end.max(at);
        for mut path in paths {
            if path.first().is_some_and(|s| s == "crate") {
                path.remove(0);
            }
            if let Some(name) = path.pop()
                && !path.is_empty()
            {
                out.insert(name, path);
            }
        }
    }
    out
}

/// A path through a root re-export (`crate::AppState`) is a path into the module that
/// defines the item (`crate::state::AppState`): the root is left out of the graph, and
/// must not hide an import.
fn through_root(
    reference: ModPath,
    reexports: &BTreeMap<String, ModPath>,
    modules: &BTreeSet<ModPath>,
) -> ModPath {
    let Some(first) = reference.first() else {
        return reference;
    };
    if modules.contains(&vec![first.clone()]) {
        return reference;
    }
    match reexports.get(first) {
        Some(module) => {
            let mut full = module.clone();
            full.extend(reference);
            full
        }
        None => reference,
    }
}

fn is_ident(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

/// Parses a path or `{…}` group at `at`; returns the segment lists it names and where it
/// ends. Good enough for `use` trees and paths in code; not a Rust parser.
fn use_tree(code: &str, mut at: usize) -> (Vec<Vec<String>>, usize) {
    let bytes = code.as_bytes();
    let mut prefix = Vec::new();
    loop {
        while at < bytes.len() && bytes[at].is_ascii_whitespace() {
            at += 1;
        }
        if at < bytes.len() && bytes[at] == b'{' {
            at += 1;
            let mut all = Vec::new();
            loop {
                while at < bytes.len() && (bytes[at].is_ascii_whitespace() || bytes[at] == b',') {
                    at += 1;
                }
                if at >= bytes.len() {
                    return (all, at);
                }
                if bytes[at] == b'}' {
                    at += 1;
                    break;
                }
                let before = at;
                let (inner, end) = use_tree(code, at);
                at = end.max(before + 1);
                for tail in inner {
                    let mut p = prefix.clone();
                    p.extend(tail);
                    all.push(p);
                }
            }
            return (all, at);
        }
        let start = at;
        while at < bytes.len() && is_ident(bytes[at]) {
            at += 1;
        }
        if start == at {
            return (vec![prefix], at);
        }
        prefix.push(code[start..at].to_owned());
        if code[at..].starts_with("::") {
            at += 2;
        } else {
            return (vec![prefix], at);
        }
    }
}

/// The deepest module file that `path` reaches.
fn deepest(path: &ModPath, modules: &BTreeSet<ModPath>) -> Option<ModPath> {
    (0..=path.len())
        .rev()
        .map(|n| path[..n].to_vec())
        .find(|prefix| modules.contains(prefix))
}

/// Tarjan's algorithm, iterative over the small graphs here (recursion depth = files).
fn strongly_connected(edges: &BTreeMap<ModPath, BTreeSet<ModPath>>) -> Vec<Vec<ModPath>> {
    struct Tarjan<'a> {
        edges: &'a BTreeMap<ModPath, BTreeSet<ModPath>>,
        index: BTreeMap<ModPath, usize>,
        low: BTreeMap<ModPath, usize>,
        stack: Vec<ModPath>,
        on_stack: BTreeSet<ModPath>,
        next: usize,
        out: Vec<Vec<ModPath>>,
    }
    impl Tarjan<'_> {
        fn visit(&mut self, v: &ModPath) {
            self.index.insert(v.clone(), self.next);
            self.low.insert(v.clone(), self.next);
            self.next += 1;
            self.stack.push(v.clone());
            self.on_stack.insert(v.clone());
            let targets: Vec<ModPath> = self
                .edges
                .get(v)
                .map(|t| t.iter().cloned().collect())
                .unwrap_or_default();
            for w in targets {
                if !self.index.contains_key(&w) {
                    self.visit(&w);
                    let low = self.low[v].min(self.low[&w]);
                    self.low.insert(v.clone(), low);
                } else if self.on_stack.contains(&w) {
                    let low = self.low[v].min(self.index[&w]);
                    self.low.insert(v.clone(), low);
                }
            }
            if self.low[v] == self.index[v] {
                let mut group = Vec::new();
                while let Some(w) = self.stack.pop() {
                    self.on_stack.remove(&w);
                    let done = &w == v;
                    group.push(w);
                    if done {
                        break;
                    }
                }
                self.out.push(group);
            }
        }
    }
    let mut t = Tarjan {
        edges,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        on_stack: BTreeSet::new(),
        next: 0,
        out: Vec::new(),
    };
    for v in edges.keys() {
        if !t.index.contains_key(v) {
            t.visit(v);
        }
    }
    t.out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(modules: &[&[&str]]) -> BTreeSet<ModPath> {
        modules
            .iter()
            .map(|m| m.iter().map(|s| s.to_string()).collect())
            .collect()
    }

    #[test]
    fn paths_groups_super_and_children_are_all_references() {
        let modules = set(&[&["a"], &["a", "b"], &["c"], &["d"]]);
        let module: ModPath = vec!["a".into()];
        let code = "use crate::{c::X, d::{self, Y}};\nfn f() { b::g(); super::c::h(); }";
        let mut found: Vec<ModPath> = references(code, &module, &modules)
            .iter()
            .filter_map(|r| deepest(r, &modules))
            .collect();
        found.sort();
        found.dedup();
        assert_eq!(
            found,
            set(&[&["a", "b"], &["c"], &["d"]])
                .into_iter()
                .collect::<Vec<_>>()
        );
    }

    #[test]
    fn comments_and_test_modules_do_not_count() {
        let code = "// use crate::x;\nlet s = \"http://x\"; // crate::y\n#[cfg(test)]\nmod tests {\n use crate::z;\n}";
        let kept = code_only(code);
        assert!(!kept.contains("crate::"), "{kept}");
        assert!(kept.contains("http://x"));
    }

    #[test]
    fn a_path_through_a_root_reexport_reaches_the_defining_module() {
        let modules = set(&[&[], &["state"], &["config"]]);
        let reexports = root_reexports(
            "pub use state::AppState;\npub use crate::config::{Config, Limits};\npub use serde_json;",
        );
        assert_eq!(
            through_root(vec!["AppState".into()], &reexports, &modules),
            vec!["state".to_owned(), "AppState".to_owned()]
        );
        assert_eq!(
            through_root(vec!["Limits".into()], &reexports, &modules),
            vec!["config".to_owned(), "Limits".to_owned()]
        );
        // A module path and an unknown name are left as they are.
        assert_eq!(
            through_root(vec!["config".into(), "X".into()], &reexports, &modules),
            vec!["config".to_owned(), "X".to_owned()]
        );
        assert_eq!(
            through_root(vec!["Other".into()], &reexports, &modules),
            vec!["Other".to_owned()]
        );
    }

    #[test]
    fn a_loop_of_three_is_one_group_and_a_chain_is_none() {
        let m = |s: &str| vec![s.to_owned()];
        let mut edges = BTreeMap::new();
        edges.insert(m("a"), BTreeSet::from([m("b")]));
        edges.insert(m("b"), BTreeSet::from([m("c")]));
        edges.insert(m("c"), BTreeSet::from([m("a"), m("d")]));
        edges.insert(m("d"), BTreeSet::new());
        let groups: Vec<_> = strongly_connected(&edges)
            .into_iter()
            .filter(|g| g.len() > 1)
            .collect();
        assert_eq!(groups.len(), 1);
        assert_eq!(groups[0].len(), 3);
    }

    #[test]
    fn a_circle_inside_a_known_one_is_not_new() {
        assert!(within(
            "jsjb-server: a.rs b.rs",
            "jsjb-server: a.rs b.rs c.rs"
        ));
        assert!(!within(
            "jsjb-server: a.rs d.rs",
            "jsjb-server: a.rs b.rs c.rs"
        ));
        assert!(!within("jsjb-store: a.rs b.rs", "jsjb-server: a.rs b.rs"));
    }
}
