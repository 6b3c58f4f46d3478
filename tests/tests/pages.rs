//! One cursor pagination for every list that can grow: `?cursor=&limit=` → `{items,
//! next_cursor}`, walked to the end with small pages, against the whole list read at once.

use qollab_client::rest::Client;
use qollab_shared::api::Role;
use reqwest::Method;
use serde_json::{Value, json};

use crate::common::circuits::BELL;
use crate::common::team::Team;
use crate::common::{TestServer, assert_error, raw};

/// One page; asserts the shape and the limit.
async fn page(
    client: &Client,
    path: &str,
    limit: u64,
    cursor: Option<&str>,
) -> (Vec<Value>, Option<String>) {
    let sep = if path.contains('?') { '&' } else { '?' };
    let mut url = format!("{path}{sep}limit={limit}");
    if let Some(c) = cursor {
        url.push_str(&format!("&cursor={c}"));
    }
    let (s, v) = raw(client, Method::GET, &url, None).await;
    assert_eq!(s, 200, "{url}: {v}");
    let items = v["items"]
        .as_array()
        .cloned()
        .unwrap_or_else(|| panic!("{url}: no items: {v}"));
    assert!(
        items.len() as u64 <= limit,
        "{url}: {} items over the limit",
        items.len()
    );
    let next = match &v["next_cursor"] {
        Value::Null => None,
        Value::String(c) => Some(c.clone()),
        other => panic!("{url}: next_cursor {other}"),
    };
    (items, next)
}

/// Every item, following `next_cursor` with pages of `limit`; asserts that only the last
/// page lacks a cursor and that no id comes twice.
async fn walk(client: &Client, path: &str, limit: u64, id: &str) -> Vec<Value> {
    let mut all = Vec::new();
    let mut cursor: Option<String> = None;
    for _ in 0..100 {
        let (items, next) = page(client, path, limit, cursor.as_deref()).await;
        let full = items.len() as u64 == limit;
        all.extend(items);
        match next {
            Some(n) => {
                assert!(full, "{path}: a short page with a next cursor");
                cursor = Some(n);
            }
            None => {
                let mut ids: Vec<String> = all.iter().map(|v| v[id].to_string()).collect();
                ids.sort();
                ids.dedup();
                assert_eq!(ids.len(), all.len(), "{path}: an item came twice: {all:?}");
                return all;
            }
        }
    }
    panic!("{path}: more than 100 pages");
}

