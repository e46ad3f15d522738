//! examples/step-functions: the state machine is well formed, fans out with a Distributed Map,
//! retries what the function marks retryable, and hands the function exactly the input it
//! takes. (python/tests/test_examples.py lints it with cfn-lint and creates it in moto.)

use std::collections::BTreeSet;
use std::path::PathBuf;

use amikeeper_lambda::{Input, SweepTarget};
use serde_json::Value;

fn example(file: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../step-functions").join(file)
}

fn read_json(file: &str) -> Value {
    let path = example(file);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{} is not JSON: {e}", path.display()))
}

fn definition() -> Value {
    read_json("statemachine.asl.json")
}

/// Checks one scope's `StartAt` and `States`: every state ends or goes on to a state of the same
/// scope, and every state is reachable from `StartAt`. Recurses into Map and Parallel states.
/// Returns every state's name, with its scope's path.
fn check_scope(scope: &Value, path: &str) -> Vec<String> {
    let states = scope["States"].as_object().unwrap_or_else(|| panic!("{path}: no States"));
    let start = scope["StartAt"].as_str().unwrap_or_else(|| panic!("{path}: no StartAt"));
    assert!(states.contains_key(start), "{path}: StartAt `{start}` is no state");
    let mut names = Vec::new();
    let mut reachable = BTreeSet::from([start.to_owned()]);
    for (name, state) in states {
        let at = format!("{path}/{name}");
        names.push(at.clone());
        let kind = state["Type"].as_str().unwrap_or_else(|| panic!("{at}: no Type"));
        let mut next: Vec<&str> = Vec::new();
        match kind {
            "Choice" => {
                let choices = state["Choices"].as_array().unwrap_or_else(|| panic!("{at}: no Choices"));
                next.extend(
                    choices.iter().map(|c| c["Next"].as_str().unwrap_or_else(|| panic!("{at}: a choice without Next"))),
                );
                next.extend(state["Default"].as_str());
                assert!(state.get("End").is_none(), "{at}: a Choice cannot End");
            }
            "Succeed" | "Fail" => {
                assert!(state.get("Next").is_none() && state.get("End").is_none(), "{at}: {kind} has no Next or End");
            }
            "Task" | "Pass" | "Wait" | "Map" | "Parallel" => {
                match (state.get("Next").and_then(Value::as_str), state.get("End")) {
                    (Some(to), None) => next.push(to),
                    (None, Some(Value::Bool(true))) => {}
                    other => panic!("{at}: exactly one of Next or End: true, not {other:?}"),
                }
                for catcher in state["Catch"].as_array().into_iter().flatten() {
                    next.push(catcher["Next"].as_str().unwrap_or_else(|| panic!("{at}: a Catch without Next")));
                }
            }
            other => panic!("{at}: unknown state type {other}"),
        }
        for to in next {
            assert!(states.contains_key(to), "{at}: goes to `{to}`, which is no state of {path}");
            reachable.insert(to.to_owned());
        }
        if kind == "Map" {
            let processor = state.get("ItemProcessor").or_else(|| state.get("Iterator"));
            names.extend(check_scope(processor.unwrap_or_else(|| panic!("{at}: no ItemProcessor")), &at));
        }
        for (i, branch) in state["Branches"].as_array().into_iter().flatten().enumerate() {
            names.extend(check_scope(branch, &format!("{at}[{i}]")));
        }
    }
    let unreachable: Vec<&String> = states.keys().filter(|name| !reachable.contains(*name)).collect();
    assert!(unreachable.is_empty(), "{path}: unreachable states {unreachable:?}");
    names
}

#[test]
fn every_state_ends_or_goes_on_to_a_state() {
    let mut names = check_scope(&definition(), "");
    names.sort();
    assert_eq!(
        names,
        [
            "/SweepEachTarget",
            "/SweepEachTarget/HasPage",
            "/SweepEachTarget/NoPage",
            "/SweepEachTarget/Summary",
            "/SweepEachTarget/SweepTarget",
            "/SweepEachTarget/WritePage",
        ]
    );
}

#[test]
fn the_sweep_page_the_function_returns_is_written_to_s3() {
    let definition = definition();
    let states = &definition["States"]["SweepEachTarget"]["ItemProcessor"]["States"];
    assert_eq!(states["SweepTarget"]["Next"], "HasPage");
    assert_eq!(states["HasPage"]["Choices"][0]["Variable"], "$.page", "TargetSummary::page");
    let write = &states["WritePage"];
    assert_eq!(write["Resource"], "arn:aws:states:::aws-sdk:s3:putObject");
    assert_eq!(write["Parameters"]["Bucket"], "${ResultsBucket}");
    assert_eq!(write["Parameters"]["Key.$"], "$.page.key", "SweepPageFile::key");
    assert_eq!(write["Parameters"]["Body.$"], "$.page.html", "SweepPageFile::html");
    assert_eq!(write["ResultPath"], Value::Null, "the summary goes on");
    // What the ResultWriter keeps is the summary and the page's address, not the page.
    let kept = states["Summary"]["Parameters"].as_object().unwrap();
    assert!(kept.values().all(|path| !path.as_str().unwrap().contains("page.html")), "{kept:?}");
    assert!(kept["page.$"].as_str().unwrap().contains("$.page.key"));
}

