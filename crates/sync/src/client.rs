//! Typed calls to the central server's desktop API (`/api/v1`).

use std::time::Duration;

use bytes::Bytes;
use futures_util::StreamExt;
use jsjb_core::letter::LetterId;
use jsjb_core::org::UnitId;
use jsjb_proto::{
    API_PREFIX, ActionRequest, ActionResponse, AuditHeadAnswer, HandoverAck, HandoverAckRequest,
    IDEMPOTENCY_KEY_HEADER, LoginRequest, LoginResponse, Me, Poke, Problem, SyncPage, UserSummary,
    Writer,
};
use reqwest::{Method, RequestBuilder, Response, StatusCode, Url, header};
use serde::de::DeserializeOwned;

use crate::sse::{SseItem, SseParser};

pub mod admin;
pub mod reports;
mod signoff;

/// A file a desk attaches to a typed-in letter: its name on the desk's disk (shown to
/// whoever opens it) and its bytes. The server decides its type from the bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LetterFile {
    pub file_name: String,
    pub bytes: Vec<u8>,
}

/// Why a call failed, by what the caller can do about it.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The server URL the user typed is not one we can talk to.
    #[error("invalid server URL: {0}")]
    InvalidUrl(String),
    /// No answer: DNS, connection refused, TLS, timeout, connection cut mid-body.
    #[error("the server cannot be reached: {0}")]
    Unreachable(String),
    /// 401: no session, an expired one, or wrong credentials at login. `code` is the
    /// problem's code (`session_expired`, `invalid_credentials`, …).
    #[error("not signed in ({code})")]
    Unauthorized { code: String },
    /// Any other 4xx: the server understood and said no. The problem says why.
    #[error("refused with {status}: {}", problem.code)]
    Refused { status: u16, problem: Box<Problem> },
    /// 5xx (or a non-HTTP-API answer such as a proxy's error page).
    #[error("server error {status}")]
    Server {
        status: u16,
        problem: Option<Box<Problem>>,
    },
    /// A 2xx whose body is not what the API promises (a version mismatch, a proxy).
    #[error("unexpected response: {0}")]
    Decode(String),
}

impl ClientError {
    /// The stable code the UI translates (HOUSE_STYLE: `{code, message}`).
    pub fn code(&self) -> &str {
        match self {
            ClientError::InvalidUrl(_) => "invalid_server_url",
            ClientError::Unreachable(_) => "server_unreachable",
            ClientError::Unauthorized { code } => code,
            ClientError::Refused { problem, .. } => &problem.code,
            // The server's own code when it sent one (`busy`, `unhealthy`): the UI can
            // then say "busy, try again" instead of a bare internal error.
            ClientError::Server {
                problem: Some(problem),
                ..
            } => &problem.code,
            ClientError::Server { problem: None, .. } => "server_error",
            ClientError::Decode(_) => "bad_response",
        }
    }

    /// True when the request may succeed later unchanged (the network or the server
    /// was in trouble), as opposed to a refusal or a lost session.
    pub fn is_transient(&self) -> bool {
        match self {
            ClientError::Unreachable(_) | ClientError::Server { .. } | ClientError::Decode(_) => {
                true
            }
            ClientError::Refused { status, .. } => *status == 408 || *status == 429,
            ClientError::InvalidUrl(_) | ClientError::Unauthorized { .. } => false,
        }
    }
}

/// Timeouts of the client.
#[derive(Debug, Clone, Copy)]
pub struct ClientConfig {
    /// To establish a TCP (+TLS) connection.
    pub connect_timeout: Duration,
    /// The whole of an ordinary request, body included. Not applied to the SSE stream,
    /// which is supervised by its heartbeat instead.
    pub request_timeout: Duration,
}

impl Default for ClientConfig {
    fn default() -> Self {
        ClientConfig {
            connect_timeout: Duration::from_secs(10),
            // A full sync page of 500 letters with their events is a few hundred KB;
            // 30 s leaves room for a slow station link without hanging for ever.
            request_timeout: Duration::from_secs(30),
        }
    }
}

