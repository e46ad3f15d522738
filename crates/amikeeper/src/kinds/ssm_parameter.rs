//! `kind = "ssm_parameter"`: an SSM parameter that holds the AMI id (published by
//! [`SsmParameterPublisher`]).

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use super::found::{find_parameters, listing_path, FindContext, FoundPointer};
use super::iam::{Job, TargetArns};
use super::value_move::{ValueMove, WriteBack};
use super::{InUse, Invalid, NameFailure, NameKind, Names, Planned, PointerKind, RollbackContext, TargetTemplate};
use crate::backend::Aws;
use crate::error::{AwsError, Result};
use crate::model::{ImageId, Parameter, PutParameter, Region};
use crate::publish::{DescribedImages, PointerNow, PublishContext, Publisher, Replaced, SsmParameterPublisher};
use crate::template::{NameTemplate, Placeholder};

/// An SSM parameter that holds the AMI id.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SsmParameterTarget {
    /// The parameter name, e.g. `/ami/web`, `{instance_id}` or `{tag:ImageIdParameterName}`.
    pub name: NameTemplate,
    /// Keep the value at version 1, for `{{resolve:ssm:NAME:1}}` (seed 000): the parameter is
    /// re-created, and restored if the new value cannot be written.
    #[serde(default)]
    pub fixed_version: bool,
    /// `aws:ec2:image` makes SSM check the value is an AMI id; default `text`.
    #[serde(default)]
    pub data_type: Option<String>,
    /// Turn on deregistration protection for the AMI this target is moved to; default:
    /// the configuration's `protect_published`.
    #[serde(default)]
    pub protect: Option<bool>,
}

#[async_trait]
impl PointerKind for SsmParameterTarget {
    const KIND: &'static str = "ssm_parameter";
    const POINTER_FORM: &'static str = "NAME";
    /// The parameter name.
    type Pointer = String;

    fn protect(&self) -> Option<bool> {
        self.protect
    }

