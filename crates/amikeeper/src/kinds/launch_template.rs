//! `kind = "launch_template"`: a new launch template version with the AMI, made the default
//! (published by [`LaunchTemplatePublisher`]).

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use super::found::{find_parameters, FindContext, FoundBy, FoundPointer};
use super::iam::{Job, TargetArns};
use super::{
    InUse, Invalid, Listing, NameFailure, NameKind, Names, Planned, PointerKind, RollbackContext, RollbackMove,
    TargetTemplate,
};
use crate::backend::Aws;
use crate::error::Result;
use crate::model::{
    CreateLaunchTemplateVersion, ImageId, LaunchTemplate, LaunchTemplateRef, LaunchTemplateVersion, Region,
};
use crate::publish::{LaunchTemplateLocator, LaunchTemplatePublisher, PointerNow, Publisher};
use crate::template::{NameSet, NameTemplate};

/// A launch template: a new version from `$Latest` with the new AMI.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LaunchTemplateTarget {
    /// The template id (`lt-...`), may use placeholders such as `{launch_template_id}`.
    #[serde(default)]
    pub id: Option<NameTemplate>,
    /// The template name.
    #[serde(default)]
    pub name: Option<NameTemplate>,
    /// An SSM parameter whose value is the template id (seed 002).
    #[serde(default)]
    pub id_from_parameter: Option<NameTemplate>,
    /// Make the new version the default (default true).
    #[serde(default = "default_true")]
    pub set_default: bool,
    /// Keep this many newest versions and delete older ones; never the default, the
    /// latest, or one an Auto Scaling group pins. Unset: delete nothing.
    #[serde(default)]
    pub keep_versions: Option<u32>,
    /// Change the template even when a CloudFormation stack manages it.
    #[serde(default)]
    pub allow_stack_managed: bool,
    /// Turn on deregistration protection for the AMI this target is moved to; default:
    /// the configuration's `protect_published`.
    #[serde(default)]
    pub protect: Option<bool>,
}

fn default_true() -> bool {
    true
}

#[async_trait]
impl PointerKind for LaunchTemplateTarget {
    const KIND: &'static str = "launch_template";
    const POINTER_FORM: &'static str = "ID_OR_NAME";
    /// The template, by id (`lt-...`) or name.
    type Pointer = LaunchTemplateRef;

    fn protect(&self) -> Option<bool> {
        self.protect
    }

