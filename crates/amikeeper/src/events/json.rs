//! Reading JSON payloads: the dotted-path walker [`At`] that makes every error name its event and
//! field, the quoting of received strings in messages, and the depth and size limits.

use time::OffsetDateTime;

use super::ids::IdKind;
use super::EventError;
use crate::model::{AccountId, ImageId, Region};

/// How many characters of a received string an error message quotes.
const QUOTE_CHARS: usize = 80;

pub(super) struct At<'e> {
    event: &'e str,
}

impl<'e> At<'e> {
    pub(super) fn new(event: &'e str) -> Self {
        Self { event }
    }

    pub(super) fn bad(&self, field: &str, problem: impl Into<String>) -> EventError {
        EventError::BadField { event: self.event.into(), field: display_path(field), problem: problem.into() }
    }

    /// The value at a dotted path (numeric parts index arrays). Missing or `null` is `None`;
    /// a step through something that is not an object (or array) is an error.
    pub(super) fn lookup<'v>(
        &self,
        root: &'v serde_json::Value,
        path: &str,
    ) -> Result<Option<&'v serde_json::Value>, EventError> {
        let mut current = root;
        let mut walked = 0;
        for part in path.split('.') {
            let next = match current {
                serde_json::Value::Object(object) => object.get(part),
                serde_json::Value::Array(items) => match part.parse::<usize>() {
                    Ok(index) => items.get(index),
                    Err(_) => return Err(self.not_object(path, walked, current)),
                },
                serde_json::Value::Null => return Ok(None),
                other => return Err(self.not_object(path, walked, other)),
            };
            match next {
                None | Some(serde_json::Value::Null) => return Ok(None),
                Some(value) => current = value,
            }
            walked += part.len() + 1;
        }
        Ok(Some(current))
    }

    fn not_object(&self, path: &str, walked: usize, value: &serde_json::Value) -> EventError {
        let parent = path[..walked.saturating_sub(1)].to_string();
        self.bad(&parent, format!("must be an object, received {}", json_type(value)))
    }

    /// A string field; missing, `null` or empty is `None`.
    pub(super) fn opt_str<'v>(&self, root: &'v serde_json::Value, path: &str) -> Result<Option<&'v str>, EventError> {
        match self.lookup(root, path)? {
            None => Ok(None),
            Some(serde_json::Value::String(s)) if s.is_empty() => Ok(None),
            Some(serde_json::Value::String(s)) => Ok(Some(s)),
            Some(other) => Err(self.bad(path, format!("must be a string, received {}", json_type(other)))),
        }
    }

    pub(super) fn req_str<'v>(&self, root: &'v serde_json::Value, path: &str) -> Result<&'v str, EventError> {
        match self.lookup(root, path)? {
            None => Err(self.bad(path, "is missing")),
            Some(serde_json::Value::String(s)) if s.is_empty() => Err(self.bad(path, "is empty")),
            Some(serde_json::Value::String(s)) => Ok(s),
            Some(other) => Err(self.bad(path, format!("must be a string, received {}", json_type(other)))),
        }
    }

    /// An optional free-text field, kept as is (at most 1024 characters).
    pub(super) fn opt_string(&self, root: &serde_json::Value, path: &str) -> Result<Option<String>, EventError> {
        self.opt_str(root, path)?.map(|s| self.bounded(path, s, 1024)).transpose()
    }

    pub(super) fn opt_obj<'v>(
        &self,
        root: &'v serde_json::Value,
        path: &str,
    ) -> Result<Option<&'v serde_json::Map<String, serde_json::Value>>, EventError> {
        match self.lookup(root, path)? {
            None => Ok(None),
            Some(serde_json::Value::Object(object)) => Ok(Some(object)),
            Some(other) => Err(self.bad(path, format!("must be an object, received {}", json_type(other)))),
        }
    }

    pub(super) fn req_obj<'v>(
        &self,
        root: &'v serde_json::Value,
        path: &str,
    ) -> Result<&'v serde_json::Map<String, serde_json::Value>, EventError> {
        self.opt_obj(root, path)?.ok_or_else(|| self.bad(path, "is missing"))
    }

    /// A string of at most `max` characters.
    pub(super) fn bounded(&self, path: &str, value: &str, max: usize) -> Result<String, EventError> {
        let chars = value.chars().count();
        if chars > max {
            return Err(self.bad(path, format!("is too long: received {chars} characters, at most {max} allowed")));
        }
        Ok(value.to_string())
    }

    pub(super) fn id(&self, path: &str, value: &str, kind: IdKind) -> Result<String, EventError> {
        if !kind.is_valid(value) {
            return Err(self.bad(
                path,
                format!(
                    "must be {} (`{}` and 8 or 17 lowercase hex digits), received `{}`",
                    kind.noun(),
                    kind.prefix(),
                    quote(value)
                ),
            ));
        }
        Ok(value.to_string())
    }

    pub(super) fn image_id(&self, path: &str, value: &str) -> Result<ImageId, EventError> {
        self.id(path, value, IdKind::Image).map(ImageId::from)
    }

    pub(super) fn region(&self, path: &str, value: &str) -> Result<Region, EventError> {
        value
            .parse()
            .map_err(|_| self.bad(path, format!("must be a region such as `us-east-1`, received `{}`", quote(value))))
    }

    pub(super) fn account(&self, path: &str, value: &str) -> Result<AccountId, EventError> {
        value.parse().map_err(|_| self.bad(path, format!("must be a 12-digit account id, received `{}`", quote(value))))
    }

    pub(super) fn time(&self, path: &str, value: &str) -> Result<OffsetDateTime, EventError> {
        OffsetDateTime::parse(value, &time::format_description::well_known::Rfc3339)
            .map_err(|_| self.bad(path, format!("must be an RFC 3339 time, received `{}`", quote(value))))
    }

    pub(super) fn event_id(&self, path: &str, value: &str) -> Result<String, EventError> {
        if value.chars().any(char::is_control) {
            return Err(self.bad(path, "must not contain control characters"));
        }
        self.bounded(path, value, 256)
    }
}

