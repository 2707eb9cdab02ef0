//! One CSV reader for recipients and the suppression list: quotes, a UTF-8 BOM, LF or CRLF, and
//! each row's real line number in the file (where its record starts, counting the lines inside
//! quoted multi-line fields).

use std::collections::VecDeque;
use std::fs::File;
use std::io::{self, Read};
use std::path::Path;

/// A CSV file being read row by row.
pub struct CsvFile {
    reader: csv::Reader<Newlines<File>>,
    /// Newlines met before the current record: its line is this plus one.
    lines_before: u64,
    /// An I/O error ends the file (a malformed row does not).
    done: bool,
}

impl CsvFile {
    /// Open `path`; with `has_headers` the first record is the header (see `headers`). The
    /// `csv` crate strips a UTF-8 BOM and accepts `\n`, `\r\n` and `\r` line ends.
    pub fn open(path: &Path, has_headers: bool) -> io::Result<CsvFile> {
        CsvFile::with(path, csv::ReaderBuilder::new().has_headers(has_headers))
    }

    /// Open a list that may or may not start with a header, whose rows may differ in length,
    /// and where lines starting with `#` are comments (the suppression list).
    pub fn open_list(path: &Path) -> io::Result<CsvFile> {
        let mut b = csv::ReaderBuilder::new();
        b.has_headers(false).flexible(true).comment(Some(b'#'));
        CsvFile::with(path, &mut b)
    }

    fn with(path: &Path, builder: &mut csv::ReaderBuilder) -> io::Result<CsvFile> {
        let file = File::open(path)?;
        // Fields are trimmed here, not by the reader: its trimming copies every record into a
        // new one, and `read_into` lets a caller trim only what it reads.
        let reader = builder.trim(csv::Trim::None).from_reader(Newlines {
            inner: file,
            offset: 0,
            ends: VecDeque::new(),
        });
        Ok(CsvFile {
            reader,
            lines_before: 0,
            done: false,
        })
    }

    /// The header row's fields, trimmed.
    pub fn headers(&mut self) -> csv::Result<Vec<String>> {
        Ok(self
            .reader
            .headers()?
            .iter()
            .map(|h| h.trim().to_string())
            .collect())
    }

    /// Read the next row into `record`, reusing its memory: its first line (1-based), or why
    /// the reader could not read it. The fields are **not** trimmed (the iterator trims them):
    /// trim each field read with `str::trim`.
    pub fn read_into(&mut self, record: &mut csv::StringRecord) -> Option<(u64, csv::Result<()>)> {
        if self.done {
            return None;
        }
        match self.reader.read_record(record) {
            Ok(false) => None,
            Ok(true) => {
                let byte = record.position().map_or(0, |p| p.byte());
                Some((self.line_at(byte), Ok(())))
            }
            Err(e) => {
                if matches!(e.kind(), csv::ErrorKind::Io(_)) {
                    self.done = true;
                }
                let byte = e
                    .position()
                    .map(|p| p.byte())
                    .unwrap_or_else(|| self.reader.position().byte());
                Some((self.line_at(byte), Err(e)))
            }
        }
    }

    /// The line of the record the reader began reading at byte `byte`. The reader begins a
    /// record where the previous one ended, before its line end, so line ends (and the blank
    /// lines the reader skips) at the start are passed over. Records come in file order, so
    /// line ends before them are counted once and forgotten.
    fn line_at(&mut self, mut byte: u64) -> u64 {
        let ends = &mut self.reader.get_mut().ends;
        while let Some(&(at, b)) = ends.front() {
            if at > byte {
                break;
            }
            if at == byte {
                byte += 1;
            }
            // `\n` ends a line, and so does a `\r` that no `\n` follows (old Mac files);
            // the `\r` of a `\r\n` is counted by its `\n`.
            let crlf = matches!(ends.get(1), Some(&(next, b'\n')) if next == at + 1);
            ends.pop_front();
            if b == b'\n' || !crlf {
                self.lines_before += 1;
            }
        }
        self.lines_before + 1
    }
}

impl Iterator for CsvFile {
    /// The row's first line (1-based) and the row, or why the reader could not read it.
    type Item = (u64, csv::Result<csv::StringRecord>);

