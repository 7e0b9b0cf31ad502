//! The shipped nginx configuration (deploy/nginx/jsjb.conf) in front of the real
//! jsjb-server binary, with TLS on loopback: Debian's nginx, started by the test as any
//! user (every path it writes is in the test's folder) on free ports, with a certificate
//! made for the test by a CA made for the test. The site file is used as shipped; only its
//! four site-specific values and its listen ports are replaced (each must be found, so a
//! renamed value fails here instead of testing something else).
//!
//! The client connects from 127.0.0.2 (and .3, .4), nginx from 127.0.0.1 — the only
//! trusted proxy — so the server can only tell the clients apart through the
//! X-Forwarded-For nginx sets.

// The server is deployed on Linux; the harness uses Unix file modes and `kill`.
#![cfg(unix)]

use std::fs;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

const BIN: &str = env!("CARGO_BIN_EXE_jsjb-server");
const SITE: &str = include_str!("../../../deploy/nginx/jsjb.conf");
const HOST: &str = "jsjb.test";
const PASSWORD: &str = "nginx-test-password-1";
const MIB: usize = 1024 * 1024;

/// nginx from PATH or where Debian puts it (`/usr/sbin`, often not on a user's PATH).
fn nginx_binary() -> Option<PathBuf> {
    let on_path = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .unwrap_or_default();
    on_path
        .into_iter()
        .map(|d| d.join("nginx"))
        .chain([PathBuf::from("/usr/sbin/nginx")])
        .find(|p| p.is_file())
}

/// A free loopback port (bound and released: the programs bind it right after).
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

