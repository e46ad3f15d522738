//! SDK errors to [`AwsError`]: one generic mapping for every operation of every service.
//!
//! Each [`AwsError`] keeps the service (`ec2`, `ssm`, `autoscaling`, `cloudformation`, `rbin`), the
//! operation (`DescribeImages`, ...), AWS's error code and message, and an [`AwsErrorKind`]:
//!
//! | SDK error | kind |
//! | --- | --- |
//! | service error with a throttling code ([`THROTTLING_CODES`]) or HTTP 429 | [`Throttling`](AwsErrorKind::Throttling) |
//! | service error with a server-fault code ([`SERVER_CODES`]) or HTTP 5xx | [`Server`](AwsErrorKind::Server) |
//! | service error with a timeout code (`RequestTimeout`, `RequestTimeoutException`) | [`Timeout`](AwsErrorKind::Timeout) |
//! | service error with a not-found code (see [`is_not_found_code`]), or a CloudFormation / Auto Scaling `ValidationError` saying the resource does not exist | [`NotFound`](AwsErrorKind::NotFound) |
//! | any other service error | [`Client`](AwsErrorKind::Client) |
//! | `TimeoutError` (the attempt or operation timeout ran out) | [`Timeout`](AwsErrorKind::Timeout) |
//! | `DispatchFailure` from a timeout or an I/O error (connect refused, reset, DNS) | [`Timeout`](AwsErrorKind::Timeout) |
//! | `DispatchFailure` from a bad request (e.g. an invalid endpoint URL) or from loading credentials | [`Client`](AwsErrorKind::Client) |
//! | `ResponseError` (a response that could not be read) | [`Server`](AwsErrorKind::Server) on 5xx, else [`Client`](AwsErrorKind::Client) |
//! | `ConstructionFailure` (the request could not be built) | [`Client`](AwsErrorKind::Client) |
//!
//! Errors that are not service errors carry the SDK variant's name as their code
//! (`TimeoutError`, `DispatchFailure`, `ResponseError`, `ConstructionFailure`) and the whole
//! chain of causes as their message. A service error whose body is no AWS error document (an
//! HTML page from a proxy, an emulator's crash) has the code `Unknown` and a one-line message
//! with the HTTP status, why the body could not be read, and the body's first 200 characters.

use std::error::Error as StdError;

use amikeeper::backend::AwsResult;
use amikeeper::{AwsError, AwsErrorKind};
use aws_smithy_async::future::pagination_stream::PaginationStream;
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::display::DisplayErrorContext;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use aws_smithy_types::retry::ErrorKind as RetryErrorKind;

/// Error codes AWS uses for throttling, across the services amikeeper calls.
///
/// SSM's `TooManyUpdates` (concurrent writes of one parameter) is here too: it clears by
/// itself, like throttling. `LimitExceededException` is not: CloudFormation uses it for quotas.
pub const THROTTLING_CODES: &[&str] = &[
    "Throttling",
    "ThrottlingException",
    "ThrottledException",
    "RequestThrottledException",
    "TooManyRequestsException",
    "RequestThrottled",
    "RequestLimitExceeded",
    "BandwidthLimitExceeded",
    "EC2ThrottledException",
    "ProvisionedThroughputExceededException",
    "PriorRequestNotComplete",
    "SlowDown",
    "TooManyUpdates",
];

/// Error codes AWS uses for its own failures.
pub const SERVER_CODES: &[&str] = &[
    "InternalError",
    "InternalFailure",
    "InternalServerError",
    "InternalServerErrorException",
    "InternalServerException",
    "InternalServiceError",
    "InternalServiceErrorException",
    "ServiceUnavailable",
    "ServiceUnavailableException",
    "Unavailable",
];

/// Error codes AWS uses when the request timed out on its side.
pub const TIMEOUT_CODES: &[&str] = &["RequestTimeout", "RequestTimeoutException"];

