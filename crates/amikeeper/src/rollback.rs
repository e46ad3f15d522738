//! Rollback: move named pointers back to the AMI each named before, or to a given AMI.
//!
//! This is the one explicit exception to the rule that a pointer never moves to an older AMI,
//! and every rollback report says so. A rollback first works out, for every target, where it
//! goes and checks that the AMI is `available`; if any target cannot be rolled back, nothing is
//! written at all. "The AMI it named before" comes from the pointer's own history:
//! - an SSM parameter: the newest version in `GetParameterHistory` whose value differs from the
//!   current one. A fixed-version parameter (`fixed_version = true`, always version 1) keeps no
//!   history, so it needs `--to`; it is re-created at version 1 the way publishing does (delete,
//!   put; if the put fails the previous value is put back, so it is never left missing);
//! - a launch template: the newest version below the default whose AMI differs from the
//!   default's; the rollback makes it the default (no new version);
//! - an Auto Scaling group: the newest version of its template below the one the group launches
//!   (`$Latest`/`$Default` resolved) whose AMI differs; the group is pinned to it;
//! - a stack parameter: CloudFormation keeps no history of parameter values, so a stack needs
//!   `--to`.
//!
//! An AMI the account's Allowed AMIs setting keeps from launching is refused like one that is
//! not `available`; in audit mode the rollback goes ahead and the report carries a warning
//! (see [`allowed`](crate::allowed)).
//!
//! Protection follows the pointers (see [`protect`](crate::protect)): the AMIs rolled back to
//! get deregistration protection, and amikeeper's protection on the AMIs the pointers left is
//! released, so the bad AMI can be cleaned up. The pointers are compared by AMI, whatever their
//! kind: a group's pointer is a launch template version, and what counts is the AMI that
//! version launches.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use serde::Serialize;

use crate::backend::{Aws, AwsResult, CountingAws};
use crate::config::{Config, TargetConfig};
use crate::error::AwsError;
use crate::model::{
    Image, ImageId, ImageState, LaunchTemplateRef, LaunchTemplateSpec, LaunchTemplateVersion, Parameter, PutParameter,
    Region, StackUpdate, UpdateStack,
};
use crate::protect;
use crate::publish::{DescribedImages, Outcome, PublishContext, Replaced, SsmParameterPublisher, Status, TargetId};

/// A pointer to roll back, as `kind:name` on the command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RollbackTarget {
    /// `ssm_parameter:/ami/web`.
    SsmParameter(String),
    /// `launch_template:lt-0123…` or `launch_template:web`.
    LaunchTemplate(LaunchTemplateRef),
    /// `auto_scaling_group:web-asg`.
    AutoScalingGroup(String),
    /// `stack_parameter:web-stack` (parameter `ImageId`) or `stack_parameter:web-stack/AmiId`.
    StackParameter {
        /// The stack name.
        stack: String,
        /// The parameter key.
        parameter: String,
    },
}

/// A target that does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{0}` is not a rollback target: use ssm_parameter:NAME, launch_template:ID_OR_NAME, auto_scaling_group:NAME or stack_parameter:STACK[/PARAMETER]")]
pub struct BadTarget(pub String);

impl FromStr for RollbackTarget {
    type Err = BadTarget;

    fn from_str(text: &str) -> Result<Self, BadTarget> {
        let bad = || BadTarget(text.to_owned());
        let (kind, name) = text.split_once(':').ok_or_else(bad)?;
        let name = name.trim();
        if name.is_empty() {
            return Err(bad());
        }
        Ok(match kind.trim() {
            "ssm_parameter" => Self::SsmParameter(name.to_owned()),
            "launch_template" if name.starts_with("lt-") => {
                Self::LaunchTemplate(LaunchTemplateRef::Id(name.to_owned()))
            }
            "launch_template" => Self::LaunchTemplate(LaunchTemplateRef::Name(name.to_owned())),
            "auto_scaling_group" => Self::AutoScalingGroup(name.to_owned()),
            "stack_parameter" => {
                let (stack, parameter) = name.split_once('/').unwrap_or((name, "ImageId"));
                if stack.is_empty() || parameter.is_empty() {
                    return Err(bad());
                }
                Self::StackParameter { stack: stack.to_owned(), parameter: parameter.to_owned() }
            }
            _ => return Err(bad()),
        })
    }
}

