//! Cells that a spreadsheet would run as a formula are written with a leading
//! apostrophe (OWASP's advice against CSV injection), which spreadsheets hide
//! and read as "this is text"; reading removes it again, so an exported file
//! imports unchanged.

/// Characters that make a spreadsheet treat a cell as a formula.
const TRIGGERS: [char; 6] = ['=', '+', '-', '@', '\t', '\r'];

/// A value as it is written to an exported cell.
pub fn escape(value: &str) -> std::borrow::Cow<'_, str> {
    if value.starts_with(TRIGGERS) {
        format!("'{value}").into()
    } else {
        value.into()
    }
}

/// A cell as it is read from a file: an apostrophe that `escape` added is removed.
pub fn unescape(cell: &str) -> &str {
    match cell.strip_prefix('\'') {
        Some(rest) if rest.starts_with(TRIGGERS) => rest,
        _ => cell,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formulas_are_neutralised_and_restored() {
        for value in [
            "=HYPERLINK(\"http://x\")",
            "+447911123456",
            "-1",
            "@SUM(A1)",
            "\tx",
            "\rx",
        ] {
            let cell = escape(value);
            assert!(cell.starts_with('\''), "{value:?}");
            assert_eq!(unescape(&cell), value);
        }
        for value in ["Ada", "O'Brien", "'quoted'", "", "a=b"] {
            assert_eq!(escape(value), value);
            assert_eq!(unescape(value), value);
        }
    }
}
