//! CloudFormation in memory: stacks with parameters, a status and a history of parameter values.

use std::collections::BTreeMap;

use async_trait::async_trait;

use super::{aws_error, ops, IntoRegion, MemoryAws, RegionState};
use crate::backend::{AwsResult, CloudFormationApi};
use crate::error::{AwsError, AwsErrorKind};
use crate::model::{Region, Stack, StackParameterValue, StackUpdate, UpdateStack};

/// The statuses from which CloudFormation accepts an `UpdateStack`.
const UPDATABLE: [&str; 5] =
    ["CREATE_COMPLETE", "UPDATE_COMPLETE", "UPDATE_ROLLBACK_COMPLETE", "IMPORT_COMPLETE", "IMPORT_ROLLBACK_COMPLETE"];

/// A stack and every set of parameter values it has had, oldest first.
#[derive(Debug, Clone)]
pub(super) struct StackRecord {
    stack: Stack,
    history: Vec<BTreeMap<String, String>>,
}

fn validation(op: &str, kind: AwsErrorKind, message: impl Into<String>) -> AwsError {
    aws_error(op, kind, "ValidationError", message)
}

/// CloudFormation's refusal of an update that names `parameters` wrongly, when there are any:
/// `Parameters: [A, B] <problem>`.
fn refuse_parameters<'a>(op: &str, parameters: impl Iterator<Item = &'a str>, problem: &str) -> Result<(), AwsError> {
    let parameters: Vec<&str> = parameters.collect();
    match parameters.is_empty() {
        true => Ok(()),
        false => {
            Err(validation(op, AwsErrorKind::Client, format!("Parameters: [{}] {problem}", parameters.join(", "))))
        }
    }
}

impl RegionState {
    /// The stack called or with id `name`; deleted stacks are found only by id, as in AWS.
    fn find_stack(&mut self, name: &str) -> Option<&mut StackRecord> {
        self.stacks.values_mut().find(|record| {
            record.stack.id == name || (record.stack.name == name && record.stack.status != "DELETE_COMPLETE")
        })
    }
}

impl MemoryAws {
    /// Creates a stack with these parameters, `CREATE_COMPLETE`. Panics if the region has a
    /// stack of that name.
    pub fn create_stack(
        &self,
        region: impl IntoRegion,
        name: impl Into<String>,
        parameters: BTreeMap<String, String>,
    ) -> Stack {
        let region = region.into_region();
        let name = name.into();
        self.with_world(|world| {
            let serial = world.next_id("stack");
            let serial = serial.trim_start_matches("stack-");
            let id = format!(
                "arn:aws:cloudformation:{region}:{}:stack/{name}/00000000-0000-4000-8000-{}",
                world.account,
                &serial[serial.len() - 12..]
            );
            let stack = Stack {
                name: name.clone(),
                id,
                status: "CREATE_COMPLETE".into(),
                parameters: parameters.clone(),
                updated: Some(world.now),
            };
            let stacks = &mut world.region(&region).stacks;
            assert!(!stacks.contains_key(&name), "stack {name} already exists in {region}");
            stacks.insert(name, StackRecord { stack: stack.clone(), history: vec![parameters] });
            stack
        })
    }

    /// Sets a stack's status, e.g. `UPDATE_IN_PROGRESS` to make it busy. Panics if unknown.
    pub fn set_stack_status(&self, region: impl IntoRegion, name: &str, status: impl Into<String>) {
        let region = region.into_region();
        let status = status.into();
        self.with_world(|world| {
            let record = world.region(&region).stacks.get_mut(name);
            record.unwrap_or_else(|| panic!("no stack {name} in {region}")).stack.status = status;
        });
    }

    /// The stack (by name) as it is now, without recording a call.
    pub fn stack(&self, region: impl IntoRegion, name: &str) -> Option<Stack> {
        let region = region.into_region();
        self.with_world(|world| world.region(&region).stacks.get(name).map(|record| record.stack.clone()))
    }

    /// Every set of parameter values the stack has had, the one it was created with first.
    pub fn stack_history(&self, region: impl IntoRegion, name: &str) -> Vec<BTreeMap<String, String>> {
        let region = region.into_region();
        self.with_world(|world| {
            world.region(&region).stacks.get(name).map(|record| record.history.clone()).unwrap_or_default()
        })
    }
}