impl RollbackTarget {
    fn id(&self) -> TargetId {
        match self {
            Self::SsmParameter(name) => TargetId { kind: "ssm_parameter", name: name.clone() },
            Self::LaunchTemplate(template) => TargetId { kind: "launch_template", name: template.to_string() },
            Self::AutoScalingGroup(name) => TargetId { kind: "auto_scaling_group", name: name.clone() },
            Self::StackParameter { stack, parameter } => {
                TargetId { kind: "stack_parameter", name: format!("{stack}/{parameter}") }
            }
        }
    }
}

impl fmt::Display for RollbackTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let id = self.id();
        write!(f, "{}:{}", id.kind, id.name)
    }
}

/// Options of one rollback.
#[derive(Debug, Clone, Default)]
pub struct RollbackOptions {
    /// Roll every target to this AMI instead of the one it named before.
    pub to: Option<ImageId>,
    /// Work everything out and check it, but write nothing.
    pub dry_run: bool,
}

/// What happened to one target.
#[derive(Debug, Clone, Serialize)]
pub struct RollbackItem {
    /// The target.
    pub target: TargetId,
    /// What was (or would be) done, from what to what.
    #[serde(flatten)]
    pub outcome: Outcome,
}

named_enum! {
    /// The overall result of a rollback.
    #[non_exhaustive]
    pub enum RollbackStatus {
        /// Every target was rolled back (or would be, in a dry run).
        Ok = "ok",
        /// Refused: nothing was written.
        Refused = "refused",
        /// An AWS call failed: while working out the moves (then nothing was written), or
        /// while writing.
        Failed = "failed",
    }
}

/// The report of one rollback.
#[derive(Debug, Clone, Serialize)]
pub struct RollbackReport {
    /// The overall result.
    pub status: RollbackStatus,
    /// Always said: a rollback sets aside the rule that pointers never move to older AMIs.
    pub notice: &'static str,
    /// Why the rollback was refused, when it was.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Whether this was a dry run.
    pub dry_run: bool,
    /// One item per target, in the order given.
    pub targets: Vec<RollbackItem>,
    /// What became of deregistration protection: the AMIs rolled back to are protected,
    /// amikeeper's protection on the AMIs the pointers left is released.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub protection: Vec<String>,
    /// What the rollback did but wants a person to know, e.g. that an AMI rolled back to does
    /// not meet the account's Allowed AMIs criteria, which are in audit mode.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
    /// AWS calls made.
    pub aws_calls: usize,
    /// AWS calls per operation.
    pub aws_calls_by_operation: BTreeMap<String, usize>,
}

const NOTICE: &str = "rollback: the rule that a pointer never moves to an older AMI is set aside for these targets";

/// How a target will be rolled back, once worked out.
enum Move {
    Parameter {
        from: String,
        to: ImageId,
        put: PutParameter,
    },
    FixedParameter {
        from: String,
        to: ImageId,
        existing: Parameter,
    },
    TemplateDefault {
        id: String,
        from: i64,
        from_image: Option<ImageId>,
        to: i64,
        to_image: ImageId,
    },
    TemplateNewVersion {
        id: String,
        from: i64,
        from_image: Option<ImageId>,
        to_image: ImageId,
    },
    Group {
        group: Box<crate::model::AutoScalingGroup>,
        from: String,
        from_image: Option<ImageId>,
        to: LaunchTemplateSpec,
        to_image: ImageId,
    },
    Stack {
        request: UpdateStack,
        from: String,
        to: ImageId,
    },
}

impl Move {
    fn image(&self) -> &ImageId {
        match self {
            Self::Parameter { to, .. } | Self::FixedParameter { to, .. } | Self::Stack { to, .. } => to,
            Self::TemplateDefault { to_image, .. } | Self::TemplateNewVersion { to_image, .. } => to_image,
            Self::Group { to_image, .. } => to_image,
        }
    }