/// Parses and checks a server URL as a user types it: `http` or `https`, a host, no
/// credentials, query or fragment. A path is kept (a server behind a reverse proxy at
/// `/jsjb`); a trailing `/` is dropped.
pub fn parse_base_url(input: &str) -> Result<Url, ClientError> {
    let trimmed = input.trim();
    let url =
        Url::parse(trimmed).map_err(|e| ClientError::InvalidUrl(format!("{trimmed}: {e}")))?;
    let bad = |why: &str| Err(ClientError::InvalidUrl(format!("{trimmed}: {why}")));
    if url.scheme() != "http" && url.scheme() != "https" {
        return bad("only http:// and https:// are supported");
    }
    if url.host_str().is_none_or(str::is_empty) {
        return bad("no host");
    }
    if !url.username().is_empty() || url.password().is_some() {
        return bad("credentials do not belong in the URL");
    }
    if url.query().is_some() || url.fragment().is_some() {
        return bad("a query or fragment does not belong in the server URL");
    }
    let mut url = url;
    let path = url.path().trim_end_matches('/').to_owned();
    url.set_path(&path);
    Ok(url)
}

/// A client of one server, optionally with a session token. Cheap to clone (the HTTP
/// connection pool is shared).
#[derive(Clone)]
pub struct ServerClient {
    http: reqwest::Client,
    base: Url,
    token: Option<String>,
    config: ClientConfig,
}

impl std::fmt::Debug for ServerClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print the token.
        f.debug_struct("ServerClient")
            .field("base", &self.base.as_str())
            .field("signed_in", &self.token.is_some())
            .finish()
    }
}

