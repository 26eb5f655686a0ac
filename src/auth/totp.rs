//! The codes of two-factor sign-in, apart from the store: TOTP (RFC 6238:
//! SHA-1, 6 digits, 30-second steps, what every authenticator app reads from
//! an `otpauth://` QR code), and the one-time recovery codes.

use chrono::{DateTime, Utc};
use rand::Rng;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use totp_rs::{Algorithm, TOTP};

/// Shown as the account's issuer in authenticator apps.
pub const ISSUER: &str = "Keyward";
const STEP_SECONDS: u64 = 30;
const DIGITS: usize = 6;
/// 160 bits, the length RFC 4226 recommends.
const SECRET_BYTES: usize = 20;
/// Steps either side of now that a code may be from (clock drift).
const DRIFT_STEPS: i64 = 1;
pub const RECOVERY_CODE_COUNT: usize = 10;
/// No 0/o, 1/l/i: a code written on paper reads back one way. 31 symbols ×
/// 10 characters is about 49 bits per code.
const RECOVERY_ALPHABET: &[u8] = b"abcdefghjkmnpqrstuvwxyz23456789";
const RECOVERY_LEN: usize = 10;

/// A new TOTP secret.
pub fn new_secret() -> Vec<u8> {
    let mut secret = vec![0u8; SECRET_BYTES];
    rand::rngs::OsRng.fill(secret.as_mut_slice());
    secret
}

/// The generator for `secret`, labelled with the user's email in apps.
fn generator(secret: Vec<u8>, email: &str) -> TOTP {
    // `:` separates issuer and account in the otpauth label.
    let account = email.replace(':', "_");
    TOTP::new_unchecked(
        Algorithm::SHA1,
        DIGITS,
        0,
        STEP_SECONDS,
        secret,
        Some(ISSUER.to_owned()),
        account,
    )
}

/// What an app needs to add the account: the secret as text (base32, in
/// groups of four for typing) and the `otpauth://` URL the QR code holds.
pub struct Provisioning {
    pub secret_text: String,
    pub otpauth_url: String,
}

pub fn provisioning(secret: &[u8], email: &str) -> Provisioning {
    let totp = generator(secret.to_vec(), email);
    let base32 = totp.get_secret_base32();
    let secret_text = base32
        .as_bytes()
        .chunks(4)
        .map(|chunk| String::from_utf8_lossy(chunk).into_owned())
        .collect::<Vec<_>>()
        .join(" ");
    Provisioning {
        secret_text,
        otpauth_url: totp.get_url(),
    }
}

/// The secret from its text form (as [`provisioning`] shows it, spaces
/// allowed): what an app does with a typed key.
pub fn secret_from_text(text: &str) -> Option<Vec<u8>> {
    let compact: String = text.chars().filter(|c| !c.is_whitespace()).collect();
    totp_rs::Secret::Encoded(compact.to_ascii_uppercase())
        .to_bytes()
        .ok()
}

/// The QR code of `url` as an SVG document, drawn with `currentColor` on a
/// white quiet zone so that it scans in the dark theme too.
pub fn qr_svg(url: &str) -> Option<String> {
    let code = qrcode::QrCode::new(url.as_bytes()).ok()?;
    Some(
        code.render::<qrcode::render::svg::Color<'_>>()
            .min_dimensions(200, 200)
            .dark_color(qrcode::render::svg::Color("#000000"))
            .light_color(qrcode::render::svg::Color("#ffffff"))
            .build(),
    )
}

/// The TOTP time step of `at`.
pub fn step_of(at: DateTime<Utc>) -> i64 {
    at.timestamp().div_euclid(STEP_SECONDS as i64)
}

/// The code of one step (tests compute what an app would show).
pub fn code_at_step(secret: &[u8], step: i64) -> String {
    let time = u64::try_from(step).unwrap_or(0) * STEP_SECONDS;
    generator(secret.to_vec(), "").generate(time)
}

/// The step within ±[`DRIFT_STEPS`] of `now` whose code is `code`, compared
/// in constant time. The caller refuses a step already used (replay).
pub fn matching_step(secret: &[u8], code: &str, now: DateTime<Utc>) -> Option<i64> {
    let current = step_of(now);
    (current - DRIFT_STEPS..=current + DRIFT_STEPS)
        .filter(|step| *step >= 0)
        .find(|step| {
            bool::from(
                code_at_step(secret, *step)
                    .as_bytes()
                    .ct_eq(code.as_bytes()),
            )
        })
}

/// What someone typed at the second sign-in step.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SecondFactor {
    /// Six digits from the app.
    AppCode(String),
    /// A recovery code, normalised (lower case, no dash).
    RecoveryCode(String),
}

