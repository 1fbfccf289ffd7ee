//! Operator endpoints for system admins: a consistent backup streamed from the running
//! server (`GET /v1/admin/backup`, see `ledger::backup`) and online key rotation
//! (`POST /v1/admin/keys/rotate-master`, `POST /v1/admin/keys/rotate-signing`).

use super::error::{ApiError, ErrorBody};
use crate::http::extract::{Auth, Ctx, NoStore};
use crate::http::AppState;
use axum::body::Body as HttpBody;
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};

/// Sends what the backup writer writes, in chunks, to the response body.
struct ChunkWriter {
    tx: tokio::sync::mpsc::Sender<Result<Vec<u8>, std::io::Error>>,
    buf: Vec<u8>,
}

impl std::io::Write for ChunkWriter {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        self.buf.extend_from_slice(data);
        if self.buf.len() >= 64 * 1024 {
            self.flush()?;
        }
        Ok(data.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let chunk = std::mem::take(&mut self.buf);
        self.tx
            .blocking_send(Ok(chunk))
            .map_err(|_| std::io::Error::other("the client went away"))
    }
}

#[utoipa::path(get, path = "/v1/admin/backup", tag = "admin",
    responses((status = 200, description = "A backup file (credledger-backup/v1, JSON lines)", content_type = "application/x-ndjson"),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub async fn backup(State(st): State<AppState>, Auth(caller): Auth) -> Result<Response, ApiError> {
    if !caller.is_system_admin() {
        return Err(ApiError::forbidden("backups are for system admins"));
    }
    st.ledger.writable()?;
    let (tx, rx) = tokio::sync::mpsc::channel(8);
    let ledger = st.ledger.clone();
    tokio::task::spawn_blocking(move || {
        let mut w = ChunkWriter {
            tx: tx.clone(),
            buf: Vec::new(),
        };
        // A failure mid-stream ends the body with an error: the client sees a truncated
        // file, which has no end line and is refused by restore.
        if let Err(e) = ledger.write_backup(&mut w) {
            tracing::error!(error = %e, "backup failed mid-stream");
            let _ = tx.blocking_send(Err(std::io::Error::other("backup failed")));
        }
    });
    let stream = tokio_stream::wrappers::ReceiverStream::new(rx);
    Ok(NoStore((
        [
            (header::CONTENT_TYPE, "application/x-ndjson"),
            (
                header::CONTENT_DISPOSITION,
                "attachment; filename=\"credledger.backup\"",
            ),
        ],
        HttpBody::from_stream(stream),
    ))
    .into_response())
}

#[utoipa::path(post, path = "/v1/admin/keys/rotate-master", tag = "admin",
    responses((status = 200, description = "`{\"master_key_id\": n}`"), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 409, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub async fn rotate_master(
    State(st): State<AppState>,
    Auth(caller): Auth,
    Ctx(ctx): Ctx,
) -> Result<Json<Value>, ApiError> {
    let id = st.ledger.rotate_master_key(&ctx, &caller).await?;
    Ok(Json(json!({ "master_key_id": id })))
}

#[utoipa::path(post, path = "/v1/admin/keys/rotate-signing", tag = "admin",
    responses((status = 200, description = "`{\"signing_key\": hex}`: the new public key"), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub async fn rotate_signing(
    State(st): State<AppState>,
    Auth(caller): Auth,
    Ctx(ctx): Ctx,
) -> Result<Json<Value>, ApiError> {
    let key = st.ledger.rotate_signing_key(&ctx, &caller).await?;
    Ok(Json(json!({ "signing_key": hex::encode(key) })))
}
