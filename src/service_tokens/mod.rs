//! Service tokens: how the company's API servers authenticate to the
//! verification API (docs/design.md §4). An admin creates one per backend in
//! Settings → Service tokens (or `keyward service-token create`); it is shown
//! once, stored as a digest, and verifies the keys of its own workspace only.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

pub mod api;
#[cfg(feature = "ssr")]
pub mod store;

/// A service token as the settings page lists it. Never the token itself.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ServiceTokenView {
    pub id: String,
    pub name: String,
    /// `kwsvc_…a1b2`.
    pub masked: String,
    /// Who created it; `None` when it came from the command line.
    pub created_by: Option<String>,
    /// The creator has since left the workspace. The token keeps working: it
    /// belongs to the workspace, not to the person.
    pub creator_left: bool,
    pub created_at: DateTime<Utc>,
    pub revoked_at: Option<DateTime<Utc>>,
}

/// The one response that carries a new token.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
pub struct CreatedServiceToken {
    pub id: String,
    pub name: String,
    pub secret: String,
}

impl std::fmt::Debug for CreatedServiceToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CreatedServiceToken")
            .field("id", &self.id)
            .field("name", &self.name)
            .field("secret", &"…")
            .finish()
    }
}
