//! CSV import: reading what people upload (encodings, delimiters, headers),
//! before anything is written.
//!
//! The upload, the import job with its progress, and export build on this.

pub mod apply;
pub mod cells;
pub mod columns;
pub mod export;
pub mod job;
pub mod merge;
pub mod sniff;
pub mod stream;

use crate::backend::domain::validate;
use crate::model::{ContactDraft, FieldError};
pub use columns::{Field, Mapping};
pub use sniff::{TextEncoding, Unusable};

/// What the user confirms before an import starts.
#[derive(Debug, Clone)]
pub struct Preview {
    pub encoding: TextEncoding,
    pub delimiter: u8,
    pub mapping: Mapping,
    /// Why the mapping cannot make contacts, if it cannot; the user may correct it.
    pub mapping_error: Option<String>,
    pub rows: Vec<PreviewRow>,
}

/// One of the first rows, as it would be imported.
#[derive(Debug, Clone)]
pub struct PreviewRow {
    /// The line of the file the row starts on (1 is the header).
    pub line: u64,
    /// The row's cells, one per column (cut or padded to the header's width).
    pub cells: Vec<String>,
    pub draft: ContactDraft,
    /// Empty when the row is valid.
    pub errors: Vec<FieldError>,
}

/// Read the beginning of a file: how to decode and split it, which column is
/// which field (as detected, or as the user `chose` by field key, empty for an
/// ignored column), and the first `rows` rows with their validation results.
/// `complete` says whether `sample` is the whole file.
pub fn preview(
    sample: &[u8],
    complete: bool,
    region: &str,
    rows: usize,
    chose: Option<&[String]>,
) -> Result<Preview, Unusable> {
    let encoding = sniff::encoding(sample, complete)?;
    let text = sniff::decode_sample(sample, encoding);
    let delimiter = sniff::delimiter(&text);
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(delimiter)
        .flexible(true)
        .from_reader(text.as_bytes());
    let headers: Vec<String> = reader
        .headers()
        .map_err(|e| broken(&e))?
        .iter()
        .map(str::to_string)
        .collect();
    let guessed = Mapping::guess(&headers)?;
    let (mapping, mapping_error) = match chose.map(|keys| guessed.with_fields(keys)) {
        None => (guessed, None),
        Some(Ok(m)) => (m, None),
        Some(Err(e)) => (guessed, Some(e)),
    };
    let mapping_error = mapping_error.or_else(|| mapping.check().err().map(|e| e.to_string()));
    if complete {
        // A quote never closed swallows the rest of the file into one value.
        let (mut all, watch) =
            stream::records(text.as_bytes(), TextEncoding::Utf8, delimiter, false);
        all.records().for_each(drop);
        if let Some(line) = watch.unclosed_since() {
            return Err(Unusable::Broken {
                line,
                reason: "a quoted value starts there and is never closed".into(),
            });
        }
    }
    let mut out = Vec::new();
    let mut records = reader.records();
    while out.len() < rows {
        let Some(record) = records.next() else { break };
        let record = match record {
            Ok(r) => r,
            // The sample may end inside a quoted field; later rows are for the import.
            Err(_) if !complete => break,
            Err(e) => return Err(broken(&e)),
        };
        if job::is_blank(&record) {
            continue;
        }
        let draft = mapping.draft(&record);
        let errors = validate(&draft, region).err().unwrap_or_default();
        out.push(PreviewRow {
            line: record.position().map_or(0, |p| line_at(&text, p.byte())),
            cells: (0..headers.len())
                .map(|i| record.get(i).unwrap_or_default().to_string())
                .collect(),
            draft,
            errors,
        });
    }
    Ok(Preview {
        encoding,
        delimiter,
        mapping,
        mapping_error,
        rows: out,
    })
}

/// The line (from 1) a record starts on, from the byte offset `csv` gives for
/// it, which can fall inside the previous record's line break.
pub fn line_at(text: &str, offset: u64) -> u64 {
    let bytes = text.as_bytes();
    let mut end = (offset as usize).min(bytes.len());
    while end < bytes.len() && matches!(bytes[end], b'\r' | b'\n') {
        end += 1;
    }
    1 + bytes[..end].iter().filter(|b| **b == b'\n').count() as u64
}

