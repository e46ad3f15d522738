//! SSM Parameter Store in memory: parameters with a bounded version history and labels.

use std::collections::VecDeque;

use async_trait::async_trait;

use super::{aws_error, ops, IntoRegion, MemoryAws};
use crate::backend::{AwsResult, SsmApi};
use crate::error::{AwsError, AwsErrorKind};
use crate::model::{Parameter, ParameterType, PutParameter, Region};

/// How many versions SSM keeps of a parameter.
const MAX_VERSIONS: usize = 100;
/// How many labels one version may carry.
const MAX_LABELS: usize = 10;
/// The longest parameter name SSM takes.
const MAX_NAME_LEN: usize = 2048;
/// The longest value of a standard-tier parameter.
const MAX_VALUE_LEN: usize = 4096;
/// The deepest parameter hierarchy SSM takes.
const MAX_LEVELS: usize = 15;
/// The data type of AMI id parameters.
const EC2_IMAGE: &str = "aws:ec2:image";

/// A parameter and its history, oldest version first.
#[derive(Debug, Clone)]
pub(super) struct ParameterRecord {
    kind: ParameterType,
    data_type: String,
    #[allow(dead_code)] // stored like SSM stores it; nothing reads it yet
    description: Option<String>,
    versions: VecDeque<ParameterVersion>,
    next_version: i64,
}

#[derive(Debug, Clone)]
struct ParameterVersion {
    version: i64,
    value: String,
    labels: Vec<String>,
    written: time::OffsetDateTime,
}

impl ParameterRecord {
    /// The value of the newest version.
    pub(super) fn value(&self) -> Option<&str> {
        self.versions.back().map(|latest| latest.value.as_str())
    }

    fn current(&self, name: &str) -> Option<Parameter> {
        self.versions.back().map(|latest| Parameter {
            name: name.to_owned(),
            value: latest.value.clone(),
            version: latest.version,
            kind: self.kind,
            data_type: self.data_type.clone(),
            last_modified: Some(latest.written),
        })
    }
}

fn validation(op: &str, message: impl Into<String>) -> AwsError {
    aws_error(op, AwsErrorKind::Client, "ValidationException", message)
}

fn not_found(op: &str, name: &str) -> AwsError {
    aws_error(op, AwsErrorKind::NotFound, "ParameterNotFound", format!("Parameter {name} not found."))
}

/// Checks a parameter name the way `PutParameter` does.
fn check_name(op: &str, name: &str) -> AwsResult<()> {
    if name.is_empty() || name.len() > MAX_NAME_LEN {
        return Err(validation(
            op,
            format!("1 validation error detected: Value '{name}' at 'name' failed to satisfy constraint: Member must have length less than or equal to {MAX_NAME_LEN} and greater than or equal to 1"),
        ));
    }
    let bare = name.strip_prefix('/').unwrap_or(name).to_ascii_lowercase();
    if bare.starts_with("aws") || bare.starts_with("ssm") {
        return Err(validation(op, "Parameter name: can't be prefixed with \"aws\" or \"ssm\" (case-insensitive)."));
    }
    if !name.chars().all(|c| c.is_ascii_alphanumeric() || "_.-/".contains(c)) {
        return Err(validation(
            op,
            format!(
                "Parameter name {name} is invalid: it may consist only of letters, numbers and the symbols .-_ and /"
            ),
        ));
    }
    if name.contains('/') {
        let hierarchical = name.starts_with('/') && name[1..].split('/').all(|part| !part.is_empty());
        if !hierarchical {
            return Err(validation(
                op,
                "Parameter name: a name formed as a path must be fully qualified (start with \"/\") and have no empty sub-paths.",
            ));
        }
        if name.matches('/').count() > MAX_LEVELS {
            return Err(aws_error(
                op,
                AwsErrorKind::Client,
                "HierarchyLevelLimitExceededException",
                format!("Parameter name {name} has more than {MAX_LEVELS} levels."),
            ));
        }
    }
    Ok(())
}

