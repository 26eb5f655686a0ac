//! Every setting Keyward reads, in one place, each with a default that works
//! for a first local run. The README lists them all.

use crate::keys::catalogue::ScopeCatalogue;
use crate::keys::format::KeyPrefix;
use ipnet::IpNet;
use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

/// Why the configuration could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{name} is not valid: {reason}")]
    Invalid { name: &'static str, reason: String },
}

#[derive(Clone, Debug)]
pub struct Config {
    /// `KEYWARD_ADDR`: where the server listens.
    pub addr: SocketAddr,
    /// `KEYWARD_PUBLIC_URL`: the origin users open (links, CSRF origin check).
    pub public_url: String,
    /// Whether `KEYWARD_PUBLIC_URL` was set. Without it (local development) the
    /// CSRF check also accepts the request's own Host.
    pub public_url_is_set: bool,
    /// `DATABASE_URL`: `sqlite://…` (embedded default) or `postgres://…`.
    pub database_url: String,
    /// `KEYWARD_COOKIE_SECURE`: mark the session cookie `Secure` (off only for plain-HTTP local runs).
    pub cookie_secure: bool,
    /// `KEYWARD_SESSION_IDLE_HOURS`: sessions end after this long without a request.
    pub session_idle_hours: i64,
    /// `KEYWARD_KEY_PREFIX`: the first part of every API key, e.g. `kw` in `kw_live_…`.
    pub key_prefix: KeyPrefix,
    /// `KEYWARD_LOG` (or `RUST_LOG`): tracing filter.
    pub log_filter: String,
    /// `LEPTOS_SITE_ROOT`: directory with the built `pkg/` bundle and public assets
    /// (unset: see [`default_site_root`]).
    pub site_root: String,
    /// `KEYWARD_KEY_CACHE_CAPACITY`: keys the verifier keeps in memory.
    pub key_cache_capacity: u64,
    /// `KEYWARD_LAST_USED_FLUSH_MS`: how often last-used times are written to the store.
    pub last_used_flush_ms: u64,
    /// `KEYWARD_OUTAGE_ANSWER_SECS`: on PostgreSQL, how long after the change
    /// listener lost the store cached keys keep answering while the store
    /// cannot be read (0: fail closed at once).
    pub outage_answer_secs: u64,
    /// `KEYWARD_USAGE_RECORDING`, `KEYWARD_USAGE_MINUTE_RETENTION_HOURS`,
    /// `KEYWARD_USAGE_HOUR_RETENTION_DAYS`: whether verifications are counted, and how long the counts are kept.
    pub usage: crate::usage::retention::UsagePolicy,
    /// `KEYWARD_FORWARD_AUTH_SERVICE_TOKEN`: whether `GET /v1/auth` requires a service token.
    pub forward_auth_requires_service_token: bool,
    /// `KEYWARD_SCOPES_FILE`: the product scopes keys may hold (the built-in example when unset).
    pub scopes: Arc<ScopeCatalogue>,
    /// The file `scopes` came from, if any (shown by `keyward check-config`).
    pub scopes_file: Option<String>,
    /// `KEYWARD_TRUSTED_PROXIES`: socket peers whose `X-Forwarded-For` is believed.
    pub trusted_proxies: Vec<IpNet>,
    /// `KEYWARD_GITHUB_KEYS_URL`: where GitHub's secret-scanning public keys are fetched.
    pub github_keys_url: String,
    /// `KEYWARD_REDIS_*`: where rate limits are counted when instances share them.
    pub redis: RedisSettings,
    /// `KEYWARD_WEBHOOK_*`: where webhooks may go, and the delivery worker's timings.
    pub webhooks: crate::webhooks::schedule::WebhookSettings,
    /// `KEYWARD_SECRET_KEY`: seals two-factor secrets at rest. Without it,
    /// two-factor sign-in cannot be turned on.
    pub secret_key: Option<crate::secret_key::SecretKey>,
    /// `KEYWARD_SMTP_URL`, `KEYWARD_SMTP_FROM`: where email goes out. Without
    /// them Keyward sends none: invite and reset links are passed on by hand.
    pub smtp: Option<crate::mail::SmtpSettings>,
    /// `KEYWARD_NOTICE_POLL_MS`: how often the key notice sender looks for due notices.
    pub notice_poll: std::time::Duration,
}

/// `KEYWARD_REDIS_URL`: a Redis URL, which may carry a password, so it never
/// prints as is (`Debug` masks it; [`RedisUrl::masked`] is what logs show).
#[derive(Clone, PartialEq, Eq)]
pub struct RedisUrl(String);

