"""The error codes the AWS API references document for an operation.

EC2's reference gives no per-operation errors: each operation's "Errors" section points to
"Error codes for the Amazon EC2 API"
(https://docs.aws.amazon.com/AWSEC2/latest/APIReference/errors-overview.html), whose "Common
client error codes" any operation may answer, and whose "Client error codes for specific
actions" list the rest (of those, only the codes the patches give are kept here, so that a new
code needs a look at that page). The other services' references list each operation's errors
(botocore's model has them as the operation's error shapes) plus the "Common Errors" of every
AWS API (e.g. https://docs.aws.amazon.com/autoscaling/ec2/APIReference/CommonErrors.html).
"""

from __future__ import annotations

from .model import operation_model

EC2_COMMON_CLIENT_ERRORS = frozenset(
    {
        "AuthFailure",
        "Blocked",
        "DryRunOperation",
        "IdempotentParameterMismatch",
        "IncompleteSignature",
        "InvalidAction",
        "InvalidCharacter",
        "InvalidClientTokenId",
        "InvalidPaginationToken",
        "InvalidParameter",
        "InvalidParameterCombination",
        "InvalidParameterValue",
        "InvalidQueryParameter",
        "MalformedQueryString",
        "MissingAction",
        "MissingAuthenticationToken",
        "MissingParameter",
        "OptInRequired",
        "PendingVerification",
        "RequestExpired",
        "UnauthorizedOperation",
        "UnknownParameter",
        "UnsupportedInstanceAttribute",
        "UnsupportedOperation",
        "UnsupportedProtocol",
        "ValidationError",
    }
)
# "Client error codes for specific actions": the ones the patches give.
EC2_SPECIFIC_ACTION_ERRORS = frozenset(
    {
        "InvalidAMIID.NotFound",  # the specified AMI does not exist
        "InvalidAMIID.Unavailable",  # the AMI has been deregistered
        "InvalidRequest",  # the request is not valid (CopyImage of unreadable storage)
        "OperationNotPermitted",  # the operation is not allowed (e.g. termination protection)
    }
)
COMMON_ERRORS = frozenset(
    {
        "AccessDeniedException",
        "IncompleteSignature",
        "InternalFailure",
        "InvalidAction",
        "InvalidClientTokenId",
        "NotAuthorized",
        "OptInRequired",
        "RequestExpired",
        "ServiceUnavailable",
        "ThrottlingException",
        "ValidationError",
    }
)
# Codes a patch gives that the reference does not list for the operation, and why.
UNDOCUMENTED = {
    "AccessDenied": (
        "what query-protocol services (Auto Scaling, CloudFormation) answer a role denied the "
        "action; their Common Errors page says AccessDeniedException"
    ),
    "UnknownOperationException": (
        "what an endpoint without the service (or the operation) answers; it is no error of "
        "the operation itself"
    ),
}


def documented_errors(service: str, operation: str) -> frozenset[str]:
    """The error codes AWS documents for `operation` of `service`."""
    if service == "ec2":
        return EC2_COMMON_CLIENT_ERRORS | EC2_SPECIFIC_ACTION_ERRORS
    shapes = operation_model(service, operation).error_shapes
    return COMMON_ERRORS | {shape.error_code for shape in shapes}
