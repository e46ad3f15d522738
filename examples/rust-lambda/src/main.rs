//! The Lambda entry point: builds the [`Function`] once per container, then serves invocations.
//! `cargo lambda build --release --arm64 -p amikeeper-lambda` makes its `bootstrap` (README.md).

use std::sync::Arc;

use amikeeper::Deadline;
use amikeeper_lambda::{Function, Settings};
use lambda_runtime::{service_fn, LambdaEvent};
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    // Logs go to CloudWatch through stderr, without colours or timestamps (CloudWatch adds its
    // own); RUST_LOG overrides the level.
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .without_time()
        .with_target(false)
        .init();

    // A bad setting or configuration fails the init phase, so the first invocation says why.
    let settings = Settings::from_env()?;
    let config = settings.load_config()?;
    // The default credential chain and the function's region (AWS_REGION); every call still
    // goes to the region of its event or fleet target.
    let aws = amikeeper_aws::SdkAws::builder().load().await;
    let function = Arc::new(Function::new(config, Arc::new(aws), settings));

    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| {
        let function = function.clone();
        // The invocation's end, less what returning the report takes (`LAMBDA_REPORT_MARGIN`).
        let deadline = Deadline::lambda_at_epoch_millis(event.context.deadline);
        async move { function.invoke_before(event.payload, Some(deadline)).await }
    }))
    .await
}