impl RedisUrl {
    /// Accepts `redis://` and `unix://` (or `redis+unix://`) URLs that the client can use.
    pub fn parse(text: &str) -> Result<Self, String> {
        let text = text.trim();
        let scheme = text.split_once("://").map(|(scheme, _)| scheme);
        match scheme {
            Some("redis" | "unix" | "redis+unix") => {}
            Some("rediss") => {
                return Err(
                    "TLS (rediss://) is not built in: reach Redis over a private \
                     network, or through a local TLS tunnel such as stunnel"
                        .into(),
                );
            }
            _ => {
                return Err(
                    "expected redis://[user:password@]host[:port][/db] or unix:///path/to/redis.sock"
                        .into(),
                );
            }
        }
        // The client's own parser decides; its error is not repeated (it might quote the password).
        redis::Client::open(text)
            .map(|_| Self(text.to_owned()))
            .map_err(|_| {
                "not a Redis URL the client can use: expected redis://[user:password@]host[:port][/db] \
                 or unix:///path/to/redis.sock (percent-encode special characters in the password)"
                    .to_owned()
            })
    }

    /// The URL to connect with.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// The URL with its password replaced by `****`.
    pub fn masked(&self) -> String {
        mask_database_url(&self.0)
    }
}

impl std::fmt::Debug for RedisUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "RedisUrl({})", self.masked())
    }
}

/// `KEYWARD_REDIS_FALLBACK`: what a limited key's verification does while Redis
/// cannot be reached.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RedisFallback {
    /// Count in this instance's memory, as without Redis (up to k × N with k instances).
    Local,
    /// Answer 503 `UNAVAILABLE`: no verification of a limited key goes uncounted.
    Refuse,
}

impl RedisFallback {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Local => "local",
            Self::Refuse => "refuse",
        }
    }
}

/// Shared rate limits (docs/deploy.md, "Several instances").
#[derive(Clone, Debug)]
pub struct RedisSettings {
    /// `KEYWARD_REDIS_URL`; none: each instance counts its own limits.
    pub url: Option<RedisUrl>,
    /// `KEYWARD_REDIS_FALLBACK`.
    pub fallback: RedisFallback,
    /// `KEYWARD_REDIS_TIMEOUT_MS`: the most one verification waits for Redis.
    pub timeout: Duration,
    /// `KEYWARD_REDIS_RETRY_MS`: after a failure, how long Redis is left alone.
    pub retry_after: Duration,
}

pub const DEFAULT_DATABASE_URL: &str = "sqlite://data/keyward.db";

/// The site root of a build tree, relative to the working directory (cargo-leptos' `site-root`).
pub const BUILD_TREE_SITE_ROOT: &str = "target/site";

/// Where the built site is when `LEPTOS_SITE_ROOT` is unset: the `site/` directory
/// beside the binary when there is one (the release tarball's layout, so that an
/// unpacked package runs from anywhere), else `target/site` (a build tree, `./run`).
pub fn default_site_root(exe_dir: Option<&Path>) -> String {
    match exe_dir.map(|dir| dir.join("site")) {
        Some(site) if site.is_dir() => site.display().to_string(),
        _ => BUILD_TREE_SITE_ROOT.into(),
    }
}

/// The directory of the running binary, where the package keeps `site/` and `hash.txt`.
pub fn exe_dir() -> Option<std::path::PathBuf> {
    std::env::current_exe()
        .ok()
        .and_then(|exe| exe.parent().map(Path::to_path_buf))
}

/// A database URL fit to print: the password (in the user info or a `password`
/// query parameter) replaced by `****`.
pub fn mask_database_url(url: &str) -> String {
    let (scheme, rest) = match url.split_once("://") {
        Some((scheme, rest)) => (scheme, rest),
        None => return url.to_owned(),
    };
    let (before_query, query) = match rest.split_once('?') {
        Some((path, query)) => (path, Some(query)),
        None => (rest, None),
    };
    let authority_end = before_query.find('/').unwrap_or(before_query.len());
    let (authority, path) = before_query.split_at(authority_end);
    let authority = match authority.rsplit_once('@') {
        Some((user_info, host)) => match user_info.split_once(':') {
            Some((user, _password)) => format!("{user}:****@{host}"),
            None => authority.to_owned(),
        },
        None => authority.to_owned(),
    };
    let query = query.map(|query| {
        query
            .split('&')
            .map(|pair| match pair.split_once('=') {
                // `pass` is how Redis' unix-socket URLs carry one.
                Some((name, _))
                    if name.to_ascii_lowercase().contains("password")
                        || name.eq_ignore_ascii_case("pass") =>
                {
                    format!("{name}=****")
                }
                _ => pair.to_owned(),
            })
            .collect::<Vec<_>>()
            .join("&")
    });
    match query {
        Some(query) => format!("{scheme}://{authority}{path}?{query}"),
        None => format!("{scheme}://{authority}{path}"),
    }
}