fn ids(items: &[Value], key: &str) -> Vec<Value> {
    items.iter().map(|v| v[key].clone()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_growing_list_pages_by_cursor_in_its_order_without_gaps_or_repeats() {
    let server = TestServer::start().await;
    let team = Team::build(&server.url)
        .enterprise()
        .member("a", Role::Editor)
        .member("b", Role::Viewer)
        .member("c", Role::Viewer)
        .member("d", Role::Viewer)
        .docs(&["one", "two", "three", "four", "five"])
        .create()
        .await;
    let (ws, owner) = (team.ws, &team.owner);

    // Members: in the order they joined, owner first.
    let members = walk(
        owner,
        &format!("/api/workspaces/{ws}/members"),
        2,
        "user_id",
    )
    .await;
    assert_eq!(members.len(), 5);
    assert_eq!(members[0]["role"], "owner");
    let whole = page(owner, &format!("/api/workspaces/{ws}/members"), 200, None)
        .await
        .0;
    assert_eq!(ids(&members, "user_id"), ids(&whole, "user_id"));

    // Documents: in the order they were created.
    let docs = walk(owner, &format!("/api/workspaces/{ws}/docs"), 2, "id").await;
    let names: Vec<&str> = docs.iter().filter_map(|d| d["name"].as_str()).collect();
    assert_eq!(names, ["one", "two", "three", "four", "five"]);

    // Versions of a document: newest first.
    let doc = &team.docs[0];
    for i in 0..5 {
        let (s, v) = raw(
            owner,
            Method::POST,
            &format!("/api/docs/{doc}/versions"),
            Some(json!({"name": format!("v{i}")})),
        )
        .await;
        assert_eq!(s, 201, "{v}");
    }
    let versions = walk(owner, &format!("/api/docs/{doc}/versions"), 2, "id").await;
    let named: Vec<&str> = versions
        .iter()
        .filter(|v| v["kind"] == "named")
        .filter_map(|v| v["name"].as_str())
        .collect();
    assert_eq!(named, ["v4", "v3", "v2", "v1", "v0"]);

    // Chat: newest first, and a message posted mid-walk neither repeats an item nor
    // pushes one out of the remaining pages (keyset, not offset).
    let chat = format!("/api/workspaces/{ws}/chat");
    for i in 0..5 {
        let (s, v) = raw(
            owner,
            Method::POST,
            &chat,
            Some(json!({"text": format!("m{i}")})),
        )
        .await;
        assert_eq!(s, 201, "{v}");
    }
    let (first, cursor) = page(owner, &chat, 2, None).await;
    let (s, v) = raw(owner, Method::POST, &chat, Some(json!({"text": "late"}))).await;
    assert_eq!(s, 201, "{v}");
    let mut texts: Vec<Value> = ids(&first, "text");
    let mut cursor = cursor;
    while let Some(c) = cursor {
        let (items, next) = page(owner, &chat, 2, Some(&c)).await;
        texts.extend(ids(&items, "text"));
        cursor = next;
    }
    assert_eq!(texts, ["m4", "m3", "m2", "m1", "m0"].map(|t| json!(t)));

    // Jobs: newest first.
    let mut submitted = Vec::new();
    for _ in 0..5 {
        let (s, j) = raw(
            owner,
            Method::POST,
            &format!("/api/workspaces/{ws}/jobs"),
            Some(json!({"source": {"qasm": BELL}, "shots": 10})),
        )
        .await;
        assert_eq!(s, 202, "{j}");
        submitted.push(j["id"].clone());
    }
    submitted.reverse();
    let jobs = walk(owner, &format!("/api/workspaces/{ws}/jobs"), 2, "id").await;
    assert_eq!(ids(&jobs, "id"), submitted);

    // Quest attempts: newest first.
    let mut attempts = Vec::new();
    for _ in 0..3 {
        let (s, a) = raw(
            owner,
            Method::POST,
            "/api/quest/challenges/bell/attempts",
            Some(json!({"qasm": BELL})),
        )
        .await;
        assert_eq!(s, 201, "{a}");
    }
    for a in walk(owner, "/api/quest/challenges/bell/attempts", 2, "id").await {
        attempts.push(a["id"].clone());
    }
    assert_eq!(attempts.len(), 3);

    // The event log: newest first, gapless down to the first event; `kind` narrows it.
    let events = walk(owner, &format!("/api/workspaces/{ws}/events"), 7, "id").await;
    let seqs: Vec<i64> = events.iter().filter_map(|e| e["id"].as_i64()).collect();
    assert_eq!(seqs.len(), events.len());
    assert!(seqs.windows(2).all(|w| w[0] == w[1] + 1), "{seqs:?}");
    assert_eq!(seqs.last(), Some(&1));
    let said = walk(
        owner,
        &format!("/api/workspaces/{ws}/events?kind=chat.message"),
        2,
        "id",
    )
    .await;
    assert_eq!(said.len(), 6, "{said:?}");
    assert!(said.iter().all(|e| e["type"] == "chat.message"), "{said:?}");
    let typed = owner
        .events(ws, Some("chat.message"), None, 200)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        ids(&said, "id"),
        typed.items.iter().map(|e| json!(e.id)).collect::<Vec<_>>()
    );
    assert_eq!(typed.next_cursor, None);
    let (s, v) = raw(
        owner,
        Method::GET,
        &format!("/api/workspaces/{ws}/events?kind=nope"),
        None,
    )
    .await;
    assert_eq!(s, 422, "{v}");
    assert!(
        v["error"]["details"]["kind"]
            .as_str()
            .is_some_and(|m| m.contains("chat.message")),
        "{v}"
    );

    // The same opaque cursor rule everywhere: a forged one is a 422 on `cursor`.
    let lists = [
        format!("/api/workspaces/{ws}/members"),
        format!("/api/workspaces/{ws}/docs"),
        format!("/api/docs/{doc}/versions"),
        chat.clone(),
        format!("/api/workspaces/{ws}/jobs"),
        format!("/api/workspaces/{ws}/ai/messages"),
        format!("/api/workspaces/{ws}/events"),
        "/api/quest/challenges/bell/attempts".to_string(),
        "/api/me/notifications".to_string(),
    ];
    for path in &lists {
        let (s, v) = raw(
            owner,
            Method::GET,
            &format!("{path}?cursor=bm90LWEta2V5"),
            None,
        )
        .await;
        assert_eq!(s, 422, "{path}: {v}");
        assert_error(&v, "invalid_input");
        assert!(v["error"]["details"]["cursor"].is_string(), "{path}: {v}");
        let (s, v) = raw(owner, Method::GET, &format!("{path}?limit=0"), None).await;
        assert_eq!(s, 422, "{path}: {v}");
        assert_error(&v, "invalid_input");
        assert!(v["error"]["details"]["limit"].is_string(), "{path}: {v}");
    }
}
