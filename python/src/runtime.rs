//! The process-wide async runtime that AWS work runs on, and Rust's logs in Python's `logging`.

use std::future::Future;
use std::sync::OnceLock;

use pyo3::prelude::*;
use tokio::runtime::Runtime;

/// One runtime per process, made on first use and reused by every `Keeper` and every call (on
/// Lambda: across invocations, with the SDK clients' connections). A current-thread runtime,
/// like the CLI's: a call blocks its Python thread anyway, and a cold start makes no worker
/// threads. Python threads may still call at once: each drives the runtime in turn.
static RUNTIME: OnceLock<Runtime> = OnceLock::new();

fn runtime(py: Python<'_>) -> PyResult<&'static Runtime> {
    if let Some(runtime) = RUNTIME.get() {
        return Ok(runtime);
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|error| crate::errors::amikeeper_error(py, format!("cannot start the async runtime: {error}")))?;
    // Another thread may have made one meanwhile; then this one is dropped and that one used.
    Ok(RUNTIME.get_or_init(|| runtime))
}

/// Runs the future `make` makes to completion on the process's runtime, with the GIL released
/// so that other Python threads run meanwhile. Log levels are read afresh from Python's
/// `logging` first. The future is made on the thread that runs it, so it need not be `Send`.
pub fn block_on<M, F>(py: Python<'_>, make: M) -> PyResult<F::Output>
where
    M: FnOnce() -> F + Send,
    F: Future,
    F::Output: Send,
{
    let runtime = runtime(py)?;
    if let Some(logging) = LOGGING.get() {
        logging.reset();
    }
    Ok(py.detach(|| runtime.block_on(make())))
}

/// The cache of Python loggers and their levels that Rust's log records are checked against.
static LOGGING: OnceLock<pyo3_log::ResetHandle> = OnceLock::new();

/// Sends Rust's log records to Python's `logging`, under the Rust target's name with `::` as
/// `.`: `amikeeper.keeper`, `amikeeper_aws.client`, `aws_smithy_runtime...`. tracing's events
/// become `log` records because no tracing subscriber is set in the extension module.
///
/// Which levels are on is cached, so that records nobody wants cost no GIL; [`block_on`]
/// clears the cache at each call, so a level changed between calls takes effect.
pub fn install_logging(py: Python<'_>) -> PyResult<()> {
    let logger = pyo3_log::Logger::new(py, pyo3_log::Caching::LoggersAndLevels)?;
    // Only fails when a logger is already installed: this module was initialised before in
    // this process (another interpreter), and that logger goes on working.
    if let Ok(handle) = logger.install() {
        let _ = LOGGING.set(handle);
    }
    Ok(())
}
