"""DeleteLaunchTemplateVersions (moto 5.2.5 answers HTTP 500 "not implemented").

Deletes the given versions of a launch template (by id or name). The default version is refused
(in UnsuccessfullyDeletedLaunchTemplateVersionSet with code `unexpectedError`: the API's
LaunchTemplateErrorCode enum has no dedicated code for it), as are unknown versions
(`launchTemplateVersionDoesNotExist`); an unknown template refuses every version
(`launchTemplateIdDoesNotExist` / `launchTemplateNameDoesNotExist`, or
`launchTemplateIdMalformed` for an id not starting with `lt-`). More than 200 versions is an
InvalidParameterValue error.

Version numbers are never reused: to make deletion possible, LaunchTemplate's versions are
looked up by number instead of by list position (moto's get_version, default_version,
create_version and the MinVersion/MaxVersion range of DescribeLaunchTemplateVersions are
replaced accordingly), and LatestVersionNumber is the highest version left.
"""

from __future__ import annotations

from typing import Any

from moto.core.responses import ActionResult
from moto.ec2.exceptions import EC2ClientError, InvalidLaunchTemplateVersionNotFound, InvalidParameterValue
from moto.ec2.models.launch_templates import LaunchTemplate, LaunchTemplateBackend, LaunchTemplateVersion
from moto.ec2.responses import EC2Response

from .methods import set_methods

# DeleteLaunchTemplateVersions takes at most this many versions.
MAX_DELETE_VERSIONS = 200


def apply() -> None:
    """Looks versions up by number and adds DeleteLaunchTemplateVersions."""
    set_methods(LaunchTemplate, _create_version, _get_version, _default_version, _latest_version)
    moto_describe = LaunchTemplateBackend.describe_launch_template_versions

    def describe_launch_template_versions(
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
            return moto_describe(self, template_name, template_id, versions, min_version, max_version, max_results)
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

    set_methods(LaunchTemplateBackend, describe_launch_template_versions)
    set_methods(EC2Response, _delete_launch_template_versions)


def find_version(template: LaunchTemplate, number: int) -> LaunchTemplateVersion | None:
    """The template's version `number`, if it was not deleted."""
    return next((v for v in template.versions if v.number == number), None)


def _create_version(self: LaunchTemplate, data: dict[str, Any], description: str) -> LaunchTemplateVersion:
    # The highest number ever given, kept across deletions (numbers are never reused).
    number = max([v.number for v in self.versions] + [getattr(self, "_highest_version", 0)]) + 1
    version = LaunchTemplateVersion(self, number, data, description)
    self.versions.append(version)
    self._highest_version = number  # type: ignore[attr-defined]
    return version


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
    version = find_version(self, number)
    if version is None:
        raise InvalidLaunchTemplateVersionNotFound(template_id=self.id, version=num)
    return version


def _default_version(self: LaunchTemplate) -> LaunchTemplateVersion:
    version = find_version(self, self.default_version_number)
    assert version is not None, "the default version is never deleted"
    return version


def _latest_version(self: LaunchTemplate) -> LaunchTemplateVersion:
    return max(self.versions, key=lambda v: v.number)


def _requested_numbers(response: EC2Response) -> tuple[str | None, str | None, list[int]]:
    """The request's template id, name and version numbers, or EC2's parameter error."""
    template_id = response._get_param("LaunchTemplateId")
    template_name = response._get_param("LaunchTemplateName")
    versions = response._get_param("Versions", [])
    response.error_on_dryrun()
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
    return template_id, template_name, numbers


def _missing_template(template_id: str | None, template_name: str | None) -> tuple[str, str]:
    """The error code and message EC2 gives each version of a template that does not exist."""
    if template_id and not str(template_id).startswith("lt-"):
        return "launchTemplateIdMalformed", f"The launch template ID '{template_id}' is malformed."
    if template_id:
        return (
            "launchTemplateIdDoesNotExist",
            f"The specified launch template, with template ID {template_id}, does not exist.",
        )
    return (
        "launchTemplateNameDoesNotExist",
        f"The specified launch template, with template name {template_name}, does not exist.",
    )


def _delete_launch_template_versions(self: EC2Response) -> ActionResult:
    template_id, template_name, numbers = _requested_numbers(self)
    backend = self.ec2_backend
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
            refuse(number, *_missing_template(template_id, template_name))
            continue
        version = find_version(template, number)
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