impl ServerClient {
    /// A client of the server at `base_url` (see [`parse_base_url`]), not signed in.
    pub fn new(base_url: &str, config: ClientConfig) -> Result<ServerClient, ClientError> {
        let base = parse_base_url(base_url)?;
        let http = reqwest::Client::builder()
            .connect_timeout(config.connect_timeout)
            .user_agent(concat!("jsjb-desk/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| ClientError::InvalidUrl(format!("cannot build the HTTP client: {e}")))?;
        Ok(ServerClient {
            http,
            base,
            token: None,
            config,
        })
    }

    /// The same client with a session token.
    pub fn with_token(&self, token: impl Into<String>) -> ServerClient {
        ServerClient {
            token: Some(token.into()),
            ..self.clone()
        }
    }

    pub fn base_url(&self) -> &Url {
        &self.base
    }

    pub fn has_token(&self) -> bool {
        self.token.is_some()
    }

    fn url(&self, path: &str) -> Url {
        let mut url = self.base.clone();
        // An empty path reads back as "/" for http(s) URLs.
        let full = format!(
            "{}{API_PREFIX}{path}",
            self.base.path().trim_end_matches('/')
        );
        url.set_path(&full);
        url
    }

    fn request(&self, method: Method, url: Url) -> RequestBuilder {
        let req = self.http.request(method, url);
        match &self.token {
            Some(t) => req.bearer_auth(t),
            None => req,
        }
    }

    async fn send(&self, req: RequestBuilder) -> Result<Response, ClientError> {
        let response = req
            .timeout(self.config.request_timeout)
            .send()
            .await
            .map_err(unreachable)?;
        check(response).await
    }

    async fn json<T: DeserializeOwned>(&self, req: RequestBuilder) -> Result<T, ClientError> {
        let response = self.send(req).await?;
        let bytes = response.bytes().await.map_err(unreachable)?;
        serde_json::from_slice(&bytes).map_err(|e| ClientError::Decode(e.to_string()))
    }

    /// `POST /auth/login`.
    pub async fn login(&self, request: &LoginRequest) -> Result<LoginResponse, ClientError> {
        self.json(
            self.request(Method::POST, self.url("/auth/login"))
                .json(request),
        )
        .await
    }

    /// `POST /auth/logout`: ends the session on the server.
    pub async fn logout(&self) -> Result<(), ClientError> {
        self.send(self.request(Method::POST, self.url("/auth/logout")))
            .await
            .map(drop)
    }

    /// `GET /me`.
    pub async fn me(&self) -> Result<Me, ClientError> {
        self.json(self.request(Method::GET, self.url("/me"))).await
    }

    /// `GET /rules`: the clock rules the server runs under, with their version.
    pub async fn rules(&self) -> Result<jsjb_proto::ServedRules, ClientError> {
        self.json(self.request(Method::GET, self.url("/rules")))
            .await
    }

    /// `GET /directory`.
    pub async fn directory(&self) -> Result<Vec<UserSummary>, ClientError> {
        self.json(self.request(Method::GET, self.url("/directory")))
            .await
    }

    /// `GET /sync?cursor=N&limit=M`.
    pub async fn sync(&self, cursor: i64, limit: u32) -> Result<SyncPage, ClientError> {
        let mut url = self.url("/sync");
        url.query_pairs_mut()
            .append_pair("cursor", &cursor.to_string())
            .append_pair("limit", &limit.to_string());
        self.json(self.request(Method::GET, url)).await
    }

    /// `GET /audit/head?known_seq=N`: the signed head of the server's audit chain, and
    /// the hash of entry `N` (the head this desktop kept).
    pub async fn audit_head(&self, known_seq: Option<i64>) -> Result<AuditHeadAnswer, ClientError> {
        let mut url = self.url("/audit/head");
        if let Some(seq) = known_seq {
            url.query_pairs_mut()
                .append_pair("known_seq", &seq.to_string());
        }
        self.json(self.request(Method::GET, url)).await
    }

    /// `POST /letters/{id}/actions` with the entry's idempotency key: a retry with the
    /// same key gets the first answer and never applies the action twice.
    pub async fn post_action(
        &self,
        letter: LetterId,
        idempotency_key: &str,
        request: &ActionRequest,
    ) -> Result<ActionResponse, ClientError> {
        let req = self
            .request(
                Method::POST,
                self.url(&format!("/letters/{}/actions", letter.0)),
            )
            .header(IDEMPOTENCY_KEY_HEADER, idempotency_key)
            .json(request);
        self.json(req).await
    }

    /// `POST /letters`: a letter taken by phone, typed in at the desk. The same key (one
    /// per letter, kept by the form across retries) returns the letter created the first
    /// time instead of a second one.
    pub async fn post_desk_letter(
        &self,
        idempotency_key: &str,
        input: &jsjb_proto::LetterInput,
        files: &[LetterFile],
    ) -> Result<jsjb_proto::DeskIntakeReceipt, ClientError> {
        let req = self
            .request(Method::POST, self.url("/letters"))
            .header(IDEMPOTENCY_KEY_HEADER, idempotency_key);
        let req = if files.is_empty() {
            req.json(input)
        } else {
            // The server's multipart form: the letter as JSON in `letter`, then the files.
            let letter =
                serde_json::to_string(input).map_err(|e| ClientError::Decode(e.to_string()))?;
            let mut form = reqwest::multipart::Form::new().part(
                "letter",
                reqwest::multipart::Part::text(letter)
                    .mime_str("application/json")
                    .map_err(|e| ClientError::Decode(e.to_string()))?,
            );
            for (i, file) in files.iter().enumerate() {
                form = form.part(
                    format!("file{i}"),
                    reqwest::multipart::Part::bytes(file.bytes.clone())
                        .file_name(file.file_name.clone()),
                );
            }
            req.multipart(form)
        };
        self.json(req).await
    }

    /// `POST /handovers` with the acknowledgement's idempotency key: a retry with the
    /// same key gets the first record. `workstation` goes in `X-Workstation` when it is
    /// plain ASCII (a header cannot carry anything else).
    pub async fn post_handover(
        &self,
        idempotency_key: &str,
        request: &HandoverAckRequest,
        workstation: Option<&str>,
    ) -> Result<HandoverAck, ClientError> {
        let mut req = self
            .request(Method::POST, self.url("/handovers"))
            .header(IDEMPOTENCY_KEY_HEADER, idempotency_key)
            .json(request);
        if let Some(ws) = workstation.filter(|ws| ws.chars().all(|c| c.is_ascii_graphic())) {
            req = req.header("X-Workstation", ws);
        }
        self.json(req).await
    }

    /// `GET /handovers?unit=N&limit=M`: the unit's acknowledgements, newest first.
    pub async fn handovers(
        &self,
        unit: UnitId,
        limit: u32,
    ) -> Result<Vec<HandoverAck>, ClientError> {
        let mut url = self.url("/handovers");
        url.query_pairs_mut()
            .append_pair("unit", &unit.0.to_string())
            .append_pair("limit", &limit.to_string());
        self.json(self.request(Method::GET, url)).await
    }

    /// `POST /letters/{id}/reveal-writer`: the writer's name and phone unmasked. The
    /// server logs every reveal and refuses it outside the handling unit and its desks.
    pub async fn reveal_writer(&self, letter: LetterId) -> Result<Writer, ClientError> {
        self.json(self.request(
            Method::POST,
            self.url(&format!("/letters/{}/reveal-writer", letter.0)),
        ))
        .await
    }

    /// `GET /attachments/{sha256}`: the bytes of an attachment.
    pub async fn attachment(&self, sha256: &str) -> Result<Bytes, ClientError> {
        // The content address goes into the path: refuse anything but hex.
        if sha256.is_empty() || !sha256.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(ClientError::Decode(format!(
                "not a content address: {sha256}"
            )));
        }
        let response = self
            .send(self.request(Method::GET, self.url(&format!("/attachments/{sha256}"))))
            .await?;
        response.bytes().await.map_err(unreachable)
    }

    /// `GET /sync/stream?cursor=N`: opens the SSE stream of pokes; the server pokes at
    /// once if the scope changed after `cursor`. No total timeout: the caller supervises
    /// it with [`PokeStream::next`]'s idle timeout.
    pub async fn poke_stream(&self, cursor: i64) -> Result<PokeStream, ClientError> {
        let mut url = self.url("/sync/stream");
        url.query_pairs_mut()
            .append_pair("cursor", &cursor.to_string());
        let response = self
            .request(Method::GET, url)
            .header(header::ACCEPT, "text/event-stream")
            .send()
            .await
            .map_err(unreachable)?;
        let response = check(response).await?;
        Ok(PokeStream {
            body: Box::pin(response.bytes_stream()),
            parser: SseParser::new(),
            queued: std::collections::VecDeque::new(),
        })
    }
}

/// What the SSE stream delivers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamItem {
    Poke(Poke),
    /// A heartbeat or an event we do not know: the connection is alive.
    Alive,
}

