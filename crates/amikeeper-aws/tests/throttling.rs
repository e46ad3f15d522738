//! A sweep through a throttling proxy in front of `moto_server`: the proxy answers 30% of EC2
//! requests with EC2's own `RequestLimitExceeded` (HTTP 503 and EC2's XML error), the SDK
//! retries most of them before amikeeper sees an answer, and still every throttle counts in
//! `summary.throttled` and slows the sweep's pacer down.
//!
//! Needs `scripts/moto-server` like the retention tests of `tests/moto.rs` (set
//! `AMIKEEPER_MOTO_SERVER=$PWD/scripts/moto-server`); skipped without moto unless
//! `AMIKEEPER_REQUIRE_MOTO=1`.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use amikeeper::conformance::{SweepFixture, MAIN_REGION};
use amikeeper::model::Region;
use amikeeper::retain::ItemStatus;
use amikeeper::testing::{configs, fill};
use amikeeper::{Config, Keeper, SweepOptions, SweepStatus};
use amikeeper_aws::testing::{MotoFixture, MotoServer};
use amikeeper_aws::SdkAws;
use aws_sdk_ec2::types::{ResourceType, Tag, TagSpecification};

/// EC2's answer to a throttled request (`RequestLimitExceeded` is HTTP 503 on EC2).
const REQUEST_LIMIT_EXCEEDED: &str = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n\
    <Response><Errors><Error><Code>RequestLimitExceeded</Code><Message>Request limit exceeded.</Message>\
    </Error></Errors><RequestID>5a2b7e0c-throttle-proxy</RequestID></Response>";

/// How the proxy is doing, shared with its threads.
#[derive(Debug, Default)]
struct Counts {
    /// EC2 requests seen.
    ec2: AtomicU64,
    /// EC2 requests answered `RequestLimitExceeded`.
    throttled: AtomicU64,
}

/// A reverse proxy on a free loopback port in front of `moto_server`: one request per
/// connection (every answer says `Connection: close`); it answers 3 of every 10 EC2 requests
/// (the 1st, 5th and 8th) with `RequestLimitExceeded` itself and forwards everything else.
/// Its threads end with the test process.
struct ThrottlingProxy {
    port: u16,
    counts: Arc<Counts>,
}

impl ThrottlingProxy {
    fn start(upstream: u16) -> Self {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("a free loopback port");
        let port = listener.local_addr().expect("a bound address").port();
        let counts = Arc::new(Counts::default());
        let shared = counts.clone();
        std::thread::spawn(move || {
            for client in listener.incoming().flatten() {
                let counts = shared.clone();
                std::thread::spawn(move || {
                    if let Err(error) = serve(client, upstream, &counts) {
                        eprintln!("throttling proxy: {error}");
                    }
                });
            }
        });
        Self { port, counts }
    }

    fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    fn throttled(&self) -> u64 {
        self.counts.throttled.load(Ordering::SeqCst)
    }

    fn ec2_requests(&self) -> u64 {
        self.counts.ec2.load(Ordering::SeqCst)
    }
}

/// The value of header `name` in an HTTP head.
fn header<'a>(head: &'a str, name: &str) -> Option<&'a str> {
    head.lines().skip(1).find_map(|line| {
        let (key, value) = line.split_once(':')?;
        key.trim().eq_ignore_ascii_case(name).then_some(value.trim())
    })
}

/// `head` (ending with its blank line) without its `Connection` header, with
/// `Connection: close` instead.
fn closing(head: &str) -> String {
    let mut lines: Vec<&str> = head
        .split("\r\n")
        .filter(|line| !line.is_empty())
        .filter(|line| !line.split_once(':').is_some_and(|(key, _)| key.trim().eq_ignore_ascii_case("connection")))
        .collect();
    lines.push("Connection: close");
    format!("{}\r\n\r\n", lines.join("\r\n"))
}

