//! The authorization matrix: every route the app serves × {anonymous, logged-out
//! session, non-member, removed member, viewer, editor, owner}, checking the status
//! class each gets (401 / 404 naming the thing / 403 / allowed). The table below must
//! list exactly the routes of `qollab_server::app::route_table()` (every route is
//! registered through the recorder there): a new route without a row, or a row without
//! a route, fails the test.
//!
//! "Allowed" means the guard let the caller through: not 401, not 403, not a 404 that
//! names the guarded resource, not a 5xx (a 2xx, or a 4xx about the body or state).
//! Every request carries a valid body, so that it is the guard that answers.

use std::collections::BTreeSet;

use qollab_client::rest::Client;
use qollab_shared::api::Role;
use reqwest::Method;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::common::live::{BELL, upgrade_status};
use crate::common::{PASSWORD, TestServer, raw, unique_email};
use crate::jobs::GHZ;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Who {
    Anonymous,
    LoggedOut,
    NonMember,
    Removed,
    Viewer,
    Editor,
    Owner,
}

/// Ordered so that callers who may change things come last in each row.
const EVERYONE: [Who; 7] = [
    Who::Anonymous,
    Who::LoggedOut,
    Who::NonMember,
    Who::Removed,
    Who::Viewer,
    Who::Editor,
    Who::Owner,
];

