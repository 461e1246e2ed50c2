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
/// Given a `String` that needs no trimming (a value read back from the database), it keeps
/// that string rather than copying it.
pub fn bounded_text<S>(raw: S, what: &str, max: usize, shape: TextShape) -> Result<String, String>
where
    S: AsRef<str> + Into<String>,
{
    let line = shape == TextShape::Line;
    let whole = raw.as_ref();
    let s = if line { whole.trim() } else { whole };
    let allowed = |c: char| !line && matches!(c, '\n' | '\r' | '\t');
    // ASCII text (what most fields hold) is counted and checked by bytes, without a branch per
    // byte: every byte is one character, and the control characters are the bytes below 0x20
    // and 0x7f.
    let (n, control) = if s.is_ascii() {
        let control = s.bytes().fold(false, |found, b| {
            let kept = !line & ((b == b'\n') | (b == b'\r') | (b == b'\t'));
            found | (((b < 0x20) | (b == 0x7f)) & !kept)
        });
        (s.len(), control)
    } else {
        let control = s.chars().any(|c| c.is_control() && !allowed(c));
        (s.chars().count(), control)
    };
    if line && n == 0 || n > max {
        let min = usize::from(line);
        return Err(format!("{what} must be {min} to {max} characters long"));
    }
    if control {
        return Err(format!("{what} must not contain control characters"));
    }
    Ok(if s.len() == whole.len() {
        raw.into()
    } else {
        s.to_owned()
    })
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
    fn an_owned_string_is_kept_when_it_needs_no_trimming() {
        let stored = String::from("Blue widget");
        let at = stored.as_ptr();
        let kept = bounded_text(stored, "name", 200, TextShape::Line).unwrap();
        assert_eq!((kept.as_str(), kept.as_ptr()), ("Blue widget", at));
        let padded = String::from(" Blue widget ");
        assert_eq!(
            bounded_text(padded, "name", 200, TextShape::Line).unwrap(),
            "Blue widget"
        );
        assert!(bounded_text(String::from("a\0b"), "notes", 5, TextShape::Block).is_err());
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

    #[test]
    fn ascii_text_is_judged_as_any_text_is() {
        // Each ASCII character alone, and beside a non-ASCII one (which takes the other path).
        for b in 0..=0x7f_u8 {
            let c = char::from(b);
            for shape in [TextShape::Line, TextShape::Block] {
                let line = shape == TextShape::Line;
                let allowed = !c.is_control() || !line && matches!(c, '\n' | '\r' | '\t');
                for raw in [format!("a{c}b"), format!("é{c}b")] {
                    assert_eq!(
                        bounded_text(&raw, "x", 3, shape).is_ok(),
                        allowed,
                        "{raw:?} as {shape:?}"
                    );
                }
            }
        }
        assert!(bounded_text("abcd", "x", 3, TextShape::Block).is_err());
        assert!(bounded_text("\u{80}", "x", 3, TextShape::Block).is_err());
    }
}
