//! The router: every route, its body limit, and the OpenAPI document built from the
//! same declarations (so the document cannot drift from the routes).

use axum::Router;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::trace::TraceLayer;
use utoipa::openapi::OpenApi as OpenApiDoc;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::error::{self, ApiError, Problem};
use crate::extract::ApiJson;
use crate::state::AppState;
use crate::{admin, attachments, auth, handovers, intake, letters, sync};

/// JSON bodies are small; anything bigger is a mistake or an attack (defined beside the
/// strict JSON reader, which the desk's letter route applies itself).
pub const JSON_BODY_LIMIT: usize = crate::extract::JSON_BODY_LIMIT;

#[derive(OpenApi)]
#[openapi(
    info(title = "接诉即办 central server", description = "局长信箱 letters: intake, accounts, life cycle, sync, audit. Errors are RFC 9457 problem details with a stable `code`."),
    modifiers(&BearerAuth),
    components(schemas(Problem)),
    tags(
        (name = "public", description = "Citizen-facing, no account"),
        (name = "auth", description = "Sessions"),
        (name = "admin", description = "Units, users, audit (role `admin`)"),
        (name = "letters", description = "Letters, for officers and desks"),
        (name = "sync", description = "Sync for desktops: pages by cursor, SSE pokes"),
    )
)]
struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut OpenApiDoc) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Health {
    pub status: &'static str,
    /// The latest change sequence number (a cheap proof the database answers).
    pub change_seq: i64,
}

/// Liveness and database reachability: 503 `unhealthy` when the database writer has
/// stopped or is stuck (reads would still answer, but nothing could be saved).
#[utoipa::path(get, path = "/healthz", tag = "public",
    responses((status = 200, body = Health), (status = 503, body = Problem, description = "`unhealthy`"), (status = 500, body = Problem)))]
async fn healthz(State(state): State<AppState>) -> Result<ApiJson<Health>, ApiError> {
    if !state.store.accepting_writes() {
        return Err(ApiError::Unhealthy(
            "the database writer has stopped or is stuck; writes cannot be saved".to_owned(),
        ));
    }
    let change_seq = state.store.latest_change_seq().await?;
    Ok(ApiJson(Health {
        status: "ok",
        change_seq,
    }))
}

/// All routes with their OpenAPI description, before state is attached.
fn api() -> OpenApiRouter<AppState> {
    let json = OpenApiRouter::new()
        .routes(routes!(healthz))
        .routes(routes!(auth::login))
        .routes(routes!(auth::logout))
        .routes(routes!(auth::me))
        .routes(routes!(auth::notices))
        .routes(routes!(auth::acknowledge_notices))
        .routes(routes!(admin::list_units, admin::post_unit))
        .routes(routes!(admin::list_users, admin::post_user))
        .routes(routes!(admin::post_password))
        .routes(routes!(admin::list_keys))
        .routes(routes!(admin::post_active))
        .routes(routes!(admin::post_unit_name))
        .routes(routes!(admin::post_unit_parent))
        .routes(routes!(admin::post_unit_active))
        .routes(routes!(admin::post_user_update))
        .routes(routes!(admin::post_sessions_revoke))
        .routes(routes!(
            crate::routing::admin::get_routing,
            crate::routing::admin::post_routing
        ))
        .routes(routes!(crate::routing::admin::post_routing_test))
        .routes(routes!(auth::change_password))
        .routes(routes!(admin::audit_verify))
        .routes(routes!(crate::witness::api::get_head))
        .routes(routes!(intake::get_progress))
        .routes(routes!(intake::post_verification))
        .routes(routes!(intake::post_verification_code))
        .routes(routes!(attachments::download))
        .routes(routes!(letters::get_letter))
        .routes(routes!(letters::reveal_writer))
        .routes(routes!(letters::directory))
        .routes(routes!(handovers::list_handovers, handovers::post_handover))
        .routes(routes!(crate::reports::get_report))
        .routes(routes!(crate::reports::get_export))
        .routes(routes!(crate::clock_rules::serving::get_rules))
        .routes(routes!(sync::get_sync))
        .routes(routes!(sync::get_stream))
        .routes(routes!(crate::citizen::ratings::get_rating))
        .layer(DefaultBodyLimit::max(JSON_BODY_LIMIT));
    // Every action on a letter; a signed approval (the chief's) carries the handwriting
    // image, so this body may be as large as a signed form's.
    let actions = OpenApiRouter::new()
        .routes(routes!(letters::post_action))
        .layer(DefaultBodyLimit::max(crate::signoff::SIGNED_BODY_LIMIT));
    // Letters with files: the public form, and a desk's typed-in letter (whose JSON form
    // still reads at most JSON_BODY_LIMIT itself).
    let uploads = OpenApiRouter::new()
        .routes(routes!(intake::post_public_letter))
        .routes(routes!(intake::post_desk_letter))
        .layer(DefaultBodyLimit::max(intake::MAX_INTAKE_BODY));
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .merge(json)
        .merge(actions)
        // Keys, delegations and signed forms (with their own body limit).
        .merge(crate::signoff::api())
        .merge(uploads)
}

/// The OpenAPI 3.1 document of the whole API, as served at `/api/v1/openapi.json`.
pub fn openapi() -> serde_json::Value {
    crate::contract::complete(&api().split_for_parts().1)
}

/// The complete router, ready to serve.
pub fn router(state: AppState) -> Router {
    let limits = crate::http::RequestLimits::from(&state.config.limits);
    let (router, doc) = api().split_for_parts();
    // Rendered once: the document does not change while the server runs.
    let doc_json = crate::contract::complete(&doc).to_string();
    router
        .route(
            "/api/v1/openapi.json",
            axum::routing::get(move || {
                let body = doc_json.clone();
                async move { json_response(body) }
            }),
        )
        // Prometheus' text format, outside the JSON API and its document: only for the
        // networks and the token the configuration names (telemetry.rs).
        .route(
            "/metrics",
            axum::routing::get(crate::telemetry::get_metrics),
        )
        // The citizen portal and the WeChat/Weibo callbacks (HTML and platform formats).
        .merge(crate::citizen::routes())
        // Names each matched route's template for the request counter below.
        .route_layer(axum::middleware::from_fn(crate::telemetry::name_route))
        .fallback(error::no_route)
        .method_not_allowed_fallback(error::method_not_allowed)
        .with_state(state)
        // Every route, the citizen portal and the fallbacks included (see http.rs).
        .layer(axum::middleware::from_fn_with_state(
            limits,
            crate::http::time_limits,
        ))
        .layer(CatchPanicLayer::custom(error::panic_response))
        // Outside the time limits and the panic net, so timeouts and panics count too.
        .layer(axum::middleware::from_fn(crate::telemetry::count_request))
        .layer(TraceLayer::new_for_http())
}

fn json_response(body: String) -> Response {
    let mut response = body.into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}
