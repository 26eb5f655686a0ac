//! The API key format, `{prefix}_{env}_{body}` (docs/design.md §2).
//!
//! `body` is [`RANDOM_LEN`] base62 characters from the OS random source
//! (≈178 bits) followed by a [`CHECKSUM_LEN`]-character base62 CRC32 of those
//! random characters, so that typos and truncations are refused before any
//! store lookup, and secret scanners can recognise the shape.

use super::Environment;
use rand::Rng;
use std::fmt;

/// Random base62 characters per key: 30 × log2(62) ≈ 178.6 bits (≥ 160 required).
pub const RANDOM_LEN: usize = 30;
/// Base62 characters of the CRC32 checksum: 62⁶ > 2³², so any CRC32 fits.
pub const CHECKSUM_LEN: usize = 6;
/// Characters of the body shown after the prefix in `kw_live_3fJ9…a1b2`.
pub const SHOWN_START_LEN: usize = 4;
/// Characters shown at the end.
pub const SHOWN_END_LEN: usize = 4;

const BASE62: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// A deployment's key prefix, the `kw` of `kw_live_…`: 2 to 8 lower-case
/// ASCII letters. The one home of that rule: configuration, parsing and the
/// list's search all ask [`KeyPrefix::is_valid`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyPrefix(String);

impl KeyPrefix {
    pub fn parse(text: &str) -> Option<Self> {
        Self::is_valid(text).then(|| Self(text.to_owned()))
    }

    /// The rule without allocating, for the verifier's parse of every key.
    pub fn is_valid(text: &str) -> bool {
        (2..=8).contains(&text.len()) && text.bytes().all(|b| b.is_ascii_lowercase())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Why a presented string is not one of our keys. Never carries the input.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum KeyFormatError {
    #[error("the key is not in the {{prefix}}_{{env}}_{{body}} format")]
    Malformed,
    #[error("the key was not issued by this deployment (wrong prefix)")]
    WrongPrefix,
    #[error("the key's checksum does not match (mistyped or truncated)")]
    BadChecksum,
}

/// A full secret key. Shown once to its creator; never printed by `Debug`.
pub struct SecretKey(String);

impl SecretKey {
    /// A new key for `prefix` (already validated by the configuration) and `environment`.
    pub fn generate(prefix: &str, environment: Environment) -> Self {
        let mut rng = rand::rngs::OsRng;
        let random: String = (0..RANDOM_LEN)
            .map(|_| char::from(BASE62[rng.gen_range(0..BASE62.len())]))
            .collect();
        let checksum = checksum_of(&random);
        Self(format!(
            "{prefix}_{}_{random}{checksum}",
            environment.as_str()
        ))
    }

    /// The secret itself: only for the one response that shows it to its creator.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// SHA-256 of the whole key: what the store indexes. No slow hash needed for
    /// 178 random bits (docs/design.md §2).
    pub fn digest(&self) -> KeyDigest {
        KeyDigest::of(&self.0)
    }

    /// The displayable parts the store keeps beside the digest.
    pub fn display_parts(&self) -> DisplayParts {
        #[allow(
            clippy::expect_used,
            reason = "a SecretKey is only made by generate, whose output always parses (property test below)"
        )]
        let parsed = parse_any_prefix(&self.0).expect("a generated key parses");
        DisplayParts::of(&parsed)
    }
}

impl fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretKey(…)")
    }
}

/// SHA-256 of a full key, hex-encoded.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct KeyDigest(String);

impl KeyDigest {
    pub fn of(key: &str) -> Self {
        Self(crate::token::sha256_hex(key))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for KeyDigest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "KeyDigest({}…)", &self.0[..8])
    }
}

/// What may be stored and shown about a key: `kw_live`, `3fJ9`, `a1b2`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DisplayParts {
    /// `{prefix}_{env}`.
    pub prefix: String,
    /// The first characters of the body.
    pub start: String,
    /// The last four characters of the key.
    pub last4: String,
}

impl DisplayParts {
    fn of(parsed: &ParsedKey<'_>) -> Self {
        let body = parsed.body;
        Self {
            prefix: format!("{}_{}", parsed.prefix, parsed.environment.as_str()),
            start: body[..SHOWN_START_LEN].to_owned(),
            last4: body[body.len() - SHOWN_END_LEN..].to_owned(),
        }
    }
}

/// A presented key that has the right shape and checksum.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ParsedKey<'a> {
    pub prefix: &'a str,
    pub environment: Environment,
    body: &'a str,
}

/// Parses a presented key issued with `expected_prefix`. Cheap, allocation-free
/// and total: any input gives a key or a [`KeyFormatError`], never a panic.
pub fn parse<'a>(
    presented: &'a str,
    expected_prefix: &str,
) -> Result<ParsedKey<'a>, KeyFormatError> {
    let parsed = parse_any_prefix(presented)?;
    if parsed.prefix != expected_prefix {
        return Err(KeyFormatError::WrongPrefix);
    }
    Ok(parsed)
}

