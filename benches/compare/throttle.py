"""AWS's request token buckets, as the throttling proxy (proxy.py --throttle) models them.

Pure model, no I/O: `Throttle.admit(key, params, now)` says whether a request may pass, with
the clock passed in, so tests can script a sequence of requests exactly. `throttled_reply`
renders the answer AWS gives when a bucket is empty, in the service's own protocol.

Sources (benches/compare/README.md, "Throttling", has the table and the choices):

* EC2: "Request throttling for the Amazon EC2 API",
  https://docs.aws.amazon.com/ec2/latest/devguide/ec2-api-throttling.html (the EC2 API
  reference's "Request throttling" page, https://docs.aws.amazon.com/AWSEC2/latest/APIReference/throttling.html).
  Each API action has its own bucket ("each API is evaluated individually"), sized by its
  category, or by its own line in the "Uncategorized actions" table. One request takes one token;
  the bucket refills at its rate up to its capacity, and refill tokens can be used as they arrive.
* SSM Parameter Store: the documented default throughput, 40 transactions a second shared by
  GetParameter, GetParameters and GetParametersByPath ("AWS Systems Manager endpoints and quotas").
* EC2 Auto Scaling: one bucket shared by all its API actions (AWS knowledge center, "Auto Scaling
  API calls throttled"); its size and rate are not published.
* CloudFormation, STS and the SSM actions outside Parameter Store's throughput quota: not
  published. The model gives them a small shared bucket (20 tokens, 2 a second): a conservative
  choice, well below what accounts see in practice, and far above what a sweep calls them.

The refill is continuous (`refill` tokens a second, spread evenly), which gives the documented
figures at one-second granularity: a full `DescribeHosts` bucket (100, 20 a second) answers 100
requests at once, then 20 in each later second.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

# EC2's API action categories (request token buckets), from the page above.
NON_MUTATING = (100.0, 20.0)
UNFILTERED_NON_MUTATING = (50.0, 10.0)
MUTATING = (50.0, 5.0)
RESOURCE_INTENSIVE = (50.0, 5.0)

# "Unfiltered and unpaginated non-mutating actions": these use the smaller bucket when called
# with neither a filter nor pagination.
UNFILTERED_ACTIONS = frozenset(
    {
        "DescribeInstances",
        "DescribeInstanceStatus",
        "DescribeNetworkInterfaces",
        "DescribeSecurityGroups",
        "DescribeSnapshots",
        "DescribeSpotInstanceRequests",
        "DescribeVolumes",
    }
)
RESOURCE_INTENSIVE_ACTIONS = frozenset(
    {
        "AcceptVpcPeeringConnection",
        "AuthorizeSecurityGroupIngress",
        "CancelSpotInstanceRequests",
        "CreateKeyPair",
        "CreateVpcPeeringConnection",
        "DeleteVpcPeeringConnection",
        "RejectVpcPeeringConnection",
        "RevokeSecurityGroupIngress",
        "RequestSpotInstances",
    }
)
# The "Uncategorized actions" the compared tools (and the benchmark's fill) can call: their own
# bucket maximum capacity and refill rate.
UNCATEGORIZED = {
    "CopyImage": (100.0, 1.0),
    "CreateLaunchTemplateVersion": (100.0, 5.0),
    "CreateSnapshot": (100.0, 5.0),
    "CreateTags": (100.0, 10.0),
    "DeleteSnapshot": (100.0, 5.0),
    "DeleteTags": (100.0, 10.0),
    "DeleteVolume": (100.0, 5.0),
    "DeregisterImage": (100.0, 5.0),
    "ModifyImageAttribute": (100.0, 5.0),
    "ModifyLaunchTemplate": (100.0, 5.0),
    "ModifySnapshotAttribute": (100.0, 5.0),
    "RunInstances": (5.0, 2.0),
    "StartInstances": (5.0, 2.0),
    "TerminateInstances": (100.0, 5.0),
}
NON_MUTATING_PREFIXES = ("Describe", "List", "Search", "Get")

# Parameter Store's default throughput, shared by these three actions.
SSM_THROUGHPUT = (40.0, 40.0)
SSM_THROUGHPUT_ACTIONS = frozenset({"GetParameter", "GetParameters", "GetParametersByPath"})
# Not published (see the module's doc): conservative.
UNPUBLISHED = (20.0, 2.0)


@dataclass(frozen=True)
class Limit:
    """One bucket: which requests share it, its maximum capacity and its refill (tokens/s)."""

    bucket: str
    capacity: float
    refill: float
    documented: bool


def ec2_limit(action: str, params: dict[str, str]) -> Limit:
    """EC2's bucket for `action` called with the (query) parameters `params`."""
    if action in UNCATEGORIZED:
        return Limit(f"ec2:{action}", *UNCATEGORIZED[action], True)
    if action in RESOURCE_INTENSIVE_ACTIONS:
        return Limit(f"ec2:{action}", *RESOURCE_INTENSIVE, True)
    if action.startswith(NON_MUTATING_PREFIXES):
        if action in UNFILTERED_ACTIONS and not filtered_or_paginated(params):
            return Limit(f"ec2:{action} (unfiltered)", *UNFILTERED_NON_MUTATING, True)
        return Limit(f"ec2:{action}", *NON_MUTATING, True)
    return Limit(f"ec2:{action}", *MUTATING, True)


