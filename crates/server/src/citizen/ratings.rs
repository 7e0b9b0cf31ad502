//! Writers' ratings, as the desks read them. A rating is the writer's own word on the
//! outcome, kept as a separate record beside the letter (not a life-cycle event: it
//! changes no state and starts no clock). The desk's return visit (回访) stays the
//! measure of the 满意率; a rating tells the desk what to ask about on that visit.

use axum::extract::State;
use chrono::{DateTime, Utc};
use jsjb_core::letter::LetterId;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::auth::{Session, unit_tree};
use crate::error::{ApiError, Problem};
use crate::extract::{ApiJson, ApiPath};
use crate::state::AppState;

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct WriterRating {
    /// `satisfied` 满意, `basically_satisfied` 基本满意, `dissatisfied` 不满意.
    pub satisfaction: String,
    pub comment: String,
    pub rated_at: DateTime<Utc>,
}

/// The writer's rating of a closed letter in the caller's scope.
#[utoipa::path(get, path = "/api/v1/letters/{id}/rating", tag = "letters",
    security(("bearer" = [])),
    params(("id" = i64, Path, description = "The letter")),
    responses(
        (status = 200, body = WriterRating),
        (status = 404, body = Problem, description = "`not_found`: no such letter in your scope, or not rated"),
    ))]
pub async fn get_rating(
    State(state): State<AppState>,
    session: Session,
    ApiPath(id): ApiPath<i64>,
) -> Result<ApiJson<WriterRating>, ApiError> {
    let not_found = || ApiError::NotFound(format!("letter {id} has no rating in your scope"));
    let tree = unit_tree(&state).await?;
    let letter = state
        .store
        .letter(LetterId(id))
        .await?
        .filter(|l| tree.in_scope(session.unit_id, l.unit_id))
        .ok_or_else(not_found)?;
    let rating = state
        .store
        .rating(&letter.tracking_code)
        .await?
        .ok_or_else(not_found)?;
    Ok(ApiJson(WriterRating {
        satisfaction: rating.satisfaction.as_str().to_owned(),
        comment: rating.comment,
        rated_at: rating.rated_at,
    }))
}
