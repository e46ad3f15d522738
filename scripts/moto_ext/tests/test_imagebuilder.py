"""imagebuilder: CreateImageRecipe, ListImageRecipes, ListContainerRecipes."""

from __future__ import annotations

from typing import Any

import pytest

from .aws import ACCOUNT, REGION, Aws, recipe


@pytest.fixture
def imagebuilder(aws: Aws) -> Any:
    """An Image Builder client."""
    return aws.client("imagebuilder")


def _create(aws: Aws, client: Any, name: str) -> str:
    answer = aws.call(client, "CreateImageRecipe", **recipe(name, "ami-0123456789abcdef0"))
    assert answer["clientToken"] == f"token-{name}"
    return str(answer["imageRecipeArn"])


def test_recipes_are_created_and_listed_per_region(aws: Aws, imagebuilder: Any) -> None:
    arn = _create(aws, imagebuilder, "Web")
    assert arn == f"arn:aws:imagebuilder:{REGION}:{ACCOUNT}:image-recipe/web/1.0.0"
    listed = aws.call(imagebuilder, "ListImageRecipes", owner="Self")["imageRecipeSummaryList"]
    assert [(r["arn"], r["parentImage"]) for r in listed] == [(arn, "ami-0123456789abcdef0")]
    elsewhere = aws.client("imagebuilder", region="us-west-2")
    assert aws.call(elsewhere, "ListImageRecipes", owner="Self")["imageRecipeSummaryList"] == []
    assert aws.call(imagebuilder, "ListContainerRecipes", owner="Self")["containerRecipeSummaryList"] == []


def test_unavailable_image_builder_denies_access(aws: Aws, imagebuilder: Any) -> None:
    aws.set_unavailable("imagebuilder")
    assert aws.error(imagebuilder, "ListImageRecipes", owner="Self")["Code"] == "AccessDeniedException"


def test_any_other_operation_is_unknown(aws: Aws, imagebuilder: Any) -> None:
    error = aws.error(imagebuilder, "ListComponents", documented=False, owner="Self")
    assert error["Code"] == "UnknownOperationException"
