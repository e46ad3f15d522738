//! Rust errors to the Python exceptions of `amikeeper._errors`: one class per kind of failure.
//!
//! | Rust | Python |
//! | --- | --- |
//! | [`EventError`], a payload that is not JSON-like | `EventError` |
//! | [`ConfigError`], a configuration that is not JSON-like, no region to sweep or roll back in | `ConfigError` |
//! | [`AwsError`] | `AwsError` (with `service`, `operation`, `code`, `kind`) |
//! | [`amikeeper::Error::NotFound`], anything else | `AmikeeperError` |
//!
//! The classes are plain Python (`py_src/amikeeper/_errors.py`), so they take keyword
//! attributes and pickle like any exception; this module looks each up once.

use std::fmt::Display;

use amikeeper::config::ConfigError;
use amikeeper::events::EventError;
use amikeeper::AwsError;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyDict, PyType};

/// The Python module that defines the exception classes.
const ERRORS_MODULE: &str = "amikeeper._errors";

/// One of the exception classes of `amikeeper._errors`.
#[derive(Debug, Clone, Copy)]
enum Class {
    Amikeeper,
    Event,
    Config,
    Aws,
}

impl Class {
    fn name(self) -> &'static str {
        match self {
            Self::Amikeeper => "AmikeeperError",
            Self::Event => "EventError",
            Self::Config => "ConfigError",
            Self::Aws => "AwsError",
        }
    }

    /// The class object, imported on first use.
    fn get(self, py: Python<'_>) -> PyResult<&Bound<'_, PyType>> {
        static CLASSES: [PyOnceLock<Py<PyType>>; 4] =
            [PyOnceLock::new(), PyOnceLock::new(), PyOnceLock::new(), PyOnceLock::new()];
        let class = CLASSES[self as usize].get_or_try_init(py, || {
            py.import(ERRORS_MODULE)?
                .getattr(self.name())?
                .cast_into::<PyType>()
                .map(Bound::unbind)
                .map_err(PyErr::from)
        })?;
        Ok(class.bind(py))
    }

    /// An instance with `message`, or the error of making one.
    fn error(self, py: Python<'_>, message: impl Display) -> PyErr {
        match self.get(py) {
            Ok(class) => PyErr::from_type(class.clone(), message.to_string()),
            Err(error) => error,
        }
    }
}

/// `AmikeeperError(message)`: a failure that is neither bad input nor a failed AWS call.
pub fn amikeeper_error(py: Python<'_>, message: impl Display) -> PyErr {
    Class::Amikeeper.error(py, message)
}

/// `EventError`: the payload is malformed or of a kind amikeeper does not handle.
pub fn event_error(py: Python<'_>, error: EventError) -> PyErr {
    Class::Event.error(py, error)
}

/// `EventError` with a message of the binding's own (an object that is not JSON-like, a batch
/// where one event was expected).
pub fn event_error_message(py: Python<'_>, message: impl Display) -> PyErr {
    Class::Event.error(py, message)
}

/// `ConfigError`: the configuration is malformed or inconsistent.
pub fn config_error(py: Python<'_>, error: ConfigError) -> PyErr {
    Class::Config.error(py, error)
}

/// `ConfigError` with a message of the binding's own (no region, a configuration that is not
/// JSON-like).
pub fn config_error_message(py: Python<'_>, message: impl Display) -> PyErr {
    Class::Config.error(py, message)
}

/// `AwsError(message, service=, operation=, code=, kind=)`.
pub fn aws_error(py: Python<'_>, error: &AwsError) -> PyErr {
    let made = (|| {
        let class = Class::Aws.get(py)?;
        let kwargs = PyDict::new(py);
        kwargs.set_item("service", &error.service)?;
        kwargs.set_item("operation", &error.operation)?;
        kwargs.set_item("code", &error.code)?;
        kwargs.set_item("kind", kind_name(error))?;
        class.call((error.to_string(),), Some(&kwargs))
    })();
    match made {
        Ok(instance) => PyErr::from_value(instance),
        Err(error) => error,
    }
}

/// The error's kind as the JSON reports spell it: `throttling`, `server`, `timeout`,
/// `not_found` or `client`.
fn kind_name(error: &AwsError) -> String {
    serde_json::to_value(error.kind).ok().and_then(|kind| kind.as_str().map(str::to_owned)).unwrap_or_default()
}

/// The Python exception for a core [`amikeeper::Error`].
pub fn from_core(py: Python<'_>, error: amikeeper::Error) -> PyErr {
    match error {
        amikeeper::Error::Event(error) => event_error(py, error),
        amikeeper::Error::Config(error) => config_error(py, error),
        amikeeper::Error::Aws(error) => aws_error(py, &error),
        other => amikeeper_error(py, other),
    }
}
