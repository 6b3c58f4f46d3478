//! A typed REST client for Qollab's HTTP API.

use qollab_shared::api::*;
use qollab_shared::error::ErrorBody;
use qollab_shared::quest::{
    AttemptRequest, AttemptResult, ChallengeView, Leaderboard, RevealedHint,
};
use reqwest::{Method, StatusCode};
use serde::Serialize;
use serde::de::DeserializeOwned;
use uuid::Uuid;

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The server answered with an error envelope.
    #[error("{status}: {} ({})", .body.error.message, .body.error.code)]
    Api { status: StatusCode, body: ErrorBody },
    /// The server answered with something that is not the expected shape.
    #[error("unexpected response {status}: {text}")]
    Unexpected { status: StatusCode, text: String },
    /// No answer: the connection failed. The message carries the whole cause chain
    /// ("error sending request" alone does not say whether it was refused, reset or
    /// timed out).
    #[error("transport: {}", chain(.0))]
    Transport(#[from] reqwest::Error),
}

/// An error with its sources, each once: reqwest's own message often repeats its
/// source's text.
pub(crate) fn chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut out = e.to_string();
    let mut next = e.source();
    while let Some(cause) = next {
        let text = cause.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        next = cause.source();
    }
    out
}

impl ClientError {
    pub fn status(&self) -> Option<StatusCode> {
        match self {
            Self::Api { status, .. } | Self::Unexpected { status, .. } => Some(*status),
            Self::Transport(e) => e.status(),
        }
    }

    pub fn code(&self) -> Option<&str> {
        match self {
            Self::Api { body, .. } => Some(body.error.code.as_str()),
            _ => None,
        }
    }
}

pub type Result<T> = std::result::Result<T, ClientError>;

/// One request's answer as the client saw it, for an [`Observer`].
#[derive(Debug)]
pub struct Exchange<'a> {
    pub method: &'a Method,
    /// The URL path, without the query.
    pub path: &'a str,
    pub status: StatusCode,
    pub content_type: Option<&'a str>,
    pub body: &'a [u8],
}

/// Called with every answer the client reads (the end-to-end tests check each against the
/// API document with one).
pub type Observer = std::sync::Arc<dyn Fn(&Exchange<'_>) + Send + Sync>;

#[derive(Clone)]
pub struct Client {
    base: String,
    http: reqwest::Client,
    token: Option<String>,
    observer: Option<Observer>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("base", &self.base)
            .field("token", &self.token.as_ref().map(|_| "…"))
            .field("observer", &self.observer.is_some())
            .finish()
    }
}

impl Client {
    /// `base` is the server's root URL, e.g. `http://127.0.0.1:8080`.
    pub fn new(base: impl Into<String>) -> Self {
        Self {
            base: base.into().trim_end_matches('/').to_string(),
            http: reqwest::Client::builder()
                .pool_idle_timeout(std::time::Duration::from_secs(
                    qollab_shared::api::CLIENT_POOL_IDLE_SECS,
                ))
                .build()
                // Fails only where `reqwest::Client::new()` panics (no TLS backend).
                .unwrap_or_else(|_| reqwest::Client::new()),
            token: None,
            observer: None,
        }
    }

    /// The same client, calling `observer` with every answer it reads.
    pub fn observed(&self, observer: Observer) -> Self {
        Self {
            observer: Some(observer),
            ..self.clone()
        }
    }

    /// The same client authenticated with an access token or API token.
    pub fn with_token(&self, token: impl Into<String>) -> Self {
        Self {
            token: Some(token.into()),
            ..self.clone()
        }
    }

    pub fn token(&self) -> Option<&str> {
        self.token.as_deref()
    }

    pub fn base_url(&self) -> &str {
        &self.base
    }

    /// A request builder for any path, authenticated when the client has a token.
    pub fn request(&self, method: Method, path: &str) -> reqwest::RequestBuilder {
        let rb = self.http.request(method, format!("{}{}", self.base, path));
        match &self.token {
            Some(t) => rb.bearer_auth(t),
            None => rb,
        }
    }

