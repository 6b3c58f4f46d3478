//! `ibm:<backend>` against a stand-in for IBM Quantum on loopback: IBM Cloud IAM's token
//! exchange and the Qiskit Runtime REST endpoints the client uses (backends, status,
//! configuration, jobs, results, cancel), with a job that completes over a few polls, one
//! that fails with a reason, one that runs until cancelled, and 401s on bad credentials.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix_web::dev::ServerHandle;
use actix_web::{HttpRequest, HttpResponse, web};
use qollab_client::rest::Client;
use qollab_server::config::Config;
use qollab_server::jobs::ibm::{IbmClient, IbmConfig, RemoteStatus, counts_from_results};
use qollab_shared::api::Job;
use reqwest::Method;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::common::team::Team;
use crate::common::{TestServer, raw, user};
use crate::jobs::{GHZ, submit, submit_ok, wait_job};

pub(crate) const GOOD_KEY: &str = "fake-api-key-0123456789abcdef";
const TOKEN: &str = "fake-bearer-token";
pub(crate) const CRN: &str = "crn:v1:bluemix:public:quantum-computing:us-east:a/0000:1111::";
/// The fake's samples for `fake_backend` (3-bit register `c`): 6 × 000, 4 × 111, 1 × 001.
const SAMPLES: [&str; 11] = [
    "0x0", "0x7", "0x0", "0x7", "0x0", "0x1", "0x7", "0x0", "0x0", "0x7", "0x0",
];
const FAILURE: &str = "Error 1517: the job's circuit has a gate the target does not support";

#[derive(Default)]
pub struct FakeState {
    next: u32,
    /// IBM job id → (backend, polls so far, cancelled).
    jobs: HashMap<String, (String, u32, bool)>,
    pub submitted: Vec<Value>,
    pub cancelled: Vec<String>,
    pub tokens_issued: u32,
    /// Every API key presented to IAM.
    pub keys_seen: Vec<String>,
}

pub struct FakeIbm {
    pub api_url: String,
    pub iam_url: String,
    pub state: Arc<Mutex<FakeState>>,
    handle: ServerHandle,
}

impl Drop for FakeIbm {
    fn drop(&mut self) {
        drop(self.handle.stop(false));
    }
}

type State = web::Data<Arc<Mutex<FakeState>>>;

fn lock(s: &State) -> std::sync::MutexGuard<'_, FakeState> {
    s.lock().unwrap_or_else(|p| p.into_inner())
}

fn error(status: u16, message: &str) -> HttpResponse {
    HttpResponse::build(actix_web::http::StatusCode::from_u16(status).unwrap_or_default()).json(
        json!({"errors": [{"code": status.to_string(), "message": message}], "status_code": status}),
    )
}

/// The headers every Qiskit Runtime call must carry.
fn authorized(req: &HttpRequest) -> Result<(), Box<HttpResponse>> {
    let h = |n: &str| {
        req.headers()
            .get(n)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string()
    };
    if h("authorization") != format!("Bearer {TOKEN}") {
        return Err(Box::new(error(401, "Invalid or expired token")));
    }
    if h("service-crn") != CRN {
        return Err(Box::new(error(
            403,
            "The Service-CRN does not name an instance you can use",
        )));
    }
    if h("ibm-api-version").is_empty() {
        return Err(Box::new(error(400, "IBM-API-Version header is required")));
    }
    Ok(())
}

const BACKENDS: [&str; 3] = ["fake_backend", "fake_failing", "fake_slow"];

