//! The `agenttrail` binary: parse, set up logging and the runtime, run, exit.

use std::process::ExitCode;

use clap::Parser;

use agenttrail::cli::Cli;
use agenttrail::exit::ExitStatus;

/// mimalloc instead of glibc's malloc: many threads (tokio, rayon, DataFusion) allocate and free
/// large Arrow buffers, and glibc's per-thread arenas kept freed memory mapped (ingest of 1M events
/// peaked at 2.4 GiB RSS with glibc); it is also faster for the many small strings of decoding.
/// Built without transparent huge pages (`no_thp`): where THP is `madvise`, mimalloc's huge
/// pages had the kernel zero 2 MiB at each first touch (60% of a query context's samples in
/// `clear_page_erms`) and raised peak RSS by a quarter (BENCHMARKS.md, run F).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = Cli::parse();
    agenttrail::logging::init(cli.global.verbose, cli.global.quiet, cli.global.log_format);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("agenttrail: cannot start the runtime: {e}");
            return ExitStatus::Error.into();
        }
    };
    match runtime.block_on(agenttrail::commands::run(cli)) {
        Ok(status) => status.into(),
        Err(err) => {
            let broken_pipe = err.chain().any(|c| {
                c.downcast_ref::<std::io::Error>()
                    .is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe)
            });
            if broken_pipe {
                return ExitStatus::Success.into();
            }
            // DataFusion errors repeat their message down the chain; print each cause once.
            let msg = agenttrail::source::error_chain(err.as_ref());
            agenttrail::logging::fatal(&agenttrail::render::escape_control(&msg));
            ExitStatus::Error.into()
        }
    }
}
