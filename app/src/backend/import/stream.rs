//! Reading a whole upload as it streams: a byte limit enforced while reading,
//! a byte counter for progress, decoding to UTF-8, and CSV records.

use super::sniff::TextEncoding;
use std::io::{self, Read};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// Counts the bytes read through it and fails once more than `limit` arrive,
/// so an oversized upload is refused without being buffered.
pub struct Limited<R> {
    inner: R,
    limit: u64,
    read: Arc<AtomicU64>,
}

impl<R> Limited<R> {
    pub fn new(inner: R, limit: u64) -> Self {
        Self {
            inner,
            limit,
            read: Arc::default(),
        }
    }

    /// Bytes read so far, readable from another thread while this one reads.
    pub fn counter(&self) -> Arc<AtomicU64> {
        self.read.clone()
    }
}

/// The message of the error a [`Limited`] reader fails with.
pub fn too_large(limit: u64) -> String {
    format!(
        "The file is larger than the limit of {} MB.",
        limit.div_ceil(1024 * 1024)
    )
}

impl<R: Read> Read for Limited<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        let total = self.read.fetch_add(n as u64, Ordering::Relaxed) + n as u64;
        if total > self.limit {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                too_large(self.limit),
            ));
        }
        Ok(n)
    }
}

/// CSV records read from an upload, header first.
pub type Records<'a> = csv::Reader<Box<dyn Read + Send + 'a>>;

/// CSV records of a file in `encoding`, split on `delimiter`, header first,
/// and a watch that tells, once they are read, whether a quoted value was left
/// open. A byte order mark is removed; rows may have more or fewer cells than
/// the header.
pub fn records<'a, R: Read + Send + 'a>(
    input: R,
    encoding: TextEncoding,
    delimiter: u8,
) -> (Records<'a>, QuoteWatch) {
    let decoded = encoding_rs_io::DecodeReaderBytesBuilder::new()
        .encoding(Some(encoding.encoding()))
        .bom_override(true)
        .build(input);
    let watch = QuoteWatch::default();
    let scanner = QuoteScanner {
        inner: decoded,
        delimiter,
        state: State::FieldStart,
        line: 1,
        opened_on: 0,
        open: watch.0.clone(),
    };
    let reader = csv::ReaderBuilder::new()
        .delimiter(delimiter)
        .flexible(true)
        .from_reader(Box::new(scanner) as Box<dyn Read + Send + 'a>);
    (reader, watch)
}

/// Whether the file read so far ends inside a quoted value. The `csv` crate
/// reads such a value to the end of the file without complaint; an importer
/// must say that the file is broken instead.
#[derive(Clone, Default)]
pub struct QuoteWatch(Arc<AtomicU64>);

impl QuoteWatch {
    /// The line the open quote is on, if the file ended inside it.
    pub fn unclosed_since(&self) -> Option<u64> {
        match self.0.load(Ordering::Relaxed) {
            0 => None,
            line => Some(line),
        }
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
    open: Arc<AtomicU64>,
}

impl<R: Read> Read for QuoteScanner<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        for &b in &buf[..n] {
            if b == b'\n' {
                self.line += 1;
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
        let (mut reader, watch) = records(bytes, encoding, b'\t');
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
    fn the_limit_stops_reading_and_the_counter_follows() {
        let data = "First,Last,Email\n".repeat(1000);
        let limited = Limited::new(data.as_bytes(), 10_000);
        let counter = limited.counter();
        let (mut reader, _) = records(limited, TextEncoding::Utf8, b',');
        let err = reader
            .records()
            .find_map(Result::err)
            .expect("the limit is reached");
        assert!(
            err.to_string().contains("larger than the limit of 1 MB"),
            "{err}"
        );
        assert!(counter.load(Ordering::Relaxed) > 10_000);

        let limited = Limited::new(data.as_bytes(), data.len() as u64);
        let counter = limited.counter();
        assert_eq!(
            records(limited, TextEncoding::Utf8, b',')
                .0
                .records()
                .count(),
            999
        );
        assert_eq!(counter.load(Ordering::Relaxed), data.len() as u64);
    }

    #[test]
    fn a_quote_left_open_is_noticed_with_its_line() {
        let read = |text: &str| {
            let (mut reader, watch) = records(text.as_bytes(), TextEncoding::Utf8, b',');
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
}
