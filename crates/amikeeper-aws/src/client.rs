//! [`SdkAws`], its builder, and the cache of one SDK client per (service, region).

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use amikeeper::model::Region;
use amikeeper::{AwsError, AwsErrorKind};
use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, ConfigLoader, SdkConfig};

use crate::retries::ConfiguredRetries;
pub use crate::retries::{ParseRetryModeError, RetryMode};

/// How many times a call is tried in all, by default: the first try and four retries.
pub const DEFAULT_MAX_ATTEMPTS: u32 = 5;
/// How long to wait for a TCP + TLS connection, by default.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
/// How long one attempt of a call may take, by default.
pub const DEFAULT_OPERATION_ATTEMPT_TIMEOUT: Duration = Duration::from_secs(20);
/// How long a call may take in all, retries and their back-off included, by default.
pub const DEFAULT_OPERATION_TIMEOUT: Duration = Duration::from_secs(60);
/// How long one attempt of a sweep's call may take ([`SdkAws::for_sweeps`]): listing thousands
/// of images or snapshots takes far longer than an event's calls.
pub const SWEEP_OPERATION_ATTEMPT_TIMEOUT: Duration = Duration::from_secs(120);
/// How long a sweep's call may take in all, retries included ([`SdkAws::for_sweeps`]).
pub const SWEEP_OPERATION_TIMEOUT: Duration = Duration::from_secs(600);

type Customize = Box<dyn FnOnce(ConfigLoader) -> ConfigLoader + Send>;

/// Builds an [`SdkAws`]; made by [`SdkAws::builder`].
///
/// Every setting is optional; see the [crate docs](crate) for what each default is and why.
pub struct SdkAwsBuilder {
    region: Option<String>,
    profile: Option<String>,
    endpoint_url: Option<String>,
    retry_mode: Option<RetryMode>,
    max_attempts: Option<u32>,
    connect_timeout: Duration,
    operation_attempt_timeout: Duration,
    operation_timeout: Duration,
    customize: Option<Customize>,
}

impl Default for SdkAwsBuilder {
    fn default() -> Self {
        Self {
            region: None,
            profile: None,
            endpoint_url: None,
            retry_mode: None,
            max_attempts: None,
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            operation_attempt_timeout: DEFAULT_OPERATION_ATTEMPT_TIMEOUT,
            operation_timeout: DEFAULT_OPERATION_TIMEOUT,
            customize: None,
        }
    }
}

impl fmt::Debug for SdkAwsBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SdkAwsBuilder")
            .field("region", &self.region)
            .field("profile", &self.profile)
            .field("endpoint_url", &self.endpoint_url)
            .field("retry_mode", &self.retry_mode)
            .field("max_attempts", &self.max_attempts)
            .field("connect_timeout", &self.connect_timeout)
            .field("operation_attempt_timeout", &self.operation_attempt_timeout)
            .field("operation_timeout", &self.operation_timeout)
            .field("customize", &self.customize.is_some())
            .finish()
    }
}

impl SdkAwsBuilder {
    /// The region for calls whose region is empty (normally every call names its region, from
    /// the event). `None`: the SDK's region chain (`AWS_REGION`, `AWS_DEFAULT_REGION`, the
    /// profile's `region`, instance metadata).
    pub fn region(mut self, region: Option<String>) -> Self {
        self.region = region;
        self
    }

    /// The shared config/credentials profile to use. `None`: `AWS_PROFILE`, else `default`.
    pub fn profile(mut self, profile: Option<String>) -> Self {
        self.profile = profile;
        self
    }

    /// Send every call of every service to this URL (LocalStack, moto, a VPC endpoint).
    ///
    /// It wins over `AWS_ENDPOINT_URL`, `AWS_ENDPOINT_URL_<SERVICE>` and the profile's
    /// `endpoint_url`. `None`: those, else the service's regional endpoint.
    pub fn endpoint_url(mut self, endpoint_url: Option<String>) -> Self {
        self.endpoint_url = endpoint_url;
        self
    }

    /// The retry strategy. It wins over `AWS_RETRY_MODE` and the profile's `retry_mode`; with
    /// none of the three, [`RetryMode::Standard`].
    pub fn retry_mode(mut self, mode: RetryMode) -> Self {
        self.retry_mode = Some(mode);
        self
    }

