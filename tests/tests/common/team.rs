//! The one workspace fixture: an owner, members with roles, a workspace (optionally on an
//! organization of a chosen plan) and documents.
//!
//! ```ignore
//! let team = Team::new(server.client()).await;            // owner + workspace
//! let team = Team::build(&server.url)
//!     .enterprise()                                        // own organization, no job limits in the way
//!     .member("editor", Role::Editor)
//!     .member("viewer", Role::Viewer)
//!     .docs(&["Bell"])
//!     .create()
//!     .await;
//! let editor = team.client("editor");
//! ```

use qollab_client::rest::Client;
use qollab_shared::api::{AuthResponse, Plan, Role};
use reqwest::Method;
use serde_json::json;
use uuid::Uuid;

use super::{raw, user};

/// A member added by the builder.
pub struct Member {
    pub tag: String,
    pub role: Role,
    pub client: Client,
    pub auth: AuthResponse,
}

/// An owner with a workspace, and whatever the builder added.
pub struct Team {
    /// Unauthenticated client of the server.
    pub anon: Client,
    pub owner: Client,
    pub owner_auth: AuthResponse,
    pub ws: Uuid,
    /// The organization created for the workspace, when a plan was asked for.
    pub org: Option<Uuid>,
    pub members: Vec<Member>,
    /// Ids of the documents created by the builder, in order.
    pub docs: Vec<String>,
}

/// See [`Team::build`].
pub struct TeamBuilder {
    url: String,
    name: String,
    plan: Option<Plan>,
    members: Vec<(String, Role)>,
    docs: Vec<(String, Option<String>)>,
}

impl TeamBuilder {
    /// The workspace's name (default `Team`).
    pub fn named(mut self, name: &str) -> Self {
        self.name = name.into();
        self
    }

    /// Puts the workspace on a new organization of this plan (default: the owner's
    /// personal organization, on the free plan).
    pub fn plan(mut self, plan: Plan) -> Self {
        self.plan = Some(plan);
        self
    }

    /// An enterprise organization: its quotas (concurrent jobs, qubits, shots) do not
    /// get in the way of a test.
    pub fn enterprise(self) -> Self {
        self.plan(Plan::Enterprise)
    }

    /// Registers a user (`tag` names them, e.g. `editor`) and adds them with `role`.
    pub fn member(mut self, tag: &str, role: Role) -> Self {
        self.members.push((tag.into(), role));
        self
    }

    /// Empty documents with these names.
    pub fn docs(mut self, names: &[&str]) -> Self {
        self.docs
            .extend(names.iter().map(|n| (n.to_string(), None::<String>)));
        self
    }

    /// A document seeded from OpenQASM.
    pub fn doc_from(mut self, name: &str, qasm: &str) -> Self {
        self.docs.push((name.into(), Some(qasm.into())));
        self
    }

    pub async fn create(self) -> Team {
        let anon = crate::common::client(&self.url);
        let (owner, owner_auth) = user(&anon, "owner").await;
        let org = match self.plan {
            Some(plan) => Some(
                super::org_on_plan(&owner, &format!("{} lab", self.name), plan)
                    .await
                    .id,
            ),
            None => None,
        };
        let ws = owner
            .create_workspace(&self.name, org)
            .await
            .unwrap_or_else(|e| panic!("create workspace: {e}"))
            .id;
        let mut team = Team {
            anon,
            owner,
            owner_auth,
            ws,
            org,
            members: Vec::new(),
            docs: Vec::new(),
        };
        for (tag, role) in self.members {
            let (client, auth) = team.member(&tag, role).await;
            team.members.push(Member {
                tag,
                role,
                client,
                auth,
            });
        }
        for (name, qasm) in self.docs {
            let id = team.doc(&name, qasm.as_deref()).await;
            team.docs.push(id);
        }
        team
    }
}

impl Team {
    /// An owner and a workspace named `Live documents` on their personal organization.
    pub async fn new(anon: Client) -> Team {
        let url = anon.base_url().to_string();
        let mut team = Team::build(&url).named("Live documents").create().await;
        team.anon = anon;
        team
    }

    pub fn build(url: &str) -> TeamBuilder {
        TeamBuilder {
            url: url.into(),
            name: "Team".into(),
            plan: None,
            members: Vec::new(),
            docs: Vec::new(),
        }
    }

    /// The owner's access token.
    pub fn token(&self) -> &str {
        &self.owner_auth.access_token
    }

    /// The member registered as `tag`.
    pub fn get(&self, tag: &str) -> &Member {
        self.members
            .iter()
            .find(|m| m.tag == tag)
            .unwrap_or_else(|| panic!("no member {tag} in this team"))
    }

    /// The client of the member registered as `tag`.
    pub fn client(&self, tag: &str) -> Client {
        self.get(tag).client.clone()
    }

    /// Registers a user and adds them to the workspace with `role` (builder members are
    /// also kept in `members`; these are not).
    pub async fn member(&self, tag: &str, role: Role) -> (Client, AuthResponse) {
        let (client, auth) = user(&self.anon, tag).await;
        self.owner
            .add_member(self.ws, &auth.user.email, role)
            .await
            .unwrap_or_else(|e| panic!("add member {tag}: {e}"));
        (client, auth)
    }

    /// Creates a document (seeded from `qasm` if given) and returns its id.
    pub async fn doc(&self, name: &str, qasm: Option<&str>) -> String {
        let mut body = json!({ "name": name });
        if let Some(q) = qasm {
            body["qasm"] = json!(q);
        }
        let (s, created) = raw(
            &self.owner,
            Method::POST,
            &format!("/api/workspaces/{}/docs", self.ws),
            Some(body),
        )
        .await;
        assert_eq!(s, 201, "create document: {created}");
        created["id"]
            .as_str()
            .unwrap_or_else(|| panic!("no id in {created}"))
            .to_string()
    }
}
