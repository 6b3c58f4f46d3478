//! Documents over REST: create (optionally from OpenQASM), list, inspect with live
//! stats, rename, delete, OpenQASM export and server-side edit, binary Yjs state,
//! versions and restore.

use actix_web::http::header::ContentType;
use actix_web::{HttpRequest, HttpResponse, web};
use qollab_quantum::qasm::{self, Dialect};
use qollab_shared::api::{
    CreateDocRequest, CreateVersionRequest, DocDetail, DocPage, DocSummary, DocVersion,
    ImportQasmRequest, RenameDocRequest, RestoreRequest, VersionPage,
};
use qollab_shared::doc::{self, DocCircuit};
use qollab_shared::error::ErrorCode;
use qollab_shared::events::kinds;
use qollab_shared::sync::DecodedUpdate;
use qollab_shared::validate;
use serde::Deserialize;

use super::{
    DocEditor, DocViewer, initial_state, problem_view, read_doc, scratch, server_edit, summary,
};
use crate::app::AppState;
use crate::error::{ApiError, ApiResult};
use crate::workspaces::{AsEditor, AsViewer};

pub fn configure(r: &mut crate::app::Routes) {
    r.post("/api/workspaces/{workspace_id}/docs", create)
        .get("/api/workspaces/{workspace_id}/docs", list)
        .get("/api/docs/{doc_id}", get)
        .patch("/api/docs/{doc_id}", rename)
        .delete("/api/docs/{doc_id}", delete)
        .get("/api/docs/{doc_id}/qasm", export_qasm)
        .put("/api/docs/{doc_id}/qasm", import_qasm)
        .get("/api/docs/{doc_id}/update", get_update)
        .post("/api/docs/{doc_id}/update", post_update)
        .get("/api/docs/{doc_id}/versions", versions)
        .post("/api/docs/{doc_id}/versions", create_version)
        .get(
            "/api/docs/{doc_id}/versions/{version_id}/diff",
            version_diff,
        )
        .post("/api/docs/{doc_id}/restore", restore);
}

fn name_of(raw: &str) -> ApiResult<String> {
    validate::name(raw).map_err(|m| ApiError::invalid_field("name", m))
}

/// Parses OpenQASM into document form; errors carry `line:col`.
pub(crate) fn circuit_from_qasm(src: &str, name: &str) -> ApiResult<DocCircuit> {
    // Documents hold up to the schema's maximum of qubits (the default limits); jobs
    // check the plan's when they run one.
    let circuit = qasm::parse_flat_with(src, &qasm::Limits::default())
        .map_err(|e| ApiError::qasm(&e, false))?;
    DocCircuit::from_circuit(&circuit, name)
        .map_err(|e| ApiError::new(ErrorCode::InvalidQasm, e.to_string()))
}

#[utoipa::path(post, path = "/api/workspaces/{workspace_id}/docs", tag = "docs", params(("workspace_id" = uuid::Uuid, Path)),
    request_body = CreateDocRequest,
    responses((status = 201, body = DocSummary), (status = 403), (status = 404), (status = 422)),
    security(("bearer" = [])))]
pub async fn create(
    state: web::Data<AppState>,
    access: AsEditor,
    body: web::Json<CreateDocRequest>,
) -> ApiResult<HttpResponse> {
    let body = body.into_inner();
    let name = name_of(&body.name)?;
    let n = name.clone();
    let initial = state
        .heavy
        .run("importing OpenQASM", move |_| {
            let circuit = match &body.qasm {
                Some(src) => circuit_from_qasm(src, &n)?,
                None => DocCircuit {
                    name: n,
                    ..Default::default()
                },
            };
            Ok(initial_state(&circuit))
        })
        .await?;
    let doc = state
        .db
        .create_doc(access.workspace.id, &name, access.user.id, Some(initial))
        .await?;
    let view = summary(&doc);
    state
        .events
        .emit(
            doc.workspace_id,
            kinds::DOC_CREATED,
            Some(access.user.id),
            serde_json::json!({"doc": view}),
        )
        .await;
    Ok(HttpResponse::Created().json(view))
}

