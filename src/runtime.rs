//! Where work runs: CPU-heavy work on rayon, I/O on tokio.
//!
//! Decompression, JSON parsing and Arrow building must never run on a tokio worker (they would
//! stall every in-flight GET). `spawn_cpu` hands a closure to rayon and awaits its result; a panic
//! inside it is caught and returned as an error, so one poisoned object cannot stop the run.

use std::panic::{AssertUnwindSafe, catch_unwind};

/// Run `f` on the rayon pool and await its result; `Err` carries a panic's message.
pub async fn spawn_cpu<F, R>(f: F) -> Result<R, String>
where
    F: FnOnce() -> R + Send + 'static,
    R: Send + 'static,
{
    let (tx, rx) = tokio::sync::oneshot::channel();
    rayon::spawn(move || {
        let result = catch_unwind(AssertUnwindSafe(f)).map_err(|p| {
            p.downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| p.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "panic".to_string())
        });
        // The receiver is gone only if the caller was cancelled; nothing to report then.
        let _ = tx.send(result);
    });
    rx.await
        .map_err(|_| "the CPU task was dropped".to_string())?
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn results_and_panics_come_back() {
        assert_eq!(spawn_cpu(|| 2 + 2).await, Ok(4));
        let err = spawn_cpu(|| -> u8 { panic!("boom") }).await.unwrap_err();
        assert_eq!(err, "boom");
    }
}