/// Whether `value` looks like an AMI id: `ami-` and 8 or 17 hex digits.
fn looks_like_image_id(value: &str) -> bool {
    value
        .strip_prefix("ami-")
        .is_some_and(|hex| matches!(hex.len(), 8 | 17) && hex.chars().all(|c| c.is_ascii_hexdigit()))
}

/// Checks a `PutParameter` request's value, type and data type; returns the data type.
fn check_value(op: &str, request: &PutParameter) -> AwsResult<String> {
    let value = &request.value;
    if value.is_empty() || value.len() > MAX_VALUE_LEN {
        return Err(validation(
            op,
            format!("1 validation error detected: Value at 'value' failed to satisfy constraint: Member must have length less than or equal to {MAX_VALUE_LEN} and greater than or equal to 1"),
        ));
    }
    match request.data_type.as_deref().unwrap_or("text") {
        "text" => Ok("text".to_owned()),
        EC2_IMAGE => {
            if request.kind != ParameterType::String {
                return Err(validation(
                    op,
                    format!("The data type {EC2_IMAGE} is supported only for String parameters."),
                ));
            }
            if !looks_like_image_id(value) {
                return Err(validation(
                    op,
                    format!("Parameter value {value} is not valid for data type {EC2_IMAGE}: expected an AMI id such as ami-12345abcdeEXAMPLE."),
                ));
            }
            Ok(EC2_IMAGE.to_owned())
        }
        other => Err(validation(
            op,
            format!("The data type {other} is not supported. Supported data types are text and {EC2_IMAGE}."),
        )),
    }
}

impl MemoryAws {
    /// The parameter's current version, like `GetParameter`, without recording a call.
    pub fn parameter(&self, region: impl IntoRegion, name: &str) -> Option<Parameter> {
        let region = region.into_region();
        self.with_world(|world| world.region(&region).parameters.get(name).and_then(|record| record.current(name)))
    }

    /// The versions SSM still keeps of the parameter, oldest first, as `(version, value)`.
    pub fn parameter_history(&self, region: impl IntoRegion, name: &str) -> Vec<(i64, String)> {
        let region = region.into_region();
        self.with_world(|world| {
            world.region(&region).parameters.get(name).map_or_else(Vec::new, |record| {
                record.versions.iter().map(|version| (version.version, version.value.clone())).collect()
            })
        })
    }

    /// Puts `value` into a `String`/`text` parameter, overwriting, without recording a call.
    pub fn set_parameter(&self, region: impl IntoRegion, name: &str, value: &str) -> AwsResult<i64> {
        let region = region.into_region();
        let request = PutParameter {
            name: name.to_owned(),
            value: value.to_owned(),
            kind: ParameterType::String,
            data_type: None,
            overwrite: true,
            description: None,
        };
        self.with_world(|world| {
            let now = world.now;
            put(&mut world.region(&region).parameters, &request, now)
        })
    }

    /// `LabelParameterVersion` (not recorded nor faulted): puts `label` on one version, moving
    /// it off any other; a labelled version is never dropped to make room for a new one.
    pub fn label_parameter_version(
        &self,
        region: impl IntoRegion,
        name: &str,
        version: i64,
        label: &str,
    ) -> AwsResult<()> {
        const OP: &str = "ssm:LabelParameterVersion";
        let region = region.into_region();
        self.with_world(|world| {
            let record = world.region(&region).parameters.get_mut(name).ok_or_else(|| not_found(OP, name))?;
            let Some(index) = record.versions.iter().position(|v| v.version == version) else {
                return Err(aws_error(
                    OP,
                    AwsErrorKind::NotFound,
                    "ParameterVersionNotFound",
                    format!("Systems Manager could not find version {version} of {name}."),
                ));
            };
            let target = &record.versions[index];
            if !target.labels.iter().any(|l| l == label) && target.labels.len() >= MAX_LABELS {
                return Err(aws_error(
                    OP,
                    AwsErrorKind::Client,
                    "ParameterVersionLabelLimitExceeded",
                    format!("A parameter version can have at most {MAX_LABELS} labels."),
                ));
            }
            for other in record.versions.iter_mut() {
                other.labels.retain(|l| l != label);
            }
            record.versions[index].labels.push(label.to_owned());
            Ok(())
        })
    }
}