/// `detail.snapshots.0.source` as `detail.snapshots[0].source`.
fn display_path(path: &str) -> String {
    let mut out = String::with_capacity(path.len() + 2);
    for (i, part) in path.split('.').enumerate() {
        if !part.is_empty() && part.bytes().all(|b| b.is_ascii_digit()) {
            out.push('[');
            out.push_str(part);
            out.push(']');
        } else {
            if i > 0 {
                out.push('.');
            }
            out.push_str(part);
        }
    }
    out
}

/// A received string made safe to quote: at most [`QUOTE_CHARS`] characters, no control
/// characters.
pub(crate) fn quote(value: &str) -> String {
    let mut out = String::new();
    for (i, c) in value.chars().enumerate() {
        if i == QUOTE_CHARS {
            out.push('…');
            break;
        }
        out.push(if c.is_control() { '?' } else { c });
    }
    out
}

/// `null`, `a string`, ... for messages.
pub(super) fn json_type(value: &serde_json::Value) -> &'static str {
    match value {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "a boolean",
        serde_json::Value::Number(_) => "a number",
        serde_json::Value::String(_) => "a string",
        serde_json::Value::Array(_) => "an array",
        serde_json::Value::Object(_) => "an object",
    }
}

/// `null`, `string`, ... after "a JSON".
pub(super) fn json_type_noun(value: &serde_json::Value) -> &'static str {
    match value {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "boolean",
        serde_json::Value::Number(_) => "number",
        serde_json::Value::String(_) => "string",
        serde_json::Value::Array(_) => "array",
        serde_json::Value::Object(_) => "object",
    }
}

/// The first few keys of an object, quoted, for messages about unknown shapes.
pub(super) fn describe_keys(object: &serde_json::Map<String, serde_json::Value>) -> String {
    if object.is_empty() {
        return "no keys".into();
    }
    let mut keys: Vec<String> = object.keys().take(6).map(|k| format!("`{}`", quote_short(k))).collect();
    if object.len() > 6 {
        keys.push(format!("and {} more", object.len() - 6));
    }
    format!("keys {}", keys.join(", "))
}

fn quote_short(value: &str) -> String {
    let quoted = quote(value);
    if quoted.chars().count() > 32 {
        let mut cut: String = quoted.chars().take(32).collect();
        cut.push('…');
        cut
    } else {
        quoted
    }
}