#[utoipa::path(get, path = "/api/workspaces/{workspace_id}/docs", tag = "docs", params(("workspace_id" = uuid::Uuid, Path), crate::pages::PageQuery),
    responses((status = 200, body = DocPage), (status = 404), (status = 422)), security(("bearer" = [])))]
pub async fn list(
    state: web::Data<AppState>,
    access: AsViewer,
    query: web::Query<crate::pages::PageQuery>,
) -> ApiResult<web::Json<DocPage>> {
    let (limit, after) = (query.limit()?, query.cursor()?);
    let rows = state
        .db
        .docs_page(access.workspace.id, after, limit + 1)
        .await?;
    Ok(web::Json(crate::pages::page(
        rows,
        limit,
        |d| (d.created_at, d.id),
        |d| summary(&d),
    )))
}

#[utoipa::path(get, path = "/api/docs/{doc_id}", tag = "docs", params(("doc_id" = uuid::Uuid, Path)),
    responses((status = 200, body = DocDetail), (status = 404)), security(("bearer" = [])))]
pub async fn get(state: web::Data<AppState>, access: DocViewer) -> ApiResult<web::Json<DocDetail>> {
    let (stats, problems) = read_doc(&state, &access.target, "reading the document", |read| {
        Ok(stats_of(&read))
    })
    .await?;
    Ok(web::Json(DocDetail {
        doc: summary(&access.target),
        stats,
        problems,
        connected_peers: peers_of(&state, &access.target),
    }))
}

/// A document's statistics and problems, as answers show them.
fn stats_of(read: &doc::DocRead) -> (doc::CircuitStats, Vec<qollab_shared::api::DocProblem>) {
    (
        doc::stats(&read.circuit),
        read.problems.iter().map(problem_view).collect(),
    )
}

/// Peers connected to a document here (0 when its room is not loaded).
fn peers_of(state: &AppState, d: &crate::db::tables::docs::Model) -> usize {
    state
        .rooms
        .loaded()
        .iter()
        .find(|r| r.doc_id == d.id)
        .map_or(0, |r| r.peer_count())
}

#[utoipa::path(patch, path = "/api/docs/{doc_id}", tag = "docs", params(("doc_id" = uuid::Uuid, Path)),
    request_body = RenameDocRequest,
    responses((status = 200, body = DocSummary), (status = 403), (status = 404), (status = 422)),
    security(("bearer" = [])))]
pub async fn rename(
    state: web::Data<AppState>,
    access: DocEditor,
    body: web::Json<RenameDocRequest>,
) -> ApiResult<web::Json<DocSummary>> {
    let name = name_of(&body.name)?;
    let doc = state.db.rename_doc(access.target.id, &name).await?;
    Ok(web::Json(summary(&doc)))
}

#[utoipa::path(delete, path = "/api/docs/{doc_id}", tag = "docs", params(("doc_id" = uuid::Uuid, Path)),
    responses((status = 204), (status = 403), (status = 404)), security(("bearer" = [])))]
pub async fn delete(state: web::Data<AppState>, access: DocEditor) -> ApiResult<HttpResponse> {
    state
        .rooms
        .close_doc(access.target.id, "the document was deleted");
    state.db.delete_doc(access.target.id).await?;
    state
        .events
        .emit(
            access.target.workspace_id,
            kinds::DOC_DELETED,
            Some(access.user.id),
            serde_json::json!({"doc": summary(&access.target)}),
        )
        .await;
    Ok(HttpResponse::NoContent().finish())
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ExportQuery {
    /// `qasm2` (default) or `qasm3`.
    #[serde(default)]
    #[param(value_type = Option<qollab_shared::api::wire::QasmDialect>)]
    pub dialect: Option<String>,
}

#[utoipa::path(get, path = "/api/docs/{doc_id}/qasm", tag = "docs", params(("doc_id" = uuid::Uuid, Path), ExportQuery),
    responses((status = 200, content_type = "text/plain"), (status = 404), (status = 422)),
    security(("bearer" = [])))]