    fn templates(&self) -> Vec<TargetTemplate<'_>> {
        [
            ("id", self.id.as_ref(), NameKind::LaunchTemplateId),
            ("name", self.name.as_ref(), NameKind::LaunchTemplateName),
            ("id_from_parameter", self.id_from_parameter.as_ref(), NameKind::Parameter),
        ]
        .into_iter()
        .filter_map(|(field, template, name_kind)| {
            template.map(|template| TargetTemplate { field, template, name_kind })
        })
        .collect()
    }

    fn validate(&self) -> std::result::Result<(), Invalid> {
        let given = [self.id.is_some(), self.name.is_some(), self.id_from_parameter.is_some()];
        if given.into_iter().filter(|b| *b).count() != 1 {
            return Err(Invalid::target(
                "a launch_template target needs exactly one of `id`, `name`, `id_from_parameter`",
            ));
        }
        if self.keep_versions == Some(0) {
            return Err(Invalid::field("keep_versions", "keep at least 1 version"));
        }
        Ok(())
    }

    fn publisher(&self, names: &Names<'_>) -> std::result::Result<Box<dyn Publisher>, NameFailure> {
        let template = if let Some(id) = &self.id {
            LaunchTemplateLocator::Direct(LaunchTemplateRef::Id(names.render(id, NameKind::LaunchTemplateId)?))
        } else if let Some(name) = &self.name {
            LaunchTemplateLocator::Direct(LaunchTemplateRef::Name(names.render(name, NameKind::LaunchTemplateName)?))
        } else if let Some(parameter) = &self.id_from_parameter {
            LaunchTemplateLocator::IdFromParameter(names.render(parameter, NameKind::Parameter)?)
        } else {
            unreachable!("validated: a launch template target has one reference")
        };
        Ok(Box::new(LaunchTemplatePublisher {
            template,
            set_default: self.set_default,
            keep_versions: self.keep_versions,
            allow_stack_managed: self.allow_stack_managed,
        }))
    }

    fn in_use(&self, _rule: &str, _region: &Region) -> Vec<InUse> {
        vec![InUse::Listing(Listing::LaunchTemplateVersions)]
    }

    fn handle_actions(&self) -> Vec<&'static str> {
        let mut actions = vec![
            "ec2:DescribeLaunchTemplates",
            "ec2:DescribeLaunchTemplateVersions",
            "ec2:CreateLaunchTemplateVersion",
            // Pruning (keep_versions), and a duplicate version after a race.
            "ec2:DeleteLaunchTemplateVersions",
        ];
        if self.keep_versions.is_some() {
            // Pruning never deletes a version an Auto Scaling group pins.
            actions.push("autoscaling:DescribeAutoScalingGroups");
        }
        if self.id_from_parameter.is_some() {
            actions.push("ssm:GetParameter");
        }
        if self.set_default {
            actions.push("ec2:ModifyLaunchTemplate");
        }
        actions
    }

    fn rollback_actions() -> &'static [&'static str] {
        &[
            "ec2:DescribeLaunchTemplates",
            "ec2:DescribeLaunchTemplateVersions",
            "ec2:CreateLaunchTemplateVersion",
            "ec2:ModifyLaunchTemplate",
        ]
    }

    fn iam_resources(&self, job: Job, action: &str, arns: &TargetArns<'_>) -> Option<Vec<String>> {
        let rollback = job == Job::Rollback;
        let touched = match action {
            "ssm:GetParameter" => !rollback && self.id_from_parameter.is_some(),
            "ec2:CreateLaunchTemplateVersion" | "ec2:DeleteLaunchTemplateVersions" => true,
            "ec2:ModifyLaunchTemplate" => rollback || self.set_default,
            _ => false,
        };
        if !touched {
            return None;
        }
        Some(match (&self.id_from_parameter, &self.id) {
            (Some(parameter), _) if action.starts_with("ssm:") => arns.parameters(parameter),
            (_, Some(id)) => arns.launch_templates(id),
            // By name, or by an id a parameter holds: any template of the account.
            _ => arns.arns.launch_templates(&NameSet::StartingWith(String::new())),
        })
    }

    fn iam_caveat(&self) -> Option<&'static str> {
        self.id.is_none().then_some(
            "a launch_template target by `name` or `id_from_parameter` is granted on every launch template of the \
             account (launch-template/*): IAM names launch templates by id only and EC2 has no condition key for a \
             template's name; write `id = \"lt-...\"` to narrow it",
        )
    }

    fn parse_pointer(name: &str) -> Option<LaunchTemplateRef> {
        Some(match name.starts_with("lt-") {
            true => LaunchTemplateRef::Id(name.to_owned()),
            false => LaunchTemplateRef::Name(name.to_owned()),
        })
    }

    fn pointer_name(pointer: &LaunchTemplateRef) -> String {
        pointer.to_string()
    }

    /// The AMI the default version launches.
    async fn read_pointer(aws: &dyn Aws, region: &Region, reference: &LaunchTemplateRef) -> Result<PointerNow> {
        let Some(template) = aws.describe_launch_template(region, reference).await? else {
            return Ok(PointerNow::NoImage);
        };
        let versions = aws.describe_launch_template_versions(region, &template.id).await?;
        let default = versions.iter().find(|v| v.number == template.default_version);
        Ok(default.and_then(|v| v.image_id.clone()).map_or(PointerNow::NoImage, PointerNow::Image))
    }

    /// The template's default version: the AMI it launches, moved when it was created. By id
    /// or name from an event: every template listed whose id or name the target can make; from
    /// a parameter: the templates the parameters found name.
    async fn find_pointers(&self, ctx: &FindContext<'_>) -> Result<Vec<FoundPointer>> {
        let (aws, region) = (ctx.aws, ctx.region);
        let mut templates = Vec::new();
        if let Some(parameter) = &self.id_from_parameter {
            for (parameter, by) in find_parameters(ctx, parameter).await? {
                let reference = LaunchTemplateRef::Id(parameter.value.clone());
                templates.push((aws.describe_launch_template(region, &reference).await?, by, parameter.value));
            }
        } else {
            let (template, by_id) = match (&self.id, &self.name) {
                (Some(id), _) => (id, true),
                (None, Some(name)) => (name, false),
                (None, None) => unreachable!("validated: a launch template target has one reference"),
            };
            if let Some(name) = ctx.literal(template) {
                let reference =
                    if by_id { LaunchTemplateRef::Id(name.clone()) } else { LaunchTemplateRef::Name(name.clone()) };
                templates.push((aws.describe_launch_template(region, &reference).await?, FoundBy::Configured, name));
            } else {
                let made_by = ctx.made_by(template);
                for listed in aws.describe_launch_templates(region).await? {
                    if made_by(if by_id { &listed.id } else { &listed.name }) {
                        let name = listed.id.clone();
                        templates.push((Some(listed), FoundBy::Listed, name));
                    }
                }
            }
        }
        let mut found = Vec::new();
        for (template, by, name) in templates {
            found.push(match template {
                Some(template) => {
                    let (image, created) = default_version(aws, region, &template).await?;
                    FoundPointer::new(template.id.clone(), by, image).moved(created).owned_per(&template.tags)
                }
                None => FoundPointer::missing(name),
            });
        }
        Ok(found)
    }

    /// The newest version below the default whose AMI differs from the default's (or the
    /// newest that launches `to`) becomes the default again; no version launches `to`: a new
    /// one is made from the default.
    async fn plan_rollback(reference: &LaunchTemplateRef, ctx: &RollbackContext<'_, Self>) -> Result<Planned> {
        let (aws, region, to) = (ctx.aws, ctx.region, ctx.to);
        let Some(template) = aws.describe_launch_template(region, reference).await? else {
            return Ok(Err(format!("launch template {reference} does not exist")));
        };
        let versions = aws.describe_launch_template_versions(region, &template.id).await?;
        let default = template.default_version;
        let default_image = versions.iter().find(|v| v.number == default).and_then(|v| v.image_id.clone());
        let found = match to {
            Some(image) => newest_launching(&versions, image).ok_or_else(|| image.clone()),
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
        let (id, from, from_image) = (template.id, default, default_image);
        Ok(match found {
            Ok((number, _)) if number == default => {
                Err(format!("the default version {default} of {id} already launches that AMI"))
            }
            Ok((to, to_image)) => Ok(Box::new(TemplateMove { id, from, from_image, to: Some(to), to_image })),
            Err(to_image) => Ok(Box::new(TemplateMove { id, from, from_image, to: None, to_image })),
        })
    }
}

