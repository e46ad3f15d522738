"""EnableImageDeprecation and DisableImageDeprecation (moto 5.2.5 answers HTTP 500).

EnableImageDeprecation sets the image's DeprecationTime, which DescribeImages then reports
(`deprecationTime`, `YYYY-MM-DDTHH:MM:SS.000Z`). As EC2 does, seconds are rounded to the nearest
minute, a time in the past (or more than 10 years ahead) is an InvalidParameterValue error, only
the owner may deprecate its image (else AuthFailure), an unknown image is InvalidAMIID.NotFound
and a deregistered one InvalidAMIID.Unavailable. DisableImageDeprecation clears it (same errors).
"""

from __future__ import annotations

import datetime as _dt

from moto.core.responses import ActionResult
from moto.core.utils import utcnow
from moto.ec2.exceptions import EC2ClientError, InvalidParameterValue
from moto.ec2.models.amis import Ami
from moto.ec2.responses import EC2Response

from .amis import as_utc, own_image
from .methods import set_methods

# EnableImageDeprecation accepts DeprecateAt at most this far ahead.
MAX_DEPRECATION_AHEAD = _dt.timedelta(days=3652)
# How EC2 prints DeprecationTime.
DEPRECATION_TIME_FORMAT = "%Y-%m-%dT%H:%M:%S.000Z"


def apply() -> None:
    """Adds the two operations and DescribeImages' DeprecationTime."""
    # Read by moto's serializer for DescribeImages' DeprecationTime (None: not in the response).
    Ami.deprecation_time = None  # type: ignore[attr-defined]
    set_methods(EC2Response, _enable_image_deprecation, _disable_image_deprecation)


def round_to_minute(value: _dt.datetime) -> _dt.datetime:
    """`value` rounded to the nearest minute, as EC2 stores a deprecation time."""
    seconds = value.second + value.microsecond / 1e6
    floor = value.replace(second=0, microsecond=0)
    return floor + _dt.timedelta(minutes=1) if seconds >= 30 else floor


def _enable_image_deprecation(self: EC2Response) -> ActionResult:
    image_id = self._get_param("ImageId")
    deprecate_at = self._get_param("DeprecateAt")
    self.error_on_dryrun()
    if deprecate_at is None:
        raise EC2ClientError("MissingParameter", "The request must contain the parameter DeprecateAt")
    ami = own_image(self, image_id)
    at = as_utc(deprecate_at)
    now = utcnow()
    if at < now:
        raise InvalidParameterValue(f"The deprecation time {at.isoformat()}Z must be in the future.")
    if at > now + MAX_DEPRECATION_AHEAD:
        raise InvalidParameterValue(f"The deprecation time {at.isoformat()}Z must be within 10 years from now.")
    ami.deprecation_time = round_to_minute(at).strftime(DEPRECATION_TIME_FORMAT)  # type: ignore[attr-defined]
    return ActionResult({"Return": True})


def _disable_image_deprecation(self: EC2Response) -> ActionResult:
    image_id = self._get_param("ImageId")
    self.error_on_dryrun()
    ami = own_image(self, image_id)
    ami.deprecation_time = None  # type: ignore[attr-defined]
    return ActionResult({"Return": True})