fn broken(e: &csv::Error) -> Unusable {
    if let csv::ErrorKind::Io(io) = e.kind() {
        if let Some(long) = io
            .get_ref()
            .and_then(|e| e.downcast_ref::<stream::RecordTooLong>())
        {
            return Unusable::Broken {
                line: long.line,
                reason: long.to_string(),
            };
        }
    }
    Unusable::Broken {
        line: e.position().map_or(0, |p| p.line()),
        reason: match e.kind() {
            csv::ErrorKind::Utf8 { .. } => "it is not valid text".into(),
            _ => e.to_string(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_semicolon_file_from_a_spreadsheet_previews_with_its_errors() {
        let text = "\u{feff}Given name;Surname;E-mail;Cell;Badge\r\n\
                    Zoë;Ångström;zoe@example.com;07911 123456;17\r\n\
                    \"O'Brien; Jr\";Pat;not-an-email;;\r\n\
                    ;;;;\r\n\
                    Sam;\"Multi\r\nline\";sam@example.com;;\r\n";
        let (bytes, _, _) = encoding_rs::WINDOWS_1252.encode(text.trim_start_matches('\u{feff}'));
        for sample in [text.as_bytes().to_vec(), bytes.into_owned()] {
            let p = preview(&sample, true, "GB", 10, None).unwrap();
            assert_eq!(p.mapping_error, None);
            assert_eq!(p.delimiter, b';');
            assert_eq!(p.mapping.ignored(), vec!["Badge"]);
            assert_eq!(p.rows.len(), 3, "the blank row is skipped: {:?}", p.rows);
            assert_eq!(p.rows[0].draft.first_name, "Zoë");
            assert_eq!(p.rows[0].draft.last_name, "Ångström");
            assert!(p.rows[0].errors.is_empty(), "{:?}", p.rows[0].errors);
            assert_eq!(p.rows[1].draft.first_name, "O'Brien; Jr");
            assert_eq!(p.rows[1].errors.len(), 1);
            assert_eq!(p.rows[1].errors[0].field, "email");
            let lines: Vec<u64> = p.rows.iter().map(|r| r.line).collect();
            assert_eq!(lines, vec![2, 3, 5]);
            assert_eq!(p.rows[2].draft.last_name, "Multi\r\nline");
        }
    }

    #[test]
    fn unusable_files_are_refused_with_the_reason() {
        assert_eq!(
            preview(b"", true, "GB", 5, None).unwrap_err(),
            Unusable::Empty
        );
        assert!(matches!(
            preview(b"PK\x03\x04rest", true, "GB", 5, None).unwrap_err(),
            Unusable::OtherFormat(_)
        ));
        let err = preview(
            b"First,Last,Email\nAda,L,a@b.c\n\"Grace,Hopper,g@h.i\n",
            true,
            "GB",
            5,
            None,
        )
        .unwrap_err();
        assert_eq!(
            err,
            Unusable::Broken {
                line: 3,
                reason: "a quoted value starts there and is never closed".into()
            }
        );
        assert!(err.to_string().starts_with("Line 3 could not be read"));
    }

    #[test]
    fn a_mapping_that_cannot_make_contacts_is_shown_with_why_and_can_be_corrected() {
        let file = b"Nom,Prenom,Courriel,Code\nCurie,Marie,marie@example.com,7\n";
        let p = preview(file, true, "GB", 5, None).unwrap();
        assert_eq!(
            p.mapping_error.as_deref(),
            Some(Unusable::NoFirstName.to_string().as_str())
        );
        assert_eq!(
            p.rows[0].cells,
            vec!["Curie", "Marie", "marie@example.com", "7"]
        );
        let chose = |keys: &[&str]| {
            let keys: Vec<String> = keys.iter().map(|k| k.to_string()).collect();
            preview(file, true, "GB", 5, Some(&keys)).unwrap()
        };
        let p = chose(&["last_name", "first_name", "email", ""]);
        assert_eq!(p.mapping_error, None);
        assert_eq!(p.rows[0].draft.first_name, "Marie");
        assert!(p.rows[0].errors.is_empty());
        let p = chose(&["last_name", "last_name", "email", ""]);
        assert!(p
            .mapping_error
            .unwrap()
            .starts_with("Last Name is chosen for two columns"));
        let p = chose(&["last_name", "first_name", ""]);
        assert_eq!(
            p.mapping_error.as_deref(),
            Some("The file has 4 columns, but 3 were mapped.")
        );
    }
}