/// A prefix–env–body split and checksum check, whatever the prefix.
fn parse_any_prefix(presented: &str) -> Result<ParsedKey<'_>, KeyFormatError> {
    let mut parts = presented.splitn(3, '_');
    let (Some(prefix), Some(env), Some(body)) = (parts.next(), parts.next(), parts.next()) else {
        return Err(KeyFormatError::Malformed);
    };
    let environment = Environment::parse(env).ok_or(KeyFormatError::Malformed)?;
    if !KeyPrefix::is_valid(prefix)
        || body.len() != RANDOM_LEN + CHECKSUM_LEN
        || !body.bytes().all(is_base62)
    {
        return Err(KeyFormatError::Malformed);
    }
    let (random, checksum) = body.split_at(RANDOM_LEN);
    // Compared on the stack: this runs for every presented key.
    if checksum_digits(random) != checksum.as_bytes() {
        return Err(KeyFormatError::BadChecksum);
    }
    Ok(ParsedKey {
        prefix,
        environment,
        body,
    })
}

fn is_base62(byte: u8) -> bool {
    byte.is_ascii_alphanumeric()
}

/// CRC32 of the random characters in fixed-width base62.
fn checksum_of(random: &str) -> String {
    checksum_digits(random)
        .iter()
        .copied()
        .map(char::from)
        .collect()
}

fn checksum_digits(random: &str) -> [u8; CHECKSUM_LEN] {
    let mut value = crc32fast::hash(random.as_bytes());
    let mut digits = [b'0'; CHECKSUM_LEN];
    for slot in digits.iter_mut().rev() {
        *slot = BASE62[(value % 62) as usize];
        value /= 62;
    }
    digits
}

/// `kw_live_3fJ9…a1b2`: the most of a key anyone sees after creation.
pub fn masked(prefix: &str, start: &str, last4: &str) -> String {
    format!("{prefix}_{start}…{last4}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn env_strategy() -> impl Strategy<Value = Environment> {
        prop_oneof![Just(Environment::Live), Just(Environment::Test)]
    }

    #[test]
    fn generated_keys_have_the_documented_shape() {
        let key = SecretKey::generate("kw", Environment::Live);
        let text = key.expose();
        assert!(text.starts_with("kw_live_"));
        assert_eq!(text.len(), "kw_live_".len() + RANDOM_LEN + CHECKSUM_LEN);
        let parsed = parse(text, "kw").unwrap();
        assert_eq!(parsed.environment, Environment::Live);
        let parts = key.display_parts();
        assert_eq!(parts.prefix, "kw_live");
        assert_eq!(parts.last4, &text[text.len() - 4..]);
        assert_eq!(
            masked(&parts.prefix, &parts.start, &parts.last4)
                .chars()
                .count(),
            8 + 4 + 1 + 4
        );
    }

    #[test]
    fn secrets_do_not_print_themselves() {
        let key = SecretKey::generate("kw", Environment::Test);
        assert_eq!(format!("{key:?}"), "SecretKey(…)");
        assert!(!format!("{:?}", key.digest()).contains(key.expose()));
    }

    #[test]
    fn awkward_inputs_are_refused_without_panicking() {
        for input in [
            "",
            "_",
            "__",
            "kw_live_",
            "kw_live",
            "kw__x",
            " kw_live_x",
            "ключ_live_x",
            "kw_prod_abc",
        ] {
            assert_eq!(
                parse(input, "kw"),
                Err(KeyFormatError::Malformed),
                "{input:?}"
            );
        }
        let huge = "a".repeat(1 << 20);
        assert_eq!(parse(&huge, "kw"), Err(KeyFormatError::Malformed));
    }

    #[test]
    fn another_deployments_prefix_is_named_as_such() {
        let key = SecretKey::generate("rk", Environment::Live);
        assert_eq!(parse(key.expose(), "kw"), Err(KeyFormatError::WrongPrefix));
    }

    proptest! {
        #[test]
        fn generate_then_parse_round_trips(prefix in "[a-z]{2,8}", environment in env_strategy()) {
            let key = SecretKey::generate(&prefix, environment);
            let parsed = parse(key.expose(), &prefix).unwrap();
            prop_assert_eq!(parsed.prefix, prefix.as_str());
            prop_assert_eq!(parsed.environment, environment);
        }

        #[test]
        fn any_single_character_change_is_refused(
            environment in env_strategy(),
            position in any::<prop::sample::Index>(),
            replacement in any::<char>(),
        ) {
            let key = SecretKey::generate("kw", environment);
            let text = key.expose();
            let index = position.index(text.len());
            prop_assume!(text.as_bytes()[index] as char != replacement);
            let mut changed = String::with_capacity(text.len() + 4);
            changed.push_str(&text[..index]);
            changed.push(replacement);
            changed.push_str(&text[index + 1..]);
            prop_assert!(parse(&changed, "kw").is_err());
        }

        #[test]
        fn truncation_or_extension_is_refused(
            environment in env_strategy(),
            cut in 1usize..40,
            extra in "[A-Za-z0-9_]{1,8}",
        ) {
            let key = SecretKey::generate("kw", environment);
            let text = key.expose();
            let truncated = &text[..text.len().saturating_sub(cut)];
            prop_assert!(parse(truncated, "kw").is_err());
            let extended = format!("{text}{extra}");
            prop_assert!(parse(&extended, "kw").is_err());
        }

    }

    // The verification API parses whatever callers send: 150 000 inputs per test run.
    proptest! {
        #![proptest_config(ProptestConfig::with_cases(100_000))]

        #[test]
        fn parsing_never_panics(input in any::<String>()) {
            let _ = parse(&input, "kw");
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(50_000))]

        #[test]
        fn key_shaped_input_never_panics(input in "[a-z]{0,9}_(live|test|prod|)_[0-9A-Za-z_\u{80}-\u{10FFFF}]{0,45}") {
            let _ = parse(&input, "kw");
        }
    }
}
