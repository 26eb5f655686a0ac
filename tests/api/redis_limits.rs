//! Rate limits shared through Redis (`KEYWARD_REDIS_URL`, issue 18): two
//! instances on one store spend one budget, a stopped or hung Redis gets the
//! configured fallback, and a restarted one is shared again. Each test starts
//! Debian's `redis-server` itself on a free port (never the system's 6379);
//! two instances share one SQLite file here as they do in usage.rs.

use crate::common::*;
use crate::fixtures::*;
use keyward::config::RedisUrl;
use keyward::verify::rate_limit::RateLimits;
use keyward::verify::redis_limit::{KEY_PREFIX, RedisLimits};
use reqwest::StatusCode;
use reqwest::header::HeaderMap;
use serde_json::json;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const REDIS_SERVER: &str = "/usr/bin/redis-server";

/// redis-server as a child process on its own port and directory; killed on drop.
struct RedisServer {
    child: Option<Child>,
    port: u16,
    dir: PathBuf,
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.stop();
        if std::thread::panicking() {
            eprintln!("redis-server's log is kept in {}", self.dir.display());
        } else {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

impl RedisServer {
    /// Starts redis-server on a free port (another port if that one was taken meanwhile).
    async fn start() -> Self {
        assert!(
            Path::new(REDIS_SERVER).exists(),
            "{REDIS_SERVER} is missing: the shared rate-limit tests run the real Redis. \
             Run scripts/bootstrap --test to install it (Debian's redis-server package)."
        );
        let dir =
            std::env::temp_dir().join(format!("keyward-redis-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).expect("create redis-server's directory");
        let mut server = Self {
            child: None,
            port: 0,
            dir,
        };
        for _ in 0..3 {
            server.port = free_port();
            if server.run().await {
                return server;
            }
        }
        panic!("redis-server found no free port in 3 tries");
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Starts the process on `self.port` and waits until it answers PING; false if it exited.
    async fn run(&mut self) -> bool {
        let log = std::fs::File::create(self.dir.join("redis.log")).unwrap();
        let child = Command::new(REDIS_SERVER)
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .arg("--dir")
            .arg(&self.dir)
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap_or_else(|error| panic!("start {REDIS_SERVER}: {error}"));
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(status) = self.child.as_mut().unwrap().try_wait().unwrap() {
                let log = std::fs::read_to_string(self.dir.join("redis.log")).unwrap_or_default();
                assert!(
                    log.contains("Address already in use"),
                    "redis-server exited with {status}:\n{log}"
                );
                self.child = None;
                return false;
            }
            if self.ping().await {
                return true;
            }
            assert!(
                Instant::now() < deadline,
                "redis-server does not answer PING after 10 s"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    async fn ping(&self) -> bool {
        let Ok(client) = redis::Client::open(self.url()) else {
            return false;
        };
        let Ok(mut connection) = client.get_multiplexed_async_connection().await else {
            return false;
        };
        redis::cmd("PING")
            .query_async::<String>(&mut connection)
            .await
            .is_ok_and(|pong| pong == "PONG")
    }

    /// Kills the process (a crash, or a stop: its state is gone either way).
    fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts it again on the same port, empty.
    async fn restart(&mut self) {
        self.stop();
        assert!(self.run().await, "port {} was taken meanwhile", self.port);
    }

    /// SIGSTOP or SIGCONT: a Redis that holds its connections but answers nothing.
    fn signal(&self, signal: &str) {
        let pid = self.child.as_ref().expect("redis-server runs").id();
        let status = Command::new("kill")
            .args([signal, &pid.to_string()])
            .status()
            .expect("run kill");
        assert!(status.success(), "kill {signal} {pid}");
    }

    async fn connection(&self) -> redis::aio::MultiplexedConnection {
        redis::Client::open(self.url())
            .unwrap()
            .get_multiplexed_async_connection()
            .await
            .expect("connect to the test's redis-server")
    }
}

/// Two instances on one store, both counting in `redis`, plus `settings`.
struct Pair {
    a: TestApp,
    b: TestApp,
    admin: Client,
    token: String,
}

async fn pair(redis: &RedisServer, settings: &[(&str, &str)]) -> Pair {
    let url = redis.url();
    let mut all = vec![("KEYWARD_REDIS_URL", url.as_str())];
    all.extend_from_slice(settings);
    let a = spawn_app_with(&all).await;
    let b = spawn_second_instance_with(&a, &all).await;
    let admin = admin(&a).await;
    let token = service_token(&admin, "billing-api").await;
    Pair { a, b, admin, token }
}

async fn limited_key(admin: &Client, per_minute: u32) -> CreatedKey {
    create_key(
        admin,
        json!({ "rate_limit_per_minute": per_minute.to_string() }),
    )
    .await
}

/// Verifies `secret` once on `app`: `(status, headers)`.
async fn attempt(
    http: &reqwest::Client,
    app: &TestApp,
    token: &str,
    secret: &str,
) -> (StatusCode, HeaderMap) {
    let response = http
        .post(format!("{}/v1/keys/verify", app.base))
        .header("x-keyward-service-token", token)
        .json(&json!({ "key": secret }))
        .send()
        .await
        .expect("verify request");
    (response.status(), response.headers().clone())
}

/// Statuses of `times` sequential verifications on `app`.
async fn statuses(app: &TestApp, token: &str, secret: &str, times: usize) -> Vec<u16> {
    let http = http();
    let mut statuses = Vec::with_capacity(times);
    for _ in 0..times {
        statuses.push(attempt(&http, app, token, secret).await.0.as_u16());
    }
    statuses
}

/// Looks the key up on `app` without spending its budget (the other
/// environment is refused before the limit), so it is cached there.
async fn cache_key(app: &TestApp, token: &str, secret: &str) {
    let (status, body) = verify(app, token, json!({ "key": secret, "environment": "test" })).await;
    assert_eq!(code(&body), "WRONG_ENVIRONMENT", "{status}: {body}");
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> &'a str {
    headers
        .get(name)
        .unwrap_or_else(|| panic!("no {name} header"))
        .to_str()
        .unwrap()
}

fn header_number(headers: &HeaderMap, name: &str) -> i64 {
    header(headers, name).parse().unwrap()
}

async fn fallbacks(app: &TestApp) -> f64 {
    let text = Client::new(app).get("/metrics").await.text().await.unwrap();
    text.lines()
        .find_map(|line| line.strip_prefix("keyward_rate_limit_fallback_total "))
        .map_or(0.0, |value| value.parse().unwrap())
}

#[tokio::test]
async fn two_instances_share_one_limit_exactly() {
    let redis = RedisServer::start().await;
    let Pair { a, b, admin, token } = pair(&redis, &[]).await;
    let key = limited_key(&admin, 100).await;
    cache_key(&a, &token, &key.secret).await;
    cache_key(&b, &token, &key.secret).await;
    let apps = [a, b];
    let http = http();
    // 300 attempts: 20 workers at once, alternating between the two instances, 15 each.
    let started = Instant::now();
    let answers: Vec<(StatusCode, HeaderMap, i64)> =
        futures::future::join_all((0..20).map(|worker| {
            let (http, app, token, secret) = (&http, &apps[worker % 2], &token, &key.secret);
            async move {
                let mut answers = Vec::new();
                for _ in 0..15 {
                    let (status, headers) = attempt(http, app, token, secret).await;
                    answers.push((status, headers, chrono::Utc::now().timestamp()));
                }
                answers
            }
        }))
        .await
        .into_iter()
        .flatten()
        .collect();
    let elapsed = started.elapsed();
    assert_eq!(answers.len(), 300);
    let valid: Vec<i64> = answers
        .iter()
        .filter(|(status, ..)| *status == StatusCode::OK)
        .map(|(_, headers, _)| header_number(headers, "x-ratelimit-remaining"))
        .collect();
    // GCRA gives 100 at once, then one more every 0.6 s: only a run slower than that
    // may see one more per 0.6 s. Counting per instance would have given 200.
    let refills = (elapsed.as_secs_f64() / 0.6).floor() as usize;
    println!(
        "{} valid of 300 over two instances in {elapsed:?}",
        valid.len()
    );
    assert!(
        (100..=100 + refills).contains(&valid.len()),
        "{} valid in {elapsed:?}: the instances did not share one limit of 100",
        valid.len()
    );
    if valid.len() == 100 {
        // Each of the 100 saw its own place in the one budget.
        let mut remaining = valid.clone();
        remaining.sort_unstable();
        assert_eq!(remaining, (0..100).collect::<Vec<i64>>());
    }
    for (status, headers, at) in &answers {
        assert_eq!(header(headers, "x-ratelimit-limit"), "100");
        let reset = header_number(headers, "x-ratelimit-reset");
        assert!((*at..=at + 61).contains(&reset), "reset {reset} at {at}");
        if *status == StatusCode::OK {
            continue;
        }
        assert_eq!(*status, StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(header(headers, "x-ratelimit-remaining"), "0");
        // The next request passes within 0.6 s: "1" (whole seconds, rounded up).
        assert_eq!(header(headers, "retry-after"), "1");
        // The full 100 are back about a minute after the burst.
        assert!(reset >= at + 58, "reset {reset} at {at}");
    }
}

#[tokio::test]
async fn a_stopped_redis_falls_back_to_local_limits_then_is_shared_again() {
    let mut redis = RedisServer::start().await;
    let Pair { a, b, admin, token } = pair(&redis, &[("KEYWARD_REDIS_RETRY_MS", "100")]).await;
    let key = limited_key(&admin, 5).await;
    // Shared: 3 on A and 2 on B spend the 5.
    assert_eq!(statuses(&a, &token, &key.secret, 3).await, [200; 3]);
    assert_eq!(statuses(&b, &token, &key.secret, 3).await, [200, 200, 429]);
    assert_eq!(fallbacks(&a).await, 0.0);

    redis.stop();
    // Each instance counts its own 5 again, and says so in its metrics.
    assert_eq!(
        statuses(&a, &token, &key.secret, 6).await,
        [200, 200, 200, 200, 200, 429]
    );
    assert_eq!(
        statuses(&b, &token, &key.secret, 6).await,
        [200, 200, 200, 200, 200, 429]
    );
    assert_eq!(fallbacks(&a).await, 6.0);
    assert_eq!(fallbacks(&b).await, 6.0);

    redis.restart().await;
    // Past the 100 ms back-off, the next verification reconnects (and loads the script again).
    tokio::time::sleep(Duration::from_millis(300)).await;
    let fresh = limited_key(&admin, 4).await;
    assert_eq!(statuses(&a, &token, &fresh.secret, 2).await, [200; 2]);
    assert_eq!(
        statuses(&b, &token, &fresh.secret, 3).await,
        [200, 200, 429]
    );
    assert_eq!(statuses(&a, &token, &fresh.secret, 1).await, [429]);
    assert_eq!(fallbacks(&a).await, 6.0, "counted in Redis again");
    assert_eq!(fallbacks(&b).await, 6.0, "counted in Redis again");
}

#[tokio::test]
async fn with_fallback_refuse_a_limited_key_gets_503_while_redis_is_away() {
    let mut redis = RedisServer::start().await;
    let Pair {
        a, admin, token, ..
    } = pair(
        &redis,
        &[
            ("KEYWARD_REDIS_FALLBACK", "refuse"),
            ("KEYWARD_REDIS_RETRY_MS", "100"),
        ],
    )
    .await;
    let limited = limited_key(&admin, 10).await;
    let unlimited = create_key(&admin, json!({})).await;
    assert_eq!(statuses(&a, &token, &limited.secret, 1).await, [200]);

    redis.stop();
    for _ in 0..3 {
        let (status, headers, body) =
            verify_with_headers(&a, &token, json!({ "key": limited.secret })).await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
        assert_eq!(code(&body), "UNAVAILABLE");
        assert_eq!(body["error"]["type"], "unavailable");
        assert_eq!(header(&headers, "retry-after"), "1");
    }
    // A key without a limit never touches Redis.
    assert_eq!(statuses(&a, &token, &unlimited.secret, 3).await, [200; 3]);
    assert_eq!(fallbacks(&a).await, 3.0);

    redis.restart().await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (status, headers, body) =
        verify_with_headers(&a, &token, json!({ "key": limited.secret })).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    // The restarted Redis is empty: a full budget again.
    assert_eq!(header(&headers, "x-ratelimit-remaining"), "9");
    assert_eq!(fallbacks(&a).await, 3.0);
}

#[tokio::test]
async fn a_restarted_redis_is_reconnected_by_the_next_request() {
    let mut redis = RedisServer::start().await;
    // A minute of back-off and no fallback to hide behind: only an immediate reconnect answers 200.
    let Pair {
        a, admin, token, ..
    } = pair(
        &redis,
        &[
            ("KEYWARD_REDIS_FALLBACK", "refuse"),
            ("KEYWARD_REDIS_RETRY_MS", "60000"),
        ],
    )
    .await;
    let key = limited_key(&admin, 10).await;
    assert_eq!(statuses(&a, &token, &key.secret, 2).await, [200; 2]);
    redis.restart().await;
    let (status, headers, body) =
        verify_with_headers(&a, &token, json!({ "key": key.secret })).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    // Counted in the new, empty Redis.
    assert_eq!(header(&headers, "x-ratelimit-remaining"), "9");
    assert_eq!(fallbacks(&a).await, 0.0);
}

#[tokio::test]
async fn a_hung_redis_costs_one_timeout_then_is_left_alone() {
    let redis = RedisServer::start().await;
    let Pair {
        a, admin, token, ..
    } = pair(
        &redis,
        &[
            ("KEYWARD_REDIS_TIMEOUT_MS", "100"),
            ("KEYWARD_REDIS_RETRY_MS", "60000"),
        ],
    )
    .await;
    let key = limited_key(&admin, 50).await;
    assert_eq!(statuses(&a, &token, &key.secret, 1).await, [200]);

    redis.signal("-STOP");
    let started = Instant::now();
    assert_eq!(statuses(&a, &token, &key.secret, 1).await, [200]);
    let first = started.elapsed();
    let started = Instant::now();
    assert_eq!(statuses(&a, &token, &key.secret, 20).await, [200; 20]);
    let next_twenty = started.elapsed();
    redis.signal("-CONT");
    println!("hung Redis: first verification {first:?}, the next 20 {next_twenty:?}");
    assert!(
        first >= Duration::from_millis(100) && first < Duration::from_secs(2),
        "the first waited {first:?} for a 100 ms timeout"
    );
    // Within the back-off none of them waits for Redis (20 × 100 ms if they did).
    assert!(
        next_twenty < Duration::from_secs(1),
        "20 verifications took {next_twenty:?}"
    );
    assert_eq!(fallbacks(&a).await, 21.0);
}

async fn counter(redis: &RedisServer) -> RedisLimits {
    let url = RedisUrl::parse(&redis.url()).unwrap();
    let limits =
        RedisLimits::new(&url, Duration::from_secs(2), Duration::from_millis(100)).unwrap();
    limits
        .connect()
        .await
        .expect("connect to the test's redis-server");
    limits
}

#[tokio::test]
async fn the_script_counts_as_governor_does() {
    let redis = RedisServer::start().await;
    let shared = counter(&redis).await;
    let local = RateLimits::new(10);
    let now = chrono::Utc::now().timestamp();
    for per_minute in [1, 3, 7] {
        let id = format!("key-{per_minute}");
        for _ in 0..per_minute + 2 {
            let in_redis = shared.check(&id, per_minute, now).await.unwrap();
            let in_memory = local.check(&id, per_minute, now);
            assert_eq!(in_redis.is_ok(), in_memory.is_ok(), "{per_minute}/min");
            let (in_redis, in_memory) = (
                in_redis.unwrap_or_else(|refused| refused),
                in_memory.unwrap_or_else(|refused| refused),
            );
            assert_eq!(in_redis.limit, in_memory.limit);
            assert_eq!(in_redis.remaining, in_memory.remaining, "{per_minute}/min");
            assert!(
                in_redis.reset.abs_diff(in_memory.reset) <= 1,
                "{in_redis:?} {in_memory:?}"
            );
            assert!(
                in_redis
                    .retry_after_secs
                    .abs_diff(in_memory.retry_after_secs)
                    <= 1,
                "{in_redis:?} {in_memory:?}"
            );
        }
    }
    // 3 per minute: one every 20 s, so the refusal says 20 s and the full 3 in a minute.
    let refused = shared.check("key-3", 3, now).await.unwrap().unwrap_err();
    assert_eq!((refused.remaining, refused.retry_after_secs), (0, 20));
    assert!(
        (now + 59..=now + 60).contains(&refused.reset),
        "{refused:?}"
    );
}

#[tokio::test]
async fn the_script_refills_one_request_per_interval_and_its_keys_expire() {
    let redis = RedisServer::start().await;
    let shared = counter(&redis).await;
    let now = chrono::Utc::now().timestamp();
    // 60 per minute: one a second, bursts of 60, spent here in far less than a second.
    let started = Instant::now();
    for expected in (0..60).rev() {
        let state = shared.check("minute", 60, now).await.unwrap().unwrap();
        assert_eq!(state.remaining, expected);
    }
    let refused = shared.check("minute", 60, now).await.unwrap().unwrap_err();
    assert_eq!(refused.retry_after_secs, 1);
    assert!(
        started.elapsed() < Duration::from_millis(500),
        "{:?}",
        started.elapsed()
    );
    // A second later exactly one more has dripped in.
    tokio::time::sleep(Duration::from_millis(1_100)).await;
    let refilled = shared.check("minute", 60, now).await.unwrap().unwrap();
    assert_eq!(refilled.remaining, 0);
    assert!(shared.check("minute", 60, now).await.unwrap().is_err());

    // The state is one string under the prefix, gone once the bucket would be full again.
    let mut connection = redis.connection().await;
    let key = format!("{KEY_PREFIX}slow");
    shared.check("slow", 60, now).await.unwrap().unwrap();
    let ttl: i64 = redis::cmd("PTTL")
        .arg(&key)
        .query_async(&mut connection)
        .await
        .unwrap();
    assert!(
        (1..=1_000).contains(&ttl),
        "PTTL {ttl} ms for 1 s until full"
    );
    tokio::time::sleep(Duration::from_millis(1_100)).await;
    let exists: i64 = redis::cmd("EXISTS")
        .arg(&key)
        .query_async(&mut connection)
        .await
        .unwrap();
    assert_eq!(exists, 0);
    let full = shared.check("slow", 60, now).await.unwrap().unwrap();
    assert_eq!(full.remaining, 59);
    // The largest limit a key can have still counts in whole microseconds.
    let generous = shared
        .check("generous", 1_000_000, now)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(generous.remaining, 999_999);
}
