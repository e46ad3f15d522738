//! Fault injection for [`MemoryAws`](super::MemoryAws): throttling, server errors and timeouts,
//! scripted in order or drawn from a seeded PRNG, each with the failing service's error code.

use crate::error::{AwsError, AwsErrorKind};

use super::aws_error;

/// What an injected fault does to the call it hits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FaultKind {
    /// The service throttles the call (`RequestLimitExceeded`, `ThrottlingException`, `Throttling`).
    Throttling,
    /// The service fails (`InternalError`, `InternalServerError`, `InternalFailure`).
    ServerError,
    /// No answer in time (`RequestTimeout`); the call had no effect.
    Timeout,
    /// The call takes effect but its answer is lost: the caller sees a `RequestTimeout`.
    TimeoutAfterEffect,
    /// The service throttles the call once and the backend retries it by itself, as the AWS
    /// SDK does: the call succeeds (or fails) as without the fault, and the backend reports
    /// the throttled attempt ([`report_throttled_attempt`](crate::backend::report_throttled_attempt)).
    ThrottledThenRetried,
    /// The caller's role may not make the call (`UnauthorizedOperation`, `AccessDeniedException`,
    /// `AccessDenied`); not retried.
    AccessDenied,
}

impl FaultKind {
    /// The kinds [`MemoryAws::inject_random`](super::MemoryAws::inject_random) draws from by default.
    const DEFAULT_RANDOM: [FaultKind; 3] = [Self::Throttling, Self::ServerError, Self::Timeout];
}

/// A scripted fault: the next `times` calls that match `operation` fail with `kind`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fault {
    /// The operation to fail, as `service:Operation` (e.g. `ssm:PutParameter`); `None`: any.
    pub operation: Option<String>,
    /// How the calls fail.
    pub kind: FaultKind,
    /// How many matching calls fail.
    pub times: u32,
}

impl Fault {
    /// Fails the next call of any operation with `kind`.
    pub fn any(kind: FaultKind) -> Self {
        Self { operation: None, kind, times: 1 }
    }

    /// Fails the next call of `operation` (`service:Operation`) with `kind`.
    pub fn on(operation: impl Into<String>, kind: FaultKind) -> Self {
        Self { operation: Some(operation.into()), kind, times: 1 }
    }

    /// Fails `times` matching calls instead of one.
    pub fn times(mut self, times: u32) -> Self {
        self.times = times;
        self
    }

    fn matches(&self, operation: &str) -> bool {
        match &self.operation {
            None => true,
            Some(wanted) => wanted == operation,
        }
    }
}

/// splitmix64: a tiny, deterministic PRNG; good enough to pick which calls fail, and to draw
/// the schedules of the chaos and race tests.
#[derive(Debug, Clone)]
pub struct SplitMix64(u64);

impl SplitMix64 {
    /// A generator whose sequence `seed` decides.
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    /// The next number.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A uniform number in `[0, 1)`.
    pub fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// A uniform number in `0..n` (`n > 0`).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }

    /// True with probability `p`.
    pub fn chance(&mut self, p: f64) -> bool {
        self.next_f64() < p
    }

    /// One of `items` (not empty), uniformly.
    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

#[derive(Debug, Clone)]
struct RandomFaults {
    rng: SplitMix64,
    probability: f64,
    kinds: Vec<FaultKind>,
}

/// The faults still to come: a queue of scripted ones, then maybe random ones.
#[derive(Debug, Default)]
pub(crate) struct FaultPlan {
    queue: Vec<Fault>,
    random: Option<RandomFaults>,
}

impl FaultPlan {
    pub(crate) fn push(&mut self, fault: Fault) {
        if fault.times > 0 {
            self.queue.push(fault);
        }
    }

    pub(crate) fn set_random(&mut self, seed: u64, probability: f64, kinds: &[FaultKind]) {
        let kinds = if kinds.is_empty() { FaultKind::DEFAULT_RANDOM.to_vec() } else { kinds.to_vec() };
        let probability = if probability.is_nan() { 0.0 } else { probability.clamp(0.0, 1.0) };
        self.random = Some(RandomFaults { rng: SplitMix64(seed), probability, kinds });
    }

    pub(crate) fn clear(&mut self) {
        self.queue.clear();
        self.random = None;
    }

    pub(crate) fn remaining(&self) -> u32 {
        self.queue.iter().map(|fault| fault.times).sum()
    }

