//! The key file: one base64 key per line, the first encrypts, the others only decrypt; lines starting
//! with `#` are comments. It is only ever replaced whole (written beside, then renamed), so a server
//! re-reading it never sees half a file, and it is created with mode 0600.

use std::io::Write;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use super::{SecretsError, parse_key};

const HEADER: &str = "# paydesk secret keys: one base64 key per line; the first encrypts, the others only decrypt.\n\
# Back this file up with the database: without it the stored credentials cannot be read.\n";

/// What the file looked like when read; a different stamp means it was replaced or edited.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct Stamp {
    modified: Option<SystemTime>,
    len: u64,
    inode: u64,
}

pub(super) fn stamp(path: &Path) -> std::io::Result<Stamp> {
    let meta = std::fs::metadata(path)?;
    Ok(Stamp {
        modified: meta.modified().ok(),
        len: meta.len(),
        inode: meta.ino(),
    })
}

fn error(path: &Path, reason: impl std::fmt::Display) -> SecretsError {
    SecretsError::KeyFile {
        path: path.display().to_string(),
        reason: reason.to_string(),
    }
}

/// `paydesk.key` next to the SQLite database file (in the working directory for an in-memory one).
pub(super) fn default_path(sqlite_url: &str) -> PathBuf {
    let file = sqlite_url
        .strip_prefix("sqlite://")
        .or_else(|| sqlite_url.strip_prefix("sqlite:"))
        .unwrap_or_default();
    let file = file.split('?').next().unwrap_or_default();
    if file.is_empty() || file.starts_with(':') {
        return PathBuf::from("paydesk.key");
    }
    Path::new(file)
        .parent()
        .unwrap_or(Path::new(""))
        .join("paydesk.key")
}

/// The keys, the primary first, and the file's stamp.
pub(super) fn read(path: &Path) -> Result<(Vec<[u8; 32]>, Stamp), SecretsError> {
    let before = stamp(path).map_err(|e| error(path, e))?;
    let text = std::fs::read_to_string(path).map_err(|e| error(path, e))?;
    let mut keys = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let key = parse_key(line)
            .ok_or_else(|| error(path, format!("line {} is not base64 of 32 bytes", n + 1)))?;
        keys.push(key);
    }
    if keys.is_empty() {
        return Err(error(path, "it holds no key"));
    }
    Ok((keys, before))
}

/// Writes `text` to a new file with mode 0600 beside `path`; returns its path.
fn write_beside(path: &Path, text: &str) -> Result<PathBuf, SecretsError> {
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("key");
    let temp = path.with_file_name(format!(".{name}.{}", uuid::Uuid::new_v4().simple()));
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&temp)
        .map_err(|e| error(path, e))?;
    file.write_all(text.as_bytes())
        .and_then(|()| file.sync_all())
        .map_err(|e| error(path, e))?;
    Ok(temp)
}

/// Creates the file holding `key` unless it exists; `true` when this call created it. Instances
/// starting together agree on one key: the file appears whole (a hard link of a finished file) or
/// not at all, and the first link wins.
pub(super) fn create_if_missing(path: &Path, key: &str) -> Result<bool, SecretsError> {
    if path.exists() {
        return Ok(false);
    }
    let temp = write_beside(path, &format!("{HEADER}{key}\n"))?;
    let linked = std::fs::hard_link(&temp, path);
    let _ = std::fs::remove_file(&temp);
    match linked {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(false),
        Err(e) => Err(error(path, e)),
    }
}

/// Puts `key` first (after the comments), keeping every other key for decryption.
pub(super) fn prepend(path: &Path, key: &str) -> Result<(), SecretsError> {
    let text = std::fs::read_to_string(path).map_err(|e| error(path, e))?;
    let (comments, keys): (Vec<&str>, Vec<&str>) =
        text.lines().partition(|l| l.trim_start().starts_with('#'));
    let mut out = String::new();
    for line in comments.iter().chain([&key]).chain(&keys) {
        out.push_str(line);
        out.push('\n');
    }
    let temp = write_beside(path, &out)?;
    std::fs::rename(&temp, path).map_err(|e| error(path, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_generated_file_sits_next_to_the_sqlite_database() {
        assert_eq!(
            default_path("sqlite:///var/lib/paydesk/paydesk.db?mode=rwc"),
            PathBuf::from("/var/lib/paydesk/paydesk.key")
        );
        assert_eq!(
            default_path("sqlite://paydesk.db?mode=rwc"),
            PathBuf::from("paydesk.key")
        );
        assert_eq!(
            default_path("sqlite::memory:"),
            PathBuf::from("paydesk.key")
        );
    }
}