    /// How many times a call is tried in all, the first try included (0 counts as 1). It wins
    /// over `AWS_MAX_ATTEMPTS` and the profile's `max_attempts`; with none of the three,
    /// [`DEFAULT_MAX_ATTEMPTS`].
    pub fn max_attempts(mut self, max_attempts: u32) -> Self {
        self.max_attempts = Some(max_attempts);
        self
    }

    /// How long to wait for a connection ([`DEFAULT_CONNECT_TIMEOUT`] by default).
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// How long one attempt may take ([`DEFAULT_OPERATION_ATTEMPT_TIMEOUT`] by default).
    pub fn operation_attempt_timeout(mut self, timeout: Duration) -> Self {
        self.operation_attempt_timeout = timeout;
        self
    }

    /// How long a call may take in all, retries included ([`DEFAULT_OPERATION_TIMEOUT`] by
    /// default).
    pub fn operation_timeout(mut self, timeout: Duration) -> Self {
        self.operation_timeout = timeout;
        self
    }

    /// Gives the last word on the `aws-config` loader, after every other setting: to set an
    /// HTTP client, a credentials provider, an app name... Tests use it to stub HTTP.
    pub fn customize(mut self, customize: impl FnOnce(ConfigLoader) -> ConfigLoader + Send + 'static) -> Self {
        self.customize = Some(Box::new(customize));
        self
    }

    /// The retry configuration these settings give, the environment and profile aside (what
    /// [`load`](Self::load) uses when neither says anything about retries).
    pub fn retry_config(&self) -> RetryConfig {
        self.retries(&ConfiguredRetries::default()).0
    }

    /// The retry configuration: each setting from this builder, else from `configured` (the
    /// environment, then the profile), else amikeeper's default; and the mode and attempts it
    /// gives, for the log.
    fn retries(&self, configured: &ConfiguredRetries) -> (RetryConfig, RetryMode, u32) {
        let mode = self.retry_mode.or(configured.retry_mode).unwrap_or_default();
        let attempts = self.max_attempts.or(configured.max_attempts).unwrap_or(DEFAULT_MAX_ATTEMPTS).max(1);
        let config = match mode {
            RetryMode::Standard => RetryConfig::standard(),
            RetryMode::Adaptive => RetryConfig::adaptive(),
        };
        (config.with_max_attempts(attempts), mode, attempts)
    }

    /// The timeout configuration these settings give.
    pub fn timeout_config(&self) -> TimeoutConfig {
        TimeoutConfig::builder()
            .connect_timeout(self.connect_timeout)
            .operation_attempt_timeout(self.operation_attempt_timeout)
            .operation_timeout(self.operation_timeout)
            .build()
    }

    /// Loads the shared configuration (region, credentials chain, endpoint) once.
    ///
    /// Credentials are not fetched here but on the first call, and then cached and refreshed by
    /// the SDK; so this does not fail: a missing credential shows as an error of the first call.
    pub async fn load(self) -> SdkAws {
        let configured = ConfiguredRetries::read(self.profile.as_deref()).await;
        let (retry_config, retry_mode, max_attempts) = self.retries(&configured);
        let mut loader = aws_config::defaults(BehaviorVersion::latest())
            .retry_config(retry_config)
            .timeout_config(self.timeout_config());
        if let Some(profile) = &self.profile {
            loader = loader.profile_name(profile);
        }
        if let Some(region) = &self.region {
            loader = loader.region(aws_config::Region::new(region.clone()));
        }
        if let Some(endpoint_url) = &self.endpoint_url {
            loader = loader.endpoint_url(endpoint_url);
        }
        if let Some(customize) = self.customize {
            loader = customize(loader);
        }
        let config = loader.load().await;
        tracing::debug!(
            default_region = ?config.region().map(|r| r.as_ref()),
            endpoint_url = ?config.endpoint_url(),
            profile = ?self.profile,
            %retry_mode,
            max_attempts,
            "loaded AWS configuration"
        );
        SdkAws::from_sdk_config(config)
    }
}

/// Lazily made SDK clients of one service, one per region.
struct Clients<C> {
    by_region: Mutex<HashMap<String, C>>,
}

impl<C: Clone> Clients<C> {
    fn new() -> Self {
        Self { by_region: Mutex::new(HashMap::new()) }
    }

