//! The uploaded CSV file: spooled to an anonymous temporary file as it
//! arrives (so a 50 MiB upload never sits in memory, and the import's
//! write transaction starts only once the upload is complete, however slow
//! the client), then read back a batch of rows at a time.

use std::{
    collections::VecDeque,
    fs::File,
    io::{Read, Seek, SeekFrom},
    time::Duration,
};

use actix_web::web;
use futures_util::StreamExt;
use tokio::io::AsyncWriteExt;

use crate::error::ApiError;

/// The largest file an import takes.
pub const MAX_IMPORT_BYTES: usize = 50 * 1024 * 1024;

/// Past the limit, the rest of the upload is read and dropped up to this
/// much, so that the client (which may not read a response before it has
/// sent its body) sees the 413 rather than a reset connection.
const DRAIN_BYTES: usize = 2 * MAX_IMPORT_BYTES;

/// Writes the body to a temporary file: 413 past [`MAX_IMPORT_BYTES`] (at
/// once when the declared length says so), 408 past `deadline`.
pub async fn spool(mut payload: web::Payload, declared: Option<usize>, deadline: Duration) -> Result<File, ApiError> {
    if declared.is_some_and(|len| len > MAX_IMPORT_BYTES) {
        return Err(ApiError::PayloadTooLarge);
    }
    let file = tempfile::tempfile().map_err(|e| ApiError::Internal(Box::new(e)))?;
    let mut out = tokio::fs::File::from_std(file);
    let copy = async {
        let mut written = 0usize;
        while let Some(chunk) = payload.next().await {
            let chunk = chunk.map_err(|_| ApiError::BadRequest("The request body could not be read.".to_owned()))?;
            written += chunk.len();
            if written > MAX_IMPORT_BYTES {
                while written <= DRAIN_BYTES {
                    match payload.next().await {
                        Some(Ok(chunk)) => written += chunk.len(),
                        _ => break,
                    }
                }
                return Err(ApiError::PayloadTooLarge);
            }
            out.write_all(&chunk)
                .await
                .map_err(|e| ApiError::Internal(Box::new(e)))?;
        }
        out.flush().await.map_err(|e| ApiError::Internal(Box::new(e)))?;
        Ok(())
    };
    tokio::time::timeout(deadline, copy)
        .await
        .map_err(|_| ApiError::RequestTimeout)??;
    Ok(out.into_std().await)
}

/// A CSV file being read: UTF-8 with or without a byte order mark, comma-
/// or semicolon-separated (whichever the header line has more of outside
/// quotes), quoted fields with line breaks.
///
/// It reads the spooled file with the synchronous `csv` reader: a batch is
/// a few hundred KiB of a file the page cache just received, read in well
/// under a millisecond, so it does not hold the worker up.
pub struct CsvFile {
    reader: csv::Reader<Breaks<File>>,
    /// The header's names, as the file has them.
    pub header: Vec<String>,
}

/// One data row: its first line in the file and its cells.
pub struct Row {
    pub line: u64,
    pub cells: Result<Vec<String>, String>,
}

impl CsvFile {
    /// Opens the spooled file and reads its header: 400 when it has none or
    /// it is not text.
    pub fn open(mut file: File) -> Result<Self, ApiError> {
        let io = |e: std::io::Error| ApiError::Internal(Box::new(e));
        file.seek(SeekFrom::Start(0)).map_err(io)?;
        let mut head = Vec::with_capacity(64 * 1024);
        (&mut file).take(64 * 1024).read_to_end(&mut head).map_err(io)?;
        let bom = head.starts_with(b"\xEF\xBB\xBF");
        let start = if bom { 3 } else { 0 };
        let delimiter = delimiter(&head[start..]);
        file.seek(SeekFrom::Start(start as u64)).map_err(io)?;
        let mut reader = csv::ReaderBuilder::new()
            .delimiter(delimiter)
            .flexible(true)
            .has_headers(true)
            .buffer_capacity(256 * 1024)
            .from_reader(Breaks::new(file));
        let bad = |why: &str| ApiError::BadRequest(format!("The file {why}."));
        let header = reader
            .byte_headers()
            .map_err(|_| bad("could not be read as CSV"))?
            .iter()
            .map(|name| std::str::from_utf8(name).map(|n| n.trim().to_owned()))
            .collect::<Result<Vec<String>, _>>()
            .map_err(|_| bad("is not UTF-8 text: save it as \"CSV UTF-8\""))?;
        if header.iter().all(String::is_empty) {
            return Err(bad("has no header row: its first line must name the columns"));
        }
        Ok(Self { reader, header })
    }

