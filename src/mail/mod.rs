//! Email, when `KEYWARD_SMTP_URL` is set: invites are emailed as well as
//! shown, "Forgot your password?" sends a reset link, and key-expiry and leak
//! notices go to a key's owner and its workspace's admins ([`notices`]).
//! Without it Keyward sends nothing and every link is passed on by hand.
//!
//! Messages go to an SMTP relay through lettre. The URL says how: `smtps://`
//! is TLS from the first byte, `smtp://…?tls=required` upgrades with
//! STARTTLS and refuses a server that cannot, and plain `smtp://` (a relay
//! on the same host) sends in the clear.

pub mod letters;
pub mod notices;
pub mod settings;

pub use letters::Letter;
pub use settings::SmtpSettings;

use lettre::message::Mailbox;
use lettre::message::header::ContentType;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use std::sync::Arc;
use std::time::Duration;

/// How long one message may take to hand to the relay.
const SEND_TIMEOUT: Duration = Duration::from_secs(20);

/// Why a message was not handed to the relay. Its text names the relay's
/// answer, never the message (which may hold a link).
#[derive(Debug, thiserror::Error)]
pub enum MailError {
    /// The address itself is not repeated: for a reset, that it was tried
    /// at all would tell a log reader the account exists.
    #[error("the recipient's address cannot be written in a message")]
    Address,
    #[error("the message could not be built: {0}")]
    Build(#[from] lettre::error::Error),
    #[error("the mail server did not take the message: {0}")]
    Relay(#[from] lettre::transport::smtp::Error),
}

/// Sends letters through the configured relay. Cheap to clone.
#[derive(Clone)]
pub struct Mailer {
    transport: Arc<AsyncSmtpTransport<Tokio1Executor>>,
    from: Mailbox,
}

impl Mailer {
    /// The mailer for `settings`; nothing connects until the first message.
    pub fn new(settings: &SmtpSettings) -> Result<Self, settings::SmtpError> {
        Ok(Self {
            transport: Arc::new(settings.transport(SEND_TIMEOUT)?),
            from: settings.from.clone(),
        })
    }

    /// Hands `letter` to the relay, waiting for its answer.
    pub async fn send(&self, letter: Letter) -> Result<(), MailError> {
        let to: Mailbox = letter.to.parse().map_err(|_| MailError::Address)?;
        let message = Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(letter.subject)
            .header(ContentType::TEXT_PLAIN)
            .body(letter.body)?;
        self.transport.send(message).await?;
        Ok(())
    }
}
