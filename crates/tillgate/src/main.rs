//! The `tillgate` binary: parses the command line and hands over to `tillgate::cli`.
fn main() -> std::process::ExitCode {
    tillgate::cli::main()
}
