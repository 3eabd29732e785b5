//! Strict, streaming CSV framing of a transactions file (REWARDS.md §1, "CSV framing").
//!
//! [`CsvFramer`] is push-based: the caller hands it the bytes as they arrive (an HTTP body's
//! chunks, or [`CsvReader`]'s reads), split anywhere, and gets back whole rows. It holds at most
//! one row (bounded by [`CsvFramer::with_max_row_bytes`]) whatever the size of the file.
//!
//! The rules, where the spec leaves a choice:
//! - RFC 4180: `,` separates, `"` quotes, `""` is a quote inside a quoted field; a quoted field
//!   may hold separators, quotes and line ends. A field is quoted only when its first byte is `"`:
//!   a `"` anywhere in an unquoted field, or anything but `,` or a line end after a closing quote,
//!   is broken quoting.
//! - Lines end with LF or CRLF. A CR outside quotes that is not followed by LF (also at the end of
//!   the input) is a broken line end.
//! - A UTF-8 byte-order mark is skipped at the very start only.
//! - A blank line is an empty one (nothing before its line end, outside quotes) and is ignored. A
//!   line of only spaces is a row of one field (so, with the wrong number of fields, a rejected
//!   row), not a blank line.
//! - The first non-blank row is the header: after trimming each name of white space, it must be
//!   exactly [`COLUMNS_BASE`] or [`COLUMNS_WITH_TYPE`], in that order. It is not emitted.
//! - A file with no header at all (empty, or only blank lines) is refused: "empty file: no header".
//! - Line numbers are physical lines, 1-based; a row's line is where it starts. A [`FileError`]'s
//!   line is where the input broke (for an unterminated quote: where the quoted field opened).
//! - Errors never include the input's text, except header names that are neither expected columns
//!   nor PAN-shaped ([`redact_pans`](crate::pan::redact_pans)), cut to 32 characters.
//!
//! Here: the columns, the row limit and what framing yields. The framer itself is in `framer`,
//! the header check in `header`, [`CsvReader`] in `reader`.

mod framer;
mod header;
mod reader;

pub use framer::CsvFramer;
pub use reader::CsvReader;

use crate::transaction::{RawTransaction, Rejection};

/// The 10-column header: purchases only.
pub const COLUMNS_BASE: [&str; 10] = [
    "id",
    "transaction_id",
    "merchant",
    "mcc",
    "currency",
    "amount",
    "transaction_date",
    "card_id",
    "card_pan",
    "card_type",
];

/// The 12-column header: with `type` and `original_id`.
pub const COLUMNS_WITH_TYPE: [&str; 12] = [
    "id",
    "transaction_id",
    "merchant",
    "mcc",
    "currency",
    "amount",
    "transaction_date",
    "card_id",
    "card_pan",
    "card_type",
    "type",
    "original_id",
];

/// The default limit on one row's size in bytes, quotes and separators included.
pub const DEFAULT_MAX_ROW_BYTES: usize = 64 * 1024;

/// The whole file is refused from `line` on; rows before it stand.
#[derive(Clone, PartialEq, Eq, Debug, thiserror::Error)]
#[error("line {line}: {message}")]
pub struct FileError {
    /// 1-based physical line.
    pub line: u64,
    /// Lowercase, never containing field contents.
    pub message: String,
}

/// One data row of the file.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct FramedRow {
    /// The physical line where the row starts (the header, when it opens the file, is line 1).
    pub line: u64,
    /// The fields by column, or a [`Field::Row`](crate::transaction::Field::Row) rejection when the
    /// row's number of fields differs from the header's.
    pub raw: Result<RawTransaction, Rejection>,
}
