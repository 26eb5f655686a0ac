//! The deployment's product scopes, read from `KEYWARD_SCOPES_FILE` (TOML) at
//! start, and the rules that say what a set of held scopes grants.
//!
//! The presets expand to the catalogue's product scopes only, matched by name
//! against the catalogue, never by suffix alone; management scopes are granted
//! only by holding them exactly (see `keys::scopes`).

use super::scopes::{
    self, READ_ONLY, READ_WRITE, RESERVED_RESOURCES, ScopeInfo, is_management, is_preset,
};
use serde::Deserialize;
use std::collections::BTreeSet;
use toml::Spanned;

/// The example catalogue used when `KEYWARD_SCOPES_FILE` is not set.
const DEFAULT_CATALOGUE: &str = include_str!("default_scopes.toml");
const MAX_SCOPE_CHARS: usize = 64;
const MAX_DESCRIPTION_CHARS: usize = 200;

/// Why a catalogue file was refused: where, and what to change.
#[derive(Debug, thiserror::Error)]
#[error("{source_name}{}: {message}", line.map(|line| format!(", line {line}")).unwrap_or_default())]
pub struct CatalogueError {
    pub source_name: String,
    pub line: Option<usize>,
    pub message: String,
}

/// The product scopes this deployment's API understands, sorted by name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScopeCatalogue {
    scopes: Vec<ScopeInfo>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CatalogueFile {
    scope: Vec<ScopeEntry>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ScopeEntry {
    name: Spanned<String>,
    description: Spanned<String>,
}

impl Default for ScopeCatalogue {
    fn default() -> Self {
        #[allow(
            clippy::expect_used,
            reason = "the built-in example is checked by a unit test"
        )]
        Self::parse(DEFAULT_CATALOGUE, "the built-in scope catalogue")
            .expect("the built-in scope catalogue is valid")
    }
}

impl ScopeCatalogue {
    /// Reads and checks the file at `path`.
    pub fn load(path: &str) -> Result<Self, CatalogueError> {
        let text = std::fs::read_to_string(path).map_err(|error| CatalogueError {
            source_name: path.to_owned(),
            line: None,
            message: format!("could not be read: {error}"),
        })?;
        Self::parse(&text, path)
    }

    /// Parses a catalogue; `source_name` names it in errors.
    pub fn parse(text: &str, source_name: &str) -> Result<Self, CatalogueError> {
        let refuse = |span: Option<std::ops::Range<usize>>, message: String| CatalogueError {
            source_name: source_name.to_owned(),
            line: span.map(|span| line_of(text, span.start)),
            message,
        };
        let file: CatalogueFile = toml::from_str(text)
            .map_err(|error| refuse(error.span(), error.message().trim().to_owned()))?;
        if file.scope.is_empty() {
            return Err(refuse(None, "lists no [[scope]]".into()));
        }
        let mut scopes: Vec<ScopeInfo> = Vec::with_capacity(file.scope.len());
        for ScopeEntry { name, description } in file.scope {
            let name_span = name.span();
            let name = name.into_inner().trim().to_owned();
            check_name(&name).map_err(|message| refuse(Some(name_span.clone()), message))?;
            if scopes.iter().any(|known| known.name == name) {
                return Err(refuse(Some(name_span), format!("{name} is listed twice")));
            }
            let description_span = description.span();
            let description = description.into_inner().trim().to_owned();
            if description
                .chars()
                .any(|c| c.is_control() || crate::text::is_invisible_format(c))
            {
                return Err(refuse(
                    Some(description_span),
                    format!("{name}'s description has control or invisible characters"),
                ));
            }
            if description.is_empty() || description.chars().count() > MAX_DESCRIPTION_CHARS {
                return Err(refuse(
                    Some(description_span),
                    format!(
                        "{name} needs a description of 1 to {MAX_DESCRIPTION_CHARS} characters"
                    ),
                ));
            }
            scopes.push(ScopeInfo { name, description });
        }
        scopes.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(Self { scopes })
    }

    /// The product scopes, for the create dialog.
    pub fn product_scopes(&self) -> &[ScopeInfo] {
        &self.scopes
    }

    /// Whether the catalogue lists this product scope.
    pub fn contains(&self, scope: &str) -> bool {
        self.scopes
            .binary_search_by(|known| known.name.as_str().cmp(scope))
            .is_ok()
    }

    /// Whether `scope` can be held by a key: a preset, a product scope or a management scope.
    pub fn is_known(&self, scope: &str) -> bool {
        is_preset(scope) || is_management(scope) || self.contains(scope)
    }