impl Config {
    /// Reads the process environment (after loading `.env`, if present).
    pub fn from_env() -> Result<Self, ConfigError> {
        let _ = dotenvy::dotenv();
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Builds a configuration from any name → value lookup (tests pass a map).
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let addr_text = get("KEYWARD_ADDR").unwrap_or_else(|| "127.0.0.1:3000".into());
        let addr: SocketAddr = addr_text.parse().map_err(|_| ConfigError::Invalid {
            name: "KEYWARD_ADDR",
            reason: format!("expected host:port such as 127.0.0.1:3000, got {addr_text:?}"),
        })?;
        let public_url_is_set = get("KEYWARD_PUBLIC_URL").is_some();
        let public_url = get("KEYWARD_PUBLIC_URL")
            .unwrap_or_else(|| format!("http://{addr}"))
            .trim_end_matches('/')
            .to_owned();
        if !(public_url.starts_with("http://") || public_url.starts_with("https://")) {
            return Err(ConfigError::Invalid {
                name: "KEYWARD_PUBLIC_URL",
                reason: "must start with http:// or https://".into(),
            });
        }
        let database_url = get("DATABASE_URL").unwrap_or_else(|| DEFAULT_DATABASE_URL.into());
        if !(database_url.starts_with("sqlite:") || database_url.starts_with("postgres")) {
            return Err(ConfigError::Invalid {
                name: "DATABASE_URL",
                reason: "must be a sqlite:// or postgres:// URL".into(),
            });
        }
        let cookie_secure =
            parse_bool("KEYWARD_COOKIE_SECURE", get("KEYWARD_COOKIE_SECURE"), true)?;
        let session_idle_hours = match get("KEYWARD_SESSION_IDLE_HOURS") {
            None => 12,
            Some(text) => text
                .parse()
                .ok()
                .filter(|h| (1..=24 * 90).contains(h))
                .ok_or(ConfigError::Invalid {
                    name: "KEYWARD_SESSION_IDLE_HOURS",
                    reason: "expected a whole number of hours between 1 and 2160".into(),
                })?,
        };
        let key_prefix = KeyPrefix::parse(get("KEYWARD_KEY_PREFIX").as_deref().unwrap_or("kw"))
            .ok_or(ConfigError::Invalid {
                name: "KEYWARD_KEY_PREFIX",
                reason: "expected 2 to 8 lower-case letters".into(),
            })?;
        let log_filter = get("KEYWARD_LOG")
            .or_else(|| get("RUST_LOG"))
            .unwrap_or_else(|| "info,sqlx=warn,tower_sessions=warn".into());
        let site_root = get("LEPTOS_SITE_ROOT")
            .filter(|root| !root.trim().is_empty())
            .unwrap_or_else(|| default_site_root(exe_dir().as_deref()));
        let key_cache_capacity = parse_number(
            "KEYWARD_KEY_CACHE_CAPACITY",
            get("KEYWARD_KEY_CACHE_CAPACITY"),
            100_000,
            1..=100_000_000,
        )?;
        let last_used_flush_ms = parse_number(
            "KEYWARD_LAST_USED_FLUSH_MS",
            get("KEYWARD_LAST_USED_FLUSH_MS"),
            1_000,
            10..=86_400_000,
        )?;
        let outage_answer_secs = parse_number(
            "KEYWARD_OUTAGE_ANSWER_SECS",
            get("KEYWARD_OUTAGE_ANSWER_SECS"),
            30,
            // Never beyond the key cache's own lifetime of an entry (5 minutes).
            0..=300,
        )?;
        let usage = usage_policy(&get)?;
        let forward_auth_requires_service_token = parse_bool(
            "KEYWARD_FORWARD_AUTH_SERVICE_TOKEN",
            get("KEYWARD_FORWARD_AUTH_SERVICE_TOKEN"),
            true,
        )?;
        let scopes_file = get("KEYWARD_SCOPES_FILE")
            .map(|path| path.trim().to_owned())
            .filter(|path| !path.is_empty());
        let scopes = match &scopes_file {
            None => ScopeCatalogue::default(),
            Some(path) => {
                ScopeCatalogue::load(path.trim()).map_err(|error| ConfigError::Invalid {
                    name: "KEYWARD_SCOPES_FILE",
                    reason: error.to_string(),
                })?
            }
        };
        let trusted_proxies = parse_networks(
            "KEYWARD_TRUSTED_PROXIES",
            get("KEYWARD_TRUSTED_PROXIES").as_deref(),
        )?;
        let github_keys_url = get("KEYWARD_GITHUB_KEYS_URL")
            .map(|url| url.trim().to_owned())
            .filter(|url| !url.is_empty())
            .unwrap_or_else(|| crate::leaks::github::DEFAULT_KEYS_URL.to_owned());
        // Whoever serves this document can sign leak reports: plain HTTP only on loopback.
        let loopback_http = ["http://127.0.0.1", "http://localhost", "http://[::1]"]
            .iter()
            .any(|host| {
                github_keys_url
                    .strip_prefix(host)
                    .is_some_and(|rest| rest.is_empty() || rest.starts_with([':', '/']))
            });
        if !(github_keys_url.starts_with("https://") || loopback_http) {
            return Err(ConfigError::Invalid {
                name: "KEYWARD_GITHUB_KEYS_URL",
                reason: "must start with https:// (http:// only for 127.0.0.1, localhost or [::1])"
                    .into(),
            });
        }
        let redis = redis_settings(&get)?;
        let webhooks = webhook_settings(&get)?;
        let secret_key = get("KEYWARD_SECRET_KEY")
            .filter(|text| !text.trim().is_empty())
            .map(|text| crate::secret_key::SecretKey::parse(&text))
            .transpose()
            .map_err(|reason| ConfigError::Invalid {
                name: "KEYWARD_SECRET_KEY",
                reason,
            })?;
        let smtp = get("KEYWARD_SMTP_URL")
            .filter(|text| !text.trim().is_empty())
            .map(|url| {
                let from = get("KEYWARD_SMTP_FROM");
                crate::mail::SmtpSettings::parse(&url, from.as_deref(), &public_url).map_err(
                    |error| ConfigError::Invalid {
                        name: match error {
                            crate::mail::settings::SmtpError::From => "KEYWARD_SMTP_FROM",
                            _ => "KEYWARD_SMTP_URL",
                        },
                        reason: error.to_string(),
                    },
                )
            })
            .transpose()?;
        let notice_poll = std::time::Duration::from_millis(parse_number(
            "KEYWARD_NOTICE_POLL_MS",
            get("KEYWARD_NOTICE_POLL_MS"),
            15_000,
            10..=3_600_000,
        )?);
        Ok(Self {
            addr,
            public_url,
            public_url_is_set,
            database_url,
            cookie_secure,
            session_idle_hours,
            key_prefix,
            log_filter,
            site_root,
            key_cache_capacity,
            last_used_flush_ms,
            outage_answer_secs,
            usage,
            forward_auth_requires_service_token,
            scopes: Arc::new(scopes),
            scopes_file,
            trusted_proxies,
            github_keys_url,
            redis,
            webhooks,
            notice_poll,
            secret_key,
            smtp,
        })
    }