pub async fn export_qasm(
    state: web::Data<AppState>,
    access: DocViewer,
    query: web::Query<ExportQuery>,
) -> ApiResult<HttpResponse> {
    use qollab_shared::api::wire::QasmDialect;
    let dialect = match query.dialect.as_deref().map(QasmDialect::parse_or_explain) {
        None | Some(Ok(QasmDialect::Qasm2)) => Dialect::Qasm2,
        Some(Ok(QasmDialect::Qasm3)) => Dialect::Qasm3,
        Some(Err(m)) => return Err(ApiError::invalid_field("dialect", m)),
    };
    let text = read_doc(&state, &access.target, "exporting OpenQASM", move |read| {
        let circuit = read.circuit.to_circuit().map_err(|problems| {
            ApiError::new(
                ErrorCode::InvalidInput,
                format!(
                    "the document is not a valid circuit right now ({} problem(s)); fix them first",
                    problems.len()
                ),
            )
            .with_details(serde_json::json!({
                "problems": problems.iter().map(problem_view).collect::<Vec<_>>()
            }))
        })?;
        qasm::write(&circuit, dialect)
            .map_err(|e| ApiError::new(ErrorCode::InvalidInput, format!("cannot export: {e}")))
    })
    .await?;
    Ok(HttpResponse::Ok()
        .content_type(ContentType::plaintext())
        .body(text))
}

/// Replaces the circuit with the OpenQASM in the body, as one CRDT transaction that every
/// connected peer sees live. The document's name and notes are kept.
#[utoipa::path(put, path = "/api/docs/{doc_id}/qasm", tag = "docs", params(("doc_id" = uuid::Uuid, Path)),
    request_body(content((String = "text/plain"), (ImportQasmRequest = "application/json"))),
    responses((status = 200, body = DocDetail), (status = 400), (status = 403), (status = 404), (status = 422)),
    security(("bearer" = [])))]
pub async fn import_qasm(
    state: web::Data<AppState>,
    access: DocEditor,
    req: HttpRequest,
    body: web::Bytes,
) -> ApiResult<web::Json<DocDetail>> {
    // The text itself (curl, the CLI), or `{"qasm": …}` (what generated clients send).
    let json = req
        .headers()
        .get(actix_web::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim_start().starts_with("application/json"));
    let qasm = if json {
        serde_json::from_slice::<ImportQasmRequest>(&body)
            .map_err(|e| ApiError::json_body(&e))?
            .qasm
    } else {
        String::from_utf8(body.to_vec())
            .map_err(|_| ApiError::new(ErrorCode::InvalidInput, "the OpenQASM text is not UTF-8"))?
    };
    Ok(web::Json(
        replace_with_qasm(&state, &access.target, qasm).await?,
    ))
}

/// Replaces a document's circuit with OpenQASM (name and notes kept), through
/// [`server_edit`]: what `PUT /api/docs/{id}/qasm` and an accepted AI suggestion do.
pub(crate) async fn replace_with_qasm(
    state: &AppState,
    target: &crate::db::tables::docs::Model,
    body: String,
) -> ApiResult<DocDetail> {
    let name = target.name.clone();
    let mut circuit = state
        .heavy
        .run("importing OpenQASM", move |_| {
            circuit_from_qasm(&body, &name)
        })
        .await?;
    let (stats, problems) = server_edit(state, target, "importing OpenQASM", move |txn| {
        let current = doc::read_txn(txn).circuit;
        if !current.name.is_empty() {
            circuit.name = current.name;
        }
        circuit.notes = current.notes;
        doc::write_txn(txn, &circuit);
        Ok(stats_of(&doc::read_txn(txn)))
    })
    .await?;
    Ok(DocDetail {
        doc: summary(target),
        stats,
        problems,
        connected_peers: peers_of(state, target),
    })
}

