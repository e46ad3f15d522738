//! `kind = "stack_parameter"`: a CloudFormation stack parameter that holds the AMI id
//! (published by [`StackParameterPublisher`]).

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use super::found::{image_in, FindContext, FoundBy, FoundPointer};
use super::iam::{Job, TargetArns};
use super::value_move::{ValueMove, WriteBack};
use super::{
    InUse, Invalid, Listing, NameFailure, NameKind, Names, Planned, PointerKind, RollbackContext, TargetTemplate,
};
use crate::backend::Aws;
use crate::error::Result;
use crate::model::{ImageId, Region, Stack, StackUpdate, UpdateStack};
use crate::publish::{stack_update_request, PointerNow, Publisher, StackParameterPublisher};
use crate::template::NameTemplate;

/// A CloudFormation stack parameter (seed 001, pattern 2).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StackParameterTarget {
    /// The stack name, e.g. `{tag:StackName}`.
    pub stack: NameTemplate,
    /// The parameter that holds the AMI id (default `ImageId`).
    #[serde(default = "default_stack_parameter")]
    pub parameter: String,
    /// Capabilities to acknowledge, e.g. `CAPABILITY_NAMED_IAM`.
    #[serde(default)]
    pub capabilities: Vec<String>,
    /// Turn on deregistration protection for the AMI this target is moved to; default:
    /// the configuration's `protect_published`.
    #[serde(default)]
    pub protect: Option<bool>,
}

fn default_stack_parameter() -> String {
    "ImageId".to_owned()
}

/// The capabilities CloudFormation knows.
const SUPPORTED_CAPABILITIES: [&str; 3] = ["CAPABILITY_IAM", "CAPABILITY_NAMED_IAM", "CAPABILITY_AUTO_EXPAND"];

/// A stack parameter named on the rollback command line: `STACK` or `STACK/PARAMETER`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StackPointer {
    /// The stack name.
    pub stack: String,
    /// The parameter key (default `ImageId`).
    pub parameter: String,
}

#[async_trait]
impl PointerKind for StackParameterTarget {
    const KIND: &'static str = "stack_parameter";
    const POINTER_FORM: &'static str = "STACK[/PARAMETER]";
    type Pointer = StackPointer;

    fn protect(&self) -> Option<bool> {
        self.protect
    }

