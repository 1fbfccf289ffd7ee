//! Names people read: tenant, principal and credential names, and KV paths.
//!
//! **Invariant:** a stored name is NFC-normalised and contains no control, bidi-control
//! (U+202A–202E, U+2066–2069, U+200E/F, U+061C) or zero-width character (U+200B–200D,
//! U+2060, U+FEFF), so what a reviewer reads is what the ledger compares. Uniqueness is
//! decided on [`fold`]ed names (case-insensitive); the display name keeps its case.
//! Events written before these rules replay unchanged: the rules apply to new input only.

use unicode_normalization::UnicodeNormalization;

/// Characters that change how text is displayed without being visible.
fn is_invisible(c: char) -> bool {
    matches!(
        c,
        '\u{202A}'..='\u{202E}'
            | '\u{2066}'..='\u{2069}'
            | '\u{200E}'
            | '\u{200F}'
            | '\u{061C}'
            | '\u{200B}'..='\u{200D}'
            | '\u{2060}'
            | '\u{FEFF}'
    )
}

/// Whether `c` may appear in a name.
pub fn allowed_char(c: char) -> bool {
    !c.is_control() && !is_invisible(c)
}

/// The NFC form of `s` (how names and KV paths are stored and looked up).
pub fn nfc(s: &str) -> String {
    s.nfc().collect()
}

/// The key names are compared by: NFC, lower case, NFC again (lowering can denormalise).
pub fn fold(s: &str) -> String {
    s.nfc().collect::<String>().to_lowercase().nfc().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn given_lookalike_names_when_folded_then_they_compare_equal() {
        // "é" precomposed and decomposed, and different case.
        assert_eq!(fold("Caf\u{e9}"), fold("cafe\u{301}"));
        assert_eq!(fold("OpenAI-Prod"), fold("openai-prod"));
        assert_ne!(fold("openai-prod"), fold("openai-prod2"));
        assert_eq!(nfc("cafe\u{301}"), "caf\u{e9}");
    }

    #[test]
    fn given_invisible_characters_then_they_are_not_allowed() {
        for c in [
            '\u{202E}', '\u{2066}', '\u{200E}', '\u{061C}', '\u{200B}', '\u{2060}', '\u{FEFF}',
            '\u{7}', '\n',
        ] {
            assert!(!allowed_char(c), "{:?}", c);
        }
        for c in ['a', 'é', '/', ' ', '日'] {
            assert!(allowed_char(c), "{c}");
        }
    }
}
