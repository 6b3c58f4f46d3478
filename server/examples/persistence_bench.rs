//! Persistence benchmark for live documents (figures in docs/benchmarks.md):
//!
//! 1. appends per second through the real batched appender (`docs::persist::Appender`),
//!    with 1, 16, 256 concurrent writers each waiting for its own append (as a peer's
//!    update waits before it is relayed), and through `Db::append_updates` in 512-row
//!    batches (the appender's largest commit);
//! 2. cold load of a document whose log holds 100,000 small updates and no snapshot:
//!    `Rooms::open` on a fresh `Rooms` (read the log, apply every update to a new yrs
//!    document), split into the database read and the apply — the worst case, a log
//!    no compaction has folded;
//! 3. cold load of the same document as the compaction policy leaves it: the snapshot
//!    the room's compaction writes, plus the longest tail the policy lets a log reach
//!    (1,000 updates).
//!
//! ```sh
//! cargo run --release -p qollab-server --example persistence_bench
//! QOLLAB_BENCH_DATABASE_URL=postgres://user@127.0.0.1/db cargo run --release -p qollab-server --example persistence_bench
//! ```
//!
//! SQLite runs on a temp file (WAL, synchronous=NORMAL, as the server configures it);
//! PostgreSQL runs in a fresh schema that is dropped at the end. Prints one JSON line.

#[path = "common/bench_db.rs"]
mod bench_db;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use qollab_server::db::Db;
use qollab_server::db::tables::docs;
use qollab_server::docs::persist::Appender;
use qollab_server::docs::rooms::{DocsConfig, Room, Rooms};
use qollab_server::fanout::Fanout;
use serde_json::json;
use uuid::Uuid;
use yrs::updates::decoder::Decode;
use yrs::{Any, Doc, Map, ReadTxn, Transact, Update, WriteTxn};

/// Updates in the cold-load document's log.
const COLD_UPDATES: usize = 100_000;
/// Updates a log holds past its snapshot at most, under the default compaction policy
/// (`DocsConfig::compact_every_updates`).
const TAIL_UPDATES: usize = 1_000;
/// Distinct editors (yrs client ids) that wrote them.
const EDITORS: u64 = 100;
/// How long each appender run lasts.
const APPEND_RUN: Duration = Duration::from_secs(4);

/// Small single-op updates like the load generator's: editor `c` sets key `c` of the
/// root map `bench` to `{t, n}`. Each editor is its own replica, so its updates only
/// depend on its own earlier ones and the interleaving is a valid log.
fn small_updates(count: usize) -> Vec<Vec<u8>> {
    let editors: Vec<Doc> = (1..=EDITORS).map(Doc::with_client_id).collect();
    (0..count)
        .map(|i| {
            let c = i % editors.len();
            let doc = &editors[c];
            let mut txn = doc.transact_mut();
            let map = txn.get_or_insert_map("bench");
            let entry = Any::Map(Arc::new(HashMap::from([
                ("t".to_string(), Any::from(1.7e15 + i as f64)),
                ("n".to_string(), Any::from((i / editors.len()) as f64 + 1.0)),
            ])));
            map.insert(&mut txn, c.to_string(), entry);
            txn.encode_update_v1()
        })
        .collect()
}

fn quantile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() - 1) as f64 * q).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    quantile(&v, 0.5)
}