    /// The AMI the pointer names before the rollback, whatever the kind of pointer.
    fn image_before(&self) -> Option<ImageId> {
        match self {
            Self::Parameter { from, .. } | Self::FixedParameter { from, .. } | Self::Stack { from, .. } => {
                protect::first_image_id(from)
            }
            Self::TemplateDefault { from_image, .. }
            | Self::TemplateNewVersion { from_image, .. }
            | Self::Group { from_image, .. } => from_image.clone(),
        }
    }

    fn describe(&self) -> (String, String, String) {
        match self {
            Self::Parameter { from, to, .. } => ("put the parameter".into(), from.clone(), to.to_string()),
            Self::FixedParameter { from, to, .. } => {
                ("re-create the parameter at version 1 (fixed-version mode)".into(), from.clone(), to.to_string())
            }
            Self::TemplateDefault { from, from_image, to, to_image, .. } => (
                format!("make version {to} (launching {to_image}) the default again"),
                format!("version {from} ({})", from_image.as_ref().map_or("no AMI".into(), ToString::to_string)),
                format!("version {to} ({to_image})"),
            ),
            Self::TemplateNewVersion { from, from_image, to_image, .. } => (
                format!("no version launches {to_image}: create one from version {from} and make it the default"),
                format!("version {from} ({})", from_image.as_ref().map_or("no AMI".into(), ToString::to_string)),
                to_image.to_string(),
            ),
            Self::Group { from, to, to_image, .. } => (
                format!("pin the group to version {} (launching {to_image})", to.version),
                from.clone(),
                format!("{} version {} ({to_image})", to.id, to.version),
            ),
            Self::Stack { from, to, .. } => {
                ("update the stack with the previous template".into(), from.clone(), to.to_string())
            }
        }
    }
}

/// Rolls `targets` back in `region`. See the module docs.
pub async fn rollback(
    aws: &dyn Aws,
    config: &Config,
    region: &Region,
    targets: &[RollbackTarget],
    options: &RollbackOptions,
) -> RollbackReport {
    let counting = CountingAws::new(aws);
    let mut report = RollbackReport {
        status: RollbackStatus::Ok,
        notice: NOTICE,
        reason: None,
        dry_run: options.dry_run,
        targets: Vec::new(),
        protection: Vec::new(),
        warnings: Vec::new(),
        aws_calls: 0,
        aws_calls_by_operation: BTreeMap::new(),
    };
    run(&counting, config, region, targets, options, &mut report).await;
    report.aws_calls = counting.log().count();
    report.aws_calls_by_operation =
        counting.log().by_operation().into_iter().map(|(op, n)| (op.to_owned(), n)).collect();
    report
}

