"""DescribeImageReferences (moto 5.2.5 lacks it): what references each AMI in the caller's
account and region, as EC2's reference check reports it.

The references are instances that are not terminated, the 10 newest versions of each launch
template (EC2's default depth), SSM parameters whose value is the AMI id, and the Image Builder
image recipes of imagebuilder.py (unless `imagebuilder` is unavailable). No ImageIds is an
InvalidParameterValue error; while `ec2:DescribeImageReferences` is unavailable
(unavailable.py) the call fails with `InvalidAction`, as in a region without it.
"""

from __future__ import annotations

from moto.core.responses import ActionResult
from moto.ec2.exceptions import EC2ClientError, InvalidParameterValue
from moto.ec2.responses import EC2Response

from .imagebuilder import recipes_in
from .methods import set_methods
from .unavailable import UNAVAILABLE

# Launch template versions EC2 checks by default, newest first.
LAUNCH_TEMPLATE_DEPTH = 10


def apply() -> None:
    """Adds DescribeImageReferences."""
    set_methods(EC2Response, _describe_image_references)


def _describe_image_references(self: EC2Response) -> ActionResult:
    if "ec2:DescribeImageReferences" in UNAVAILABLE:
        raise EC2ClientError("InvalidAction", "The action DescribeImageReferences is not valid for this web service.")
    from moto.ssm.models import ssm_backends

    image_ids = self._get_param("ImageIds", [])
    if not image_ids:
        raise InvalidParameterValue("ImageIds is required.")
    backend = self.ec2_backend
    region, account = backend.region_name, backend.account_id
    wanted = set(image_ids)
    found: list[dict[str, str]] = []

    def add(image_id: str, resource_type: str, arn: str) -> None:
        if image_id in wanted:
            found.append({"ImageId": image_id, "ResourceType": resource_type, "Arn": arn})

    for instance in list(backend.all_instances()):
        if instance.state != "terminated":
            add(instance.image_id, "ec2:Instance", f"arn:aws:ec2:{region}:{account}:instance/{instance.id}")
    for template in list(backend.launch_templates.values()):
        newest = sorted(list(template.versions), key=lambda v: v.number, reverse=True)[:LAUNCH_TEMPLATE_DEPTH]
        for image_id in {version.image_id for version in newest}:
            add(image_id, "ec2:LaunchTemplate", f"arn:aws:ec2:{region}:{account}:launch-template/{template.id}")
    parameters = ssm_backends[account][region]._parameters
    for name in list(parameters.keys()):
        versions = parameters.get(name) or []
        if versions and versions[-1].value in wanted:
            arn_name = name if name.startswith("/") else f"/{name}"
            add(versions[-1].value, "ssm:Parameter", f"arn:aws:ssm:{region}:{account}:parameter{arn_name}")
    if "imagebuilder" not in UNAVAILABLE:
        for recipe in recipes_in(region):
            add(recipe["parentImage"], "imagebuilder:ImageRecipe", recipe["arn"])
    return ActionResult({"ImageReferences": found})