/// Whether `code` says the resource does not exist.
///
/// EC2 spells these `InvalidAMIID.NotFound`, `InvalidLaunchTemplateId.NotFound`,
/// `InvalidLaunchTemplateName.NotFoundException`, `InvalidLaunchTemplateId.VersionNotFound`;
/// SSM `ParameterNotFound`, `ParameterVersionNotFound`; others `ResourceNotFoundException`.
/// Every code ending in `NotFound` or `NotFoundException` counts.
pub fn is_not_found_code(code: &str) -> bool {
    code.ends_with("NotFound") || code.ends_with("NotFoundException")
}

/// The kind of a service error, from its code, its message and its HTTP status.
///
/// `service` is needed because CloudFormation and Auto Scaling report a missing resource as a
/// `ValidationError` whose message says so (`Stack with id x does not exist`,
/// `AutoScalingGroup name not found`).
pub fn classify(service: &str, code: &str, message: &str, status: Option<u16>) -> AwsErrorKind {
    if THROTTLING_CODES.contains(&code) || status == Some(429) {
        AwsErrorKind::Throttling
    } else if TIMEOUT_CODES.contains(&code) {
        AwsErrorKind::Timeout
    } else if SERVER_CODES.contains(&code) || status.is_some_and(|s| s >= 500) {
        AwsErrorKind::Server
    } else if is_not_found_code(code) || is_validation_not_found(service, code, message) {
        AwsErrorKind::NotFound
    } else {
        AwsErrorKind::Client
    }
}

fn is_validation_not_found(service: &str, code: &str, message: &str) -> bool {
    code == "ValidationError"
        && match service {
            "cloudformation" => message.contains("does not exist"),
            "autoscaling" => message.contains("not found"),
            _ => false,
        }
}

/// For `map_err`: [`from_sdk_error`] for `operation` of `service`.
pub(crate) fn sdk_error<E>(
    service: &'static str,
    operation: &'static str,
) -> impl FnOnce(SdkError<E, HttpResponse>) -> AwsError
where
    E: ProvideErrorMetadata + StdError + Send + Sync + 'static,
{
    move |error| from_sdk_error(service, operation, error)
}

/// Every item of a paginated listing (an SDK paginator's `items().send()`, or its `send()`
/// for whole pages), read to the end. The first error fails the listing, mapped by
/// [`from_sdk_error`] for `operation` of `service`.
pub(crate) async fn read_all<T, E>(
    service: &'static str,
    operation: &'static str,
    listing: PaginationStream<Result<T, SdkError<E, HttpResponse>>>,
) -> AwsResult<Vec<T>>
where
    E: ProvideErrorMetadata + StdError + Send + Sync + 'static,
{
    listing.try_collect().await.map_err(sdk_error(service, operation))
}

/// Maps any SDK error of any operation to an [`AwsError`].
///
/// `service` is the short service name (`ec2`, `ssm`, `autoscaling`, `cloudformation`, `rbin`) and
/// `operation` the API operation (`DescribeImages`); see the [module docs](self) for the kinds.
pub fn from_sdk_error<E>(service: &str, operation: &str, error: SdkError<E, HttpResponse>) -> AwsError
where
    E: ProvideErrorMetadata + StdError + Send + Sync + 'static,
{
    let status = error.raw_response().map(|raw| raw.status().as_u16());
    let context = DisplayErrorContext(&error).to_string();
    let (kind, code, message) = match &error {
        SdkError::ServiceError(service_error) => {
            let err = service_error.err();
            let code = err.code().unwrap_or("Unknown").to_owned();
            let message = match err.message() {
                Some(message) => message.to_owned(),
                None => unreadable_error_message(err, service_error.raw()),
            };
            (classify(service, &code, &message, status), code, message)
        }
        SdkError::TimeoutError(_) => (AwsErrorKind::Timeout, "TimeoutError".to_owned(), context),
        SdkError::DispatchFailure(failure) => {
            let kind = if failure.is_timeout() || failure.is_io() {
                AwsErrorKind::Timeout
            } else {
                match failure.as_other() {
                    Some(RetryErrorKind::TransientError) => AwsErrorKind::Timeout,
                    Some(RetryErrorKind::ThrottlingError) => AwsErrorKind::Throttling,
                    Some(RetryErrorKind::ServerError) => AwsErrorKind::Server,
                    // User errors (bad endpoint URL) and failures before sending with no kind
                    // (no credentials, signing) will not be fixed by a retry.
                    _ => AwsErrorKind::Client,
                }
            };
            (kind, "DispatchFailure".to_owned(), context)
        }
        SdkError::ResponseError(_) => {
            let kind = if status.is_some_and(|s| s >= 500) { AwsErrorKind::Server } else { AwsErrorKind::Client };
            (kind, "ResponseError".to_owned(), context)
        }
        SdkError::ConstructionFailure(_) => (AwsErrorKind::Client, "ConstructionFailure".to_owned(), context),
        // `SdkError` is non-exhaustive.
        _ => (AwsErrorKind::Client, "Unknown".to_owned(), context),
    };
    // The SDK retried a temporary error as its retry configuration says (`SdkAwsBuilder`) before
    // answering it: amikeeper's own retry layer does not try it again on top.
    AwsError::new(service, operation, kind, code, message).out_of_retries()
}