type BodyStream =
    std::pin::Pin<Box<dyn futures_util::Stream<Item = reqwest::Result<Bytes>> + Send>>;

/// The open SSE stream.
pub struct PokeStream {
    body: BodyStream,
    parser: SseParser,
    queued: std::collections::VecDeque<StreamItem>,
}

impl PokeStream {
    /// The next item; `Ok(None)` when the server closed the stream. A silence longer
    /// than `idle` (the server sends a heartbeat every 15 s) is a dead connection — a
    /// NAT or proxy that dropped it without telling us — and reported as unreachable.
    pub async fn next(&mut self, idle: Duration) -> Result<Option<StreamItem>, ClientError> {
        loop {
            if let Some(item) = self.queued.pop_front() {
                return Ok(Some(item));
            }
            let chunk = match tokio::time::timeout(idle, self.body.next()).await {
                Err(_) => {
                    return Err(ClientError::Unreachable(format!(
                        "no heartbeat for {} s",
                        idle.as_secs()
                    )));
                }
                Ok(None) => return Ok(None),
                Ok(Some(chunk)) => chunk.map_err(unreachable)?,
            };
            for item in self.parser.push(&chunk) {
                self.queued.push_back(match item {
                    SseItem::Event { event, data } if event == "poke" => {
                        match serde_json::from_str::<Poke>(&data) {
                            Ok(poke) => StreamItem::Poke(poke),
                            Err(e) => {
                                tracing::warn!(%data, "ignoring a malformed poke: {e}");
                                StreamItem::Alive
                            }
                        }
                    }
                    SseItem::Event { .. } | SseItem::Comment => StreamItem::Alive,
                });
            }
            if self.queued.is_empty() {
                // Bytes of an unfinished line still prove the connection lives.
                return Ok(Some(StreamItem::Alive));
            }
        }
    }
}

fn unreachable(e: reqwest::Error) -> ClientError {
    // `{:#}`-style chain: reqwest's top-level message hides the cause (refused, DNS…).
    let mut message = e.to_string();
    let mut source = std::error::Error::source(&e);
    while let Some(s) = source {
        message.push_str(": ");
        message.push_str(&s.to_string());
        source = s.source();
    }
    ClientError::Unreachable(message)
}