    /// The client of `region`, made by `make` on first use. SDK clients are an `Arc` inside:
    /// the clone shares the connection pool, credentials cache and retry state.
    fn get(&self, region: &str, make: impl FnOnce() -> C) -> C {
        let mut by_region = self.by_region.lock().unwrap_or_else(PoisonError::into_inner);
        by_region.entry(region.to_owned()).or_insert_with(make).clone()
    }

    fn regions(&self) -> Vec<String> {
        let by_region = self.by_region.lock().unwrap_or_else(PoisonError::into_inner);
        let mut regions: Vec<_> = by_region.keys().cloned().collect();
        regions.sort();
        regions
    }
}

struct Inner {
    config: SdkConfig,
    ec2: Clients<aws_sdk_ec2::Client>,
    ssm: Clients<aws_sdk_ssm::Client>,
    autoscaling: Clients<aws_sdk_autoscaling::Client>,
    cloudformation: Clients<aws_sdk_cloudformation::Client>,
    rbin: Clients<aws_sdk_rbin::Client>,
    imagebuilder: Clients<aws_sdk_imagebuilder::Client>,
    eventbridge: Clients<aws_sdk_eventbridge::Client>,
}

/// amikeeper's backend traits ([`Ec2Api`](amikeeper::backend::Ec2Api),
/// [`SsmApi`](amikeeper::backend::SsmApi), [`AutoScalingApi`](amikeeper::backend::AutoScalingApi),
/// [`CloudFormationApi`](amikeeper::backend::CloudFormationApi),
/// [`RecycleBinApi`](amikeeper::backend::RecycleBinApi),
/// [`ImageBuilderApi`](amikeeper::backend::ImageBuilderApi), [`StsApi`](amikeeper::backend::StsApi),
/// [`EventsApi`](amikeeper::backend::EventsApi)) over the AWS SDK for Rust.
///
/// Made by [`SdkAws::builder`] (or [`SdkAws::from_sdk_config`]). Each call goes to the region
/// it names, through one SDK client per (service, region), made on first use and kept. Cloning
/// is cheap and shares the clients.
#[derive(Clone)]
pub struct SdkAws {
    inner: Arc<Inner>,
}

impl fmt::Debug for SdkAws {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SdkAws")
            .field("default_region", &self.default_region())
            .field("endpoint_url", &self.inner.config.endpoint_url())
            .field("ec2_regions", &self.inner.ec2.regions())
            .field("ssm_regions", &self.inner.ssm.regions())
            .field("autoscaling_regions", &self.inner.autoscaling.regions())
            .field("cloudformation_regions", &self.inner.cloudformation.regions())
            .field("rbin_regions", &self.inner.rbin.regions())
            .finish()
    }
}

