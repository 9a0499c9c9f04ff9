//! What kind of file an upload is: its text encoding and its delimiter, or why
//! it is not a usable CSV file at all. Decided from the first bytes, before
//! anything is written.

use std::fmt;

/// How much of the file the guesses look at.
pub const SAMPLE_BYTES: usize = 64 * 1024;

/// The text encodings spreadsheets and HR systems write CSV files in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TextEncoding {
    Utf8,
    Utf16Le,
    Utf16Be,
    Windows1252,
}

impl TextEncoding {
    pub const ALL: [TextEncoding; 4] = [
        TextEncoding::Utf8,
        TextEncoding::Utf16Le,
        TextEncoding::Utf16Be,
        TextEncoding::Windows1252,
    ];

    /// The WHATWG name of the encoding, as stored with an upload.
    pub fn name(self) -> &'static str {
        self.encoding().name()
    }

    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|e| e.name() == name)
    }

    pub fn encoding(self) -> &'static encoding_rs::Encoding {
        match self {
            TextEncoding::Utf8 => encoding_rs::UTF_8,
            TextEncoding::Utf16Le => encoding_rs::UTF_16LE,
            TextEncoding::Utf16Be => encoding_rs::UTF_16BE,
            TextEncoding::Windows1252 => encoding_rs::WINDOWS_1252,
        }
    }
}

impl fmt::Display for TextEncoding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TextEncoding::Utf8 => "UTF-8",
            TextEncoding::Utf16Le => "UTF-16 (little-endian)",
            TextEncoding::Utf16Be => "UTF-16 (big-endian)",
            TextEncoding::Windows1252 => "Windows-1252",
        })
    }
}

/// Why a file cannot be imported, in words for the person who chose it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Unusable {
    #[error("The file is empty.")]
    Empty,
    #[error(
        "This is {0}, not a CSV file. Save it as CSV (comma-separated values) and upload that."
    )]
    OtherFormat(&'static str),
    #[error("The file is not text: it looks like a binary file. Upload a CSV file.")]
    Binary,
    #[error("The file has no header row. Its first line must name the columns, such as First Name, Last Name, Email.")]
    NoHeader,
    #[error("No column holds first names. Name one \"First Name\" (or Given Name).")]
    NoFirstName,
    #[error("No column holds last names. Name one \"Last Name\" (or Surname).")]
    NoLastName,
    #[error("There is no Email or Mobile Phone column; every contact needs one of them.")]
    NoEmailOrPhone,
    #[error("Line {line} could not be read: {reason}")]
    Broken { line: u64, reason: String },
}

/// File signatures of formats people upload by mistake.
const SIGNATURES: &[(&[u8], &str)] = &[
    (b"PK\x03\x04", "an Excel workbook or another zip archive"),
    (
        b"\xD0\xCF\x11\xE0\xA1\xB1\x1A\xE1",
        "an Excel 97-2003 workbook",
    ),
    (b"%PDF", "a PDF document"),
    (b"\x89PNG", "a PNG image"),
    (b"\xFF\xD8\xFF", "a JPEG image"),
    (b"GIF8", "a GIF image"),
];

/// The encoding of a file from its first bytes. `complete` says whether
/// `sample` is the whole file (so a character cut at its end is an error).
pub fn encoding(sample: &[u8], complete: bool) -> Result<TextEncoding, Unusable> {
    if let Some(rest) = sample.strip_prefix(b"\xEF\xBB\xBF") {
        return non_empty(rest, TextEncoding::Utf8);
    }
    if let Some(rest) = sample.strip_prefix(b"\xFF\xFE") {
        return non_empty(rest, TextEncoding::Utf16Le);
    }
    if let Some(rest) = sample.strip_prefix(b"\xFE\xFF") {
        return non_empty(rest, TextEncoding::Utf16Be);
    }
    if sample.iter().all(u8::is_ascii_whitespace) {
        return Err(Unusable::Empty);
    }
    if let Some((_, name)) = SIGNATURES.iter().find(|(sig, _)| sample.starts_with(sig)) {
        return Err(Unusable::OtherFormat(name));
    }
    // UTF-16 without a byte order mark: text in Latin script has a zero in
    // every other byte.
    let head = &sample[..sample.len().min(4096)];
    let zeros_at = |parity: usize| {
        head.iter()
            .skip(parity)
            .step_by(2)
            .filter(|b| **b == 0)
            .count()
    };
    let pairs = head.len() / 2;
    if pairs >= 2 {
        let (even, odd) = (zeros_at(0), zeros_at(1));
        if odd * 10 >= pairs * 4 && even * 10 < pairs {
            return Ok(TextEncoding::Utf16Le);
        }
        if even * 10 >= pairs * 4 && odd * 10 < pairs {
            return Ok(TextEncoding::Utf16Be);
        }
    }
    let controls = sample
        .iter()
        .filter(|b| **b < 0x20 && !matches!(**b, b'\t' | b'\n' | b'\r' | 0x0C))
        .count();
    if sample.contains(&0) || controls * 100 > sample.len() {
        return Err(Unusable::Binary);
    }
    match std::str::from_utf8(sample) {
        Ok(_) => Ok(TextEncoding::Utf8),
        // A character cut off by the end of the sample, not by the file.
        Err(e) if e.error_len().is_none() && !complete => Ok(TextEncoding::Utf8),
        Err(_) => Ok(TextEncoding::Windows1252),
    }
}