#[derive(Clone, Copy, Debug)]
enum Needs {
    /// Anyone, signed in or not.
    Public,
    /// `QOLLAB_METRICS_TOKEN`, which none of the callers holds.
    MetricsToken,
    /// Any signed-in user (answers are about their own things).
    User,
    /// A member of the workspace with at least this role; others get 404 naming the thing.
    Member(Role, &'static str),
    /// A member of the workspace's organization (only its owner here); others get 404.
    OrgMember,
}

#[derive(Clone, Copy)]
enum Body {
    None,
    Json(fn(&Ids) -> Value),
    Text(&'static str),
    /// An empty Yjs v1 update (no structs, no deletions).
    EmptyUpdate,
    /// A refresh token of a fresh login.
    FreshRefresh,
}

struct Row {
    method: Method,
    path: &'static str,
    needs: Needs,
    body: Body,
    /// The route destroys what it acts on: every caller gets a fresh workspace.
    fresh: bool,
}

fn row(method: Method, path: &'static str, needs: Needs, body: Body) -> Row {
    Row {
        method,
        path,
        needs,
        body,
        fresh: false,
    }
}

fn fresh(mut r: Row) -> Row {
    r.fresh = true;
    r
}

const V: Role = Role::Viewer;
const E: Role = Role::Editor;
const O: Role = Role::Owner;

fn table() -> Vec<Row> {
    use Body::{EmptyUpdate, FreshRefresh, Json, Text};
    use Needs::{Member, MetricsToken, OrgMember, Public, User};
    let (get, post, put, patch, delete) = (
        Method::GET,
        Method::POST,
        Method::PUT,
        Method::PATCH,
        Method::DELETE,
    );
    let none = Body::None;
    vec![
        row(get.clone(), "/healthz", Public, none),
        row(get.clone(), "/readyz", Public, none),
        row(get.clone(), "/metrics", MetricsToken, none),
        row(get.clone(), "/api/openapi.json", Public, none),
        row(get.clone(), "/api/docs", Public, none),
        row(
            post.clone(),
            "/api/auth/register",
            Public,
            Json(|_| json!({"email": unique_email("matrix"), "password": PASSWORD, "name": "M"})),
        ),
        row(
            post.clone(),
            "/api/auth/login",
            Public,
            Json(|ids| json!({"email": ids.login_email, "password": PASSWORD})),
        ),
        row(post.clone(), "/api/auth/refresh", Public, FreshRefresh),
        row(post.clone(), "/api/auth/logout", User, none),
        row(get.clone(), "/api/me", User, none),
        row(
            post.clone(),
            "/api/tokens",
            User,
            Json(|_| json!({"name": "matrix"})),
        ),
        row(get.clone(), "/api/tokens", User, none),
        row(delete.clone(), "/api/tokens/{token_id}", User, none),
        row(get.clone(), "/api/orgs", User, none),
        row(
            post.clone(),
            "/api/orgs",
            User,
            Json(|_| json!({"name": "Matrix"})),
        ),
        row(get.clone(), "/api/orgs/{org_id}", User, none),
        row(
            post.clone(),
            "/api/workspaces",
            User,
            Json(|_| json!({"name": "W"})),
        ),
        row(get.clone(), "/api/workspaces", User, none),
        row(
            get.clone(),
            "/api/workspaces/{workspace_id}",
            Member(V, "workspace"),
            none,
        ),
        row(
            patch.clone(),
            "/api/workspaces/{workspace_id}",
            Member(O, "workspace"),
            Json(|_| json!({"name": "Renamed"})),
        ),
        fresh(row(
            delete.clone(),
            "/api/workspaces/{workspace_id}",
            Member(O, "workspace"),
            none,
        )),
        row(
            get.clone(),
            "/api/workspaces/{workspace_id}/members",
            Member(V, "workspace"),
            none,
        ),
        row(
            post.clone(),
            "/api/workspaces/{workspace_id}/members",
            Member(O, "workspace"),
            Json(|ids| json!({"email": ids.extra_email, "role": "viewer"})),
        ),
        row(
            patch.clone(),
            "/api/workspaces/{workspace_id}/members/{user_id}",
            Member(O, "workspace"),
            Json(|_| json!({"role": "editor"})),
        ),
        // Any member may remove themselves; removing someone else needs an owner.
        fresh(row(
            delete.clone(),
            "/api/workspaces/{workspace_id}/members/{user_id}",
            Member(O, "workspace"),
            none,
        )),
        row(
            post.clone(),
            "/api/workspaces/{workspace_id}/docs",
            Member(E, "workspace"),
            Json(|_| json!({"name": "D", "qasm": BELL})),
        ),
        row(
            get.clone(),
            "/api/workspaces/{workspace_id}/docs",
            Member(V, "workspace"),
            none,
        ),
        row(
            get.clone(),
            "/api/docs/{doc_id}",
            Member(V, "document"),
            none,
        ),
        row(
            patch.clone(),
            "/api/docs/{doc_id}",
            Member(E, "document"),
            Json(|_| json!({"name": "D2"})),
        ),
        fresh(row(
            delete.clone(),
            "/api/docs/{doc_id}",
            Member(E, "document"),
            none,
        )),
        row(
            get.clone(),
            "/api/docs/{doc_id}/qasm",
            Member(V, "document"),
            none,
        ),
        row(
            put.clone(),
            "/api/docs/{doc_id}/qasm",
            Member(E, "document"),
            Text(BELL),
        ),
        row(
            get.clone(),
            "/api/docs/{doc_id}/update",
            Member(V, "document"),
            none,
        ),
        row(
            post.clone(),
            "/api/docs/{doc_id}/update",
            Member(E, "document"),
            EmptyUpdate,
        ),
        row(
            get.clone(),
            "/api/docs/{doc_id}/versions",
            Member(V, "document"),
            none,
        ),
        row(
            post.clone(),
            "/api/docs/{doc_id}/versions",
            Member(E, "document"),
            Json(|_| json!({"name": "v2"})),
        ),
        row(
            post.clone(),
            "/api/docs/{doc_id}/restore",
            Member(E, "document"),
            Json(|ids| json!({"version_id": ids.version})),
        ),
        row(
            post.clone(),
            "/api/docs/{doc_id}/connect",
            Member(V, "document"),
            none,
        ),
        row(
            get.clone(),
            "/ws/docs/{doc_id}",
            Member(V, "document"),
            none,
        ),
        row(
            get.clone(),
            "/ws/workspaces/{workspace_id}",
            Member(V, "workspace"),
            none,
        ),
        row(
            post.clone(),
            "/api/workspaces/{workspace_id}/chat",
            Member(V, "workspace"),
            Json(|_| json!({"text": "hello"})),
        ),
        row(
            get.clone(),
            "/api/workspaces/{workspace_id}/events",
            Member(V, "workspace"),
            none,
        ),
        row(
            get.clone(),
            "/api/workspaces/{workspace_id}/chat",
            Member(V, "workspace"),
            none,
        ),
        row(
            post.clone(),
            "/api/workspaces/{workspace_id}/jobs",
            Member(E, "workspace"),
            Json(|_| json!({"source": {"qasm": GHZ}, "shots": 10})),
        ),
        row(
            get.clone(),
            "/api/workspaces/{workspace_id}/jobs",
            Member(V, "workspace"),
            none,
        ),
        row(get.clone(), "/api/jobs/{job_id}", Member(V, "job"), none),
        row(
            post.clone(),
            "/api/jobs/{job_id}/cancel",
            Member(E, "job"),
            none,
        ),
        row(
            get.clone(),
            "/api/jobs/{job_id}/result",
            Member(V, "job"),
            none,
        ),
        row(
            get.clone(),
            "/api/jobs/{job_id}/artifacts/{name}",
            Member(V, "job"),
            none,
        ),
        row(get.clone(), "/api/backends", User, none),
        row(
            post.clone(),
            "/api/workspaces/{workspace_id}/sessions",
            Member(E, "workspace"),
            Json(|_| json!({"backend": "emulator:qollab_falcon27"})),
        ),
        row(
            get.clone(),
            "/api/workspaces/{workspace_id}/sessions",
            Member(V, "workspace"),
            none,
        ),
        row(
            get.clone(),
            "/api/sessions/{session_id}",
            Member(V, "session"),
            none,
        ),
        row(
            post.clone(),
            "/api/sessions/{session_id}/close",
            Member(E, "session"),
            none,
        ),
        row(
            post.clone(),
            "/api/workspaces/{workspace_id}/schedules",
            Member(E, "workspace"),
            Json(schedule_body),
        ),
        row(
            get.clone(),
            "/api/workspaces/{workspace_id}/schedules",
            Member(V, "workspace"),
            none,
        ),
        row(
            get.clone(),
            "/api/schedules/{schedule_id}",
            Member(V, "schedule"),
            none,
        ),
        row(
            patch.clone(),
            "/api/schedules/{schedule_id}",
            Member(E, "schedule"),
            Json(|_| json!({"enabled": false})),
        ),
        fresh(row(
            delete.clone(),
            "/api/schedules/{schedule_id}",
            Member(E, "schedule"),
            none,
        )),
        row(
            post.clone(),
            "/api/jobs/{job_id}/analysis",
            Member(V, "job"),
            none,
        ),
        row(
            get.clone(),
            "/api/jobs/{job_id}/analysis",
            Member(V, "job"),
            none,
        ),
        row(
            post.clone(),
            "/api/workspaces/{workspace_id}/ai/messages",
            Member(V, "workspace"),
            Json(|_| json!({"content": "hello"})),
        ),
        row(
            get.clone(),
            "/api/workspaces/{workspace_id}/ai/messages",
            Member(V, "workspace"),
            none,
        ),
        row(
            post.clone(),
            "/api/workspaces/{workspace_id}/ai/messages/{message_id}/cancel",
            Member(V, "workspace"),
            none,
        ),
        row(
            get.clone(),
            "/api/workspaces/{workspace_id}/ai/suggestions",
            Member(V, "workspace"),
            none,
        ),
        row(
            post.clone(),
            "/api/workspaces/{workspace_id}/ai/suggestions/{suggestion_id}/accept",
            Member(E, "workspace"),
            none,
        ),
        row(
            post.clone(),
            "/api/workspaces/{workspace_id}/ai/suggestions/{suggestion_id}/reject",
            Member(E, "workspace"),
            none,
        ),
        row(
            put.clone(),
            "/api/workspaces/{workspace_id}/settings/ai",
            Member(O, "workspace"),
            Json(|_| json!({"model": "matrix-model"})),
        ),
        row(
            get.clone(),
            "/api/workspaces/{workspace_id}/settings/ai",
            Member(O, "workspace"),
            none,
        ),
        fresh(row(
            delete.clone(),
            "/api/workspaces/{workspace_id}/settings/ai",
            Member(O, "workspace"),
            none,
        )),
        row(
            put.clone(),
            "/api/workspaces/{workspace_id}/settings/ibm",
            Member(O, "workspace"),
            Json(|_| json!({"api_key": "matrix-key-0123456789", "instance": "crn:v1:matrix"})),
        ),
        row(
            get.clone(),
            "/api/workspaces/{workspace_id}/settings/ibm",
            Member(O, "workspace"),
            none,
        ),
        fresh(row(
            delete,
            "/api/workspaces/{workspace_id}/settings/ibm",
            Member(O, "workspace"),
            none,
        )),
        row(get.clone(), "/api/quest/tutorials", User, none),
        row(get.clone(), "/api/quest/tutorials/{key}", User, none),
        row(get.clone(), "/api/quest/challenges", User, none),
        row(get.clone(), "/api/quest/challenges/{key}", User, none),
        row(
            post.clone(),
            "/api/quest/challenges/{key}/hints/{index}",
            User,
            none,
        ),
        row(
            post.clone(),
            "/api/quest/challenges/{key}/attempts",
            User,
            Json(|_| json!({"qasm": BELL})),
        ),
        row(
            get.clone(),
            "/api/quest/challenges/{key}/attempts",
            User,
            none,
        ),
        row(
            get.clone(),
            "/api/quest/challenges/{key}/leaderboard",
            User,
            none,
        ),
        row(
            post.clone(),
            "/api/quest/bloch",
            User,
            Json(|_| json!({"qasm": BELL})),
        ),
        row(get.clone(), "/api/me/progress", User, none),
        row(get.clone(), "/api/me/notifications", User, none),
        row(post.clone(), "/api/me/notifications/read-all", User, none),
        row(
            post,
            "/api/me/notifications/{notification_id}/read",
            User,
            none,
        ),
        row(get.clone(), "/api/me/notification-preferences", User, none),
        row(
            put.clone(),
            "/api/me/notification-preferences",
            User,
            Json(|_| json!({"kinds": {"job": "live"}})),
        ),
        row(get.clone(), "/ws/me", User, none),
        row(
            get.clone(),
            "/api/users/{user_id}/progress",
            Member(V, "user"),
            none,
        ),
        row(
            get.clone(),
            "/api/workspaces/{workspace_id}/leaderboard",
            Member(V, "workspace"),
            none,
        ),
        // The workspace's organization: its workspaces' members see its board.
        row(
            get.clone(),
            "/api/orgs/{org_id}/leaderboard",
            Member(V, "organization"),
            none,
        ),
        row(get.clone(), "/api/leaderboard", User, none),
        row(
            get.clone(),
            "/api/workspaces/{workspace_id}/analytics",
            Member(V, "workspace"),
            none,
        ),
        // Across every workspace of the organization: its members only.
        row(get.clone(), "/api/orgs/{org_id}/analytics", OrgMember, none),
        // No such version: a member gets past the guard to a 404 naming it.
        row(
            get.clone(),
            "/api/docs/{doc_id}/versions/{version_id}/diff",
            Member(V, "document"),
            none,
        ),
        row(
            patch.clone(),
            "/api/me",
            User,
            Json(|_| json!({"leaderboard_public": false})),
        ),
    ]
}

fn schedule_body(ids: &Ids) -> Value {
    json!({"name": "nightly", "cron": "0 3 * * *", "source": {"doc_id": ids.doc}, "shots": 10})
}

/// One workspace with every kind of thing in it, and the callers' relation to it.
#[derive(Clone)]
struct Ids {
    ws: Uuid,
    doc: Uuid,
    version: Uuid,
    job: Uuid,
    session: Uuid,
    schedule: Uuid,
    /// A viewer of the workspace whom member routes act on.
    target: Uuid,
    /// The owner's API token and personal organization.
    token: Uuid,
    org: Uuid,
    login_email: String,
    extra_email: String,
}

struct Callers {
    anon: Client,
    clients: Vec<(Who, Client, String)>,
    emails: Vec<(Who, String)>,
    target_email: String,
    login_email: String,
    extra_email: String,
    token: Uuid,
    org: Uuid,
}

impl Callers {
    async fn new(server: &TestServer) -> Callers {
        let anon = server.client();
        let mut clients = Vec::new();
        let mut emails = Vec::new();
        for who in EVERYONE.iter().copied().filter(|w| *w != Who::Anonymous) {
            let email = unique_email(&format!("{who:?}").to_lowercase());
            let auth = anon
                .register(&email, PASSWORD, "Matrix")
                .await
                .unwrap_or_else(|e| panic!("register {who:?}: {e}"));
            let client = anon.with_token(&auth.access_token);
            if who == Who::LoggedOut {
                client
                    .logout(None)
                    .await
                    .unwrap_or_else(|e| panic!("logout: {e}"));
            }
            clients.push((who, client, auth.access_token));
            emails.push((who, email));
        }
        let mut extra = Vec::new();
        for tag in ["target", "login", "extra"] {
            let email = unique_email(tag);
            anon.register(&email, PASSWORD, tag)
                .await
                .unwrap_or_else(|e| panic!("register {tag}: {e}"));
            extra.push(email);
        }
        let mut callers = Callers {
            anon,
            clients,
            emails,
            target_email: extra[0].clone(),
            login_email: extra[1].clone(),
            extra_email: extra[2].clone(),
            token: Uuid::nil(),
            org: Uuid::nil(),
        };
        let owner = callers.client(Who::Owner).clone();
        callers.token = owner
            .create_token("matrix")
            .await
            .unwrap_or_else(|e| panic!("{e}"))
            .token
            .id;
        let (_, me) = raw(&owner, Method::GET, "/api/me", None).await;
        callers.org = serde_json::from_value(me["organizations"][0]["id"].clone())
            .unwrap_or_else(|e| panic!("{e}: {me}"));
        callers
    }