/// `PutParameter` on the parameters of one region.
fn put(
    parameters: &mut std::collections::BTreeMap<String, ParameterRecord>,
    request: &PutParameter,
    now: time::OffsetDateTime,
) -> AwsResult<i64> {
    let op = ops::PUT_PARAMETER;
    check_name(op, &request.name)?;
    let data_type = check_value(op, request)?;
    let Some(record) = parameters.get_mut(&request.name) else {
        let record = ParameterRecord {
            kind: request.kind,
            data_type,
            description: request.description.clone(),
            versions: VecDeque::from([ParameterVersion {
                version: 1,
                value: request.value.clone(),
                labels: Vec::new(),
                written: now,
            }]),
            next_version: 2,
        };
        parameters.insert(request.name.clone(), record);
        return Ok(1);
    };
    if !request.overwrite {
        return Err(aws_error(
            op,
            AwsErrorKind::Client,
            "ParameterAlreadyExists",
            "The parameter already exists. To overwrite this value, set the overwrite option in the request to true.",
        ));
    }
    if record.versions.len() >= MAX_VERSIONS {
        let oldest = &record.versions[0];
        if !oldest.labels.is_empty() {
            return Err(aws_error(
                op,
                AwsErrorKind::Client,
                "ParameterMaxVersionLimitExceeded",
                format!(
                    "You attempted to create a new version of {} by calling the PutParameter API with the overwrite flag. Version {}, the oldest version, can't be deleted because it has a label associated with it. Move the label to another version of the parameter, and try again.",
                    request.name, oldest.version
                ),
            ));
        }
        record.versions.pop_front();
    }
    let version = record.next_version;
    record.next_version += 1;
    record.kind = request.kind;
    record.data_type = data_type;
    if request.description.is_some() {
        record.description = request.description.clone();
    }
    record.versions.push_back(ParameterVersion {
        version,
        value: request.value.clone(),
        labels: Vec::new(),
        written: now,
    });
    Ok(version)
}

#[async_trait]
impl SsmApi for MemoryAws {
    async fn get_parameter(&self, region: &Region, name: &str) -> AwsResult<Option<Parameter>> {
        self.call(ops::GET_PARAMETER, |world| {
            Ok(world.region(region).parameters.get(name).and_then(|record| record.current(name)))
        })
    }

    async fn put_parameter(&self, region: &Region, request: &PutParameter) -> AwsResult<i64> {
        self.call(ops::PUT_PARAMETER, |world| {
            let now = world.now;
            put(&mut world.region(region).parameters, request, now)
        })
    }

    async fn delete_parameter(&self, region: &Region, name: &str) -> AwsResult<()> {
        self.call(ops::DELETE_PARAMETER, |world| match world.region(region).parameters.remove(name) {
            Some(_) => Ok(()),
            None => Err(not_found(ops::DELETE_PARAMETER, name)),
        })
    }

    async fn get_parameter_history(&self, region: &Region, name: &str) -> AwsResult<Vec<(i64, String)>> {
        self.call(ops::GET_PARAMETER_HISTORY, |world| {
            let record = world.region(region).parameters.get(name);
            Ok(record.map_or_else(Vec::new, |r| r.versions.iter().map(|v| (v.version, v.value.clone())).collect()))
        })
    }

    async fn get_parameters_by_path(&self, region: &Region, path: &str) -> AwsResult<Vec<Parameter>> {
        let op = ops::GET_PARAMETERS_BY_PATH;
        self.call(op, |world| {
            if !path.starts_with('/') {
                return Err(validation(op, format!("The parameter path {path} must begin with a forward slash (/).")));
            }
            let prefix = if path.ends_with('/') { path.to_owned() } else { format!("{path}/") };
            Ok(world
                .region(region)
                .parameters
                .iter()
                .filter(|(name, _)| name.starts_with(&prefix))
                .filter_map(|(name, record)| record.current(name))
                .collect())
        })
    }

