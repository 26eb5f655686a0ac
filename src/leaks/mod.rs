//! Leaked keys (issue 16): reports from GitHub's secret-scanning partner program
//! (`POST /v1/leaks/github`) and from the company's own scanners
//! (`POST /v1/leaks`), and what a confirmed leak does to the key, per the
//! workspace's policy (docs/secret-scanning.md).
//!
//! The policy types are shared with the browser (Settings → Workspace renders
//! them); parsing reports, checking GitHub's signature and acting on the store
//! are server-only.

use serde::{Deserialize, Serialize};

pub mod api;
#[cfg(feature = "ssr")]
pub mod github;
#[cfg(feature = "ssr")]
pub mod report;
#[cfg(feature = "ssr")]
pub mod store;

/// What a confirmed leak does to a key of one environment.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LeakAction {
    /// Revoke the key at once (the default for live keys).
    Revoke,
    /// Keep it working, mark it "Leaked" and record the report (the default for test keys).
    Flag,
}

impl LeakAction {
    pub const ALL: [LeakAction; 2] = [Self::Revoke, Self::Flag];

    /// The spelling the store and the form use.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Revoke => "revoke",
            Self::Flag => "flag",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|action| action.as_str() == text)
    }

    pub fn label(self) -> &'static str {
        match self {
            Self::Revoke => "Revoke at once",
            Self::Flag => "Flag only (the key keeps working)",
        }
    }
}

/// A workspace's leak policy, as Settings → Workspace shows it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LeakPolicy {
    pub live: LeakAction,
    pub test: LeakAction,
    /// The most a report from the workspace's own scanner (a service token)
    /// does: `Flag` (the default) flags whatever the environment's action.
    pub scanners: LeakAction,
}

impl LeakPolicy {
    /// What a leak of a key in `environment` does.
    pub fn for_environment(self, environment: crate::keys::Environment) -> LeakAction {
        match environment {
            crate::keys::Environment::Live => self.live,
            crate::keys::Environment::Test => self.test,
        }
    }

    /// What a report does to a key in `environment`, from GitHub or from one
    /// of the workspace's own scanners.
    pub fn for_report(
        self,
        environment: crate::keys::Environment,
        from_scanner: bool,
    ) -> LeakAction {
        match (from_scanner, self.scanners) {
            (true, LeakAction::Flag) => LeakAction::Flag,
            _ => self.for_environment(environment),
        }
    }
}

impl Default for LeakPolicy {
    fn default() -> Self {
        Self {
            live: LeakAction::Revoke,
            test: LeakAction::Flag,
            scanners: LeakAction::Flag,
        }
    }
}

/// The policy and whether the member asking may change it (admins only).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LeakPolicyView {
    pub policy: LeakPolicy,
    pub can_change: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn actions_round_trip_and_defaults_follow_the_environment() {
        for action in LeakAction::ALL {
            assert_eq!(LeakAction::parse(action.as_str()), Some(action));
        }
        assert_eq!(LeakAction::parse("delete"), None);
        let policy = LeakPolicy::default();
        use crate::keys::Environment;
        assert_eq!(
            policy.for_environment(Environment::Live),
            LeakAction::Revoke
        );
        assert_eq!(policy.for_environment(Environment::Test), LeakAction::Flag);
        assert_eq!(
            policy.for_report(Environment::Live, false),
            LeakAction::Revoke
        );
        assert_eq!(policy.for_report(Environment::Live, true), LeakAction::Flag);
        let trusting = LeakPolicy {
            scanners: LeakAction::Revoke,
            ..policy
        };
        assert_eq!(
            trusting.for_report(Environment::Live, true),
            LeakAction::Revoke
        );
        assert_eq!(
            trusting.for_report(Environment::Test, true),
            LeakAction::Flag
        );
    }
}
