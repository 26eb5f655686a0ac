//! What Keyward's messages say. Plain text: a link in an HTML message is one
//! more place to hide a different target, and every mail client shows text.

use super::notices::NoticeKind;
use chrono::{DateTime, Utc};
use std::fmt::Write;

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

/// One key notice in a [`key_notices`] message.
pub struct KeyNoticeItem {
    pub kind: NoticeKind,
    /// The key's name and masked token, `Billing (sk_live_AbC1…wxyz)`.
    pub key: String,
    pub environment: String,
    pub owner: String,
    pub workspace: String,
    /// The key's page in the dashboard.
    pub link: String,
}

impl KeyNoticeItem {
    /// The subject of a message with this notice alone.
    fn subject(&self) -> &'static str {
        match self.kind {
            NoticeKind::ExpiringSoon { days_before: 1, .. } => "An API key expires within a day",
            NoticeKind::ExpiringSoon { .. } => "An API key expires within a week",
            NoticeKind::Expired { .. } => "An API key expired and stopped working",
            NoticeKind::Leaked { .. } => "An API key was found in public",
        }
    }

    /// What happened, and what to do about it.
    fn what_happened(&self) -> String {
        let key = &self.key;
        match &self.kind {
            NoticeKind::ExpiringSoon { expires_at, .. } => format!(
                "The API key {key} expires at {} UTC. Rotate it before then:\n\
                 the old key keeps working for the grace window you choose, so its users\n\
                 can move to the new one.",
                utc(*expires_at)
            ),
            NoticeKind::Expired { expires_at } => format!(
                "The API key {key} reached its expiry date at {} UTC and stopped\n\
                 working: requests made with it are refused. If something still uses it,\n\
                 create a new key for it.",
                utc(*expires_at)
            ),
            NoticeKind::Leaked { revoked, .. } => {
                let then = if *revoked {
                    "It was revoked at once, as this workspace's leak policy says: requests\n\
                     made with it are refused. Create a new key for whoever used it."
                } else {
                    "It still works: this workspace's leak policy flags such keys rather\n\
                     than revoking them. Rotate or revoke it now."
                };
                format!("The API key {key} was reported found in public.\n{then}")
            }
        }
    }
}

fn utc(time: DateTime<Utc>) -> String {
    time.format("%Y-%m-%d %H:%M").to_string()
}

/// Key notices for one person (the key's owner or a workspace admin), in one message.
pub fn key_notices(to: &str, name: &str, items: &[KeyNoticeItem]) -> Letter {
    let subject = match items {
        [one] => one.subject().to_owned(),
        _ => format!("{} notices about API keys", items.len()),
    };
    let mut body = format!("Hello {name},\n");
    for item in items {
        let _ = write!(body, "\n{}\n\n", item.what_happened());
        // The reporter's words, not Keyward's: shown only as a web address, and said to be theirs.
        if let NoticeKind::Leaked { url: Some(url), .. } = &item.kind
            && (url.starts_with("https://") || url.starts_with("http://"))
        {
            let _ = writeln!(body, "  Reported location (unverified): {url}");
        }
        let _ = write!(
            body,
            "  Workspace: {}\n  Environment: {}\n  Owner: {}\n  {}\n",
            item.workspace, item.environment, item.owner, item.link,
        );
    }
    body.push_str("\nYou get these notices as the owner of a key or an admin of its workspace.\n");
    Letter {
        to: to.to_owned(),
        // Key names are members' own text: they stay in the body.
        subject,
        body,
    }
}