async fn run(
    aws: &dyn Aws,
    config: &Config,
    region: &Region,
    targets: &[RollbackTarget],
    options: &RollbackOptions,
    report: &mut RollbackReport,
) {
    // 1. Work out every move, and check every AMI, before writing anything.
    let mut moves = Vec::new();
    // Targets that cannot be rolled back: refused (the target or its AMI is not fit), or
    // failed (an AWS call failed while working it out).
    let mut blocked = Vec::new();
    let mut images: BTreeMap<ImageId, Image> = BTreeMap::new();
    for target in targets {
        match plan(aws, config, region, target, options.to.as_ref()).await {
            Ok(Ok(planned)) => match check_image(aws, region, planned.image()).await {
                Ok(Ok((image, warning))) => {
                    if let Some(warning) = warning.filter(|w| !report.warnings.contains(w)) {
                        report.warnings.push(warning);
                    }
                    images.insert(image.id.clone(), image);
                    moves.push((target, planned));
                }
                Ok(Err(why)) => blocked.push((target, Status::Refused, why)),
                Err(error) => blocked.push((target, Status::Failed, error.to_string())),
            },
            Ok(Err(why)) => blocked.push((target, Status::Refused, why)),
            Err(error) => blocked.push((target, Status::Failed, error.to_string())),
        }
    }
    if !blocked.is_empty() {
        // A failure outranks a refusal: running it again may get past the failure.
        let failed = blocked.iter().any(|(_, status, _)| *status == Status::Failed);
        report.status = if failed { RollbackStatus::Failed } else { RollbackStatus::Refused };
        report.reason =
            Some(format!("{} of {} targets cannot be rolled back; nothing was written", blocked.len(), targets.len()));
        for (target, status, why) in blocked {
            report.targets.push(RollbackItem { target: target.id(), outcome: Outcome::new(status, why) });
        }
        return;
    }

    // 2. Write, target by target, noting the AMIs that pointers now name. Each pointer is
    //    followed by AMI (the one it named before, the one it names now), whatever its kind:
    //    a group's pointer is a launch template version, but what matters is what it launches.
    let mut rolled_to: Vec<ImageId> = Vec::new();
    let mut pointers: Vec<(Option<ImageId>, Option<ImageId>)> = Vec::new();
    for (target, planned) in moves {
        let (what, from, to) = planned.describe();
        let image = planned.image().clone();
        let before = planned.image_before();
        if options.dry_run {
            let outcome = Outcome::new(Status::Planned, format!("would {what}")).moved(Some(from), to);
            report.targets.push(RollbackItem { target: target.id(), outcome });
            pointers.push((before, Some(image.clone())));
            rolled_to.push(image);
            continue;
        }
        let outcome = match write(aws, region, planned).await {
            Ok(Some(why)) => {
                pointers.push((before.clone(), before));
                Outcome::new(Status::Unchanged, why).moved(Some(from), to)
            }
            Ok(None) => {
                pointers.push((before, Some(image.clone())));
                rolled_to.push(image);
                Outcome::new(Status::Updated, format!("rolled back: {what}")).moved(Some(from), to)
            }
            Err(error) => {
                // It may or may not have moved: it still counts as naming its AMI.
                pointers.push((before.clone(), before));
                report.status = RollbackStatus::Failed;
                Outcome::new(Status::Failed, error.to_string()).moved(Some(from), to)
            }
        };
        report.targets.push(RollbackItem { target: target.id(), outcome });
    }

    // 3. Protection follows the pointers: the AMIs rolled back to are protected, and
    //    amikeeper's protection on the AMIs they left is released.
    if config.protects_any() {
        for id in rolled_to {
            if let Some(image) = images.remove(&id) {
                report.protection.extend(protect::protect(aws, region, &image, options.dry_run).await);
            }
        }
        for left in protect::left_behind_images(pointers) {
            report.protection.extend(protect::release(aws, region, &left, None, options.dry_run).await);
        }
    }
}

/// The AMI to roll back to, with a warning to carry (Allowed AMIs in audit mode), or
/// `Err(why)` when it may not be rolled back to: it does not exist, is not `available`, or the
/// account's Allowed AMIs setting keeps it from launching (see [`allowed`](crate::allowed)).
async fn check_image(
    aws: &dyn Aws,
    region: &Region,
    image: &ImageId,
) -> AwsResult<Result<(Image, Option<String>), String>> {
    Ok(match aws.describe_image(region, image).await? {
        None => Err(match crate::allowed::hidden(aws, region, image).await {
            Some(hidden) => hidden,
            None => format!("{image} does not exist (deregistered, or not an AMI of this account and region)"),
        }),
        Some(found) if found.state != ImageState::Available => {
            Err(format!("{image} is {}, not available; a pointer never names an AMI that cannot launch", found.state))
        }
        Some(found) => match crate::allowed::check(aws, region, &found).await? {
            crate::allowed::Verdict::Allowed => Ok((found, None)),
            crate::allowed::Verdict::Warn(warning) => Ok((found, Some(warning))),
            crate::allowed::Verdict::Refuse(reason) => Err(reason),
        },
    })
}

/// The newest version below `below` whose AMI is set and differs from `current`.
fn previous_version(
    versions: &[LaunchTemplateVersion],
    below: i64,
    current: Option<&ImageId>,
) -> Option<(i64, ImageId)> {
    versions
        .iter()
        .filter(|v| v.number < below)
        .filter_map(|v| Some((v.number, v.image_id.clone()?)))
        .filter(|(_, image)| Some(image) != current)
        .max_by_key(|(number, _)| *number)
}

