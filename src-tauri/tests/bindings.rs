//! Keeps `ui/src/ipc/bindings/` equal to what Rust generates (Cap-style).
//!
//! By default the test writes the files, so `cargo test` refreshes them. With
//! `JSJB_BINDINGS=check` (set by `cargo xtask test`, hence CI) it writes nothing and
//! fails when a committed file differs, is missing or is stale.

use std::collections::BTreeSet;
use std::fs;
use std::path::Path;

#[test]
fn typescript_bindings_are_current() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join(jsjb_desk::bindings::DIR);
    let files = jsjb_desk::bindings::typescript().expect("every IPC type can be exported");
    let check_only = std::env::var("JSJB_BINDINGS").is_ok_and(|v| v == "check");

    let expected: BTreeSet<String> = files.iter().map(|f| f.name.clone()).collect();
    let on_disk: BTreeSet<String> = fs::read_dir(&dir)
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|name| name.ends_with(".ts"))
                .collect()
        })
        .unwrap_or_default();

    let mut drift = Vec::new();
    for f in &files {
        let path = dir.join(&f.name);
        if fs::read_to_string(&path).ok().as_deref() != Some(f.contents.as_str()) {
            drift.push(format!("{} differs from what Rust generates", f.name));
            if !check_only {
                fs::create_dir_all(&dir).expect("create the bindings folder");
                fs::write(&path, &f.contents).expect("write a binding");
            }
        }
    }
    for stale in on_disk.difference(&expected) {
        drift.push(format!("{stale} is no longer generated"));
        if !check_only {
            fs::remove_file(dir.join(stale)).expect("remove a stale binding");
        }
    }

    if check_only {
        assert!(
            drift.is_empty(),
            "TypeScript bindings in {} are out of date — run `cargo xtask bindings` and commit the result:\n  {}",
            jsjb_desk::bindings::DIR,
            drift.join("\n  ")
        );
    } else if !drift.is_empty() {
        eprintln!("updated TypeScript bindings:\n  {}", drift.join("\n  "));
    }
}