/// The AMI `template`'s version `number` launches, and when that version was created.
pub(crate) async fn version_of(
    aws: &dyn Aws,
    region: &Region,
    template: &LaunchTemplate,
    number: i64,
) -> Result<(Option<ImageId>, Option<time::OffsetDateTime>)> {
    let versions = aws.describe_launch_template_versions(region, &template.id).await?;
    let version = versions.into_iter().find(|v| v.number == number);
    Ok(version.map_or((None, None), |v| (v.image_id, v.created)))
}

/// The AMI `template`'s default version launches, and when that version was created.
async fn default_version(
    aws: &dyn Aws,
    region: &Region,
    template: &LaunchTemplate,
) -> Result<(Option<ImageId>, Option<time::OffsetDateTime>)> {
    version_of(aws, region, template, template.default_version).await
}

/// The newest version whose AMI is `image`.
pub(crate) fn newest_launching(versions: &[LaunchTemplateVersion], image: &ImageId) -> Option<(i64, ImageId)> {
    versions
        .iter()
        .filter(|v| v.image_id.as_ref() == Some(image))
        .map(|v| (v.number, image.clone()))
        .max_by_key(|(n, _)| *n)
}

/// The newest version below `below` whose AMI is set and differs from `current`.
pub(crate) fn previous_version(
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

/// Make an earlier version the default again (`to`), or, when no version launches the AMI,
/// a new version from the default (`to: None`).
struct TemplateMove {
    id: String,
    from: i64,
    from_image: Option<ImageId>,
    to: Option<i64>,
    to_image: ImageId,
}

#[async_trait]
impl RollbackMove for TemplateMove {
    fn image(&self) -> &ImageId {
        &self.to_image
    }

    fn image_before(&self) -> Option<ImageId> {
        self.from_image.clone()
    }

    fn describe(&self) -> (String, String, String) {
        let (from, to_image) = (self.from, &self.to_image);
        let before =
            format!("version {from} ({})", self.from_image.as_ref().map_or("no AMI".into(), ToString::to_string));
        match self.to {
            Some(to) => (
                format!("make version {to} (launching {to_image}) the default again"),
                before,
                format!("version {to} ({to_image})"),
            ),
            None => (
                format!("no version launches {to_image}: create one from version {from} and make it the default"),
                before,
                to_image.to_string(),
            ),
        }
    }

    async fn write(&self, aws: &dyn Aws, region: &Region) -> Result<Option<String>> {
        let version = match self.to {
            Some(version) => version,
            None => {
                let request =
                    CreateLaunchTemplateVersion::new(&self.id, self.from, &self.to_image, "amikeeper rollback");
                aws.create_launch_template_version(region, &request).await?
            }
        };
        aws.set_default_launch_template_version(region, &self.id, version).await?;
        Ok(None)
    }
}
