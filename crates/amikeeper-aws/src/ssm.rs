//! [`SsmApi`] over `aws-sdk-ssm`: Parameter Store. Values are never logged.

use amikeeper::backend::{AwsResult, SsmApi};
use amikeeper::model::{Parameter, ParameterType, PutParameter, Region};
use async_trait::async_trait;
use aws_sdk_ssm::types as ssm;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;

use crate::error::{from_sdk_error, invalid_response, read_all, sdk_error};
use crate::SdkAws;

const SERVICE: &str = "ssm";

pub(crate) fn parameter_type_to_sdk(kind: ParameterType) -> ssm::ParameterType {
    match kind {
        ParameterType::String => ssm::ParameterType::String,
        ParameterType::StringList => ssm::ParameterType::StringList,
        ParameterType::SecureString => ssm::ParameterType::SecureString,
    }
}

/// SSM's parameter type to amikeeper's; an unknown type is treated as `SecureString`, so that
/// its value is never logged.
pub(crate) fn parameter_type_from_sdk(kind: Option<&ssm::ParameterType>) -> ParameterType {
    match kind {
        Some(ssm::ParameterType::String) | None => ParameterType::String,
        Some(ssm::ParameterType::StringList) => ParameterType::StringList,
        Some(_) => ParameterType::SecureString,
    }
}