/// Fails when arrays and objects in `bytes` nest deeper than `limit`.
///
/// A linear scan that skips strings; it runs before deserialising, so no recursion ever goes
/// deeper than the limit. On malformed JSON it may miscount, and the parser then reports it.
pub(super) fn check_depth(bytes: &[u8], limit: usize) -> Result<(), EventError> {
    let mut depth = 0usize;
    let mut in_string = false;
    let mut escaped = false;
    for &b in bytes {
        if in_string {
            if escaped {
                escaped = false;
            } else if b == b'\\' {
                escaped = true;
            } else if b == b'"' {
                in_string = false;
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'[' | b'{' => {
                depth += 1;
                if depth > limit {
                    return Err(EventError::TooDeep { limit });
                }
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    Ok(())
}

/// Whether arrays and objects in `value` nest deeper than `limit` (iterative: no recursion).
pub(super) fn value_depth_exceeds(value: &serde_json::Value, limit: usize) -> bool {
    let mut stack = vec![(value, 1usize)];
    while let Some((value, depth)) = stack.pop() {
        let children: Box<dyn Iterator<Item = &serde_json::Value>> = match value {
            serde_json::Value::Array(items) => Box::new(items.iter()),
            serde_json::Value::Object(object) => Box::new(object.values()),
            _ => continue,
        };
        if depth > limit {
            return true;
        }
        stack.extend(children.map(|child| (child, depth + 1)));
    }
    false
}

/// The size of `value`'s compact JSON form.
pub(super) fn json_size(value: &serde_json::Value) -> usize {
    struct Counter(usize);
    impl std::io::Write for Counter {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0 += buf.len();
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut counter = Counter(0);
    // Writing a `Value` to a writer that never fails cannot fail.
    let _ = serde_json::to_writer(&mut counter, value);
    counter.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn depth_scan_counts_only_structure_outside_strings() {
        assert!(check_depth(b"[[[]]]", 3).is_ok());
        assert_eq!(check_depth(b"[[[[]]]]", 3), Err(EventError::TooDeep { limit: 3 }));
        assert!(check_depth(br#"{"a": "[[[[[[{{{{", "b": "\"[[[[["}"#, 1).is_ok());
        assert!(check_depth(br#"["\\", [[]]]"#, 3).is_ok());
        assert!(check_depth(br#"["\\", [[[]]]]"#, 3).is_err());
        // Unbalanced closers never underflow.
        assert!(check_depth(b"]]]]}}}[", 1).is_ok());
    }

    #[test]
    fn value_depth_matches_the_byte_scan() {
        let value: serde_json::Value = serde_json::from_str(r#"{"a": [{"b": [1]}], "c": "[[[["}"#).unwrap();
        assert!(!value_depth_exceeds(&value, 4));
        assert!(value_depth_exceeds(&value, 3));
        assert!(check_depth(value.to_string().as_bytes(), 4).is_ok());
        assert!(check_depth(value.to_string().as_bytes(), 3).is_err());
        assert!(!value_depth_exceeds(&serde_json::json!("scalar"), 0));
    }

    #[test]
    fn quoting_cuts_long_strings_and_control_characters() {
        assert_eq!(quote("short"), "short");
        assert_eq!(quote("a\nb\u{0}c"), "a?b?c");
        let long = "é".repeat(200);
        let quoted = quote(&long);
        assert_eq!(quoted.chars().count(), QUOTE_CHARS + 1);
        assert!(quoted.ends_with('…'));
        assert_eq!(display_path("detail.snapshots.0.source"), "detail.snapshots[0].source");
        assert_eq!(display_path("Records"), "Records");
    }

    #[test]
    fn lookup_reports_the_field_that_is_not_an_object() {
        let at = At::new("test");
        let value = serde_json::json!({"detail": "text", "n": null, "list": [{"x": "y"}]});
        let error = at.lookup(&value, "detail.requestParameters.instanceId").unwrap_err();
        assert_eq!(
            error,
            EventError::BadField {
                event: "test".into(),
                field: "detail".into(),
                problem: "must be an object, received a string".into()
            }
        );
        assert_eq!(at.lookup(&value, "n.deeper").unwrap(), None);
        assert_eq!(at.lookup(&value, "missing.deeper").unwrap(), None);
        assert_eq!(at.opt_str(&value, "list.0.x").unwrap(), Some("y"));
        assert!(at.lookup(&value, "list.key").is_err());
    }

    #[test]
    fn json_size_is_the_compact_length() {
        let value = serde_json::json!({"a": [1, 2], "b": "c"});
        assert_eq!(json_size(&value), value.to_string().len());
    }
}
