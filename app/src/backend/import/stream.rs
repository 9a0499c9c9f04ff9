//! Reading a whole upload as it streams: decoding to UTF-8, CSV records with
//! their true line numbers, and quotes left open.

use super::sniff::TextEncoding;
use std::collections::VecDeque;
use std::io::{self, Read};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

/// Why an upload over the size limit is refused.
pub fn too_large(limit: u64) -> String {
    format!(
        "The file is larger than the limit of {} MB.",
        limit.div_ceil(1024 * 1024)
    )
}

/// The longest record read, in bytes of text: a longer one is refused with
/// its line before the reader holds it whole (a quote left open, or a file
/// that is not a list of people).
pub const MAX_RECORD: usize = 1024 * 1024;

/// The error a record longer than [`MAX_RECORD`] raises inside the reader;
/// `import::broken` finds its line in it.
#[derive(Debug)]
pub struct RecordTooLong {
    pub line: u64,
}

impl std::fmt::Display for RecordTooLong {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "a record starts there that is longer than {} MB",
            MAX_RECORD / (1024 * 1024)
        )
    }
}

impl std::error::Error for RecordTooLong {}

/// CSV records read from an upload, header first.
pub type Records<'a> = csv::Reader<Box<dyn Read + Send + 'a>>;

/// CSV records of a file in `encoding`, split on `delimiter`, header first,
/// and a watch that tells, once they are read, whether a quoted value was left
/// open, and with `lines`, the line each record starts on. A byte order mark is
/// removed; rows may have more or fewer cells than the header.
pub fn records<'a, R: Read + Send + 'a>(
    input: R,
    encoding: TextEncoding,
    delimiter: u8,
    lines: bool,
) -> (Records<'a>, QuoteWatch) {
    let decoded = encoding_rs_io::DecodeReaderBytesBuilder::new()
        .encoding(Some(encoding.encoding()))
        .bom_override(true)
        .build(input);
    let watch = QuoteWatch {
        open: Arc::default(),
        starts: lines.then(Arc::default),
    };
    let scanner = QuoteScanner {
        inner: decoded,
        delimiter,
        state: State::FieldStart,
        line: 1,
        opened_on: 0,
        offset: 0,
        line_start: true,
        record_bytes: 0,
        record_line: 1,
        open: watch.open.clone(),
        starts: watch.starts.clone(),
    };
    let reader = csv::ReaderBuilder::new()
        .delimiter(delimiter)
        .flexible(true)
        .from_reader(Box::new(scanner) as Box<dyn Read + Send + 'a>);
    (reader, watch)
}

/// Where lines with content start, read ahead of the records: (byte offset in
/// the decoded text, line number).
type LineStarts = Arc<Mutex<VecDeque<(u64, u64)>>>;

/// Whether the file read so far ends inside a quoted value, and which line
/// a record starts on. The `csv` crate reads a quoted value that is never closed
/// to the end of the file without complaint; an importer must say that the file
/// is broken instead. Its line numbers are off by one after a CRLF.
#[derive(Clone)]
pub struct QuoteWatch {
    open: Arc<AtomicU64>,
    starts: Option<LineStarts>,
}

impl QuoteWatch {
    /// The line the open quote is on, if the file ended inside it.
    pub fn unclosed_since(&self) -> Option<u64> {
        match self.open.load(Ordering::Relaxed) {
            0 => None,
            line => Some(line),
        }
    }

    /// The line (from 1) of a record whose position is byte `offset`, which
    /// may point at the line break or blank lines before it. Records must be
    /// asked about in file order, and only when `records` was asked for lines.
    pub fn line_of(&self, offset: u64) -> u64 {
        let Some(starts) = &self.starts else {
            return 0;
        };
        let mut starts = starts.lock().unwrap_or_else(|e| e.into_inner());
        while starts.front().is_some_and(|(at, _)| *at < offset) {
            starts.pop_front();
        }
        starts.front().map_or(0, |(_, line)| *line)
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum State {
    FieldStart,
    Unquoted,
    Quoted,
    /// A quote inside a quoted value: its end, or the first of an escaped pair.
    QuoteInQuoted,
}

/// Follows the quoting of the text passing through, as `csv` reads it.
struct QuoteScanner<R> {
    inner: R,
    delimiter: u8,
    state: State,
    line: u64,
    opened_on: u64,
    /// Bytes passed through, and whether the next one begins a line.
    offset: u64,
    line_start: bool,
    /// Bytes of the record being read so far, and the line it starts on.
    record_bytes: usize,
    record_line: u64,
    open: Arc<AtomicU64>,
    starts: Option<LineStarts>,
}

impl<R: Read> Read for QuoteScanner<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        let mut starts = self
            .starts
            .as_ref()
            .map(|s| s.lock().unwrap_or_else(|e| e.into_inner()));
        for &b in &buf[..n] {
            let at = self.offset;
            self.offset += 1;
            if self.record_bytes == 0 {
                self.record_line = self.line;
            }
            // A line break outside quotes ends the record.
            if b == b'\n' && self.state != State::Quoted {
                self.record_bytes = 0;
            } else {
                self.record_bytes += 1;
                if self.record_bytes > MAX_RECORD {
                    return Err(io::Error::new(
                        io::ErrorKind::InvalidData,
                        RecordTooLong {
                            line: self.record_line,
                        },
                    ));
                }
            }
            match b {
                b'\n' => {
                    self.line += 1;
                    self.line_start = true;
                }
                b'\r' => {}
                _ if self.line_start => {
                    self.line_start = false;
                    if let Some(starts) = starts.as_mut() {
                        starts.push_back((at, self.line));
                    }
                }
                _ => {}
            }
            self.state = match (self.state, b) {
                (State::FieldStart, b'"') => {
                    self.opened_on = self.line;
                    self.open.store(self.line, Ordering::Relaxed);
                    State::Quoted
                }
                (State::Quoted, b'"') => {
                    self.open.store(0, Ordering::Relaxed);
                    State::QuoteInQuoted
                }
                (State::Quoted, _) => State::Quoted,
                (State::QuoteInQuoted, b'"') => {
                    self.open.store(self.opened_on, Ordering::Relaxed);
                    State::Quoted
                }
                (_, b'\n' | b'\r') => State::FieldStart,
                (_, b) if b == self.delimiter => State::FieldStart,
                _ => State::Unquoted,
            };
        }
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = "First Name\tLast Name\tEmail\r\nZoë\tÅngström\tzoe@example.com\r\n\
                        \"Ada\r\nMarie\"\tLovelace\tada@example.com\r\n";

    fn rows(bytes: &[u8], encoding: TextEncoding) -> Vec<Vec<String>> {
        let (mut reader, watch) = records(bytes, encoding, b'\t', false);
        let mut out = vec![reader.headers().unwrap().iter().map(String::from).collect()];
        for r in reader.records() {
            out.push(r.unwrap().iter().map(String::from).collect());
        }
        assert_eq!(watch.unclosed_since(), None);
        out
    }

    #[test]
    fn every_encoding_reads_to_the_same_records() {
        let expected = rows(TEXT.as_bytes(), TextEncoding::Utf8);
        assert_eq!(expected.len(), 3);
        assert_eq!(expected[2][0], "Ada\r\nMarie");
        let bom8 = [b"\xEF\xBB\xBF".as_slice(), TEXT.as_bytes()].concat();
        assert_eq!(rows(&bom8, TextEncoding::Utf8), expected);
        let le: Vec<u8> = [0xFF, 0xFE]
            .into_iter()
            .chain(TEXT.encode_utf16().flat_map(u16::to_le_bytes))
            .collect();
        assert_eq!(rows(&le, TextEncoding::Utf16Le), expected);
        let be: Vec<u8> = TEXT.encode_utf16().flat_map(u16::to_be_bytes).collect();
        assert_eq!(rows(&be, TextEncoding::Utf16Be), expected);
        let (cp1252, _, _) = encoding_rs::WINDOWS_1252.encode(TEXT);
        assert_eq!(rows(&cp1252, TextEncoding::Windows1252), expected);
    }

    #[test]
    fn a_quote_left_open_is_noticed_with_its_line() {
        let read = |text: &str| {
            let (mut reader, watch) = records(text.as_bytes(), TextEncoding::Utf8, b',', false);
            let n = reader.records().count();
            (n, watch.unclosed_since())
        };
        assert_eq!(read("a,b\n\"x\ny\",2\n\"say \"\"hi\"\"\",3\n"), (2, None));
        assert_eq!(
            read("a,b\nO\"Brien,1\n"),
            (1, None),
            "a quote inside a value is text"
        );
        assert_eq!(read("a,b\n1,2\n\"open,3\n4,5\n"), (2, Some(3)));
        assert_eq!(
            read("a,b\n1,\"\"\"\n"),
            (1, Some(2)),
            "an escaped quote does not close"
        );
    }

    #[test]
    fn a_record_longer_than_the_limit_is_refused_with_its_line() {
        let long = "x".repeat(MAX_RECORD);
        for text in [
            format!("a,b\n1,2\n3,{long}\n"),
            format!("a,b\n1,2\n\"3\n{long}\",4\n"),
            format!("a,b\n1,2\n\"open,{long}"),
        ] {
            let (mut reader, _) = records(text.as_bytes(), TextEncoding::Utf8, b',', false);
            let err = reader.records().find_map(Result::err).expect("refused");
            let csv::ErrorKind::Io(io) = err.kind() else {
                panic!("{err}")
            };
            let too_long = io.get_ref().and_then(|e| e.downcast_ref::<RecordTooLong>());
            assert_eq!(too_long.map(|e| e.line), Some(3), "{err}");
        }
        // Just under the limit is read.
        let fits = format!("a,b\n1,{}\n", "x".repeat(MAX_RECORD - 10));
        let (mut reader, _) = records(fits.as_bytes(), TextEncoding::Utf8, b',', false);
        assert_eq!(reader.records().filter(Result::is_ok).count(), 1);
    }

    #[test]
    fn records_know_their_lines_whatever_the_line_breaks() {
        let text = "a,b\r\n1,2\r\n\r\n\"x\r\ny\",3\r\n4,5\n\n6,7";
        for bytes in [text.to_string(), text.replace("\r\n", "\n")] {
            let (mut reader, watch) = records(bytes.as_bytes(), TextEncoding::Utf8, b',', true);
            let lines: Vec<u64> = reader
                .records()
                .map(|r| watch.line_of(r.unwrap().position().unwrap().byte()))
                .collect();
            assert_eq!(lines, vec![2, 4, 6, 8], "{bytes:?}");
        }
    }
}
