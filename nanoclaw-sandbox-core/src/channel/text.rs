//! Text helpers the platforms share: splitting a long reply into posts.

/// Splits `text` into pieces of at most `limit` characters (`char`s, never
/// inside one). A piece ends at the last newline within the limit, else at
/// the last space, else exactly at the limit. The newline or space split at
/// is dropped (it would only be trimmed by the platform); a cut at the limit
/// drops nothing. So the pieces joined with the separators they were cut at
/// give back `text`. Text within the limit is one piece, unchanged.
pub(crate) fn split_text(text: &str, limit: usize) -> Vec<&str> {
    let limit = limit.max(1);
    let mut pieces = Vec::new();
    let mut rest = text;
    // `cut`: the byte where character number `limit` starts, if there is one.
    while let Some((cut, _)) = rest.char_indices().nth(limit) {
        let window = &rest[..cut];
        // A separator at 0 would leave an empty piece: look further.
        let at = |separator: char| window.rfind(separator).filter(|&i| i > 0);
        let (end, next) = match at('\n').or_else(|| at(' ')) {
            // Both separators are one byte long.
            Some(i) => (i, i + 1),
            None => (cut, cut),
        };
        pieces.push(&rest[..end]);
        rest = &rest[next..];
    }
    pieces.push(rest);
    pieces
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_text_is_one_piece_unchanged() {
        assert_eq!(split_text("", 4096), [""]);
        assert_eq!(split_text("hello\nworld", 4096), ["hello\nworld"]);
        let exact = "a".repeat(4096);
        assert_eq!(split_text(&exact, 4096), [exact.as_str()]);
    }

    #[test]
    fn long_text_splits_at_the_last_newline_then_space_then_hard() {
        // Newline preferred over a later space; the newline is dropped.
        assert_eq!(split_text("ab\ncd ef", 6), ["ab", "cd ef"]);
        // No newline in the window: the last space.
        assert_eq!(split_text("abc def ghi", 8), ["abc def", "ghi"]);
        // Neither: a hard cut at the limit, nothing dropped.
        assert_eq!(split_text("abcdefghij", 4), ["abcd", "efgh", "ij"]);
        // A separator at the very start would leave an empty piece: ignored.
        assert_eq!(split_text("\nabcdef", 4), ["\nabc", "def"]);
        // A newline beyond the window does not count.
        assert_eq!(split_text("abcdef\ng", 4), ["abcd", "ef\ng"]);
    }

    #[test]
    fn splitting_counts_chars_and_never_cuts_inside_one() {
        let text = "é".repeat(10) + "😀😀😀";
        let pieces = split_text(&text, 4);
        assert!(pieces.iter().all(|p| p.chars().count() <= 4), "{pieces:?}");
        assert_eq!(pieces.concat(), text);
        assert_eq!(pieces[0], "éééé");
        assert_eq!(pieces.last(), Some(&"😀"));
    }

    #[test]
    fn a_long_text_over_lines_rejoins_with_newlines() {
        let line = "x".repeat(99);
        let text = vec![line.as_str(); 90].join("\n");
        let pieces = split_text(&text, 4096);
        assert_eq!(pieces.len(), 3);
        assert!(pieces.iter().all(|p| p.chars().count() <= 4096));
        assert_eq!(pieces.join("\n"), text);
    }

    #[test]
    fn limit_zero_does_not_loop_forever() {
        assert_eq!(split_text("ab", 0), ["a", "b"]);
    }
}
