//! A database of its own for a test, on the PostgreSQL server `JSJB_TEST_POSTGRES` names
//! (a URL whose user may create databases; `cargo xtask test` starts a private cluster
//! and sets it), dropped when the guard is. Feature `test-support`: for this crate's
//! tests and the server's.

use std::sync::atomic::{AtomicU32, Ordering};

/// The variable naming the test server.
pub const TEST_URL_ENV: &str = "JSJB_TEST_POSTGRES";

/// The test server's URL. Without it the test fails, never passes unseen.
pub fn admin_url() -> String {
    std::env::var(TEST_URL_ENV).unwrap_or_else(|_| {
        panic!(
            "{TEST_URL_ENV} must name a PostgreSQL server whose user may create databases \
             (postgres://user@127.0.0.1:port/postgres); `cargo xtask test` starts one and sets it"
        )
    })
}

/// A fresh, empty database (dropped with the guard); `url` reaches it.
pub struct TestDatabase {
    pub name: String,
    pub url: String,
}

impl TestDatabase {
    /// Creates `jsjb_<tag>_<pid>_<n>` (a leftover of that name is dropped first).
    pub async fn create(tag: &str) -> TestDatabase {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let admin = admin_url();
        let name = format!(
            "jsjb_{tag}_{}_{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        let (client, conn) = tokio_postgres::connect(&admin, tokio_postgres::NoTls)
            .await
            .unwrap_or_else(|e| panic!("connect to the test server {admin}: {e}"));
        tokio::spawn(conn);
        // One statement each: a multi-statement string is one transaction, which
        // neither may run in.
        for sql in [
            format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"),
            format!("CREATE DATABASE {name}"),
        ] {
            if let Err(e) = client.batch_execute(&sql).await {
                panic!("{sql}: {e}");
            }
        }
        let (base, _) = admin
            .rsplit_once('/')
            .unwrap_or_else(|| panic!("{TEST_URL_ENV}: a URL ending in /database"));
        TestDatabase {
            url: format!("{base}/{name}"),
            name,
        }
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let (admin, name) = (admin_url(), self.name.clone());
        // A runtime of its own: the test's runtime may be shutting down around this drop.
        let dropped = std::thread::spawn(move || {
            let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return false;
            };
            rt.block_on(async {
                let Ok((client, conn)) =
                    tokio_postgres::connect(&admin, tokio_postgres::NoTls).await
                else {
                    return false;
                };
                tokio::spawn(conn);
                client
                    .batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                    .await
                    .is_ok()
            })
        })
        .join();
        if !matches!(dropped, Ok(true)) {
            eprintln!("could not drop the test database {}", self.name);
        }
    }
}
