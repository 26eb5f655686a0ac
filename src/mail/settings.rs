//! `KEYWARD_SMTP_URL` and `KEYWARD_SMTP_FROM`, checked when the
//! configuration is read so that a bad URL stops the server at start rather
//! than at the first invite.

use lettre::message::Mailbox;
use lettre::{AsyncSmtpTransport, Tokio1Executor};
use std::time::Duration;

/// Where and as whom messages are sent.
#[derive(Clone)]
pub struct SmtpSettings {
    /// The relay's URL, which may carry a password: never printed as is.
    url: String,
    /// `KEYWARD_SMTP_FROM`: the sender every message shows.
    pub from: Mailbox,
}

impl SmtpSettings {
    /// Reads the two variables; `from` defaults to `Keyward <keyward@HOST>`,
    /// HOST taken from the public URL.
    pub fn parse(url: &str, from: Option<&str>, public_url: &str) -> Result<Self, SmtpError> {
        let url = url.trim();
        let Some((scheme, rest)) = url.split_once("://") else {
            return Err(SmtpError::Url);
        };
        // lettre's own parser decides first; its error is not repeated (it might quote the password).
        if !matches!(scheme, "smtp" | "smtps")
            || AsyncSmtpTransport::<Tokio1Executor>::from_url(url).is_err()
        {
            return Err(SmtpError::Url);
        }
        match (scheme, tls_parameter(rest)) {
            ("smtps", _) | ("smtp", Some("required")) => {}
            // Reset links and the relay's password would cross the network in
            // the clear, or behind a STARTTLS a man in the middle can strip.
            ("smtp", Some("opportunistic")) => return Err(SmtpError::Downgradable),
            ("smtp", None) if !is_loopback(host_of(rest)) => return Err(SmtpError::Cleartext),
            _ => {}
        }
        let from = match from.map(str::trim).filter(|from| !from.is_empty()) {
            Some(from) => from.parse().map_err(|_| SmtpError::From)?,
            None => default_sender(public_url)?,
        };
        Ok(Self {
            url: url.to_owned(),
            from,
        })
    }

    /// The URL with its password replaced by `****`.
    pub fn masked_url(&self) -> String {
        crate::config::mask_database_url(&self.url)
    }

    /// How messages are sent: TLS as the URL says.
    pub(super) fn transport(
        &self,
        timeout: Duration,
    ) -> Result<AsyncSmtpTransport<Tokio1Executor>, SmtpError> {
        let builder = AsyncSmtpTransport::<Tokio1Executor>::from_url(&self.url)
            .map_err(|_| SmtpError::Url)?;
        Ok(builder.timeout(Some(timeout)).build())
    }
}

impl std::fmt::Debug for SmtpSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SmtpSettings({}, from {})", self.masked_url(), self.from)
    }
}

/// The `tls` query parameter of what follows `scheme://`.
fn tls_parameter(rest: &str) -> Option<&str> {
    rest.split_once('?')?
        .1
        .split('&')
        .find_map(|pair| pair.strip_prefix("tls="))
}

/// The host of what follows `scheme://`: after any `user:password@`, before
/// the port, path or query. `[::1]` keeps its brackets.
fn host_of(rest: &str) -> &str {
    let authority = rest.split(['/', '?']).next().unwrap_or_default();
    let host_and_port = authority
        .rsplit_once('@')
        .map_or(authority, |(_, host)| host);
    match host_and_port.strip_prefix('[') {
        Some(bracketed) => bracketed.split(']').next().unwrap_or_default(),
        None => host_and_port.split(':').next().unwrap_or_default(),
    }
}

fn is_loopback(host: &str) -> bool {
    host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

fn default_sender(public_url: &str) -> Result<Mailbox, SmtpError> {
    let host = public_url
        .split_once("://")
        .map_or(public_url, |(_, rest)| rest)
        .split(['/', ':'])
        .next()
        .unwrap_or_default();
    format!("Keyward <keyward@{host}>")
        .parse()
        .map_err(|_| SmtpError::From)
}

/// What is wrong with the email settings.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum SmtpError {
    #[error(
        "expected smtp://[user:password@]host[:port][?tls=required] (STARTTLS) or \
         smtps://[user:password@]host[:port] (TLS); percent-encode special characters in the password"
    )]
    Url,
    #[error(
        "plain smtp:// sends the relay's password and every reset link in the clear: use \
         smtps:// or ?tls=required, or a relay on this host (127.0.0.1, localhost)"
    )]
    Cleartext,
    #[error(
        "tls=opportunistic falls back to no TLS when a man in the middle strips STARTTLS: use \
         tls=required"
    )]
    Downgradable,
    #[error(
        "expected a sender such as `Keyward <keys@example.com>` (set KEYWARD_SMTP_FROM when the \
         public URL's host is not a mail domain)"
    )]
    From,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_checked_and_passwords_masked() {
        let settings = SmtpSettings::parse(
            "smtps://keys:hunter2-long@mail.example.com:465",
            None,
            "https://keys.example.com",
        )
        .unwrap();
        assert_eq!(
            settings.masked_url(),
            "smtps://keys:****@mail.example.com:465"
        );
        assert!(!format!("{settings:?}").contains("hunter2"));
        assert_eq!(
            settings.from.to_string(),
            "Keyward <keyward@keys.example.com>"
        );
        for (url, error) in [
            ("smtp://keys:pw@mail.example.com:587", SmtpError::Cleartext),
            ("smtp://mail.example.com", SmtpError::Cleartext),
            ("smtp://127.0.0.1.example.com", SmtpError::Cleartext),
            (
                "smtp://mail.example.com?tls=opportunistic",
                SmtpError::Downgradable,
            ),
        ] {
            assert_eq!(
                SmtpSettings::parse(url, None, "http://localhost:3000").unwrap_err(),
                error,
                "{url:?}"
            );
        }
        for url in [
            "smtp://mail.example.com:587?tls=required",
            "smtp://127.0.0.1:2525",
            "smtp://user:pw@localhost",
            "smtp://[::1]:25",
        ] {
            assert!(
                SmtpSettings::parse(url, None, "http://localhost:3000").is_ok(),
                "{url:?}"
            );
        }
        for url in ["", "mail.example.com", "http://mail.example.com", "smtp://"] {
            assert_eq!(
                SmtpSettings::parse(url, None, "http://localhost:3000").unwrap_err(),
                SmtpError::Url,
                "{url:?}"
            );
        }
    }

    #[test]
    fn the_sender_can_be_named() {
        let settings = SmtpSettings::parse(
            "smtp://127.0.0.1:2525",
            Some("Acme keys <keys@acme.test>"),
            "http://localhost:3000",
        )
        .unwrap();
        assert_eq!(settings.from.email.to_string(), "keys@acme.test");
        assert_eq!(
            SmtpSettings::parse("smtp://127.0.0.1:2525", Some("not an address"), "http://x")
                .unwrap_err(),
            SmtpError::From
        );
    }
}