    /// The effective settings, one `(variable, value)` per line of the README's
    /// table, with secrets masked: what `keyward check-config` prints.
    pub fn describe(&self) -> Vec<(&'static str, String)> {
        let proxies = if self.trusted_proxies.is_empty() {
            "(none: the socket peer is the client)".to_owned()
        } else {
            self.trusted_proxies
                .iter()
                .map(IpNet::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        };
        let scopes = format!(
            "{} ({} product scopes)",
            self.scopes_file.as_deref().unwrap_or("(built-in example)"),
            self.scopes.product_scopes().len()
        );
        vec![
            ("KEYWARD_ADDR", self.addr.to_string()),
            ("KEYWARD_PUBLIC_URL", self.public_url.clone()),
            ("DATABASE_URL", mask_database_url(&self.database_url)),
            ("KEYWARD_COOKIE_SECURE", self.cookie_secure.to_string()),
            (
                "KEYWARD_SESSION_IDLE_HOURS",
                self.session_idle_hours.to_string(),
            ),
            ("KEYWARD_KEY_PREFIX", self.key_prefix.as_str().to_owned()),
            ("KEYWARD_LOG", self.log_filter.clone()),
            ("LEPTOS_SITE_ROOT", self.site_root.clone()),
            (
                "KEYWARD_KEY_CACHE_CAPACITY",
                self.key_cache_capacity.to_string(),
            ),
            (
                "KEYWARD_LAST_USED_FLUSH_MS",
                self.last_used_flush_ms.to_string(),
            ),
            (
                "KEYWARD_OUTAGE_ANSWER_SECS",
                self.outage_answer_secs.to_string(),
            ),
            ("KEYWARD_USAGE_RECORDING", self.usage.recording.to_string()),
            (
                "KEYWARD_USAGE_MINUTE_RETENTION_HOURS",
                self.usage.minute_retention.num_hours().to_string(),
            ),
            (
                "KEYWARD_USAGE_HOUR_RETENTION_DAYS",
                self.usage.hour_retention.num_days().to_string(),
            ),
            (
                "KEYWARD_FORWARD_AUTH_SERVICE_TOKEN",
                self.forward_auth_requires_service_token.to_string(),
            ),
            ("KEYWARD_SCOPES_FILE", scopes),
            ("KEYWARD_TRUSTED_PROXIES", proxies),
            (
                "KEYWARD_REDIS_URL",
                match &self.redis.url {
                    Some(url) => url.masked(),
                    None => "(none: each instance counts its own rate limits)".to_owned(),
                },
            ),
            (
                "KEYWARD_REDIS_FALLBACK",
                self.redis.fallback.as_str().to_owned(),
            ),
            (
                "KEYWARD_REDIS_TIMEOUT_MS",
                self.redis.timeout.as_millis().to_string(),
            ),
            (
                "KEYWARD_REDIS_RETRY_MS",
                self.redis.retry_after.as_millis().to_string(),
            ),
            (
                "KEYWARD_WEBHOOK_ALLOW_PRIVATE",
                self.webhooks.allow_private.to_string(),
            ),
            (
                "KEYWARD_WEBHOOK_TIMEOUT_MS",
                self.webhooks.timeout.as_millis().to_string(),
            ),
            (
                "KEYWARD_WEBHOOK_RETRY_FIRST_MS",
                self.webhooks.first_retry.as_millis().to_string(),
            ),
            (
                "KEYWARD_WEBHOOK_RETRY_LAST_MS",
                self.webhooks.last_retry.as_millis().to_string(),
            ),
            (
                "KEYWARD_WEBHOOK_ATTEMPTS",
                self.webhooks.attempts.to_string(),
            ),
            (
                "KEYWARD_WEBHOOK_POLL_MS",
                self.webhooks.poll.as_millis().to_string(),
            ),
            (
                "KEYWARD_SECRET_KEY",
                match self.secret_key {
                    Some(_) => "**** (set: two-factor sign-in can be turned on)".to_owned(),
                    None => "(none: two-factor sign-in cannot be turned on)".to_owned(),
                },
            ),
            (
                "KEYWARD_SMTP_URL",
                match &self.smtp {
                    Some(smtp) => smtp.masked_url(),
                    None => "(none: no email is sent; links are passed on by hand)".to_owned(),
                },
            ),
            (
                "KEYWARD_SMTP_FROM",
                match &self.smtp {
                    Some(smtp) => smtp.from.to_string(),
                    None => "(unused without KEYWARD_SMTP_URL)".to_owned(),
                },
            ),
            (
                "KEYWARD_NOTICE_POLL_MS",
                self.notice_poll.as_millis().to_string(),
            ),
        ]
    }
}

fn redis_settings(get: &impl Fn(&str) -> Option<String>) -> Result<RedisSettings, ConfigError> {
    let url = get("KEYWARD_REDIS_URL")
        .filter(|url| !url.trim().is_empty())
        .map(|url| RedisUrl::parse(&url))
        .transpose()
        .map_err(|reason| ConfigError::Invalid {
            name: "KEYWARD_REDIS_URL",
            reason,
        })?;
    let fallback = match get("KEYWARD_REDIS_FALLBACK")
        .map(|text| text.trim().to_ascii_lowercase())
        .as_deref()
    {
        None | Some("local") => RedisFallback::Local,
        Some("refuse") => RedisFallback::Refuse,
        Some(other) => {
            return Err(ConfigError::Invalid {
                name: "KEYWARD_REDIS_FALLBACK",
                reason: format!("expected local or refuse, got {other:?}"),
            });
        }
    };
    let timeout_ms = parse_number(
        "KEYWARD_REDIS_TIMEOUT_MS",
        get("KEYWARD_REDIS_TIMEOUT_MS"),
        100,
        5..=10_000,
    )?;
    let retry_ms = parse_number(
        "KEYWARD_REDIS_RETRY_MS",
        get("KEYWARD_REDIS_RETRY_MS"),
        1_000,
        50..=600_000,
    )?;
    Ok(RedisSettings {
        url,
        fallback,
        timeout: Duration::from_millis(timeout_ms),
        retry_after: Duration::from_millis(retry_ms),
    })
}

fn usage_policy(
    get: &impl Fn(&str) -> Option<String>,
) -> Result<crate::usage::retention::UsagePolicy, ConfigError> {
    let recording = parse_bool(
        "KEYWARD_USAGE_RECORDING",
        get("KEYWARD_USAGE_RECORDING"),
        true,
    )?;
    let minute_hours = parse_number(
        "KEYWARD_USAGE_MINUTE_RETENTION_HOURS",
        get("KEYWARD_USAGE_MINUTE_RETENTION_HOURS"),
        48,
        3..=720,
    )?;
    let hour_days = parse_number(
        "KEYWARD_USAGE_HOUR_RETENTION_DAYS",
        get("KEYWARD_USAGE_HOUR_RETENTION_DAYS"),
        90,
        1..=3_650,
    )?;
    // Hours are rolled up from minutes: they must outlive them.
    if hour_days * 24 < minute_hours {
        return Err(ConfigError::Invalid {
            name: "KEYWARD_USAGE_HOUR_RETENTION_DAYS",
            reason: format!(
                "hourly usage must be kept at least as long as minute usage ({minute_hours} hours)"
            ),
        });
    }
    Ok(crate::usage::retention::UsagePolicy {
        recording,
        minute_retention: chrono::Duration::hours(minute_hours as i64),
        hour_retention: chrono::Duration::days(hour_days as i64),
    })
}

fn webhook_settings(
    get: &impl Fn(&str) -> Option<String>,
) -> Result<crate::webhooks::schedule::WebhookSettings, ConfigError> {
    use std::time::Duration;
    let ms = |name: &'static str, default: u64, range| -> Result<Duration, ConfigError> {
        parse_number(name, get(name), default, range).map(Duration::from_millis)
    };
    let first_retry = ms("KEYWARD_WEBHOOK_RETRY_FIRST_MS", 5_000, 10..=86_400_000)?;
    let last_retry = ms(
        "KEYWARD_WEBHOOK_RETRY_LAST_MS",
        28_800_000,
        10..=604_800_000,
    )?;
    if last_retry < first_retry {
        return Err(ConfigError::Invalid {
            name: "KEYWARD_WEBHOOK_RETRY_LAST_MS",
            reason: "must be at least KEYWARD_WEBHOOK_RETRY_FIRST_MS".into(),
        });
    }
    Ok(crate::webhooks::schedule::WebhookSettings {
        allow_private: parse_bool(
            "KEYWARD_WEBHOOK_ALLOW_PRIVATE",
            get("KEYWARD_WEBHOOK_ALLOW_PRIVATE"),
            false,
        )?,
        timeout: ms("KEYWARD_WEBHOOK_TIMEOUT_MS", 10_000, 100..=60_000)?,
        first_retry,
        last_retry,
        attempts: parse_number(
            "KEYWARD_WEBHOOK_ATTEMPTS",
            get("KEYWARD_WEBHOOK_ATTEMPTS"),
            8,
            1..=20,
        )? as u32,
        poll: ms("KEYWARD_WEBHOOK_POLL_MS", 5_000, 10..=600_000)?,
    })
}