/// Works out one move: `Ok(Err(why))` when the target cannot be rolled back.
async fn plan(
    aws: &dyn Aws,
    config: &Config,
    region: &Region,
    target: &RollbackTarget,
    to: Option<&ImageId>,
) -> crate::error::Result<Result<Move, String>> {
    Ok(match target {
        RollbackTarget::SsmParameter(name) => {
            let fixed = config.rules.iter().flat_map(|r| &r.targets).any(
                |t| matches!(t, TargetConfig::SsmParameter { name: n, fixed_version: true, .. } if n.as_str() == name),
            );
            if fixed {
                let Some(to) = to else {
                    return Ok(Err(format!(
                        "{name} is a fixed-version parameter: each write re-creates it at version 1, so SSM \
                         keeps no history of its earlier values; pass --to AMI_ID to roll it back"
                    )));
                };
                let Some(current) = aws.get_parameter(region, name).await? else {
                    return Ok(Err(format!("parameter {name} does not exist")));
                };
                if current.value == to.as_str() {
                    return Ok(Err(format!("{name} already names {to}")));
                }
                return Ok(Ok(Move::FixedParameter { from: current.value.clone(), to: to.clone(), existing: current }));
            }
            let Some(current) = aws.get_parameter(region, name).await? else {
                return Ok(Err(format!("parameter {name} does not exist")));
            };
            let target_image = match to {
                Some(image) => image.clone(),
                None => {
                    let history = aws.get_parameter_history(region, name).await?;
                    let previous = history.iter().rev().find(|(_, value)| *value != current.value);
                    match previous {
                        Some((_, value)) => ImageId::new(value.clone()),
                        None => return Ok(Err(format!("{name} has named only {} in its history", current.value))),
                    }
                }
            };
            if current.value == target_image.as_str() {
                return Ok(Err(format!("{name} already names {target_image}")));
            }
            let put = PutParameter {
                name: name.clone(),
                value: target_image.to_string(),
                kind: current.kind,
                data_type: Some(current.data_type.clone()),
                overwrite: true,
                description: None,
            };
            Ok(Move::Parameter { from: current.value, to: target_image, put })
        }
        RollbackTarget::LaunchTemplate(reference) => {
            let Some(template) = aws.describe_launch_template(region, reference).await? else {
                return Ok(Err(format!("launch template {reference} does not exist")));
            };
            let versions = aws.describe_launch_template_versions(region, &template.id).await?;
            let default = template.default_version;
            let default_image = versions.iter().find(|v| v.number == default).and_then(|v| v.image_id.clone());
            let found = match to {
                Some(image) => versions
                    .iter()
                    .filter(|v| v.image_id.as_ref() == Some(image))
                    .map(|v| (v.number, image.clone()))
                    .max_by_key(|(n, _)| *n)
                    .ok_or_else(|| image.clone()),
                None => match previous_version(&versions, default, default_image.as_ref()) {
                    Some(found) => Ok(found),
                    None => {
                        return Ok(Err(format!(
                            "no version of {} below the default {default} launches another AMI",
                            template.id
                        )))
                    }
                },
            };
            match found {
                Ok((number, _)) if number == default => {
                    Err(format!("the default version {default} of {} already launches that AMI", template.id))
                }
                Ok((number, image)) => Ok(Move::TemplateDefault {
                    id: template.id,
                    from: default,
                    from_image: default_image,
                    to: number,
                    to_image: image,
                }),
                Err(image) => Ok(Move::TemplateNewVersion {
                    id: template.id,
                    from: default,
                    from_image: default_image,
                    to_image: image,
                }),
            }
        }
        RollbackTarget::AutoScalingGroup(name) => {
            let Some(group) = aws.describe_auto_scaling_group(region, name).await? else {
                return Ok(Err(format!("Auto Scaling group {name} does not exist")));
            };
            let Some(spec) = group.launch_template.clone() else {
                return Ok(Err(format!("Auto Scaling group {name} launches from no launch template")));
            };
            let Some(template) = aws.describe_launch_template(region, &LaunchTemplateRef::Id(spec.id.clone())).await?
            else {
                return Ok(Err(format!("launch template {} of group {name} does not exist", spec.id)));
            };
            let versions = aws.describe_launch_template_versions(region, &template.id).await?;
            let number = match spec.version.as_str() {
                "$Latest" => template.latest_version,
                "$Default" => template.default_version,
                n => n.parse().unwrap_or(template.latest_version),
            };
            let current = versions.iter().find(|v| v.number == number).and_then(|v| v.image_id.clone());
            let found = match to {
                Some(image) => versions
                    .iter()
                    .filter(|v| v.image_id.as_ref() == Some(image))
                    .map(|v| (v.number, image.clone()))
                    .max_by_key(|(n, _)| *n),
                None => previous_version(&versions, number, current.as_ref()),
            };
            let Some((version, image)) = found else {
                return Ok(Err(format!(
                    "no version of {} launches {}; roll the launch template back first, or pass --to an AMI one of its versions launches",
                    template.id,
                    to.map_or("an earlier AMI".to_owned(), ToString::to_string)
                )));
            };
            let to_spec = LaunchTemplateSpec { id: template.id.clone(), version: version.to_string() };
            let from = format!(
                "{} version {} ({})",
                spec.id,
                spec.version,
                current.as_ref().map_or("no AMI".into(), ToString::to_string)
            );
            Ok(Move::Group { group: Box::new(group), from, from_image: current, to: to_spec, to_image: image })
        }
        RollbackTarget::StackParameter { stack, parameter } => {
            let Some(to) = to else {
                return Ok(Err(format!(
                    "CloudFormation keeps no history of parameter values: pass --to AMI_ID to roll {stack}/{parameter} back"
                )));
            };
            let Some(found) = aws.describe_stack(region, stack).await? else {
                return Ok(Err(format!("stack {stack} does not exist")));
            };
            let Some(current) = found.parameters.get(parameter).cloned() else {
                return Ok(Err(format!("stack {stack} has no parameter {parameter}")));
            };
            if found.is_busy() {
                return Ok(Err(format!("stack {stack} is {}; roll back when it is stable", found.status)));
            }
            let capabilities = config
                .rules
                .iter()
                .flat_map(|r| &r.targets)
                .find_map(|t| match t {
                    TargetConfig::StackParameter { stack: s, capabilities, .. } if s.as_str() == stack => {
                        Some(capabilities.clone())
                    }
                    _ => None,
                })
                .unwrap_or_default();
            let request = crate::publish::stack_update_request(&found, parameter, to.as_str(), &capabilities);
            Ok(Move::Stack { request, from: current, to: to.clone() })
        }
    })
}

