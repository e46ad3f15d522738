//! Name templates such as `/ami/{tag:Role}` or `{instance_id}`, checked when the
//! configuration loads and rendered per event.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A value a template can name.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Placeholder {
    /// `{image_id}`
    ImageId,
    /// `{image_name}`
    ImageName,
    /// `{instance_id}`: from the event, or from an AWS Backup image name
    /// `AWSBackup_<instanceId>_...`.
    InstanceId,
    /// `{region}`
    Region,
    /// `{account}`
    Account,
    /// `{asg_name}`
    AsgName,
    /// `{launch_template_id}`
    LaunchTemplateId,
    /// `{date}`: the event's date, `YYYY-MM-DD`.
    Date,
    /// `{rule}`: the rule's name.
    Rule,
    /// `{tag:Key}`: the AMI's tag `Key`.
    Tag(String),
}

impl Placeholder {
    /// Every placeholder that takes no argument, as written in a template.
    pub const NAMES: [&'static str; 9] = [
        "image_id",
        "image_name",
        "instance_id",
        "region",
        "account",
        "asg_name",
        "launch_template_id",
        "date",
        "rule",
    ];

    fn parse(text: &str) -> Option<Self> {
        Some(match text {
            "image_id" => Self::ImageId,
            "image_name" => Self::ImageName,
            "instance_id" => Self::InstanceId,
            "region" => Self::Region,
            "account" => Self::Account,
            "asg_name" => Self::AsgName,
            "launch_template_id" => Self::LaunchTemplateId,
            "date" => Self::Date,
            "rule" => Self::Rule,
            other => {
                let key = other.strip_prefix("tag:")?;
                if key.is_empty() {
                    return None;
                }
                Self::Tag(key.to_owned())
            }
        })
    }
}

impl fmt::Display for Placeholder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Tag(key) => write!(f, "{{tag:{key}}}"),
            Self::ImageId => f.write_str("{image_id}"),
            Self::ImageName => f.write_str("{image_name}"),
            Self::InstanceId => f.write_str("{instance_id}"),
            Self::Region => f.write_str("{region}"),
            Self::Account => f.write_str("{account}"),
            Self::AsgName => f.write_str("{asg_name}"),
            Self::LaunchTemplateId => f.write_str("{launch_template_id}"),
            Self::Date => f.write_str("{date}"),
            Self::Rule => f.write_str("{rule}"),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    Literal(String),
    Value(Placeholder),
}

/// A parsed name template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NameTemplate {
    source: String,
    parts: Vec<Part>,
}

/// Why a template could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("bad name template `{template}`: {reason}")]
#[non_exhaustive]
pub struct TemplateError {
    /// The template as written.
    pub template: String,
    /// What is wrong with it.
    pub reason: String,
}

/// A placeholder with no value for this event.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{template}` needs {placeholder}, which this event and image do not have")]
pub struct MissingValue {
    /// The template as written.
    pub template: String,
    /// The placeholder without a value.
    pub placeholder: Placeholder,
}

impl NameTemplate {
    /// Parses a template; `{` and `}` only open and close placeholders.
    pub fn parse(source: &str) -> Result<Self, TemplateError> {
        let error = |reason: String| TemplateError { template: source.to_owned(), reason };
        let mut parts = Vec::new();
        let mut rest = source;
        while let Some(open) = rest.find(['{', '}']) {
            if rest.as_bytes()[open] == b'}' {
                return Err(error("`}` without `{`".into()));
            }
            if open > 0 {
                parts.push(Part::Literal(rest[..open].to_owned()));
            }
            let after = &rest[open + 1..];
            let close = after.find('}').ok_or_else(|| error("`{` without `}`".into()))?;
            let name = &after[..close];
            let placeholder = Placeholder::parse(name).ok_or_else(|| {
                error(format!(
                    "unknown placeholder `{{{name}}}`; known: {}, and {{tag:KEY}}",
                    Placeholder::NAMES.map(|n| format!("{{{n}}}")).join(", ")
                ))
            })?;
            parts.push(Part::Value(placeholder));
            rest = &after[close + 1..];
        }
        if !rest.is_empty() {
            parts.push(Part::Literal(rest.to_owned()));
        }
        if parts.is_empty() {
            return Err(error("empty".into()));
        }
        Ok(Self { source: source.to_owned(), parts })
    }

    /// The template as written.
    pub fn as_str(&self) -> &str {
        &self.source
    }

    /// The placeholders the template uses.
    pub fn placeholders(&self) -> impl Iterator<Item = &Placeholder> {
        self.parts.iter().filter_map(|part| match part {
            Part::Value(p) => Some(p),
            Part::Literal(_) => None,
        })
    }

    /// Whether any part of the rendered name comes from a tag value.
    pub fn uses_tags(&self) -> bool {
        self.placeholders().any(|p| matches!(p, Placeholder::Tag(_)))
    }

    /// Renders the template with `lookup`.
    pub fn render<'a>(&self, lookup: impl Fn(&Placeholder) -> Option<&'a str>) -> Result<String, MissingValue> {
        let mut out = String::new();
        for part in &self.parts {
            match part {
                Part::Literal(text) => out.push_str(text),
                Part::Value(placeholder) => match lookup(placeholder) {
                    Some(value) if !value.is_empty() => out.push_str(value),
                    _ => return Err(MissingValue { template: self.source.clone(), placeholder: placeholder.clone() }),
                },
            }
        }
        Ok(out)
    }
}

/// What the configuration alone tells of a placeholder's value, before an event gives it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KnownValue<'a> {
    /// Exactly this value (e.g. `{rule}`).
    Exactly(&'a str),
    /// Some value that starts with this (e.g. `i-` for `{instance_id}`).
    StartsWith(&'a str),
    /// Nothing.
    Unknown,
}

/// The names a template can render to, as far as the configuration alone tells.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum NameSet {
    /// This one name.
    Exactly(String),
    /// Any name that starts with this (possibly empty: any name at all).
    StartingWith(String),
}

