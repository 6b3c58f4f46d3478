//! Live circuit documents: rooms of yrs documents synced over the y-websocket
//! protocol, the durable update log behind them, versions, and the REST surface.

pub mod persist;
pub mod rooms;
pub mod routes;
pub mod socket;

use std::future::Future;
use std::pin::Pin;

use actix_web::{FromRequest, HttpRequest, dev::Payload, web};
use qollab_shared::api::{DocProblem, DocSummary, Role};
use qollab_shared::doc::Problem;
use qollab_shared::sync::DecodedUpdate;
use uuid::Uuid;
use yrs::updates::decoder::Decode;
use yrs::{Doc, ReadTxn, StateVector, Transact, TransactionMut, Update};

use crate::app::AppState;
use crate::auth::AuthUser;
use crate::db::tables::docs;
use crate::error::{ApiError, ApiResult};
use crate::workspaces::{EDITOR, VIEWER, authorize_within, role_of};

/// A caller allowed at least role `MIN` in the workspace of the document named by the
/// `{id}` path segment. Non-members get 404, as for a document that does not exist.
pub struct DocAccess<const MIN: u8> {
    pub user: AuthUser,
    pub doc: docs::Model,
    pub role: Role,
}

pub type DocViewer = DocAccess<VIEWER>;
pub type DocEditor = DocAccess<EDITOR>;

impl<const MIN: u8> FromRequest for DocAccess<MIN> {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = ApiResult<Self>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let state = req.app_data::<web::Data<AppState>>().cloned();
        let doc_id = req.match_info().get("id").map(Uuid::parse_str);
        let user = AuthUser::from_request(req, payload);
        Box::pin(async move {
            let state = state.ok_or_else(ApiError::internal)?;
            let user = user.await?;
            let Some(Ok(doc_id)) = doc_id else {
                return Err(ApiError::not_found("document"));
            };
            let doc = state
                .db
                .doc(doc_id)
                .await?
                .ok_or_else(|| ApiError::not_found("document"))?;
            let role =
                authorize_within(&state, user, doc.workspace_id, role_of(MIN), "document").await?;
            Ok(DocAccess { user, doc, role })
        })
    }
}

pub fn summary(d: &docs::Model) -> DocSummary {
    DocSummary {
        id: d.id,
        workspace_id: d.workspace_id,
        name: d.name.clone(),
        created_by: d.created_by,
        created_at: d.created_at,
        updated_at: d.updated_at,
    }
}

pub fn problem_view(p: &Problem) -> DocProblem {
    let code = serde_json::to_value(p)
        .ok()
        .and_then(|v| v.get("code").and_then(|c| c.as_str()).map(str::to_string))
        .unwrap_or_else(|| "problem".into());
    DocProblem {
        code,
        message: p.to_string(),
        op_index: p.op_index(),
    }
}

/// A scratch copy of a document state, for computing server-side edits without
/// touching the room before they are persisted.
pub fn scratch(state: &[u8]) -> ApiResult<Doc> {
    let doc = Doc::new();
    let update = Update::decode_v1(state).map_err(|e| {
        tracing::error!(error = %e, "room state does not decode");
        ApiError::internal()
    })?;
    doc.transact_mut().apply_update(update).map_err(|e| {
        tracing::error!(error = %e, "room state does not apply");
        ApiError::internal()
    })?;
    Ok(doc)
}

/// Makes a change on the server's behalf, as one CRDT transaction that goes through the
/// same path as a peer's update (persisted, applied, relayed to every connected peer).
/// Returns `f`'s result; an edit that changes nothing writes nothing.
pub async fn server_edit<R>(
    state: &AppState,
    doc: &docs::Model,
    f: impl FnOnce(&mut TransactionMut) -> ApiResult<R>,
) -> ApiResult<R> {
    let room = state.rooms.open(doc).await?;
    let result = async {
        let copy = scratch(&room.encode_state())?;
        let (r, update) = {
            let mut txn = copy.transact_mut();
            let r = f(&mut txn)?;
            (r, txn.encode_update_v1())
        };
        let decoded = DecodedUpdate::decode(update).map_err(|e| {
            tracing::error!(error = %e, "server edit produced an undecodable update");
            ApiError::internal()
        })?;
        if !room.with_awareness(|a| decoded.is_noop_for(a.doc())) {
            state
                .rooms
                .apply_update(&room, None, decoded)
                .await
                .map_err(|e| ApiError::new(qollab_shared::error::ErrorCode::Unavailable, e))?;
        }
        Ok(r)
    }
    .await;
    state.rooms.unload_when_idle(&room);
    result
}

/// The whole state of a fresh document holding `circuit`.
pub fn initial_state(circuit: &qollab_shared::doc::DocCircuit) -> Vec<u8> {
    let doc = Doc::new();
    qollab_shared::doc::write(&doc, circuit);
    doc.transact()
        .encode_state_as_update_v1(&StateVector::default())
}
