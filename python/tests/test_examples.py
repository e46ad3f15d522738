"""The deployable examples under ``examples/``: their templates pass cfn-lint, the state machine of
``examples/step-functions`` is created in moto, the launch templates of
``examples/cloudformation`` follow amikeeper there (its ``keeper.toml`` run through the wheel),
and the policies in the templates are what ``amikeeper iam-policy`` prints.

The Rust side checks the rest: ``cargo test -p amikeeper-lambda`` (the function and the state
machine's structure and items) and ``crates/amikeeper-cli/tests/examples.rs`` (``sweep.sh``
against moto, the crontab line, the configurations)."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

import amikeeper
from aws_world import MAIN_REGION, World
from sample_events import Origin

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
#: The account the examples' configurations name.
EXAMPLE_ACCOUNT = "111122223333"
#: The fields of a fleet target: ``amikeeper_lambda::SweepTarget`` (which refuses any other).
TARGET_FIELDS = {"role_arn", "region", "external_id", "apply"}


def _function(loader: Any, suffix: str, node: Any) -> dict[str, Any]:
    """``!Ref x`` as ``{"Ref": x}``, ``!Sub s`` as ``{"Fn::Sub": s}``, and so on."""
    name = "Ref" if suffix == "Ref" else f"Fn::{suffix}"
    value: Any
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    return {name: value}


#: A safe loader that reads CloudFormation's short-form functions (a class of its own, so that
#: yaml.SafeLoader stays as it is).
CfnLoader: Any = type("CfnLoader", (yaml.SafeLoader,), {})
CfnLoader.add_multi_constructor("!", _function)


def template(path: Path) -> dict[str, Any]:
    """A CloudFormation or SAM template."""
    loaded: dict[str, Any] = yaml.load(path.read_text(), Loader=CfnLoader)
    return loaded


def cli() -> str:
    """The `amikeeper` CLI built from the same sources (scripts/test.sh sets AMIKEEPER_CLI)."""
    path = os.environ.get("AMIKEEPER_CLI")
    if not path:
        pytest.skip("AMIKEEPER_CLI is not set (scripts/test.sh sets it to the built CLI)")
    return path


def policy_statements(config: Path) -> dict[str, list[str]]:
    """``amikeeper iam-policy``'s statements for ``config``, by Sid, actions sorted."""
    printed = subprocess.run([cli(), "iam-policy", "--config", str(config)], check=True, capture_output=True).stdout
    return {s["Sid"]: sorted(s["Action"]) for s in json.loads(printed)["Statement"]}


def printed_statements(config: Path, account: str) -> dict[str, tuple[list[str], list[str]]]:
    """``amikeeper iam-policy``'s statements for ``config``, by Sid: actions and resources
    sorted, with the configuration's ``account`` written as ``${AWS::AccountId}``."""
    printed = subprocess.run([cli(), "iam-policy", "--config", str(config)], check=True, capture_output=True).stdout
    statements = json.loads(printed)["Statement"]
    return {
        s["Sid"]: (
            sorted(s["Action"]),
            sorted(
                r.replace("arn:aws:", "arn:${AWS::Partition}:").replace(f":{account}:", ":${AWS::AccountId}:")
                for r in ([s["Resource"]] if isinstance(s["Resource"], str) else s["Resource"])
            ),
        )
        for s in statements
    }


def template_statements(statements: list[dict[str, Any]]) -> dict[str, tuple[list[str], list[str]]]:
    """A template's policy statements, by Sid: actions and resources (``!Sub`` strings as
    written) sorted."""

    def resource(r: Any) -> str:
        return r["Fn::Sub"] if isinstance(r, dict) else str(r)

    found = {}
    for s in statements:
        actions = [s["Action"]] if isinstance(s["Action"], str) else s["Action"]
        resources = s["Resource"] if isinstance(s["Resource"], list) else [s["Resource"]]
        found[s["Sid"]] = (sorted(actions), sorted(resource(r) for r in resources))
    return found


def cfn_lint(*paths: Path) -> subprocess.CompletedProcess[str]:
    """cfn-lint (pinned in scripts/requirements-test.txt, with moto) on ``paths``."""
    if importlib.util.find_spec("cfnlint") is None:
        hint = "cfn-lint is not installed: run scripts/setup-python.sh"
        if os.environ.get("AMIKEEPER_REQUIRE_MOTO") == "1":
            pytest.fail(hint)
        pytest.skip(hint)
    runner = "import sys; from cfnlint.runner import main; sys.exit(main())"
    return subprocess.run(
        [sys.executable, "-c", runner, *map(str, paths)], capture_output=True, text=True, check=False
    )


