//! The user's CLI config file: `{"server": …, "token": …, "token_id": …, "workspace": …}`,
//! written by `qollab login` and `qollab config set`.
//!
//! Location: `$QOLLAB_CONFIG`, else `$XDG_CONFIG_HOME/qollab/config.json`, else
//! `~/.config/qollab/config.json`. It holds a secret, so it is written with mode 0600.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Config {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
    /// The stored token's id, so that `qollab logout` can revoke it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_id: Option<uuid::Uuid>,
    /// The default workspace (id or exact name) for commands that take `-w`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workspace: Option<String>,
}

fn non_empty(v: Option<String>) -> Option<String> {
    v.filter(|s| !s.trim().is_empty())
}

/// Where the config lives, from the given environment values.
pub fn path_from(
    qollab_config: Option<String>,
    xdg_config_home: Option<String>,
    home: Option<String>,
) -> Option<PathBuf> {
    if let Some(p) = non_empty(qollab_config) {
        return Some(PathBuf::from(p));
    }
    if let Some(x) = non_empty(xdg_config_home) {
        return Some(Path::new(&x).join("qollab").join("config.json"));
    }
    non_empty(home).map(|h| {
        Path::new(&h)
            .join(".config")
            .join("qollab")
            .join("config.json")
    })
}

pub fn path() -> Option<PathBuf> {
    path_from(
        std::env::var("QOLLAB_CONFIG").ok(),
        std::env::var("XDG_CONFIG_HOME").ok(),
        std::env::var("HOME").ok(),
    )
}

/// The stored config; empty when there is no file (or no place for one).
pub fn load() -> Result<Config, String> {
    match path() {
        Some(p) => load_from(&p),
        None => Ok(Config::default()),
    }
}

pub fn load_from(p: &Path) -> Result<Config, String> {
    match std::fs::read_to_string(p) {
        Ok(text) => serde_json::from_str(&text)
            .map_err(|e| format!("{}: not a valid config file: {e}", p.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Config::default()),
        Err(e) => Err(format!("cannot read {}: {e}", p.display())),
    }
}

/// Writes the config (mode 0600, replaced atomically); returns where.
pub fn save(c: &Config) -> Result<PathBuf, String> {
    let p = path().ok_or_else(|| {
        "no place for the config file: set QOLLAB_CONFIG, XDG_CONFIG_HOME or HOME".to_string()
    })?;
    save_to(&p, c)?;
    Ok(p)
}

pub fn save_to(p: &Path, c: &Config) -> Result<(), String> {
    let text = serde_json::to_string_pretty(c).map_err(|e| e.to_string())?;
    if let Some(dir) = p.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)
            .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    }
    let tmp = p.with_extension(format!("tmp{}", std::process::id()));
    write_private(&tmp, text.as_bytes())
        .and_then(|()| std::fs::rename(&tmp, p))
        .map_err(|e| {
            let _ = std::fs::remove_file(&tmp);
            format!("cannot write {}: {e}", p.display())
        })
}

#[cfg(unix)]
fn write_private(p: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write as _;
    use std::os::unix::fs::{OpenOptionsExt as _, PermissionsExt as _};
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(p)?;
    // The mode above applies only to a new file.
    f.set_permissions(std::fs::Permissions::from_mode(0o600))?;
    f.write_all(bytes)?;
    f.sync_all()
}

#[cfg(not(unix))]
fn write_private(p: &Path, bytes: &[u8]) -> std::io::Result<()> {
    std::fs::write(p, bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_path_follows_the_documented_precedence() {
        let s = |v: &str| Some(v.to_string());
        assert_eq!(
            path_from(s("/a/c.json"), s("/x"), s("/h")),
            Some(PathBuf::from("/a/c.json"))
        );
        assert_eq!(
            path_from(None, s("/x"), s("/h")),
            Some(PathBuf::from("/x/qollab/config.json"))
        );
        assert_eq!(
            path_from(s(""), None, s("/h")),
            Some(PathBuf::from("/h/.config/qollab/config.json"))
        );
        assert_eq!(path_from(None, None, None), None);
    }

    #[test]
    fn saved_configs_load_back_and_are_private() {
        let dir = std::env::temp_dir().join(format!("qollab-cfg-{}", uuid::Uuid::new_v4()));
        let p = dir.join("sub").join("config.json");
        assert_eq!(load_from(&p), Ok(Config::default()));
        let c = Config {
            server: Some("http://h:1".into()),
            token: Some("secret".into()),
            workspace: Some("Bell lab".into()),
            ..Config::default()
        };
        assert_eq!(save_to(&p, &c), Ok(()));
        assert_eq!(load_from(&p), Ok(c));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = std::fs::metadata(&p).map(|m| m.permissions().mode() & 0o777);
            assert_eq!(mode.ok(), Some(0o600));
        }
        assert!(std::fs::write(&p, "{not json").is_ok());
        assert!(load_from(&p).is_err_and(|e| e.contains("not a valid config")));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
