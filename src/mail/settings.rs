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
        match url.split_once("://").map(|(scheme, _)| scheme) {
            Some("smtp" | "smtps") => {}
            _ => return Err(SmtpError::Url),
        }
        // lettre's own parser decides; its error is not repeated (it might quote the password).
        AsyncSmtpTransport::<Tokio1Executor>::from_url(url).map_err(|_| SmtpError::Url)?;
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
