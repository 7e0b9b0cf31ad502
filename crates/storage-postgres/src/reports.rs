//! The report facts and their aggregates in PostgreSQL.

#![allow(unused_imports)]
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use jsjb_storage::StorageError;
use crate::PgStore;
use std::sync::Arc;
use jsjb_core::rules::Rules;
use jsjb_storage::reports::{ReportAggregates, ReportQuery, ReportStore};

#[async_trait]
impl ReportStore for PgStore {
    async fn refresh_report_facts(&self, _rules: Arc<Rules>) -> Result<u64, StorageError> {
        Err(crate::not_ported("refresh_report_facts"))
    }

    async fn report_aggregates(&self, _query: ReportQuery) -> Result<ReportAggregates, StorageError> {
        Err(crate::not_ported("report_aggregates"))
    }
}
