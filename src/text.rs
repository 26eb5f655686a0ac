//! Parsing of the free-text names people type (user, workspace, key and
//! token names). Shared with the browser for the form's `maxlength`.

use crate::error::AppError;

/// Longest name we accept, in characters: people, workspaces, keys, tokens.
pub const MAX_NAME_CHARS: usize = 80;

/// Trims a display name and rejects empty, over-long, control-character or
/// invisible-format input. Names are shown to other people (members, the audit
/// log, service tokens), so a name must read as what it is: bidi overrides
/// (`U+202E` turns "gpj.exe" around) and zero-width characters make two
/// different names look alike.
pub fn parse_display_name(field: &str, label: &str, raw: &str) -> Result<String, AppError> {
    let name = raw.trim();
    if name.is_empty() {
        return Err(AppError::invalid(field, format!("{label} is required.")));
    }
    if name.chars().count() > MAX_NAME_CHARS {
        return Err(AppError::invalid(
            field,
            format!("{label} must be at most {MAX_NAME_CHARS} characters."),
        ));
    }
    if name.chars().any(|c| c.is_control()) {
        return Err(AppError::invalid(
            field,
            format!("{label} cannot contain control characters."),
        ));
    }
    if let Some(hidden) = name.chars().find(|c| is_invisible_format(*c)) {
        return Err(AppError::invalid(
            field,
            format!(
                "{label} cannot contain invisible or text-direction characters (found U+{:04X}).",
                u32::from(hidden)
            ),
        ));
    }
    Ok(name.to_owned())
}

/// True when the text holds a control character. No id, name or search term
/// has one, and PostgreSQL refuses NUL in text, so input with one is refused
/// (or not found) before it reaches the store, never a store error.
pub fn has_control(text: &str) -> bool {
    text.chars().any(char::is_control)
}

/// Unicode's format characters (general category Cf): they draw nothing but
/// change how the text around them reads. Among them the bidi embeddings,
/// overrides and isolates (U+202A–U+202E, U+2066–U+2069), marks (U+200E,
/// U+200F, U+061C), zero-width characters (U+200B–U+200D, U+2060, U+FEFF) and
/// the invisible operators (U+2061–U+2064). The table is Cf as of Unicode 15.
pub fn is_invisible_format(c: char) -> bool {
    matches!(
        c,
        '\u{00AD}'
            | '\u{0600}'..='\u{0605}'
            | '\u{061C}'
            | '\u{06DD}'
            | '\u{070F}'
            | '\u{0890}'..='\u{0891}'
            | '\u{08E2}'
            | '\u{180E}'
            | '\u{200B}'..='\u{200F}'
            | '\u{202A}'..='\u{202E}'
            | '\u{2060}'..='\u{2064}'
            | '\u{2066}'..='\u{206F}'
            | '\u{FEFF}'
            | '\u{FFF9}'..='\u{FFFB}'
            | '\u{110BD}'
            | '\u{110CD}'
            | '\u{13430}'..='\u{1343F}'
            | '\u{1BCA0}'..='\u{1BCA3}'
            | '\u{1D173}'..='\u{1D17A}'
            | '\u{E0001}'
            | '\u{E0020}'..='\u{E007F}'
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_trimmed_and_bounded() {
        assert_eq!(
            parse_display_name("name", "Name", "  Ana Diaz ").unwrap(),
            "Ana Diaz"
        );
        assert!(parse_display_name("name", "Name", "   ").is_err());
        assert!(parse_display_name("name", "Name", &"x".repeat(81)).is_err());
        assert!(parse_display_name("name", "Name", "a\u{0}b").is_err());
        assert_eq!(
            parse_display_name("name", "Name", &"é".repeat(80))
                .unwrap()
                .chars()
                .count(),
            80
        );
    }

    #[test]
    fn bidi_controls_and_invisible_characters_are_refused_by_name() {
        for hidden in [
            '\u{200B}',
            '\u{200D}',
            '\u{200E}',
            '\u{200F}',
            '\u{202A}',
            '\u{202E}',
            '\u{2066}',
            '\u{2069}',
            '\u{2060}',
            '\u{2064}',
            '\u{FEFF}',
            '\u{00AD}',
            '\u{061C}',
            '\u{E0041}',
        ] {
            let error =
                parse_display_name("name", "Name", &format!("Ana{hidden}Diaz")).unwrap_err();
            let message = error.to_string();
            assert_eq!(error.field(), Some("name"));
            assert!(
                message.contains(&format!("U+{:04X}", u32::from(hidden))),
                "{message}"
            );
        }
    }

    #[test]
    fn visible_letters_of_every_script_are_kept() {
        for name in [
            "Zoë Ångström",
            "李小龙",
            "محمد",
            "שלום",
            "Ана Диас",
            "Billing API 🚀",
        ] {
            assert_eq!(parse_display_name("name", "Name", name).unwrap(), name);
        }
    }
}
