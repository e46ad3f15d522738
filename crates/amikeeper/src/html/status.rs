//! The status page's view: every pointer by account and region, with its findings.
//!
//! Read from the status report's JSON (`amikeeper status --format json`), so that any value
//! that serializes to it renders: `{"generated_at", "pointers": [...], "findings": [...],
//! "errors": [...], "aws_calls"}`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// The status report as the page reads it; fields it does not show are ignored.
#[derive(Debug, Deserialize)]
pub(super) struct StatusInput {
    #[serde(default)]
    generated_at: Option<String>,
    #[serde(default)]
    pointers: Vec<Pointer>,
    #[serde(default)]
    findings: Vec<Finding>,
    #[serde(default)]
    errors: Vec<ReadError>,
    #[serde(default)]
    aws_calls: Option<u64>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
struct Pointer {
    #[serde(default)]
    rule: Option<String>,
    account: String,
    region: String,
    kind: String,
    name: String,
    #[serde(default)]
    found_by: Option<String>,
    #[serde(default)]
    image_id: Option<String>,
    #[serde(default)]
    image: Option<PointedImage>,
    #[serde(default)]
    last_moved: Option<String>,
    #[serde(default)]
    stack: Option<String>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
struct PointedImage {
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    created: Option<String>,
    #[serde(default)]
    age_days: Option<f64>,
    #[serde(default)]
    state: Option<String>,
    #[serde(default)]
    protected: Option<bool>,
    #[serde(default)]
    copied_from: Option<String>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
struct Finding {
    kind: String,
    #[serde(default)]
    rule: Option<String>,
    #[serde(default)]
    account: Option<String>,
    #[serde(default)]
    region: Option<String>,
    #[serde(default)]
    pointer_kind: Option<String>,
    #[serde(default)]
    pointer: Option<String>,
    reason: String,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
struct ReadError {
    #[serde(default)]
    account: Option<String>,
    #[serde(default)]
    region: Option<String>,
    #[serde(default)]
    what: Option<String>,
    error: String,
}

/// The page's view: one section per account and region.
#[derive(Debug, Serialize)]
pub(super) struct StatusView {
    generated_at: Option<String>,
    aws_calls: Option<u64>,
    pointers: usize,
    findings: usize,
    errors: usize,
    sections: Vec<Section>,
}

/// One account and region: its pointers, each with its findings; findings about no one
/// pointer; what could not be read there.
#[derive(Debug, Serialize)]
struct Section {
    account: String,
    region: String,
    pointers: Vec<PointerRow>,
    other_findings: Vec<Finding>,
    errors: Vec<ReadError>,
}

impl Section {
    fn new((account, region): (String, String)) -> Self {
        Self { account, region, pointers: Vec::new(), other_findings: Vec::new(), errors: Vec::new() }
    }
}

#[derive(Debug, Serialize)]
struct PointerRow {
    #[serde(flatten)]
    pointer: Pointer,
    findings: Vec<Finding>,
}

impl StatusView {
    /// Groups the report's pointers, findings and errors by account and region.
    pub(super) fn new(input: StatusInput) -> Self {
        let (pointers, findings, errors) = (input.pointers.len(), input.findings.len(), input.errors.len());
        let place = |account: &Option<String>, region: &Option<String>| {
            (account.clone().unwrap_or_default(), region.clone().unwrap_or_default())
        };
        let mut sections: BTreeMap<(String, String), Section> = BTreeMap::new();
        fn section(sections: &mut BTreeMap<(String, String), Section>, key: (String, String)) -> &mut Section {
            sections.entry(key.clone()).or_insert_with(|| Section::new(key))
        }
        for pointer in input.pointers {
            let key = (pointer.account.clone(), pointer.region.clone());
            section(&mut sections, key).pointers.push(PointerRow { pointer, findings: Vec::new() });
        }
        for finding in input.findings {
            let entry = section(&mut sections, place(&finding.account, &finding.region));
            let about = entry.pointers.iter_mut().find(|row| {
                finding.pointer.as_deref() == Some(row.pointer.name.as_str())
                    && finding.pointer_kind.as_deref().is_none_or(|kind| kind == row.pointer.kind)
            });
            match about {
                Some(row) => row.findings.push(finding),
                None => entry.other_findings.push(finding),
            }
        }
        for error in input.errors {
            section(&mut sections, place(&error.account, &error.region)).errors.push(error);
        }
        Self {
            generated_at: input.generated_at,
            aws_calls: input.aws_calls,
            pointers,
            findings,
            errors,
            sections: sections.into_values().collect(),
        }
    }
}