/// How many characters of an unreadable error response's body a message quotes.
const BODY_EXCERPT_CHARS: usize = 200;

/// The message of a service error without one (its body was not an AWS error document, e.g.
/// an HTML page from a proxy or an emulator's crash): the HTTP status, the parse error's
/// chain of causes, and the start of the body, on one line.
fn unreadable_error_message(error: &(dyn StdError + 'static), response: &HttpResponse) -> String {
    let mut causes = vec![error.to_string()];
    let mut source = error.source();
    while let Some(cause) = source {
        causes.push(cause.to_string());
        source = cause.source();
    }
    let mut message =
        format!("HTTP {} with no AWS error in the body ({})", response.status().as_u16(), causes.join(": "));
    let body = response.body().bytes().map(String::from_utf8_lossy).unwrap_or_default();
    let body = body.split_whitespace().collect::<Vec<_>>().join(" ");
    if !body.is_empty() {
        let excerpt: String = body.chars().take(BODY_EXCERPT_CHARS).collect();
        let ellipsis = if excerpt.len() < body.len() { "..." } else { "" };
        message.push_str(&format!(": {excerpt}{ellipsis}"));
    }
    message
}

/// An [`AwsError`] for a response that lacks something amikeeper needs (no image id, an
/// unreadable creation date): AWS answered, but not usably.
pub(crate) fn invalid_response(service: &str, operation: &str, message: impl Into<String>) -> AwsError {
    AwsError::new(service, operation, AwsErrorKind::Client, "InvalidResponse", message)
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_cloudformation::operation::update_stack::UpdateStackError;
    use aws_sdk_ec2::operation::describe_images::DescribeImagesError;
    use aws_sdk_ssm::operation::get_parameter::GetParameterError;
    use aws_smithy_runtime_api::client::result::ConnectorError;
    use aws_smithy_runtime_api::http::StatusCode;
    use aws_smithy_types::body::SdkBody;
    use aws_smithy_types::error::ErrorMetadata;

    fn response(status: u16) -> HttpResponse {
        HttpResponse::new(StatusCode::try_from(status).unwrap(), SdkBody::empty())
    }

    fn ec2_error(status: u16, code: &str, message: &str) -> SdkError<DescribeImagesError, HttpResponse> {
        let meta = ErrorMetadata::builder().code(code).message(message).build();
        SdkError::service_error(DescribeImagesError::generic(meta), response(status))
    }

    fn map(error: SdkError<DescribeImagesError, HttpResponse>) -> AwsError {
        from_sdk_error("ec2", "DescribeImages", error)
    }

    #[test]
    fn service_error_keeps_service_operation_code_and_message() {
        let error = map(ec2_error(400, "InvalidAMIID.NotFound", "The image id '[ami-1]' does not exist"));
        assert_eq!(error.service, "ec2");
        assert_eq!(error.operation, "DescribeImages");
        assert_eq!(error.code, "InvalidAMIID.NotFound");
        assert_eq!(error.message, "The image id '[ami-1]' does not exist");
        assert_eq!(error.kind, AwsErrorKind::NotFound);
    }

    #[test]
    fn throttling_codes_are_throttling() {
        for code in [
            "Throttling",
            "ThrottlingException",
            "RequestLimitExceeded",
            "TooManyRequestsException",
            "RequestThrottled",
        ] {
            let error = map(ec2_error(400, code, "slow down"));
            assert_eq!(error.kind, AwsErrorKind::Throttling, "{code}");
            assert!(error.is_retryable());
        }
        // Throttling by status alone.
        assert_eq!(map(ec2_error(429, "Whatever", "")).kind, AwsErrorKind::Throttling);
        // Throttling wins over a 503 status (EC2 sends RequestLimitExceeded with 503).
        assert_eq!(map(ec2_error(503, "RequestLimitExceeded", "")).kind, AwsErrorKind::Throttling);
    }

    #[test]
    fn server_codes_and_5xx_are_server() {
        for code in ["InternalError", "InternalFailure", "ServiceUnavailable"] {
            assert_eq!(map(ec2_error(400, code, "")).kind, AwsErrorKind::Server, "{code}");
        }
        assert_eq!(map(ec2_error(500, "Odd", "")).kind, AwsErrorKind::Server);
        assert_eq!(map(ec2_error(502, "Odd", "")).kind, AwsErrorKind::Server);
    }

    #[test]
    fn other_service_errors_are_client() {
        let error = map(ec2_error(403, "UnauthorizedOperation", "You are not authorized"));
        assert_eq!(error.kind, AwsErrorKind::Client);
        assert!(!error.is_retryable());
        assert_eq!(map(ec2_error(400, "InvalidAMIID.Malformed", "")).kind, AwsErrorKind::Client);
        assert_eq!(map(ec2_error(400, "RequestTimeout", "")).kind, AwsErrorKind::Timeout);
    }

    #[test]
    fn unsupported_apis_are_client_errors() {
        // What an endpoint without the API answers: a retry will not help.
        for (status, code) in [
            (400, "InvalidAction"),
            (400, "UnsupportedOperation"),
            (400, "UnknownOperationException"),
            (404, "UnknownOperationException"),
        ] {
            let error = map(ec2_error(status, code, "not valid for this web service"));
            assert_eq!(error.kind, AwsErrorKind::Client, "{code}");
            assert!(!error.is_retryable(), "{code}");
        }
    }

    #[test]
    fn missing_code_is_unknown_and_message_falls_back_to_the_error() {
        let error =
            map(SdkError::service_error(DescribeImagesError::generic(ErrorMetadata::builder().build()), response(400)));
        assert_eq!(error.code, "Unknown");
        assert_eq!(error.kind, AwsErrorKind::Client);
        assert!(error.message.starts_with("HTTP 400 with no AWS error in the body"), "{}", error.message);
    }

    #[test]
    fn an_unreadable_error_body_is_quoted_briefly() {
        let page = format!("<!doctype html>\n<title>500 Internal Server Error</title>\n{}", "x".repeat(500));
        let raw = HttpResponse::new(StatusCode::try_from(500).unwrap(), SdkBody::from(page));
        let error = map(SdkError::service_error(
            DescribeImagesError::unhandled(std::io::Error::other("error parsing XML: no root element")),
            raw,
        ));
        assert_eq!((error.code.as_str(), error.kind), ("Unknown", AwsErrorKind::Server));
        assert!(
            error.message.starts_with(
                "HTTP 500 with no AWS error in the body (unhandled error: error parsing XML: no root element): \
                 <!doctype html> <title>500 Internal Server Error</title> xxx"
            ),
            "{}",
            error.message
        );
        assert!(error.message.ends_with("x..."), "{}", error.message);
        assert!(error.message.len() < 400, "{}", error.message);
    }

    #[test]
    fn not_found_codes_of_every_service() {
        for code in [
            "InvalidAMIID.NotFound",
            "InvalidLaunchTemplateId.NotFound",
            "InvalidLaunchTemplateName.NotFoundException",
            "InvalidLaunchTemplateId.VersionNotFound",
            "ParameterNotFound",
            "ResourceNotFoundException",
        ] {
            assert!(is_not_found_code(code), "{code}");
        }
        assert!(!is_not_found_code("InvalidAMIID.Malformed"));

        let ssm = from_sdk_error(
            "ssm",
            "GetParameter",
            SdkError::service_error(
                GetParameterError::generic(ErrorMetadata::builder().code("ParameterNotFound").build()),
                response(400),
            ),
        );
        assert_eq!((ssm.service.as_str(), ssm.kind), ("ssm", AwsErrorKind::NotFound));
    }

    #[test]
    fn cloudformation_validation_errors() {
        let cfn = |message: &str| {
            from_sdk_error(
                "cloudformation",
                "UpdateStack",
                SdkError::service_error(
                    UpdateStackError::generic(
                        ErrorMetadata::builder().code("ValidationError").message(message).build(),
                    ),
                    response(400),
                ),
            )
        };
        assert_eq!(cfn("Stack with id web does not exist").kind, AwsErrorKind::NotFound);
        let no_updates = cfn("No updates are to be performed.");
        assert_eq!(no_updates.kind, AwsErrorKind::Client);
        assert_eq!(no_updates.code, "ValidationError");
        // The same message from another service is not a not-found.
        assert_eq!(classify("ec2", "ValidationError", "does not exist", Some(400)), AwsErrorKind::Client);
        assert_eq!(
            classify("autoscaling", "ValidationError", "AutoScalingGroup name not found - web", Some(400)),
            AwsErrorKind::NotFound
        );
    }

    #[test]
    fn timeouts_and_dispatch_failures() {
        let timeout = map(SdkError::timeout_error("operation timed out after 60s"));
        assert_eq!((timeout.kind, timeout.code.as_str()), (AwsErrorKind::Timeout, "TimeoutError"));
        assert!(timeout.message.contains("60s"));

        let io = map(SdkError::dispatch_failure(ConnectorError::io("connection refused".into())));
        assert_eq!((io.kind, io.code.as_str()), (AwsErrorKind::Timeout, "DispatchFailure"));
        assert!(io.message.contains("connection refused"), "{}", io.message);

        let connect = map(SdkError::dispatch_failure(ConnectorError::timeout("connect timeout".into())));
        assert_eq!(connect.kind, AwsErrorKind::Timeout);

        let user = map(SdkError::dispatch_failure(ConnectorError::user("invalid URL".into())));
        assert_eq!(user.kind, AwsErrorKind::Client);

        let credentials =
            map(SdkError::dispatch_failure(ConnectorError::other("no credentials in the chain".into(), None)));
        assert_eq!(credentials.kind, AwsErrorKind::Client);
        assert!(credentials.message.contains("no credentials"));

        let transient = map(SdkError::dispatch_failure(ConnectorError::other(
            "reset".into(),
            Some(RetryErrorKind::TransientError),
        )));
        assert_eq!(transient.kind, AwsErrorKind::Timeout);
    }

    #[test]
    fn response_and_construction_failures() {
        let garbled = map(SdkError::response_error("bad XML", response(502)));
        assert_eq!((garbled.kind, garbled.code.as_str()), (AwsErrorKind::Server, "ResponseError"));
        let garbled = map(SdkError::response_error("bad XML", response(200)));
        assert_eq!(garbled.kind, AwsErrorKind::Client);

        let construction = map(SdkError::construction_failure("missing field"));
        assert_eq!((construction.kind, construction.code.as_str()), (AwsErrorKind::Client, "ConstructionFailure"));
    }
}
