//! Python objects to and from JSON text: event payloads and configurations in, reports out.
//!
//! Everything crosses as JSON, through Python's `json` module on one side and serde_json on the
//! other. So an event given as a dict is checked exactly like the same event as text (size,
//! nesting, shape), and a report is exactly the JSON the CLI prints, with its field order.

use pyo3::exceptions::{PyRecursionError, PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyByteArray, PyBytes, PyString};
use serde::Serialize;

/// Python's `json.dumps` and `json.loads`, imported once.
struct Json {
    dumps: Py<PyAny>,
    loads: Py<PyAny>,
}

fn json(py: Python<'_>) -> PyResult<&Json> {
    static JSON: PyOnceLock<Json> = PyOnceLock::new();
    JSON.get_or_try_init(py, || {
        let module = py.import("json")?;
        Ok(Json { dumps: module.getattr("dumps")?.unbind(), loads: module.getattr("loads")?.unbind() })
    })
}

/// Why a Python object is not JSON text and could not be made into it.
pub enum NotJson {
    /// Not JSON-like: a type `json.dumps` refuses, a circular reference, or nesting too deep.
    Unserializable(String),
    /// Any other Python error (raised as it is).
    Python(PyErr),
}

/// `object` as JSON text: `str`, `bytes` and `bytearray` are JSON text already; anything else
/// (a dict as Lambda passes an event, a list, ...) goes through `json.dumps`.
pub fn json_text(object: &Bound<'_, PyAny>) -> Result<Vec<u8>, NotJson> {
    let py = object.py();
    if let Ok(text) = object.cast::<PyString>() {
        return utf8(text);
    }
    if let Ok(bytes) = object.cast::<PyBytes>() {
        return Ok(bytes.as_bytes().to_vec());
    }
    if let Ok(bytes) = object.cast::<PyByteArray>() {
        return Ok(bytes.to_vec());
    }
    let dumps = json(py).map_err(NotJson::Python)?.dumps.bind(py);
    match dumps.call1((object,)) {
        Ok(text) => utf8(text.cast::<PyString>().map_err(|error| NotJson::Python(error.into()))?),
        Err(error)
            if error.is_instance_of::<PyTypeError>(py)
                || error.is_instance_of::<PyValueError>(py)
                || error.is_instance_of::<PyRecursionError>(py) =>
        {
            Err(NotJson::Unserializable(error.to_string()))
        }
        Err(error) => Err(NotJson::Python(error)),
    }
}

/// A Python string's UTF-8 bytes (an unpaired surrogate is a `UnicodeEncodeError`).
fn utf8(text: &Bound<'_, PyString>) -> Result<Vec<u8>, NotJson> {
    text.to_cow().map(|text| text.as_bytes().to_vec()).map_err(NotJson::Python)
}

/// `value` as Python objects, exactly as the CLI prints it: serialised to JSON by serde_json
/// and read back by `json.loads` (objects become dicts in field order, arrays lists).
pub fn to_python<T: Serialize>(py: Python<'_>, value: &T) -> PyResult<Py<PyAny>> {
    let text = serde_json::to_string(value).map_err(|error| crate::errors::amikeeper_error(py, error))?;
    Ok(json(py)?.loads.bind(py).call1((text,))?.unbind())
}
