//! [`StackParameterPublisher`]: a CloudFormation stack parameter that holds the AMI id.

use async_trait::async_trait;

use super::{guard_monotonic, Outcome, PublishContext, Publisher, Status, TargetId};
use crate::error::{Error, Result};
use crate::model::{Stack, StackParameterValue, StackUpdate, UpdateStack};

/// Updates one stack parameter with the AMI id, with `UsePreviousTemplate` and
/// `UsePreviousValue` for every other parameter (seed 001, pattern 2).
///
/// CloudFormation's "No updates are to be performed" is a no-op, and a stack with an
/// operation in progress is deferred rather than failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StackParameterPublisher {
    /// The stack name.
    pub stack: String,
    /// The parameter holding the AMI id.
    pub parameter: String,
    /// Capabilities to acknowledge.
    pub capabilities: Vec<String>,
}

#[async_trait]
impl Publisher for StackParameterPublisher {
    fn target(&self) -> TargetId {
        TargetId { kind: "stack_parameter", name: format!("{}/{}", self.stack, self.parameter) }
    }

    async fn publish(&self, ctx: &PublishContext<'_>) -> Result<Outcome> {
        let image = ctx.require_image()?;
        let stack = ctx.aws.describe_stack(ctx.region, &self.stack).await?.ok_or_else(|| Error::NotFound {
            kind: "CloudFormation stack",
            name: self.stack.clone(),
            region: ctx.region.to_string(),
        })?;
        let Some(current) = stack.parameters.get(&self.parameter) else {
            return Ok(Outcome::new(
                Status::Skipped,
                format!(
                    "stack {} has no parameter `{}` (it has: {})",
                    stack.name,
                    self.parameter,
                    stack.parameters.keys().cloned().collect::<Vec<_>>().join(", ")
                ),
            ));
        };
        if let Some(stop) = guard_monotonic(ctx, Some(current), image).await? {
            return Ok(stop);
        }
        if stack.is_busy() {
            return Ok(Outcome::new(
                Status::Deferred,
                format!("stack {} is {}; the next event (or a re-run) updates it", stack.name, stack.status),
            )
            .moved(Some(current.clone()), image.id.as_str()));
        }
        if ctx.dry_run {
            return Ok(Outcome::new(Status::Planned, "would update the stack with the previous template")
                .moved(Some(current.clone()), image.id.as_str()));
        }
        let request = update_request(&stack, &self.parameter, image.id.as_str(), &self.capabilities);
        match ctx.aws.update_stack(ctx.region, &request).await? {
            StackUpdate::Started { stack_id } => Ok(Outcome::new(
                Status::Updated,
                format!("stack update started ({stack_id}); CloudFormation finishes it"),
            )
            .moved(Some(current.clone()), image.id.as_str())),
            StackUpdate::NoChange => {
                Ok(Outcome::new(Status::Unchanged, "CloudFormation: no updates are to be performed")
                    .moved(Some(current.clone()), image.id.as_str()))
            }
        }
    }
}

/// `UpdateStack` with the previous template, `value` for `parameter` and `UsePreviousValue` for
/// every other parameter (CloudFormation wants each one named).
pub(crate) fn update_request(stack: &Stack, parameter: &str, value: &str, capabilities: &[String]) -> UpdateStack {
    let parameters = stack
        .parameters
        .keys()
        .map(|key| {
            let value = if key == parameter {
                StackParameterValue::Value(value.to_owned())
            } else {
                StackParameterValue::UsePrevious
            };
            (key.clone(), value)
        })
        .collect();
    UpdateStack { name: stack.name.clone(), parameters, capabilities: capabilities.to_vec() }
}
