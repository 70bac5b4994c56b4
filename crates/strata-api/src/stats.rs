//! `GET /v1/stats`: tiers and volumes of this server at a glance.

use crate::{ApiError, ApiState};
use axum::Json;
use axum::extract::State;

pub async fn stats(State(state): State<ApiState>) -> Result<Json<serde_json::Value>, ApiError> {
    let engine = state.engine.clone();
    let (tiers, volumes) =
        tokio::task::spawn_blocking(move || (engine.tiers(), engine.list_volumes()))
            .await
            .map_err(|err| ApiError::internal(err.to_string()))?;
    Ok(Json(serde_json::json!({
        "server_id": &*state.server_id,
        "tiers": tiers,
        "volumes": volumes,
    })))
}
