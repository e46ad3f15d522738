"""instance_refresh: StartInstanceRefresh, DescribeInstanceRefreshes, CancelInstanceRefresh."""

from __future__ import annotations

from typing import Any

import pytest

from .aws import Aws, amazon_image


@pytest.fixture
def autoscaling(aws: Aws) -> Any:
    """An Auto Scaling client."""
    return aws.client("autoscaling")


def _group(ec2: Any, autoscaling: Any, name: str, instances: int) -> str:
    data = {"ImageId": amazon_image(ec2)}
    template = ec2.create_launch_template(LaunchTemplateName=f"{name}-lt", LaunchTemplateData=data)
    autoscaling.create_auto_scaling_group(
        AutoScalingGroupName=name,
        LaunchTemplate={"LaunchTemplateId": template["LaunchTemplate"]["LaunchTemplateId"], "Version": "$Latest"},
        MinSize=instances,
        MaxSize=max(instances, 1),
        DesiredCapacity=instances,
        AvailabilityZones=["eu-west-1a"],
    )
    return name


def _refreshes(aws: Aws, autoscaling: Any, group: str) -> list[dict[str, Any]]:
    answer = aws.call(autoscaling, "DescribeInstanceRefreshes", AutoScalingGroupName=group)
    return list(answer["InstanceRefreshes"])


def test_a_group_without_instances_is_refreshed_at_once(aws: Aws, ec2: Any, autoscaling: Any) -> None:
    group = _group(ec2, autoscaling, "empty", 0)
    started = aws.call(autoscaling, "StartInstanceRefresh", AutoScalingGroupName=group)["InstanceRefreshId"]
    (refresh,) = _refreshes(aws, autoscaling, group)
    shown = (refresh["InstanceRefreshId"], refresh["Status"], refresh["PercentageComplete"])
    assert shown == (started, "Successful", 100)


def test_an_active_refresh_blocks_another_until_cancelled(aws: Aws, ec2: Any, autoscaling: Any) -> None:
    group = _group(ec2, autoscaling, "busy", 1)
    preferences = {"MinHealthyPercentage": 90, "InstanceWarmup": 60}
    first = aws.call(
        autoscaling, "StartInstanceRefresh", AutoScalingGroupName=group, Strategy="Rolling", Preferences=preferences
    )["InstanceRefreshId"]
    refresh = _refreshes(aws, autoscaling, group)[0]
    assert (refresh["Status"], refresh["Preferences"]["MinHealthyPercentage"]) == ("InProgress", 90)
    error = aws.error(autoscaling, "StartInstanceRefresh", AutoScalingGroupName=group)
    assert error["Code"] == "InstanceRefreshInProgress"
    assert aws.call(autoscaling, "CancelInstanceRefresh", AutoScalingGroupName=group)["InstanceRefreshId"] == first
    second = aws.call(autoscaling, "StartInstanceRefresh", AutoScalingGroupName=group)["InstanceRefreshId"]
    assert [(r["InstanceRefreshId"], r["Status"]) for r in _refreshes(aws, autoscaling, group)] == [
        (second, "InProgress"),
        (first, "Cancelled"),
    ]
    answer = aws.call(autoscaling, "DescribeInstanceRefreshes", AutoScalingGroupName=group, InstanceRefreshIds=[first])
    assert [r["InstanceRefreshId"] for r in answer["InstanceRefreshes"]] == [first]


def test_nothing_to_cancel(aws: Aws, ec2: Any, autoscaling: Any) -> None:
    group = _group(ec2, autoscaling, "idle", 0)
    error = aws.error(autoscaling, "CancelInstanceRefresh", AutoScalingGroupName=group)
    assert error["Code"] == "ActiveInstanceRefreshNotFound"


@pytest.mark.parametrize(
    ("operation", "params"),
    [
        ("StartInstanceRefresh", {"AutoScalingGroupName": "missing"}),
        ("DescribeInstanceRefreshes", {"AutoScalingGroupName": "missing"}),
        ("CancelInstanceRefresh", {"AutoScalingGroupName": "missing"}),
        ("StartInstanceRefresh", {"AutoScalingGroupName": "idle", "Preferences": {"MinHealthyPercentage": 101}}),
    ],
)
def test_validation_errors(aws: Aws, ec2: Any, operation: str, params: dict[str, Any]) -> None:
    autoscaling = aws.client("autoscaling", validate=False)
    _group(ec2, autoscaling, "idle", 0)
    assert aws.error(autoscaling, operation, **params)["Code"] == "ValidationError"