def state_machine_definition() -> dict[str, Any]:
    """The state machine of examples/step-functions with its substitutions made."""
    text = (EXAMPLES / "step-functions" / "statemachine.asl.json").read_text()
    text = text.replace("${SweepFunctionArn}", f"arn:aws:lambda:{MAIN_REGION}:123456789012:function:amikeeper")
    text = text.replace("${ResultsBucket}", "amikeeper-sweep-results")
    assert "${" not in text, "a substitution the test does not make"
    definition: dict[str, Any] = json.loads(text)
    return definition


def test_the_templates_pass_cfn_lint(tmp_path: Path) -> None:
    # cfn-lint validates a state machine's definition (rule E3601) only inline in an
    # AWS::StepFunctions::StateMachine, so the definition goes into one for it.
    wrapped = tmp_path / "state-machine.json"
    wrapped.write_text(
        json.dumps(
            {
                "AWSTemplateFormatVersion": "2010-09-09",
                "Resources": {
                    "FleetSweep": {
                        "Type": "AWS::StepFunctions::StateMachine",
                        "Properties": {
                            "RoleArn": "arn:aws:iam::123456789012:role/amikeeper-fleet-sweep",
                            "Definition": state_machine_definition(),
                        },
                    }
                },
            }
        )
    )
    result = cfn_lint(
        EXAMPLES / "cloudformation" / "launch-template.yaml",
        EXAMPLES / "python-lambda" / "template.yaml",
        EXAMPLES / "rust-lambda" / "template.yaml",
        EXAMPLES / "step-functions" / "template.yaml",
        EXAMPLES / "step-functions" / "sweeper-role.yaml",
        wrapped,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def _in_range(value: Any, low: int, high: int) -> bool:
    return isinstance(value, int) and low <= value <= high


def _resource_of(get_att: dict[str, Any]) -> str:
    """The logical id ``Fn::GetAtt`` reads, in its long form (a list) or short form (``X.Arn``)."""
    target = get_att["Fn::GetAtt"]
    return str(target[0] if isinstance(target, list) else target.split(".")[0])


@pytest.mark.parametrize("example", ["python-lambda", "rust-lambda"])
def test_the_lambda_examples_run_on_arm64_and_keep_what_fails(example: str) -> None:
    sam = template(EXAMPLES / example / "template.yaml")
    resources = sam["Resources"]
    function = resources["Amikeeper"]["Properties"]
    # Graviton unless told otherwise (the Python one takes the architecture as a parameter).
    architectures = [
        sam["Parameters"][a["Ref"]]["Default"] if isinstance(a, dict) else a for a in function["Architectures"]
    ]
    assert architectures == ["arm64"], architectures

    # Lambda's asynchronous invocations (EventBridge's): 0-2 retries, 60-21600 s
    # (AWS::Lambda::EventInvokeConfig), then the failure destination, a queue of the template.
    invoke = function["EventInvokeConfig"]
    assert _in_range(invoke["MaximumRetryAttempts"], 0, 2) and _in_range(invoke["MaximumEventAgeInSeconds"], 60, 21600)
    failure = invoke["DestinationConfig"]["OnFailure"]
    assert failure["Type"] == "SQS"
    assert resources[_resource_of(failure["Destination"])]["Type"] == "AWS::SQS::Queue"

    # Every EventBridge target (the rule and the schedule): a retry policy in EventBridge's
    # ranges (0-185 attempts, 60-86400 s) and a dead-letter queue of its own.
    events = function["Events"]
    eventbridge = {name: e["Properties"] for name, e in events.items() if e["Type"] in ("EventBridgeRule", "Schedule")}
    assert set(eventbridge) == {"BackupCompleted", "NightlySweep"}, events
    queues: set[str] = set()
    for name, properties in eventbridge.items():
        retry = properties["RetryPolicy"]
        assert _in_range(retry["MaximumRetryAttempts"], 0, 185), (name, retry)
        assert _in_range(retry["MaximumEventAgeInSeconds"], 60, 86400), (name, retry)
        assert properties["DeadLetterConfig"]["Type"] == "SQS", name
        queues.add(properties["DeadLetterConfig"]["QueueLogicalId"])
    assert len(queues) == 2 and not queues & set(resources), queues  # SAM makes each queue
    # The SQS source: a dead-letter queue after a few receives.
    queue = resources[_resource_of(events["Queued"]["Properties"]["Queue"])]["Properties"]
    assert resources[_resource_of(queue["RedrivePolicy"]["deadLetterTargetArn"])]["Type"] == "AWS::SQS::Queue"

    # An alarm on the function's errors, which notifies a topic.
    alarms = [r["Properties"] for r in resources.values() if r["Type"] == "AWS::CloudWatch::Alarm"]
    errors = [a for a in alarms if (a["Namespace"], a["MetricName"]) == ("AWS/Lambda", "Errors")]
    assert len(errors) == 1, alarms
    alarm = errors[0]
    assert alarm["Dimensions"] == [{"Name": "FunctionName", "Value": {"Ref": "Amikeeper"}}], alarm
    assert alarm["Statistic"] == "Sum" and alarm["ComparisonOperator"] == "GreaterThanOrEqualToThreshold"
    assert alarm["Threshold"] == 1 and alarm["TreatMissingData"] == "notBreaching"
    assert [resources[a["Ref"]]["Type"] for a in alarm["AlarmActions"]] == ["AWS::SNS::Topic"]


def test_the_python_example_takes_amikeeper_from_the_layer_of_its_architecture() -> None:
    sam = template(EXAMPLES / "python-lambda" / "template.yaml")
    function = sam["Resources"]["Amikeeper"]["Properties"]
    layers = [sam["Resources"][layer["Ref"]] for layer in function["Layers"]]
    assert [layer["Type"] for layer in layers] == ["AWS::Serverless::LayerVersion"]
    layer = layers[0]["Properties"]
    # The layer's architecture is the function's, and its runtimes take the function's runtime.
    assert layer["CompatibleArchitectures"] == function["Architectures"] == [{"Ref": "Architecture"}]
    assert function["Runtime"] in layer["CompatibleRuntimes"]
    assert sam["Parameters"]["Architecture"]["AllowedValues"] == ["arm64", "x86_64"]
    # The zip the template's instructions copy from scripts/build-layers.sh's output.
    comments = (EXAMPLES / "python-lambda" / "template.yaml").read_text()
    assert f"amikeeper-python-arm64.zip {layer['ContentUri']}" in comments, layer["ContentUri"]
    layer_script = (EXAMPLES.parent / "scripts" / "build-layers.sh").read_text()
    assert 'zip="$out/amikeeper-python-$arch.zip"' in layer_script


def test_the_state_machine_is_created_in_moto(world: World) -> None:
    definition = state_machine_definition()
    sfn = world.client("stepfunctions")
    created = sfn.create_state_machine(
        name="amikeeper-fleet-sweep",
        definition=json.dumps(definition),
        roleArn=f"arn:aws:iam::{world.account}:role/amikeeper-fleet-sweep",
        type="STANDARD",
    )
    described = sfn.describe_state_machine(stateMachineArn=created["stateMachineArn"])
    assert described["status"] == "ACTIVE", described
    assert json.loads(described["definition"]) == definition

    # The schedule's input and input.json are lists of targets the function takes.
    sam = template(EXAMPLES / "step-functions" / "template.yaml")
    scheduled = json.loads(sam["Parameters"]["FleetTargets"]["Default"])
    examples = json.loads((EXAMPLES / "step-functions" / "input.json").read_text())
    for targets in (scheduled["targets"], examples["targets"]):
        assert targets
        for target in targets:
            assert isinstance(target["region"], str) and set(target) <= TARGET_FIELDS, target
    # The state machine's schedule gives the input ItemsPath reads.
    events = sam["Resources"]["FleetSweep"]["Properties"]["Events"]
    assert events["Nightly"]["Properties"]["Input"] == {"Ref": "FleetTargets"}
    assert definition["States"]["SweepEachTarget"]["ItemsPath"] == "$.targets"


def _stack_status(world: World, name: str) -> str:
    status: str = world.client("cloudformation").describe_stacks(StackName=name)["Stacks"][0]["StackStatus"]
    return status


def _launch_template_images(world: World, name: str) -> list[Any]:
    versions = world.client("ec2").describe_launch_template_versions(LaunchTemplateName=name)["LaunchTemplateVersions"]
    return [v["LaunchTemplateData"].get("ImageId") for v in sorted(versions, key=lambda v: v["VersionNumber"])]


def test_the_launch_templates_follow_amikeeper_in_moto(world: World) -> None:
    stack = "web-servers"
    old = world.image("cfn-old")
    world.client("ssm").put_parameter(Name="/ami/web", Value=old, Type="String", DataType="aws:ec2:image")
    cloudformation = world.client("cloudformation")
    cloudformation.create_stack(
        StackName=stack,
        TemplateBody=(EXAMPLES / "cloudformation" / "launch-template.yaml").read_text(),
        # Every parameter given: moto cannot UsePreviousValue (amikeeper's update) for a
        # parameter the stack took its default for.
        Parameters=[
            {"ParameterKey": "ImageIdParameterName", "ParameterValue": "/ami/web"},
            {"ParameterKey": "ImageId", "ParameterValue": old},
            {"ParameterKey": "InstanceType", "ParameterValue": "t3.micro"},
        ],
    )
    deadline = time.monotonic() + 30
    while _stack_status(world, stack) != "CREATE_COMPLETE":
        assert time.monotonic() < deadline, _stack_status(world, stack)
        time.sleep(0.2)
    # Way 1 names the parameter, which EC2 reads at launch; way 2 holds the AMI.
    assert _launch_template_images(world, f"{stack}-parameter") == ["resolve:ssm:/ami/web"]
    assert _launch_template_images(world, f"{stack}-stack") == [old]

    # AWS Backup's AMI of an instance of each launch template, with the instances' tags.
    new = world.image("cfn-new", tags={"ImageIdParameterName": "/ami/web", "StackName": stack})
    config = (EXAMPLES / "cloudformation" / "keeper.toml").read_text().replace(EXAMPLE_ACCOUNT, world.account)
    keeper = amikeeper.Keeper.from_toml(config, endpoint_url=world.endpoint)
    event = Origin(world.account, MAIN_REGION, "cfn-example").backup_job(new, "i-0123456789abcdef0")

    report = keeper.handle(event)
    assert [(t["rule"], t["kind"], t["status"]) for t in report["targets"]] == [
        ("parameter-from-tag", "ssm_parameter", "updated"),
        ("stack-from-tag", "stack_parameter", "updated"),
    ], report
    # Way 1: the parameter moved; the launch template and the stack are as they were for it.
    assert world.parameter("/ami/web") == (new, 2)
    assert _launch_template_images(world, f"{stack}-parameter") == ["resolve:ssm:/ami/web"]
    # Way 2: CloudFormation made the launch template's new version from the stack update.
    assert world.stack_parameters(stack) == {"ImageIdParameterName": "/ami/web", "ImageId": new, "InstanceType": "t3.micro"}
    assert _launch_template_images(world, f"{stack}-stack") == [old, new]
    # The same event again changes nothing.
    assert [t["status"] for t in keeper.handle(event)["targets"]] == ["unchanged", "unchanged"]


def test_the_templates_grant_what_iam_policy_prints() -> None:
    lambda_config = EXAMPLES / "rust-lambda" / "keeper.toml"
    wanted = printed_statements(lambda_config, "111122223333")
    handle_and_sweep = {sid: w for sid, w in wanted.items() if sid.startswith(("AmikeeperHandle", "AmikeeperSweep"))}
    assert handle_and_sweep, wanted
    function = template(EXAMPLES / "rust-lambda" / "template.yaml")["Resources"]["Amikeeper"]["Properties"]
    granted = template_statements(function["Policies"][0]["Statement"])
    # Handling and sweeping, as printed (actions and resources); no rollback; and the fleet roles.
    assert {sid: g for sid, g in granted.items() if sid != "AmikeeperFleet"} == handle_and_sweep
    assert granted["AmikeeperFleet"] == (["sts:AssumeRole"], ["arn:${AWS::Partition}:iam::*:role/${FleetRoleName}"])

    # Each fleet account's role: the sweep statements, and a trust in the function's role.
    role = template(EXAMPLES / "step-functions" / "sweeper-role.yaml")["Resources"]["SweeperRole"]["Properties"]
    sweep = template_statements(role["Policies"][0]["PolicyDocument"]["Statement"])
    assert sweep == {sid: w for sid, w in wanted.items() if sid.startswith("AmikeeperSweep")}
    fleet_role = template(EXAMPLES / "rust-lambda" / "template.yaml")["Parameters"]["FleetRoleName"]["Default"]
    assert role["RoleName"] == fleet_role

    # The CloudFormation example's configuration needs to write the parameter and the stack.
    stack_policy = policy_statements(EXAMPLES / "cloudformation" / "keeper.toml")
    assert "ssm:PutParameter" in stack_policy["AmikeeperHandleParameters"], stack_policy
    assert "cloudformation:UpdateStack" in stack_policy["AmikeeperHandleStacks"], stack_policy


def test_the_github_workflow_sweeps_on_a_schedule_with_oidc() -> None:
    workflow = yaml.safe_load((EXAMPLES / "cron" / "github-actions.yml").read_text())
    # PyYAML reads the key `on` as the boolean true (YAML 1.1).
    triggers = workflow.get("on", workflow.get(True))
    assert triggers["schedule"][0]["cron"].count(" ") == 4, triggers
    assert workflow["permissions"]["id-token"] == "write", "OIDC needs the id-token permission"
    steps = workflow["jobs"]["sweep"]["steps"]
    credentials = next(s for s in steps if str(s.get("uses", "")).startswith("aws-actions/configure-aws-credentials@"))
    assert "role-to-assume" in credentials["with"] and "aws-access-key-id" not in credentials["with"]
    sweep = next(s for s in steps if "sweep.sh" in str(s.get("run", "")))
    assert steps.index(credentials) < steps.index(sweep)
    assert {"AMIKEEPER_APPLY", "AMIKEEPER_CONFIG", "AMIKEEPER_REPORTS"} <= set(sweep["env"])
