//! Embeds every file of `docs/help/` into the binary, so `paydesk` serves its help centre without the
//! source tree. Which files are articles is decided at run time by `help::source`, the same rule that
//! applies to a `PAYDESK_HELP_DIR` folder; this script only lists the files.

use std::fmt::Write as _;
use std::path::Path;

fn main() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/help");
    // A directory here makes cargo rerun the script when any file inside it changes.
    println!("cargo:rerun-if-changed={}", dir.display());
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .expect("docs/help exists")
        .map(|entry| entry.expect("readable docs/help entry").path())
        .filter(|path| path.is_file())
        .collect();
    files.sort();
    let mut out = String::from("&[\n");
    for path in files {
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .expect("UTF-8 file name");
        writeln!(
            out,
            "    ({name:?}, include_str!({:?})),",
            path.display().to_string()
        )
        .expect("write to String");
    }
    out.push_str("]\n");
    let target = Path::new(&std::env::var("OUT_DIR").expect("OUT_DIR")).join("help_files.rs");
    std::fs::write(target, out).expect("write help_files.rs");
}
