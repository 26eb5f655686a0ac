//! `POST /settings/audit-log/export` with the form `format=csv|jsonl&<filter>`:
//! the filtered log as a download, streamed row by row from the store (memory
//! stays flat at a million rows). The session and role are checked here; the
//! export is recorded as `audit.exported` before the first byte. A POST and not
//! a GET because it writes that entry: the CSRF origin check then refuses a
//! cross-site link or form that would trigger it.

use crate::audit::export::{ExportFormat, record_export};
use crate::audit::filter::AuditFilterParams;
use crate::audit::query::{AuditScope, send_entries};
use crate::audit::store::ClientInfo;
use crate::auth::access;
use crate::error::AppError;
use crate::state::AppState;
use axum::body::{Body, Bytes};
use axum::extract::{Form, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use futures::StreamExt;
use serde::Deserialize;
use tower_sessions::Session;

/// Rows in flight between the store and the socket.
const ROWS_IN_FLIGHT: usize = 256;

#[derive(Deserialize)]
pub struct ExportParams {
    format: Option<String>,
    #[serde(flatten)]
    filter: AuditFilterParams,
}

pub async fn export(
    State(state): State<AppState>,
    session: Session,
    client: ClientInfo,
    Form(params): Form<ExportParams>,
) -> Response {
    start_export(state, session, &client, params)
        .await
        .unwrap_or_else(IntoResponse::into_response)
}

async fn start_export(
    state: AppState,
    session: Session,
    client: &ClientInfo,
    params: ExportParams,
) -> Result<Response, AppError> {
    let member = access::current_member(&state.db, &session, state.clock.now()).await?;
    let scope = AuditScope::of(&member)?;
    let format = ExportFormat::parse(params.format.as_deref())?;
    let filter = params.filter.parse()?;
    let now = state.clock.now();
    record_export(&state.db, &member, &filter, format, now, client).await?;

    let (sender, receiver) = tokio::sync::mpsc::channel(ROWS_IN_FLIGHT);
    let db = state.db.clone();
    tokio::spawn(async move { send_entries(&db, &scope, &filter, sender).await });
    let rows = futures::stream::unfold(receiver, move |mut receiver| async move {
        let next = receiver.recv().await?;
        let chunk = next
            .map(|entry| Bytes::from(format.row(&entry)))
            .map_err(|_| std::io::Error::other("the audit log could not be read to the end"));
        Some((chunk, receiver))
    });
    let body = futures::stream::once(async move { Ok(Bytes::from(format.header())) }).chain(rows);
    let file_name = format!(
        "audit-log-{}.{}",
        now.format("%Y%m%d-%H%M%S"),
        format.as_str()
    );
    Ok((
        [
            (header::CONTENT_TYPE, format.content_type().to_owned()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{file_name}\""),
            ),
            (header::CACHE_CONTROL, "no-store".to_owned()),
        ],
        Body::from_stream(body),
    )
        .into_response())
}