    fn next(&mut self) -> Option<Self::Item> {
        let mut record = csv::StringRecord::new();
        let (line, read) = self.read_into(&mut record)?;
        Some((
            line,
            read.map(|()| {
                record.trim();
                record
            }),
        ))
    }
}

/// A reader that notes the byte offset of every `\r` and `\n` it passes on.
struct Newlines<R> {
    inner: R,
    offset: u64,
    ends: VecDeque<(u64, u8)>,
}

impl<R: Read> Read for Newlines<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        let base = self.offset;
        self.ends.extend(
            buf[..n]
                .iter()
                .enumerate()
                .filter(|(_, &b)| b == b'\n' || b == b'\r')
                .map(|(i, &b)| (base + i as u64, b)),
        );
        self.offset += n as u64;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(content: &[u8]) -> Vec<(u64, String)> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.csv");
        std::fs::write(&path, content).unwrap();
        let mut f = CsvFile::open(&path, true).unwrap();
        assert_eq!(f.headers().unwrap()[0], "to");
        f.map(|(line, r)| {
            (
                line,
                r.map_or_else(|e| format!("error {e}"), |r| r[0].to_string()),
            )
        })
        .collect()
    }

    #[test]
    fn real_lines_for_lf_crlf_bom_and_multiline_fields() {
        let expected = vec![(2, "a".into()), (4, "b".into()), (5, "c".into())];
        assert_eq!(lines(b"to,x\na,\"1\n2\"\nb,3\nc,4\n"), expected);
        assert_eq!(
            lines(b"to,x\na,1\n\"b\",\"1\n2\"\nc,4\n"),
            [(2, "a".into()), (3, "b".into()), (5, "c".into())]
        );
        assert_eq!(
            lines(b"\xef\xbb\xbfto,x\r\na,\"1\r\n2\"\r\nb,3\r\nc,4\r\n"),
            expected
        );
        assert_eq!(
            lines(b"to,x\n\na,1\r\n\r\nb,2"),
            [(3, "a".into()), (5, "b".into())]
        );
        assert_eq!(
            lines(b"to,x\r\na,1\r\nb,2\r\n"),
            [(2, "a".into()), (3, "b".into())]
        );
        // `\r` alone ends lines too (old Mac files), also inside quoted fields and in blank lines.
        assert_eq!(lines(b"to,x\ra,\"1\r2\"\rb,3\rc,4\r"), expected);
        assert_eq!(
            lines(b"to,x\r\ra,1\r\n\rb,2"),
            [(3, "a".into()), (5, "b".into())]
        );
    }

    #[test]
    fn read_into_reuses_the_record_and_leaves_trimming_to_the_caller() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.csv");
        std::fs::write(&path, " to , x\n a ,\u{a0}1 \n b,2\n").unwrap();
        let mut f = CsvFile::open(&path, true).unwrap();
        assert_eq!(f.headers().unwrap(), ["to", "x"]);
        let mut record = csv::StringRecord::new();
        assert!(matches!(f.read_into(&mut record), Some((2, Ok(())))));
        assert_eq!(record.iter().collect::<Vec<_>>(), [" a ", "\u{a0}1 "]);
        assert!(matches!(f.read_into(&mut record), Some((3, Ok(())))));
        assert_eq!(record.iter().collect::<Vec<_>>(), [" b", "2"]);
        assert!(f.read_into(&mut record).is_none());
        // The iterator trims as `str::trim` does (Unicode white space included).
        let mut f = CsvFile::open(&path, true).unwrap();
        f.headers().unwrap();
        let first = f.next().unwrap().1.unwrap();
        assert_eq!(first.iter().collect::<Vec<_>>(), ["a", "1"]);
    }

    #[test]
    fn malformed_rows_keep_their_line_and_reading_goes_on() {
        let got = lines(b"to,x\r\na,1\r\nb,2,3\r\nc,\xff\r\nd,4\r\n");
        assert_eq!(got[0], (2, "a".into()));
        assert_eq!(got[1].0, 3);
        assert!(got[1].1.starts_with("error"), "{got:?}");
        assert_eq!(got[2].0, 4);
        assert!(got[2].1.contains("UTF-8"), "{got:?}");
        assert_eq!(got[3], (5, "d".into()));
    }
}