macro_rules! client_getter {
    ($(#[$doc:meta])* $name:ident, $krate:ident, $service:literal) => {
        $(#[$doc])*
        pub fn $name(&self, region: &Region) -> Result<$krate::Client, AwsError> {
            let region = self.region_name(region, $service)?;
            Ok(self.inner.$name.get(&region, || {
                let config = $krate::config::Builder::from(&self.inner.config)
                    .region($krate::config::Region::new(region.clone()))
                    .interceptor(crate::throttles::ReportThrottles);
                tracing::debug!(service = $service, %region, "made an SDK client");
                $krate::Client::from_conf(config.build())
            }))
        }
    };
}

impl SdkAws {
    /// A builder with the defaults described in the [crate docs](crate).
    pub fn builder() -> SdkAwsBuilder {
        SdkAwsBuilder::default()
    }

    /// An `SdkAws` over an already loaded configuration, used as it is (its retry, timeouts,
    /// credentials, endpoint and HTTP client); its region is the default region.
    pub fn from_sdk_config(config: SdkConfig) -> Self {
        Self {
            inner: Arc::new(Inner {
                config,
                ec2: Clients::new(),
                ssm: Clients::new(),
                autoscaling: Clients::new(),
                cloudformation: Clients::new(),
                rbin: Clients::new(),
                imagebuilder: Clients::new(),
                eventbridge: Clients::new(),
            }),
        }
    }

    /// The shared configuration every client is made from.
    pub fn sdk_config(&self) -> &SdkConfig {
        &self.inner.config
    }

    /// The same account, credentials and settings, set up for sweeps (for
    /// [`KeeperBuilder::sweep_backend`](amikeeper::KeeperBuilder::sweep_backend)): each call may
    /// take [`SWEEP_OPERATION_ATTEMPT_TIMEOUT`] per attempt and [`SWEEP_OPERATION_TIMEOUT`] in
    /// all, and stalled-stream protection is off (a sweep's thousands of small requests are
    /// bounded by the timeouts instead, for less CPU per request). Nothing is loaded again:
    /// its clients are made on first use from this configuration.
    pub fn for_sweeps(&self) -> SdkAws {
        use aws_config::stalled_stream_protection::StalledStreamProtectionConfig;
        let config = &self.inner.config;
        let timeouts = config.timeout_config().map(TimeoutConfig::to_builder).unwrap_or_default();
        let timeouts = timeouts
            .operation_attempt_timeout(SWEEP_OPERATION_ATTEMPT_TIMEOUT)
            .operation_timeout(SWEEP_OPERATION_TIMEOUT)
            .build();
        let config = config
            .to_builder()
            .timeout_config(timeouts)
            .stalled_stream_protection(StalledStreamProtectionConfig::disabled())
            .build();
        SdkAws::from_sdk_config(config)
    }

    /// The region used for calls whose region is empty, if any.
    pub fn default_region(&self) -> Option<&str> {
        self.inner.config.region().map(|region| region.as_ref())
    }

    /// The region a call goes to: its own, else the default.
    fn region_name(&self, region: &Region, service: &str) -> Result<String, AwsError> {
        let name = region.as_str().trim();
        if !name.is_empty() {
            return Ok(name.to_owned());
        }
        self.default_region().map(str::to_owned).ok_or_else(|| {
            AwsError::new(
                service,
                "ResolveRegion",
                AwsErrorKind::Client,
                "MissingRegion",
                "the call names no region and no default region is configured \
                 (set --region, AWS_REGION or the profile's region)",
            )
        })
    }

    client_getter!(
        /// The EC2 client of `region` (the default region if `region` is empty).
        ec2, aws_sdk_ec2, "ec2"
    );
    client_getter!(
        /// The SSM client of `region` (the default region if `region` is empty).
        ssm, aws_sdk_ssm, "ssm"
    );
    client_getter!(
        /// The Auto Scaling client of `region` (the default region if `region` is empty).
        autoscaling, aws_sdk_autoscaling, "autoscaling"
    );
    client_getter!(
        /// The CloudFormation client of `region` (the default region if `region` is empty).
        cloudformation, aws_sdk_cloudformation, "cloudformation"
    );
    client_getter!(
        /// The Recycle Bin client of `region` (the default region if `region` is empty).
        rbin, aws_sdk_rbin, "rbin"
    );
    client_getter!(
        /// The EC2 Image Builder client of `region` (the default region if `region` is empty).
        imagebuilder, aws_sdk_imagebuilder, "imagebuilder"
    );
    client_getter!(
        /// The EventBridge client of `region` (the default region if `region` is empty).
        eventbridge, aws_sdk_eventbridge, "events"
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_config::Region as SdkRegion;

    fn config(region: Option<&'static str>) -> SdkConfig {
        let mut builder = SdkConfig::builder().behavior_version(BehaviorVersion::latest());
        if let Some(region) = region {
            builder = builder.region(SdkRegion::new(region));
        }
        builder.build()
    }

    #[test]
    fn one_client_per_service_and_region_made_once() {
        let aws = SdkAws::from_sdk_config(config(Some("us-east-1")));
        let tokyo = Region::new("ap-northeast-1");
        let singapore = Region::new("ap-southeast-1");
        let a = aws.ec2(&tokyo).unwrap();
        let b = aws.ec2(&tokyo).unwrap();
        let c = aws.ec2(&singapore).unwrap();
        assert_eq!(a.config().region().unwrap().as_ref(), "ap-northeast-1");
        assert_eq!(b.config().region().unwrap().as_ref(), "ap-northeast-1");
        assert_eq!(c.config().region().unwrap().as_ref(), "ap-southeast-1");
        assert_eq!(aws.inner.ec2.regions(), ["ap-northeast-1", "ap-southeast-1"]);
        assert!(aws.inner.ssm.regions().is_empty());
        aws.ssm(&singapore).unwrap();
        aws.autoscaling(&singapore).unwrap();
        aws.cloudformation(&singapore).unwrap();
        aws.rbin(&singapore).unwrap();
        assert_eq!(aws.inner.ssm.regions(), ["ap-southeast-1"]);
        assert_eq!(aws.inner.autoscaling.regions(), ["ap-southeast-1"]);
        assert_eq!(aws.inner.cloudformation.regions(), ["ap-southeast-1"]);
        assert_eq!(aws.inner.rbin.regions(), ["ap-southeast-1"]);
    }

    #[test]
    fn empty_region_uses_the_default() {
        let aws = SdkAws::from_sdk_config(config(Some("eu-west-1")));
        let client = aws.ssm(&Region::new("")).unwrap();
        assert_eq!(client.config().region().unwrap().as_ref(), "eu-west-1");
        assert_eq!(aws.default_region(), Some("eu-west-1"));
    }

    #[test]
    fn empty_region_without_default_is_an_error() {
        let aws = SdkAws::from_sdk_config(config(None));
        let error = aws.cloudformation(&Region::new("")).unwrap_err();
        assert_eq!(error.service, "cloudformation");
        assert_eq!(error.code, "MissingRegion");
        assert_eq!(error.kind, AwsErrorKind::Client);
        // A named region needs no default.
        assert!(aws.cloudformation(&Region::new("us-west-2")).is_ok());
    }

    #[test]
    fn builder_defaults() {
        let builder = SdkAws::builder();
        let retry = builder.retry_config();
        assert_eq!(retry.mode(), aws_config::retry::RetryMode::Standard);
        assert_eq!(retry.max_attempts(), 5);
        let timeouts = builder.timeout_config();
        assert_eq!(timeouts.connect_timeout(), Some(Duration::from_secs(3)));
        assert_eq!(timeouts.operation_attempt_timeout(), Some(Duration::from_secs(20)));
        assert_eq!(timeouts.operation_timeout(), Some(Duration::from_secs(60)));

        let builder = SdkAws::builder().retry_mode(RetryMode::Adaptive).max_attempts(0);
        assert_eq!(builder.retry_config().mode(), aws_config::retry::RetryMode::Adaptive);
        assert_eq!(builder.retry_config().max_attempts(), 1);
    }

    #[test]
    fn retries_come_from_the_builder_then_the_environment_then_the_profile() {
        let env = ConfiguredRetries { max_attempts: Some(2), retry_mode: Some(RetryMode::Adaptive) };
        // Unset everywhere: amikeeper's defaults. The environment, when the builder says nothing.
        let (config, mode, attempts) = SdkAws::builder().retries(&ConfiguredRetries::default());
        assert_eq!((mode, attempts, config.max_attempts()), (RetryMode::Standard, DEFAULT_MAX_ATTEMPTS, 5));
        let (config, mode, attempts) = SdkAws::builder().retries(&env);
        assert_eq!((mode, attempts, config.mode()), (RetryMode::Adaptive, 2, aws_config::retry::RetryMode::Adaptive));
        // The builder wins, setting by setting.
        let (_, mode, attempts) = SdkAws::builder().max_attempts(1).retries(&env);
        assert_eq!((mode, attempts), (RetryMode::Adaptive, 1));
    }

    #[tokio::test]
    async fn load_uses_the_builder_settings() {
        let aws = SdkAws::builder()
            .region(Some("ap-southeast-1".to_owned()))
            .endpoint_url(Some("http://localhost:5000".to_owned()))
            .max_attempts(3)
            .customize(|loader| loader.empty_test_environment().test_credentials())
            .load()
            .await;
        assert_eq!(aws.default_region(), Some("ap-southeast-1"));
        let config = aws.sdk_config();
        assert_eq!(config.endpoint_url(), Some("http://localhost:5000"));
        assert_eq!(config.retry_config().unwrap().max_attempts(), 3);
        assert_eq!(config.timeout_config().unwrap().operation_timeout(), Some(Duration::from_secs(60)));
        let ec2 = aws.ec2(&Region::new("")).unwrap();
        assert_eq!(ec2.config().region().unwrap().as_ref(), "ap-southeast-1");
    }
}
