//! The PostgreSQL backend against the storage seam's conformance suite
//! (`jsjb_storage::conformance`): every case on a database of its own, created on the
//! server `JSJB_TEST_POSTGRES` names (a URL whose user may create databases) and dropped
//! after. `cargo xtask test` starts a private PostgreSQL and sets it; without it these
//! tests fail, never pass unseen.

use std::sync::Arc;

use jsjb_storage::Storage;
use jsjb_storage_postgres::PgStore;
use jsjb_storage_postgres::testing::TestDatabase;

async fn fresh() -> (TestDatabase, Arc<dyn Storage>) {
    let db = TestDatabase::create("conformance").await;
    let store = PgStore::open(&db.url).await.expect("open and migrate");
    (db, Arc::new(store))
}

jsjb_storage::conformance_suite!(fresh);
