//! A long-running service that embeds amikeeper's [`Keeper`]: it builds the AWS SDK backend
//! once, handles the event payloads that arrive on a channel, sweeps its region on an interval,
//! and on SIGTERM or Ctrl-C finishes what it is doing and the events already queued, then exits.
//!
//! ```sh
//! # Events as JSON lines on stdin (here, one), a plan-only sweep every hour:
//! amikeeper-service keeper.toml < events.jsonl
//! # Act on the sweep's plan, every 10 minutes:
//! AMIKEEPER_SWEEP_SECONDS=600 amikeeper-service keeper.toml --apply
//! ```
//!
//! In a real service the channel's sender goes to whatever receives the events: an SQS
//! consumer, an HTTP handler, a message bus.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use amikeeper::model::Region;
use amikeeper::{Config, InvokeOptions, Keeper, SweepOptions};
use tokio::sync::mpsc;
use tokio::time::{interval_at, Instant, MissedTickBehavior};

/// How often the service sweeps unless `AMIKEEPER_SWEEP_SECONDS` says otherwise.
const DEFAULT_SWEEP_INTERVAL: Duration = Duration::from_secs(3600);

#[tokio::main]
async fn main() -> std::process::ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    match serve().await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("amikeeper-service: {message}");
            std::process::ExitCode::from(2)
        }
    }
}

async fn serve() -> Result<(), String> {
    let mut args = std::env::args().skip(1);
    let path = args.next().ok_or("usage: amikeeper-service CONFIG [--apply]")?;
    let apply = args.next().is_some_and(|arg| arg == "--apply");
    let every = match std::env::var("AMIKEEPER_SWEEP_SECONDS") {
        Ok(seconds) => Duration::from_secs(seconds.parse().map_err(|e| format!("AMIKEEPER_SWEEP_SECONDS: {e}"))?),
        Err(_) => DEFAULT_SWEEP_INTERVAL,
    };
    let config = Config::from_file(&path).map_err(|e| e.to_string())?;

    // One backend for the life of the service: its clients, connections and credentials are
    // reused by every event and sweep.
    let aws = amikeeper_aws::SdkAws::builder().load().await;
    let region = aws.default_region().map(Region::from).ok_or("no region: set AWS_REGION or a profile's region")?;
    // Sweeps list thousands of images: they go through the same clients with longer timeouts.
    let sweeps = Arc::new(aws.for_sweeps());
    let keeper = Keeper::builder(config, Arc::new(aws)).sweep_backend(sweeps).build();

    // The producer: JSON lines on stdin. Dropping the sender (end of input) ends no service:
    // the sweeps go on until a shutdown signal.
    let (events, queue) = mpsc::channel::<Vec<u8>>(64);
    std::thread::spawn(move || {
        for line in std::io::stdin().lines().map_while(Result::ok).filter(|line| !line.trim().is_empty()) {
            if events.blocking_send(line.into_bytes()).is_err() {
                break;
            }
        }
    });

    let ran = run(&keeper, queue, &region, Schedule { every, apply }, shutdown_signal()).await;
    tracing::info!(events = ran.events, sweeps = ran.sweeps, "stopped");
    Ok(())
}

/// When and how the service sweeps.
#[derive(Debug, Clone, Copy)]
struct Schedule {
    /// The time between sweeps (the first comes one interval after the start).
    every: Duration,
    /// Act on the plan, or only plan.
    apply: bool,
}

/// What a run of the service did.
#[derive(Debug, Default, PartialEq, Eq)]
struct Ran {
    events: usize,
    sweeps: usize,
}

/// Serves until `shutdown` completes: each payload from `queue` is handled, and `region` is
/// swept on `schedule`. Work that has started always finishes (a `select!` branch's body is
/// never cancelled); at shutdown the payloads already queued are handled, then it returns.
async fn run(
    keeper: &Keeper,
    mut queue: mpsc::Receiver<Vec<u8>>,
    region: &Region,
    schedule: Schedule,
    shutdown: impl Future<Output = ()>,
) -> Ran {
    let mut ran = Ran::default();
    let mut ticks = interval_at(Instant::now() + schedule.every, schedule.every);
    // A sweep that outlasts the interval delays the next one rather than starting a burst.
    ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            // Shutdown first, when several are ready at once.
            biased;
            () = &mut shutdown => break,
            Some(payload) = queue.recv() => {
                handle(keeper, &payload).await;
                ran.events += 1;
            }
            _ = ticks.tick() => {
                sweep(keeper, region, schedule.apply).await;
                ran.sweeps += 1;
            }
        }
    }
    tracing::info!("shutting down: handling the events already queued");
    queue.close();
    while let Some(payload) = queue.recv().await {
        handle(keeper, &payload).await;
        ran.events += 1;
    }
    ran
}