    /// Up to `n` more data rows; fewer at the end of the file. Blank rows are skipped.
    pub fn rows(&mut self, n: usize) -> Vec<Row> {
        let mut rows = Vec::with_capacity(n);
        let mut record = csv::ByteRecord::new();
        while rows.len() < n {
            let start = self.reader.position().byte();
            match self.reader.read_byte_record(&mut record) {
                Ok(false) => break,
                Ok(true) => {
                    let start = record.position().map_or(start, |p| p.byte());
                    let line = self.reader.get_mut().line_at(start);
                    // A blank line, or a row of empty cells as spreadsheets leave below the data.
                    if record.iter().all(|cell| cell.iter().all(u8::is_ascii_whitespace)) {
                        continue;
                    }
                    let cells = if record.len() != self.header.len() {
                        Err(format!(
                            "has {} cells where the header has {} columns",
                            record.len(),
                            self.header.len()
                        ))
                    } else {
                        record
                            .iter()
                            .map(|cell| std::str::from_utf8(cell).map(str::to_owned))
                            .collect::<Result<Vec<String>, _>>()
                            .map_err(|_| "is not UTF-8 text".to_owned())
                    };
                    rows.push(Row { line, cells });
                }
                Err(err) => {
                    let start = err.position().map_or(start, |p| p.byte());
                    let line = self.reader.get_mut().line_at(start);
                    rows.push(Row {
                        line,
                        cells: Err("could not be read as CSV".to_owned()),
                    });
                    if !matches!(
                        err.kind(),
                        csv::ErrorKind::UnequalLengths { .. } | csv::ErrorKind::Utf8 { .. }
                    ) {
                        break;
                    }
                }
            }
        }
        rows
    }
}

/// A file as the CSV reader reads it, noting where its line breaks are, so
/// that a row's line is its first line: the reader's own line count for a
/// row starts before the breaks it skips (blank lines, the `\n` of `\r\n`).
struct Breaks<R> {
    inner: R,
    /// Bytes read so far.
    offset: u64,
    /// Where the `\r` and `\n` not yet passed are.
    breaks: VecDeque<(u64, u8)>,
    /// How many `\n` were passed.
    passed_newlines: u64,
}

impl<R> Breaks<R> {
    fn new(inner: R) -> Self {
        Self {
            inner,
            offset: 0,
            breaks: VecDeque::new(),
            passed_newlines: 0,
        }
    }

    /// The line of the first byte from `from` on that is not a line break.
    /// Calls come with `from` increasing: the breaks before it are passed.
    fn line_at(&mut self, from: u64) -> u64 {
        while let Some(&(_, byte)) = self.breaks.front().filter(|(at, _)| *at < from) {
            self.passed_newlines += u64::from(byte == b'\n');
            self.breaks.pop_front();
        }
        let skipped: u64 = (from..)
            .zip(&self.breaks)
            .take_while(|(next, (at, _))| at == next)
            .map(|(_, (_, byte))| u64::from(*byte == b'\n'))
            .sum();
        1 + self.passed_newlines + skipped
    }
}

impl<R: Read> Read for Breaks<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        for (i, &byte) in buf[..n].iter().enumerate() {
            if byte == b'\n' || byte == b'\r' {
                self.breaks.push_back((self.offset + i as u64, byte));
            }
        }
        self.offset += n as u64;
        Ok(n)
    }
}

/// `;` when the first line has more semicolons than commas outside quotes
/// (spreadsheets in locales with a decimal comma write those), else `,`.
fn delimiter(head: &[u8]) -> u8 {
    let (mut commas, mut semicolons, mut quoted) = (0, 0, false);
    for &b in head {
        match b {
            b'"' => quoted = !quoted,
            b'\n' | b'\r' if !quoted => break,
            b',' if !quoted => commas += 1,
            b';' if !quoted => semicolons += 1,
            _ => {}
        }
    }
    if semicolons > commas {
        b';'
    } else {
        b','
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(content: &[u8]) -> Vec<u64> {
        let mut file = tempfile::tempfile().unwrap();
        std::io::Write::write_all(&mut file, content).unwrap();
        CsvFile::open(file).unwrap().rows(100).iter().map(|r| r.line).collect()
    }

    #[test]
    fn each_row_knows_its_first_line_whatever_the_line_ends() {
        let lf = b"a,b\n1,2\n3,\"x\ny\"\n\n5,6\n";
        assert_eq!(lines(lf), vec![2, 3, 6]);
        let crlf = b"a,b\r\n1,2\r\n3,\"x\r\ny\"\r\n\r\n5,6\r\n";
        assert_eq!(lines(crlf), vec![2, 3, 6]);
        assert_eq!(lines(b"\xEF\xBB\xBFa;b\r\n1;2"), vec![2]);
    }

    #[test]
    fn the_delimiter_is_what_the_header_line_has_more_of() {
        assert_eq!(delimiter(b"a,b,c\n1;2;3;4;5"), b',');
        assert_eq!(delimiter(b"a;b;\"c,d,e\"\n"), b';');
        assert_eq!(delimiter(b"name\n"), b',');
    }
}