fn non_empty(rest: &[u8], encoding: TextEncoding) -> Result<TextEncoding, Unusable> {
    if rest.iter().all(|b| b.is_ascii_whitespace() || *b == 0) {
        Err(Unusable::Empty)
    } else {
        Ok(encoding)
    }
}

/// The first part of the file as text, for the other guesses and the preview.
pub fn decode_sample(sample: &[u8], encoding: TextEncoding) -> String {
    // `decode` removes a byte order mark that agrees with the encoding.
    let (text, _, _) = encoding.encoding().decode(sample);
    text.into_owned()
}

/// The delimiters spreadsheets write.
const DELIMITERS: [u8; 3] = [b',', b';', b'\t'];

/// The delimiter that splits the first lines of `text` into the same number of
/// fields, preferring more fields; a comma when nothing splits.
pub fn delimiter(text: &str) -> u8 {
    let mut best = (0usize, 0usize, b',');
    for d in DELIMITERS {
        let mut reader = csv::ReaderBuilder::new()
            .delimiter(d)
            .has_headers(false)
            .flexible(true)
            .from_reader(text.as_bytes());
        let counts: Vec<usize> = reader
            .records()
            .take(20)
            .map_while(Result::ok)
            .map(|r| r.len())
            .collect();
        // The last line of a sample may be cut off; judge it only if it is alone.
        let judged = if counts.len() > 1 {
            &counts[..counts.len() - 1]
        } else {
            &counts[..]
        };
        let Some(&header) = judged.first() else {
            continue;
        };
        if header < 2 {
            continue;
        }
        let agreeing = judged.iter().filter(|c| **c == header).count();
        let score = (agreeing * 100 / judged.len(), header, d);
        if (score.0, score.1) > (best.0, best.1) {
            best = score;
        }
    }
    best.2
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utf16le(text: &str, bom: bool) -> Vec<u8> {
        let mut out = if bom { vec![0xFF, 0xFE] } else { vec![] };
        out.extend(text.encode_utf16().flat_map(u16::to_le_bytes));
        out
    }

    #[test]
    fn encodings_are_told_apart() {
        let text = "First Name,Last Name,Email\nZoë,Ångström,zoe@example.com\n";
        assert_eq!(encoding(text.as_bytes(), true), Ok(TextEncoding::Utf8));
        let with_bom = [b"\xEF\xBB\xBF".as_slice(), text.as_bytes()].concat();
        assert_eq!(encoding(&with_bom, true), Ok(TextEncoding::Utf8));
        assert_eq!(
            encoding(&utf16le(text, true), true),
            Ok(TextEncoding::Utf16Le)
        );
        assert_eq!(
            encoding(&utf16le(text, false), true),
            Ok(TextEncoding::Utf16Le)
        );
        let be: Vec<u8> = [0xFE, 0xFF]
            .into_iter()
            .chain(text.encode_utf16().flat_map(u16::to_be_bytes))
            .collect();
        assert_eq!(encoding(&be, true), Ok(TextEncoding::Utf16Be));
        let (cp1252, _, _) = encoding_rs::WINDOWS_1252.encode(text);
        assert_eq!(encoding(&cp1252, true), Ok(TextEncoding::Windows1252));
        assert_eq!(decode_sample(&cp1252, TextEncoding::Windows1252), text);
        assert_eq!(decode_sample(&with_bom, TextEncoding::Utf8), text);
        assert_eq!(
            decode_sample(&utf16le(text, true), TextEncoding::Utf16Le),
            text
        );
    }

    #[test]
    fn a_character_cut_by_the_sample_is_still_utf8() {
        let text = "Name\nZoë".as_bytes();
        let cut = &text[..text.len() - 1];
        assert_eq!(encoding(cut, false), Ok(TextEncoding::Utf8));
        assert_eq!(encoding(cut, true), Ok(TextEncoding::Windows1252));
    }

    #[test]
    fn files_that_are_not_csv_say_what_they_are() {
        assert_eq!(encoding(b"", true), Err(Unusable::Empty));
        assert_eq!(encoding(b" \r\n\n", true), Err(Unusable::Empty));
        assert_eq!(encoding(b"\xEF\xBB\xBF", true), Err(Unusable::Empty));
        assert!(matches!(
            encoding(b"PK\x03\x04\x14\x00\x06\x00", true),
            Err(Unusable::OtherFormat(_))
        ));
        assert!(matches!(
            encoding(b"%PDF-1.7\n", true),
            Err(Unusable::OtherFormat(_))
        ));
        let binary: Vec<u8> = (0..=255u8).cycle().take(3000).collect();
        assert_eq!(encoding(&binary, true), Err(Unusable::Binary));
        assert!(
            Unusable::OtherFormat("an Excel workbook or another zip archive")
                .to_string()
                .contains("Save it as CSV")
        );
    }

    #[test]
    fn delimiters_are_detected_from_consistent_lines() {
        assert_eq!(delimiter("a,b,c\n1,2,3\n4,5,6\n"), b',');
        assert_eq!(delimiter("a;b;c\n1;2,5;3\n4;5;6\n"), b';');
        assert_eq!(delimiter("a\tb\tc\n1\t2\t3\n"), b'\t');
        // Commas inside quoted fields do not count.
        assert_eq!(
            delimiter("name;note\n\"Smith, John\";\"a, b, c\"\nAda;x\n"),
            b';'
        );
        assert_eq!(delimiter("just one column\nvalue\n"), b',');
        // A last line cut off by the sample does not decide.
        assert_eq!(delimiter("a;b;c\n1;2;3\n4;5;6\n7;8"), b';');
    }
}