/// A document's circuit as OpenQASM 2 with its stats (the AI's `read_document` tool).
pub(crate) async fn qasm_of(
    state: &AppState,
    target: &crate::db::tables::docs::Model,
) -> ApiResult<(String, qollab_shared::doc::CircuitStats)> {
    read_doc(state, target, "exporting OpenQASM", move |read| {
        let stats = stats_of(&read).0;
        let circuit = read.circuit.to_circuit().map_err(|problems| {
            ApiError::new(
                ErrorCode::InvalidInput,
                format!(
                    "the document is not a valid circuit right now ({} problem(s))",
                    problems.len()
                ),
            )
        })?;
        let text = qasm::write(&circuit, Dialect::Qasm2)
            .map_err(|e| ApiError::new(ErrorCode::InvalidInput, format!("cannot export: {e}")))?;
        Ok((text, stats))
    })
    .await
}

#[utoipa::path(get, path = "/api/docs/{doc_id}/update", tag = "docs", params(("doc_id" = uuid::Uuid, Path)),
    responses((status = 200, description = "the whole state as one Yjs v1 update", content_type = "application/octet-stream"), (status = 404)),
    security(("bearer" = [])))]
pub async fn get_update(state: web::Data<AppState>, access: DocViewer) -> ApiResult<HttpResponse> {
    let room = state.rooms.open(&access.target).await?;
    let bytes = room.encode_state();
    state.rooms.unload_when_idle(&room);
    Ok(HttpResponse::Ok()
        .content_type("application/octet-stream")
        .body(bytes))
}

#[utoipa::path(post, path = "/api/docs/{doc_id}/update", tag = "docs", params(("doc_id" = uuid::Uuid, Path)),
    request_body(content = Vec<u8>, content_type = "application/octet-stream"),
    responses((status = 204), (status = 403), (status = 404), (status = 422)), security(("bearer" = [])))]
pub async fn post_update(
    state: web::Data<AppState>,
    access: DocEditor,
    body: web::Bytes,
) -> ApiResult<HttpResponse> {
    let update = state
        .heavy
        .run("decoding the update", move |_| {
            DecodedUpdate::decode(body.to_vec()).map_err(|e| {
                ApiError::new(ErrorCode::InvalidInput, format!("not a Yjs v1 update: {e}"))
            })
        })
        .await?;
    let room = state.rooms.open(&access.target).await?;
    let (noop, beyond) = room.with_awareness(|a| {
        let noop = update.is_noop_for(a.doc());
        (
            noop,
            (!noop)
                .then(|| doc::update_beyond_schema(a.doc(), update.bytes()))
                .flatten(),
        )
    });
    if let Some(why) = beyond {
        state.rooms.unload_when_idle(&room);
        return Err(ApiError::new(
            ErrorCode::InvalidInput,
            format!("the update was refused: {why}"),
        ));
    }
    let result = if noop {
        Ok(())
    } else {
        state.rooms.apply_update(&room, None, update).await
    };
    state.rooms.unload_when_idle(&room);
    result.map_err(|e| ApiError::new(ErrorCode::InvalidInput, e))?;
    Ok(HttpResponse::NoContent().finish())
}

fn version_view(
    v: (
        uuid::Uuid,
        String,
        String,
        Option<uuid::Uuid>,
        chrono::DateTime<chrono::Utc>,
    ),
) -> DocVersion {
    DocVersion {
        id: v.0,
        name: v.1,
        kind: v.2,
        author_id: v.3,
        created_at: v.4,
    }
}

#[utoipa::path(get, path = "/api/docs/{doc_id}/versions", tag = "docs", params(("doc_id" = uuid::Uuid, Path), crate::pages::PageQuery),
    responses((status = 200, body = VersionPage), (status = 404), (status = 422)), security(("bearer" = [])))]
pub async fn versions(
    state: web::Data<AppState>,
    access: DocViewer,
    query: web::Query<crate::pages::PageQuery>,
) -> ApiResult<web::Json<VersionPage>> {
    let (limit, after) = (query.limit()?, query.cursor()?);
    let rows = state
        .db
        .versions(access.target.id, after, limit + 1)
        .await?;
    Ok(web::Json(crate::pages::page(
        rows,
        limit,
        |v| (v.4, v.0),
        version_view,
    )))
}