async fn token(state: State, form: web::Form<HashMap<String, String>>) -> HttpResponse {
    if let Some(k) = form.get("apikey") {
        lock(&state).keys_seen.push(k.clone());
    }
    let ok = form.get("grant_type").map(String::as_str)
        == Some("urn:ibm:params:oauth:grant-type:apikey")
        && form.get("apikey").map(String::as_str) == Some(GOOD_KEY);
    if !ok {
        return HttpResponse::BadRequest().json(json!({
            "errorCode": "BXNIM0415E",
            "errorMessage": "Provided API key could not be found.",
        }));
    }
    lock(&state).tokens_issued += 1;
    HttpResponse::Ok().json(json!({
        "access_token": TOKEN, "refresh_token": "not_supported", "token_type": "Bearer",
        "expires_in": 3600, "expiration": 1_900_000_000u64,
    }))
}

async fn backends(req: HttpRequest) -> HttpResponse {
    if let Err(r) = authorized(&req) {
        return *r;
    }
    // Both shapes IBM has used: names, and objects with a name.
    HttpResponse::Ok().json(json!({"devices": [
        {"name": BACKENDS[0], "qubits": 5}, BACKENDS[1], {"name": BACKENDS[2]},
    ]}))
}

async fn backend_status(req: HttpRequest, path: web::Path<String>) -> HttpResponse {
    if let Err(r) = authorized(&req) {
        return *r;
    }
    let name = path.into_inner();
    if !BACKENDS.contains(&name.as_str()) {
        return error(404, "Backend not found");
    }
    HttpResponse::Ok().json(json!({
        "backend_name": name, "backend_version": "1.2.3", "operational": true,
        "pending_jobs": 3, "status_msg": "active",
    }))
}

async fn backend_configuration(req: HttpRequest, path: web::Path<String>) -> HttpResponse {
    if let Err(r) = authorized(&req) {
        return *r;
    }
    let name = path.into_inner();
    if !BACKENDS.contains(&name.as_str()) {
        return error(404, "Backend not found");
    }
    HttpResponse::Ok().json(json!({
        "backend_name": name, "backend_version": "1.2.3", "n_qubits": 5,
        "basis_gates": ["cx", "id", "rz", "sx", "x", "measure", "delay"],
        "coupling_map": [[0, 1], [1, 0], [1, 2], [2, 1], [2, 3], [3, 2], [3, 4], [4, 3]],
        "simulator": false, "max_shots": 100000,
    }))
}

async fn create_job(req: HttpRequest, state: State, body: web::Json<Value>) -> HttpResponse {
    if let Err(r) = authorized(&req) {
        return *r;
    }
    let body = body.into_inner();
    let backend = body["backend"].as_str().unwrap_or_default().to_string();
    let qasm = body.pointer("/params/pubs/0/0").and_then(Value::as_str);
    if body["program_id"] != "sampler" || !qasm.is_some_and(|q| q.starts_with("OPENQASM 3")) {
        return error(400, "expected a sampler job with an OpenQASM 3 PUB");
    }
    if !BACKENDS.contains(&backend.as_str()) {
        return error(404, "Backend not found");
    }
    let mut s = lock(&state);
    s.next += 1;
    let id = format!("fakejob{:04}", s.next);
    s.jobs.insert(id.clone(), (backend.clone(), 0, false));
    s.submitted.push(body);
    HttpResponse::Ok().json(json!({"id": id, "backend": backend, "private": false}))
}

/// What a job is now (and counts this as a poll).
fn job_status(s: &mut FakeState, id: &str) -> Option<(&'static str, Option<&'static str>)> {
    let (backend, polls, cancelled) = s.jobs.get_mut(id)?;
    *polls += 1;
    Some(match (backend.as_str(), *polls, *cancelled) {
        (_, _, true) => ("Cancelled", Some("cancelled by the user")),
        (_, 1, _) => ("Queued", None),
        ("fake_backend", 2, _) | ("fake_slow", _, _) => ("Running", None),
        ("fake_failing", _, _) => ("Failed", Some(FAILURE)),
        _ => ("Completed", None),
    })
}

