//! Running programs: every command is echoed before it runs, and a failure says
//! which command failed and where.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};

/// The workspace root (the parent of `xtask/`).
pub fn root() -> PathBuf {
    let xtask = Path::new(env!("CARGO_MANIFEST_DIR"));
    xtask.parent().unwrap_or(xtask).to_path_buf()
}

/// The cargo that runs us (so `cargo +toolchain xtask` stays on that toolchain).
pub fn cargo() -> Command {
    Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()))
}

/// npm; on Windows it is a `.cmd` script that `Command` does not find by bare name.
pub fn npm() -> Command {
    Command::new(if cfg!(windows) { "npm.cmd" } else { "npm" })
}

/// `npm run <script>` in `project` (a folder of the workspace).
pub fn npm_script(project: &str, script: &str) -> Result<()> {
    let mut cmd = npm();
    cmd.args(["run", script]);
    run(cmd, &root().join(project))
}

/// `npm run build` in ui/: type-checks and writes ui/dist.
pub fn build_ui() -> Result<()> {
    npm_script("ui", "build")
}

/// Prints a heading for what happens next.
pub fn say(message: impl AsRef<str>) {
    println!("\n==> {}", message.as_ref());
}

/// Runs `cmd` in `dir` with inherited output; fails unless it exits with 0.
pub fn run(mut cmd: Command, dir: &Path) -> Result<()> {
    cmd.current_dir(dir);
    let shown = describe(&cmd);
    println!("$ {shown}    (in {})", display_dir(dir));
    let status = cmd
        .status()
        .with_context(|| format!("could not start `{shown}` — is it installed and on PATH?"))?;
    if !status.success() {
        bail!("`{shown}` failed ({status})");
    }
    Ok(())
}

/// Runs `cmd` quietly and says whether it exited with 0 (false when it cannot start).
pub fn succeeds(mut cmd: Command) -> bool {
    cmd.stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Runs `cmd` and returns its stdout (None when it cannot start or fails).
pub fn output(mut cmd: Command) -> Option<String> {
    let out = cmd.stderr(std::process::Stdio::null()).output().ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

fn describe(cmd: &Command) -> String {
    let mut parts = Vec::new();
    for (key, value) in cmd.get_envs() {
        if let Some(value) = value {
            parts.push(format!(
                "{}={}",
                key.to_string_lossy(),
                value.to_string_lossy()
            ));
        }
    }
    let program = Path::new(cmd.get_program());
    // Show `cargo`, not the toolchain's absolute path.
    parts.push(
        program
            .file_stem()
            .map_or_else(
                || cmd.get_program().to_string_lossy(),
                |s| s.to_string_lossy(),
            )
            .into_owned(),
    );
    parts.extend(cmd.get_args().map(|a| a.to_string_lossy().into_owned()));
    parts.join(" ")
}

fn display_dir(dir: &Path) -> String {
    let root = root();
    match dir.strip_prefix(&root) {
        Ok(rel) if rel.as_os_str().is_empty() => ".".to_owned(),
        Ok(rel) => rel.display().to_string(),
        Err(_) => dir.display().to_string(),
    }
}
