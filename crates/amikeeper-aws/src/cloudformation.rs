//! [`CloudFormationApi`] over `aws-sdk-cloudformation`.

use amikeeper::backend::{AwsResult, CloudFormationApi};
use amikeeper::model::{Region, Stack, StackParameterValue, StackUpdate, UpdateStack};
use amikeeper::AwsErrorKind;
use async_trait::async_trait;
use aws_sdk_cloudformation::types::{self as cfn, Capability};

use crate::error::{from_sdk_error, invalid_response, read_all};
use crate::SdkAws;

const SERVICE: &str = "cloudformation";

/// The message of the `ValidationError` `UpdateStack` answers when nothing would change.
const NO_UPDATES: &str = "No updates are to be performed";

pub(crate) fn stack_from_sdk(stack: &cfn::Stack) -> AwsResult<Stack> {
    let name =
        stack.stack_name().ok_or_else(|| invalid_response(SERVICE, "DescribeStacks", "a stack without StackName"))?;
    Ok(Stack {
        name: name.to_owned(),
        id: stack.stack_id().unwrap_or_default().to_owned(),
        status: stack.stack_status().map(|status| status.as_str().to_owned()).unwrap_or_default(),
        parameters: stack
            .parameters()
            .iter()
            .filter_map(|parameter| {
                Some((
                    parameter.parameter_key()?.to_owned(),
                    parameter.parameter_value().unwrap_or_default().to_owned(),
                ))
            })
            .collect(),
        updated: stack.last_updated_time().or(stack.creation_time()).and_then(crate::ec2::convert::datetime_from_sdk),
    })
}

pub(crate) fn parameter_to_sdk(key: &str, value: &StackParameterValue) -> cfn::Parameter {
    let parameter = cfn::Parameter::builder().parameter_key(key);
    match value {
        StackParameterValue::UsePrevious => parameter.use_previous_value(true),
        StackParameterValue::Value(value) => parameter.parameter_value(value),
    }
    .build()
}

#[async_trait]
impl CloudFormationApi for SdkAws {
    async fn describe_stack(&self, region: &Region, name: &str) -> AwsResult<Option<Stack>> {
        let client = self.cloudformation(region)?;
        let output = match client.describe_stacks().stack_name(name).send().await {
            Ok(output) => output,
            Err(error) => {
                let error = from_sdk_error(SERVICE, "DescribeStacks", error);
                // `ValidationError: Stack with id NAME does not exist`.
                if error.kind == AwsErrorKind::NotFound {
                    tracing::debug!(%region, stack = name, "stack not found");
                    return Ok(None);
                }
                return Err(error);
            }
        };
        output.stacks().first().map(stack_from_sdk).transpose()
    }

    async fn update_stack(&self, region: &Region, request: &UpdateStack) -> AwsResult<StackUpdate> {
        let client = self.cloudformation(region)?;
        let parameters = request.parameters.iter().map(|(key, value)| parameter_to_sdk(key, value)).collect();
        let capabilities = request.capabilities.iter().map(|c| Capability::from(c.as_str())).collect();
        let result = client
            .update_stack()
            .stack_name(&request.name)
            .use_previous_template(true)
            .set_parameters(Some(parameters))
            .set_capabilities(Some(capabilities))
            .send()
            .await;
        match result {
            Ok(output) => {
                let stack_id = output.stack_id().unwrap_or(&request.name).to_owned();
                tracing::info!(%region, stack = %request.name, %stack_id, "stack update started");
                Ok(StackUpdate::Started { stack_id })
            }
            Err(error) => {
                let error = from_sdk_error(SERVICE, "UpdateStack", error);
                if error.code == "ValidationError" && error.message.contains(NO_UPDATES) {
                    tracing::info!(%region, stack = %request.name, "stack already up to date");
                    return Ok(StackUpdate::NoChange);
                }
                Err(error)
            }
        }
    }

    async fn describe_stacks(&self, region: &Region) -> AwsResult<Vec<Stack>> {
        let client = self.cloudformation(region)?;
        let stacks =
            read_all(SERVICE, "DescribeStacks", client.describe_stacks().into_paginator().items().send()).await?;
        let stacks = stacks.iter().map(stack_from_sdk).collect::<AwsResult<Vec<_>>>()?;
        tracing::debug!(%region, stacks = stacks.len(), "described stacks");
        Ok(stacks)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stack_maps_every_field() {
        let sdk = cfn::Stack::builder()
            .stack_name("web")
            .stack_id("arn:aws:cloudformation:ap-southeast-1:111122223333:stack/web/1")
            .stack_status(cfn::StackStatus::UpdateInProgress)
            .parameters(cfn::Parameter::builder().parameter_key("AmiId").parameter_value("ami-1").build())
            .parameters(cfn::Parameter::builder().parameter_key("Size").parameter_value("3").build())
            .build();
        let stack = stack_from_sdk(&sdk).unwrap();
        assert_eq!(stack.name, "web");
        assert_eq!(stack.id, "arn:aws:cloudformation:ap-southeast-1:111122223333:stack/web/1");
        assert_eq!(stack.status, "UPDATE_IN_PROGRESS");
        assert!(stack.is_busy());
        assert_eq!(stack.parameters.get("AmiId").map(String::as_str), Some("ami-1"));
        assert_eq!(stack.parameters.len(), 2);
    }

    #[test]
    fn parameters_use_previous_or_set() {
        let previous = parameter_to_sdk("Size", &StackParameterValue::UsePrevious);
        assert_eq!(previous.parameter_key(), Some("Size"));
        assert_eq!(previous.use_previous_value(), Some(true));
        assert_eq!(previous.parameter_value(), None);
        let set = parameter_to_sdk("AmiId", &StackParameterValue::Value("ami-2".into()));
        assert_eq!(set.parameter_value(), Some("ami-2"));
        assert_eq!(set.use_previous_value(), None);
    }
}