def filtered_or_paginated(params: dict[str, str]) -> bool:
    """Whether an EC2 query request names a filter (`Filter.N.Name`) or paginates."""
    return any(k.startswith("Filter.") or k in ("MaxResults", "NextToken") for k in params)


def limit_of(service: str, action: str, params: dict[str, str]) -> Limit:
    """The bucket a request takes its token from."""
    if service == "ec2":
        return ec2_limit(action, params)
    if service == "ssm" and action in SSM_THROUGHPUT_ACTIONS:
        return Limit("ssm:parameter-throughput", *SSM_THROUGHPUT, True)
    if service == "autoscaling":
        return Limit("autoscaling:*", *UNPUBLISHED, False)
    return Limit(f"{service}:*", *UNPUBLISHED, False)


@dataclass
class Bucket:
    """A token bucket: starts full, refills continuously, one token a request."""

    capacity: float
    refill: float
    tokens: float
    last: float

    def take(self, now: float) -> bool:
        elapsed = max(0.0, now - self.last)
        self.tokens = min(self.capacity, self.tokens + elapsed * self.refill)
        self.last = max(self.last, now)
        # A hair of slack: refill times summed in floating point must not miss a whole token.
        if self.tokens >= 1.0 - 1e-9:
            self.tokens = max(0.0, self.tokens - 1.0)
            return True
        return False


@dataclass
class Throttle:
    """Every bucket of one account and region. `scale` multiplies every refill rate (not the
    capacities): the same run, `scale` times faster, with the same bursts."""

    scale: float = 1.0
    buckets: dict[str, Bucket] = field(default_factory=dict)

    def limit(self, service: str, action: str, params: dict[str, str]) -> Limit:
        limit = limit_of(service, action, params)
        return Limit(limit.bucket, limit.capacity, limit.refill * self.scale, limit.documented)

    def admit(self, service: str, action: str, params: dict[str, str], now: float) -> tuple[bool, str]:
        """Takes a token for this request at time `now` (seconds); returns whether it passes
        and the name of its bucket."""
        limit = self.limit(service, action, params)
        bucket = self.buckets.get(limit.bucket)
        if bucket is None:
            bucket = self.buckets[limit.bucket] = Bucket(limit.capacity, limit.refill, limit.capacity, now)
        return bucket.take(now), limit.bucket


def floor_seconds(successes: dict[str, int], limits: dict[str, Limit]) -> tuple[float, str]:
    """The least time the requests counted in `successes` (bucket -> requests answered) can
    take through their buckets, each starting full: a bucket's n requests need
    (n - capacity) / refill seconds past the burst, and buckets refill side by side, so the
    floor is the largest of these. Returns it and the bucket that sets it."""
    best, which = 0.0, ""
    for bucket, n in successes.items():
        limit = limits[bucket]
        need = max(0.0, (n - limit.capacity) / limit.refill)
        if need > best:
            best, which = need, bucket
    return best, which


# --------------------------------------------------------------------------------------------
# What AWS answers when a bucket is empty, per protocol.

QUERY_NAMESPACES = {
    "autoscaling": "http://autoscaling.amazonaws.com/doc/2011-01-01/",
    "cloudformation": "http://cloudformation.amazonaws.com/doc/2010-05-15/",
    "sts": "https://sts.amazonaws.com/doc/2011-06-15/",
}


def throttled_reply(service: str, request_id: str | None = None) -> tuple[int, dict[str, str], bytes]:
    """(status, headers, body) of a throttled answer of `service`:

    * EC2 (the `ec2` query protocol): HTTP 503, `<Response><Errors><Error>` with code
      `RequestLimitExceeded`, and the request id in `<RequestID>`;
    * Auto Scaling, CloudFormation, STS (`awsQuery`): HTTP 400, `<ErrorResponse>` with
      `<Type>Sender</Type>`, code `Throttling`, message `Rate exceeded`, and `<RequestId>`;
    * SSM (`awsJson1_1`): HTTP 400, `{"__type": "ThrottlingException", "message": "Rate exceeded"}`
      with the request id in the `x-amzn-RequestId` header.
    """
    rid = request_id or str(uuid.uuid4())
    if service == "ec2":
        body = (
            '<?xml version="1.0" encoding="UTF-8"?>\n'
            "<Response><Errors><Error><Code>RequestLimitExceeded</Code>"
            "<Message>Request limit exceeded.</Message></Error></Errors>"
            f"<RequestID>{rid}</RequestID></Response>"
        )
        return 503, {"Content-Type": "text/xml;charset=UTF-8"}, body.encode()
    if service == "ssm":
        body = '{"__type":"ThrottlingException","message":"Rate exceeded"}'
        return 400, {"Content-Type": "application/x-amz-json-1.1", "x-amzn-RequestId": rid}, body.encode()
    namespace = QUERY_NAMESPACES.get(service, f"http://{service}.amazonaws.com/doc/")
    body = (
        f'<ErrorResponse xmlns="{namespace}"><Error><Type>Sender</Type><Code>Throttling</Code>'
        f"<Message>Rate exceeded</Message></Error><RequestId>{rid}</RequestId></ErrorResponse>"
    )
    return 400, {"Content-Type": "text/xml", "x-amzn-RequestId": rid}, body.encode()