    fn templates(&self) -> Vec<TargetTemplate<'_>> {
        vec![TargetTemplate { field: "stack", template: &self.stack, name_kind: NameKind::Stack }]
    }

    fn validate(&self) -> std::result::Result<(), Invalid> {
        if self.parameter.is_empty() {
            return Err(Invalid::field("parameter", "name the stack parameter"));
        }
        if let Some(bad) = self.capabilities.iter().find(|c| !SUPPORTED_CAPABILITIES.contains(&c.as_str())) {
            return Err(Invalid::field(
                "capabilities",
                format!("`{bad}`; CloudFormation knows {}", SUPPORTED_CAPABILITIES.join(", ")),
            ));
        }
        Ok(())
    }

    fn publisher(&self, names: &Names<'_>) -> std::result::Result<Box<dyn Publisher>, NameFailure> {
        Ok(Box::new(StackParameterPublisher {
            stack: names.render(&self.stack, NameKind::Stack)?,
            parameter: self.parameter.clone(),
            capabilities: self.capabilities.clone(),
        }))
    }

    fn in_use(&self, _rule: &str, _region: &Region) -> Vec<InUse> {
        vec![InUse::Listing(Listing::StackParameters)]
    }

    fn handle_actions(&self) -> Vec<&'static str> {
        vec!["cloudformation:DescribeStacks", "cloudformation:UpdateStack"]
    }

    fn rollback_actions() -> &'static [&'static str] {
        &["cloudformation:DescribeStacks", "cloudformation:UpdateStack"]
    }

    /// `DescribeStacks` on the stack its name makes without an event; a name made from an event
    /// is found by listing every stack (`DescribeStacks` without a name, which also needs
    /// `ListStacks`).
    fn status_actions(&self) -> Vec<&'static str> {
        match self.stack.as_str().contains('{') {
            false => vec!["cloudformation:DescribeStacks"],
            true => vec!["cloudformation:DescribeStacks", "cloudformation:ListStacks"],
        }
    }

    fn iam_resources(&self, _job: Job, action: &str, arns: &TargetArns<'_>) -> Option<Vec<String>> {
        matches!(action, "cloudformation:DescribeStacks" | "cloudformation:UpdateStack")
            .then(|| arns.stacks(&self.stack))
    }

    fn iam_caveat(&self) -> Option<&'static str> {
        Some(
            "cloudformation:UpdateStack runs with the caller's permissions unless the stack has a service \
             role: the role also needs whatever the stack's resources need to update",
        )
    }

    fn parse_pointer(name: &str) -> Option<StackPointer> {
        let (stack, parameter) = name.split_once('/').unwrap_or((name, "ImageId"));
        let given = !stack.is_empty() && !parameter.is_empty();
        given.then(|| StackPointer { stack: stack.to_owned(), parameter: parameter.to_owned() })
    }

    fn pointer_name(pointer: &StackPointer) -> String {
        format!("{}/{}", pointer.stack, pointer.parameter)
    }

    async fn read_pointer(aws: &dyn Aws, region: &Region, pointer: &StackPointer) -> Result<PointerNow> {
        let found = aws.describe_stack(region, &pointer.stack).await?;
        let value = found.as_ref().and_then(|stack| stack.parameters.get(&pointer.parameter));
        Ok(PointerNow::from_value(value.map(String::as_str)))
    }

    /// The stack's parameter; it moved at the stack's last update (any update: CloudFormation
    /// keeps no history of one parameter). The stack owns it.
    async fn find_pointers(&self, ctx: &FindContext<'_>) -> Result<Vec<FoundPointer>> {
        let found = |stack: Stack, by: FoundBy| {
            let name = format!("{}/{}", stack.name, self.parameter);
            let image = image_in(stack.parameters.get(&self.parameter).map(String::as_str));
            let pointer = FoundPointer::new(name, by, image).moved(stack.updated);
            FoundPointer { stack: Some(stack.name), ..pointer }
        };
        if let Some(name) = ctx.literal(&self.stack) {
            return Ok(vec![match ctx.aws.describe_stack(ctx.region, &name).await? {
                Some(stack) => found(stack, FoundBy::Configured),
                None => FoundPointer::missing(format!("{name}/{}", self.parameter)),
            }]);
        }
        let made_by = ctx.made_by(&self.stack);
        let stacks = ctx.aws.describe_stacks(ctx.region).await?;
        Ok(stacks.into_iter().filter(|s| made_by(&s.name)).map(|s| found(s, FoundBy::Listed)).collect())
    }

    /// CloudFormation keeps no history of parameter values, so a stack needs `to`; the stack
    /// is updated with its previous template and the capabilities its target acknowledges.
    async fn plan_rollback(pointer: &StackPointer, ctx: &RollbackContext<'_, Self>) -> Result<Planned> {
        let (aws, region, configured, to) = (ctx.aws, ctx.region, ctx.configured, ctx.to);
        let StackPointer { stack, parameter } = pointer;
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
        let capabilities =
            configured.iter().find(|t| t.stack.as_str() == stack).map(|t| t.capabilities.clone()).unwrap_or_default();
        let request = stack_update_request(&found, parameter, to.as_str(), &capabilities);
        Ok(Ok(Box::new(ValueMove { from: current, to: to.clone(), write: UpdateBack(request) })))
    }
}

/// Update the stack with its previous template and an earlier parameter value.
struct UpdateBack(UpdateStack);

#[async_trait]
impl WriteBack for UpdateBack {
    const DOES: &'static str = "update the stack with the previous template";

    async fn write_back(&self, aws: &dyn Aws, region: &Region, _to: &ImageId) -> Result<Option<String>> {
        Ok(match aws.update_stack(region, &self.0).await? {
            StackUpdate::NoChange => Some("CloudFormation: no updates are to be performed".into()),
            _ => None,
        })
    }
}