/// Turns a non-2xx response into its error, reading the problem document if any.
async fn check(response: Response) -> Result<Response, ClientError> {
    let status = response.status();
    if status.is_success() {
        return Ok(response);
    }
    let retry_after = response
        .headers()
        .get(header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    let body = response.bytes().await.unwrap_or_default();
    let problem = serde_json::from_slice::<Problem>(&body).ok().map(|mut p| {
        p.retry_after = p.retry_after.or(retry_after);
        Box::new(p)
    });
    Err(error_for(status, problem, retry_after))
}

/// The error for a non-2xx status and its problem document (if the body was one).
pub(crate) fn error_for(
    status: StatusCode,
    problem: Option<Box<Problem>>,
    retry_after: Option<u64>,
) -> ClientError {
    let code = status.as_u16();
    // `Retry-After` is a header; keep it with the problem whatever the status, so a
    // 503 `busy` carries its wait to the UI as a 429 does.
    let problem = problem.map(|mut p| {
        p.retry_after = p.retry_after.or(retry_after);
        p
    });
    if status == StatusCode::UNAUTHORIZED {
        return ClientError::Unauthorized {
            code: problem.map_or_else(|| "unauthenticated".to_owned(), |p| p.code),
        };
    }
    if status.is_client_error() {
        let problem = problem.unwrap_or_else(|| {
            // Not our API answering (a proxy, a misconfigured URL): still give the UI a
            // code it can translate.
            Box::new(Problem {
                type_uri: "about:blank".to_owned(),
                title: status.canonical_reason().unwrap_or("error").to_owned(),
                status: code,
                detail: None,
                code: format!("http_{code}"),
                current: None,
                field: None,
                retry_after,
            })
        });
        return ClientError::Refused {
            status: code,
            problem,
        };
    }
    ClientError::Server {
        status: code,
        problem,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    #[rstest]
    #[case("http://10.1.2.3:8080", "http://10.1.2.3:8080/")]
    #[case("  https://jsjb.gaj.sz/  ", "https://jsjb.gaj.sz/")]
    #[case("https://proxy.sz/jsjb/", "https://proxy.sz/jsjb")]
    fn good_urls(#[case] input: &str, #[case] normalised: &str) {
        assert_eq!(parse_base_url(input).expect("valid").as_str(), normalised);
    }

    #[rstest]
    #[case("ftp://host")]
    #[case("file:///etc/passwd")]
    #[case("host:8080")]
    #[case("http://user:pw@host")]
    #[case("http://host/?x=1")]
    #[case("http://host/#frag")]
    #[case("")]
    #[case("http://")]
    fn bad_urls(#[case] input: &str) {
        assert!(
            matches!(parse_base_url(input), Err(ClientError::InvalidUrl(_))),
            "{input}"
        );
    }

    #[test]
    fn api_paths_keep_a_proxy_prefix() {
        let c = ServerClient::new("https://proxy.sz/jsjb/", ClientConfig::default()).expect("ok");
        assert_eq!(c.url("/sync").as_str(), "https://proxy.sz/jsjb/api/v1/sync");
        let c = ServerClient::new("http://127.0.0.1:9", ClientConfig::default()).expect("ok");
        assert_eq!(c.url("/me").as_str(), "http://127.0.0.1:9/api/v1/me");
    }

    #[test]
    fn statuses_map_to_categories() {
        let p = |code: &str| {
            Some(Box::new(Problem {
                type_uri: "urn:x".into(),
                title: "t".into(),
                status: 0,
                detail: None,
                code: code.into(),
                current: None,
                field: None,
                retry_after: None,
            }))
        };
        let e = error_for(StatusCode::UNAUTHORIZED, p("session_expired"), None);
        assert_eq!(e.code(), "session_expired");
        assert!(!e.is_transient());
        let e = error_for(StatusCode::CONFLICT, p("stale_version"), None);
        assert!(matches!(e, ClientError::Refused { status: 409, .. }));
        assert_eq!(e.code(), "stale_version");
        let e = error_for(StatusCode::BAD_GATEWAY, None, None);
        assert!(e.is_transient());
        assert_eq!(e.code(), "server_error");
        // A busy server's own code and wait reach the caller (they were lost as a bare
        // `server_error`, which the desktop showed as an internal error).
        let e = error_for(StatusCode::SERVICE_UNAVAILABLE, p("busy"), Some(2));
        assert!(e.is_transient());
        assert_eq!(e.code(), "busy");
        assert!(
            matches!(&e, ClientError::Server { status: 503, problem: Some(p) } if p.retry_after == Some(2))
        );
        let e = error_for(StatusCode::TOO_MANY_REQUESTS, None, Some(30));
        assert!(e.is_transient());
        match e {
            ClientError::Refused { problem, .. } => {
                assert_eq!(problem.code, "http_429");
                assert_eq!(problem.retry_after, Some(30));
            }
            other => panic!("{other:?}"),
        }
    }

    #[tokio::test]
    async fn a_closed_port_is_unreachable() {
        // Bind then drop, so the port is very likely closed.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("port")
            .port();
        let c = ServerClient::new(&format!("http://127.0.0.1:{port}"), ClientConfig::default())
            .expect("ok");
        let e = c.me().await.expect_err("nobody listens");
        assert!(matches!(e, ClientError::Unreachable(_)), "{e:?}");
        assert!(e.is_transient());
    }
}