    async fn describe_parameter_names(&self, region: &Region) -> AwsResult<Vec<String>> {
        self.call(ops::DESCRIBE_PARAMETERS, |world| {
            Ok(world
                .region(region)
                .parameters
                .iter()
                .filter(|(_, record)| matches!(record.kind, ParameterType::String | ParameterType::StringList))
                .map(|(name, _)| name.clone())
                .collect())
        })
    }

    async fn get_parameters(&self, region: &Region, names: &[String]) -> AwsResult<Vec<Parameter>> {
        let op = ops::GET_PARAMETERS;
        self.call(op, |world| {
            if names.is_empty() || names.len() > crate::backend::PARAMETERS_PER_CALL {
                return Err(validation(
                    op,
                    format!("give 1 to {} names, not {}", crate::backend::PARAMETERS_PER_CALL, names.len()),
                ));
            }
            let parameters = &world.region(region).parameters;
            Ok(names.iter().filter_map(|name| parameters.get(name)?.current(name)).collect())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn region() -> Region {
        Region::from("eu-west-1")
    }

    fn request(name: &str, value: &str, overwrite: bool) -> PutParameter {
        PutParameter {
            name: name.into(),
            value: value.into(),
            kind: ParameterType::String,
            data_type: None,
            overwrite,
            description: None,
        }
    }

    fn image_request(value: &str) -> PutParameter {
        PutParameter { data_type: Some(EC2_IMAGE.into()), ..request("/ami/web", value, true) }
    }

    #[tokio::test]
    async fn versions_count_up_and_overwrite_is_required() {
        let aws = MemoryAws::new("111122223333");
        assert_eq!(aws.get_parameter(&region(), "/p").await.unwrap(), None);
        assert_eq!(aws.put_parameter(&region(), &request("/p", "a", false)).await.unwrap(), 1);
        let err = aws.put_parameter(&region(), &request("/p", "b", false)).await.unwrap_err();
        assert_eq!((err.code.as_str(), err.kind), ("ParameterAlreadyExists", AwsErrorKind::Client));
        assert_eq!(aws.put_parameter(&region(), &request("/p", "b", true)).await.unwrap(), 2);
        let parameter = aws.get_parameter(&region(), "/p").await.unwrap().unwrap();
        assert_eq!((parameter.value.as_str(), parameter.version), ("b", 2));
        assert_eq!(parameter.data_type, "text");
        assert_eq!(aws.parameter_history(region(), "/p"), vec![(1, "a".to_owned()), (2, "b".to_owned())]);
        // Overwriting with the same value still makes a version, as SSM does.
        assert_eq!(aws.put_parameter(&region(), &request("/p", "b", true)).await.unwrap(), 3);
    }

    #[tokio::test]
    async fn delete_then_put_starts_again_at_version_one() {
        let aws = MemoryAws::new("111122223333");
        for value in ["a", "b", "c"] {
            aws.put_parameter(&region(), &request("/p", value, true)).await.unwrap();
        }
        aws.delete_parameter(&region(), "/p").await.unwrap();
        assert_eq!(aws.get_parameter(&region(), "/p").await.unwrap(), None);
        assert!(aws.parameter_history(region(), "/p").is_empty());
        let err = aws.delete_parameter(&region(), "/p").await.unwrap_err();
        assert_eq!((err.code.as_str(), err.kind), ("ParameterNotFound", AwsErrorKind::NotFound));
        assert_eq!(aws.put_parameter(&region(), &request("/p", "d", false)).await.unwrap(), 1);
        assert_eq!(aws.parameter(region(), "/p").unwrap().value, "d");
    }

    #[tokio::test]
    async fn the_history_keeps_the_latest_hundred_versions() {
        let aws = MemoryAws::new("111122223333");
        for n in 1..=100 {
            assert_eq!(aws.put_parameter(&region(), &request("/p", &n.to_string(), true)).await.unwrap(), n);
        }
        assert_eq!(aws.parameter_history(region(), "/p").len(), 100);
        assert_eq!(aws.put_parameter(&region(), &request("/p", "101", true)).await.unwrap(), 101);
        let history = aws.parameter_history(region(), "/p");
        assert_eq!(history.len(), 100);
        assert_eq!(history[0], (2, "2".to_owned()));
        assert_eq!(history[99], (101, "101".to_owned()));
    }

    #[tokio::test]
    async fn a_labelled_oldest_version_blocks_the_101st() {
        let aws = MemoryAws::new("111122223333");
        for n in 1..=100 {
            aws.set_parameter(region(), "/p", &n.to_string()).unwrap();
        }
        aws.label_parameter_version(region(), "/p", 1, "golden").unwrap();
        let err = aws.put_parameter(&region(), &request("/p", "101", true)).await.unwrap_err();
        assert_eq!((err.code.as_str(), err.kind), ("ParameterMaxVersionLimitExceeded", AwsErrorKind::Client));
        assert_eq!(aws.parameter(region(), "/p").unwrap().version, 100);
        assert_eq!(aws.parameter_history(region(), "/p")[0].0, 1);

        // Moving the label off the oldest version makes room again.
        aws.label_parameter_version(region(), "/p", 50, "golden").unwrap();
        assert_eq!(aws.put_parameter(&region(), &request("/p", "101", true)).await.unwrap(), 101);
        assert_eq!(aws.parameter_history(region(), "/p")[0].0, 2);

        let err = aws.label_parameter_version(region(), "/p", 1, "x").unwrap_err();
        assert_eq!(err.code, "ParameterVersionNotFound");
        let err = aws.label_parameter_version(region(), "/q", 1, "x").unwrap_err();
        assert_eq!(err.code, "ParameterNotFound");
    }

    #[tokio::test]
    async fn names_are_checked_like_ssm_does() {
        let aws = MemoryAws::new("111122223333");
        let long = format!("/{}", "a".repeat(MAX_NAME_LEN));
        for name in ["aws-x", "/AWS/x", "ssm", "/Ssm.x", "/a b", "/a*", "a/b", "/a//b", "", long.as_str()] {
            let err = aws.put_parameter(&region(), &request(name, "v", true)).await.unwrap_err();
            assert_eq!((err.code.as_str(), err.kind), ("ValidationException", AwsErrorKind::Client), "{name:?}");
        }
        let deep = "/a".repeat(MAX_LEVELS + 1);
        let err = aws.put_parameter(&region(), &request(&deep, "v", true)).await.unwrap_err();
        assert_eq!(err.code, "HierarchyLevelLimitExceededException");
        for name in ["plain", "/a/b/c", "/ami-web_1.x", "my-aws-thing", "/prod/aws"] {
            assert_eq!(aws.put_parameter(&region(), &request(name, "v", true)).await.unwrap(), 1, "{name}");
        }
        let err = aws.put_parameter(&region(), &request("/empty", "", true)).await.unwrap_err();
        assert_eq!(err.code, "ValidationException");
        assert!(aws.calls().iter().all(|call| call == "ssm:PutParameter"));
    }

    #[tokio::test]
    async fn the_image_data_type_wants_an_image_id() {
        let aws = MemoryAws::new("111122223333");
        for value in ["web", "ami-", "ami-xyz12345", "ami-1234", "lt-0123456789abcdef0"] {
            let err = aws.put_parameter(&region(), &image_request(value)).await.unwrap_err();
            assert_eq!(err.code, "ValidationException", "{value}");
        }
        assert_eq!(aws.put_parameter(&region(), &image_request("ami-0123456789abcdef0")).await.unwrap(), 1);
        assert_eq!(aws.put_parameter(&region(), &image_request("ami-12345678")).await.unwrap(), 2);
        let parameter = aws.get_parameter(&region(), "/ami/web").await.unwrap().unwrap();
        assert_eq!(parameter.data_type, EC2_IMAGE);

        let secure = PutParameter { kind: ParameterType::SecureString, ..image_request("ami-12345678") };
        assert_eq!(aws.put_parameter(&region(), &secure).await.unwrap_err().code, "ValidationException");
        let other = PutParameter { data_type: Some("aws:ssm:integration".into()), ..request("/x", "v", true) };
        assert_eq!(aws.put_parameter(&region(), &other).await.unwrap_err().code, "ValidationException");
    }
}
