"""moto_server with the EC2 operations amikeeper's retention needs and moto 5.2.5 lacks.

Run through scripts/moto-server (same command line as moto_server: `-H HOST -p PORT`). It imports
moto, patches its EC2 model and response classes as listed below, then runs moto's own server
main. Everything else is moto as pinned in scripts/requirements-test.txt. Each patch follows the
EC2 API reference, so that tests against it assert what real EC2 does, not what moto happens to do.

Added (moto 5.2.5 answers HTTP 500 "not implemented" for these):

* DeleteLaunchTemplateVersions: deletes the given versions of a launch template (by id or name).
  The default version is refused (in UnsuccessfullyDeletedLaunchTemplateVersionSet with code
  `unexpectedError`: the API's LaunchTemplateErrorCode enum has no dedicated code for it), as
  are unknown versions (`launchTemplateVersionDoesNotExist`); an unknown template refuses every
  version (`launchTemplateIdDoesNotExist` / `launchTemplateNameDoesNotExist`, or
  `launchTemplateIdMalformed` for an id not starting with `lt-`). More than 200 versions is an
  InvalidParameterValue error. Version numbers are never reused: to make deletion possible,
  LaunchTemplate's versions are looked up by number instead of by list position (moto's
  get_version, default_version, create_version and the MinVersion/MaxVersion range of
  DescribeLaunchTemplateVersions are replaced accordingly), and LatestVersionNumber is the
  highest version left.
* EnableImageDeprecation: sets the image's DeprecationTime, which DescribeImages then reports
  (`deprecationTime`, `YYYY-MM-DDTHH:MM:SS.000Z`). As EC2 does, seconds are rounded to the
  nearest minute, a time in the past (or more than 10 years ahead) is an InvalidParameterValue
  error, only the owner may deprecate its image (else AuthFailure), an unknown image is
  InvalidAMIID.NotFound and a deregistered one InvalidAMIID.Unavailable.
* DisableImageDeprecation: clears DeprecationTime (same errors).
* Auto Scaling StartInstanceRefresh, DescribeInstanceRefreshes, CancelInstanceRefresh: see the
  comment above their patch, near the end of this file.
* Allowed AMIs: GetAllowedImagesSettings, EnableAllowedImagesSettings,
  DisableAllowedImagesSettings and ReplaceImageCriteriaInAllowedImagesSettings (a per-account,
  per-region state and image criteria), and DescribeImages' ImageAllowed, with images that are not
  allowed left out while the setting is enabled: see the comment above their patch, near the end
  of this file.
* EnableImageDeregistrationProtection / DisableImageDeregistrationProtection: set the image's
  DeregistrationProtection (`enabled`, `enabled-with-cooldown` with WithCooldown, `disabled`),
  which DescribeImages reports; DeregisterImage of a protected image fails with
  `OperationNotPermitted` (the code amikeeper's in-memory account uses too; not verified
  against EC2, whose reference does not list the code).

Changed (moto 5.2.5 has them but differs from EC2 in a way the retention tests would notice):

* Every request runs under one lock (REQUEST_LOCK): moto_server serves each request on a thread
  of its own and its models are not thread-safe, while in AWS each call is atomic. Concurrent
  clients still interleave their calls, never inside one.

* DeregisterImage: honours DeleteAssociatedSnapshots. After the image is deregistered, each
  snapshot of its block device mappings is deleted unless another image still uses it, and
  DeleteSnapshotResultSet reports each one: `success`, `skipped` (another image uses it) or
  `client-error` (it could not be deleted, e.g. it is already gone). Without the flag the
  response is as before (no result set, snapshots kept).
* DescribeImages: honours IncludeDisabled (disabled images are left out unless it is true) and
  IncludeDeprecated (images of other accounts whose deprecation time has passed are left out
  unless it is true or their ids were asked for; the owner always sees its own, as in EC2).
* DescribeSnapshots: honours OwnerIds (`self` or account ids; moto 5.2.5 ignores it, so
  `OwnerIds=self` also listed the snapshots of moto's Amazon-owned default AMIs).
* CopyImage: honours TagSpecifications (resource type `image`): the copy carries the tags from
  the moment it exists, as in EC2 (moto 5.2.5 drops them).
* CopyImage: copies an AMI another account shares with the caller (moto 5.2.5 looks for the
  source only in the caller's own account, so a cross-account copy was InvalidAMIID.NotFound).
  When the caller's account has no such image in the source region, the other accounts' images
  there are searched for one whose launch permissions name the caller's account (or `all`); it
  is copied only if every snapshot behind it grants the caller createVolumePermission (or
  `all`), else the call fails with `InvalidRequest`, "You do not have permission to access the
  storage of this ami" (the message EC2 gives; the code is not verified against EC2). An image
  not shared stays InvalidAMIID.NotFound. The copy belongs to the caller's account.

Added where moto 5.2.5 lacks them (it answers an HTML 500, which SDKs retry with back-off), or
refused as by an endpoint without them:

* DescribeImageReferences: what references each AMI in the caller's account and region, as EC2's
  reference check reports it (instances that are not terminated, the 10 newest versions of each
  launch template, SSM parameters holding the id, Image Builder image recipes).
* EC2 Image Builder (signed for `imagebuilder`): CreateImageRecipe, ListImageRecipes and
  ListContainerRecipes over recipes kept per region.
* `POST /moto-api/amikeeper/unavailable?apis=ec2:DescribeImageReferences,imagebuilder,...` makes
  those APIs answer as where they are missing or denied, for the fail-closed tests:
  DescribeImageReferences with `InvalidAction`, Image Builder with `AccessDeniedException`, and
  any other `service:Operation` (e.g. `autoscaling:DescribeAutoScalingGroups`) with the
  service's own access-denied error (`UnauthorizedOperation` for EC2, `AccessDenied` for the
  query protocols, `AccessDeniedException` for JSON ones). An empty `apis` restores them.
* Recycle Bin (`rbin`, signed for the service `rbin`; moto 5.2.5 has no such backend): every
  request gets HTTP 400 `UnknownOperationException` in the restJson error format (the
  `x-amzn-ErrorType` header and a `__type` / `message` body), which SDKs do not retry.
"""

