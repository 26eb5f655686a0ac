//! A leak report's body: GitHub's secret-scanning partner format, a JSON array
//! of `{token, type, url, source}`, which `/v1/leaks` accepts too. Parsed once
//! here; the tokens never leave this type except as their SHA-256.

use serde::{Deserialize, Serialize};
use std::collections::HashSet;

/// Largest report accepted: GitHub batches up to 1 000 tokens; 1 MiB holds them with room.
pub const MAX_REPORT_BYTES: usize = 1024 * 1024;
/// Longest URL kept (the rest is cut): it is stored, shown and audited.
const MAX_URL_CHARS: usize = 2048;
/// Longest `type` and `source` kept.
const MAX_LABEL_CHARS: usize = 100;

/// Why a body is not a report. The message never quotes the body: it is full of secrets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("The body must be a JSON array of {{\"token\", \"type\", \"url\", \"source\"}} objects.")]
pub struct MalformedReport;

/// One reported token and where it was found. The token is not `Debug`.
pub struct ReportedToken {
    token: String,
    /// SHA-256 of the token, hex: what GitHub's feedback names it by, and (for
    /// one of our keys) the digest the store indexes.
    pub token_hash: String,
    /// The scanner's name for the token's kind, echoed back in the feedback.
    pub token_type: String,
    /// Where it was found (a commit, an issue, a paste), when the scanner says.
    pub url: Option<String>,
    /// What kind of place that is (`content`, `commit`, `issue_comment`, …).
    pub source: Option<String>,
}

impl ReportedToken {
    /// The token, for the format check only.
    pub fn expose(&self) -> &str {
        &self.token
    }
}

impl std::fmt::Debug for ReportedToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReportedToken")
            .field("token", &"…")
            .field("token_type", &self.token_type)
            .field("url", &self.url)
            .finish()
    }
}

/// A report's distinct tokens, in the order first reported.
#[derive(Debug)]
pub struct LeakReport {
    pub tokens: Vec<ReportedToken>,
}

/// One entry of a report as sent (GitHub's secret-scanning partner format).
#[derive(Deserialize, utoipa::ToSchema)]
pub(crate) struct RawToken {
    /// The secret as found.
    token: String,
    /// The scanner's name for its kind, e.g. `keyward_api_key`.
    #[serde(rename = "type")]
    token_type: String,
    /// Where it was found (at most 2 048 characters are kept).
    #[serde(default)]
    url: Option<String>,
    /// What kind of place that is: `content`, `commit`, `issue_comment`, …
    #[serde(default)]
    source: Option<String>,
}

impl LeakReport {
    /// Parses a body. A token reported twice is kept once, with its first location.
    pub fn parse(body: &[u8]) -> Result<Self, MalformedReport> {
        // serde's message would quote the offending value (a token, perhaps): not kept.
        let raw: Vec<RawToken> = serde_json::from_slice(body).map_err(|_| MalformedReport)?;
        let mut seen = HashSet::with_capacity(raw.len());
        let tokens = raw
            .into_iter()
            .filter(|raw| !raw.token.is_empty())
            .filter_map(|raw| {
                let token_hash = crate::token::sha256_hex(&raw.token);
                seen.insert(token_hash.clone()).then(|| ReportedToken {
                    token: raw.token,
                    token_hash,
                    token_type: clean(&raw.token_type, MAX_LABEL_CHARS),
                    url: raw
                        .url
                        .map(|url| clean(&url, MAX_URL_CHARS))
                        .filter(|url| !url.is_empty()),
                    source: raw
                        .source
                        .map(|source| clean(&source, MAX_LABEL_CHARS))
                        .filter(|source| !source.is_empty()),
                })
            })
            .collect();
        Ok(Self { tokens })
    }
}

/// Without control characters (PostgreSQL refuses NUL in text; none belongs in a
/// URL or a label) and at most `max` characters.
fn clean(text: &str, max: usize) -> String {
    text.chars()
        .filter(|c| !c.is_control())
        .take(max)
        .collect::<String>()
        .trim()
        .to_owned()
}

/// GitHub's feedback on one token: `true_positive` only for a key this Keyward issued.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Feedback {
    /// SHA-256 of the token, hex (the token itself is never sent back).
    pub token_hash: String,
    /// The `type` it was reported with.
    pub token_type: String,
    pub label: Label,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Label {
    TruePositive,
    FalsePositive,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn duplicates_are_kept_once_with_their_first_location() {
        let body = br#"[
            {"token": "a", "type": "t", "url": "https://x/1", "source": "content"},
            {"token": "a", "type": "t", "url": "https://x/2", "source": "content"},
            {"token": "b", "type": "t"}
        ]"#;
        let report = LeakReport::parse(body).unwrap();
        assert_eq!(report.tokens.len(), 2);
        assert_eq!(report.tokens[0].url.as_deref(), Some("https://x/1"));
        assert_eq!(report.tokens[0].token_hash, crate::token::sha256_hex("a"));
        assert_eq!(report.tokens[1].url, None);
    }

    #[test]
    fn malformed_bodies_are_refused_without_quoting_them() {
        for body in [
            &b"{}"[..],
            b"not json",
            br#"["kw_live_secret"]"#,
            br#"[{"token": 1, "type": "t"}]"#,
            br#"[{"type": "t"}]"#,
        ] {
            let error = LeakReport::parse(body).unwrap_err().to_string();
            assert!(!error.contains("secret"), "{error}");
        }
    }

    #[test]
    fn locations_lose_control_characters_and_excess_length() {
        let url = format!("https://x/\u{0}{}", "a".repeat(5000));
        let body = serde_json::json!([{ "token": "a", "type": "t\n", "url": url }]).to_string();
        let report = LeakReport::parse(body.as_bytes()).unwrap();
        let kept = report.tokens[0].url.as_deref().unwrap();
        assert!(!kept.contains('\u{0}'));
        assert_eq!(kept.chars().count(), MAX_URL_CHARS);
        assert_eq!(report.tokens[0].token_type, "t");
        assert!(!format!("{:?}", report.tokens[0]).contains("\"a\""));
    }
}
