//! [`CsvReader`]: the framer over a synchronous [`Read`].

use std::collections::VecDeque;
use std::io::Read;

use super::{CsvFramer, FileError, FramedRow};

/// A synchronous adaptor: frames a [`Read`] in 64 KiB reads. Yields rows in file order, then at
/// most one [`FileError`], after which it ends. A read error ends it as a [`FileError`] at the
/// line reached.
pub struct CsvReader<R: Read> {
    input: R,
    framer: CsvFramer,
    chunk: Vec<u8>,
    rows: Vec<FramedRow>,
    ready: VecDeque<FramedRow>,
    error: Option<FileError>,
    done: bool,
}

impl<R: Read> CsvReader<R> {
    pub fn new(input: R) -> Self {
        Self::with_framer(input, CsvFramer::new())
    }

    /// With a framer configured by the caller (e.g. another row limit).
    pub fn with_framer(input: R, framer: CsvFramer) -> Self {
        CsvReader {
            input,
            framer,
            chunk: vec![0; 64 * 1024],
            rows: Vec::new(),
            ready: VecDeque::new(),
            error: None,
            done: false,
        }
    }

    /// The header's number of columns, once read.
    pub fn columns(&self) -> Option<usize> {
        self.framer.columns()
    }

    /// Reads until rows are ready or the input ends.
    fn fill(&mut self) {
        while self.ready.is_empty() && !self.done {
            let result = match self.input.read(&mut self.chunk) {
                Ok(0) => {
                    self.done = true;
                    self.framer.finish(&mut self.rows)
                }
                Ok(n) => self.framer.push(&self.chunk[..n], &mut self.rows),
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    self.done = true;
                    Err(FileError {
                        line: self.framer.line,
                        message: format!("read failed: {e}"),
                    })
                }
            };
            self.ready.extend(self.rows.drain(..));
            if let Err(e) = result {
                self.done = true;
                self.error = Some(e);
            }
        }
    }
}

impl<R: Read> Iterator for CsvReader<R> {
    type Item = Result<FramedRow, FileError>;

    fn next(&mut self) -> Option<Self::Item> {
        self.fill();
        if let Some(row) = self.ready.pop_front() {
            return Some(Ok(row));
        }
        self.error.take().map(Err)
    }
}
