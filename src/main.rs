//! The `agenttrail` binary: parse, set up logging and the runtime, run, exit.

use std::process::ExitCode;

use clap::Parser;

use agenttrail::cli::Cli;
use agenttrail::exit::ExitStatus;

/// jemalloc instead of the system's malloc: many threads (tokio, rayon, DataFusion) allocate and
/// free large Arrow buffers, and returning that memory is what decides peak RSS. Measured on the
/// same code and files (BENCHMARKS.md, run I), `detect` over 5M events with a 0.94 GB peak heap
/// peaked at 1.7–2.4 GiB of RSS with mimalloc (one run spent 12.7 s in the kernel), 1.06–1.14
/// GiB with glibc and 0.96–0.97 GiB with jemalloc as set here; ingest of 1M events at 1.03–1.13,
/// 1.24–1.34 and 0.83–0.84 GiB; times within noise. Freed pages go back to the system after a
/// second (`dirty_decay_ms`, purged by jemalloc's background threads) instead of ten, and are not
/// kept as "muzzy" pages; `_RJEM_MALLOC_CONF` overrides these at run time.
#[cfg(not(target_env = "msvc"))]
#[global_allocator]
static GLOBAL: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// jemalloc's options, read at its start (see above).
#[cfg(not(target_env = "msvc"))]
#[allow(non_upper_case_globals)]
#[unsafe(export_name = "_rjem_malloc_conf")]
pub static malloc_conf: &[u8; 37] = b"dirty_decay_ms:1000,muzzy_decay_ms:0\0";

/// How long `ingest` keeps freed pages: jemalloc's default, ten seconds. Ingest frees and
/// allocates buffers of the same sizes for every object and every commit, so with a one-second
/// decay the kernel zeroed the same memory again and again: on 1M events, 8% more CPU (user +
/// system, three alternating pairs) for 2–5% less peak RSS. The other commands build big tables
/// once and keep the one second. Not when `_RJEM_MALLOC_CONF` is set (it decides).
#[cfg(not(target_env = "msvc"))]
fn keep_freed_pages_for_ingest(cli: &Cli) {
    if !matches!(cli.command, agenttrail::cli::Command::Ingest(_))
        || std::env::var_os("_RJEM_MALLOC_CONF").is_some()
    {
        return;
    }
    // The default of arenas made from now on (one per thread as threads start), and the arena
    // the main thread has used so far. Best effort: on failure the one second stays.
    for name in [c"arenas.dirty_decay_ms", c"arena.0.dirty_decay_ms"] {
        let mut ms: isize = 10_000;
        // SAFETY: both names take a `ssize_t`, passed by pointer with its size; nothing is read.
        unsafe {
            tikv_jemalloc_sys::mallctl(
                name.as_ptr(),
                std::ptr::null_mut(),
                std::ptr::null_mut(),
                (&raw mut ms).cast(),
                std::mem::size_of::<isize>(),
            );
        }
    }
}

/// Whether `ingest`'s threads share one jemalloc arena (see [`one_arena`]).
#[cfg(not(target_env = "msvc"))]
fn one_arena_for(cli: &Cli) -> bool {
    matches!(cli.command, agenttrail::cli::Command::Ingest(_))
        && std::env::var_os("_RJEM_MALLOC_CONF").is_none()
}

/// Make the calling thread allocate from jemalloc's first arena.
///
/// Why, for `ingest`: its objects are decoded on rayon's threads and their batches freed by the
/// encoder task on tokio's, so with an arena per thread (jemalloc's default, four per core) each
/// arena kept the pages its own threads had freed, and peak RSS was the sum of those pools, about
/// 2.5 times the live heap (133 MB at its peak on 1M events). One arena: 275–283 MiB of RSS
/// against 334–343 MiB, in the same or less time (BENCHMARKS.md, run R). The other commands,
/// whose DataFusion threads allocate at once, keep an arena per thread. Best effort.
#[cfg(not(target_env = "msvc"))]
fn one_arena() {
    let mut arena: u32 = 0;
    // SAFETY: `thread.arena` takes an `unsigned`, passed by pointer with its size; nothing is read.
    unsafe {
        tikv_jemalloc_sys::mallctl(
            c"thread.arena".as_ptr(),
            std::ptr::null_mut(),
            std::ptr::null_mut(),
            (&raw mut arena).cast(),
            std::mem::size_of::<u32>(),
        );
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    #[cfg(not(target_env = "msvc"))]
    keep_freed_pages_for_ingest(&cli);
    agenttrail::logging::init(cli.global.verbose, cli.global.quiet, cli.global.log_format);
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    #[cfg(not(target_env = "msvc"))]
    if one_arena_for(&cli) {
        one_arena();
        builder.on_thread_start(one_arena);
        // rayon's pool (the decoders) starts on first use; start it with the same setting.
        let _ = rayon::ThreadPoolBuilder::new()
            .start_handler(|_| one_arena())
            .build_global();
    }
    let runtime = match builder.enable_all().build() {
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
