//! The PostgreSQL backend against the storage seam's conformance suite
//! (`jsjb_storage::conformance`): every case on a database of its own, created on the
//! server `JSJB_TEST_POSTGRES` names (a URL whose user may create databases) and dropped
//! after. `cargo xtask test` starts a private PostgreSQL and sets it; without it these
//! tests fail, never pass unseen.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use jsjb_storage::Storage;
use jsjb_storage_postgres::PgStore;

/// Drops the case's database when the case ends.
struct Database {
    admin_url: String,
    name: String,
}

impl Drop for Database {
    fn drop(&mut self) {
        let (url, name) = (self.admin_url.clone(), self.name.clone());
        // A runtime of its own: the test's runtime is shutting down around this drop.
        let dropped = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            rt.block_on(async {
                let (client, conn) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
                    .await
                    .expect("connect to drop the database");
                tokio::spawn(conn);
                client
                    .batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                    .await
                    .expect("drop the database");
            });
        })
        .join();
        if dropped.is_err() {
            eprintln!("could not drop the test database {}", self.name);
        }
    }
}

fn admin_url() -> String {
    std::env::var("JSJB_TEST_POSTGRES").expect(
        "JSJB_TEST_POSTGRES must name a PostgreSQL server whose user may create databases \
         (postgres://user@127.0.0.1:port/postgres); `cargo xtask test` starts one and sets it",
    )
}

/// `url` with its database name replaced by `name`.
fn url_for(url: &str, name: &str) -> String {
    let (base, _) = url.rsplit_once('/').expect("a URL ending in /database");
    format!("{base}/{name}")
}

async fn fresh() -> (Database, Arc<dyn Storage>) {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let admin_url = admin_url();
    let name = format!(
        "jsjb_conformance_{}_{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    );
    let (client, conn) = tokio_postgres::connect(&admin_url, tokio_postgres::NoTls)
        .await
        .expect("connect to the test server");
    tokio::spawn(conn);
    client
        .batch_execute(&format!("CREATE DATABASE {name}"))
        .await
        .expect("create the case's database");
    let guard = Database {
        admin_url: admin_url.clone(),
        name: name.clone(),
    };
    let store = PgStore::open(&url_for(&admin_url, &name))
        .await
        .expect("open and migrate");
    (guard, Arc::new(store))
}

jsjb_storage::conformance_suite!(fresh);
