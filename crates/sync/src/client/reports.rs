//! The server's reports (`GET /reports`, `GET /reports/export`): the authoritative
//! figures the statistics screen shows when the server answers.

use bytes::Bytes;
use chrono::{DateTime, SecondsFormat, Utc};
use jsjb_core::org::UnitId;
use jsjb_proto::report::Report;
use reqwest::{Method, Url};

use super::{ClientError, ServerClient};

/// The file formats of `GET /reports/export`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExportFormat {
    Csv,
    Xlsx,
}

impl ExportFormat {
    pub fn as_str(self) -> &'static str {
        match self {
            ExportFormat::Csv => "csv",
            ExportFormat::Xlsx => "xlsx",
        }
    }
}

impl ServerClient {
    fn report_url(
        &self,
        path: &str,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        unit: Option<UnitId>,
    ) -> Url {
        let mut url = self.url(path);
        {
            let mut query = url.query_pairs_mut();
            query
                .append_pair("from", &from.to_rfc3339_opts(SecondsFormat::Micros, true))
                .append_pair("to", &to.to_rfc3339_opts(SecondsFormat::Micros, true));
            if let Some(unit) = unit {
                query.append_pair("unit", &unit.0.to_string());
            }
        }
        url
    }

    /// `GET /reports?from&to[&unit]`: the report of the unit's subtree (the user's own
    /// unit when `None`).
    pub async fn report(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        unit: Option<UnitId>,
    ) -> Result<Report, ClientError> {
        let url = self.report_url("/reports", from, to, unit);
        self.json(self.request(Method::GET, url)).await
    }

    /// `GET /reports/export?from&to[&unit]&format`: the report as a CSV or XLSX file.
    pub async fn report_export(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        unit: Option<UnitId>,
        format: ExportFormat,
    ) -> Result<Bytes, ClientError> {
        let mut url = self.report_url("/reports/export", from, to, unit);
        url.query_pairs_mut().append_pair("format", format.as_str());
        let response = self.send(self.request(Method::GET, url)).await?;
        response.bytes().await.map_err(super::unreachable)
    }
}