    /// Sends a request and reads the whole answer (what every method here goes through).
    pub async fn fetch(&self, rb: reqwest::RequestBuilder) -> Result<(StatusCode, bytes::Bytes)> {
        let req = rb.build()?;
        let method = req.method().clone();
        let path = req.url().path().to_string();
        let res = self.http.execute(req).await?;
        let status = res.status();
        let content_type = res
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let bytes = res.bytes().await?;
        if let Some(observe) = &self.observer {
            observe(&Exchange {
                method: &method,
                path: &path,
                status,
                content_type: content_type.as_deref(),
                body: &bytes,
            });
        }
        Ok((status, bytes))
    }

    /// The body of a successful answer, or the error the answer carries.
    async fn ok_body(&self, rb: reqwest::RequestBuilder) -> Result<bytes::Bytes> {
        let (status, bytes) = self.fetch(rb).await?;
        if status.is_success() {
            return Ok(bytes);
        }
        Err(error_from(status, &bytes))
    }

    async fn send<T: DeserializeOwned>(&self, rb: reqwest::RequestBuilder) -> Result<T> {
        let (status, bytes) = self.fetch(rb).await?;
        if status.is_success() {
            let body = if bytes.is_empty() {
                &b"null"[..]
            } else {
                &bytes[..]
            };
            return serde_json::from_slice(body).map_err(|_| ClientError::Unexpected {
                status,
                text: String::from_utf8_lossy(&bytes).into_owned(),
            });
        }
        Err(error_from(status, &bytes))
    }

    async fn get<T: DeserializeOwned>(&self, path: &str) -> Result<T> {
        self.send(self.request(Method::GET, path)).await
    }

    /// One page of a paged list (`{items, next_cursor}`): from the start without a
    /// cursor, else from the previous page's `next_cursor`; `filters` with a value are
    /// sent as query parameters.
    pub async fn page<P: DeserializeOwned>(
        &self,
        path: &str,
        filters: &[(&str, Option<&str>)],
        cursor: Option<&str>,
        limit: Option<u64>,
    ) -> Result<P> {
        let mut rb = self.request(Method::GET, path);
        for (name, value) in filters {
            if let Some(v) = value {
                rb = rb.query(&[(name, v)]);
            }
        }
        if let Some(l) = limit {
            rb = rb.query(&[("limit", l.to_string())]);
        }
        if let Some(c) = cursor {
            rb = rb.query(&[("cursor", c)]);
        }
        self.send(rb).await
    }

