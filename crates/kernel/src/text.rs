//! The rules every free-text field of a resource follows: a length in characters, and no
//! invisible characters (PostgreSQL text cannot hold NUL at all).

/// What shape of text a field holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TextShape {
    /// A name or title: trimmed, at least one character, no control characters.
    Line,
    /// A description or notes: kept as written, may be empty, may hold line breaks and tabs.
    Block,
}

/// `raw` as the field `what` keeps it, or the rule it breaks (a message naming the field).
pub fn bounded_text(raw: &str, what: &str, max: usize, shape: TextShape) -> Result<String, String> {
    let line = shape == TextShape::Line;
    let s = if line { raw.trim() } else { raw };
    let n = s.chars().count();
    if line && n == 0 || n > max {
        let min = usize::from(line);
        return Err(format!("{what} must be {min} to {max} characters long"));
    }
    let allowed = |c: char| !line && matches!(c, '\n' | '\r' | '\t');
    if s.chars().any(|c| c.is_control() && !allowed(c)) {
        return Err(format!("{what} must not contain control characters"));
    }
    Ok(s.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_trimmed_and_blocks_kept() {
        assert_eq!(
            bounded_text("  a b ", "name", 5, TextShape::Line).unwrap(),
            "a b"
        );
        assert_eq!(
            bounded_text(" a\nb ", "notes", 5, TextShape::Block).unwrap(),
            " a\nb "
        );
        assert_eq!(bounded_text("", "notes", 5, TextShape::Block).unwrap(), "");
    }

    #[test]
    fn rules_name_the_field() {
        assert_eq!(
            bounded_text("   ", "name", 5, TextShape::Line).unwrap_err(),
            "name must be 1 to 5 characters long"
        );
        assert_eq!(
            bounded_text("ééééé!", "notes", 5, TextShape::Block).unwrap_err(),
            "notes must be 0 to 5 characters long"
        );
        assert_eq!(
            bounded_text("a\nb", "name", 5, TextShape::Line).unwrap_err(),
            "name must not contain control characters"
        );
        assert!(bounded_text("a\0b", "notes", 5, TextShape::Block).is_err());
        assert!(
            bounded_text("ééééé", "name", 5, TextShape::Line).is_ok(),
            "characters, not bytes"
        );
    }
}
