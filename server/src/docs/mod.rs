//! Live circuit documents: rooms of yrs documents synced over the y-websocket
//! protocol, the durable update log behind them, versions, and the REST surface.

pub mod persist;
pub mod rooms;
pub mod routes;
pub mod socket;

use qollab_shared::api::{DocProblem, DocSummary};
use qollab_shared::doc::Problem;
use qollab_shared::sync::DecodedUpdate;
use uuid::Uuid;
use yrs::updates::decoder::Decode;
use yrs::{Doc, ReadTxn, StateVector, Transact, TransactionMut, Update};

use crate::app::AppState;
use crate::db::tables::docs;
use crate::error::{ApiError, ApiResult};
use crate::workspaces::{EDITOR, Guarded, Resource, VIEWER};

/// A caller allowed at least role `MIN` in the workspace of the document named by the
/// `{id}` path segment. Non-members get 404, as for a document that does not exist.
pub type DocAccess<const MIN: u8> = Guarded<docs::Model, MIN>;
pub type DocViewer = DocAccess<VIEWER>;
pub type DocEditor = DocAccess<EDITOR>;

impl Resource for docs::Model {
    const NAME: &'static str = "document";
    const PARAM: &'static str = "doc_id";
    async fn load(state: &AppState, id: Uuid) -> ApiResult<Option<Self>> {
        state.db.doc(id).await
    }
    fn workspace_id(&self) -> Uuid {
        self.workspace_id
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
/// Returns `f`'s result; an edit that changes nothing writes nothing. The edit is
/// computed on a scratch copy on the blocking pool (`AppState::heavy`, named `what` in
/// errors), never on an actix worker.
pub async fn server_edit<R: Send + 'static>(
    state: &AppState,
    doc: &docs::Model,
    what: &str,
    f: impl FnOnce(&mut TransactionMut) -> ApiResult<R> + Send + 'static,
) -> ApiResult<R> {
    let room = state.rooms.open(doc).await?;
    let result = async {
        let copy_of = room.clone();
        let (r, decoded, noop) = state
            .heavy
            .run(what, move |_| {
                let copy = scratch(&copy_of.encode_state())?;
                let (r, update) = {
                    let mut txn = copy.transact_mut();
                    let r = f(&mut txn)?;
                    (r, txn.encode_update_v1())
                };
                let decoded = DecodedUpdate::decode(update).map_err(|e| {
                    tracing::error!(error = %e, "server edit produced an undecodable update");
                    ApiError::internal()
                })?;
                let noop = copy_of.with_awareness(|a| decoded.is_noop_for(a.doc()));
                Ok((r, decoded, noop))
            })
            .await?;
        if !noop {
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

/// Reads a loaded document on the blocking pool: `f` gets its current content.
pub async fn read_doc<T: Send + 'static>(
    state: &AppState,
    doc: &docs::Model,
    what: &str,
    f: impl FnOnce(qollab_shared::doc::DocRead) -> ApiResult<T> + Send + 'static,
) -> ApiResult<T> {
    let room = state.rooms.open(doc).await?;
    let r = room.clone();
    let result = state
        .heavy
        .run(what, move |_| {
            f(r.with_awareness(|a| qollab_shared::doc::read(a.doc())))
        })
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
