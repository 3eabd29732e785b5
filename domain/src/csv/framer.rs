//! [`CsvFramer`]: the strict CSV state machine, bytes in and rows out.

use super::header::check_header;
use super::{FileError, FramedRow, COLUMNS_WITH_TYPE, DEFAULT_MAX_ROW_BYTES};
use crate::transaction::{RawTransaction, Rejection};

const BOM: &[u8; 3] = b"\xEF\xBB\xBF";

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum State {
    /// Nothing of the current line consumed yet.
    LineStart,
    /// At the start of a field after a separator.
    FieldStart,
    Unquoted,
    Quoted,
    /// Just after a `"` inside a quoted field: an escaped quote or the closing one.
    QuoteInQuoted,
    /// After a CR ending a row; LF must follow.
    CrInRow,
    /// After a CR on an otherwise empty line; LF must follow.
    CrBlank,
}

/// `,` `"` CR LF: the bytes that end a run of plain field content.
static SPECIAL: [bool; 256] = {
    let mut t = [false; 256];
    t[b',' as usize] = true;
    t[b'"' as usize] = true;
    t[b'\r' as usize] = true;
    t[b'\n' as usize] = true;
    t
};

/// A push-based strict CSV framer: bytes in, [`FramedRow`]s out. See the [`csv`](super) module
/// documentation for the rules.
#[derive(Debug)]
pub struct CsvFramer {
    max_row_bytes: usize,
    state: State,
    /// How many bytes of a BOM have been seen at the start; `None` once past the start.
    bom: Option<usize>,
    /// The current physical line.
    pub(super) line: u64,
    /// Bytes consumed before the current chunk.
    pos: u64,
    /// Where the current row started: byte position and line.
    row_pos: u64,
    row_line: u64,
    /// Where the current quoted field opened.
    quote_line: u64,
    /// The current row's field contents, unquoted and unescaped, back to back.
    buf: Vec<u8>,
    /// The end of each finished field of the current row in `buf`.
    ends: Vec<usize>,
    /// The header's number of columns, once read.
    columns: Option<usize>,
    failed: Option<FileError>,
    finished: bool,
}

impl Default for CsvFramer {
    fn default() -> Self {
        Self::new()
    }
}

impl CsvFramer {
    pub fn new() -> Self {
        Self::with_max_row_bytes(DEFAULT_MAX_ROW_BYTES)
    }

    /// A framer refusing the file at any row larger than `max_row_bytes`: the row's bytes from its
    /// first to its line end, quotes and separators included, the line end excluded.
    pub fn with_max_row_bytes(max_row_bytes: usize) -> Self {
        CsvFramer {
            max_row_bytes,
            state: State::LineStart,
            bom: Some(0),
            line: 1,
            pos: 0,
            row_pos: 0,
            row_line: 1,
            quote_line: 1,
            buf: Vec::with_capacity(256),
            ends: Vec::with_capacity(16),
            columns: None,
            failed: None,
            finished: false,
        }
    }

    /// The header's number of columns (10 or 12), once the header has been read.
    pub fn columns(&self) -> Option<usize> {
        self.columns
    }

    /// Frames `chunk`, appending every row it completes to `out`. On a [`FileError`] the rows
    /// appended before it stand, and every later call returns the same error.
    pub fn push(&mut self, chunk: &[u8], out: &mut Vec<FramedRow>) -> Result<(), FileError> {
        if let Some(e) = &self.failed {
            return Err(e.clone());
        }
        if self.finished {
            return Err(self.fail(self.line, "input after the end of the file"));
        }
        let mut chunk = chunk;
        if let Some(seen) = self.bom {
            // Match the BOM byte by byte: a chunk may end inside it.
            let mut seen = seen;
            let mut i = 0;
            while seen < BOM.len() && i < chunk.len() && chunk[i] == BOM[seen] {
                seen += 1;
                i += 1;
            }
            if seen == BOM.len() {
                self.bom = None;
                self.pos += BOM.len() as u64;
                chunk = &chunk[i..];
            } else if i == chunk.len() {
                self.bom = Some(seen);
                return Ok(());
            } else {
                // Not a BOM: the bytes held back are data.
                self.bom = None;
                chunk = &chunk[i..];
                self.feed(&BOM[..seen], out)?;
            }
        }
        self.feed(chunk, out)
    }

