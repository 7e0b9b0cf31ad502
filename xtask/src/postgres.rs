//! A private PostgreSQL for the tests: a fresh cluster in a temporary folder, on a free
//! loopback port, with trust authentication for one user, stopped and removed when the
//! guard drops. `cargo xtask test` hands its URL to the tests as `JSJB_TEST_POSTGRES`.
//!
//! The server comes from Debian's `postgresql` package (setup installs it); its own
//! service is not used. PostgreSQL refuses to run as root, so as root the cluster is
//! owned by and run as the package's `postgres` user (`runuser`).

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use crate::shell;

/// The variable the PostgreSQL tests read the server's URL from.
pub const TEST_URL_ENV: &str = "JSJB_TEST_POSTGRES";

/// The variable naming the command that controls the cluster (`pg_ctl -D <data>`, as
/// the user that owns it): the failover test appends `restart` to restart PostgreSQL
/// under the running servers.
pub const TEST_CTL_ENV: &str = "JSJB_TEST_POSTGRES_CTL";

/// The user the tests connect as (a superuser of the private cluster: the tests create
/// and drop a database per case).
const USER: &str = "jsjb";

pub struct TestCluster {
    bin: PathBuf,
    data: PathBuf,
    dir: PathBuf,
    pub url: String,
    as_postgres: bool,
}

impl TestCluster {
    pub fn start() -> Result<TestCluster> {
        let bin = bin_dir()?;
        stop_orphans(&bin);
        let dir = std::env::temp_dir().join(format!("jsjb-test-postgres-{}", std::process::id()));
        if dir.exists() {
            std::fs::remove_dir_all(&dir).with_context(|| format!("removing {}", dir.display()))?;
        }
        std::fs::create_dir_all(&dir)?;
        let as_postgres = is_root();
        if as_postgres {
            let status = Command::new("chown")
                .args(["postgres:postgres"])
                .arg(&dir)
                .status()
                .context("chown the cluster folder to postgres")?;
            if !status.success() {
                bail!("cannot give {} to the postgres user", dir.display());
            }
        }
        let data = dir.join("data");
        let port = free_port()?;
        let cluster = TestCluster {
            url: format!("postgres://{USER}@127.0.0.1:{port}/postgres"),
            bin,
            data,
            dir,
            as_postgres,
        };
        let mut initdb = cluster.command("initdb");
        initdb
            .arg("-D")
            .arg(&cluster.data)
            .args(["-U", USER, "--auth=trust", "-E", "UTF8", "--locale=C.UTF-8"])
            .stdout(std::process::Stdio::null());
        shell::run(initdb, &cluster.dir)?;
        let mut pg_ctl = cluster.command("pg_ctl");
        pg_ctl
            .arg("-D")
            .arg(&cluster.data)
            .arg("-l")
            .arg(cluster.dir.join("server.log"))
            .arg("-o")
            .arg(format!(
                // Sockets in the cluster's own folder (not /var/run/postgresql, which
                // may not exist); enough connections for every case of the suite at once.
                "-p {port} -k {} -c listen_addresses=127.0.0.1 -c max_connections=300 \
                 -c fsync=on -c synchronous_commit=on",
                cluster.dir.display()
            ))
            .args(["-w", "-t", "60", "start"]);
        shell::run(pg_ctl, &cluster.dir)?;
        cluster.wait_ready(port)?;
        println!("PostgreSQL for the tests: {}", cluster.url);
        Ok(cluster)
    }

    /// The [`TEST_CTL_ENV`] command line.
    pub fn ctl(&self) -> String {
        let pg_ctl = self.bin.join("pg_ctl");
        // The log again, or a restarted server would log to the restarting process.
        let args = format!(
            "-D {} -l {}",
            self.data.display(),
            self.dir.join("server.log").display()
        );
        if self.as_postgres {
            format!("runuser -u postgres -- {} {args}", pg_ctl.display())
        } else {
            format!("{} {args}", pg_ctl.display())
        }
    }