/// `writers` tasks, each appending one update after the other to its own document
/// for `APPEND_RUN`; returns appends/s and per-append latency (ms).
async fn appender_run(
    db: &Db,
    docs: &[Uuid],
    writers: usize,
    updates: &Arc<Vec<Vec<u8>>>,
) -> serde_json::Value {
    let appender = Appender::spawn(db.clone());
    let deadline = Instant::now() + APPEND_RUN;
    let started = Instant::now();
    let mut tasks = Vec::with_capacity(writers);
    for w in 0..writers {
        let appender = appender.clone();
        let doc = docs[w % docs.len()];
        let updates = updates.clone();
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            let mut i = w;
            while Instant::now() < deadline {
                let t = Instant::now();
                appender
                    .append(doc, updates[i % updates.len()].clone())
                    .await
                    .map_err(anyhow::Error::msg)?;
                lat.push(t.elapsed().as_secs_f64() * 1e3);
                i += writers;
            }
            anyhow::Ok(lat)
        }));
    }
    let mut lat = Vec::new();
    for t in tasks {
        match t.await {
            Ok(Ok(l)) => lat.extend(l),
            Ok(Err(e)) => return json!({"writers": writers, "error": e.to_string()}),
            Err(e) => return json!({"writers": writers, "error": e.to_string()}),
        }
    }
    let secs = started.elapsed().as_secs_f64();
    lat.sort_by(f64::total_cmp);
    json!({
        "writers": writers,
        "appends": lat.len(),
        "appends_per_s": (lat.len() as f64 / secs).round(),
        "latency_ms": {
            "p50": quantile(&lat, 0.5),
            "p99": quantile(&lat, 0.99),
            "max": quantile(&lat, 1.0),
        },
    })
}

/// One cold load: `Rooms::open` of `doc` on a fresh `Rooms` (nothing loaded).
struct ColdOpen {
    ms: f64,
    /// What the loaded document holds (its `bench` map's size), to compare loads by.
    loaded: serde_json::Value,
    rooms: Arc<Rooms>,
    room: Arc<Room>,
}

async fn cold_open(db: &Db, config: &DocsConfig, doc: &docs::Model) -> anyhow::Result<ColdOpen> {
    let live = qollab_server::live::Live::start(db.clone(), Fanout::Local, config.recheck_every);
    let rooms = Rooms::start(db.clone(), config.clone(), Fanout::Local, live);
    let t = Instant::now();
    let room = rooms.open(doc).await?;
    let ms = t.elapsed().as_secs_f64() * 1e3;
    let loaded = room.with_awareness(|a| {
        let txn = a.doc().transact();
        let map = txn.get_map("bench");
        json!({"keys": map.map(|m| m.len(&txn)).unwrap_or(0)})
    });
    Ok(ColdOpen {
        ms,
        loaded,
        rooms,
        room,
    })
}

