//! What Keyward's messages say. Plain text: a link in an HTML message is one
//! more place to hide a different target, and every mail client shows text.

use chrono::{DateTime, Utc};

/// One message to one person.
pub struct Letter {
    pub to: String,
    pub subject: String,
    pub body: String,
}

/// The reset link a user asked for on the sign-in page.
pub fn password_reset(to: &str, link: &str, expires_at: DateTime<Utc>) -> Letter {
    Letter {
        to: to.to_owned(),
        subject: "Reset your Keyward password".to_owned(),
        body: format!(
            "Someone, probably you, asked to reset the password of the Keyward account {to}.\n\
             \n\
             Choose a new password here:\n\
             {link}\n\
             \n\
             The link works once, until {expires} UTC. Using it signs the account out\n\
             everywhere; two-factor sign-in, if it is on, stays on.\n\
             \n\
             If you did not ask for this, ignore this message: your password stays as it is.\n",
            expires = expires_at.format("%Y-%m-%d %H:%M"),
        ),
    }
}

/// An invite an admin made on the Members page.
pub fn invite(
    to: &str,
    workspace: &str,
    inviter: &str,
    role: &str,
    link: &str,
    valid_days: i64,
) -> Letter {
    Letter {
        to: to.to_owned(),
        // Names are the inviter's own text: they stay out of the subject,
        // where a mail client shows them before anything says who sent it.
        subject: "You're invited to a workspace on Keyward".to_owned(),
        body: format!(
            "{inviter} invited you to join the workspace {workspace} on Keyward as {role},\n\
             to manage its API keys.\n\
             \n\
             Accept the invite here:\n\
             {link}\n\
             \n\
             The link works once, for {valid_days} days. If you did not expect this, ignore\n\
             this message.\n"
        ),
    }
}
