"""Allowed AMIs (moto 5.2.5 answers HTTP 500 "not implemented" for these, and DescribeImages
has no ImageAllowed), after the EC2 API reference (GetAllowedImagesSettings,
EnableAllowedImagesSettings, DisableAllowedImagesSettings,
ReplaceImageCriteriaInAllowedImagesSettings, DescribeImages, ImageCriterion).

* The setting is per account and region: a state (`disabled` until enabled, `audit-mode`,
  `enabled`) and up to 10 image criteria. EnableAllowedImagesSettings takes
  AllowedImagesSettingsState `enabled` or `audit-mode` (else InvalidParameterValue) and answers
  it; DisableAllowedImagesSettings answers `disabled`; both keep the criteria.
  ReplaceImageCriteriaInAllowedImagesSettings replaces the criteria (ImageProviders, ImageNames,
  MarketplaceProductCodes, CreationDateCondition.MaximumDaysSinceCreated,
  DeprecationTimeCondition.MaximumDaysSinceDeprecated); more than 10 criteria, or `none` with
  other providers, is InvalidParameterValue. GetAllowedImagesSettings answers the state, the
  criteria and ManagedBy `account`.
* DescribeImages applies it: while it is `audit-mode` or `enabled` each image carries
  ImageAllowed; while it is `enabled` an image that is not allowed is left out (even when asked
  for by id). An image is allowed when the caller's account owns it, or when it meets any
  criterion: every part of it that is set matches (the owner is one of the providers, a 12-digit
  account id or `amazon` for moto's Amazon-owned default AMIs, `aws-marketplace` for owner alias
  `aws-marketplace`; `none` allows only the caller's own; the name matches one of the names with
  `*` and `?` wildcards; a product code matches; the image was created and, if deprecated,
  deprecated within the given days).
"""

from __future__ import annotations

import datetime as _dt
import fnmatch
import threading
from typing import Any

from moto.core.responses import ActionResult
from moto.core.utils import utcnow
from moto.ec2.exceptions import InvalidParameterValue
from moto.ec2.models.amis import Ami
from moto.ec2.responses import EC2Response

from .amis import as_utc, is_deprecated
from .methods import set_methods

ALLOWED_IMAGES_STATES = frozenset({"enabled", "audit-mode"})
MAX_IMAGE_CRITERIA = 10
# The setting lives on the account's EC2 backend of the region, so that `/moto-api/reset`
# forgets it with everything else; one lock serialises its reads and writes across threads.
_lock = threading.Lock()


def apply() -> None:
    """Adds the four operations and wraps DescribeImages (apply after describe_images)."""
    set_methods(
        EC2Response,
        _enable_allowed_images_settings,
        _disable_allowed_images_settings,
        _replace_image_criteria_in_allowed_images_settings,
        _get_allowed_images_settings,
    )
    describe_all_images = EC2Response.describe_images

    def describe_images(self: EC2Response) -> ActionResult:
        result = describe_all_images(self)
        settings = _settings(self)
        if settings["State"] == "disabled":
            return result
        me = self.current_account
        now = utcnow()
        shown = []
        for ami in result.result["Images"]:  # type: ignore[index]
            allowed = ami.owner_id == me or any(meets(c, ami, now) for c in settings["ImageCriteria"])
            if settings["State"] == "enabled" and not allowed:
                continue
            shown.append(ShownImage(ami, allowed))
        return ActionResult({**result.result, "Images": shown})  # type: ignore[dict-item]

    set_methods(EC2Response, describe_images)


class ShownImage:
    """An image as DescribeImages shows it to one caller: the AMI, plus its ImageAllowed."""

    def __init__(self, ami: Ami, allowed: bool) -> None:
        self._ami = ami
        self.image_allowed = allowed

    def __getattr__(self, name: str) -> Any:
        return getattr(self._ami, name)


def meets(criterion: dict[str, Any], ami: Ami, now: _dt.datetime) -> bool:
    """Whether `ami` meets every part of `criterion` that is set."""
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
    if names and not any(fnmatch.fnmatchcase(ami.name or "", name) for name in names):
        return False
    codes = criterion.get("MarketplaceProductCodes") or []
    if codes and not set(codes) & set(getattr(ami, "product_codes", None) or []):
        return False
    created_within = (criterion.get("CreationDateCondition") or {}).get("MaximumDaysSinceCreated")
    if created_within is not None:
        created = getattr(ami, "creation_date", None)
        if created is None or now - as_utc(created) > _dt.timedelta(days=created_within):
            return False
    deprecated_within = (criterion.get("DeprecationTimeCondition") or {}).get("MaximumDaysSinceDeprecated")
    if deprecated_within is not None and is_deprecated(ami, now):
        if now - as_utc(ami.deprecation_time) > _dt.timedelta(days=deprecated_within):  # type: ignore[attr-defined]
            return False
    return True


def _settings_of(response: EC2Response) -> dict[str, Any]:
    backend = response.ec2_backend
    settings = getattr(backend, "allowed_images_settings", None)
    if settings is None:
        settings = {"State": "disabled", "ImageCriteria": []}
        backend.allowed_images_settings = settings
    return settings


def _settings(response: EC2Response) -> dict[str, Any]:
    """A copy of the caller's setting: State and ImageCriteria."""
    with _lock:
        settings = _settings_of(response)
        return {"State": settings["State"], "ImageCriteria": list(settings["ImageCriteria"])}


def _set(response: EC2Response, **changes: Any) -> None:
    with _lock:
        _settings_of(response).update(changes)


def _enable_allowed_images_settings(self: EC2Response) -> ActionResult:
    state = self._get_param("AllowedImagesSettingsState")
    self.error_on_dryrun()
    if state not in ALLOWED_IMAGES_STATES:
        raise InvalidParameterValue(f"AllowedImagesSettingsState must be enabled or audit-mode, not {state!r}.")
    _set(self, State=state)
    return ActionResult({"AllowedImagesSettingsState": state})


def _disable_allowed_images_settings(self: EC2Response) -> ActionResult:
    self.error_on_dryrun()
    _set(self, State="disabled")
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
    _set(self, ImageCriteria=[_criterion_from_request(c) for c in raw])
    return ActionResult({"ReturnValue": True})


def _get_allowed_images_settings(self: EC2Response) -> ActionResult:
    self.error_on_dryrun()
    settings = _settings(self)
    result: dict[str, Any] = {"State": settings["State"], "ManagedBy": "account"}
    if settings["ImageCriteria"]:
        result["ImageCriteria"] = [
            {key: value for key, value in criterion.items() if value} for criterion in settings["ImageCriteria"]
        ]
    return ActionResult(result)
