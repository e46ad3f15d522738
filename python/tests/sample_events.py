"""Real-shaped event payloads built from a few values, as ``amikeeper::samples::Origin`` makes them
for the Rust tests: the JSON AWS delivers to an EventBridge target."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

Event = dict[str, Any]


@dataclass(frozen=True)
class Origin:
    """Where and when a sample event happens."""

    account: str
    region: str
    id: str
    time: str = "2026-11-24T03:00:00Z"

    def _envelope(self, source: str, detail_type: str, resources: list[str], detail: dict[str, Any]) -> Event:
        return {
            "version": "0",
            "id": self.id,
            "detail-type": detail_type,
            "source": source,
            "account": self.account,
            "time": self.time,
            "region": self.region,
            "resources": resources,
            "detail": detail,
        }

    def _cloudtrail(self, source: str, event_name: str, request: dict[str, Any], response: Any) -> Event:
        service = source.removeprefix("aws.")
        return self._envelope(
            source,
            "AWS API Call via CloudTrail",
            [],
            {
                "eventVersion": "1.09",
                "userIdentity": {"type": "AssumedRole", "accountId": self.account},
                "eventTime": self.time,
                "eventSource": f"{service}.amazonaws.com",
                "eventName": event_name,
                "awsRegion": self.region,
                "sourceIPAddress": "backup.amazonaws.com",
                "userAgent": "backup.amazonaws.com",
                "requestParameters": request,
                "responseElements": response,
                "requestID": f"req-{self.id}",
                "eventID": f"ct-{self.id}",
                "readOnly": False,
                "eventType": "AwsApiCall",
                "managementEvent": True,
                "recipientAccountId": self.account,
                "eventCategory": "Management",
            },
        )

    def create_image(self, image_id: str, instance_id: str, name: str, description: str) -> Event:
        """CloudTrail ``CreateImage`` (seed 000 from AWS Backup, seed 002 from DLM)."""
        return self._cloudtrail(
            "aws.ec2",
            "CreateImage",
            {"instanceId": instance_id, "name": name, "description": description, "noReboot": True},
            {"requestId": f"req-{self.id}", "imageId": image_id},
        )

    def copy_image(self, image_id: str, source_image_id: str, source_region: str, name: str) -> Event:
        """CloudTrail ``CopyImage``, seen in the destination region (seed 000's DR site)."""
        return self._cloudtrail(
            "aws.ec2",
            "CopyImage",
            {"sourceRegion": source_region, "sourceImageId": source_image_id, "name": name},
            {"requestId": f"req-{self.id}", "imageId": image_id},
        )

    def create_auto_scaling_group(self, group: str, launch_template_id: str, version: str) -> Event:
        """CloudTrail ``CreateAutoScalingGroup`` (seed 002)."""
        return self._cloudtrail(
            "aws.autoscaling",
            "CreateAutoScalingGroup",
            {
                "autoScalingGroupName": group,
                "launchTemplate": {"launchTemplateId": launch_template_id, "version": version},
                "minSize": 1,
                "maxSize": 1,
            },
            None,
        )

    def backup_job(self, image_id: str, instance_id: str, state: str = "COMPLETED") -> Event:
        """AWS Backup ``Backup Job State Change`` for an EC2 instance (seed 001)."""
        image_arn = f"arn:aws:ec2:{self.region}::image/{image_id}"
        return self._envelope(
            "aws.backup",
            "Backup Job State Change",
            [image_arn],
            {
                "backupJobId": f"job-{self.id}",
                "backupVaultName": "Default",
                "backupVaultArn": f"arn:aws:backup:{self.region}:{self.account}:backup-vault:Default",
                "recoveryPointArn": image_arn,
                "resourceArn": f"arn:aws:ec2:{self.region}:{self.account}:instance/{instance_id}",
                "resourceType": "EC2",
                "state": state,
                "percentDone": "100.0",
                "creationDate": self.time,
                "completionDate": self.time,
                "iamRoleArn": f"arn:aws:iam::{self.account}:role/service-role/AWSBackupDefaultServiceRole",
            },
        )

    def image_state_change(self, image_id: str, state: str) -> Event:
        """``EC2 AMI State Change``."""
        return self._envelope(
            "aws.ec2",
            "EC2 AMI State Change",
            [f"arn:aws:ec2:{self.region}::image/{image_id}"],
            {"RequestId": f"req-{self.id}", "ImageId": image_id, "State": state, "ErrorMessage": ""},
        )

    def scheduled(self, rule: str) -> Event:
        """EventBridge ``Scheduled Event`` from the rule ``rule``."""
        return self._envelope(
            "aws.events",
            "Scheduled Event",
            [f"arn:aws:events:{self.region}:{self.account}:rule/{rule}"],
            {},
        )


def sqs_batch(events: list[Event]) -> Event:
    """Events in an SQS batch, as Lambda receives it."""
    return {
        "Records": [
            {
                "messageId": f"msg-{index}",
                "receiptHandle": f"handle-{index}",
                "body": json.dumps(event),
                "attributes": {"ApproximateReceiveCount": "1"},
                "messageAttributes": {},
                "eventSource": "aws:sqs",
                "eventSourceARN": "arn:aws:sqs:us-east-1:111122223333:amikeeper",
                "awsRegion": "us-east-1",
            }
            for index, event in enumerate(events)
        ]
    }
