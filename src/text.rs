//! Parsing of the free-text names people type (user names, workspace names).

use crate::error::AppError;

/// Longest name we accept, in characters.
pub const MAX_NAME_CHARS: usize = 80;

/// Trims a display name and rejects empty, over-long or control-character input.
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
    Ok(name.to_owned())
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
}