fn run(cmd: &mut Command) -> String {
    let out = cmd.output().expect("run a command");
    assert!(
        out.status.success(),
        "{cmd:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A CA and a certificate for [`HOST`] signed by it; returns the CA's PEM.
fn certificates(dir: &Path) -> Vec<u8> {
    let openssl = |args: &[&str]| run(Command::new("openssl").args(args).current_dir(dir));
    let ec = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
    ];
    openssl(
        &[
            &["req", "-x509"][..],
            &ec,
            &["-keyout", "ca.key", "-out", "ca.pem", "-days", "2"],
            &["-subj", "/CN=jsjb nginx test CA"],
        ]
        .concat(),
    );
    openssl(
        &[
            &["req"][..],
            &ec,
            &["-keyout", "privkey.pem", "-out", "server.csr"],
            &["-subj", &format!("/CN={HOST}")],
        ]
        .concat(),
    );
    fs::write(
        dir.join("server.ext"),
        format!(
            "basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\n\
             extendedKeyUsage=serverAuth\nsubjectAltName=DNS:{HOST}\n"
        ),
    )
    .expect("write extensions");
    openssl(&[
        "x509",
        "-req",
        "-in",
        "server.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-days",
        "2",
        "-extfile",
        "server.ext",
        "-out",
        "fullchain.pem",
    ]);
    fs::set_permissions(dir.join("privkey.pem"), fs::Permissions::from_mode(0o600))
        .expect("key mode");
    fs::read(dir.join("ca.pem")).expect("ca")
}

/// The shipped site with this test's ports, certificate and host name.
fn render_site(dir: &Path, app: u16, http: u16, https: u16) -> String {
    let replacements = [
        ("listen 80;", format!("listen 127.0.0.1:{http};")),
        ("listen [::]:80;", String::new()),
        (
            "listen 443 ssl http2;",
            format!("listen 127.0.0.1:{https} ssl http2;"),
        ),
        ("listen [::]:443 ssl http2;", String::new()),
        ("127.0.0.1:8080", format!("127.0.0.1:{app}")),
        (
            "/etc/ssl/jsjb/fullchain.pem",
            dir.join("fullchain.pem").display().to_string(),
        ),
        (
            "/etc/ssl/jsjb/privkey.pem",
            dir.join("privkey.pem").display().to_string(),
        ),
        ("jsjb.example.gov.cn", HOST.to_owned()),
    ];
    // Only the directives, not the comments that name the values.
    let mut lines: Vec<String> = SITE
        .lines()
        .map(|l| match l.trim_start().starts_with('#') {
            true => String::new(),
            false => l.to_owned(),
        })
        .collect();
    for (from, to) in replacements {
        let mut found = false;
        for line in &mut lines {
            if line.contains(from) {
                *line = line.replace(from, &to);
                found = true;
            }
        }
        assert!(found, "deploy/nginx/jsjb.conf no longer has {from:?}");
    }
    lines.join("\n")
}

/// A process killed (and reaped) when the test ends, however it ends.
struct Running {
    child: Child,
    name: &'static str,
    log: PathBuf,
}

impl Running {
    fn log(&self) -> String {
        fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn assert_alive(&mut self) {
        if let Ok(Some(status)) = self.child.try_wait() {
            panic!("{} exited ({status}):\n{}", self.name, self.log());
        }
    }

    /// Waits until `port` accepts connections.
    fn wait_for(&mut self, port: u16) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            self.assert_alive();
            assert!(
                Instant::now() < deadline,
                "{} did not listen on {port}:\n{}",
                self.name,
                self.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        // SIGTERM first: nginx's master then stops its worker too.
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .stderr(Stdio::null())
            .status();
        let deadline = Instant::now() + Duration::from_secs(5);
        while matches!(self.child.try_wait(), Ok(None)) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn spawn(name: &'static str, cmd: &mut Command, log: PathBuf) -> Running {
    let file = fs::File::create(&log).expect("log file");
    let child = cmd
        .stdout(Stdio::null())
        .stderr(file)
        .spawn()
        .unwrap_or_else(|e| panic!("start {name}: {e}"));
    Running { child, name, log }
}

fn server_cli(dir: &Path) -> Command {
    let mut cmd = Command::new(BIN);
    cmd.arg("--db")
        .arg(dir.join("jsjb.sqlite3"))
        .arg("--blob-dir")
        .arg(dir.join("blobs"))
        .args(["--argon2-memory-kib", "256"])
        .env("RUST_LOG", "warn");
    cmd
}

/// A fresh platform made with the admin CLI (a city bureau and its desk, who is also
/// the admin), served on `port` behind nginx on 127.0.0.1.
fn start_server(dir: &Path, port: u16) -> Running {
    let unit: Value = serde_json::from_str(&run(server_cli(dir).args([
        "admin",
        "create-unit",
        "--name",
        "深圳市公安局",
        "--tier",
        "city",
    ])))
    .expect("unit json");
    let unit = unit["id"].as_i64().expect("unit id").to_string();
    run(server_cli(dir)
        .args(["admin", "create-user", "--username", "desk"])
        .args(["--display-name", "值班员", "--unit", &unit])
        .args(["--role", "dispatcher,admin"])
        .env("JSJB_NEW_PASSWORD", PASSWORD));
    let mut cmd = server_cli(dir);
    cmd.arg("serve")
        .env("JSJB_LISTEN", format!("127.0.0.1:{port}"))
        .env("JSJB_TRUSTED_PROXIES", "127.0.0.1")
        // The server itself would show its metrics to any loopback client: what keeps
        // them from the internet below is nginx.
        .env("JSJB_METRICS_ALLOW", "127.0.0.0/8")
        // Two wrong passwords make an address "over its limit" (observable per client);
        // a name is locked only after two (each guess below uses a new one).
        .env("JSJB_LOGIN_IP_LIMIT", "2")
        .env("JSJB_LOCKOUT_THRESHOLD", "2")
        .env("JSJB_DEMO_ARRIVAL_SECS", "0");
    let mut server = spawn("jsjb-server", &mut cmd, dir.join("server.log"));
    server.wait_for(port);
    server
}

fn start_nginx(nginx: &Path, dir: &Path, site: &str) -> Running {
    let site_path = dir.join("jsjb.conf");
    fs::write(&site_path, site).expect("write site");
    let temp = dir.join("nginx-temp");
    fs::create_dir_all(&temp).expect("temp dir");
    // Run as root (a container), nginx's worker is `nobody`: it must reach its temp paths.
    for d in [dir, temp.as_path()] {
        fs::set_permissions(d, fs::Permissions::from_mode(0o755)).expect("dir mode");
    }
    let p = |name: &str| dir.join(name).display().to_string();
    let t = |name: &str| temp.join(name).display().to_string();
    // What Debian's /etc/nginx/nginx.conf gives the site, with every path in the test's
    // folder so nginx needs no privilege.
    let main = format!(
        "daemon off;\nworker_processes 1;\npid {pid};\nerror_log {err} info;\n\
         events {{ worker_connections 64; }}\n\
         http {{\n  access_log {access};\n  client_body_temp_path {body};\n  \
         proxy_temp_path {proxy};\n  fastcgi_temp_path {fastcgi};\n  uwsgi_temp_path {uwsgi};\n  \
         scgi_temp_path {scgi};\n  include {site};\n}}\n",
        pid = p("nginx.pid"),
        err = p("nginx-error.log"),
        access = p("nginx-access.log"),
        body = t("body"),
        proxy = t("proxy"),
        fastcgi = t("fastcgi"),
        uwsgi = t("uwsgi"),
        scgi = t("scgi"),
        site = site_path.display(),
    );
    let conf = dir.join("nginx.conf");
    fs::write(&conf, main).expect("write nginx.conf");
    let mut cmd = Command::new(nginx);
    cmd.arg("-p")
        .arg(dir)
        .arg("-c")
        .arg(&conf)
        // Not the compiled-in /var/log/nginx/error.log before the config is read.
        .arg("-e")
        .arg(dir.join("nginx-error.log"));
    run(Command::new(nginx)
        .args(["-t", "-p"])
        .arg(dir)
        .arg("-c")
        .arg(&conf)
        .arg("-e")
        .arg(dir.join("nginx-error.log")));
    spawn("nginx", &mut cmd, dir.join("nginx-error.log"))
}

/// An HTTPS client trusting only the test's CA, connecting from `from`.
fn client(ca: &[u8], https: u16, http: u16, from: Ipv4Addr) -> reqwest::Client {
    let ca = reqwest::Certificate::from_pem(ca).expect("ca");
    reqwest::Client::builder()
        .tls_certs_only([ca])
        .resolve(HOST, SocketAddr::from(([127, 0, 0, 1], https)))
        // The plain-HTTP port is the same name on another port: the URL carries it.
        .resolve(
            &format!("{HOST}:{http}"),
            SocketAddr::from(([127, 0, 0, 1], http)),
        )
        .local_address(IpAddr::V4(from))
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(30))
        .build()
        .expect("client")
}

async fn login(c: &reqwest::Client, base: &str, user: &str, password: &str) -> reqwest::Response {
    c.post(format!("{base}/api/v1/auth/login"))
        .json(&json!({"username": user, "password": password}))
        .send()
        .await
        .expect("login request")
}

async fn code(res: reqwest::Response) -> (u16, String) {
    let status = res.status().as_u16();
    let body: Value = res.json().await.unwrap_or(Value::Null);
    (status, body["code"].as_str().unwrap_or_default().to_owned())
}

/// What the stream says until it has said `want` or `wait` passed.
async fn read_until(stream: &mut reqwest::Response, want: &str, wait: Duration) -> String {
    let mut seen = String::new();
    let deadline = tokio::time::Instant::now() + wait;
    while !seen.contains(want) {
        match tokio::time::timeout_at(deadline, stream.chunk()).await {
            Ok(Ok(Some(chunk))) => seen.push_str(&String::from_utf8_lossy(&chunk)),
            _ => break,
        }
    }
    seen
}

/// The `client_max_body_size` of `location = {route}`, in bytes.
fn location_limit(route: &str) -> usize {
    let head = format!("location = {route} {{");
    let block = SITE.split(&head).nth(1).expect(&head);
    let block = block.split('}').next().unwrap_or_default();
    let size = block
        .split("client_max_body_size ")
        .nth(1)
        .and_then(|s| s.split(';').next())
        .expect(&head);
    let (digits, unit) = match size.strip_suffix('m') {
        Some(d) => (d, MIB),
        None => (size, 1),
    };
    digits.parse::<usize>().expect("a size") * unit
}

#[test]
fn the_shipped_body_limits_are_the_servers() {
    use jsjb_server::citizen::{wechat, weibo};
    use jsjb_server::{extract::JSON_BODY_LIMIT, intake::MAX_INTAKE_BODY, signoff};
    // The letters with their files: exactly the server's limit.
    for route in ["/api/v1/public/letters", "/api/v1/letters", "/letters"] {
        assert_eq!(location_limit(route), MAX_INTAKE_BODY, "{route}");
    }
    // Weibo's webhook: the server's limit, rounded up to a whole MiB.
    assert_eq!(
        location_limit("/weibo/webhook"),
        weibo::MAX_BODY.div_ceil(MIB) * MIB
    );
    // Everything else: 1 MiB, above every other limit the server sets itself.
    assert!(SITE.contains("\n    client_max_body_size 1m;\n"));
    for limit in [
        JSON_BODY_LIMIT,
        signoff::SIGNED_BODY_LIMIT,
        wechat::MAX_BODY,
    ] {
        assert!(limit <= MIB);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nginx_with_the_shipped_configuration_terminates_tls_for_the_server() {
    let Some(nginx) = nginx_binary() else {
        // `cargo xtask setup` installs nginx on Debian, where CI runs: there its absence
        // is a failure, not a reason to pass.
        assert!(
            !Path::new("/etc/debian_version").exists(),
            "nginx is not installed: run `cargo xtask setup` (nginx is in its package list)"
        );
        eprintln!(
            "SKIPPED: no nginx, and this is not Debian (cargo xtask setup cannot install it)"
        );
        return;
    };
    let dir = tempfile::tempdir().expect("temp dir");
    let dir = dir.path();
    let (app, http, https) = (free_port(), free_port(), free_port());
    let ca = certificates(dir);
    let mut server = start_server(dir, app);
    let site = render_site(dir, app, http, https);
    let mut proxy = start_nginx(&nginx, dir, &site);
    proxy.wait_for(https);
    proxy.wait_for(http);

    let base = format!("https://{HOST}:{https}");
    let alice = client(&ca, https, http, Ipv4Addr::new(127, 0, 0, 2));
    let bob = client(&ca, https, http, Ipv4Addr::new(127, 0, 0, 3));
    let desk = client(&ca, https, http, Ipv4Addr::new(127, 0, 0, 4));

    // Health over TLS, with HSTS; TLS 1.2 is offered too (citizens' older phones).
    let res = desk
        .get(format!("{base}/healthz"))
        .send()
        .await
        .expect("healthz");
    assert_eq!(res.status(), 200);
    assert_eq!(
        res.headers()
            .get("strict-transport-security")
            .and_then(|v| v.to_str().ok()),
        Some("max-age=31536000")
    );
    // server_tokens off: no version.
    assert_eq!(
        res.headers().get("server").and_then(|v| v.to_str().ok()),
        Some("nginx")
    );
    assert_eq!(res.json::<Value>().await.expect("json")["status"], "ok");
    let tls12 = reqwest::Client::builder()
        .tls_certs_only([reqwest::Certificate::from_pem(&ca).expect("ca")])
        .resolve(HOST, SocketAddr::from(([127, 0, 0, 1], https)))
        .tls_version_max(reqwest::tls::Version::TLS_1_2)
        .build()
        .expect("client");
    let res = tls12.get(format!("{base}/healthz")).send().await;
    assert_eq!(res.map(|r| r.status().as_u16()).ok(), Some(200));

    // Plain HTTP is sent to HTTPS, to the configured name, whatever Host was sent.
    let res = desk
        .get(format!("http://{HOST}:{http}/progress?code=AB12"))
        .header("Host", "evil.example")
        .send()
        .await
        .expect("http");
    assert_eq!(res.status(), 301);
    assert_eq!(
        res.headers().get("location").and_then(|v| v.to_str().ok()),
        Some(format!("https://{HOST}/progress?code=AB12").as_str())
    );

    // The citizen portal, with the server's own security headers, once each.
    let direct = reqwest::get(format!("http://127.0.0.1:{app}/"))
        .await
        .expect("direct portal");
    let res = desk.get(format!("{base}/")).send().await.expect("portal");
    assert_eq!(res.status(), 200);
    for name in [
        "content-security-policy",
        "x-frame-options",
        "x-content-type-options",
        "referrer-policy",
    ] {
        let got: Vec<_> = res.headers().get_all(name).iter().collect();
        let want: Vec<_> = direct.headers().get_all(name).iter().collect();
        assert_eq!(got, want, "{name} through nginx is the server's, once");
        assert_eq!(got.len(), 1, "{name}");
    }
    assert!(res.text().await.expect("page").contains("<html"));

    // Sign in; nginx sets X-Forwarded-For and the server believes it from nginx only:
    // with two wrong passwords allowed per address, alice's third is over her limit,
    // while bob — who claims to be alice — is judged as himself.
    let res = login(&desk, &base, "desk", PASSWORD).await;
    assert_eq!(res.status(), 200);
    let token = res.json::<Value>().await.expect("json")["token"]
        .as_str()
        .expect("token")
        .to_owned();
    for name in ["nobody-1", "nobody-2"] {
        assert_eq!(
            code(login(&alice, &base, name, "wrong").await).await,
            (401, "invalid_credentials".to_owned())
        );
    }
    assert_eq!(
        code(login(&alice, &base, "nobody-3", "wrong").await).await,
        (429, "too_many_attempts".to_owned())
    );
    let forged = bob
        .post(format!("{base}/api/v1/auth/login"))
        .header("X-Forwarded-For", "127.0.0.2")
        .json(&json!({"username": "nobody-4", "password": "wrong"}))
        .send()
        .await
        .expect("login");
    assert_eq!(
        code(forged).await,
        (401, "invalid_credentials".to_owned()),
        "the server tells bob (127.0.0.3) from alice: it believes the X-Forwarded-For \
         nginx sets, and not the one bob sent"
    );

    // The live stream delivers a poke as soon as a change commits: nginx does not buffer
    // it (a buffered poke would wait for kilobytes of heartbeats every 15 s).
    let stream = desk
        .get(format!("{base}/api/v1/sync/stream?cursor=0"))
        .bearer_auth(&token)
        .send();
    let mut stream = tokio::time::timeout(Duration::from_secs(5), stream)
        .await
        .expect("the stream opens through nginx at once (a buffering proxy holds it back)")
        .expect("stream");
    assert_eq!(stream.status(), 200);
    let opened = read_until(&mut stream, "poke", Duration::from_millis(500)).await;
    assert!(!opened.contains("poke"), "nothing changed yet: {opened}");
    let res = desk
        .post(format!("{base}/api/v1/letters"))
        .bearer_auth(&token)
        .json(&json!({
            "category": "help",
            "subject": "来电反映夜间施工噪音",
            "body": "每晚十一点后仍有施工噪音，影响休息，请处理。",
            "writer_name": "张三丰",
            "writer_phone": "0755-12345678",
        }))
        .send()
        .await
        .expect("letter");
    assert_eq!(res.status(), 201, "{:?}", res.text().await);
    let seen = read_until(&mut stream, "event: poke", Duration::from_secs(5)).await;
    assert!(
        seen.contains("event: poke"),
        "no poke through nginx: {seen:?}"
    );

    // Metrics: the server would answer a loopback client, nginx refuses the internet.
    let res = reqwest::get(format!("http://127.0.0.1:{app}/metrics"))
        .await
        .expect("direct metrics");
    assert_eq!(res.status(), 200);
    for path in ["/metrics", "//metrics", "/metrics?format=text"] {
        let res = desk
            .get(format!("{base}{path}"))
            .send()
            .await
            .expect("metrics");
        assert_eq!(res.status(), 403, "{path}");
    }

    // Bodies: a JSON route refuses 2 MiB at nginx already.
    let res = desk
        .post(format!("{base}/api/v1/auth/login"))
        .header("content-type", "application/json")
        .body(vec![b' '; 2 * MIB])
        .send()
        .await;
    assert_eq!(res.map(|r| r.status().as_u16()).ok(), Some(413));

    server.assert_alive();
    proxy.assert_alive();
}