/// Writes one move; `Ok(Some(why))` when AWS says nothing changed.
async fn write(aws: &dyn Aws, region: &Region, planned: Move) -> crate::error::Result<Option<String>> {
    match planned {
        Move::Parameter { put, .. } => {
            aws.put_parameter(region, &put).await?;
        }
        Move::FixedParameter { to, existing, .. } => {
            let publisher = SsmParameterPublisher { name: existing.name.clone(), fixed_version: true, data_type: None };
            let described = DescribedImages::default();
            let ctx = PublishContext {
                aws,
                region,
                image: None,
                dry_run: false,
                event_id: "rollback",
                described: &described,
            };
            if let Replaced::Raced(error) = publisher.replace_at_version_one(&ctx, &existing, to.as_str()).await? {
                let message = format!(
                    "another writer re-created {} between the rollback's delete and put, so it holds that \
                     writer's value, not {to}; run the rollback again",
                    existing.name
                );
                return Err(AwsError { message, ..error }.into());
            }
        }
        Move::TemplateDefault { id, to, .. } => {
            aws.set_default_launch_template_version(region, &id, to).await?;
        }
        Move::TemplateNewVersion { id, from, to_image, .. } => {
            let version =
                aws.create_launch_template_version(region, &id, from, &to_image, "amikeeper rollback").await?;
            aws.set_default_launch_template_version(region, &id, version).await?;
        }
        Move::Group { group, to, .. } => {
            aws.set_launch_template(region, &group, &to).await?;
        }
        Move::Stack { request, .. } => {
            if let StackUpdate::NoChange = aws.update_stack(region, &request).await? {
                return Ok(Some("CloudFormation: no updates are to be performed".into()));
            }
        }
    }
    Ok(None)
}
