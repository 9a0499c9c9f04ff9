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

/// CSV records of a file in `encoding`, split on `delimiter`, header first.
/// A byte order mark is removed; rows may have more or fewer cells than the header.
pub fn records<R: Read>(input: R, encoding: TextEncoding, delimiter: u8) -> csv::Reader<impl Read> {
    let decoded = encoding_rs_io::DecodeReaderBytesBuilder::new()
        .encoding(Some(encoding.encoding()))
        .bom_override(true)
        .build(input);
    csv::ReaderBuilder::new()
        .delimiter(delimiter)
        .flexible(true)
        .from_reader(decoded)
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = "First Name\tLast Name\tEmail\r\nZoë\tÅngström\tzoe@example.com\r\n\
                        \"Ada\r\nMarie\"\tLovelace\tada@example.com\r\n";

    fn rows(bytes: &[u8], encoding: TextEncoding) -> Vec<Vec<String>> {
        let mut reader = records(bytes, encoding, b'\t');
        let mut out = vec![reader.headers().unwrap().iter().map(String::from).collect()];
        for r in reader.records() {
            out.push(r.unwrap().iter().map(String::from).collect());
        }
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
        let mut reader = records(limited, TextEncoding::Utf8, b',');
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
            records(limited, TextEncoding::Utf8, b',').records().count(),
            999
        );
        assert_eq!(counter.load(Ordering::Relaxed), data.len() as u64);
    }
}