impl NameTemplate {
    /// The names this template can render to, given what is `known` of each placeholder: the
    /// literals and known values up to the first placeholder whose value is not known exactly.
    pub fn name_set<'a>(&self, known: impl Fn(&Placeholder) -> KnownValue<'a>) -> NameSet {
        let mut prefix = String::new();
        for part in &self.parts {
            match part {
                Part::Literal(text) => prefix.push_str(text),
                Part::Value(placeholder) => match known(placeholder) {
                    KnownValue::Exactly(value) => prefix.push_str(value),
                    KnownValue::StartsWith(start) => return NameSet::StartingWith(prefix + start),
                    KnownValue::Unknown => return NameSet::StartingWith(prefix),
                },
            }
        }
        NameSet::Exactly(prefix)
    }
}

impl NameTemplate {
    /// What the names this template renders to look like, given what is `known` of each
    /// placeholder: a value not known exactly is any text that is not empty (and starts as
    /// known). For finding, among listed names, the ones a template made.
    pub fn fit<'a>(&self, known: impl Fn(&Placeholder) -> KnownValue<'a>) -> NameFit {
        let mut pattern = String::from("^");
        for part in &self.parts {
            match part {
                Part::Literal(text) => pattern.push_str(&regex::escape(text)),
                Part::Value(placeholder) => match known(placeholder) {
                    KnownValue::Exactly(value) => pattern.push_str(&regex::escape(value)),
                    KnownValue::StartsWith(start) => pattern.push_str(&format!("{}.+", regex::escape(start))),
                    KnownValue::Unknown => pattern.push_str(".+"),
                },
            }
        }
        pattern.push('$');
        NameFit(regex::Regex::new(&pattern).expect("escaped literals and `.+` make a valid pattern"))
    }
}

/// The names a template can render to (see [`NameTemplate::fit`]).
#[derive(Debug, Clone)]
pub struct NameFit(regex::Regex);

impl NameFit {
    /// Whether the template can render to `name`.
    pub fn fits(&self, name: &str) -> bool {
        self.0.is_match(name)
    }
}

impl fmt::Display for NameTemplate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.source)
    }
}

impl<'de> Deserialize<'de> for NameTemplate {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Self::parse(&text).map_err(serde::de::Error::custom)
    }
}

impl Serialize for NameTemplate {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.source)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_literals_and_values() {
        let t = NameTemplate::parse("/ami/{tag:Role}/{region}").unwrap();
        assert!(t.uses_tags());
        let out = t
            .render(|p| match p {
                Placeholder::Tag(k) if k == "Role" => Some("web"),
                Placeholder::Region => Some("eu-west-1"),
                _ => None,
            })
            .unwrap();
        assert_eq!(out, "/ami/web/eu-west-1");
    }

    #[test]
    fn missing_value_names_the_placeholder() {
        let t = NameTemplate::parse("{instance_id}").unwrap();
        let err = t.render(|_| None).unwrap_err();
        assert_eq!(err.placeholder, Placeholder::InstanceId);
        assert!(err.to_string().contains("{instance_id}"));
    }

    #[test]
    fn empty_value_counts_as_missing() {
        let t = NameTemplate::parse("x{image_name}").unwrap();
        assert!(t.render(|_| Some("")).is_err());
    }

    #[test]
    fn fit_takes_literals_as_written_and_values_as_known() {
        let t = NameTemplate::parse("/ami/{region}/{tag:Role}.{instance_id}").unwrap();
        let fit = t.fit(|p| match p {
            Placeholder::Region => KnownValue::Exactly("eu-west-1"),
            Placeholder::InstanceId => KnownValue::StartsWith("i-"),
            _ => KnownValue::Unknown,
        });
        assert!(fit.fits("/ami/eu-west-1/web.i-0abc"));
        assert!(!fit.fits("/ami/us-east-1/web.i-0abc"), "another region");
        assert!(!fit.fits("/ami/eu-west-1/.i-0abc"), "an empty tag value");
        assert!(!fit.fits("/ami/eu-west-1/web.x-0abc"), "not an instance id");
        assert!(!fit.fits("x/ami/eu-west-1/web.i-0abc"), "anchored at the start");
        let dots = NameTemplate::parse("a.b").unwrap().fit(|_| KnownValue::Unknown);
        assert!(!dots.fits("axb"), "literals are not patterns");
    }

    #[test]
    fn name_set_stops_at_the_first_value_not_known_exactly() {
        let known = |p: &Placeholder| match p {
            Placeholder::Rule => KnownValue::Exactly("web"),
            Placeholder::InstanceId => KnownValue::StartsWith("i-"),
            _ => KnownValue::Unknown,
        };
        let set = |t: &str| NameTemplate::parse(t).unwrap().name_set(known);
        assert_eq!(set("/ami/{rule}"), NameSet::Exactly("/ami/web".into()));
        assert_eq!(set("/ami/{rule}/{instance_id}/x"), NameSet::StartingWith("/ami/web/i-".into()));
        assert_eq!(set("/ami/{tag:Role}/{rule}"), NameSet::StartingWith("/ami/".into()));
        assert_eq!(set("{image_id}"), NameSet::StartingWith(String::new()));
    }

    #[test]
    fn rejects_bad_templates() {
        for bad in ["", "{", "}", "{nope}", "a{tag:}b", "{image_id", "x}y"] {
            assert!(NameTemplate::parse(bad).is_err(), "{bad:?} should be refused");
        }
    }
}