from __future__ import annotations

import datetime as _dt
import sys
from typing import Any

from moto.core.responses import ActionResult
from moto.core.utils import utcnow
from moto.ec2.exceptions import (
    EC2ClientError,
    InvalidAMIIdError,
    InvalidLaunchTemplateVersionNotFound,
    InvalidParameterValue,
    UnvailableAMIIdError,
)
from moto.ec2.models.amis import Ami, AmiBackend
from moto.ec2.utils import random_ami_id
from moto.ec2.models.elastic_block_store import EBSBackend
from moto.ec2.models.launch_templates import (
    LaunchTemplate,
    LaunchTemplateBackend,
    LaunchTemplateVersion,
)
from moto.ec2.responses import EC2Response

# DeleteLaunchTemplateVersions takes at most this many versions.
MAX_DELETE_VERSIONS = 200
# EnableImageDeprecation accepts DeprecateAt at most this far ahead.
MAX_DEPRECATION_AHEAD = _dt.timedelta(days=3652)
# How EC2 prints DeprecationTime.
DEPRECATION_TIME_FORMAT = "%Y-%m-%dT%H:%M:%S.000Z"


# --- launch template versions by number -------------------------------------------------------


def _next_version_number(self: LaunchTemplate) -> int:
    # The highest number ever given, kept across deletions (numbers are never reused).
    highest = max([v.number for v in self.versions] + [getattr(self, "_highest_version", 0)])
    return highest + 1


def _create_version(self: LaunchTemplate, data: dict[str, Any], description: str) -> LaunchTemplateVersion:
    number = _next_version_number(self)
    version = LaunchTemplateVersion(self, number, data, description)
    self.versions.append(version)
    self._highest_version = number
    return version


def _find_version(self: LaunchTemplate, number: int) -> LaunchTemplateVersion | None:
    return next((v for v in self.versions if v.number == number), None)


def _get_version(self: LaunchTemplate, num: Any) -> LaunchTemplateVersion:
    text = str(num).lower()
    if text == "$latest":
        return self.latest_version()
    if text == "$default":
        return self.default_version()
    try:
        number = int(num)
    except (TypeError, ValueError):
        raise InvalidLaunchTemplateVersionNotFound(template_id=self.id, version=num)
    version = _find_version(self, number)
    if version is None:
        raise InvalidLaunchTemplateVersionNotFound(template_id=self.id, version=num)
    return version


def _default_version(self: LaunchTemplate) -> LaunchTemplateVersion:
    version = _find_version(self, self.default_version_number)
    assert version is not None, "the default version is never deleted"
    return version


def _latest_version(self: LaunchTemplate) -> LaunchTemplateVersion:
    return max(self.versions, key=lambda v: v.number)


LaunchTemplate.create_version = _create_version  # type: ignore[method-assign]
LaunchTemplate.get_version = _get_version  # type: ignore[method-assign]
LaunchTemplate.default_version = _default_version  # type: ignore[method-assign]
LaunchTemplate.latest_version = _latest_version  # type: ignore[method-assign]

_original_describe_versions = LaunchTemplateBackend.describe_launch_template_versions


def _describe_launch_template_versions(
    self: Any,
    template_name: str,
    template_id: str,
    versions: list[str],
    min_version: int,
    max_version: int,
    max_results: int,
) -> list[tuple[LaunchTemplate, LaunchTemplateVersion]]:
    # moto slices its version list by position for MinVersion/MaxVersion; by number here.
    if versions or not (min_version or max_version) or not (template_name or template_id):
        return _original_describe_versions(
            self, template_name, template_id, versions, min_version, max_version, max_results
        )
    if template_name:
        template = self.get_launch_template_by_name(template_name)
    else:
        template = self.get_launch_template(template_id)
    selected = [
        (template, v)
        for v in sorted(template.versions, key=lambda v: v.number)
        if (not min_version or v.number >= min_version) and (not max_version or v.number <= max_version)
    ]
    return selected[:max_results]


LaunchTemplateBackend.describe_launch_template_versions = _describe_launch_template_versions  # type: ignore[method-assign]


