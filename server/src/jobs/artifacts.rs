//! Job artifacts (`optimized.qasm`, `result.json`, `counts.csv`). `result.json` and
//! `counts.csv` are views of the result stored on the job's row, rendered when asked for;
//! only what the result does not hold (the optimized circuit) is stored, in a directory
//! under the data dir. The trait is what an object store would implement.

use std::path::PathBuf;

use uuid::Uuid;

pub const NAMES: [&str; 3] = ["optimized.qasm", "result.json", "counts.csv"];

pub trait ArtifactStore: Send + Sync {
    fn put(&self, job: Uuid, name: &str, bytes: &[u8]) -> std::io::Result<()>;
    /// `Ok(None)` when the job has no such artifact.
    fn get(&self, job: Uuid, name: &str) -> std::io::Result<Option<Vec<u8>>>;
}

pub struct LocalDir {
    root: PathBuf,
}

impl LocalDir {
    pub fn new(root: PathBuf) -> Self {
        Self { root }
    }

    fn path(&self, job: Uuid, name: &str) -> Option<PathBuf> {
        // Only the known names: never a path a client chose.
        NAMES
            .contains(&name)
            .then(|| self.root.join(job.to_string()).join(name))
    }
}

impl ArtifactStore for LocalDir {
    fn put(&self, job: Uuid, name: &str, bytes: &[u8]) -> std::io::Result<()> {
        let Some(path) = self.path(job, name) else {
            return Err(std::io::Error::other(format!("unknown artifact {name}")));
        };
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        // Write then rename: a reader never sees half a file.
        let tmp = path.with_extension("partial");
        std::fs::write(&tmp, bytes)?;
        std::fs::rename(tmp, path)
    }

    fn get(&self, job: Uuid, name: &str) -> std::io::Result<Option<Vec<u8>>> {
        let Some(path) = self.path(job, name) else {
            return Ok(None);
        };
        match std::fs::read(path) {
            Ok(b) => Ok(Some(b)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }
}

/// The bytes of artifact `name` of a job whose stored result is `result`, for the views
/// (`None` for a stored artifact, or a view the result cannot give).
pub fn view(name: &str, result: &serde_json::Value) -> Option<Vec<u8>> {
    match name {
        "result.json" => serde_json::to_vec_pretty(result).ok(),
        "counts.csv" => {
            let counts: std::collections::BTreeMap<String, usize> =
                serde_json::from_value(result.get("counts")?.clone()).ok()?;
            Some(counts_csv(&counts).into_bytes())
        }
        _ => None,
    }
}

/// `bitstring,count` lines, most frequent first.
pub fn counts_csv(counts: &std::collections::BTreeMap<String, usize>) -> String {
    let mut rows: Vec<_> = counts.iter().collect();
    rows.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
    let mut s = String::from("bitstring,count\n");
    for (k, v) in rows {
        s.push_str(&format!("{k},{v}\n"));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_known_names_are_stored_and_read() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let store = LocalDir::new(dir.path().to_path_buf());
        let job = Uuid::now_v7();
        assert!(store.put(job, "../../etc/passwd", b"x").is_err());
        assert!(store.put(job, "result.json", b"{}").is_ok());
        assert_eq!(
            store.get(job, "result.json").ok().flatten().as_deref(),
            Some(&b"{}"[..])
        );
        assert_eq!(store.get(job, "counts.csv").ok().flatten(), None);
        assert_eq!(store.get(job, "../result.json").ok().flatten(), None);
    }

    #[test]
    fn csv_lists_most_frequent_first() {
        let counts = [("00".to_string(), 3), ("11".to_string(), 5)]
            .into_iter()
            .collect();
        assert_eq!(counts_csv(&counts), "bitstring,count\n11,5\n00,3\n");
    }
}