    /// Every item of a paged list, following `next_cursor` page by page.
    pub async fn all<P: Page + DeserializeOwned>(&self, path: &str) -> Result<Vec<P::Item>> {
        let mut items = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let page: P = self.page(path, &[], cursor.as_deref(), Some(200)).await?;
            let (mut got, next) = page.into_parts();
            let moved = !got.is_empty();
            items.append(&mut got);
            // An empty page or a cursor that does not move would loop forever.
            match next {
                Some(n) if moved && cursor.as_deref() != Some(n.as_str()) => cursor = Some(n),
                _ => return Ok(items),
            }
        }
    }

    async fn post<B: Serialize, T: DeserializeOwned>(&self, path: &str, body: &B) -> Result<T> {
        self.send(self.request(Method::POST, path).json(body)).await
    }

    async fn patch<B: Serialize, T: DeserializeOwned>(&self, path: &str, body: &B) -> Result<T> {
        self.send(self.request(Method::PATCH, path).json(body))
            .await
    }

    async fn delete(&self, path: &str) -> Result<()> {
        self.send::<serde_json::Value>(self.request(Method::DELETE, path))
            .await
            .map(|_| ())
    }

    // Identity

    pub async fn register(&self, email: &str, password: &str, name: &str) -> Result<AuthResponse> {
        let body = RegisterRequest {
            email: email.into(),
            password: password.into(),
            name: name.into(),
        };
        self.post("/api/auth/register", &body).await
    }

    pub async fn login(&self, email: &str, password: &str) -> Result<AuthResponse> {
        let body = LoginRequest {
            email: email.into(),
            password: password.into(),
        };
        self.post("/api/auth/login", &body).await
    }

    pub async fn refresh(&self, refresh_token: &str) -> Result<AuthResponse> {
        let body = RefreshRequest {
            refresh_token: refresh_token.into(),
        };
        self.post("/api/auth/refresh", &body).await
    }

    pub async fn logout(&self, refresh_token: Option<&str>) -> Result<()> {
        let body = LogoutRequest {
            refresh_token: refresh_token.map(str::to_string),
        };
        self.post::<_, serde_json::Value>("/api/auth/logout", &body)
            .await
            .map(|_| ())
    }

    pub async fn me(&self) -> Result<Me> {
        self.get("/api/me").await
    }

    pub async fn create_token(&self, name: &str) -> Result<CreatedApiToken> {
        self.post("/api/tokens", &CreateTokenRequest { name: name.into() })
            .await
    }

    pub async fn tokens(&self) -> Result<Vec<ApiToken>> {
        self.get("/api/tokens").await
    }

    pub async fn delete_token(&self, id: Uuid) -> Result<()> {
        self.delete(&format!("/api/tokens/{id}")).await
    }

    // Organizations

    pub async fn orgs(&self) -> Result<Vec<Organization>> {
        self.get("/api/orgs").await
    }

    pub async fn org(&self, id: Uuid) -> Result<Organization> {
        self.get(&format!("/api/orgs/{id}")).await
    }

    pub async fn create_org(&self, name: &str, plan: Option<Plan>) -> Result<Organization> {
        self.post(
            "/api/orgs",
            &CreateOrgRequest {
                name: name.into(),
                plan,
            },
        )
        .await
    }

    // Workspaces

    pub async fn create_workspace(&self, name: &str, org_id: Option<Uuid>) -> Result<Workspace> {
        let body = CreateWorkspaceRequest {
            name: name.into(),
            org_id,
            description: None,
        };
        self.post("/api/workspaces", &body).await
    }

    pub async fn workspaces(&self) -> Result<Vec<Workspace>> {
        self.get("/api/workspaces").await
    }

    pub async fn workspace(&self, id: Uuid) -> Result<Workspace> {
        self.get(&format!("/api/workspaces/{id}")).await
    }

    pub async fn update_workspace(
        &self,
        id: Uuid,
        body: &UpdateWorkspaceRequest,
    ) -> Result<Workspace> {
        self.patch(&format!("/api/workspaces/{id}"), body).await
    }

    pub async fn delete_workspace(&self, id: Uuid) -> Result<()> {
        self.delete(&format!("/api/workspaces/{id}")).await
    }

    /// Every member, in the order they joined.
    pub async fn members(&self, ws: Uuid) -> Result<Vec<Member>> {
        self.all::<MemberPage>(&format!("/api/workspaces/{ws}/members"))
            .await
    }

    pub async fn add_member(&self, ws: Uuid, email: &str, role: Role) -> Result<Member> {
        let body = AddMemberRequest {
            email: email.into(),
            role,
        };
        self.post(&format!("/api/workspaces/{ws}/members"), &body)
            .await
    }

    pub async fn set_member_role(&self, ws: Uuid, user: Uuid, role: Role) -> Result<()> {
        self.patch::<_, serde_json::Value>(
            &format!("/api/workspaces/{ws}/members/{user}"),
            &UpdateMemberRequest { role },
        )
        .await
        .map(|_| ())
    }

    pub async fn remove_member(&self, ws: Uuid, user: Uuid) -> Result<()> {
        self.delete(&format!("/api/workspaces/{ws}/members/{user}"))
            .await
    }

    // Jobs

    /// `POST /api/workspaces/{ws}/jobs`: the job as queued (202).
    pub async fn submit_job(&self, ws: Uuid, req: &SubmitJobRequest) -> Result<Job> {
        self.post(&format!("/api/workspaces/{ws}/jobs"), req).await
    }

    /// One page of the workspace's jobs, newest first; pass the previous page's
    /// `next_cursor` as `cursor` for the next one.
    pub async fn jobs(
        &self,
        ws: Uuid,
        filter: &JobFilter,
        cursor: Option<&str>,
    ) -> Result<JobPage> {
        let mut query: Vec<(&str, String)> = Vec::new();
        if let Some(s) = &filter.status {
            query.push(("status", s.clone()));
        }
        if let Some(b) = &filter.backend {
            query.push(("backend", b.clone()));
        }
        if let Some(a) = filter.author {
            query.push(("author", a.to_string()));
        }
        if let Some(l) = filter.limit {
            query.push(("limit", l.to_string()));
        }
        if let Some(c) = cursor {
            query.push(("cursor", c.to_string()));
        }
        self.send(
            self.request(Method::GET, &format!("/api/workspaces/{ws}/jobs"))
                .query(&query),
        )
        .await
    }

    pub async fn job(&self, id: Uuid) -> Result<Job> {
        self.get(&format!("/api/jobs/{id}")).await
    }

    /// Cancels a queued job at once, or asks a running one to stop (`job.cancelled`
    /// follows); an error `already_finished` when it has finished.
    pub async fn cancel_job(&self, id: Uuid) -> Result<Job> {
        self.send(self.request(Method::POST, &format!("/api/jobs/{id}/cancel")))
            .await
    }

    /// Asks the workspace's assistant (the document's thread with `doc_id`); the answer
    /// streams as `ai.message.*` events.
    pub async fn ask_ai(
        &self,
        ws: Uuid,
        content: &str,
        doc_id: Option<Uuid>,
    ) -> Result<PostAiMessageResponse> {
        self.post(
            &format!("/api/workspaces/{ws}/ai/messages"),
            &PostAiMessageRequest {
                content: content.to_string(),
                doc_id,
            },
        )
        .await
    }

    /// One page of the workspace's stored events, newest first (of one type with `kind`).
    pub async fn events(
        &self,
        ws: Uuid,
        kind: Option<&str>,
        cursor: Option<&str>,
        limit: u64,
    ) -> Result<qollab_shared::events::EventPage> {
        let path = format!("/api/workspaces/{ws}/events");
        self.page(&path, &[("kind", kind)], cursor, Some(limit))
            .await
    }

    /// One page of the assistant thread, newest first.
    pub async fn ai_messages(
        &self,
        ws: Uuid,
        doc_id: Option<Uuid>,
        cursor: Option<&str>,
        limit: u64,
    ) -> Result<AiMessagePage> {
        let path = format!("/api/workspaces/{ws}/ai/messages");
        let doc = doc_id.map(|d| d.to_string());
        self.page(&path, &[("doc_id", doc.as_deref())], cursor, Some(limit))
            .await
    }

    pub async fn cancel_ai_message(&self, ws: Uuid, id: Uuid) -> Result<AiMessage> {
        self.send(self.request(
            Method::POST,
            &format!("/api/workspaces/{ws}/ai/messages/{id}/cancel"),
        ))
        .await
    }

    /// A job's stored AI analysis.
    pub async fn job_analysis(&self, job: Uuid) -> Result<AiAnalysis> {
        self.get(&format!("/api/jobs/{job}/analysis")).await
    }

    /// Starts an analysis of a finished job; it streams as `ai.analysis.*` events.
    pub async fn request_job_analysis(&self, job: Uuid) -> Result<AiAnalysis> {
        self.send(self.request(Method::POST, &format!("/api/jobs/{job}/analysis")))
            .await
    }

    pub async fn ai_suggestions(&self, ws: Uuid) -> Result<Vec<AiSuggestion>> {
        self.get(&format!("/api/workspaces/{ws}/ai/suggestions"))
            .await
    }

    /// `accept` or `reject` a suggestion (editors and owners).
    pub async fn decide_ai_suggestion(
        &self,
        ws: Uuid,
        id: Uuid,
        accept: bool,
    ) -> Result<AiSuggestion> {
        let verb = if accept { "accept" } else { "reject" };
        self.send(self.request(
            Method::POST,
            &format!("/api/workspaces/{ws}/ai/suggestions/{id}/{verb}"),
        ))
        .await
    }

    /// The result of a completed job: `counts`, `probabilities`, optimizer report, …
    pub async fn job_result(&self, id: Uuid) -> Result<serde_json::Value> {
        self.get(&format!("/api/jobs/{id}/result")).await
    }

    // Runtime sessions

    /// `POST /api/workspaces/{ws}/sessions`: the session as opened (201).
    pub async fn open_session(&self, ws: Uuid, req: &OpenSessionRequest) -> Result<RuntimeSession> {
        self.post(&format!("/api/workspaces/{ws}/sessions"), req)
            .await
    }

    /// The workspace's sessions, newest first; `status` is `open` or `closed`.
    pub async fn sessions(
        &self,
        ws: Uuid,
        status: Option<&str>,
        limit: Option<u64>,
    ) -> Result<Vec<RuntimeSession>> {
        let mut query: Vec<(&str, String)> = Vec::new();
        if let Some(s) = status {
            query.push(("status", s.to_string()));
        }
        if let Some(l) = limit {
            query.push(("limit", l.to_string()));
        }
        self.send(
            self.request(Method::GET, &format!("/api/workspaces/{ws}/sessions"))
                .query(&query),
        )
        .await
    }

    pub async fn session(&self, id: Uuid) -> Result<RuntimeSession> {
        self.get(&format!("/api/sessions/{id}")).await
    }

    /// Closes a session: its queued jobs are cancelled, a running one finishes.
    pub async fn close_session(&self, id: Uuid) -> Result<RuntimeSession> {
        self.send(self.request(Method::POST, &format!("/api/sessions/{id}/close")))
            .await
    }

    // Schedules

    /// `POST /api/workspaces/{ws}/schedules`: the schedule as created (201).
    pub async fn create_schedule(&self, ws: Uuid, req: &CreateScheduleRequest) -> Result<Schedule> {
        self.post(&format!("/api/workspaces/{ws}/schedules"), req)
            .await
    }

    pub async fn schedules(&self, ws: Uuid) -> Result<Vec<Schedule>> {
        self.get(&format!("/api/workspaces/{ws}/schedules")).await
    }

    pub async fn schedule(&self, id: Uuid) -> Result<Schedule> {
        self.get(&format!("/api/schedules/{id}")).await
    }

    /// Pauses or resumes (`enabled`) or renames a schedule.
    pub async fn update_schedule(&self, id: Uuid, req: &UpdateScheduleRequest) -> Result<Schedule> {
        self.patch(&format!("/api/schedules/{id}"), req).await
    }

    pub async fn delete_schedule(&self, id: Uuid) -> Result<()> {
        self.delete(&format!("/api/schedules/{id}")).await
    }

    pub async fn backends(&self) -> Result<Vec<BackendInfo>> {
        self.get("/api/backends").await
    }

    // Progress

    pub async fn my_progress(&self) -> Result<qollab_shared::progress::UserProgress> {
        self.get("/api/me/progress").await
    }

    // Notifications

    pub async fn notifications(
        &self,
        unread_only: bool,
        cursor: Option<&str>,
        limit: u64,
    ) -> Result<qollab_shared::notify::NotificationPage> {
        let unread = unread_only.then_some("true");
        self.page(
            "/api/me/notifications",
            &[("unread", unread)],
            cursor,
            Some(limit),
        )
        .await
    }

    pub async fn mark_notification_read(
        &self,
        id: i64,
    ) -> Result<qollab_shared::notify::Notification> {
        self.post(
            &format!("/api/me/notifications/{id}/read"),
            &serde_json::json!({}),
        )
        .await
    }

    /// Marks every unread notice read; returns how many.
    pub async fn mark_all_notifications_read(&self) -> Result<u64> {
        let v: serde_json::Value = self
            .post("/api/me/notifications/read-all", &serde_json::json!({}))
            .await?;
        Ok(v["marked"].as_u64().unwrap_or(0))
    }

    pub async fn notification_prefs(&self) -> Result<qollab_shared::notify::NotificationPrefs> {
        self.get("/api/me/notification-preferences").await
    }

    pub async fn set_notification_prefs(
        &self,
        prefs: &qollab_shared::notify::NotificationPrefs,
    ) -> Result<qollab_shared::notify::NotificationPrefs> {
        self.send(
            self.request(Method::PUT, "/api/me/notification-preferences")
                .json(prefs),
        )
        .await
    }

    // Quantum Quest

    pub async fn quest_challenges(&self) -> Result<Vec<ChallengeView>> {
        self.get("/api/quest/challenges").await
    }

    pub async fn quest_challenge(&self, key: &str) -> Result<ChallengeView> {
        self.get(&format!("/api/quest/challenges/{}", path_segment(key)))
            .await
    }

    pub async fn quest_attempt(&self, key: &str, qasm: &str) -> Result<AttemptResult> {
        let body = AttemptRequest { qasm: qasm.into() };
        self.post(
            &format!("/api/quest/challenges/{}/attempts", path_segment(key)),
            &body,
        )
        .await
    }

    /// Reveals hint `index` (0-based; in order). Costs its points once.
    pub async fn quest_hint(&self, key: &str, index: u32) -> Result<RevealedHint> {
        self.post(
            &format!("/api/quest/challenges/{}/hints/{index}", path_segment(key)),
            &serde_json::json!({}),
        )
        .await
    }

    pub async fn quest_leaderboard(&self, key: &str, limit: u64) -> Result<Leaderboard> {
        self.get(&format!(
            "/api/quest/challenges/{}/leaderboard?limit={limit}",
            path_segment(key)
        ))
        .await
    }

    // Analytics

    /// A workspace's or (`org`) an organization's analytics; `query` holds `from`, `to`,
    /// `bucket` as the server takes them.
    pub async fn analytics(
        &self,
        scope: AnalyticsScope,
        query: &[(&str, String)],
    ) -> Result<qollab_shared::analytics::Analytics> {
        self.send(self.request(Method::GET, &scope.path()).query(query))
            .await
    }

    /// The same as CSV text (`section,start,key,metric,value`).
    pub async fn analytics_csv(
        &self,
        scope: AnalyticsScope,
        query: &[(&str, String)],
    ) -> Result<String> {
        let rb = self
            .request(Method::GET, &scope.path())
            .query(query)
            .query(&[("format", "csv")]);
        let bytes = self.ok_body(rb).await?;
        Ok(String::from_utf8_lossy(&bytes).into_owned())
    }

    // Documents

    /// Every document, in the order they were created.
    pub async fn docs(&self, ws: Uuid) -> Result<Vec<DocSummary>> {
        self.all::<DocPage>(&format!("/api/workspaces/{ws}/docs"))
            .await
    }

    /// A new document, seeded with OpenQASM when given (201).
    pub async fn create_doc(
        &self,
        ws: Uuid,
        name: &str,
        qasm: Option<String>,
    ) -> Result<DocSummary> {
        let body = CreateDocRequest {
            name: name.to_string(),
            qasm,
        };
        self.post(&format!("/api/workspaces/{ws}/docs"), &body)
            .await
    }

    pub async fn doc(&self, id: Uuid) -> Result<DocDetail> {
        self.get(&format!("/api/docs/{id}")).await
    }

    /// The document as OpenQASM (`dialect`: `qasm2` or `qasm3`; default the server's).
    pub async fn export_qasm(&self, id: Uuid, dialect: Option<&str>) -> Result<String> {
        let mut rb = self.request(Method::GET, &format!("/api/docs/{id}/qasm"));
        if let Some(d) = dialect {
            rb = rb.query(&[("dialect", d)]);
        }
        let bytes = self.ok_body(rb).await?;
        Ok(String::from_utf8_lossy(&bytes).into_owned())
    }

    /// Replaces the circuit with this OpenQASM, as one edit every open editor sees.
    pub async fn import_qasm(&self, id: Uuid, qasm: &str) -> Result<DocDetail> {
        self.send(
            self.request(Method::PUT, &format!("/api/docs/{id}/qasm"))
                .header(reqwest::header::CONTENT_TYPE, "text/plain")
                .body(qasm.to_string()),
        )
        .await
    }

    /// Every version, newest first.
    pub async fn doc_versions(&self, id: Uuid) -> Result<Vec<DocVersion>> {
        self.all::<VersionPage>(&format!("/api/docs/{id}/versions"))
            .await
    }

    pub async fn create_doc_version(&self, id: Uuid, name: &str) -> Result<DocVersion> {
        let body = CreateVersionRequest {
            name: name.to_string(),
        };
        self.post(&format!("/api/docs/{id}/versions"), &body).await
    }

    /// Puts a saved version back for everyone (the state before is kept as a version).
    pub async fn restore_doc(&self, id: Uuid, version_id: Uuid) -> Result<DocDetail> {
        self.post(
            &format!("/api/docs/{id}/restore"),
            &RestoreRequest { version_id },
        )
        .await
    }

    /// A job artifact (`optimized.qasm`, `result.json` or `counts.csv`) as bytes.
    pub async fn artifact(&self, id: Uuid, name: &str) -> Result<Vec<u8>> {
        let rb = self.request(Method::GET, &format!("/api/jobs/{id}/artifacts/{name}"));
        Ok(self.ok_body(rb).await?.to_vec())
    }
}

