//! CPU-heavy request work (OpenQASM import and export, document reads and stats, job
//! snapshots) runs here, never on the actix workers: on the blocking pool, at most
//! `QOLLAB_HEAVY_CONCURRENCY` at once, each within `QOLLAB_HEAVY_TIMEOUT_SECS`
//! (waiting for a slot included). A request that waits too long for a slot gets 503
//! with `Retry-After`; one whose work outlives the deadline gets 503 and its work is
//! told to stop (the cancel flag, for engine calls that take one). The slot is held
//! until the work really ends, so the bound holds even for work that cannot be
//! interrupted.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use qollab_shared::error::ErrorCode;
use tokio::sync::Semaphore;

use crate::error::{ApiError, ApiResult};

#[derive(Clone)]
pub struct Heavy {
    slots: Arc<Semaphore>,
    deadline: Duration,
}

/// Sets the cancel flag when the request goes away (deadline, client gone, shutdown).
struct CancelOnDrop(Arc<AtomicBool>);

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

impl Heavy {
    pub fn new(concurrency: usize, deadline: Duration) -> Heavy {
        Heavy {
            slots: Arc::new(Semaphore::new(concurrency.max(1))),
            deadline,
        }
    }

    pub fn deadline(&self) -> Duration {
        self.deadline
    }

    /// Runs `f` on the blocking pool within the deadline. `what` names the work in
    /// errors ("importing OpenQASM"). `f` gets a cancel flag that is set when its result
    /// is no longer wanted.
    pub async fn run<T, F>(&self, what: &str, f: F) -> ApiResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&AtomicBool) -> ApiResult<T> + Send + 'static,
    {
        let started = Instant::now();
        let secs = self.deadline.as_secs_f64();
        let permit = match tokio::time::timeout(self.deadline, self.slots.clone().acquire_owned())
            .await
        {
            Ok(Ok(p)) => p,
            Ok(Err(_)) => return Err(ApiError::internal()),
            Err(_) => {
                metrics::counter!("qollab_heavy_rejected_total", "reason" => "busy").increment(1);
                return Err(ApiError {
                    retry_after: Some(1),
                    ..ApiError::new(
                        ErrorCode::Unavailable,
                        format!(
                            "the server is busy with other heavy requests; {what} did not start within {secs} s, try again"
                        ),
                    )
                });
            }
        };
        let cancel = Arc::new(AtomicBool::new(false));
        let guard = CancelOnDrop(cancel.clone());
        let task = tokio::task::spawn_blocking(move || {
            let _slot = permit;
            f(&cancel)
        });
        let left = self.deadline.saturating_sub(started.elapsed());
        let out = match tokio::time::timeout(left, task).await {
            Ok(Ok(r)) => r,
            Ok(Err(e)) => {
                tracing::error!(error = %e, what, "heavy request work panicked");
                Err(ApiError::internal())
            }
            Err(_) => {
                metrics::counter!("qollab_heavy_rejected_total", "reason" => "deadline")
                    .increment(1);
                tracing::warn!(
                    what,
                    deadline_secs = secs,
                    "heavy request work stopped at its deadline"
                );
                Err(ApiError::new(
                    ErrorCode::Unavailable,
                    format!(
                        "{what} took longer than {secs} s and was stopped; try a smaller circuit"
                    ),
                ))
            }
        };
        drop(guard);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn work_past_its_deadline_is_stopped_and_slots_stay_bounded() {
        let heavy = Heavy::new(1, Duration::from_millis(300));
        let saw_cancel = Arc::new(AtomicBool::new(false));
        let seen = saw_cancel.clone();
        let h = heavy.clone();
        // Work that ignores its cancel flag for 800 ms (like an uninterruptible parse).
        let first = tokio::spawn(async move {
            h.run("spinning", move |cancel| {
                std::thread::sleep(Duration::from_millis(800));
                seen.store(cancel.load(Ordering::Relaxed), Ordering::Relaxed);
                Ok(())
            })
            .await
        });
        tokio::time::sleep(Duration::from_millis(50)).await;
        let started = Instant::now();
        let second = heavy.run("waiting", |_| Ok(2)).await;
        let e = second.err().unwrap_or_else(|| panic!("the slot was free"));
        assert_eq!(e.code, ErrorCode::Unavailable);
        assert_eq!(e.retry_after, Some(1), "{e}");
        assert!(started.elapsed() < Duration::from_millis(600));
        let e = first
            .await
            .unwrap_or_else(|e| panic!("{e}"))
            .err()
            .unwrap_or_else(|| panic!("ran past its deadline"));
        assert_eq!(e.code, ErrorCode::Unavailable);
        assert!(e.message.contains("took longer"), "{e}");
        // The slot frees when the work really ends; then work runs again.
        tokio::time::sleep(Duration::from_millis(700)).await;
        assert!(
            saw_cancel.load(Ordering::Relaxed),
            "the work was told to stop"
        );
        assert_eq!(heavy.run("again", |_| Ok(3)).await.ok(), Some(3));
    }
}