    fn command(&self, program: &str) -> Command {
        let path = self.bin.join(program);
        if self.as_postgres {
            let mut cmd = Command::new("runuser");
            cmd.args(["-u", "postgres", "--"]).arg(path);
            cmd
        } else {
            Command::new(path)
        }
    }

    fn wait_ready(&self, port: u16) -> Result<()> {
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        bail!(
            "PostgreSQL did not listen on {port} within 30 s; see {}",
            self.dir.join("server.log").display()
        )
    }
}

impl Drop for TestCluster {
    fn drop(&mut self) {
        let mut stop = self.command("pg_ctl");
        stop.arg("-D")
            .arg(&self.data)
            .args(["-m", "immediate", "-w", "stop"])
            .stdout(std::process::Stdio::null());
        if !shell::succeeds(stop) {
            eprintln!(
                "could not stop the tests' PostgreSQL in {}",
                self.dir.display()
            );
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Stops and removes the clusters of earlier runs whose xtask is gone (interrupted with
/// Ctrl-C or killed, so its guard never dropped): each would otherwise keep a server
/// running and a folder in the temporary directory until the machine restarts.
fn stop_orphans(bin: &Path) {
    let Ok(entries) = std::fs::read_dir(std::env::temp_dir()) else {
        return;
    };
    for entry in entries.filter_map(|e| e.ok()) {
        let name = entry.file_name();
        let Some(pid) = name
            .to_str()
            .and_then(|n| n.strip_prefix("jsjb-test-postgres-"))
            .and_then(|p| p.parse::<u32>().ok())
        else {
            continue;
        };
        if pid == std::process::id() || Path::new(&format!("/proc/{pid}")).exists() {
            continue;
        }
        let data = entry.path().join("data");
        if data.join("postmaster.pid").exists() {
            let pg_ctl = bin.join("pg_ctl");
            let mut stop = if is_root() {
                let mut cmd = Command::new("runuser");
                cmd.args(["-u", "postgres", "--"]).arg(pg_ctl);
                cmd
            } else {
                Command::new(pg_ctl)
            };
            stop.arg("-D")
                .arg(&data)
                .args(["-m", "immediate", "-w", "stop"])
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null());
            let _ = shell::succeeds(stop);
        }
        println!(
            "removed the tests' PostgreSQL left by an interrupted run: {}",
            entry.path().display()
        );
        let _ = std::fs::remove_dir_all(entry.path());
    }
}

/// `cargo xtask postgres`: a cluster for running the PostgreSQL tests by hand.
pub fn serve_until_enter() -> Result<()> {
    let cluster = TestCluster::start()?;
    println!("export {TEST_URL_ENV}={}", cluster.url);
    println!("export {TEST_CTL_ENV}='{}'", cluster.ctl());
    println!("(press Enter to stop it)");
    let mut line = String::new();
    std::io::stdin().read_line(&mut line)?;
    drop(cluster);
    Ok(())
}

/// The newest installed server's programs (`/usr/lib/postgresql/<major>/bin`).
fn bin_dir() -> Result<PathBuf> {
    let base = Path::new("/usr/lib/postgresql");
    let mut majors: Vec<(u32, PathBuf)> = std::fs::read_dir(base)
        .with_context(|| format!("{} — is the postgresql package installed?", base.display()))?
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let major = e.file_name().to_str()?.parse::<u32>().ok()?;
            let bin = e.path().join("bin");
            bin.join("initdb").exists().then_some((major, bin))
        })
        .collect();
    majors.sort();
    majors
        .pop()
        .map(|(_, bin)| bin)
        .with_context(|| format!("no PostgreSQL server under {}", base.display()))
}

fn free_port() -> Result<u16> {
    let listener = TcpListener::bind("127.0.0.1:0").context("finding a free port")?;
    Ok(listener.local_addr()?.port())
}

fn is_root() -> bool {
    shell::output({
        let mut id = Command::new("id");
        id.arg("-u");
        id
    })
    .is_some_and(|uid| uid.trim() == "0")
}
