//! Users, passwords, sessions, sign-in throttling and the first-run setup link.

use crate::workspaces::Role;
use serde::{Deserialize, Serialize};

pub mod account_api;
pub mod api;

#[cfg(feature = "ssr")]
pub mod access;
#[cfg(feature = "ssr")]
pub mod account;
#[cfg(feature = "ssr")]
pub mod device;
#[cfg(feature = "ssr")]
pub mod email;
#[cfg(feature = "ssr")]
pub mod password;
#[cfg(feature = "ssr")]
pub mod password_reset;
pub mod password_reset_api;
#[cfg(feature = "ssr")]
pub mod session;
#[cfg(feature = "ssr")]
pub mod session_index;
#[cfg(feature = "ssr")]
pub mod session_store;
#[cfg(feature = "ssr")]
pub mod setup;
#[cfg(feature = "ssr")]
pub mod sign_in;
#[cfg(feature = "ssr")]
pub mod throttle;
#[cfg(feature = "ssr")]
pub mod totp;
#[cfg(feature = "ssr")]
pub mod two_factor;
pub mod two_factor_api;
#[cfg(feature = "ssr")]
pub mod users;

/// The signed-in user as the dashboard sees them: who they are, which
/// workspace they are in, with which role, and which others they can switch to.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Me {
    pub user_id: String,
    pub name: String,
    pub email: String,
    pub workspace: WorkspaceMembership,
    pub workspaces: Vec<WorkspaceMembership>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct WorkspaceMembership {
    pub id: String,
    pub name: String,
    pub role: Role,
}