    /// Checks a chosen set of scopes: at least one, known names, a preset alone
    /// among product scopes (management scopes may join it). Sorted, no duplicates.
    pub fn validate(&self, chosen: &[String]) -> Result<Vec<String>, String> {
        let mut chosen: Vec<String> = chosen
            .iter()
            .map(|scope| scope.trim().to_owned())
            .filter(|scope| !scope.is_empty())
            .collect();
        chosen.sort();
        chosen.dedup();
        if chosen.is_empty() {
            return Err("Choose at least one scope, or a preset.".into());
        }
        if let Some(unknown) = chosen.iter().find(|scope| !self.is_known(scope)) {
            let shown: String = unknown.chars().take(40).collect();
            return Err(format!("\"{shown}\" is not a scope this API offers."));
        }
        let presets = chosen.iter().filter(|scope| is_preset(scope)).count();
        let products = chosen.iter().filter(|scope| self.contains(scope)).count();
        if presets > 1 || (presets == 1 && products > 0) {
            return Err("Choose one preset or individual scopes, not both.".into());
        }
        Ok(chosen)
    }

    /// Whether a key holding `held` may do `requested`.
    pub fn grants(&self, held: &[String], requested: &str) -> bool {
        if held.iter().any(|scope| scope == requested) {
            return !is_preset(requested);
        }
        if is_management(requested) || !self.contains(requested) {
            return false;
        }
        held.iter()
            .any(|scope| preset_covers(scope, requested).unwrap_or(false))
    }

    /// Every concrete scope `held` grants: presets expanded to the catalogue.
    pub fn expand<'a>(&'a self, held: &'a [String]) -> BTreeSet<&'a str> {
        let mut granted = BTreeSet::new();
        for scope in held {
            if is_preset(scope) {
                granted.extend(
                    self.scopes
                        .iter()
                        .map(|known| known.name.as_str())
                        .filter(|name| preset_covers(scope, name).unwrap_or(false)),
                );
            } else {
                granted.insert(scope.as_str());
            }
        }
        granted
    }

    /// The held scopes that this catalogue no longer offers.
    pub fn unlisted<'a>(&self, held: &'a [String]) -> Vec<&'a str> {
        held.iter()
            .map(String::as_str)
            .filter(|scope| !self.is_known(scope))
            .collect()
    }
}

