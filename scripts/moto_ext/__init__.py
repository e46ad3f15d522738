"""moto_server with the operations amikeeper's retention needs and moto 5.2.5 lacks.

Run through scripts/moto-server (same command line as moto_server: `-H HOST -p PORT`), which
runs `python -m moto_ext`: `apply()` patches moto's models, response classes and WSGI
application, then moto's own server main runs. Everything else is moto as pinned in
scripts/requirements-test.txt. Each patch follows the EC2 (or Auto Scaling, Image Builder) API
reference, so that tests against it assert what AWS does, not what moto happens to do; each is
one module, whose docstring says what it does and why, and each has tests in `tests/` that call
it through boto3 and check the answer against botocore's model of the operation.

Added (moto 5.2.5 answers HTTP 500 "not implemented", which SDKs retry with back-off):

* launch_template_versions: DeleteLaunchTemplateVersions (and versions kept by number).
* image_deprecation: EnableImageDeprecation, DisableImageDeprecation.
* deregistration_protection: Enable/DisableImageDeregistrationProtection; DeregisterImage
  refuses a protected image.
* image_references: DescribeImageReferences.
* imagebuilder: Image Builder's CreateImageRecipe, ListImageRecipes, ListContainerRecipes.
* instance_refresh: Auto Scaling Start/Describe/CancelInstanceRefresh(es).
* allowed_images: Get/Enable/DisableAllowedImagesSettings,
  ReplaceImageCriteriaInAllowedImagesSettings, and DescribeImages' ImageAllowed.

Changed (moto 5.2.5 has them but differs from AWS in a way the retention tests would notice):

* deregister_image: DeregisterImage's DeleteAssociatedSnapshots.
* describe_images: DescribeImages' IncludeDisabled and IncludeDeprecated.
* describe_snapshots: DescribeSnapshots' OwnerIds.
* copy_image_tags: CopyImage's TagSpecifications.
* copy_shared_image: CopyImage of an AMI another account shares.

Refused, as by an endpoint without them or a role denied them:

* unavailable: `POST /moto-api/amikeeper/unavailable?apis=...` makes APIs answer as missing
  or denied, for the fail-closed tests.
* rbin: Recycle Bin answers `UnknownOperationException`.

And lock: every request runs under one lock, as each AWS call is atomic.
"""

from __future__ import annotations

import sys
from types import ModuleType

from . import (
    allowed_images,
    copy_image_tags,
    copy_shared_image,
    deregister_image,
    deregistration_protection,
    describe_images,
    describe_snapshots,
    image_deprecation,
    image_references,
    imagebuilder,
    instance_refresh,
    launch_template_versions,
    lock,
    rbin,
    unavailable,
)

# The patches, in the order they are applied: a patch that wraps another comes after it
# (deregistration_protection wraps deregister_image, allowed_images describe_images), and of the
# request handlers the one applied last sees a request first (unavailable before rbin and
# imagebuilder, and lock around them all).
PATCHES: tuple[ModuleType, ...] = (
    launch_template_versions,
    image_deprecation,
    deregister_image,
    deregistration_protection,
    describe_images,
    describe_snapshots,
    copy_image_tags,
    copy_shared_image,
    image_references,
    instance_refresh,
    allowed_images,
    imagebuilder,
    rbin,
    unavailable,
    lock,
)

_applied = False


def apply() -> None:
    """Applies every patch to moto, once (later calls do nothing)."""
    global _applied
    if _applied:
        return
    for patch in PATCHES:
        patch.apply()
    _applied = True


def main(argv: list[str] | None = None) -> None:
    """Patches moto, then runs moto_server with `argv` (default: the command line)."""
    from moto.server import main as moto_main

    apply()
    moto_main(argv if argv is not None else sys.argv[1:])