/// Filters of [`Client::jobs`]; `None` means any.
#[derive(Debug, Clone, Default)]
pub struct JobFilter {
    /// `queued`, `running`, `completed`, `failed` or `cancelled`.
    pub status: Option<String>,
    pub backend: Option<String>,
    pub author: Option<Uuid>,
    /// 1 to 200 (the server's default is 50).
    pub limit: Option<u64>,
}

fn error_from(status: StatusCode, bytes: &[u8]) -> ClientError {
    match serde_json::from_slice::<ErrorBody>(bytes) {
        Ok(body) => ClientError::Api { status, body },
        Err(_) => ClientError::Unexpected {
            status,
            text: String::from_utf8_lossy(bytes).into_owned(),
        },
    }
}

/// A user-given key as one URL path segment (anything but unreserved characters escaped).
fn path_segment(key: &str) -> String {
    key.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// Whose analytics.
#[derive(Debug, Clone, Copy)]
pub enum AnalyticsScope {
    Workspace(Uuid),
    Org(Uuid),
}

impl AnalyticsScope {
    fn path(self) -> String {
        match self {
            AnalyticsScope::Workspace(id) => format!("/api/workspaces/{id}/analytics"),
            AnalyticsScope::Org(id) => format!("/api/orgs/{id}/analytics"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_transport_error_says_what_went_wrong_underneath() {
        // A port nobody listens on: the connection is refused.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .unwrap_or_else(|e| panic!("{e}"));
        let err = Client::new(format!("http://127.0.0.1:{port}"))
            .me()
            .await
            .err()
            .unwrap_or_else(|| panic!("nobody listens on {port}"));
        let text = err.to_string();
        assert!(matches!(err, ClientError::Transport(_)), "{text}");
        assert!(
            text.to_lowercase().contains("connection refused"),
            "the cause is in the message: {text}"
        );
    }
}