    fn templates(&self) -> Vec<TargetTemplate<'_>> {
        vec![TargetTemplate { field: "name", template: &self.name, name_kind: NameKind::Parameter }]
    }

    fn validate(&self) -> std::result::Result<(), Invalid> {
        match &self.data_type {
            Some(data_type) if data_type != "text" && data_type != "aws:ec2:image" => {
                Err(Invalid::field("data_type", format!("`{data_type}`: use `text` or `aws:ec2:image`")))
            }
            _ => Ok(()),
        }
    }

    fn publisher(&self, names: &Names<'_>) -> std::result::Result<Box<dyn Publisher>, NameFailure> {
        Ok(Box::new(SsmParameterPublisher {
            name: names.render(&self.name, NameKind::Parameter)?,
            fixed_version: self.fixed_version,
            data_type: self.data_type.clone(),
        }))
    }

    /// A fixed name as it is; a template through the path before its first placeholder
    /// (`/ami/{tag:Role}` reads `/ami/`).
    fn in_use(&self, rule: &str, region: &Region) -> Vec<InUse> {
        let rendered = self.name.render(|p| match p {
            Placeholder::Region => Some(region.as_str()),
            Placeholder::Rule => Some(rule),
            _ => None,
        });
        if let Ok(exact) = rendered {
            return vec![InUse::Parameter(exact)];
        }
        let text = self.name.as_str();
        let literal = &text[..text.find('{').unwrap_or(text.len())];
        vec![match literal.rfind('/') {
            Some(end) if literal.starts_with('/') => InUse::ParameterPath(literal[..=end].to_owned()),
            _ => InUse::Unfindable(format!(
                "the parameters of rule {rule} (`{text}`) cannot be found by path; \
                 list where they live in retention.parameter_paths"
            )),
        }]
    }

    fn handle_actions(&self) -> Vec<&'static str> {
        let mut actions = vec!["ssm:GetParameter", "ssm:PutParameter"];
        if self.fixed_version {
            actions.push("ssm:DeleteParameter");
        } else {
            // After a race with another run: which AMIs were written meanwhile.
            actions.push("ssm:GetParameterHistory");
        }
        actions
    }

    fn rollback_actions() -> &'static [&'static str] {
        &["ssm:GetParameter", "ssm:GetParameterHistory", "ssm:PutParameter"]
    }

    /// `GetParameter` for a name known without an event; a name made from an event is found by
    /// listing (`find_parameters`): under its path, or every parameter's name, then their values.
    fn status_actions(&self) -> Vec<&'static str> {
        match (self.name.as_str().contains('{'), listing_path(&self.name)) {
            (false, _) => vec!["ssm:GetParameter"],
            (true, Some(_)) => vec!["ssm:GetParameter", "ssm:GetParametersByPath"],
            (true, None) => vec!["ssm:GetParameter", "ssm:DescribeParameters", "ssm:GetParameters"],
        }
    }

    fn iam_resources(&self, job: Job, action: &str, arns: &TargetArns<'_>) -> Option<Vec<String>> {
        let touched = match action {
            "ssm:GetParameter" | "ssm:PutParameter" => true,
            "ssm:DeleteParameter" => self.fixed_version,
            "ssm:GetParameterHistory" => job == Job::Rollback || !self.fixed_version,
            // Status lists a name made from an event under its path, or by name.
            "ssm:GetParameters" => job == Job::Status,
            "ssm:GetParametersByPath" if job == Job::Status => {
                return listing_path(&self.name).map(|path| arns.arns.parameter_path(path));
            }
            _ => false,
        };
        touched.then(|| arns.parameters(&self.name))
    }

    fn iam_caveat(&self) -> Option<&'static str> {
        Some("SecureString parameters also need kms:Decrypt and kms:Encrypt on their key")
    }

    fn parse_pointer(name: &str) -> Option<String> {
        Some(name.to_owned())
    }

    fn pointer_name(pointer: &String) -> String {
        pointer.clone()
    }

    async fn read_pointer(aws: &dyn Aws, region: &Region, name: &String) -> Result<PointerNow> {
        let found = aws.get_parameter(region, name).await?;
        Ok(PointerNow::from_value(found.as_ref().map(|p| p.value.as_str())))
    }

    /// The parameter's current value; it moved when its current version was written. SSM
    /// parameters carry their stack's tag only in `ListTagsForResource`, which status does not
    /// call: `stack` stays unknown.
    async fn find_pointers(&self, ctx: &FindContext<'_>) -> Result<Vec<FoundPointer>> {
        let found = find_parameters(ctx, &self.name).await?;
        if found.is_empty() {
            if let Some(name) = ctx.literal(&self.name) {
                return Ok(vec![FoundPointer::missing(name)]);
            }
        }
        Ok(found.into_iter().map(|(parameter, by)| FoundPointer::parameter(parameter, by)).collect())
    }

    /// The newest version in `GetParameterHistory` whose value differs from the current one.
    /// A fixed-version parameter keeps no history, so it needs `to`; it is re-created at
    /// version 1 the way publishing does.
    async fn plan_rollback(name: &String, ctx: &RollbackContext<'_, Self>) -> Result<Planned> {
        let (aws, region, configured, to) = (ctx.aws, ctx.region, ctx.configured, ctx.to);
        let fixed = configured.iter().any(|t| t.fixed_version && t.name.as_str() == name);
        if fixed && to.is_none() {
            return Ok(Err(format!(
                "{name} is a fixed-version parameter: each write re-creates it at version 1, so SSM \
                 keeps no history of its earlier values; pass --to AMI_ID to roll it back"
            )));
        }
        let Some(current) = aws.get_parameter(region, name).await? else {
            return Ok(Err(format!("parameter {name} does not exist")));
        };
        if let Some(to) = to.filter(|_| fixed) {
            if current.value == to.as_str() {
                return Ok(Err(format!("{name} already names {to}")));
            }
            let from = current.value.clone();
            return Ok(Ok(Box::new(ValueMove { from, to: to.clone(), write: RecreateAtVersionOne(current) })));
        }
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
        Ok(Ok(Box::new(ValueMove { from: current.value, to: target_image, write: PutBack(put) })))
    }
}

/// Put the parameter back to an earlier value.
struct PutBack(PutParameter);

#[async_trait]
impl WriteBack for PutBack {
    const DOES: &'static str = "put the parameter";

    async fn write_back(&self, aws: &dyn Aws, region: &Region, _to: &ImageId) -> Result<Option<String>> {
        aws.put_parameter(region, &self.0).await?;
        Ok(None)
    }
}

/// Re-create a fixed-version parameter (as it is now) at version 1 with an earlier value.
struct RecreateAtVersionOne(Parameter);

#[async_trait]
impl WriteBack for RecreateAtVersionOne {
    const DOES: &'static str = "re-create the parameter at version 1 (fixed-version mode)";

    async fn write_back(&self, aws: &dyn Aws, region: &Region, to: &ImageId) -> Result<Option<String>> {
        let existing = &self.0;
        let publisher = SsmParameterPublisher { name: existing.name.clone(), fixed_version: true, data_type: None };
        let described = DescribedImages::default();
        let ctx =
            PublishContext { aws, region, image: None, dry_run: false, event_id: "rollback", described: &described };
        if let Replaced::Raced(error) = publisher.replace_at_version_one(&ctx, existing, to.as_str()).await? {
            let message = format!(
                "another writer re-created {} between the rollback's delete and put, so it holds that \
                 writer's value, not {to}; run the rollback again",
                existing.name
            );
            return Err(AwsError { message, ..error }.into());
        }
        Ok(None)
    }
}