/// Answers one request on `client`.
fn serve(client: TcpStream, upstream: u16, counts: &Counts) -> io::Result<()> {
    let mut reader = BufReader::new(client.try_clone()?);
    let mut head = String::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 {
            return Ok(()); // the client closed an idle connection
        }
        head.push_str(&line);
        if line == "\r\n" {
            break;
        }
    }
    assert!(header(&head, "transfer-encoding").is_none(), "the SDK sends a Content-Length: {head}");
    let length: usize = header(&head, "content-length").map_or(0, |value| value.parse().expect("a length"));
    let mut body = vec![0; length];
    reader.read_exact(&mut body)?;
    let mut client = client;

    // The service is in the SigV4 credential scope: `Credential=AKID/date/region/ec2/aws4_request`.
    let ec2 = header(&head, "authorization").is_some_and(|value| value.contains("/ec2/aws4_request"));
    if ec2 {
        let index = counts.ec2.fetch_add(1, Ordering::SeqCst);
        if index * 3 % 10 < 3 {
            counts.throttled.fetch_add(1, Ordering::SeqCst);
            let answer = format!(
                "HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/xml;charset=UTF-8\r\n\
                 Content-Length: {}\r\nConnection: close\r\n\r\n{REQUEST_LIMIT_EXCEEDED}",
                REQUEST_LIMIT_EXCEEDED.len()
            );
            return client.write_all(answer.as_bytes());
        }
    }

    let mut moto = TcpStream::connect((Ipv4Addr::LOCALHOST, upstream))?;
    moto.write_all(closing(&head).as_bytes())?;
    moto.write_all(&body)?;
    let mut answer = Vec::new();
    moto.read_to_end(&mut answer)?;
    let split = answer.windows(4).position(|w| w == b"\r\n\r\n").expect("an HTTP answer") + 4;
    let answer_head = String::from_utf8_lossy(&answer[..split]).into_owned();
    client.write_all(closing(&answer_head).as_bytes())?;
    client.write_all(&answer[split..])
}

/// Sweeps through the proxy: every action is done, `summary.throttled` is exactly the number
/// of `RequestLimitExceeded` answers the proxy gave, and the pacer slowed down below the
/// configured `max_requests_per_second`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn throttles_the_sdk_retried_are_counted_and_slow_the_sweep() {
    let Some(moto) = MotoServer::start() else { return };
    // Set up and check straight on moto; sweep through the proxy.
    let fixture = MotoFixture::new(&moto).await;
    let region = MAIN_REGION;
    let ec2 = fixture.ec2(region);
    let instance = fixture.instance_of(region, None).await;
    let role = TagSpecification::builder()
        .resource_type(ResourceType::Image)
        .tags(Tag::builder().key("Role").value("throttled").build())
        .build();
    let mut images = Vec::new();
    for i in 0..12 {
        let made = ec2
            .create_image()
            .instance_id(&instance)
            .name(format!("throttled-{i}"))
            .tag_specifications(role.clone())
            .send()
            .await
            .expect("CreateImage");
        images.push(made.image_id().expect("an image id").to_owned());
    }

    let proxy = ThrottlingProxy::start(moto.port());
    let retry = MotoServer::retry_config();
    let aws = SdkAws::builder()
        .region(Some(region.to_owned()))
        .endpoint_url(Some(proxy.endpoint()))
        .max_attempts(retry.max_attempts())
        .customize(move |loader| loader.empty_test_environment().test_credentials().retry_config(retry))
        .load()
        .await;
    // No reference check: moto does not serve DescribeImageReferences, and this test is about
    // throttling, not about what the sweep keeps.
    let config = fill(configs::THROTTLED_SWEEP, &[("account", amikeeper_aws::testing::MOTO_ACCOUNT_ID)]);
    let config = Config::from_toml(&config).expect("valid configuration");
    let keeper = Keeper::new(config, Arc::new(aws));
    let report =
        keeper.sweep(&Region::new(region), &SweepOptions::default().apply(true)).await.expect("the sweep runs");

    assert_eq!(report.status, SweepStatus::Ok, "{:#?}", report.results);
    assert_eq!(report.summary.images_retired, images.len(), "{:#?}", report.results);
    assert!(report.results.iter().all(|r| r.status == ItemStatus::Done), "{:#?}", report.results);
    let left = fixture.own_images(region).await;
    assert!(left.iter().all(|image| !images.contains(&image.id.to_string())), "left: {left:?}");

    let throttled = proxy.throttled();
    assert!(throttled >= 4, "3 of 10 of {} EC2 requests throttled: {throttled}", proxy.ec2_requests());
    assert_eq!(
        report.summary.throttled,
        throttled,
        "every RequestLimitExceeded counts, the SDK's retries included ({} EC2 requests)",
        proxy.ec2_requests()
    );
    let slowed = report.summary.slowed_to_per_second.expect("the pacer slowed down");
    assert!(slowed < 50, "slowed below max_requests_per_second = 50: {slowed}");
}
