//! Blocking-world helpers the whole daemon shares: locks that outlive a panic, and
//! running blocking work (file I/O, fsync, the metadata backend) from async code.
//!
//! Why locks ignore poisoning: every lock in the daemon guards state that stays valid
//! between statements (offsets, maps, counters), so a thread that panicked while holding
//! one leaves nothing half-done that a second panic would protect against. Refusing the
//! lock would instead turn one bug into a dead partition or listener.

use std::sync::{
    Condvar, Mutex, MutexGuard, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard,
    WaitTimeoutResult,
};
use std::time::Duration;

/// Lock `mutex`, taking the value of a poisoned one.
pub fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Read-lock `lock`, taking the value of a poisoned one.
pub fn read<T>(lock: &RwLock<T>) -> RwLockReadGuard<'_, T> {
    lock.read().unwrap_or_else(PoisonError::into_inner)
}

/// Write-lock `lock`, taking the value of a poisoned one.
pub fn write<T>(lock: &RwLock<T>) -> RwLockWriteGuard<'_, T> {
    lock.write().unwrap_or_else(PoisonError::into_inner)
}

/// [`Condvar::wait`] that takes the value of a poisoned lock.
pub fn wait<'a, T>(cond: &Condvar, guard: MutexGuard<'a, T>) -> MutexGuard<'a, T> {
    cond.wait(guard).unwrap_or_else(PoisonError::into_inner)
}

/// [`Condvar::wait_timeout_while`] that takes the value of a poisoned lock.
pub fn wait_timeout_while<'a, T>(
    cond: &Condvar,
    guard: MutexGuard<'a, T>,
    timeout: Duration,
    condition: impl FnMut(&mut T) -> bool,
) -> (MutexGuard<'a, T>, WaitTimeoutResult) {
    cond.wait_timeout_while(guard, timeout, condition)
        .unwrap_or_else(PoisonError::into_inner)
}

/// Why blocking work gave no value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BlockingError {
    #[error("the runtime is shutting down")]
    RuntimeShutdown,
    /// `f` panicked: a bug. It is reported rather than resumed so that one replica's or
    /// one request's bug fails that piece of work, not the task serving everything else
    /// (the SPU's reconcile loop, a connection with many streams).
    #[error("the blocking task panicked: {0}")]
    Panicked(String),
}

/// Run `f` on tokio's blocking pool, so it never stalls a runtime thread. `f` runs in the
/// caller's span, so its log lines keep the caller's fields (a replica's topic and
/// partition).
pub async fn run_blocking<T: Send + 'static>(
    f: impl FnOnce() -> T + Send + 'static,
) -> Result<T, BlockingError> {
    let span = tracing::Span::current();
    match tokio::task::spawn_blocking(move || span.in_scope(f)).await {
        Ok(value) => Ok(value),
        Err(err) if err.is_panic() => {
            let payload = err.into_panic();
            let message = payload
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "a panic without a message".to_string());
            Err(BlockingError::Panicked(message))
        }
        Err(_) => Err(BlockingError::RuntimeShutdown),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_panic_in_blocking_work_is_an_error_with_its_message() {
        assert_eq!(run_blocking(|| 7).await, Ok(7));
        let failed = run_blocking(|| -> u8 { panic!("bad offset {}", 3) }).await;
        assert_eq!(failed, Err(BlockingError::Panicked("bad offset 3".into())));
        let failed = run_blocking(|| -> u8 { panic!("static message") }).await;
        assert_eq!(
            failed,
            Err(BlockingError::Panicked("static message".into()))
        );
    }
}