def _delete_launch_template_versions(self: EC2Response) -> ActionResult:
    template_id = self._get_param("LaunchTemplateId")
    template_name = self._get_param("LaunchTemplateName")
    versions = self._get_param("Versions", [])
    self.error_on_dryrun()
    if bool(template_id) == bool(template_name):
        raise EC2ClientError(
            "MissingParameter",
            "The request must contain exactly one of LaunchTemplateId or LaunchTemplateName",
        )
    if not versions:
        raise EC2ClientError("MissingParameter", "The request must contain the parameter LaunchTemplateVersion")
    if len(versions) > MAX_DELETE_VERSIONS:
        raise InvalidParameterValue(
            f"You can specify up to {MAX_DELETE_VERSIONS} launch template versions in a single request"
        )
    numbers = []
    for version in versions:
        try:
            numbers.append(int(version))
        except (TypeError, ValueError):
            raise InvalidParameterValue(f"Invalid launch template version number: {version}")

    backend = self.ec2_backend
    template = None
    if template_id:
        template = backend.launch_templates.get(template_id)
    else:
        known = backend.launch_template_name_to_ids.get(template_name)
        template = backend.launch_templates.get(known) if known else None

    succeeded: list[dict[str, Any]] = []
    failed: list[dict[str, Any]] = []

    def refuse(number: int, code: str, message: str) -> None:
        failed.append(
            {
                "LaunchTemplateId": template.id if template else template_id,
                "LaunchTemplateName": template.name if template else template_name,
                "VersionNumber": number,
                "ResponseError": {"Code": code, "Message": message},
            }
        )

    for number in numbers:
        if template is None:
            if template_id and not str(template_id).startswith("lt-"):
                refuse(number, "launchTemplateIdMalformed", f"The launch template ID '{template_id}' is malformed.")
            elif template_id:
                refuse(
                    number,
                    "launchTemplateIdDoesNotExist",
                    f"The specified launch template, with template ID {template_id}, does not exist.",
                )
            else:
                refuse(
                    number,
                    "launchTemplateNameDoesNotExist",
                    f"The specified launch template, with template name {template_name}, does not exist.",
                )
            continue
        version = _find_version(template, number)
        if version is None:
            refuse(
                number,
                "launchTemplateVersionDoesNotExist",
                f"The specified launch template version, {number}, does not exist.",
            )
        elif number == template.default_version_number:
            refuse(
                number,
                "unexpectedError",
                "Cannot delete the default version of a launch template; "
                "set a different version as the default first.",
            )
        else:
            template.versions.remove(version)
            succeeded.append(
                {"LaunchTemplateId": template.id, "LaunchTemplateName": template.name, "VersionNumber": number}
            )
    return ActionResult(
        {
            "SuccessfullyDeletedLaunchTemplateVersions": succeeded,
            "UnsuccessfullyDeletedLaunchTemplateVersions": failed,
        }
    )


EC2Response.delete_launch_template_versions = _delete_launch_template_versions  # type: ignore[attr-defined]


# --- image deprecation -------------------------------------------------------------------------

# Read by moto's serializer for DescribeImages' DeprecationTime (None: not in the response).
Ami.deprecation_time = None  # type: ignore[attr-defined]


def _own_image(self: EC2Response, image_id: str) -> Ami:
    backend = self.ec2_backend
    if image_id in backend.deleted_amis and image_id not in backend.amis:
        raise UnvailableAMIIdError(image_id)
    ami = backend.amis.get(image_id)
    if ami is None:
        raise InvalidAMIIdError(image_id)
    if ami.owner_id != self.current_account:
        raise EC2ClientError("AuthFailure", f"Not authorized for image:{image_id}")
    return ami


def _as_utc(value: Any) -> _dt.datetime:
    if isinstance(value, _dt.datetime):
        parsed = value
    else:
        from moto.core.parse import default_timestamp_parser

        parsed = default_timestamp_parser(str(value))
    if parsed.tzinfo is not None:
        parsed = parsed.astimezone(_dt.timezone.utc).replace(tzinfo=None)
    return parsed


def _round_to_minute(value: _dt.datetime) -> _dt.datetime:
    seconds = value.second + value.microsecond / 1e6
    floor = value.replace(second=0, microsecond=0)
    return floor + _dt.timedelta(minutes=1) if seconds >= 30 else floor


def _enable_image_deprecation(self: EC2Response) -> ActionResult:
    image_id = self._get_param("ImageId")
    deprecate_at = self._get_param("DeprecateAt")
    self.error_on_dryrun()
    if deprecate_at is None:
        raise EC2ClientError("MissingParameter", "The request must contain the parameter DeprecateAt")
    ami = _own_image(self, image_id)
    at = _as_utc(deprecate_at)
    now = utcnow()
    if at < now:
        raise InvalidParameterValue(f"The deprecation time {at.isoformat()}Z must be in the future.")
    if at > now + MAX_DEPRECATION_AHEAD:
        raise InvalidParameterValue(f"The deprecation time {at.isoformat()}Z must be within 10 years from now.")
    ami.deprecation_time = _round_to_minute(at).strftime(DEPRECATION_TIME_FORMAT)
    return ActionResult({"Return": True})


def _disable_image_deprecation(self: EC2Response) -> ActionResult:
    image_id = self._get_param("ImageId")
    self.error_on_dryrun()
    ami = _own_image(self, image_id)
    ami.deprecation_time = None
    return ActionResult({"Return": True})


def _enable_image_deregistration_protection(self: EC2Response) -> ActionResult:
    image_id = self._get_param("ImageId")
    with_cooldown = self._get_bool_param("WithCooldown", False)
    self.error_on_dryrun()
    ami = _own_image(self, image_id)
    ami.deregistration_protection = "enabled-with-cooldown" if with_cooldown else "enabled"
    return ActionResult({"Return": "true"})


def _disable_image_deregistration_protection(self: EC2Response) -> ActionResult:
    image_id = self._get_param("ImageId")
    self.error_on_dryrun()
    ami = _own_image(self, image_id)
    ami.deregistration_protection = "disabled"
    return ActionResult({"Return": "true"})


# Read by moto's serializer for DescribeImages' DeregistrationProtection.
Ami.deregistration_protection = None  # type: ignore[attr-defined]
EC2Response.enable_image_deregistration_protection = _enable_image_deregistration_protection  # type: ignore[attr-defined]
EC2Response.disable_image_deregistration_protection = _disable_image_deregistration_protection  # type: ignore[attr-defined]
EC2Response.enable_image_deprecation = _enable_image_deprecation  # type: ignore[attr-defined]
EC2Response.disable_image_deprecation = _disable_image_deprecation  # type: ignore[attr-defined]


# --- DeregisterImage with DeleteAssociatedSnapshots --------------------------------------------


def _image_snapshot_ids(ami: Ami) -> list[str]:
    return [
        mapping["Ebs"]["SnapshotId"]
        for mapping in ami.block_device_mappings
        if mapping.get("Ebs", {}).get("SnapshotId")
    ]