    fn client(&self, who: Who) -> &Client {
        match who {
            Who::Anonymous => &self.anon,
            w => self
                .clients
                .iter()
                .find(|(c, _, _)| *c == w)
                .map(|(_, c, _)| c)
                .unwrap_or_else(|| panic!("no client for {w:?}")),
        }
    }

    fn token(&self, who: Who) -> Option<&str> {
        self.clients
            .iter()
            .find(|(c, _, _)| *c == who)
            .map(|(_, _, t)| t.as_str())
    }

    fn email(&self, who: Who) -> &str {
        self.emails
            .iter()
            .find(|(w, _)| *w == who)
            .map(|(_, e)| e.as_str())
            .unwrap_or_else(|| panic!("no e-mail for {who:?}"))
    }

    /// A new workspace of the owner with a viewer, an editor, a removed member, the
    /// logged-out caller as an editor, a document with a version, a job, a session, a
    /// schedule and IBM settings.
    async fn workspace(&self) -> Ids {
        let owner = self.client(Who::Owner);
        let ws = owner
            .create_workspace("Matrix", None)
            .await
            .unwrap_or_else(|e| panic!("{e}"))
            .id;
        for (who, role) in [
            (Who::Viewer, Role::Viewer),
            (Who::Editor, Role::Editor),
            (Who::Removed, Role::Editor),
            (Who::LoggedOut, Role::Editor),
        ] {
            owner
                .add_member(ws, self.email(who), role)
                .await
                .unwrap_or_else(|e| panic!("add {who:?}: {e}"));
        }
        let target = owner
            .add_member(ws, &self.target_email, Role::Viewer)
            .await
            .unwrap_or_else(|e| panic!("{e}"))
            .user_id;
        let removed: Uuid = {
            let (_, members) = raw(
                owner,
                Method::GET,
                &format!("/api/workspaces/{ws}/members"),
                None,
            )
            .await;
            let m = members["items"]
                .as_array()
                .and_then(|a| {
                    a.iter()
                        .find(|m| m["email"].as_str() == Some(self.email(Who::Removed)))
                })
                .cloned()
                .unwrap_or_else(|| panic!("removed member not listed: {members}"));
            serde_json::from_value(m["user_id"].clone()).unwrap_or_else(|e| panic!("{e}: {m}"))
        };
        owner
            .remove_member(ws, removed)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let id = |v: &Value| -> Uuid {
            serde_json::from_value(v["id"].clone()).unwrap_or_else(|e| panic!("{e}: {v}"))
        };
        let post = |path: String, body: Value| async move {
            let (s, b) = raw(owner, Method::POST, &path, Some(body)).await;
            assert!((200..300).contains(&s), "setup POST {path}: {s} {b}");
            b
        };
        let doc = id(&post(
            format!("/api/workspaces/{ws}/docs"),
            json!({"name": "D", "qasm": BELL}),
        )
        .await);
        let version = id(&post(format!("/api/docs/{doc}/versions"), json!({"name": "v1"})).await);
        let job = id(&post(
            format!("/api/workspaces/{ws}/jobs"),
            json!({"source": {"qasm": GHZ}, "shots": 10}),
        )
        .await);
        let session = id(&post(
            format!("/api/workspaces/{ws}/sessions"),
            json!({"backend": "emulator:qollab_falcon27"}),
        )
        .await);
        let mut ids = Ids {
            ws,
            doc,
            version,
            job,
            session,
            schedule: Uuid::nil(),
            target,
            token: self.token,
            org: self.org,
            login_email: self.login_email.clone(),
            extra_email: self.extra_email.clone(),
        };
        ids.schedule = id(&post(
            format!("/api/workspaces/{ws}/schedules"),
            schedule_body(&ids),
        )
        .await);
        let (s, b) = raw(
            owner,
            Method::PUT,
            &format!("/api/workspaces/{ws}/settings/ibm"),
            Some(json!({"api_key": "matrix-key-0123456789", "instance": "crn:v1:matrix"})),
        )
        .await;
        assert_eq!(s, 200, "{b}");
        ids
    }
}

fn url_path(pattern: &str, ids: &Ids) -> String {
    pattern
        .replace("{workspace_id}", &ids.ws.to_string())
        .replace("{doc_id}", &ids.doc.to_string())
        .replace("{job_id}", &ids.job.to_string())
        .replace("{session_id}", &ids.session.to_string())
        .replace("{schedule_id}", &ids.schedule.to_string())
        .replace("{user_id}", &ids.target.to_string())
        .replace("{token_id}", &ids.token.to_string())
        .replace("{org_id}", &ids.org.to_string())
        .replace("{name}", "counts.csv")
        .replace(
            "{key}",
            if pattern.starts_with("/api/quest/tutorials") {
                "first_steps"
            } else {
                "bell"
            },
        )
        .replace("{index}", "0")
        .replace("{notification_id}", "1")
        // No such message or suggestion: a member gets past the guard to a 404 naming it.
        .replace("{message_id}", &Uuid::nil().to_string())
        .replace("{suggestion_id}", &Uuid::nil().to_string())
        .replace("{version_id}", &Uuid::nil().to_string())
}

#[derive(Debug, PartialEq, Eq)]
enum Class {
    Unauthenticated,
    NotFound(&'static str),
    Forbidden,
    Allowed,
}

fn expected(needs: Needs, who: Who) -> Class {
    let signed_out = matches!(who, Who::Anonymous | Who::LoggedOut);
    match needs {
        Needs::Public => Class::Allowed,
        Needs::MetricsToken => Class::Unauthenticated,
        Needs::User if signed_out => Class::Unauthenticated,
        Needs::User => Class::Allowed,
        Needs::Member(..) | Needs::OrgMember if signed_out => Class::Unauthenticated,
        Needs::OrgMember if matches!(who, Who::Owner) => Class::Allowed,
        Needs::OrgMember => Class::NotFound("organization"),
        Needs::Member(_, what) if matches!(who, Who::NonMember | Who::Removed) => {
            Class::NotFound(what)
        }
        Needs::Member(min, _) => {
            let role = match who {
                Who::Viewer => Role::Viewer,
                Who::Editor => Role::Editor,
                _ => Role::Owner,
            };
            if role >= min {
                Class::Allowed
            } else {
                Class::Forbidden
            }
        }
    }
}

const GUARDED: [&str; 6] = [
    "workspace",
    "document",
    "job",
    "session",
    "schedule",
    "user",
];

/// Whether a response is of the class expected.
fn matches(class: &Class, status: u16, body: &Value) -> bool {
    let message = body["error"]["message"].as_str().unwrap_or("");
    match class {
        Class::Unauthenticated => status == 401,
        Class::Forbidden => status == 403,
        Class::NotFound(what) => status == 404 && message == format!("{what} not found"),
        Class::Allowed => {
            let guard_404 =
                status == 404 && GUARDED.iter().any(|w| message == format!("{w} not found"));
            status != 401 && status != 403 && status < 500 && !guard_404
        }
    }
}

/// The same, for a socket upgrade (no body: 404 is enough).
fn matches_upgrade(class: &Class, status: u16) -> bool {
    match class {
        Class::Unauthenticated => status == 401,
        Class::Forbidden => status == 403,
        Class::NotFound(_) => status == 404,
        Class::Allowed => status == 101,
    }
}

async fn call(
    callers: &Callers,
    server: &TestServer,
    r: &Row,
    who: Who,
    ids: &Ids,
) -> (u16, Value) {
    let path = url_path(r.path, ids);
    if r.path.starts_with("/ws/") {
        let base = server.url.replacen("http://", "ws://", 1);
        let url = match callers.token(who) {
            Some(t) => format!("{base}{path}?token={t}"),
            None => format!("{base}{path}"),
        };
        return (upgrade_status(&url).await, Value::Null);
    }
    let client = callers.client(who);
    let mut rb = client.request(r.method.clone(), &path);
    rb = match r.body {
        Body::None => rb,
        Body::Json(f) => rb.json(&f(ids)),
        Body::Text(t) => rb.header("content-type", "text/plain").body(t),
        Body::EmptyUpdate => rb
            .header("content-type", "application/octet-stream")
            .body(vec![0u8, 0u8]),
        Body::FreshRefresh => {
            let auth = callers
                .anon
                .login(&ids.login_email, PASSWORD)
                .await
                .unwrap_or_else(|e| panic!("login: {e}"));
            rb.json(&json!({"refresh_token": auth.refresh_token}))
        }
    };
    let res = rb
        .send()
        .await
        .unwrap_or_else(|e| panic!("{} {path}: {e}", r.method));
    let status = res.status().as_u16();
    let text = res.text().await.unwrap_or_default();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

#[tokio::test]
async fn the_table_lists_exactly_the_routes_the_app_serves() {
    let served: BTreeSet<(String, String)> = qollab_server::app::route_table()
        .into_iter()
        .map(|(m, p)| (m.to_string(), p.to_string()))
        .collect();
    let rows: Vec<(String, String)> = table()
        .iter()
        .map(|r| (r.method.to_string(), r.path.to_string()))
        .collect();
    let listed: BTreeSet<_> = rows.iter().cloned().collect();
    assert_eq!(listed.len(), rows.len(), "a route is listed twice");
    let missing: Vec<_> = served.difference(&listed).collect();
    let extra: Vec<_> = listed.difference(&served).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "routes served but missing from the authorization matrix: {missing:?}; rows that are not routes: {extra:?}"
    );
}

#[tokio::test]
async fn every_route_answers_every_caller_as_its_guard_says() {
    let server = TestServer::start().await;
    let callers = Callers::new(&server).await;
    let shared = callers.workspace().await;
    let mut rows = table();
    // Logging out ends the callers' sessions: last.
    rows.sort_by_key(|r| r.path == "/api/auth/logout");
    let mut failures = Vec::new();
    for r in &rows {
        for who in EVERYONE {
            let ids = if r.fresh {
                callers.workspace().await
            } else {
                shared.clone()
            };
            let class = expected(r.needs, who);
            let (status, body) = call(&callers, &server, r, who, &ids).await;
            let ok = if r.path.starts_with("/ws/") {
                matches_upgrade(&class, status)
            } else {
                matches(&class, status, &body)
            };
            if !ok {
                failures.push(format!(
                    "{} {} as {who:?}: expected {class:?}, got {status} {body}",
                    r.method, r.path
                ));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} cell(s) of the authorization matrix are wrong:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