fn parse_bool(
    name: &'static str,
    value: Option<String>,
    default: bool,
) -> Result<bool, ConfigError> {
    match value.as_deref().map(str::to_ascii_lowercase).as_deref() {
        None => Ok(default),
        Some("1" | "true" | "yes" | "on") => Ok(true),
        Some("0" | "false" | "no" | "off") => Ok(false),
        Some(other) => Err(ConfigError::Invalid {
            name,
            reason: format!("expected true or false, got {other:?}"),
        }),
    }
}

/// A comma-separated list of CIDR ranges (`10.0.0.0/8, ::1/128`); a bare address
/// stands for itself alone. Empty or unset: no proxy is trusted.
fn parse_networks(name: &'static str, value: Option<&str>) -> Result<Vec<IpNet>, ConfigError> {
    value
        .unwrap_or_default()
        .split(',')
        .map(str::trim)
        .filter(|entry| !entry.is_empty())
        .map(|entry| {
            entry
                .parse::<IpNet>()
                .or_else(|_| entry.parse::<IpAddr>().map(IpNet::from))
                .map(|net| net.trunc())
                .map_err(|_| ConfigError::Invalid {
                    name,
                    reason: format!(
                        "expected comma-separated CIDR ranges such as 10.0.0.0/8 or ::1/128, got {entry:?}"
                    ),
                })
        })
        .collect()
}

