//! Where the articles come from: the copy of `docs/help/` built into the binary (see `build.rs`), or a
//! folder named by `PAYDESK_HELP_DIR` / `--dir` that a support team edits. Both give the same list of
//! files, and the one rule below decides which of them are articles.

use std::fmt;
use std::path::{Path, PathBuf};

use super::HelpError;

/// Every file of `docs/help/` at build time, as (file name, contents).
const BUILT_IN: &[(&str, &str)] = include!(concat!(env!("OUT_DIR"), "/help_files.rs"));

/// The synonym file's name, next to the articles.
pub const SYNONYMS_FILE: &str = "synonyms.txt";

/// A file of the help folder.
#[derive(Clone, Debug)]
pub struct SourceFile {
    pub name: String,
    pub text: String,
}

impl SourceFile {
    /// Articles are the Markdown files; `README.md` is the content team's own guide, not an article.
    pub fn is_article(&self) -> bool {
        self.name.ends_with(".md") && !self.name.eq_ignore_ascii_case("README.md")
    }
}

/// The built-in articles or a folder.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HelpSource {
    BuiltIn,
    Dir(PathBuf),
}

impl HelpSource {
    pub fn from_dir(dir: Option<PathBuf>) -> Self {
        dir.map_or(Self::BuiltIn, Self::Dir)
    }

    /// Reads every file (sorted by name, so loading is deterministic).
    pub fn files(&self) -> Result<Vec<SourceFile>, HelpError> {
        match self {
            Self::BuiltIn => Ok(BUILT_IN
                .iter()
                .map(|(name, text)| SourceFile {
                    name: (*name).to_string(),
                    text: (*text).to_string(),
                })
                .collect()),
            Self::Dir(dir) => read_dir(dir),
        }
    }
}

impl fmt::Display for HelpSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::BuiltIn => f.write_str("built-in articles"),
            Self::Dir(dir) => write!(f, "{}", dir.display()),
        }
    }
}

fn read_dir(dir: &Path) -> Result<Vec<SourceFile>, HelpError> {
    let unreadable = |e: std::io::Error| HelpError::Unreadable {
        path: dir.display().to_string(),
        reason: e.to_string(),
    };
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(unreadable)? {
        let path = entry.map_err(unreadable)?.path();
        let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
            continue;
        };
        if !path.is_file() || !(name.ends_with(".md") || name == SYNONYMS_FILE) {
            continue;
        }
        let text = std::fs::read_to_string(&path).map_err(|e| HelpError::Unreadable {
            path: path.display().to_string(),
            reason: e.to_string(),
        })?;
        files.push(SourceFile {
            name: name.to_string(),
            text,
        });
    }
    files.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(files)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_built_in_copy_has_the_articles_and_synonyms_but_the_readme_is_no_article() {
        let files = HelpSource::BuiltIn.files().unwrap();
        assert!(files.iter().any(|f| f.name == SYNONYMS_FILE));
        assert!(files.iter().filter(|f| f.is_article()).count() >= 26);
        let readme = SourceFile {
            name: "README.md".into(),
            text: String::new(),
        };
        assert!(!readme.is_article());
    }
}
