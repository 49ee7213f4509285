//! The `tillgate` binary: parses the command line and hands over to `tillgate::cli`.

/// mimalloc: the request path allocates many small JSON values, where it is measurably faster
/// than the system allocator (BENCHMARKS.md, payments).
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    tillgate::cli::main()
}