/// Handles one payload and logs each report as JSON. Its schedules sweep nothing: the service
/// sweeps on its own interval.
async fn handle(keeper: &Keeper, payload: &[u8]) {
    match keeper.invoke(payload, &InvokeOptions::default()).await {
        Ok(invocation) => {
            for run in invocation.runs {
                let json = serde_json::to_string(&run).unwrap_or_default();
                if run.failed() {
                    tracing::warn!(report = %json, "event failed; it is safe to handle it again");
                } else {
                    tracing::info!(report = %json, "event handled");
                }
            }
        }
        Err(error) => tracing::warn!(%error, "payload refused"),
    }
}

/// Sweeps `region` and logs the report's summary; the next sweep retries what failed.
async fn sweep(keeper: &Keeper, region: &Region, apply: bool) {
    match keeper.sweep(region, &SweepOptions::default().apply(apply)).await {
        Ok(report) => tracing::info!(status = %report.status, summary = ?report.summary, "swept {region}"),
        Err(error) => tracing::warn!(%error, "sweep of {region} failed"),
    }
}

/// Completes on SIGTERM (what ECS, Kubernetes and systemd send) or Ctrl-C.
async fn shutdown_signal() {
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        () = terminate => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use amikeeper::memory::ImageSeed;
    use amikeeper::samples::Origin;
    use amikeeper::testing::{configs, ACCOUNT, REGION};
    use amikeeper::MemoryAws;

    /// Events from the channel are handled, the region is swept every interval, and at shutdown
    /// the events still queued are handled before `run` returns.
    #[tokio::test(start_paused = true)]
    async fn handles_events_sweeps_on_schedule_and_drains_at_shutdown() {
        let config = Config::from_toml(configs::PARAMETER_FROM_TAG_KEEP_ONE).unwrap();
        let aws = Arc::new(MemoryAws::new(ACCOUNT));
        let seed = |name: &str| ImageSeed::new(name).tag("ImageIdParameterName", "/ami/web");
        let old = aws.add_image(REGION, seed("web-1"));
        aws.set_parameter(REGION, "/ami/web", old.as_str()).unwrap();
        let new = aws.add_image(REGION, seed("web-2"));
        let keeper = Keeper::new(config, aws.clone());

        let (events, queue) = mpsc::channel(8);
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let region = Region::from(REGION);
        let schedule = Schedule { every: Duration::from_secs(60), apply: true };
        let service = run(&keeper, queue, &region, schedule, async {
            stopped.await.ok();
        });
        let driver = async {
            let origin = Origin::new(ACCOUNT, REGION, "svc");
            events
                .send(origin.backup_job(new.as_str(), "i-0123456789abcdef0", "COMPLETED").to_string().into())
                .await
                .unwrap();
            // Two sweeps; the first retires the AMI the event moved the parameter off.
            tokio::time::sleep(Duration::from_secs(150)).await;
            // Queued at shutdown: still handled.
            events
                .send(origin.backup_job(new.as_str(), "i-0123456789abcdef0", "COMPLETED").to_string().into())
                .await
                .unwrap();
            stop.send(()).unwrap();
        };
        let (ran, ()) = tokio::join!(service, driver);

        assert_eq!(ran, Ran { events: 2, sweeps: 2 });
        assert_eq!(aws.parameter(REGION, "/ami/web").unwrap().value, new.as_str());
        assert_eq!(aws.image(REGION, &old).unwrap().state, amikeeper::model::ImageState::Deregistered);
        assert_eq!(aws.image(REGION, &new).unwrap().state, amikeeper::model::ImageState::Available);
    }
}