/// Refuses a catalogue that no longer lists a scope that usable keys hold:
/// those keys would silently lose access. Names each scope with its key count.
pub async fn ensure_held_scopes_listed(
    db: &crate::db::Db,
    catalogue: &ScopeCatalogue,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<(), CatalogueError> {
    let sets = super::list::scope_sets_in_use(db, now)
        .await
        .map_err(|error| CatalogueError {
            source_name: "KEYWARD_SCOPES_FILE".into(),
            line: None,
            message: format!("could not be checked against the keys in the store: {error}"),
        })?;
    let mut dropped: std::collections::BTreeMap<String, i64> = Default::default();
    for (scopes, keys) in &sets {
        for scope in catalogue.unlisted(scopes) {
            *dropped.entry(scope.to_owned()).or_default() += keys;
        }
    }
    if dropped.is_empty() {
        return Ok(());
    }
    let list: Vec<String> = dropped
        .iter()
        .map(|(scope, keys)| format!("{scope} (held by {keys} key(s))"))
        .collect();
    Err(CatalogueError {
        source_name: "KEYWARD_SCOPES_FILE".into(),
        line: None,
        message: format!(
            "no longer lists scopes that active keys hold: {}. Put them back, or revoke those keys first.",
            list.join(", ")
        ),
    })
}

/// Whether the preset `preset` covers the product scope `scope`; `None` if
/// `preset` is not a preset.
fn preset_covers(preset: &str, scope: &str) -> Option<bool> {
    let action = scope.rsplit_once(':').map(|(_, action)| action);
    match preset {
        READ_ONLY => Some(action == Some("read")),
        READ_WRITE => Some(matches!(action, Some("read" | "write"))),
        _ => None,
    }
}

/// `resource:action`, lower-case letters, digits, `-` and `_`, not on a reserved resource.
fn check_name(name: &str) -> Result<(), String> {
    let shape =
        "names are resource:action in lower-case letters, digits, - and _, e.g. invoices:read";
    let Some((resource, action)) = name.split_once(':') else {
        return Err(format!("{name:?} is not a scope name: {shape}"));
    };
    let part_ok = |part: &str| {
        !part.is_empty()
            && part
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
    };
    if !part_ok(resource) || !part_ok(action) || name.len() > MAX_SCOPE_CHARS {
        return Err(format!(
            "{name:?} is not a scope name: {shape}, at most {MAX_SCOPE_CHARS} characters"
        ));
    }
    if RESERVED_RESOURCES.contains(&resource) || scopes::is_preset(name) {
        return Err(format!(
            "{name} is on a resource Keyward keeps for its own API ({}); choose another name",
            RESERVED_RESOURCES.join(", ")
        ));
    }
    Ok(())
}

fn line_of(text: &str, offset: usize) -> usize {
    text.get(..offset)
        .map_or(1, |before| before.matches('\n').count() + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn owned(scopes: &[&str]) -> Vec<String> {
        scopes.iter().map(|scope| scope.to_string()).collect()
    }

    fn catalogue() -> ScopeCatalogue {
        ScopeCatalogue::default()
    }

    #[test]
    fn the_built_in_catalogue_lists_product_scopes_only() {
        let catalogue = catalogue();
        assert!(catalogue.contains("invoices:write"));
        assert!(!catalogue.contains("keys:read"));
        assert_eq!(catalogue.product_scopes().len(), 6);
    }

    #[test]
    fn accepts_a_preset_or_catalogue_scopes_with_management_scopes_beside() {
        let catalogue = catalogue();
        assert_eq!(
            catalogue.validate(&owned(&["read-only"])).unwrap(),
            owned(&["read-only"])
        );
        assert_eq!(
            catalogue
                .validate(&owned(&[
                    "invoices:write",
                    "customers:read",
                    "invoices:write"
                ]))
                .unwrap(),
            owned(&["customers:read", "invoices:write"])
        );
        assert_eq!(
            catalogue
                .validate(&owned(&["read-write", "keys:read"]))
                .unwrap(),
            owned(&["keys:read", "read-write"])
        );
    }

    #[test]
    fn refuses_empty_unknown_and_mixed_choices() {
        let catalogue = catalogue();
        assert!(catalogue.validate(&[]).is_err());
        assert!(catalogue.validate(&owned(&["  "])).is_err());
        assert!(
            catalogue
                .validate(&owned(&["rockets:launch"]))
                .unwrap_err()
                .contains("rockets:launch")
        );
        assert!(
            catalogue
                .validate(&owned(&["read-write", "invoices:read"]))
                .is_err()
        );
        assert!(
            catalogue
                .validate(&owned(&["read-write", "read-only"]))
                .is_err()
        );
    }

    #[test]
    fn presets_expand_to_the_catalogue_and_never_to_management_scopes() {
        let catalogue = catalogue();
        let read_only = owned(&["read-only"]);
        let read_write = owned(&["read-write"]);
        assert!(catalogue.grants(&read_only, "invoices:read"));
        assert!(!catalogue.grants(&read_only, "invoices:write"));
        assert!(catalogue.grants(&read_write, "invoices:write"));
        for management in ["keys:read", "keys:write", "audit:read"] {
            assert!(!catalogue.grants(&read_only, management), "{management}");
            assert!(!catalogue.grants(&read_write, management), "{management}");
        }
        // Not in the catalogue: a suffix is not enough.
        assert!(!catalogue.grants(&read_only, "billing-admin:read"));
        assert!(!catalogue.grants(&read_only, "read-only"));
        assert!(catalogue.grants(&owned(&["keys:read"]), "keys:read"));
        assert!(catalogue.grants(&owned(&["customers:read"]), "customers:read"));
        assert!(!catalogue.grants(&owned(&["customers:read"]), "customers:write"));
    }

    #[test]
    fn expand_lists_what_a_preset_covers() {
        let catalogue = catalogue();
        let held = owned(&["keys:read", "read-only"]);
        let expanded: Vec<&str> = catalogue.expand(&held).into_iter().collect();
        assert_eq!(
            expanded,
            [
                "customers:read",
                "invoices:read",
                "keys:read",
                "payments:read"
            ]
        );
    }

    #[test]
    fn a_bad_file_is_refused_with_its_line() {
        let cases = [
            (
                "[[scope]]\nname = \"Invoices\"\ndescription = \"x\"\n",
                2,
                "not a scope name",
            ),
            (
                "[[scope]]\nname = \"a:read\"\ndescription = \"x\"\n\n[[scope]]\nname = \"keys:admin\"\ndescription = \"x\"\n",
                6,
                "keeps for its own API",
            ),
            (
                "[[scope]]\nname = \"a:read\"\ndescription = \"x\"\n[[scope]]\nname = \"a:read\"\ndescription = \"y\"\n",
                5,
                "listed twice",
            ),
            (
                "[[scope]]\nname = \"a:read\"\ndescription = \"\"\n",
                3,
                "description",
            ),
            (
                "[[scope]]\nname = \"a:read\"\ndescription = \"x\"\ncolour = 1\n",
                4,
                "colour",
            ),
            (
                "[[scope]]\nname = \"a:read\"\ndescription = \"Read\\u202Es\"\n",
                3,
                "invisible",
            ),
            ("[[scope]]\nname = a:read\n", 2, ""),
        ];
        for (text, line, words) in cases {
            let error = ScopeCatalogue::parse(text, "scopes.toml").unwrap_err();
            assert_eq!(error.line, Some(line), "{error}");
            assert!(error.to_string().contains(words), "{error}");
            assert!(
                error.to_string().starts_with("scopes.toml, line"),
                "{error}"
            );
        }
        assert!(ScopeCatalogue::parse("", "scopes.toml").is_err());
    }

    #[test]
    fn unlisted_names_the_scopes_a_catalogue_dropped() {
        let catalogue = catalogue();
        let held = owned(&["invoices:read", "rockets:launch", "read-only", "keys:write"]);
        assert_eq!(catalogue.unlisted(&held), ["rockets:launch"]);
    }
}