#[utoipa::path(post, path = "/api/docs/{doc_id}/versions", tag = "docs", params(("doc_id" = uuid::Uuid, Path)),
    request_body = CreateVersionRequest,
    responses((status = 201, body = DocVersion), (status = 403), (status = 404), (status = 422)),
    security(("bearer" = [])))]
pub async fn create_version(
    state: web::Data<AppState>,
    access: DocEditor,
    body: web::Json<CreateVersionRequest>,
) -> ApiResult<HttpResponse> {
    let name = name_of(&body.name)?;
    let room = state.rooms.open(&access.target).await?;
    let snapshot = room.encode_state();
    state.rooms.unload_when_idle(&room);
    let v = state
        .db
        .create_version(
            access.target.id,
            &name,
            "named",
            Some(access.user.id),
            snapshot,
        )
        .await?;
    Ok(HttpResponse::Created().json(DocVersion {
        id: v.id,
        name: v.name,
        kind: v.kind,
        author_id: v.author_id,
        created_at: v.created_at,
    }))
}

/// What changed since a version: ops added, removed and changed (matched by their id,
/// counted by gate) and the statistics of the version and of the document now.
#[utoipa::path(get, path = "/api/docs/{doc_id}/versions/{version_id}/diff", tag = "docs",
    params(("doc_id" = uuid::Uuid, Path), ("version_id" = uuid::Uuid, Path)),
    responses((status = 200, body = doc::CircuitDiff), (status = 404)), security(("bearer" = [])))]
pub async fn version_diff(
    state: web::Data<AppState>,
    access: DocViewer,
    path: web::Path<(uuid::Uuid, uuid::Uuid)>,
) -> ApiResult<web::Json<doc::CircuitDiff>> {
    let (_, version_id) = path.into_inner();
    let version = state
        .db
        .version(access.target.id, version_id)
        .await?
        .ok_or_else(|| ApiError::not_found("version"))?;
    let d = read_doc(
        &state,
        &access.target,
        "comparing with the version",
        move |now| {
            let then = doc::read(&scratch(&version.state)?).circuit;
            Ok(doc::diff(&then, &now.circuit))
        },
    )
    .await?;
    Ok(web::Json(d))
}

/// Restores a version as a new forward edit: the current content is rewritten to the
/// version's, so connected clients converge on it instead of diverging. The state just
/// before is kept as a `restore` version, so a restore can itself be undone.
#[utoipa::path(post, path = "/api/docs/{doc_id}/restore", tag = "docs", params(("doc_id" = uuid::Uuid, Path)),
    request_body = RestoreRequest,
    responses((status = 200, body = DocDetail), (status = 403), (status = 404)), security(("bearer" = [])))]
pub async fn restore(
    state: web::Data<AppState>,
    access: DocEditor,
    body: web::Json<RestoreRequest>,
) -> ApiResult<web::Json<DocDetail>> {
    let version = state
        .db
        .version(access.target.id, body.version_id)
        .await?
        .ok_or_else(|| ApiError::not_found("version"))?;
    let version_state = version.state.clone();
    let target = state
        .heavy
        .run("reading the version", move |_| {
            Ok(doc::read(&scratch(&version_state)?).circuit)
        })
        .await?;
    let room = state.rooms.open(&access.target).await?;
    let before = room.encode_state();
    state
        .db
        .create_version(
            access.target.id,
            &format!("Before restoring \u{201c}{}\u{201d}", version.name),
            "restore",
            Some(access.user.id),
            before,
        )
        .await?;
    let edited = server_edit(
        &state,
        &access.target,
        "restoring the version",
        move |txn| {
            doc::write_txn(txn, &target);
            Ok(stats_of(&doc::read_txn(txn)))
        },
    )
    .await;
    state.rooms.unload_when_idle(&room);
    let (stats, problems) = edited?;
    state
        .events
        .emit(
            access.target.workspace_id,
            kinds::DOC_RESTORED,
            Some(access.user.id),
            serde_json::json!({"doc": summary(&access.target), "version_id": version.id, "version_name": version.name}),
        )
        .await;
    Ok(web::Json(DocDetail {
        doc: summary(&access.target),
        stats,
        problems,
        connected_peers: room.peer_count(),
    }))
}