    /// Ends the input: frames a last row without a line end, and refuses an unterminated quoted
    /// field, a dangling CR or a file without a header.
    pub fn finish(&mut self, out: &mut Vec<FramedRow>) -> Result<(), FileError> {
        if let Some(e) = &self.failed {
            return Err(e.clone());
        }
        if self.finished {
            return Ok(());
        }
        if let Some(seen) = self.bom.take() {
            self.feed(&BOM[..seen], out)?;
        }
        match self.state {
            State::LineStart => {}
            State::FieldStart | State::Unquoted | State::QuoteInQuoted => {
                self.end_field();
                self.end_row(out)?;
                self.state = State::LineStart;
            }
            State::Quoted => {
                return Err(self.fail(
                    self.quote_line,
                    "broken quoting: a quoted field opened on this line is never closed",
                ));
            }
            State::CrInRow | State::CrBlank => {
                return Err(self.fail(self.line, "a carriage return not followed by a line feed"));
            }
        }
        if self.columns.is_none() {
            return Err(self.fail(1, "empty file: no header"));
        }
        self.finished = true;
        Ok(())
    }

    fn feed(&mut self, data: &[u8], out: &mut Vec<FramedRow>) -> Result<(), FileError> {
        let mut i = 0;
        while i < data.len() {
            match self.state {
                State::LineStart => match data[i] {
                    b'\n' => {
                        self.line += 1;
                        i += 1;
                    }
                    b'\r' => {
                        self.state = State::CrBlank;
                        i += 1;
                    }
                    _ => {
                        self.row_pos = self.pos + i as u64;
                        self.row_line = self.line;
                        self.state = State::FieldStart;
                    }
                },
                State::FieldStart => {
                    if data[i] == b'"' {
                        self.quote_line = self.line;
                        self.state = State::Quoted;
                        i += 1;
                    } else {
                        self.state = State::Unquoted;
                    }
                }
                State::Unquoted => {
                    let start = i;
                    while i < data.len() && !SPECIAL[usize::from(data[i])] {
                        i += 1;
                    }
                    self.buf.extend_from_slice(&data[start..i]);
                    self.check_size(i)?;
                    let Some(&b) = data.get(i) else { break };
                    i += 1;
                    match b {
                        b',' => {
                            self.end_field();
                            self.state = State::FieldStart;
                        }
                        b'\n' => {
                            self.end_field();
                            self.end_row(out)?;
                            self.line += 1;
                            self.state = State::LineStart;
                        }
                        b'\r' => self.state = State::CrInRow,
                        _ => {
                            return Err(self.fail(
                                self.line,
                                "broken quoting: a quote inside an unquoted field",
                            ));
                        }
                    }
                }
                State::Quoted => {
                    let rest = &data[i..];
                    let (run, closed) = match rest.iter().position(|&c| c == b'"') {
                        Some(k) => (&rest[..k], true),
                        None => (rest, false),
                    };
                    self.line += run.iter().filter(|&&c| c == b'\n').count() as u64;
                    self.buf.extend_from_slice(run);
                    i += run.len();
                    if closed {
                        i += 1;
                        self.state = State::QuoteInQuoted;
                    }
                    self.check_size(i)?;
                }
                State::QuoteInQuoted => {
                    let b = data[i];
                    i += 1;
                    match b {
                        b'"' => {
                            self.buf.push(b'"');
                            self.state = State::Quoted;
                        }
                        b',' => {
                            self.end_field();
                            self.state = State::FieldStart;
                        }
                        b'\n' => {
                            self.end_field();
                            self.end_row(out)?;
                            self.line += 1;
                            self.state = State::LineStart;
                        }
                        b'\r' => self.state = State::CrInRow,
                        _ => {
                            return Err(self.fail(
                                self.line,
                                "broken quoting: a character after a closing quote \
                                 (only a separator or a line end may follow it)",
                            ));
                        }
                    }
                }
                State::CrInRow | State::CrBlank => {
                    if data[i] != b'\n' {
                        return Err(
                            self.fail(self.line, "a carriage return not followed by a line feed")
                        );
                    }
                    i += 1;
                    if self.state == State::CrInRow {
                        self.end_field();
                        self.end_row(out)?;
                    }
                    self.line += 1;
                    self.state = State::LineStart;
                }
            }
        }
        self.pos += data.len() as u64;
        Ok(())
    }

    /// Refuses the row once it has grown past the limit (`i`: how far into the chunk).
    fn check_size(&mut self, i: usize) -> Result<(), FileError> {
        let size = self.pos + i as u64 - self.row_pos;
        if size > self.max_row_bytes as u64 {
            let msg = format!("row too large: more than {} bytes", self.max_row_bytes);
            return Err(self.fail(self.row_line, &msg));
        }
        Ok(())
    }

    fn end_field(&mut self) {
        self.ends.push(self.buf.len());
    }

