//! The project's commands, in Rust so that they work the same on Debian and Windows:
//!
//! - `cargo xtask setup`    install what is missing (apt packages, npm ci, tauri-driver)
//! - `cargo xtask demo`     setup, build the UI, run the app
//! - `cargo xtask test`     setup, then every check CI runs, with a summary
//! - `cargo xtask bindings` regenerate the UI's TypeScript bindings from Rust
//! - `cargo xtask contract` the API contract step alone (Schemathesis, demo server)
//! - `cargo xtask cycles`   import circles between the files of each crate (`--write`)
//! - `cargo xtask bench desk` the desktop's benchmark on release builds
//! - `cargo xtask postgres` a private PostgreSQL for running its tests by hand

mod bench;
mod contract;
mod cycles;
mod demo;
mod postgres;
mod setup;
mod shell;
mod test;

use std::process::ExitCode;

const USAGE: &str = "\
usage: cargo xtask <command>

commands:
  setup      install what is missing: system packages (Debian, via apt), npm ci in ui/ and
             tests/, tauri-driver
  demo       setup, build the UI and run the desktop app
  test       setup, then fmt, clippy, Rust tests, bindings drift, the API contract
             (Schemathesis), vue-tsc, Vitest and the end-to-end suite; prints a summary and
             fails if any step failed
  bindings   regenerate ui/src/ipc/bindings from the Rust types
  contract   only the API contract step of `test` (Schemathesis against the demo server)
  cycles     import circles between files inside each crate; fails on a new one
             (`--write` records today's in xtask/module-cycles.txt;
             `--why` prints the imports that tie each one)
  bench desk the desktop's benchmark on release builds (tests/bench/desk.mjs): first
             sign-in, cold start, the UI's queries through the real commands, scrolling,
             idle memory against a bare Tauri window; `--letters N --runs N --idle SECS`
  postgres   a private PostgreSQL (as `test` starts for the PostgreSQL backend's tests);
             prints the JSJB_TEST_POSTGRES to export, stops when Enter is pressed
";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("setup") => setup::run(),
        Some("demo") => demo::run(),
        Some("test") => test::run(),
        Some("bindings") => test::regenerate_bindings(),
        Some("contract") => contract::run(),
        Some("bench") => bench::run(&args[1..]),
        Some("postgres") => postgres::serve_until_enter(),
        Some("cycles") => cycles::run(
            args.iter().any(|a| a == "--write"),
            args.iter().any(|a| a == "--why"),
        ),
        Some("help" | "-h" | "--help") => {
            print!("{USAGE}");
            Ok(())
        }
        Some(other) => {
            eprint!("unknown command `{other}`\n\n{USAGE}");
            return ExitCode::from(2);
        }
        None => {
            eprint!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("\nxtask: error: {error:#}");
            ExitCode::FAILURE
        }
    }
}
