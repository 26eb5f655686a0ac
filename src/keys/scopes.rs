//! What a key may do (docs/design.md §3). Two kinds of scope, kept apart:
//!
//! - **Product scopes** (`customers:read`, `invoices:write`, …): the deployment's
//!   own API, listed in its catalogue file (`KEYWARD_SCOPES_FILE`, see
//!   `keys::catalogue`). The presets `read-only` and `read-write` expand to these
//!   and to nothing else.
//! - **Management scopes** ([`MANAGEMENT`]): Keyward's own JSON API. Fixed in the
//!   code, never part of a preset, held only when chosen one by one.
//!
//! This module is shared with the browser (the create dialog lists the scopes);
//! checking what a key may do happens on the server, in `keys::catalogue`.

use serde::{Deserialize, Serialize};

/// Every `:read` scope of the product catalogue.
pub const READ_ONLY: &str = "read-only";
/// Every `:read` and `:write` scope of the product catalogue.
pub const READ_WRITE: &str = "read-write";
/// The presets, in the order the create dialog offers them.
pub const PRESETS: [&str; 2] = [READ_ONLY, READ_WRITE];

/// The scopes that let a key call Keyward's own API (`/api/v1`), with what each allows.
pub const MANAGEMENT: &[(&str, &str)] = &[
    ("keys:read", "List this workspace's API keys"),
    (
        "keys:write",
        "Create and revoke API keys (never with more access than the calling key)",
    ),
    (
        "audit:read",
        "Read this workspace's audit log (members' emails and IP addresses)",
    ),
    (
        "usage:read",
        "Read verification counts of this workspace's keys, and the client IPs they were used from",
    ),
];

/// Resources reserved for Keyward's own API: a catalogue may not define scopes on them.
pub const RESERVED_RESOURCES: [&str; 4] = ["keys", "audit", "usage", "webhooks"];

/// Whether `scope` is one of Keyward's management scopes.
pub fn is_management(scope: &str) -> bool {
    MANAGEMENT.iter().any(|(name, _)| *name == scope)
}

/// Whether `scope` is a preset name.
pub fn is_preset(scope: &str) -> bool {
    PRESETS.contains(&scope)
}

/// One scope as the create dialog lists it.
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScopeInfo {
    pub name: String,
    pub description: String,
}

/// Scopes as one island prop: `name<TAB>description` a line. A flat string
/// instead of a list of structs keeps serde's decoding out of the wasm bundle;
/// catalogue names and descriptions hold no control characters, so this is exact.
pub fn encode_for_island(scopes: &[ScopeInfo]) -> String {
    scopes
        .iter()
        .map(|scope| format!("{}\t{}", scope.name, scope.description))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The `(name, description)` pairs of [`encode_for_island`]'s text.
pub fn decode_from_island(text: &str) -> impl Iterator<Item = (&str, &str)> {
    text.lines().filter_map(|line| line.split_once('\t'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn island_text_round_trips() {
        let scopes = vec![
            ScopeInfo {
                name: "invoices:read".into(),
                description: "Read invoices, drafts too".into(),
            },
            ScopeInfo {
                name: "reports:export".into(),
                description: "Export: CSV".into(),
            },
        ];
        let text = encode_for_island(&scopes);
        let decoded: Vec<(&str, &str)> = decode_from_island(&text).collect();
        assert_eq!(
            decoded,
            [
                ("invoices:read", "Read invoices, drafts too"),
                ("reports:export", "Export: CSV")
            ]
        );
        assert_eq!(decode_from_island("").count(), 0);
    }
}