    /// The current row is complete: validate its text, then read it as the header or as a row.
    fn end_row(&mut self, out: &mut Vec<FramedRow>) -> Result<(), FileError> {
        let text = match std::str::from_utf8(&self.buf) {
            Ok(text) => text,
            Err(e) => {
                let line = self.line_at(e.valid_up_to());
                return Err(self.fail_utf8(line));
            }
        };
        // Each field must be UTF-8 on its own, not just all of them back to back.
        if let Some(&end) = self.ends.iter().find(|&&end| !text.is_char_boundary(end)) {
            let line = self.line_at(end);
            return Err(self.fail_utf8(line));
        }
        let field = |k: usize| {
            let start = if k == 0 { 0 } else { self.ends[k - 1] };
            &text[start..self.ends[k]]
        };
        let n = self.ends.len();
        match self.columns {
            None => {
                let names: Vec<&str> = (0..n).map(|k| field(k).trim()).collect();
                if let Err(msg) = check_header(&names) {
                    let line = self.row_line;
                    return Err(self.fail(line, &msg));
                }
                self.columns = Some(n);
            }
            Some(columns) if columns != n => {
                let rejection = Rejection::row(
                    field(0),
                    format!("row has {n} fields; the header has {columns}"),
                );
                out.push(FramedRow {
                    line: self.row_line,
                    raw: Err(rejection),
                });
            }
            Some(columns) => {
                let with_type = columns == COLUMNS_WITH_TYPE.len();
                let raw = RawTransaction {
                    id: field(0).to_owned(),
                    transaction_id: field(1).to_owned(),
                    merchant: field(2).to_owned(),
                    mcc: field(3).to_owned(),
                    currency: field(4).to_owned(),
                    amount: field(5).to_owned(),
                    transaction_date: field(6).to_owned(),
                    card_id: field(7).to_owned(),
                    card_pan: field(8).to_owned(),
                    card_type: field(9).to_owned(),
                    type_: with_type.then(|| field(10).to_owned()),
                    original_id: with_type.then(|| field(11).to_owned()),
                };
                out.push(FramedRow {
                    line: self.row_line,
                    raw: Ok(raw),
                });
            }
        }
        self.buf.clear();
        self.ends.clear();
        Ok(())
    }

    /// The physical line of byte `offset` of the current row's contents: line ends inside quoted
    /// fields are kept in the contents, so count them.
    fn line_at(&self, offset: usize) -> u64 {
        self.row_line + self.buf[..offset].iter().filter(|&&c| c == b'\n').count() as u64
    }

    fn fail_utf8(&mut self, line: u64) -> FileError {
        let e = FileError {
            line,
            message: "not utf-8: an invalid byte sequence".to_owned(),
        };
        self.failed = Some(e.clone());
        e
    }

    /// Refuses the file at `line`, unless the current row already held invalid UTF-8 before it:
    /// the input broke there first.
    fn fail(&mut self, line: u64, message: &str) -> FileError {
        if let Err(e) = std::str::from_utf8(&self.buf) {
            // An incomplete sequence at the very end may still be completed: not an error yet.
            if e.error_len().is_some() {
                let at = self.line_at(e.valid_up_to());
                if at <= line {
                    return self.fail_utf8(at);
                }
            }
        }
        let e = FileError {
            line,
            message: message.to_owned(),
        };
        self.failed = Some(e.clone());
        e
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEADER: &str = "id,transaction_id,merchant,mcc,currency,amount,transaction_date,card_id,card_pan,card_type\n";

    fn frame(input: &[u8]) -> (Vec<FramedRow>, Option<FileError>) {
        let mut f = CsvFramer::new();
        let mut out = Vec::new();
        let r = f.push(input, &mut out).and_then(|()| f.finish(&mut out));
        (out, r.err())
    }

    #[test]
    fn header_only_is_no_rows() {
        let (rows, err) = frame(HEADER.as_bytes());
        assert!(rows.is_empty());
        assert_eq!(err, None);
    }

    #[test]
    fn a_row_by_column() {
        let input = format!("{HEADER}a,b,c,d,e,f,g,h,i,j\n");
        let (rows, err) = frame(input.as_bytes());
        assert_eq!(err, None);
        let raw = rows[0].raw.as_ref().unwrap();
        assert_eq!(rows[0].line, 2);
        assert_eq!(
            [&raw.id, &raw.merchant, &raw.card_pan, &raw.card_type],
            ["a", "c", "i", "j"]
        );
        assert_eq!(raw.type_, None);
    }

    #[test]
    fn after_an_error_every_call_fails_the_same() {
        let mut f = CsvFramer::new();
        let mut out = Vec::new();
        let e = f.push(b"id,\"x\"y\n", &mut out).unwrap_err();
        assert_eq!(f.push(b"more", &mut out), Err(e.clone()));
        assert_eq!(f.finish(&mut out), Err(e));
    }
}