def _deregister_image(self: EC2Response) -> ActionResult:
    image_id = self._get_param("ImageId")
    delete_snapshots = self._get_bool_param("DeleteAssociatedSnapshots", False)
    self.error_on_dryrun()
    backend = self.ec2_backend
    ami = backend.amis.get(image_id)
    if ami is not None and str(getattr(ami, "deregistration_protection", None) or "").startswith("enabled"):
        raise EC2ClientError(
            "OperationNotPermitted",
            f"The image {image_id} is protected from deregistration. Disable deregistration protection first.",
        )
    backend.deregister_image(image_id)
    result: dict[str, Any] = {"Return": True}
    if delete_snapshots and ami is not None:
        results = []
        for snapshot_id in _image_snapshot_ids(ami):
            # A copy: other requests' threads add and remove images while this one looks.
            others = list(backend.amis.values())
            in_use = any(snapshot_id in _image_snapshot_ids(other) for other in others)
            if in_use:
                code = "skipped"
            else:
                try:
                    backend.delete_snapshot(snapshot_id)
                    code = "success"
                except EC2ClientError:
                    code = "client-error"
            results.append({"SnapshotId": snapshot_id, "ReturnCode": code})
        result["DeleteSnapshotResults"] = results
    return ActionResult(result)


EC2Response.deregister_image = _deregister_image  # type: ignore[method-assign]


# --- DescribeImages: IncludeDisabled, IncludeDeprecated ------------------------------------------


def _is_deprecated(ami: Ami, now: _dt.datetime) -> bool:
    deprecation_time = getattr(ami, "deprecation_time", None)
    if not deprecation_time:
        return False
    return _as_utc(deprecation_time) <= now


def _describe_images(self: EC2Response) -> ActionResult:
    self.error_on_dryrun()
    ami_ids = self._get_param("ImageIds", [])
    filters = self._filters_from_querystring()
    owners = self._get_param("Owners", [])
    exec_users = self._get_param("ExecutableUsers", [])
    include_disabled = self._get_bool_param("IncludeDisabled", False)
    include_deprecated = self._get_bool_param("IncludeDeprecated", False)
    images = self.ec2_backend.describe_images(ami_ids=ami_ids, filters=filters, exec_users=exec_users, owners=owners)
    now = utcnow()
    images = [
        ami
        for ami in images
        if (include_disabled or ami.state != "disabled")
        and (
            include_deprecated
            or ami_ids
            or ami.owner_id == self.current_account
            or not _is_deprecated(ami, now)
        )
    ]
    return ActionResult({"Images": images})


EC2Response.describe_images = _describe_images  # type: ignore[method-assign]


# --- DescribeSnapshots: OwnerIds ---------------------------------------------------------------


def _describe_snapshots(self: EC2Response) -> ActionResult:
    filters = self._filters_from_querystring()
    snapshot_ids = self._get_param("SnapshotIds", [])
    owner_ids = self._get_param("OwnerIds", [])
    self.error_on_dryrun()
    snapshots = self.ec2_backend.describe_snapshots(snapshot_ids=snapshot_ids, filters=filters)
    if owner_ids:
        owners = {self.current_account if owner == "self" else owner for owner in owner_ids}
        snapshots = [snapshot for snapshot in snapshots if snapshot.owner_id in owners]
    return ActionResult({"Snapshots": snapshots})


EC2Response.describe_snapshots = _describe_snapshots  # type: ignore[method-assign]


# --- CopyImage: TagSpecifications --------------------------------------------------------------

_moto_copy_image = EC2Response.copy_image


def _copy_image(self: EC2Response) -> ActionResult:
    result = _moto_copy_image(self)
    tags = self._parse_tag_specification("image").get("image", {})
    if tags:
        self.ec2_backend.create_tags([result.result["ImageId"]], tags)
    return result


EC2Response.copy_image = _copy_image  # type: ignore[method-assign]


# --- CopyImage of an AMI another account shares ---------------------------------------------

_moto_backend_copy_image = AmiBackend.copy_image


def _shared_with(permissions: Any, account: str) -> bool:
    return any(p.get("UserId") == account or p.get("Group") == "all" for p in permissions)


def _shared_image(self: AmiBackend, image_id: str, source_region: str) -> Ami | None:
    from moto.ec2.models import ec2_backends

    me = self.account_id  # type: ignore[attr-defined]
    for account in list(ec2_backends.keys()):
        if account == me:
            continue
        ami = ec2_backends[account][source_region].amis.get(image_id)
        if ami is not None and _shared_with(ami.launch_permissions, me):
            return ami
    return None


def _backend_copy_image(
    self: AmiBackend,
    source_image_id: str,
    source_region: str,
    name: str | None = None,
    description: str | None = None,
) -> Ami:
    from moto.ec2.models import ec2_backends

    own = ec2_backends[self.account_id][source_region]  # type: ignore[attr-defined]
    if source_image_id in own.amis:
        return _moto_backend_copy_image(self, source_image_id, source_region, name, description)
    source = _shared_image(self, source_image_id, source_region)
    if source is None:
        raise InvalidAMIIdError([source_image_id])
    me = self.account_id  # type: ignore[attr-defined]
    owner = ec2_backends[source.owner_id][source_region]
    for snapshot_id in _image_snapshot_ids(source):
        snapshot = owner.snapshots.get(snapshot_id)
        readable = snapshot is not None and (
            me in snapshot.create_volume_permission_userids or "all" in snapshot.create_volume_permission_groups
        )
        if not readable:
            raise EC2ClientError("InvalidRequest", "You do not have permission to access the storage of this ami")
    ami = Ami(self, random_ami_id(), instance=None, source_ami=source, name=name, description=description)
    self.amis[ami.id] = ami
    return ami


AmiBackend.copy_image = _backend_copy_image  # type: ignore[method-assign]


# --- APIs refused as by an endpoint without them ---------------------------------------------


# APIs a test made unavailable (`POST /moto-api/amikeeper/unavailable?apis=A,B`, see
# _patch_dispatcher), as in a region or partition without them or for a role denied them:
# `ec2:DescribeImageReferences`, `imagebuilder`.
UNAVAILABLE: set[str] = set()


