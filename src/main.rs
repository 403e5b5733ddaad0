//! The `paydesk` binary: everything happens in `paydesk::cli`.

fn main() -> std::process::ExitCode {
    paydesk::cli::main()
}
