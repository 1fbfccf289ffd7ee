//! Layers every dialect shares: the trace span, the JSON 405, and the one place internal
//! errors are logged.

use super::error::ApiError;
use axum::extract::Request;
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::sync::Arc;
use tower_http::classify::{ServerErrorsAsFailures, SharedClassifier};
use tower_http::trace::TraceLayer;

/// An internal error's detail, attached to a response by the error types (never logged
/// by them) and logged once by [`log_internal_errors`]. Details are our own error
/// texts, which never carry a secret.
#[derive(Clone, Debug)]
pub struct InternalError(pub Arc<str>);

/// Marks a follower's refusal to write (the 503 `not_writer`) for the cluster's
/// forwarding layer (`cluster::forward`).
#[derive(Clone, Copy, Debug)]
pub struct NotWriter;

/// Logs each internal error once, inside the request's trace span.
pub async fn log_internal_errors(req: Request, next: Next) -> Response {
    let resp = next.run(req).await;
    if let Some(InternalError(detail)) = resp.extensions().get::<InternalError>() {
        tracing::error!(status = resp.status().as_u16(), error = %detail, "request failed");
    }
    resp
}

/// axum's own 405 has no body: give it ours. One with a content type (the Vault
/// dialect's) is kept.
pub async fn method_not_allowed(req: Request, next: Next) -> Response {
    let resp = next.run(req).await;
    if resp.status() == StatusCode::METHOD_NOT_ALLOWED
        && !resp
            .headers()
            .contains_key(axum::http::header::CONTENT_TYPE)
    {
        return ApiError::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
            "this endpoint does not support that method",
        )
        .into_response();
    }
    resp
}

type MakeSpan = fn(&Request) -> tracing::Span;

fn span(req: &Request) -> tracing::Span {
    let id = req
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("-")
        .to_string();
    tracing::info_span!("request", method = %req.method(), path = %req.uri().path(), request_id = %id)
}

/// The trace layer: one span per request with method, path and request id; the response
/// status and latency at INFO. Never headers or bodies.
pub fn trace() -> TraceLayer<
    SharedClassifier<ServerErrorsAsFailures>,
    MakeSpan,
    (),
    tower_http::trace::DefaultOnResponse,
> {
    TraceLayer::new_for_http()
        .make_span_with(span as MakeSpan)
        .on_request(())
        .on_response(tower_http::trace::DefaultOnResponse::new().level(tracing::Level::INFO))
}