def _describe_image_references(self: EC2Response) -> ActionResult:
    """EC2's AMI reference check over moto's account and region: instances that are not
    terminated, the 10 newest versions of each launch template (EC2's default depth), SSM
    parameters whose value is the AMI id, and the Image Builder recipes of _IMAGEBUILDER."""
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
        newest = sorted(list(template.versions), key=lambda v: v.number, reverse=True)[:10]
        for image_id in {version.image_id for version in newest}:
            add(image_id, "ec2:LaunchTemplate", f"arn:aws:ec2:{region}:{account}:launch-template/{template.id}")
    parameters = ssm_backends[account][region]._parameters
    for name in list(parameters.keys()):
        versions = parameters.get(name) or []
        if versions and versions[-1].value in wanted:
            arn_name = name if name.startswith("/") else f"/{name}"
            add(versions[-1].value, "ssm:Parameter", f"arn:aws:ssm:{region}:{account}:parameter{arn_name}")
    if "imagebuilder" not in UNAVAILABLE:
        for recipe in list(_IMAGEBUILDER.get(region, {}).values()):
            add(recipe["parentImage"], "imagebuilder:ImageRecipe", recipe["arn"])
    return ActionResult({"ImageReferences": found})


EC2Response.describe_image_references = _describe_image_references  # type: ignore[attr-defined]

# --- EC2 Image Builder (moto 5.2.5 has no backend): the recipe calls amikeeper's scan makes -----
#
# CreateImageRecipe (PUT), ListImageRecipes and ListContainerRecipes (POST, owner Self: the
# recipes created here; no container recipe can be created, so that list is empty), as restJson
# answers with the fields amikeeper reads. Recipes are kept per region.
_IMAGEBUILDER: dict[str, dict[str, dict[str, str]]] = {}


def _json_response(environ: dict[str, Any], start_response: Any, status: int, body: dict[str, Any], error: str | None = None) -> Any:
    import json
    import uuid

    from werkzeug.wrappers import Response

    headers = {"Content-Type": "application/json", "x-amzn-RequestId": str(uuid.uuid4())}
    if error:
        headers["x-amzn-ErrorType"] = error
    return Response(json.dumps(body), status=status, headers=headers)(environ, start_response)


def _imagebuilder(environ: dict[str, Any], start_response: Any) -> Any:
    import json

    if "imagebuilder" in UNAVAILABLE:
        return _json_response(environ, start_response, 403, {"message": "User is not authorized to perform this action"}, "AccessDeniedException")
    method = environ.get("REQUEST_METHOD", "")
    path = environ.get("PATH_INFO", "")
    auth = environ.get("HTTP_AUTHORIZATION") or ""
    try:
        region = auth.split(",")[0].split()[1].split("/")[2]
    except IndexError:
        region = "us-east-1"
    length = int(environ.get("CONTENT_LENGTH") or 0)
    body = json.loads(environ["wsgi.input"].read(length) or b"{}") if length else {}
    recipes = _IMAGEBUILDER.setdefault(region, {})
    if method == "PUT" and path == "/CreateImageRecipe":
        name, version = body.get("name", ""), body.get("semanticVersion", "1.0.0")
        arn = f"arn:aws:imagebuilder:{region}:123456789012:image-recipe/{name.lower()}/{version}"
        recipes[arn] = {"arn": arn, "name": name, "parentImage": body.get("parentImage", ""), "owner": "123456789012", "platform": "Linux", "dateCreated": utcnow().isoformat()}
        return _json_response(environ, start_response, 200, {"requestId": "moto", "clientToken": body.get("clientToken", ""), "imageRecipeArn": arn})
    if method == "POST" and path == "/ListImageRecipes":
        return _json_response(environ, start_response, 200, {"requestId": "moto", "imageRecipeSummaryList": list(recipes.values())})
    if method == "POST" and path == "/ListContainerRecipes":
        return _json_response(environ, start_response, 200, {"requestId": "moto", "containerRecipeSummaryList": []})
    return _unknown_operation(environ, start_response)


def _operation(environ: dict[str, Any]) -> str | None:
    """The operation a request calls: from `X-Amz-Target` (JSON protocols) or the form body's
    `Action` (EC2, Auto Scaling, CloudFormation); the body is put back for moto to read."""
    import io
    from urllib.parse import parse_qs

    target = environ.get("HTTP_X_AMZ_TARGET")
    if target:
        return target.rsplit(".", 1)[-1]
    length = int(environ.get("CONTENT_LENGTH") or 0)
    body = environ["wsgi.input"].read(length) if length else b""
    environ["wsgi.input"] = io.BytesIO(body)
    action = parse_qs(body.decode("utf-8", "replace")).get("Action") or parse_qs(environ.get("QUERY_STRING", "")).get("Action")
    return action[0] if action else None


def _access_denied(environ: dict[str, Any], start_response: Any, service: str, operation: str) -> Any:
    """AccessDenied in the service's own error format, as for a role without the permission."""
    import uuid

    from werkzeug.wrappers import Response

    message = f"User is not authorized to perform: {service}:{operation}"
    if service == "ec2":
        body = (
            f"<Response><Errors><Error><Code>UnauthorizedOperation</Code><Message>{message}</Message>"
            f"</Error></Errors><RequestID>{uuid.uuid4()}</RequestID></Response>"
        )
        return Response(body, status=403, headers={"Content-Type": "text/xml"})(environ, start_response)
    if environ.get("HTTP_X_AMZ_TARGET"):
        return _json_response(environ, start_response, 400, {"__type": "AccessDeniedException", "message": message}, "AccessDeniedException")
    body = (
        f"<ErrorResponse><Error><Type>Sender</Type><Code>AccessDenied</Code><Message>{message}</Message>"
        f"</Error><RequestId>{uuid.uuid4()}</RequestId></ErrorResponse>"
    )
    return Response(body, status=403, headers={"Content-Type": "text/xml"})(environ, start_response)


