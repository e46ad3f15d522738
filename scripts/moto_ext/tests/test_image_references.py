"""image_references: DescribeImageReferences."""

from __future__ import annotations

from typing import Any

from .aws import ACCOUNT, REGION, Aws, own_images, recipe

REFERENCES = "DescribeImageReferences"


def _references(aws: Aws, ec2: Any, image: str) -> set[tuple[str, str]]:
    answer = aws.call(ec2, REFERENCES, ImageIds=[image], IncludeAllResourceTypes=True)
    return {(r["ResourceType"], r["Arn"]) for r in answer["ImageReferences"]}


def test_instances_launch_templates_parameters_and_recipes_reference_an_image(aws: Aws, ec2: Any) -> None:
    image, other = own_images(ec2, 2)
    instance = ec2.run_instances(ImageId=image, MinCount=1, MaxCount=1)["Instances"][0]["InstanceId"]
    template = ec2.create_launch_template(LaunchTemplateName="references", LaunchTemplateData={"ImageId": image})
    template_id = template["LaunchTemplate"]["LaunchTemplateId"]
    aws.client("ssm").put_parameter(Name="/ami/web", Value=image, Type="String", DataType="aws:ec2:image")
    recipe_arn = aws.client("imagebuilder").create_image_recipe(**recipe("web", image))["imageRecipeArn"]
    assert _references(aws, ec2, image) == {
        ("ec2:Instance", f"arn:aws:ec2:{REGION}:{ACCOUNT}:instance/{instance}"),
        ("ec2:LaunchTemplate", f"arn:aws:ec2:{REGION}:{ACCOUNT}:launch-template/{template_id}"),
        ("ssm:Parameter", f"arn:aws:ssm:{REGION}:{ACCOUNT}:parameter/ami/web"),
        ("imagebuilder:ImageRecipe", recipe_arn),
    }
    assert _references(aws, ec2, other) == set()


def test_only_the_ten_newest_launch_template_versions_and_live_instances_count(aws: Aws, ec2: Any) -> None:
    old, new = own_images(ec2, 2)
    template = ec2.create_launch_template(LaunchTemplateName="deep", LaunchTemplateData={"ImageId": old})
    for _ in range(10):
        ec2.create_launch_template_version(
            LaunchTemplateId=template["LaunchTemplate"]["LaunchTemplateId"], LaunchTemplateData={"ImageId": new}
        )
    instance = ec2.run_instances(ImageId=old, MinCount=1, MaxCount=1)["Instances"][0]["InstanceId"]
    ec2.terminate_instances(InstanceIds=[instance])
    assert _references(aws, ec2, old) == set()


def test_no_image_ids_is_an_invalid_parameter(aws: Aws) -> None:
    ec2 = aws.client("ec2", validate=False)
    error = aws.error(ec2, REFERENCES, ImageIds=[], IncludeAllResourceTypes=True)
    assert error["Code"] == "InvalidParameterValue"


def test_where_it_is_unavailable_the_action_is_invalid(aws: Aws, ec2: Any) -> None:
    (image,) = own_images(ec2, 1)
    aws.set_unavailable("ec2:DescribeImageReferences")
    error = aws.error(ec2, REFERENCES, ImageIds=[image], IncludeAllResourceTypes=True)
    assert error["Code"] == "InvalidAction"


def test_recipes_are_left_out_while_image_builder_is_unavailable(aws: Aws, ec2: Any) -> None:
    (image,) = own_images(ec2, 1)
    aws.client("imagebuilder").create_image_recipe(**recipe("web", image))
    aws.set_unavailable("imagebuilder")
    assert _references(aws, ec2, image) == set()