impl SecondFactor {
    /// Spaces and dashes are ignored, as are letter case and a stray space
    /// from copying; anything else that is neither kind is `None`.
    pub fn parse(typed: &str) -> Option<Self> {
        let compact: String = typed
            .chars()
            .filter(|c| !c.is_whitespace() && *c != '-')
            .collect::<String>()
            .to_ascii_lowercase();
        if compact.len() == DIGITS && compact.bytes().all(|byte| byte.is_ascii_digit()) {
            return Some(Self::AppCode(compact));
        }
        let recovery = compact.len() == RECOVERY_LEN
            && compact
                .bytes()
                .all(|byte| RECOVERY_ALPHABET.contains(&byte));
        recovery.then_some(Self::RecoveryCode(compact))
    }
}

/// Ten new recovery codes, as shown: `abcde-fghjk`.
pub fn new_recovery_codes() -> Vec<String> {
    let mut rng = rand::rngs::OsRng;
    (0..RECOVERY_CODE_COUNT)
        .map(|_| {
            let code: String = (0..RECOVERY_LEN)
                .map(|_| char::from(RECOVERY_ALPHABET[rng.gen_range(0..RECOVERY_ALPHABET.len())]))
                .collect();
            format!("{}-{}", &code[..5], &code[5..])
        })
        .collect()
}

/// The stored digest of a recovery code, shown or normalised form alike.
pub fn recovery_digest(code: &str) -> String {
    let normalised: String = code
        .chars()
        .filter(|c| *c != '-')
        .collect::<String>()
        .to_ascii_lowercase();
    hex::encode(Sha256::digest(normalised.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    /// RFC 6238, appendix B: the SHA-1 secret "12345678901234567890".
    const RFC_SECRET: &[u8] = b"12345678901234567890";

    #[test]
    fn codes_match_the_rfc_6238_test_vectors() {
        // 8-digit vectors, of which the app shows the last 6.
        for (time, expected) in [
            (59, "287082"),
            (1_111_111_109, "081804"),
            (1_234_567_890, "005924"),
            (2_000_000_000, "279037"),
        ] {
            assert_eq!(code_at_step(RFC_SECRET, time / 30), expected, "at {time}");
        }
    }

    #[test]
    fn a_code_is_accepted_one_step_either_side_and_no_further() {
        let now = Utc.timestamp_opt(1_700_000_000, 0).unwrap();
        let secret = new_secret();
        let step = step_of(now);
        for drift in [-1, 0, 1] {
            let code = code_at_step(&secret, step + drift);
            assert_eq!(matching_step(&secret, &code, now), Some(step + drift));
        }
        for drift in [-3, -2, 2, 3] {
            let code = code_at_step(&secret, step + drift);
            // A far step's code may equal a near one's by chance (1 in 10^6).
            if ![-1, 0, 1]
                .iter()
                .any(|near| code_at_step(&secret, step + near) == code)
            {
                assert_eq!(matching_step(&secret, &code, now), None, "drift {drift}");
            }
        }
        assert_eq!(matching_step(&secret, "12345", now), None);
        assert_eq!(matching_step(&secret, "", now), None);
    }

    #[test]
    fn what_was_typed_is_read_as_an_app_code_or_a_recovery_code() {
        assert_eq!(
            SecondFactor::parse(" 123 456 "),
            Some(SecondFactor::AppCode("123456".into()))
        );
        assert_eq!(
            SecondFactor::parse("ABCDE-FGHJK"),
            Some(SecondFactor::RecoveryCode("abcdefghjk".into()))
        );
        for bad in [
            "",
            "12345",
            "1234567",
            "abcde-fghj0",
            "ab12!",
            "abcde-fghjkl",
        ] {
            assert_eq!(SecondFactor::parse(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn recovery_codes_are_ten_distinct_readable_codes_whose_digest_ignores_form() {
        let codes = new_recovery_codes();
        assert_eq!(codes.len(), RECOVERY_CODE_COUNT);
        let distinct: std::collections::HashSet<_> = codes.iter().collect();
        assert_eq!(distinct.len(), codes.len());
        for code in &codes {
            assert_eq!(code.len(), 11);
            let Some(SecondFactor::RecoveryCode(normalised)) = SecondFactor::parse(code) else {
                panic!("{code} does not read back");
            };
            assert_eq!(recovery_digest(code), recovery_digest(&normalised));
            assert_eq!(
                recovery_digest(code),
                recovery_digest(&code.to_ascii_uppercase())
            );
        }
    }

    #[test]
    fn provisioning_names_issuer_and_account_and_groups_the_secret() {
        let provisioning = provisioning(RFC_SECRET, "ana@example.com");
        assert!(
            provisioning
                .otpauth_url
                .starts_with("otpauth://totp/Keyward:ana%40example.com?secret="),
            "{}",
            provisioning.otpauth_url
        );
        assert!(provisioning.otpauth_url.contains("issuer=Keyward"));
        assert_eq!(
            provisioning.secret_text.replace(' ', ""),
            "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"
        );
        assert_eq!(
            secret_from_text(&provisioning.secret_text).as_deref(),
            Some(RFC_SECRET)
        );
        let svg = qr_svg(&provisioning.otpauth_url).unwrap();
        assert!(svg.contains("<svg"), "{svg}");
    }
}
