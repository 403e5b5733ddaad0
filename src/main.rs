//! The `paydesk` binary: everything happens in `paydesk::cli`.

/// mimalloc instead of glibc's malloc: a request allocates and frees dozens of small strings, often
/// on different worker threads, and glibc's arena locks and chunk consolidation were a fifth of
/// the server's time under load (docs/PERFORMANCE.md, run 12). Transparent huge pages stay off
/// (`no_thp`): a huge page counts 2 MB into the resident set, whose 100 MB target was measured so.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    paydesk::cli::main()
}