async fn get_job(req: HttpRequest, state: State, path: web::Path<String>) -> HttpResponse {
    if let Err(r) = authorized(&req) {
        return *r;
    }
    let id = path.into_inner();
    let mut s = lock(&state);
    let Some((status, reason)) = job_status(&mut s, &id) else {
        return error(404, "Job not found");
    };
    let mut state = json!({"status": status});
    if let Some(r) = reason {
        state["reason"] = r.into();
    }
    HttpResponse::Ok().json(json!({
        "id": id, "program": {"id": "sampler"}, "status": status, "state": state,
    }))
}

async fn cancel_job(req: HttpRequest, state: State, path: web::Path<String>) -> HttpResponse {
    if let Err(r) = authorized(&req) {
        return *r;
    }
    let id = path.into_inner();
    let mut s = lock(&state);
    match s.jobs.get_mut(&id) {
        Some(job) => {
            job.2 = true;
            s.cancelled.push(id);
            HttpResponse::NoContent().finish()
        }
        None => error(404, "Job not found"),
    }
}

async fn results(req: HttpRequest, state: State, path: web::Path<String>) -> HttpResponse {
    if let Err(r) = authorized(&req) {
        return *r;
    }
    let id = path.into_inner();
    let s = lock(&state);
    match s.jobs.get(&id) {
        Some((b, polls, false)) if b == "fake_backend" && *polls >= 3 => {
            HttpResponse::Ok().json(json!({
                "results": [{"data": {"c": {"samples": SAMPLES, "num_bits": 3}},
                             "metadata": {"circuit_metadata": {}}}],
                "metadata": {"execution": {}, "version": 2},
            }))
        }
        Some(_) => error(409, "The job has no results"),
        None => error(404, "Job not found"),
    }
}

impl FakeIbm {
    pub async fn start() -> FakeIbm {
        let state = Arc::new(Mutex::new(FakeState::default()));
        let shared = state.clone();
        let (tx, rx) = tokio::sync::oneshot::channel();
        std::thread::spawn(move || {
            actix_web::rt::System::new().block_on(async move {
                let data = web::Data::new(shared);
                let server = actix_web::HttpServer::new(move || {
                    actix_web::App::new()
                        .app_data(data.clone())
                        .route("/identity/token", web::post().to(token))
                        .route("/api/v1/backends", web::get().to(backends))
                        .route(
                            "/api/v1/backends/{name}/status",
                            web::get().to(backend_status),
                        )
                        .route(
                            "/api/v1/backends/{name}/configuration",
                            web::get().to(backend_configuration),
                        )
                        .route("/api/v1/jobs", web::post().to(create_job))
                        .route("/api/v1/jobs/{id}", web::get().to(get_job))
                        .route("/api/v1/jobs/{id}/cancel", web::post().to(cancel_job))
                        .route("/api/v1/jobs/{id}/results", web::get().to(results))
                })
                .workers(1)
                .bind(("127.0.0.1", 0))
                .unwrap_or_else(|e| panic!("fake IBM bind: {e}"));
                let addr = server.addrs()[0];
                let server = server.run();
                let _ = tx.send((addr, server.handle()));
                let _ = server.await;
            });
        });
        let (addr, handle) = rx.await.unwrap_or_else(|e| panic!("fake IBM died: {e}"));
        FakeIbm {
            api_url: format!("http://{addr}/api/v1"),
            iam_url: format!("http://{addr}/identity/token"),
            state,
            handle,
        }
    }

    pub fn config(&self, key: &str) -> IbmConfig {
        IbmConfig {
            api_key: Some(key.into()),
            instance: Some(CRN.into()),
            api_url: self.api_url.clone(),
            iam_url: self.iam_url.clone(),
            poll_interval: Duration::from_millis(50),
            request_timeout: Duration::from_secs(5),
            ..Default::default()
        }
    }

    /// Points a server's configuration at this fake.
    pub fn apply(&self, c: &mut Config, key: &str) {
        c.jobs.ibm = self.config(key);
    }

