//! What a key may do: two presets and fine-grained `resource:action` scopes
//! from one catalogue (DESIGN §3). A deployment edits [`CATALOGUE`] to match its API.

/// Every `:read` scope in the catalogue.
pub const READ_ONLY: &str = "read-only";
/// Every `:read` and `:write` scope in the catalogue.
pub const READ_WRITE: &str = "read-write";

/// The fine-grained scopes this deployment's API understands, with what they allow.
/// `keys:*` and `audit:read` guard Keyward's own JSON API.
pub const CATALOGUE: &[(&str, &str)] = &[
    ("customers:read", "Read customers"),
    ("customers:write", "Create and update customers"),
    ("invoices:read", "Read invoices"),
    ("invoices:write", "Create, send and void invoices"),
    ("payments:read", "Read payments"),
    ("payments:write", "Capture and refund payments"),
    ("keys:read", "List this workspace's API keys"),
    ("keys:write", "Create and revoke this workspace's API keys"),
    ("audit:read", "Read this workspace's audit log"),
];

/// Checks a chosen set of scopes: non-empty, known names, a preset alone.
/// Returns them sorted and without duplicates.
pub fn validate(chosen: &[String]) -> Result<Vec<String>, String> {
    let mut scopes: Vec<String> = chosen
        .iter()
        .map(|scope| scope.trim().to_owned())
        .filter(|scope| !scope.is_empty())
        .collect();
    scopes.sort();
    scopes.dedup();
    if scopes.is_empty() {
        return Err("Choose at least one scope, or a preset.".into());
    }
    if let Some(unknown) = scopes.iter().find(|scope| !is_known(scope)) {
        let shown: String = unknown.chars().take(40).collect();
        return Err(format!("\"{shown}\" is not a scope this API offers."));
    }
    let has_preset = scopes.iter().any(|scope| is_preset(scope));
    if has_preset && scopes.len() > 1 {
        return Err("Choose a preset or individual scopes, not both.".into());
    }
    Ok(scopes)
}

/// Whether a key holding `held` may do `requested` (presets expand to the catalogue).
pub fn grants(held: &[String], requested: &str) -> bool {
    held.iter().any(|scope| match scope.as_str() {
        READ_WRITE => requested.ends_with(":read") || requested.ends_with(":write"),
        READ_ONLY => requested.ends_with(":read"),
        exact => exact == requested,
    })
}

fn is_preset(scope: &str) -> bool {
    scope == READ_ONLY || scope == READ_WRITE
}

fn is_known(scope: &str) -> bool {
    is_preset(scope) || CATALOGUE.iter().any(|(name, _)| *name == scope)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn owned(scopes: &[&str]) -> Vec<String> {
        scopes.iter().map(|scope| scope.to_string()).collect()
    }

    #[test]
    fn accepts_a_preset_or_catalogue_scopes() {
        assert_eq!(
            validate(&owned(&["read-only"])).unwrap(),
            owned(&["read-only"])
        );
        assert_eq!(
            validate(&owned(&[
                "invoices:write",
                "customers:read",
                "invoices:write"
            ]))
            .unwrap(),
            owned(&["customers:read", "invoices:write"])
        );
    }

    #[test]
    fn refuses_empty_unknown_and_mixed_choices() {
        assert!(validate(&[]).is_err());
        assert!(validate(&owned(&["  "])).is_err());
        assert!(
            validate(&owned(&["rockets:launch"]))
                .unwrap_err()
                .contains("rockets:launch")
        );
        assert!(validate(&owned(&["read-write", "invoices:read"])).is_err());
    }

    #[test]
    fn presets_expand_to_reads_and_writes() {
        let read_only = owned(&["read-only"]);
        assert!(grants(&read_only, "invoices:read"));
        assert!(!grants(&read_only, "invoices:write"));
        assert!(grants(&owned(&["read-write"]), "invoices:write"));
        assert!(grants(&owned(&["customers:read"]), "customers:read"));
        assert!(!grants(&owned(&["customers:read"]), "customers:write"));
    }
}