async fn bench(db: &Db, backend: &str) -> anyhow::Result<serde_json::Value> {
    let (user, org) = db
        .create_user(
            &format!("bench-{}@example.com", Uuid::new_v4()),
            "Bench",
            "-",
        )
        .await?;
    let ws = db
        .create_workspace(org.id, user.id, "persistence bench", "")
        .await?;
    let mut writer_docs = Vec::new();
    for i in 0..64 {
        writer_docs.push(
            db.create_doc(ws.id, &format!("w{i}"), user.id, None)
                .await?
                .id,
        );
    }
    let mut updates = small_updates(COLD_UPDATES + TAIL_UPDATES);
    let tail = updates.split_off(COLD_UPDATES);
    let mean_bytes = updates.iter().map(Vec::len).sum::<usize>() as f64 / updates.len() as f64;
    let sample = Arc::new(updates[..4096].to_vec());

    // 1. Appends through the batched appender.
    let mut appender = Vec::new();
    for writers in [1, 16, 256] {
        let r = appender_run(db, &writer_docs, writers, &sample).await;
        eprintln!("appender: {r}");
        appender.push(r);
    }

    // 2. Filling the cold document: the log through append_updates in 512-row batches.
    let cold = db.create_doc(ws.id, "cold", user.id, None).await?;
    let started = Instant::now();
    for chunk in updates.chunks(512) {
        let rows = chunk.iter().map(|u| (cold.id, u.clone())).collect();
        db.append_updates(rows).await?;
    }
    let fill_s = started.elapsed().as_secs_f64();
    let batch_rows_per_s = (COLD_UPDATES as f64 / fill_s).round();
    eprintln!("append_updates x512: {batch_rows_per_s} rows/s");

    // 3. Cold load: Rooms::open on a fresh Rooms (nothing loaded), several times.
    let runs = 5;
    let (mut open_ms, mut read_ms, mut apply_ms) = (Vec::new(), Vec::new(), Vec::new());
    let mut check = serde_json::Value::Null;
    let mut last_room = None;
    let config = DocsConfig {
        compact_every: Duration::from_secs(3600),
        ..Default::default()
    };
    for _ in 0..runs {
        let opened = cold_open(db, &config, &cold).await?;
        open_ms.push(opened.ms);
        check = opened.loaded;
        last_room = Some((opened.rooms, opened.room));

        // The same two steps apart: the database read, then the apply.
        let t = Instant::now();
        let (stored, _) = db.load_doc(cold.id).await?;
        read_ms.push(t.elapsed().as_secs_f64() * 1e3);
        anyhow::ensure!(stored.updates.len() == COLD_UPDATES, "log has every update");
        let t = Instant::now();
        let doc = Doc::new();
        {
            let mut txn = doc.transact_mut();
            for (_, bytes) in stored.updates {
                txn.apply_update(Update::decode_v1(&bytes)?)?;
            }
        }
        apply_ms.push(t.elapsed().as_secs_f64() * 1e3);
    }
    eprintln!("cold open ms: {open_ms:?}; read {read_ms:?}; apply {apply_ms:?}");

    // 4. The same document as the compaction policy keeps it: a snapshot of those
    //    100,000 updates (written by the room's own compaction), then the longest tail the
    //    policy lets a log grow before the next one (`compact_every_updates`).
    let (rooms, room) = last_room.ok_or_else(|| anyhow::anyhow!("no room opened"))?;
    let t = Instant::now();
    rooms.compact(&room, true).await;
    let compact_ms = t.elapsed().as_secs_f64() * 1e3;
    drop((rooms, room));
    let rows = tail.iter().map(|u| (cold.id, u.clone())).collect();
    db.append_updates(rows).await?;
    let (stored, _) = db.load_doc(cold.id).await?;
    anyhow::ensure!(
        stored.snapshot.is_some() && stored.updates.len() == TAIL_UPDATES,
        "compaction left a snapshot and the tail ({} rows)",
        stored.updates.len()
    );
    let snapshot_bytes = stored.snapshot.as_ref().map_or(0, Vec::len);
    let mut compacted_ms = Vec::new();
    let mut compacted_check = serde_json::Value::Null;
    for _ in 0..runs {
        let opened = cold_open(db, &config, &cold).await?;
        compacted_ms.push(opened.ms);
        compacted_check = opened.loaded;
    }
    anyhow::ensure!(
        compacted_check == check,
        "the compacted document is the same document"
    );
    eprintln!("compacted open ms: {compacted_ms:?} (compaction {compact_ms:.0} ms)");
    Ok(json!({
        "backend": backend,
        "update_bytes_mean": (mean_bytes * 10.0).round() / 10.0,
        "appender": appender,
        "append_updates_512_rows_per_s": batch_rows_per_s,
        "cold_load": {
            "updates": COLD_UPDATES,
            "runs": runs,
            "open_ms_median": median(open_ms.clone()),
            "open_ms_min": open_ms.iter().copied().fold(f64::INFINITY, f64::min),
            "read_ms_median": median(read_ms),
            "apply_ms_median": median(apply_ms),
            "loaded": check,
        },
        "cold_load_as_compacted": {
            "updates": COLD_UPDATES + TAIL_UPDATES,
            "snapshot_bytes": snapshot_bytes,
            "tail_rows": TAIL_UPDATES,
            "compaction_ms": compact_ms,
            "open_ms_median": median(compacted_ms.clone()),
            "open_ms_min": compacted_ms.iter().copied().fold(f64::INFINITY, f64::min),
        },
    }))
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    bench_db::run(|db, backend| async move { bench(&db, backend).await }).await
}