#[test]
fn the_map_is_distributed_over_the_targets_and_writes_results_to_s3() {
    let definition = definition();
    let map = &definition["States"]["SweepEachTarget"];
    assert_eq!(map["Type"], "Map");
    assert_eq!(map["ItemProcessor"]["ProcessorConfig"]["Mode"], "DISTRIBUTED");
    // Child executions may run as long as the function (15 minutes); EXPRESS stops at 5.
    assert_eq!(map["ItemProcessor"]["ProcessorConfig"]["ExecutionType"], "STANDARD");
    assert_eq!(map["ItemsPath"], "$.targets");
    // The item goes to the function as it is: no ItemSelector or ItemBatcher reshapes it.
    assert!(map.get("ItemSelector").is_none() && map.get("ItemBatcher").is_none(), "{map:#}");
    assert!(map["MaxConcurrency"].as_u64().is_some_and(|n| n > 0));
    assert_eq!(map["ResultWriter"]["Resource"], "arn:aws:states:::s3:putObject");
    assert_eq!(map["ResultWriter"]["Parameters"]["Bucket"], "${ResultsBucket}");
}

#[test]
fn the_task_invokes_the_function_with_the_item_and_retries_throttling() {
    let definition = definition();
    let task = &definition["States"]["SweepEachTarget"]["ItemProcessor"]["States"]["SweepTarget"];
    assert_eq!(task["Resource"], "arn:aws:states:::lambda:invoke");
    assert_eq!(task["Parameters"]["FunctionName"], "${SweepFunctionArn}");
    assert_eq!(task["Parameters"]["Payload.$"], "$", "the whole item is the payload");
    assert_eq!(task["OutputPath"], "$.Payload");
    let retried: BTreeSet<&str> = task["Retry"]
        .as_array()
        .expect("Retry")
        .iter()
        .inspect(|retrier| {
            assert!(retrier["MaxAttempts"].as_u64().is_some_and(|n| n >= 3), "{retrier:#}");
            assert!(retrier["BackoffRate"].as_f64().is_some_and(|rate| rate >= 1.0), "{retrier:#}");
        })
        .flat_map(|retrier| retrier["ErrorEquals"].as_array().expect("ErrorEquals"))
        .map(|error| error.as_str().expect("an error name"))
        .collect();
    for error in ["Lambda.TooManyRequestsException", "Lambda.ServiceException", "Amikeeper.Retryable"] {
        assert!(retried.contains(error), "{error} is not retried: {retried:?}");
    }
    // What the function says a retry cannot help is not retried.
    for error in ["Amikeeper.BadInput", "Amikeeper.Failed", "States.ALL"] {
        assert!(!retried.contains(error), "{error} is retried: {retried:?}");
    }
    // The error names the function returns are the ones retried.
    let retryable = amikeeper_lambda::FunctionError::Retryable(String::new());
    assert!(retried.contains(retryable.error_type()));
}

#[test]
fn the_example_items_are_the_functions_input() {
    let input = read_json("input.json");
    let targets = input["targets"].as_array().expect("input.json has targets (the Map's ItemsPath)");
    assert!(!targets.is_empty());
    for item in targets {
        let target: SweepTarget = serde_json::from_value(item.clone()).unwrap_or_else(|e| panic!("{item}: {e}"));
        assert!(!target.region.is_empty());
        assert_eq!(Input::from_value(item.clone()).unwrap(), Input::Sweep(target), "{item}");
    }
}

#[test]
fn every_substitution_is_defined_by_the_template() {
    let text = std::fs::read_to_string(example("statemachine.asl.json")).unwrap();
    let template = std::fs::read_to_string(example("template.yaml")).unwrap();
    let substitutions = template.split("DefinitionSubstitutions:").nth(1).expect("DefinitionSubstitutions");
    let mut rest = text.as_str();
    let mut used = BTreeSet::new();
    while let Some(start) = rest.find("${") {
        let end = rest[start..].find('}').expect("a closed ${...}") + start;
        used.insert(&rest[start + 2..end]);
        rest = &rest[end..];
    }
    assert_eq!(used, BTreeSet::from(["ResultsBucket", "SweepFunctionArn"]));
    for name in used {
        assert!(substitutions.contains(&format!("\n        {name}: ")), "the template does not substitute {name}");
    }
}