def _set_unavailable(environ: dict[str, Any], start_response: Any) -> Any:
    from urllib.parse import parse_qs

    apis = parse_qs(environ.get("QUERY_STRING", "")).get("apis", [""])[0]
    UNAVAILABLE.clear()
    UNAVAILABLE.update(api for api in apis.split(",") if api)
    return _json_response(environ, start_response, 200, {"unavailable": sorted(UNAVAILABLE)})


# Services moto 5.2.5 has no backend for, by SigV4 signing name: every request is refused.
REFUSED_JSON_SERVICES = frozenset({"rbin"})


def _signing_service(environ: dict[str, Any]) -> str | None:
    # `Authorization: AWS4-HMAC-SHA256 Credential=KEY/DATE/REGION/SERVICE/aws4_request, ...`
    auth = environ.get("HTTP_AUTHORIZATION") or ""
    try:
        scope = auth.split(",")[0].split()[1]
        return scope.split("/")[3].lower()
    except IndexError:
        return None


def _unknown_operation(environ: dict[str, Any], start_response: Any) -> Any:
    import json
    import uuid

    from werkzeug.wrappers import Response

    method = environ.get("REQUEST_METHOD", "")
    path = environ.get("PATH_INFO", "")
    body = json.dumps(
        {"__type": "UnknownOperationException", "message": f"The operation {method} {path} is not supported."}
    )
    response = Response(
        body,
        status=400,
        headers={
            "Content-Type": "application/json",
            "x-amzn-ErrorType": "UnknownOperationException",
            "x-amzn-RequestId": str(uuid.uuid4()),
        },
    )
    return response(environ, start_response)


def _patch_dispatcher() -> None:
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication

    original_call = DomainDispatcherApplication.__call__

    def _call(self: DomainDispatcherApplication, environ: dict[str, Any], start_response: Any) -> Any:
        if environ.get("PATH_INFO") == "/moto-api/amikeeper/unavailable":
            return _set_unavailable(environ, start_response)
        service = _signing_service(environ)
        if UNAVAILABLE and service and service != "imagebuilder":
            operation = _operation(environ)
            if operation and f"{service}:{operation}" in UNAVAILABLE and operation != "DescribeImageReferences":
                return _access_denied(environ, start_response, service, operation)
        if service in REFUSED_JSON_SERVICES:
            return _unknown_operation(environ, start_response)
        if service == "imagebuilder":
            return _imagebuilder(environ, start_response)
        return original_call(self, environ, start_response)

    DomainDispatcherApplication.__call__ = _call  # type: ignore[method-assign]


_patch_dispatcher()

# --- one request at a time ---------------------------------------------------------------------
#
# moto_server serves each request on its own thread, and moto's models (and the patches above)
# read and change plain dicts and lists without locks: DeregisterImage looking at every image
# while another request deregisters one failed with "dictionary changed size during iteration"
# (HTTP 500 after the image was gone), and two PutParameter or CreateLaunchTemplateVersion calls
# at once could get the same version number. In AWS each call is atomic; here each request runs
# under one lock, so concurrent clients still interleave their calls, but never inside one.

import threading as _threading

REQUEST_LOCK = _threading.RLock()


def _serialize_requests() -> None:
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication

    unlocked_call = DomainDispatcherApplication.__call__

    def _call(self: DomainDispatcherApplication, environ: dict[str, Any], start_response: Any) -> Any:
        with REQUEST_LOCK:
            # The body is read out under the lock too: a response iterable may be lazy.
            response = unlocked_call(self, environ, start_response)
            try:
                return list(response)
            finally:
                close = getattr(response, "close", None)
                if close is not None:
                    close()

    DomainDispatcherApplication.__call__ = _call  # type: ignore[method-assign]


_serialize_requests()

# --- Auto Scaling instance refreshes ------------------------------------------------------------
#
# Added (moto 5.2.5 answers HTTP 500 "not implemented" for these), for `instance_refresh` on
# amikeeper's auto_scaling_group targets:
#
# * StartInstanceRefresh: records a refresh of the group (an unknown group is a ValidationError
#   "AutoScalingGroup name not found", MinHealthyPercentage outside 0-100 a ValidationError) and
#   returns its id. As in Auto Scaling, a group with a refresh that is still active refuses
#   another with `InstanceRefreshInProgress`. moto replaces no instances, so a refresh of a group
#   with instances stays `InProgress` until CancelInstanceRefresh; a group without instances has
#   nothing to replace, and its refresh is `Successful` at once (100 % complete).
# * DescribeInstanceRefreshes: a group's refreshes, newest first, optionally by id, with the
#   strategy and preferences they were started with.
# * CancelInstanceRefresh: cancels the active refresh (`Cancelled`), or fails with
#   `ActiveInstanceRefreshNotFound`.

import uuid as _uuid

from moto.autoscaling.exceptions import AutoscalingClientError
from moto.autoscaling.exceptions import ValidationError as AutoscalingValidationError
from moto.autoscaling.responses import AutoScalingResponse

# Refresh states in which Auto Scaling refuses to start another refresh of the group.
ACTIVE_REFRESH_STATES = frozenset({"Pending", "InProgress", "Cancelling", "RollbackInProgress", "Baking"})


class InstanceRefreshInProgressError(AutoscalingClientError):
    code = "InstanceRefreshInProgress"


class ActiveInstanceRefreshNotFoundError(AutoscalingClientError):
    code = "ActiveInstanceRefreshNotFound"