    /// The fault, if any, that hits this call of `operation`; consumes it.
    pub(crate) fn next_fault(&mut self, operation: &str) -> Option<FaultKind> {
        if let Some(index) = self.queue.iter().position(|fault| fault.matches(operation)) {
            let fault = &mut self.queue[index];
            let kind = fault.kind;
            fault.times -= 1;
            if fault.times == 0 {
                self.queue.remove(index);
            }
            return Some(kind);
        }
        let random = self.random.as_mut()?;
        if random.rng.next_f64() < random.probability {
            let pick = (random.rng.next_u64() % random.kinds.len() as u64) as usize;
            Some(random.kinds[pick])
        } else {
            None
        }
    }
}

/// The error a fault of `kind` makes operation `op` (`service:Operation`) fail with (for
/// [`FaultKind::ThrottledThenRetried`], the error of the attempt the backend retried).
pub(crate) fn fault_error(op: &str, kind: FaultKind) -> AwsError {
    let service = op.split_once(':').map_or(op, |(service, _)| service);
    match kind {
        // A retried throttle's error is the one its throttled attempt got.
        FaultKind::Throttling | FaultKind::ThrottledThenRetried => {
            let (code, message) = match service {
                "ec2" => ("RequestLimitExceeded", "Request limit exceeded."),
                "ssm" | "events" => ("ThrottlingException", "Rate exceeded"),
                _ => ("Throttling", "Rate exceeded"),
            };
            aws_error(op, AwsErrorKind::Throttling, code, format!("{message} (injected fault)"))
        }
        FaultKind::ServerError => {
            let (code, message) = match service {
                "ec2" => ("InternalError", "An internal error has occurred."),
                "ssm" => ("InternalServerError", "An error occurred on the server side."),
                _ => (
                    "InternalFailure",
                    "The request processing has failed because of an unknown error, exception or failure.",
                ),
            };
            aws_error(op, AwsErrorKind::Server, code, format!("{message} (injected fault)"))
        }
        FaultKind::AccessDenied => {
            let code = match service {
                "ec2" => "UnauthorizedOperation",
                "ssm" | "imagebuilder" | "events" => "AccessDeniedException",
                _ => "AccessDenied",
            };
            let message = format!("You are not authorized to perform this operation ({op}; injected fault).");
            aws_error(op, AwsErrorKind::Client, code, message)
        }
        FaultKind::Timeout | FaultKind::TimeoutAfterEffect => aws_error(
            op,
            AwsErrorKind::Timeout,
            "RequestTimeout",
            "The request timed out before an answer came (injected fault).",
        ),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::backend::{AutoScalingApi, CloudFormationApi, Ec2Api, SsmApi};
    use crate::memory::{ImageSeed, MemoryAws};
    use crate::model::{ImageId, ParameterType, PutParameter, Region, StackParameterValue, UpdateStack};

    /// An empty account, and the region the tests use.
    fn account() -> (MemoryAws, Region) {
        (MemoryAws::new("111122223333"), Region::from("eu-west-1"))
    }

    fn put(name: &str, value: &str) -> PutParameter {
        PutParameter {
            name: name.into(),
            value: value.into(),
            kind: ParameterType::String,
            data_type: None,
            overwrite: true,
            description: None,
        }
    }

    #[tokio::test]
    async fn scripted_faults_are_consumed_in_order_without_effect() {
        let (aws, region) = account();
        aws.inject(Fault::on("ssm:PutParameter", FaultKind::Throttling));
        aws.inject(Fault::on("ssm:PutParameter", FaultKind::ServerError).times(2));
        aws.inject(Fault::on("ssm:PutParameter", FaultKind::Timeout));
        assert_eq!(aws.pending_faults(), 4);

        // A call of another operation does not consume them.
        assert!(aws.get_parameter(&region, "/p").await.unwrap().is_none());

        let first = aws.put_parameter(&region, &put("/p", "1")).await.unwrap_err();
        assert_eq!((first.code.as_str(), first.kind), ("ThrottlingException", AwsErrorKind::Throttling));
        assert_eq!((first.service.as_str(), first.operation.as_str()), ("ssm", "PutParameter"));
        for _ in 0..2 {
            let err = aws.put_parameter(&region, &put("/p", "1")).await.unwrap_err();
            assert_eq!((err.code.as_str(), err.kind), ("InternalServerError", AwsErrorKind::Server));
        }
        let last = aws.put_parameter(&region, &put("/p", "1")).await.unwrap_err();
        assert_eq!((last.code.as_str(), last.kind), ("RequestTimeout", AwsErrorKind::Timeout));
        assert!(last.is_retryable());

        // None of the faulted puts changed anything.
        assert!(aws.parameter(&region, "/p").is_none());
        assert_eq!(aws.pending_faults(), 0);
        assert_eq!(aws.put_parameter(&region, &put("/p", "1")).await.unwrap(), 1);
        assert_eq!(aws.call_count("ssm:PutParameter"), 5);
    }

    #[tokio::test]
    async fn a_fault_for_any_operation_hits_the_next_call() {
        let (aws, region) = account();
        aws.inject(Fault::any(FaultKind::Throttling).times(4));
        let ec2 = aws.describe_image(&region, &ImageId::from("ami-00000000000000001")).await.unwrap_err();
        assert_eq!(ec2.code, "RequestLimitExceeded");
        let asg = aws.describe_auto_scaling_groups(&region).await.unwrap_err();
        assert_eq!((asg.code.as_str(), asg.service.as_str()), ("Throttling", "autoscaling"));
        let cfn = aws.describe_stack(&region, "s").await.unwrap_err();
        assert_eq!((cfn.code.as_str(), cfn.operation.as_str()), ("Throttling", "DescribeStacks"));
        let ssm = aws.get_parameter(&region, "/p").await.unwrap_err();
        assert_eq!(ssm.code, "ThrottlingException");
        assert!(aws.get_parameter(&region, "/p").await.is_ok());
    }

    #[tokio::test]
    async fn server_error_codes_follow_the_service() {
        let (aws, region) = account();
        aws.inject(Fault::any(FaultKind::ServerError).times(2));
        let ec2 = aws.describe_image(&region, &ImageId::from("ami-00000000000000001")).await.unwrap_err();
        assert_eq!((ec2.code.as_str(), ec2.kind), ("InternalError", AwsErrorKind::Server));
        let cfn = aws.describe_stack(&region, "s").await.unwrap_err();
        assert_eq!((cfn.code.as_str(), cfn.kind), ("InternalFailure", AwsErrorKind::Server));
    }

    #[tokio::test]
    async fn a_faulted_stack_update_changes_nothing() {
        let (aws, region) = account();
        aws.create_stack(&region, "web", BTreeMap::from([("AmiId".to_owned(), "ami-1".to_owned())]));
        aws.inject(Fault::on("cloudformation:UpdateStack", FaultKind::Timeout));
        let request = UpdateStack {
            name: "web".into(),
            parameters: vec![("AmiId".into(), StackParameterValue::Value("ami-2".into()))],
            capabilities: vec![],
        };
        assert!(aws.update_stack(&region, &request).await.is_err());
        assert_eq!(aws.stack(&region, "web").unwrap().parameters["AmiId"], "ami-1");
        assert_eq!(aws.stack_history(&region, "web").len(), 1);
        assert!(aws.update_stack(&region, &request).await.is_ok());
        assert_eq!(aws.stack(&region, "web").unwrap().parameters["AmiId"], "ami-2");
    }

    #[tokio::test]
    async fn a_lost_answer_still_takes_effect() {
        let (aws, region) = account();
        aws.inject(Fault::on("ssm:PutParameter", FaultKind::TimeoutAfterEffect));
        let err = aws.put_parameter(&region, &put("/p", "1")).await.unwrap_err();
        assert_eq!(err.kind, AwsErrorKind::Timeout);
        assert_eq!(aws.parameter(&region, "/p").unwrap().version, 1);
    }

    #[tokio::test]
    async fn random_faults_are_reproducible_and_clearable() {
        async fn run(seed: u64) -> Vec<Option<String>> {
            let (aws, region) = account();
            aws.add_image(&region, ImageSeed::new("a"));
            aws.inject_random(seed, 0.5, &[]);
            let mut outcomes = Vec::new();
            for _ in 0..64 {
                let result = aws.get_parameter(&region, "/p").await;
                outcomes.push(result.err().map(|err| err.code));
            }
            outcomes
        }
        let first = run(7).await;
        assert_eq!(first, run(7).await);
        assert_ne!(first, run(8).await);
        let failures = first.iter().filter(|outcome| outcome.is_some()).count();
        assert!((16..=48).contains(&failures), "{failures} of 64 failed");
        let codes: std::collections::BTreeSet<_> = first.iter().flatten().cloned().collect();
        assert!(codes.len() > 1, "only {codes:?}");

        let (aws, region) = account();
        aws.inject_random(1, 1.0, &[FaultKind::Throttling]);
        aws.inject(Fault::on("ssm:GetParameter", FaultKind::ServerError));
        // The queued fault comes first, then the random ones.
        assert_eq!(aws.get_parameter(&region, "/p").await.unwrap_err().code, "InternalServerError");
        assert_eq!(aws.get_parameter(&region, "/p").await.unwrap_err().code, "ThrottlingException");
        aws.clear_faults();
        assert!(aws.get_parameter(&region, "/p").await.is_ok());
    }
}