    pub fn state(&self) -> std::sync::MutexGuard<'_, FakeState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

async fn workspace(url: &str) -> (Client, Uuid) {
    let t = Team::build(url).named("IBM").create().await;
    (t.owner, t.ws)
}

pub(crate) fn expected_counts() -> Value {
    json!({"000": 6, "111": 4, "001": 1})
}

#[tokio::test]
async fn ibm_client_speaks_the_documented_protocol() {
    let fake = FakeIbm::start().await;
    let client = IbmClient::new(fake.config(GOOD_KEY)).unwrap_or_else(|e| panic!("{e}"));
    let names = client.backends().await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(names, BACKENDS.map(String::from).to_vec());
    let b = client.backend("fake_backend").await;
    assert_eq!((b.num_qubits, b.operational, b.pending_jobs), (5, true, 3));
    assert!(b.basis_gates.contains(&"sx".to_string()) && b.coupling_map.len() == 8);
    assert!(b.problem.is_none(), "{:?}", b.problem);
    let missing = client.backend("ibm_nowhere").await;
    assert!(
        missing
            .problem
            .as_deref()
            .is_some_and(|p| p.contains("404")),
        "{:?}",
        missing.problem
    );

    let qasm = "OPENQASM 3.0;\ninclude \"stdgates.inc\";\nqubit[3] q;\nbit[3] c;\nc = measure q;\n";
    let id = client
        .submit("fake_backend", qasm, 11)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let sent = fake.state().submitted[0].clone();
    assert_eq!(sent["program_id"], "sampler");
    assert_eq!(sent["backend"], "fake_backend");
    assert_eq!(sent["params"]["pubs"][0][2], 11);
    let mut seen = Vec::new();
    for _ in 0..3 {
        seen.push(client.status(&id).await.unwrap_or_else(|e| panic!("{e}")));
    }
    assert_eq!(
        seen,
        [
            RemoteStatus::Queued,
            RemoteStatus::Running,
            RemoteStatus::Completed
        ]
    );
    let raw = client.results(&id).await.unwrap_or_else(|e| panic!("{e}"));
    let circuit = qollab_shared::circuit::Circuit::with_size(3, 3);
    let (counts, shots) = counts_from_results(&raw, &circuit).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(shots, 11);
    assert_eq!(json!(counts), expected_counts());

    // A failing job reports IBM's reason; a cancelled one ends cancelled.
    let failing = client
        .submit("fake_failing", qasm, 5)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let _ = client.status(&failing).await;
    assert_eq!(
        client.status(&failing).await.ok(),
        Some(RemoteStatus::Failed(FAILURE.into()))
    );
    let slow = client
        .submit("fake_slow", qasm, 5)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    client.cancel(&slow).await.unwrap_or_else(|e| panic!("{e}"));
    assert!(matches!(
        client.status(&slow).await,
        Ok(RemoteStatus::Cancelled(_))
    ));
    assert_eq!(fake.state().tokens_issued, 1, "the token is reused");

    // A bad key: IAM's refusal, with what to fix.
    let bad = IbmClient::new(fake.config("wrong")).unwrap_or_else(|e| panic!("{e}"));
    let e = bad
        .backends()
        .await
        .err()
        .unwrap_or_else(|| panic!("a bad key must fail"));
    assert_eq!(e.status, Some(400));
    assert!(
        e.message.contains("API key could not be found")
            && e.message.contains("QOLLAB_IBM_API_KEY"),
        "{e}"
    );
    // A wrong instance: the API's 403, with what to fix.
    let mut cfg = fake.config(GOOD_KEY);
    cfg.instance = Some("crn:v1:other".into());
    let wrong = IbmClient::new(cfg).unwrap_or_else(|e| panic!("{e}"));
    let e = wrong
        .backends()
        .await
        .err()
        .unwrap_or_else(|| panic!("a wrong CRN must fail"));
    assert!(
        e.message.contains("403") && e.message.contains("QOLLAB_IBM_INSTANCE"),
        "{e}"
    );
}

#[tokio::test]
async fn an_ibm_job_runs_remotely_and_completes_with_the_remote_counts() {
    let fake = FakeIbm::start().await;
    let server = TestServer::start_with(|c| fake.apply(c, GOOD_KEY)).await;
    let (owner, ws) = workspace(&server.url).await;

    let (s, list) = raw(&owner, Method::GET, "/api/backends", None).await;
    assert_eq!(s, 200, "{list}");
    let listed: Vec<&Value> = list
        .as_array()
        .map(|a| {
            a.iter()
                .filter(|b| b["name"].as_str().is_some_and(|n| n.starts_with("ibm:")))
                .collect()
        })
        .unwrap_or_default();
    assert_eq!(listed.len(), 3, "{list}");
    let fb = listed
        .iter()
        .find(|b| b["name"] == "ibm:fake_backend")
        .unwrap_or_else(|| panic!("{list}"));
    assert_eq!(
        (fb["available"].as_bool(), fb["num_qubits"].as_u64()),
        (Some(true), Some(5)),
        "{fb}"
    );

    // Unknown IBM backends and circuits wider than the device are refused.
    let (s, b) = submit(
        &owner,
        ws,
        json!({"source": {"qasm": GHZ}, "backend": "ibm:ibm_nowhere"}),
    )
    .await;
    assert_eq!(s, 422, "{b}");
    let wide =
        "OPENQASM 2.0;\ninclude \"qelib1.inc\";\nqreg q[6];\ncreg c[6];\nh q;\nmeasure q -> c;\n";
    let (s, b) = submit(
        &owner,
        ws,
        json!({"source": {"qasm": wide}, "backend": "ibm:fake_backend"}),
    )
    .await;
    assert_eq!(s, 422, "{b}");
    assert!(b.to_string().contains("has 5"), "{b}");

    let job = submit_ok(
        &owner,
        ws,
        json!({"source": {"qasm": GHZ}, "backend": "ibm:fake_backend", "shots": 11}),
    )
    .await;
    let done: Job = wait_job(&owner, job.id).await;
    assert_eq!(done.status, "completed", "{:?}", done.error);
    let (s, result) = raw(
        &owner,
        Method::GET,
        &format!("/api/jobs/{}/result", job.id),
        None,
    )
    .await;
    assert_eq!(s, 200, "{result}");
    assert_eq!(result["counts"], expected_counts(), "{result}");
    assert_eq!(result["shots"], 11);
    assert_eq!(result["backend"], "ibm:fake_backend");
    assert_eq!(result["ibm_job_id"], "fakejob0001");
    assert!((result["probabilities"]["000"].as_f64().unwrap_or(0.0) - 6.0 / 11.0).abs() < 1e-9);

    // What reached IBM: a sampler job of one OpenQASM 3 PUB in the device's gate set.
    let sent = fake.state().submitted[0].clone();
    assert_eq!(sent["params"]["pubs"][0][2], 11);
    let qasm = sent["params"]["pubs"][0][0]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(qasm.starts_with("OPENQASM 3"), "{qasm}");
    assert!(
        !qasm.contains("\nh "),
        "h is not in the device's basis: {qasm}"
    );
    let (s, csv) = raw(
        &owner,
        Method::GET,
        &format!("/api/jobs/{}/artifacts/counts.csv", job.id),
        None,
    )
    .await;
    assert_eq!(s, 200, "{csv}");
}

#[tokio::test]
async fn a_failing_remote_job_fails_with_ibms_reason_and_cancel_reaches_ibm() {
    let fake = FakeIbm::start().await;
    let server = TestServer::start_with(|c| fake.apply(c, GOOD_KEY)).await;
    let (owner, ws) = workspace(&server.url).await;

    let failing = submit_ok(
        &owner,
        ws,
        json!({"source": {"qasm": GHZ}, "backend": "ibm:fake_failing"}),
    )
    .await;
    let done = wait_job(&owner, failing.id).await;
    assert_eq!(done.status, "failed");
    let why = done.error.unwrap_or_default();
    assert!(why.contains(FAILURE) && why.contains("fakejob"), "{why}");

    let slow = submit_ok(
        &owner,
        ws,
        json!({"source": {"qasm": GHZ}, "backend": "ibm:fake_slow"}),
    )
    .await;
    // Wait until IBM has the job and reported it running.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let polled = fake
            .state()
            .jobs
            .values()
            .any(|(b, polls, _)| b == "fake_slow" && *polls >= 2);
        if polled {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the slow job never reached IBM"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let (s, b) = raw(
        &owner,
        Method::POST,
        &format!("/api/jobs/{}/cancel", slow.id),
        None,
    )
    .await;
    assert_eq!(s, 202, "{b}");
    let done = wait_job(&owner, slow.id).await;
    assert_eq!(done.status, "cancelled", "{:?}", done.error);
    let st = fake.state();
    assert_eq!(
        st.cancelled.len(),
        1,
        "IBM was asked to cancel exactly once"
    );
    assert_eq!(st.jobs[&st.cancelled[0]].0, "fake_slow");
}

#[tokio::test]
async fn bad_ibm_credentials_leave_ibm_unavailable_with_the_reason() {
    let fake = FakeIbm::start().await;
    let server = TestServer::start_with(|c| fake.apply(c, "not-the-key")).await;
    let (owner, ws) = workspace(&server.url).await;
    let (s, list) = raw(&owner, Method::GET, "/api/backends", None).await;
    assert_eq!(s, 200, "{list}");
    let ibm = list
        .as_array()
        .and_then(|a| {
            a.iter()
                .find(|b| b["name"].as_str().is_some_and(|n| n.starts_with("ibm:")))
        })
        .cloned()
        .unwrap_or_else(|| panic!("{list}"));
    assert_eq!(ibm["available"], false, "{ibm}");
    assert!(
        ibm["reason"]
            .as_str()
            .is_some_and(|r| r.contains("QOLLAB_IBM_API_KEY")),
        "{ibm}"
    );

    let (s, b) = submit(
        &owner,
        ws,
        json!({"source": {"qasm": GHZ}, "backend": "ibm:fake_backend"}),
    )
    .await;
    assert_eq!(
        (s, b["error"]["code"].as_str()),
        (503, Some("unavailable")),
        "{b}"
    );
    let msg = b["error"]["message"].as_str().unwrap_or_default();
    assert!(msg.contains("API key could not be found"), "{msg}");
    // Everything else still works.
    let job = submit_ok(&owner, ws, json!({"source": {"qasm": GHZ}})).await;
    assert_eq!(wait_job(&owner, job.id).await.status, "completed");
    assert!(fake.state().submitted.is_empty());
}

#[tokio::test]
async fn a_workspace_with_its_own_ibm_credentials_uses_them_and_one_without_has_none() {
    let fake = FakeIbm::start().await;
    // The server knows where IBM is but has no credentials of its own.
    let server = TestServer::start_with(|c| {
        fake.apply(c, GOOD_KEY);
        c.jobs.ibm.api_key = None;
        c.jobs.ibm.instance = None;
    })
    .await;
    let (owner, ws) = workspace(&server.url).await;
    let (editor, editor_auth) = user(&server.client(), "ibm-editor").await;
    owner
        .add_member(
            ws,
            &editor_auth.user.email,
            qollab_shared::api::Role::Editor,
        )
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let other = owner
        .create_workspace("No IBM", None)
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .id;
    let settings = format!("/api/workspaces/{ws}/settings/ibm");

    let (s, b) = raw(&owner, Method::GET, &settings, None).await;
    assert_eq!(s, 404, "none set yet: {b}");
    let creds = json!({"api_key": GOOD_KEY, "instance": CRN});
    let (s, b) = raw(&editor, Method::PUT, &settings, Some(creds.clone())).await;
    assert_eq!(s, 403, "owners only: {b}");
    let (s, b) = raw(
        &owner,
        Method::PUT,
        &settings,
        Some(json!({"api_key": "", "instance": CRN})),
    )
    .await;
    assert_eq!(s, 422, "{b}");
    let (s, b) = raw(&owner, Method::PUT, &settings, Some(creds)).await;
    assert_eq!(s, 200, "{b}");
    let (s, got) = raw(&owner, Method::GET, &settings, None).await;
    assert_eq!(s, 200, "{got}");
    for body in [&b, &got] {
        assert_eq!(body["instance"], CRN, "{body}");
        assert!(
            !body.to_string().contains(GOOD_KEY),
            "the key is never returned: {body}"
        );
        assert!(
            body["api_key_masked"]
                .as_str()
                .is_some_and(|m| m.contains("masked")),
            "{body}"
        );
    }

    let job = submit_ok(
        &editor,
        ws,
        json!({"source": {"qasm": GHZ}, "backend": "ibm:fake_backend", "shots": 11}),
    )
    .await;
    let done = wait_job(&owner, job.id).await;
    assert_eq!(done.status, "completed", "{:?}", done.error);
    let (_, result) = raw(
        &owner,
        Method::GET,
        &format!("/api/jobs/{}/result", job.id),
        None,
    )
    .await;
    assert_eq!(result["counts"], expected_counts(), "{result}");
    {
        let st = fake.state();
        assert_eq!(st.submitted.len(), 1, "the job reached IBM");
        assert!(
            !st.keys_seen.is_empty() && st.keys_seen.iter().all(|k| k == GOOD_KEY),
            "IBM saw the workspace's key: {:?}",
            st.keys_seen
        );
    }

    // Another workspace has no credentials, and neither has the server.
    let (s, b) = submit(
        &owner,
        other,
        json!({"source": {"qasm": GHZ}, "backend": "ibm:fake_backend"}),
    )
    .await;
    assert_eq!(
        (s, b["error"]["code"].as_str()),
        (503, Some("unavailable")),
        "{b}"
    );
    let msg = b["error"]["message"].as_str().unwrap_or_default();
    assert!(msg.contains("no IBM Quantum credentials"), "{msg}");

    // Removing them makes this workspace like the other.
    let (s, b) = raw(&editor, Method::DELETE, &settings, None).await;
    assert_eq!(s, 403, "{b}");
    let (s, b) = raw(&owner, Method::DELETE, &settings, None).await;
    assert_eq!(s, 204, "{b}");
    let (s, b) = submit(
        &owner,
        ws,
        json!({"source": {"qasm": GHZ}, "backend": "ibm:fake_backend"}),
    )
    .await;
    assert_eq!(s, 503, "{b}");
    assert_eq!(fake.state().submitted.len(), 1);

    // A workspace key that IBM refuses: the error points at the workspace's settings,
    // not at server variables its owner cannot see.
    let other_settings = format!("/api/workspaces/{other}/settings/ibm");
    let (s, b) = raw(
        &owner,
        Method::PUT,
        &other_settings,
        Some(json!({"api_key": "not-the-key", "instance": CRN})),
    )
    .await;
    assert_eq!(s, 200, "{b}");
    let (s, b) = submit(
        &owner,
        other,
        json!({"source": {"qasm": GHZ}, "backend": "ibm:fake_backend"}),
    )
    .await;
    let why = if s == 202 {
        let id: Uuid = serde_json::from_value(b["id"].clone()).unwrap_or_else(|e| panic!("{e}"));
        let done = wait_job(&owner, id).await;
        assert_eq!(done.status, "failed");
        done.error.unwrap_or_default()
    } else {
        b["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    };
    assert!(
        why.contains("workspace's IBM settings") && !why.contains("QOLLAB_IBM_API_KEY"),
        "{s}: {why}"
    );
    assert_eq!(fake.state().submitted.len(), 1);
}