def _refreshed_group(self: AutoScalingResponse, name: str) -> Any:
    group = self.autoscaling_backend.autoscaling_groups.get(name)
    if group is None:
        raise AutoscalingValidationError(f"AutoScalingGroup name not found - AutoScalingGroup {name} not found")
    if not hasattr(group, "instance_refreshes"):
        group.instance_refreshes = []
    return group


def _active_refresh(group: Any) -> dict[str, Any] | None:
    return next((r for r in group.instance_refreshes if r["Status"] in ACTIVE_REFRESH_STATES), None)


def _start_instance_refresh(self: AutoScalingResponse) -> ActionResult:
    name = self._get_param("AutoScalingGroupName")
    strategy = self._get_param("Strategy") or "Rolling"
    preferences = self._get_param("Preferences") or {}
    group = _refreshed_group(self, name)
    if _active_refresh(group) is not None:
        raise InstanceRefreshInProgressError(
            "An Instance Refresh is already in progress and blocks the execution of this Instance Refresh."
        )
    minimum = preferences.get("MinHealthyPercentage")
    if minimum is not None and not 0 <= int(minimum) <= 100:
        raise AutoscalingValidationError("MinHealthyPercentage must be between 0 and 100.")
    now = utcnow()
    instances = len(group.instance_states)
    refresh: dict[str, Any] = {
        "InstanceRefreshId": str(_uuid.uuid4()),
        "AutoScalingGroupName": name,
        "Strategy": strategy,
        "Preferences": preferences,
        "StartTime": now,
        "InstancesToUpdate": instances,
    }
    if instances:
        refresh.update({"Status": "InProgress", "PercentageComplete": 0})
    else:
        refresh.update({"Status": "Successful", "PercentageComplete": 100, "EndTime": now, "InstancesToUpdate": 0})
    group.instance_refreshes.append(refresh)
    return ActionResult({"InstanceRefreshId": refresh["InstanceRefreshId"]})


def _describe_instance_refreshes(self: AutoScalingResponse) -> ActionResult:
    name = self._get_param("AutoScalingGroupName")
    ids = self._get_param("InstanceRefreshIds", [])
    group = _refreshed_group(self, name)
    refreshes = [r for r in reversed(group.instance_refreshes) if not ids or r["InstanceRefreshId"] in ids]
    return ActionResult({"InstanceRefreshes": refreshes})


def _cancel_instance_refresh(self: AutoScalingResponse) -> ActionResult:
    name = self._get_param("AutoScalingGroupName")
    group = _refreshed_group(self, name)
    refresh = _active_refresh(group)
    if refresh is None:
        raise ActiveInstanceRefreshNotFoundError("No in progress or pending Instance Refresh found for this group.")
    refresh.update({"Status": "Cancelled", "EndTime": utcnow()})
    return ActionResult({"InstanceRefreshId": refresh["InstanceRefreshId"]})


AutoScalingResponse.start_instance_refresh = _start_instance_refresh  # type: ignore[attr-defined]
AutoScalingResponse.describe_instance_refreshes = _describe_instance_refreshes  # type: ignore[attr-defined]
AutoScalingResponse.cancel_instance_refresh = _cancel_instance_refresh  # type: ignore[attr-defined]

# --- Allowed AMIs -------------------------------------------------------------------------------
#
# Added (moto 5.2.5 answers HTTP 500 "not implemented" for these, and DescribeImages has no
# ImageAllowed), after the EC2 API reference (GetAllowedImagesSettings, EnableAllowedImagesSettings,
# DisableAllowedImagesSettings, ReplaceImageCriteriaInAllowedImagesSettings, DescribeImages,
# ImageCriterion):
#
# * The setting is per account and region: a state (`disabled` until enabled, `audit-mode`,
#   `enabled`) and up to 10 image criteria. EnableAllowedImagesSettings takes
#   AllowedImagesSettingsState `enabled` or `audit-mode` (else InvalidParameterValue) and answers
#   it; DisableAllowedImagesSettings answers `disabled`; both keep the criteria.
#   ReplaceImageCriteriaInAllowedImagesSettings replaces the criteria (ImageProviders,
#   ImageNames, MarketplaceProductCodes, CreationDateCondition.MaximumDaysSinceCreated,
#   DeprecationTimeCondition.MaximumDaysSinceDeprecated); more than 10 criteria, or `none` with
#   other providers, is InvalidParameterValue. GetAllowedImagesSettings answers the state, the
#   criteria and ManagedBy `account`.
# * DescribeImages applies it: while it is `audit-mode` or `enabled` each image carries
#   ImageAllowed; while it is `enabled` an image that is not allowed is left out (even when
#   asked for by id). An image is allowed when the caller's account owns it, or when it meets
#   any criterion: every part of it that is set matches (the owner is one of the providers,
#   a 12-digit account id or `amazon` for moto's Amazon-owned default AMIs, `aws-marketplace` for
#   owner alias `aws-marketplace`; `none` allows only the caller's own; the name matches one of
#   the names with `*` and `?` wildcards; a product code matches; the image was created and, if
#   deprecated, deprecated within the given days).

import fnmatch as _fnmatch
import threading as _threading

ALLOWED_IMAGES_STATES = frozenset({"enabled", "audit-mode"})
MAX_IMAGE_CRITERIA = 10
# The setting lives on the account's EC2 backend of the region, so that `/moto-api/reset`
# forgets it with everything else; one lock serialises its reads and writes across threads.
_allowed_images_lock = _threading.Lock()


def _settings_of(self: EC2Response) -> dict[str, Any]:
    backend = self.ec2_backend
    settings = getattr(backend, "allowed_images_settings", None)
    if settings is None:
        settings = {"State": "disabled", "ImageCriteria": []}
        backend.allowed_images_settings = settings  # type: ignore[attr-defined]
    return settings


def _allowed_images_settings(self: EC2Response) -> dict[str, Any]:
    with _allowed_images_lock:
        settings = _settings_of(self)
        return {"State": settings["State"], "ImageCriteria": list(settings["ImageCriteria"])}


