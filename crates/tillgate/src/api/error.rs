//! The one place errors become HTTP: every failure a POS sees is `{"error": {...}}` with Stripe's status.
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;
use tillgate_domain::ApiError;

/// [`ApiError`] as an HTTP response.
#[derive(Debug)]
pub struct ApiErr(pub ApiError);

impl From<ApiError> for ApiErr {
    fn from(e: ApiError) -> Self {
        ApiErr(e)
    }
}

impl IntoResponse for ApiErr {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.0.status).unwrap_or(StatusCode::BAD_REQUEST);
        (status, Json(json!({ "error": self.0 }))).into_response()
    }
}

pub type ApiResult<T> = Result<T, ApiErr>;