pub(crate) fn parameter_from_sdk(parameter: &ssm::Parameter) -> AwsResult<Parameter> {
    let name = parameter.name().ok_or_else(|| invalid_response(SERVICE, "GetParameter", "a parameter without Name"))?;
    Ok(Parameter {
        name: name.to_owned(),
        value: parameter.value().unwrap_or_default().to_owned(),
        version: parameter.version(),
        kind: parameter_type_from_sdk(parameter.r#type()),
        data_type: parameter.data_type().unwrap_or("text").to_owned(),
        last_modified: parameter.last_modified_date().and_then(crate::ec2::convert::datetime_from_sdk),
    })
}

#[async_trait]
impl SsmApi for SdkAws {
    async fn get_parameter(&self, region: &Region, name: &str) -> AwsResult<Option<Parameter>> {
        let client = self.ssm(region)?;
        match client.get_parameter().name(name).with_decryption(true).send().await {
            Ok(output) => output.parameter().map(parameter_from_sdk).transpose(),
            Err(error) if error.code() == Some("ParameterNotFound") => {
                tracing::debug!(%region, name, "parameter not found");
                Ok(None)
            }
            Err(error) => Err(from_sdk_error(SERVICE, "GetParameter", error)),
        }
    }

    async fn put_parameter(&self, region: &Region, request: &PutParameter) -> AwsResult<i64> {
        let client = self.ssm(region)?;
        let call = client
            .put_parameter()
            .name(&request.name)
            .value(&request.value)
            .r#type(parameter_type_to_sdk(request.kind))
            .set_data_type(request.data_type.clone())
            .overwrite(request.overwrite)
            .set_description(request.description.clone());
        let output = call.send().await.map_err(sdk_error(SERVICE, "PutParameter"))?;
        // The value is deliberately not logged: it may be a SecureString.
        tracing::info!(%region, name = %request.name, version = output.version(), "put parameter");
        Ok(output.version())
    }

    async fn delete_parameter(&self, region: &Region, name: &str) -> AwsResult<()> {
        let client = self.ssm(region)?;
        client.delete_parameter().name(name).send().await.map_err(sdk_error(SERVICE, "DeleteParameter"))?;
        tracing::info!(%region, name, "deleted parameter");
        Ok(())
    }

    async fn get_parameter_history(&self, region: &Region, name: &str) -> AwsResult<Vec<(i64, String)>> {
        let client = self.ssm(region)?;
        let pages =
            client.get_parameter_history().name(name).with_decryption(true).into_paginator().send().try_collect().await;
        let pages = match pages {
            Ok(pages) => pages,
            Err(error) if error.code() == Some("ParameterNotFound") => return Ok(Vec::new()),
            Err(error) => return Err(from_sdk_error(SERVICE, "GetParameterHistory", error)),
        };
        let mut history: Vec<(i64, String)> = pages
            .iter()
            .flat_map(|page| page.parameters())
            .map(|version| (version.version(), version.value().unwrap_or_default().to_owned()))
            .collect();
        history.sort_by_key(|(version, _)| *version);
        tracing::debug!(%region, name, versions = history.len(), "got parameter history");
        Ok(history)
    }

    async fn get_parameters_by_path(&self, region: &Region, path: &str) -> AwsResult<Vec<Parameter>> {
        let client = self.ssm(region)?;
        // The SDK has no item paginator for this operation: collect the pages.
        let call = client.get_parameters_by_path().path(path).recursive(true).with_decryption(true);
        let pages = read_all(SERVICE, "GetParametersByPath", call.into_paginator().send()).await?;
        let parameters =
            pages.iter().flat_map(|page| page.parameters()).map(parameter_from_sdk).collect::<AwsResult<Vec<_>>>()?;
        tracing::debug!(%region, path, parameters = parameters.len(), "got parameters by path");
        Ok(parameters)
    }

    async fn describe_parameter_names(&self, region: &Region) -> AwsResult<Vec<String>> {
        let client = self.ssm(region)?;
        let filter = ssm::ParameterStringFilter::builder()
            .key("Type")
            .option("Equals")
            .values("String")
            .values("StringList")
            .build()
            .map_err(|error| invalid_response(SERVICE, "DescribeParameters", error.to_string()))?;
        let listing = client.describe_parameters().parameter_filters(filter).max_results(50).into_paginator().send();
        let pages = read_all(SERVICE, "DescribeParameters", listing).await?;
        let names: Vec<String> =
            pages.iter().flat_map(|page| page.parameters()).filter_map(|p| p.name().map(str::to_owned)).collect();
        tracing::debug!(%region, parameters = names.len(), "described parameters");
        Ok(names)
    }

    async fn get_parameters(&self, region: &Region, names: &[String]) -> AwsResult<Vec<Parameter>> {
        if names.is_empty() {
            return Ok(Vec::new());
        }
        let client = self.ssm(region)?;
        let mut parameters = Vec::with_capacity(names.len());
        // The trait asks for at most PARAMETERS_PER_CALL names; more are split, not refused.
        for batch in names.chunks(amikeeper::backend::PARAMETERS_PER_CALL) {
            let call = client.get_parameters().set_names(Some(batch.to_vec())).with_decryption(false);
            let output = call.send().await.map_err(sdk_error(SERVICE, "GetParameters"))?;
            for parameter in output.parameters() {
                parameters.push(parameter_from_sdk(parameter)?);
            }
        }
        Ok(parameters)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parameter_maps_every_field() {
        let sdk = ssm::Parameter::builder()
            .name("/ami/web")
            .value("ami-1")
            .version(7)
            .r#type(ssm::ParameterType::String)
            .data_type("aws:ec2:image")
            .build();
        assert_eq!(
            parameter_from_sdk(&sdk).unwrap(),
            Parameter {
                name: "/ami/web".into(),
                value: "ami-1".into(),
                version: 7,
                kind: ParameterType::String,
                data_type: "aws:ec2:image".into(),
                last_modified: None,
            }
        );
        let bare = ssm::Parameter::builder().name("/x").build();
        assert_eq!(parameter_from_sdk(&bare).unwrap().data_type, "text");
    }

    #[test]
    fn parameter_types_round_trip() {
        for kind in [ParameterType::String, ParameterType::StringList, ParameterType::SecureString] {
            assert_eq!(parameter_type_from_sdk(Some(&parameter_type_to_sdk(kind))), kind);
        }
        assert_eq!(parameter_type_from_sdk(Some(&ssm::ParameterType::from("Future"))), ParameterType::SecureString);
    }
}