def _set_allowed_images(self: EC2Response, **changes: Any) -> None:
    with _allowed_images_lock:
        _settings_of(self).update(changes)


def _enable_allowed_images_settings(self: EC2Response) -> ActionResult:
    state = self._get_param("AllowedImagesSettingsState")
    self.error_on_dryrun()
    if state not in ALLOWED_IMAGES_STATES:
        raise InvalidParameterValue(f"AllowedImagesSettingsState must be enabled or audit-mode, not {state!r}.")
    _set_allowed_images(self, State=state)
    return ActionResult({"AllowedImagesSettingsState": state})


def _disable_allowed_images_settings(self: EC2Response) -> ActionResult:
    self.error_on_dryrun()
    _set_allowed_images(self, State="disabled")
    return ActionResult({"AllowedImagesSettingsState": "disabled"})


def _criterion_from_request(raw: dict[str, Any]) -> dict[str, Any]:
    providers = list(raw.get("ImageProviders") or [])
    if "none" in providers and len(providers) > 1:
        raise InvalidParameterValue("When the image provider none is specified, no other values can be specified.")
    criterion: dict[str, Any] = {
        "ImageProviders": providers,
        "ImageNames": list(raw.get("ImageNames") or []),
        "MarketplaceProductCodes": list(raw.get("MarketplaceProductCodes") or []),
    }
    for condition, field in (
        ("CreationDateCondition", "MaximumDaysSinceCreated"),
        ("DeprecationTimeCondition", "MaximumDaysSinceDeprecated"),
    ):
        days = (raw.get(condition) or {}).get(field)
        if days is not None:
            criterion[condition] = {field: int(days)}
    return criterion


def _replace_image_criteria_in_allowed_images_settings(self: EC2Response) -> ActionResult:
    raw = self._get_param("ImageCriteria", []) or []
    self.error_on_dryrun()
    if len(raw) > MAX_IMAGE_CRITERIA:
        raise InvalidParameterValue(f"At most {MAX_IMAGE_CRITERIA} image criteria can be specified.")
    _set_allowed_images(self, ImageCriteria=[_criterion_from_request(c) for c in raw])
    return ActionResult({"ReturnValue": True})


def _get_allowed_images_settings(self: EC2Response) -> ActionResult:
    self.error_on_dryrun()
    settings = _allowed_images_settings(self)
    result: dict[str, Any] = {"State": settings["State"], "ManagedBy": "account"}
    if settings["ImageCriteria"]:
        result["ImageCriteria"] = [
            {key: value for key, value in criterion.items() if value} for criterion in settings["ImageCriteria"]
        ]
    return ActionResult(result)


def _meets(criterion: dict[str, Any], ami: Ami, now: _dt.datetime) -> bool:
    providers = criterion.get("ImageProviders") or []
    if providers:
        owner_alias = getattr(ami, "owner_alias", None)
        if not any(
            provider == ami.owner_id or (provider in ("amazon", "aws-marketplace") and provider == owner_alias)
            for provider in providers
            if provider != "none"
        ):
            return False
    names = criterion.get("ImageNames") or []
    if names and not any(_fnmatch.fnmatchcase(ami.name or "", name) for name in names):
        return False
    codes = criterion.get("MarketplaceProductCodes") or []
    if codes and not set(codes) & set(getattr(ami, "product_codes", None) or []):
        return False
    created_within = (criterion.get("CreationDateCondition") or {}).get("MaximumDaysSinceCreated")
    if created_within is not None:
        created = getattr(ami, "creation_date", None)
        if created is None or now - _as_utc(created) > _dt.timedelta(days=created_within):
            return False
    deprecated_within = (criterion.get("DeprecationTimeCondition") or {}).get("MaximumDaysSinceDeprecated")
    if deprecated_within is not None and _is_deprecated(ami, now):
        if now - _as_utc(ami.deprecation_time) > _dt.timedelta(days=deprecated_within):  # type: ignore[attr-defined]
            return False
    return True


class _ShownImage:
    """An image as DescribeImages shows it to one caller: the AMI, plus its ImageAllowed."""

    def __init__(self, ami: Ami, allowed: bool) -> None:
        self._ami = ami
        self.image_allowed = allowed

    def __getattr__(self, name: str) -> Any:
        return getattr(self._ami, name)


_ext_describe_images = EC2Response.describe_images


def _describe_images_allowed(self: EC2Response) -> ActionResult:
    result = _ext_describe_images(self)
    settings = _allowed_images_settings(self)
    if settings["State"] == "disabled":
        return result
    me = self.current_account
    now = utcnow()
    shown = []
    for ami in result.result["Images"]:
        allowed = ami.owner_id == me or any(_meets(c, ami, now) for c in settings["ImageCriteria"])
        if settings["State"] == "enabled" and not allowed:
            continue
        shown.append(_ShownImage(ami, allowed))
    return ActionResult({**result.result, "Images": shown})


EC2Response.enable_allowed_images_settings = _enable_allowed_images_settings  # type: ignore[attr-defined]
EC2Response.disable_allowed_images_settings = _disable_allowed_images_settings  # type: ignore[attr-defined]
EC2Response.replace_image_criteria_in_allowed_images_settings = (  # type: ignore[attr-defined]
    _replace_image_criteria_in_allowed_images_settings
)
EC2Response.get_allowed_images_settings = _get_allowed_images_settings  # type: ignore[attr-defined]
EC2Response.describe_images = _describe_images_allowed  # type: ignore[method-assign]

# Keep the names importable for anyone checking what is patched.
PATCHED_BACKENDS = (AmiBackend, EBSBackend, LaunchTemplateBackend)


def main(argv: list[str] | None = None) -> None:
    from moto.server import main as moto_main

    moto_main(argv if argv is not None else sys.argv[1:])


if __name__ == "__main__":
    main()
