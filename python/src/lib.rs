//! `amikeeper._amikeeper`: the native module of the `amikeeper` Python package.
//!
//! A thin layer, in the manner of tokenizers' Python bindings: all the logic is in the
//! `amikeeper` crate and the AWS SDK backend (`amikeeper-aws`); this crate converts arguments
//! and results (through JSON, so a report is exactly what the CLI prints), releases the GIL
//! while AWS work runs on one process-wide async runtime, and maps each Rust error to one
//! Python exception class. Rust's logs go to Python's `logging` through pyo3-log.
//!
//! The pure-Python half of the package (`py_src/amikeeper`) re-exports this module, defines the
//! exception classes and adds `lambda_handler`; `_amikeeper.pyi` is this module's stub.
#![deny(missing_docs)]

mod convert;
mod errors;
mod keeper;
mod runtime;

use pyo3::prelude::*;

/// The native half of the `amikeeper` package: `Keeper`, `parse_event`, `parse_events`.
#[pymodule]
mod _amikeeper {
    use pyo3::prelude::*;

    use crate::convert::to_python;
    use crate::keeper::{only_one, parse_events as parse};

    #[pymodule_export]
    use crate::keeper::PyKeeper;

    /// Adds `__version__` (the version of the crates this module was built from), and sends
    /// Rust's log records to Python's `logging`.
    #[pymodule_init]
    fn init(module: &Bound<'_, PyModule>) -> PyResult<()> {
        module.add("__version__", env!("CARGO_PKG_VERSION"))?;
        crate::runtime::install_logging(module.py())
    }

    /// The one event of a payload, normalised, as a dict (what `amikeeper parse` prints).
    ///
    /// `event` is a dict (as Lambda passes it), or JSON as `str` or `bytes`. A payload carrying
    /// several events (an SQS or SNS batch) is an `EventError`: use `parse_events`.
    #[pyfunction]
    fn parse_event(py: Python<'_>, event: &Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
        let event = only_one(py, parse(py, event)?, "parse_events")?;
        to_python(py, &event)
    }

    /// Every event of a payload (one, or each record of an SQS or SNS batch), normalised, as a
    /// list of dicts.
    #[pyfunction]
    fn parse_events(py: Python<'_>, event: &Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
        to_python(py, &parse(py, event)?)
    }
}