fn parse_number(
    name: &'static str,
    value: Option<String>,
    default: u64,
    range: std::ops::RangeInclusive<u64>,
) -> Result<u64, ConfigError> {
    let Some(text) = value else {
        return Ok(default);
    };
    text.trim()
        .parse()
        .ok()
        .filter(|n| range.contains(n))
        .ok_or(ConfigError::Invalid {
            name,
            reason: format!(
                "expected a whole number from {} to {}, got {text:?}",
                range.start(),
                range.end()
            ),
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn config(pairs: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Config::from_lookup(|name| map.get(name).cloned())
    }

    #[test]
    fn defaults_serve_sqlite_on_localhost() {
        let config = config(&[]).unwrap();
        assert_eq!(config.addr.to_string(), "127.0.0.1:3000");
        assert_eq!(config.public_url, "http://127.0.0.1:3000");
        assert!(!config.public_url_is_set);
        assert_eq!(config.database_url, DEFAULT_DATABASE_URL);
        assert!(config.cookie_secure);
        assert_eq!(config.session_idle_hours, 12);
        assert_eq!(config.key_prefix.as_str(), "kw");
    }

    #[test]
    fn bad_values_name_the_variable() {
        for (name, value) in [
            ("KEYWARD_ADDR", "nope"),
            ("KEYWARD_COOKIE_SECURE", "maybe"),
            ("KEYWARD_KEY_PREFIX", "K_W"),
            ("KEYWARD_SESSION_IDLE_HOURS", "0"),
            ("DATABASE_URL", "mysql://x"),
            ("KEYWARD_PUBLIC_URL", "example.com"),
            ("KEYWARD_KEY_CACHE_CAPACITY", "lots"),
            ("KEYWARD_LAST_USED_FLUSH_MS", "0"),
            ("KEYWARD_FORWARD_AUTH_SERVICE_TOKEN", "perhaps"),
            ("KEYWARD_TRUSTED_PROXIES", "10.0.0.0/8, nginx"),
            ("KEYWARD_TRUSTED_PROXIES", "10.0.0.0/33"),
            ("KEYWARD_GITHUB_KEYS_URL", "api.github.com/meta"),
            ("KEYWARD_REDIS_URL", "localhost:6379"),
            ("KEYWARD_REDIS_URL", "rediss://cache.internal:6380"),
            ("KEYWARD_REDIS_URL", "redis://"),
            ("KEYWARD_REDIS_FALLBACK", "allow"),
            ("KEYWARD_REDIS_TIMEOUT_MS", "0"),
            ("KEYWARD_REDIS_TIMEOUT_MS", "soon"),
            ("KEYWARD_REDIS_RETRY_MS", "10"),
            ("KEYWARD_WEBHOOK_ALLOW_PRIVATE", "sometimes"),
            ("KEYWARD_WEBHOOK_TIMEOUT_MS", "0"),
            ("KEYWARD_WEBHOOK_ATTEMPTS", "0"),
            ("KEYWARD_WEBHOOK_RETRY_LAST_MS", "5"),
            ("KEYWARD_WEBHOOK_POLL_MS", "soon"),
        ] {
            let error = config(&[(name, value)]).unwrap_err().to_string();
            assert!(error.contains(name), "{error}");
        }
    }

    #[test]
    fn a_bad_scopes_file_is_refused_with_its_name_and_line() {
        let path = std::env::temp_dir().join(format!("scopes-{}.toml", uuid::Uuid::new_v4()));
        std::fs::write(&path, "[[scope]]\nname = \"reports:read\"\ndescription = \"Read reports\"\n\n[[scope]]\nname = \"Reports\"\ndescription = \"x\"\n").unwrap();
        let path_text = path.display().to_string();
        let error = config(&[("KEYWARD_SCOPES_FILE", &path_text)])
            .unwrap_err()
            .to_string();
        assert!(error.contains("KEYWARD_SCOPES_FILE"), "{error}");
        assert!(error.contains("line 6"), "{error}");
        std::fs::write(
            &path,
            "[[scope]]\nname = \"reports:read\"\ndescription = \"Read reports\"\n",
        )
        .unwrap();
        let loaded = config(&[("KEYWARD_SCOPES_FILE", &path_text)]).unwrap();
        assert!(loaded.scopes.contains("reports:read"));
        assert!(!loaded.scopes.contains("invoices:read"));
        std::fs::remove_file(&path).unwrap();
        let missing = config(&[("KEYWARD_SCOPES_FILE", &path_text)])
            .unwrap_err()
            .to_string();
        assert!(missing.contains("could not be read"), "{missing}");
    }

    #[test]
    fn trusted_proxies_are_cidr_ranges_or_addresses() {
        assert!(config(&[]).unwrap().trusted_proxies.is_empty());
        let config = config(&[("KEYWARD_TRUSTED_PROXIES", " 10.1.2.3/8 ,::1, ")]).unwrap();
        let ranges: Vec<String> = config
            .trusted_proxies
            .iter()
            .map(IpNet::to_string)
            .collect();
        assert_eq!(ranges, ["10.0.0.0/8", "::1/128"]);
    }

    #[test]
    fn the_site_is_looked_for_beside_the_binary_first() {
        let dir = std::env::temp_dir().join(format!("keyward-exe-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        assert_eq!(default_site_root(Some(&dir)), BUILD_TREE_SITE_ROOT);
        assert_eq!(default_site_root(None), BUILD_TREE_SITE_ROOT);
        std::fs::create_dir(dir.join("site")).unwrap();
        assert_eq!(
            default_site_root(Some(&dir)),
            dir.join("site").display().to_string()
        );
        std::fs::remove_dir_all(&dir).unwrap();
        // An explicit root always wins.
        let config = config(&[("LEPTOS_SITE_ROOT", "/srv/keyward/site")]).unwrap();
        assert_eq!(config.site_root, "/srv/keyward/site");
    }

    #[test]
    fn database_passwords_are_masked() {
        for (url, masked) in [
            (
                "postgres://keyward:s3cr%40t@db.internal:5432/keyward",
                "postgres://keyward:****@db.internal:5432/keyward",
            ),
            (
                "postgres://keyward@db/keyward?sslmode=require&password=s3cret",
                "postgres://keyward@db/keyward?sslmode=require&password=****",
            ),
            ("postgres://db/keyward", "postgres://db/keyward"),
            ("sqlite://data/keyward.db", "sqlite://data/keyward.db"),
            ("postgres://u:p@w@host/db", "postgres://u:****@host/db"),
        ] {
            assert_eq!(mask_database_url(url), masked);
        }
        let described = config(&[("DATABASE_URL", "postgres://u:hunter2@h/db")])
            .unwrap()
            .describe();
        assert!(
            described
                .iter()
                .all(|(_, value)| !value.contains("hunter2")),
            "{described:?}"
        );
    }

    #[test]
    fn the_secret_key_is_optional_checked_and_never_shown() {
        assert!(config(&[]).unwrap().secret_key.is_none());
        let key = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";
        let config_with_key = config(&[("KEYWARD_SECRET_KEY", key)]).unwrap();
        assert!(config_with_key.secret_key.is_some());
        assert!(!format!("{config_with_key:?}").contains("0a0b0c"));
        assert!(
            config_with_key
                .describe()
                .iter()
                .all(|(_, value)| !value.contains("0a0b0c"))
        );
        let Err(ConfigError::Invalid { name, reason }) =
            config(&[("KEYWARD_SECRET_KEY", "too-short")])
        else {
            panic!("a short key must be refused");
        };
        assert_eq!(name, "KEYWARD_SECRET_KEY");
        assert!(reason.contains("32"), "{reason}");
    }

    #[test]
    fn redis_is_off_by_default_and_its_password_never_shows() {
        let defaults = config(&[]).unwrap();
        assert_eq!(defaults.redis.url, None);
        assert_eq!(defaults.redis.fallback, RedisFallback::Local);
        assert_eq!(defaults.redis.timeout, Duration::from_millis(100));
        assert_eq!(defaults.redis.retry_after, Duration::from_secs(1));

        let config = config(&[
            (
                "KEYWARD_REDIS_URL",
                "redis://limits:hunter2@cache.internal:6379/2",
            ),
            ("KEYWARD_REDIS_FALLBACK", "Refuse"),
            ("KEYWARD_REDIS_TIMEOUT_MS", "50"),
            ("KEYWARD_REDIS_RETRY_MS", "2000"),
        ])
        .unwrap();
        let url = config.redis.url.as_ref().unwrap();
        assert_eq!(url.expose(), "redis://limits:hunter2@cache.internal:6379/2");
        assert_eq!(url.masked(), "redis://limits:****@cache.internal:6379/2");
        assert_eq!(config.redis.fallback, RedisFallback::Refuse);
        assert_eq!(config.redis.timeout, Duration::from_millis(50));
        assert_eq!(config.redis.retry_after, Duration::from_secs(2));
        assert!(!format!("{config:?}").contains("hunter2"));
        let described = config.describe();
        assert!(
            described
                .iter()
                .all(|(_, value)| !value.contains("hunter2")),
            "{described:?}"
        );
        assert!(described.contains(&("KEYWARD_REDIS_FALLBACK", "refuse".to_owned())));

        let socket = RedisUrl::parse("unix:///run/redis.sock?pass=hunter2&db=1").unwrap();
        assert_eq!(socket.masked(), "unix:///run/redis.sock?pass=****&db=1");
        // A bad URL's error does not repeat it.
        let error = RedisUrl::parse("redis://u:hunter2@[bad").unwrap_err();
        assert!(!error.contains("hunter2"), "{error}");
    }

    #[test]
    fn public_url_loses_its_trailing_slash() {
        let config = config(&[("KEYWARD_PUBLIC_URL", "https://keys.example.com/")]).unwrap();
        assert_eq!(config.public_url, "https://keys.example.com");
        assert!(config.public_url_is_set);
    }
}
