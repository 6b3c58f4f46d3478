//! Builds the browser app (`client/web`, React + Vite) and embeds it into the binary.
//!
//! `npm ci` runs only when `node_modules` does not match `package-lock.json` (a hash
//! stamp), then `npm run build` (type check + Vite) writes into `OUT_DIR/web-dist`.
//! Every file is embedded with `include_bytes!` (gzip-precompressed when that is
//! smaller). Without Node.js/npm, or when the build fails, the server still builds and
//! `/` explains how to get the UI; a `cargo:warning` says why.
//! `QOLLAB_SKIP_WEB_BUILD=1` skips the UI build on purpose.

use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

fn main() {
    let manifest = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap_or_default());
    let out = PathBuf::from(std::env::var("OUT_DIR").unwrap_or_default());
    let web = manifest.join("..").join("client").join("web");
    for p in [
        "src",
        "public",
        "index.html",
        "package.json",
        "package-lock.json",
        "vite.config.ts",
        "tsconfig.json",
    ] {
        println!("cargo:rerun-if-changed={}", web.join(p).display());
    }
    println!("cargo:rerun-if-env-changed=QOLLAB_SKIP_WEB_BUILD");

    let dist = out.join("web-dist");
    let outcome = if std::env::var_os("QOLLAB_SKIP_WEB_BUILD").is_some_and(|v| v != "0") {
        Err("QOLLAB_SKIP_WEB_BUILD is set".to_string())
    } else if !web.join("package.json").exists() {
        Err(format!("{} is missing", web.join("package.json").display()))
    } else {
        build(&web, &dist)
    };
    let mut files = Vec::new();
    let error = match outcome {
        Ok(()) => {
            collect(&dist, &dist, &mut files);
            files.sort();
            String::new()
        }
        Err(e) => {
            println!(
                "cargo:warning=the web UI was not built ({e}); `qollab serve` will show how to get it at /"
            );
            e
        }
    };
    let mut code = String::from(
        "/// Embedded web app files: (path relative to the app root, bytes, gzip bytes or empty).\n\
         pub static ASSETS: &[(&str, &[u8], &[u8])] = &[\n",
    );
    let gz_dir = out.join("web-gz");
    let _ = std::fs::create_dir_all(&gz_dir);
    for (i, rel) in files.iter().enumerate() {
        let abs = dist.join(rel);
        let gz = gzip_of(&abs, &gz_dir.join(format!("{i}.gz")));
        let _ = writeln!(
            code,
            "    ({rel:?}, include_bytes!({abs:?}), {}),",
            match gz {
                Some(g) => format!("include_bytes!({g:?})"),
                None => "&[]".to_string(),
            }
        );
    }
    code.push_str("];\n");
    let _ = writeln!(
        code,
        "/// Why the app is not embedded (empty when it is).\npub static BUILD_ERROR: &str = {error:?};"
    );
    if let Err(e) = std::fs::write(out.join("web_assets.rs"), code) {
        panic!("writing web_assets.rs: {e}");
    }
}

fn build(web: &Path, dist: &Path) -> Result<(), String> {
    // One UI build at a time on this machine (clippy and test builds run build scripts
    // concurrently, and they share client/web/node_modules).
    let lock = std::fs::File::create(std::env::temp_dir().join("qollab-web-build.lock"))
        .map_err(|e| format!("lock file: {e}"))?;
    lock.lock().map_err(|e| format!("locking: {e}"))?;
    let npm = if cfg!(windows) { "npm.cmd" } else { "npm" };
    match Command::new(npm).arg("--version").output() {
        Ok(o) if o.status.success() => {}
        _ => return Err("Node.js and npm are not installed".into()),
    }
    let lockfile = std::fs::read(web.join("package-lock.json"))
        .map_err(|e| format!("package-lock.json: {e}"))?;
    let hash = format!("{:016x}", fnv1a(&lockfile));
    let stamp = web.join("node_modules").join(".qollab-lock-hash");
    if std::fs::read_to_string(&stamp).ok().as_deref() != Some(hash.as_str()) {
        run(
            Command::new(npm)
                .args(["ci", "--no-audit", "--no-fund", "--loglevel=error"])
                .current_dir(web),
            "npm ci",
        )?;
        let _ = std::fs::write(&stamp, &hash);
    }
    run(
        Command::new(npm)
            .args(["run", "build", "--silent", "--", "--outDir"])
            .arg(dist)
            .args(["--emptyOutDir", "--logLevel", "warn"])
            .current_dir(web),
        "npm run build",
    )?;
    if !dist.join("index.html").exists() {
        return Err("the build produced no index.html".into());
    }
    Ok(())
}

fn run(cmd: &mut Command, what: &str) -> Result<(), String> {
    let out = cmd.output().map_err(|e| format!("{what}: {e}"))?;
    if out.status.success() {
        return Ok(());
    }
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    for line in text.lines().filter(|l| !l.trim().is_empty()).take(30) {
        println!("cargo:warning={what}: {line}");
    }
    Err(format!("{what} failed ({})", out.status))
}

fn collect(root: &Path, dir: &Path, files: &mut Vec<String>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            collect(root, &p, files);
        } else if let Ok(rel) = p.strip_prefix(root) {
            files.push(rel.to_string_lossy().replace('\\', "/"));
        }
    }
}

/// Writes a gzip copy when it saves at least a tenth; returns its path.
fn gzip_of(src: &Path, dst: &Path) -> Option<PathBuf> {
    let data = std::fs::read(src).ok()?;
    if data.len() < 512 {
        return None;
    }
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    enc.write_all(&data).ok()?;
    let gz = enc.finish().ok()?;
    if gz.len() * 10 > data.len() * 9 {
        return None;
    }
    std::fs::write(dst, gz).ok()?;
    Some(dst.to_path_buf())
}

fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
    })
}
