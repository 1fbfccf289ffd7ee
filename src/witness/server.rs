//! The witness's HTTP interface (axum): `POST /add-checkpoint` as
//! c2sp.org/tlog-witness specifies it. A handler parses the body, runs
//! [`Witness::add_checkpoint`] on a blocking thread (it fsyncs) and maps the
//! result to a response; no rule lives here.
//!
//! Responses: 200 `text/plain` with the cosignature lines; 409 with
//! `<size>\n` as `text/x.tlog.size`; 400, 403, 404, 422, 500 and 503 with a
//! one-line reason as `text/plain`; 413 for a body over
//! [`MAX_REQUEST_BYTES`]; 405 for another method.

use super::protocol::{
    encode_cosignatures, encode_size, AddCheckpoint, ADD_CHECKPOINT_PATH, MAX_REQUEST_BYTES,
    SIZE_CONTENT_TYPE,
};
use super::service::{AddCheckpointError, Witness};
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use std::future::Future;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

/// The witness's router, for tests (`oneshot`) and for [`serve`].
pub fn router(witness: Arc<Witness>) -> Router {
    Router::new()
        .route(ADD_CHECKPOINT_PATH, post(add_checkpoint))
        .layer(DefaultBodyLimit::max(MAX_REQUEST_BYTES))
        .with_state(witness)
}

/// Serves the witness on `listener` until `shutdown` completes; in-flight
/// requests finish first.
pub async fn serve(
    listener: tokio::net::TcpListener,
    witness: Arc<Witness>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router(witness))
        .with_graceful_shutdown(shutdown)
        .await
}

fn text(status: StatusCode, body: String) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        body,
    )
        .into_response()
}

fn system_clock() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

async fn add_checkpoint(State(witness): State<Arc<Witness>>, body: Bytes) -> Response {
    let req = match AddCheckpoint::parse(&body) {
        Ok(r) => r,
        Err(reason) => {
            tracing::info!(status = 400, reason, "add-checkpoint refused");
            return text(StatusCode::BAD_REQUEST, format!("{reason}\n"));
        }
    };
    let result = tokio::task::spawn_blocking(move || {
        // The body parsed, so it is UTF-8.
        let raw = std::str::from_utf8(&body).unwrap_or_default();
        let out = witness.add_checkpoint(&req, raw, &system_clock);
        (req, out)
    })
    .await;
    let (req, outcome) = match result {
        Ok(r) => r,
        Err(e) => {
            tracing::error!(error = %e, "add-checkpoint task failed");
            return text(StatusCode::INTERNAL_SERVER_ERROR, "internal error\n".into());
        }
    };
    match outcome {
        Ok(lines) => {
            tracing::info!(
                origin = req.origin(),
                old = req.old_size,
                status = 200,
                "checkpoint cosigned"
            );
            text(StatusCode::OK, encode_cosignatures(&lines))
        }
        Err(e) => error_response(&req, &e),
    }
}

#[allow(
    clippy::wildcard_enum_match_arm,
    reason = "only storage errors are hidden from the client; every other error's text is the answer"
)]
fn error_response(req: &AddCheckpoint, e: &AddCheckpointError) -> Response {
    let status = StatusCode::from_u16(e.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    tracing::info!(
        origin = req.origin(),
        old = req.old_size,
        status = status.as_u16(),
        reason = %e,
        "add-checkpoint refused"
    );
    if let Some(size) = e.conflict_size() {
        return (
            status,
            [(header::CONTENT_TYPE, SIZE_CONTENT_TYPE)],
            encode_size(size),
        )
            .into_response();
    }
    // Storage errors are logged above; the client learns only that it failed.
    let message = match e {
        AddCheckpointError::Storage(_) => "the witness could not store its state".to_owned(),
        other => other.to_string(),
    };
    text(status, format!("{message}\n"))
}