#[async_trait]
impl CloudFormationApi for MemoryAws {
    async fn describe_stack(&self, region: &Region, name: &str) -> AwsResult<Option<Stack>> {
        self.call(ops::DESCRIBE_STACKS, |world| {
            Ok(world.region(region).find_stack(name).map(|record| record.stack.clone()))
        })
    }

    async fn describe_stacks(&self, region: &Region) -> AwsResult<Vec<Stack>> {
        self.call(ops::DESCRIBE_STACKS, |world| {
            let stacks = world.region(region).stacks.values();
            Ok(stacks.filter(|record| record.stack.status != "DELETE_COMPLETE").map(|r| r.stack.clone()).collect())
        })
    }

    async fn update_stack(&self, region: &Region, request: &UpdateStack) -> AwsResult<StackUpdate> {
        let op = ops::UPDATE_STACK;
        self.call(op, |world| {
            let now = world.now;
            let name = &request.name;
            let Some(record) = world.region(region).find_stack(name) else {
                return Err(validation(op, AwsErrorKind::NotFound, format!("Stack [{name}] does not exist")));
            };
            let stack = &mut record.stack;
            if !UPDATABLE.contains(&stack.status.as_str()) {
                return Err(validation(
                    op,
                    AwsErrorKind::Client,
                    format!("Stack:{} is in {} state and can not be updated.", stack.id, stack.status),
                ));
            }
            let given = request.parameters.iter().map(|(key, _)| key.as_str());
            let unknown = given.filter(|key| !stack.parameters.contains_key(*key));
            refuse_parameters(op, unknown, "do not exist in the template")?;
            let missing = stack
                .parameters
                .keys()
                .map(String::as_str)
                .filter(|key| !request.parameters.iter().any(|(given, _)| given == key));
            refuse_parameters(op, missing, "must have values")?;
            let mut parameters = stack.parameters.clone();
            for (key, value) in &request.parameters {
                if let StackParameterValue::Value(value) = value {
                    parameters.insert(key.clone(), value.clone());
                }
            }
            if parameters == stack.parameters {
                return Ok(StackUpdate::NoChange);
            }
            stack.parameters = parameters.clone();
            stack.status = "UPDATE_COMPLETE".into();
            stack.updated = Some(now);
            let stack_id = stack.id.clone();
            record.history.push(parameters);
            Ok(StackUpdate::Started { stack_id })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn region() -> Region {
        Region::from("eu-west-1")
    }

    fn params(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    fn update(name: &str, parameters: &[(&str, Option<&str>)]) -> UpdateStack {
        UpdateStack {
            name: name.into(),
            parameters: parameters
                .iter()
                .map(|(key, value)| {
                    let value = match value {
                        Some(value) => StackParameterValue::Value(value.to_string()),
                        None => StackParameterValue::UsePrevious,
                    };
                    (key.to_string(), value)
                })
                .collect(),
            capabilities: vec!["CAPABILITY_NAMED_IAM".into()],
        }
    }

    fn seeded() -> MemoryAws {
        let aws = MemoryAws::new("111122223333");
        aws.create_stack(region(), "web", params(&[("AmiId", "ami-1"), ("Size", "2")]));
        aws
    }

    #[tokio::test]
    async fn stacks_describe_by_name_or_id() {
        let aws = seeded();
        let stack = aws.describe_stack(&region(), "web").await.unwrap().unwrap();
        assert_eq!(stack.status, "CREATE_COMPLETE");
        assert!(stack.id.starts_with("arn:aws:cloudformation:eu-west-1:111122223333:stack/web/"), "{}", stack.id);
        assert_eq!(aws.describe_stack(&region(), &stack.id).await.unwrap(), Some(stack.clone()));
        assert_eq!(aws.describe_stack(&region(), "db").await.unwrap(), None);
        assert_eq!(aws.describe_stack(&Region::from("us-east-1"), "web").await.unwrap(), None);
        aws.set_stack_status(region(), "web", "DELETE_COMPLETE");
        assert_eq!(aws.describe_stack(&region(), "web").await.unwrap(), None);
        assert!(aws.describe_stack(&region(), &stack.id).await.unwrap().is_some());
    }

    #[tokio::test]
    async fn use_previous_keeps_values_and_changes_apply_at_once() {
        let aws = seeded();
        let result = aws.update_stack(&region(), &update("web", &[("AmiId", Some("ami-2")), ("Size", None)])).await;
        let stack = aws.stack(region(), "web").unwrap();
        assert_eq!(result.unwrap(), StackUpdate::Started { stack_id: stack.id.clone() });
        assert_eq!(stack.parameters, params(&[("AmiId", "ami-2"), ("Size", "2")]));
        assert_eq!(stack.status, "UPDATE_COMPLETE");
        assert_eq!(
            aws.stack_history(region(), "web"),
            vec![params(&[("AmiId", "ami-1"), ("Size", "2")]), params(&[("AmiId", "ami-2"), ("Size", "2")])]
        );
        // By id works too.
        let by_id = update(&stack.id, &[("AmiId", Some("ami-3")), ("Size", None)]);
        assert!(matches!(aws.update_stack(&region(), &by_id).await.unwrap(), StackUpdate::Started { .. }));
    }

    #[tokio::test]
    async fn nothing_to_change_is_no_change() {
        let aws = seeded();
        let same = update("web", &[("AmiId", Some("ami-1")), ("Size", None)]);
        assert_eq!(aws.update_stack(&region(), &same).await.unwrap(), StackUpdate::NoChange);
        let all_previous = update("web", &[("AmiId", None), ("Size", None)]);
        assert_eq!(aws.update_stack(&region(), &all_previous).await.unwrap(), StackUpdate::NoChange);
        assert_eq!(aws.stack(region(), "web").unwrap().status, "CREATE_COMPLETE");
        assert_eq!(aws.stack_history(region(), "web").len(), 1);
    }

    #[tokio::test]
    async fn a_busy_stack_is_refused() {
        let aws = seeded();
        aws.set_stack_status(region(), "web", "UPDATE_IN_PROGRESS");
        let request = update("web", &[("AmiId", Some("ami-2")), ("Size", None)]);
        let err = aws.update_stack(&region(), &request).await.unwrap_err();
        assert_eq!((err.code.as_str(), err.kind), ("ValidationError", AwsErrorKind::Client));
        let id = aws.stack(region(), "web").unwrap().id;
        assert_eq!(err.message, format!("Stack:{id} is in UPDATE_IN_PROGRESS state and can not be updated."));
        assert_eq!(aws.stack(region(), "web").unwrap().parameters["AmiId"], "ami-1");

        aws.set_stack_status(region(), "web", "ROLLBACK_COMPLETE");
        assert_eq!(aws.update_stack(&region(), &request).await.unwrap_err().code, "ValidationError");
        aws.set_stack_status(region(), "web", "UPDATE_ROLLBACK_COMPLETE");
        assert!(aws.update_stack(&region(), &request).await.is_ok());
    }

    #[tokio::test]
    async fn every_parameter_must_be_named_and_no_other() {
        let aws = seeded();
        let missing = aws.update_stack(&region(), &update("web", &[("AmiId", Some("ami-2"))])).await.unwrap_err();
        assert_eq!((missing.code.as_str(), missing.kind), ("ValidationError", AwsErrorKind::Client));
        assert_eq!(missing.message, "Parameters: [Size] must have values");
        let unknown = update("web", &[("AmiId", Some("ami-2")), ("Size", None), ("Color", Some("red"))]);
        let unknown = aws.update_stack(&region(), &unknown).await.unwrap_err();
        assert_eq!(unknown.message, "Parameters: [Color] do not exist in the template");
        assert_eq!(aws.stack_history(region(), "web").len(), 1);

        let err = aws.update_stack(&region(), &update("db", &[])).await.unwrap_err();
        assert_eq!((err.code.as_str(), err.kind), ("ValidationError", AwsErrorKind::NotFound));
        assert_eq!(err.message, "Stack [db] does not exist");
    }
}
