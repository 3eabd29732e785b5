//! The CSV framing rules of REWARDS.md §1 through the public API of `spend_domain::csv`: headers,
//! quoting, line ends and numbers, broken files, chunking at every byte, the row limit, and a
//! property test that properly quoted fields round-trip.

use proptest::prelude::*;
use spend_domain::csv::{CsvFramer, CsvReader, FileError, FramedRow};
use spend_domain::transaction::{Field, RawTransaction};

const H10: &str =
    "id,transaction_id,merchant,mcc,currency,amount,transaction_date,card_id,card_pan,card_type";
const H12: &str = "id,transaction_id,merchant,mcc,currency,amount,transaction_date,card_id,card_pan,card_type,type,original_id";

/// Frames `input` in chunks of the given sizes (cycled), then finishes.
fn frame_in(input: &[u8], sizes: &[usize]) -> (Vec<FramedRow>, Option<FileError>) {
    let mut framer = CsvFramer::new();
    frame_with(&mut framer, input, sizes)
}

fn frame_with(
    framer: &mut CsvFramer,
    input: &[u8],
    sizes: &[usize],
) -> (Vec<FramedRow>, Option<FileError>) {
    let mut out = Vec::new();
    let mut rest = input;
    let mut k = 0;
    while !rest.is_empty() {
        let n = sizes[k % sizes.len()].min(rest.len());
        k += 1;
        if let Err(e) = framer.push(&rest[..n], &mut out) {
            return (out, Some(e));
        }
        rest = &rest[n..];
    }
    let err = framer.finish(&mut out).err();
    (out, err)
}

fn frame(input: &str) -> (Vec<FramedRow>, Option<FileError>) {
    frame_in(input.as_bytes(), &[usize::MAX])
}

fn fields(raw: &RawTransaction) -> Vec<String> {
    let mut v = vec![
        raw.id.clone(),
        raw.transaction_id.clone(),
        raw.merchant.clone(),
        raw.mcc.clone(),
        raw.currency.clone(),
        raw.amount.clone(),
        raw.transaction_date.clone(),
        raw.card_id.clone(),
        raw.card_pan.clone(),
        raw.card_type.clone(),
    ];
    v.extend(raw.type_.clone());
    v.extend(raw.original_id.clone());
    v
}

/// `(line, fields)` of each row; panics on a `Field::Row` rejection.
fn ok_rows(rows: &[FramedRow]) -> Vec<(u64, Vec<String>)> {
    rows.iter()
        .map(|r| match &r.raw {
            Ok(raw) => (r.line, fields(raw)),
            Err(rej) => panic!("line {} rejected: {}", r.line, rej),
        })
        .collect()
}

fn row10(id: &str) -> String {
    format!("{id},T1,Shop,5999,SGD,10.00,2024-05-02,00000000-0000-4000-8000-0000000000a1,4111117777777772,scis_shopping")
}

fn no_error(input: &str) -> Vec<FramedRow> {
    let (rows, err) = frame(input);
    assert_eq!(err, None, "{input:?}");
    rows
}

fn error_of(input: &[u8]) -> (Vec<FramedRow>, FileError) {
    let (rows, err) = frame_in(input, &[usize::MAX]);
    (rows, err.expect("the file must be refused"))
}

#[test]
fn ten_column_header() {
    let rows = no_error(&format!("{H10}\n{}\n", row10("a")));
    let got = ok_rows(&rows);
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].0, 2);
    assert_eq!(got[0].1.len(), 10);
    assert_eq!(got[0].1[0], "a");
    assert_eq!(got[0].1[9], "scis_shopping");
}

#[test]
fn twelve_column_header() {
    let input = format!("{H12}\n{},reversal,x\n{},,\n", row10("a"), row10("b"));
    let rows = no_error(&input);
    let raw = rows[0].raw.as_ref().unwrap();
    assert_eq!(raw.type_.as_deref(), Some("reversal"));
    assert_eq!(raw.original_id.as_deref(), Some("x"));
    let raw = rows[1].raw.as_ref().unwrap();
    assert_eq!(raw.type_.as_deref(), Some(""));
    assert_eq!(rows[1].line, 3);
}

#[test]
fn bom_is_skipped_at_the_start_only() {
    let plain = no_error(&format!("{H10}\n{}\n", row10("a")));
    let with_bom = no_error(&format!("\u{feff}{H10}\n{}\n", row10("a")));
    assert_eq!(plain, with_bom);
    // A second BOM is part of the first column's name.
    let (_, e) = error_of(format!("\u{feff}\u{feff}{H10}\n").as_bytes());
    assert_eq!(e.line, 1);
    assert!(e.message.contains("missing id"), "{e}");
    // A BOM later on is data.
    let rows = no_error(&format!("{H10}\n\u{feff}{}\n", row10("a")));
    assert_eq!(ok_rows(&rows)[0].1[0], "\u{feff}a");
}

#[test]
fn crlf_and_lf_frame_the_same() {
    let lf = format!("{H12}\n{},,\n\n{},,\n", row10("a"), row10("b"));
    let crlf = lf.replace('\n', "\r\n");
    let a = no_error(&lf);
    let b = no_error(&crlf);
    assert_eq!(a, b);
    assert_eq!(a.iter().map(|r| r.line).collect::<Vec<_>>(), [2, 4]);
    // Mixed line ends are fine too.
    let mixed = format!("{H12}\r\n{},,\n{},,\r\n", row10("a"), row10("b"));
    assert_eq!(ok_rows(&no_error(&mixed)).len(), 2);
}

#[test]
fn header_names_are_trimmed_and_may_be_quoted() {
    let spaced = H10.replace(',', " , ");
    assert_eq!(no_error(&format!("{spaced}\n{}\n", row10("a"))).len(), 1);
    let quoted: Vec<String> = H10.split(',').map(|c| format!("\"{c}\"")).collect();
    let rows = no_error(&format!("{}\n{}\n", quoted.join(","), row10("a")));
    assert_eq!(rows.len(), 1);
}

#[test]
fn any_other_header_refuses_the_file() {
    let cases: Vec<(String, &str)> = vec![
        (H10.replace(",card_type", ""), "missing card_type"),
        (format!("{H10},extra"), "unknown \"extra\""),
        (format!("{H10},type"), "missing original_id"),
        (H10.replace("mcc", "MCC"), "missing mcc; unknown \"MCC\""),
        (
            H10.replace("id,transaction_id", "transaction_id,id"),
            "out of order",
        ),
        (format!("{H12},original_id"), "repeated original_id"),
        (
            row10("00000000-0000-4000-8000-000000000701"),
            "looks like data",
        ),
    ];
    for (header, want) in cases {
        let input = format!("\n{header}\n{}\n", row10("a"));
        let (rows, e) = error_of(input.as_bytes());
        assert!(rows.is_empty());
        assert_eq!(e.line, 2, "the header is on line 2: {header}");
        assert!(e.message.starts_with("header must be exactly"), "{e}");
        assert!(e.message.contains(want), "{e} should say {want}");
        assert!(!e.to_string().contains("4111117777777772"));
    }
}

#[test]
fn a_header_holding_a_pan_is_not_echoed() {
    let (_, e) = error_of(format!("{},4111 1177 7777 7772\n", H10).as_bytes());
    assert!(e.message.contains("4111 11** **** 7772"), "{e}");
    assert!(!e.message.contains("1177 7777"), "{e}");
}

#[test]
fn quoted_fields_hold_separators_quotes_and_line_ends() {
    let input = format!(
        "{H10}\n\
         a,T1,\"Shop, Inc.\",5999,SGD,\"1,000.00\",2024-05-02,c,p,t\n\
         b,T2,\"He said \"\"hi\"\"\",5999,SGD,1,2024-05-02,c,p,t\n\
         c,T3,\"two\nlines\r\nand three\",5999,SGD,1,2024-05-02,c,p,\"\"\n\
         d,\"\",\"\"\"\",\"\",,,,,,\n"
    );
    let got = ok_rows(&no_error(&input));
    assert_eq!(got.iter().map(|r| r.0).collect::<Vec<_>>(), [2, 3, 4, 7]);
    assert_eq!(got[0].1[2], "Shop, Inc.");
    assert_eq!(got[0].1[5], "1,000.00");
    assert_eq!(got[1].1[2], "He said \"hi\"");
    assert_eq!(got[2].1[2], "two\nlines\r\nand three");
    assert_eq!(got[2].1[9], "");
    assert_eq!(&got[3].1[..4], ["d", "", "\"", ""]);
}

#[test]
fn blank_lines_are_skipped_but_counted() {
    let input = format!("\n\r\n{H10}\n\n{}\n\r\n\n{}", row10("a"), row10("b"));
    let got = ok_rows(&no_error(&input));
    assert_eq!(got.iter().map(|r| r.0).collect::<Vec<_>>(), [5, 8]);
}

#[test]
fn a_line_of_spaces_is_a_row_not_a_blank_line() {
    let rows = no_error(&format!("{H10}\n   \n{}\n", row10("a")));
    assert_eq!(rows.len(), 2);
    let rej = rows[0].raw.as_ref().unwrap_err();
    assert_eq!(rows[0].line, 2);
    assert_eq!(rej.remark(), "invalid:row");
    assert_eq!(rej.raw_id, "");
    assert!(rows[1].raw.is_ok());
}

#[test]
fn wrong_field_count_rejects_the_row_only() {
    let input = format!(
        "{H12}\n{}\n{},,,\n{},,\n",
        row10(" 00000000-0000-4000-8000-0000000000AB "),
        row10("x"),
        row10("ok")
    );
    let rows = no_error(&input);
    assert_eq!(rows.len(), 3);
    let short = rows[0].raw.as_ref().unwrap_err();
    assert_eq!(short.remark(), "invalid:row");
    assert_eq!(short.fields[0].field, Field::Row);
    assert_eq!(short.raw_id, "00000000-0000-4000-8000-0000000000ab");
    assert_eq!(
        short.fields[0].message,
        "row has 10 fields; the header has 12"
    );
    let long = rows[1].raw.as_ref().unwrap_err();
    assert_eq!(long.raw_id, "x");
    assert_eq!(
        long.fields[0].message,
        "row has 13 fields; the header has 12"
    );
    assert_eq!(rows[2].line, 4);
    assert!(rows[2].raw.is_ok());
}

#[test]
fn broken_quoting_refuses_at_the_line_where_it_broke() {
    let cases = [
        // A quote inside an unquoted field.
        (format!("{H10}\n{}\nab\"c,{}\n", row10("a"), "x"), 3),
        // A character after a closing quote.
        (format!("{H10}\n{}\n\"ab\"c,x\n", row10("a")), 3),
        // Leading space, then a quote: the field is unquoted.
        (format!("{H10}\n{}\n \"ab\",x\n", row10("a")), 3),
        // The closing quote is on the third line of a quoted field.
        (format!("{H10}\n{}\nx,\"a\nb\nc\"d,x\n", row10("a")), 5),
    ];
    for (input, line) in cases {
        let (rows, e) = error_of(input.as_bytes());
        assert_eq!(e.line, line, "{input:?}: {e}");
        assert!(e.message.starts_with("broken quoting"), "{e}");
        assert_eq!(rows.len(), 1, "the row before stands");
        assert_eq!(e.to_string(), format!("line {line}: {}", e.message));
    }
}

#[test]
fn unterminated_quote_refuses_at_the_line_it_opened() {
    let input = format!("{H10}\n{}\na,\"never\nclosed\n\n", row10("a"));
    let (rows, e) = error_of(input.as_bytes());
    assert_eq!(rows.len(), 1);
    assert_eq!(e.line, 3);
    assert!(e.message.contains("never closed"), "{e}");
}

#[test]
fn a_bare_carriage_return_is_a_broken_line_end() {
    let (rows, e) = error_of(format!("{H10}\n{}\rx\n", row10("a")).as_bytes());
    assert!(rows.is_empty());
    assert_eq!(e.line, 2);
    let (_, e) = error_of(format!("{H10}\n{}\r", row10("a")).as_bytes());
    assert_eq!(e.line, 2);
    assert!(e.message.contains("carriage return"), "{e}");
}

#[test]
fn non_utf8_refuses_at_its_line() {
    let mut input = format!("{H10}\n{}\n", row10("a")).into_bytes();
    input.extend_from_slice(b"b,T,Caf\xe9,1,SGD,1,2024-05-02,c,p,t\n");
    input.extend_from_slice(row10("c").as_bytes());
    let (rows, e) = error_of(&input);
    assert_eq!(rows.len(), 1);
    assert_eq!(e.line, 3);
    assert!(e.message.starts_with("not utf-8"), "{e}");

    // Inside a quoted field, on its second line.
    let mut input = format!("{H10}\nb,T,\"x\ny").into_bytes();
    input.extend_from_slice(b"\xff\",1,SGD,1,2024-05-02,c,p,t\n");
    assert_eq!(error_of(&input).1.line, 3);

    // In the header.
    let mut input = b"id\x80".to_vec();
    input.extend_from_slice(b",x\n");
    assert_eq!(error_of(&input).1.line, 1);

    // Split across a separator: each field must be UTF-8 on its own.
    let input = format!("{H10}\n").into_bytes();
    let mut input = input;
    input.extend_from_slice(b"a,b,\xc3,\xa9,e,f,g,h,i,j\n");
    assert_eq!(error_of(&input).1.line, 2);

    // An invalid byte before broken quoting on a later line of the same row: the byte is first.
    let mut input = format!("{H10}\n").into_bytes();
    input.extend_from_slice(b"x,\"\xc3\x28\nb\"c\n");
    let (_, e) = error_of(&input);
    assert_eq!(
        (e.line, e.message.starts_with("not utf-8")),
        (2, true),
        "{e}"
    );
}

#[test]
fn a_file_without_a_header_is_refused() {
    for input in ["", "\u{feff}", "\n\n", "\r\n"] {
        let (rows, e) = error_of(input.as_bytes());
        assert!(rows.is_empty());
        assert_eq!(e.line, 1);
        assert_eq!(e.message, "empty file: no header");
    }
    // A lone partial BOM is not UTF-8.
    let (_, e) = error_of(b"\xef\xbb");
    assert!(e.message.starts_with("not utf-8"), "{e}");
}

#[test]
fn the_last_row_needs_no_line_end() {
    let got = ok_rows(&no_error(&format!("{H10}\n{}", row10("a"))));
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].1[9], "scis_shopping");
    // Nor does a header-only file, and a trailing empty field counts.
    assert!(no_error(H10).is_empty());
    let rows = no_error(&format!("{H10}\na,b,c,d,e,f,g,h,i,"));
    assert_eq!(ok_rows(&rows)[0].1[9], "");
    let rows = no_error(&format!("{H10}\na,b,c,d,e,f,g,h,i,\"j\""));
    assert_eq!(ok_rows(&rows)[0].1[9], "j");
}

#[test]
fn rows_larger_than_the_limit_refuse_the_file() {
    let header = format!("{H10}\n");
    let fits = format!("{},", "x".repeat(91)) + &",".repeat(8); // 100 bytes, 10 fields
    assert_eq!(fits.len(), 100);
    let mut framer = CsvFramer::with_max_row_bytes(100);
    let (rows, err) = frame_with(&mut framer, format!("{header}{fits}\r\n").as_bytes(), &[7]);
    assert_eq!((rows.len(), err), (1, None));

    let too_big = format!("{header}{fits}\n\n\"{}\",\n", "y".repeat(99));
    let mut framer = CsvFramer::with_max_row_bytes(100);
    let (rows, err) = frame_with(&mut framer, too_big.as_bytes(), &[5]);
    let e = err.expect("the second row is too large");
    assert_eq!(rows.len(), 1);
    assert_eq!(e.line, 4, "{e}");
    assert!(e.message.starts_with("row too large"), "{e}");

    // A huge quoted field is refused while it streams in, not at the end.
    let mut framer = CsvFramer::new();
    let mut out = Vec::new();
    framer
        .push(format!("{H10}\n\"").as_bytes(), &mut out)
        .unwrap();
    let chunk = vec![b'z'; 1024];
    let refused_after = (0..1000).find(|_| framer.push(&chunk, &mut out).is_err());
    assert_eq!(refused_after, Some(63), "refused with the 64th KiB");
}

/// A file that exercises every state of the framer, split at every byte.
fn rich_file() -> Vec<u8> {
    let mut f = "\u{feff}\r\n".as_bytes().to_vec();
    f.extend_from_slice(format!("{H12}\r\n").as_bytes());
    f.extend_from_slice(format!("{},,\n\n", row10("é😀a")).as_bytes());
    f.extend_from_slice("a,\"q,\"\"x\"\"\r\ny\",Ünï,1,SGD,1,d,c,p,t,,\r\n".as_bytes());
    f.extend_from_slice(b"short,row\n   \n");
    f.extend_from_slice("\"\",\"\",,,,,,,,,\"\",\"\u{2028}\"".as_bytes());
    f
}

fn assert_same_at_every_split(input: &[u8]) {
    let whole = frame_in(input, &[usize::MAX]);
    for p in 0..=input.len() {
        let mut framer = CsvFramer::new();
        let mut out = Vec::new();
        let mut err = framer.push(&input[..p], &mut out).err();
        if err.is_none() {
            err = framer.push(&input[p..], &mut out).err();
        }
        if err.is_none() {
            err = framer.finish(&mut out).err();
        }
        assert_eq!((out, err), whole, "split at byte {p}");
    }
    for size in 1..=9 {
        assert_eq!(frame_in(input, &[size]), whole, "chunks of {size}");
    }
    assert_eq!(frame_in(input, &[3, 1, 0, 2]), whole, "with empty chunks");
}

#[test]
fn every_split_point_frames_the_same() {
    let input = rich_file();
    let (rows, err) = frame_in(&input, &[usize::MAX]);
    assert_eq!(err, None);
    assert_eq!(
        rows.iter().map(|r| r.line).collect::<Vec<_>>(),
        [3, 5, 7, 8, 9]
    );
    assert_eq!(rows.iter().filter(|r| r.raw.is_err()).count(), 2);
    assert_eq!(fields(rows[1].raw.as_ref().unwrap())[1], "q,\"x\"\r\ny");
    assert_same_at_every_split(&input);
}

#[test]
fn every_split_point_refuses_the_same() {
    let mut bad_utf8 = rich_file();
    bad_utf8.extend_from_slice(b"\n\"\xe2\x82\",x\n");
    let broken_quote = [rich_file(), b"\na,b\"\n".to_vec()].concat();
    let unterminated = [rich_file(), b"\n\"a\r\n".to_vec()].concat();
    let bare_cr = [rich_file(), b"\r".to_vec()].concat();
    let bad_header = b"\xef\xbb\xbfid,nope\r\n".to_vec();
    for input in [bad_utf8, broken_quote, unterminated, bare_cr, bad_header] {
        let (_, err) = frame_in(&input, &[usize::MAX]);
        assert!(err.is_some());
        assert_same_at_every_split(&input);
    }
}

/// A reader that returns a few bytes at a time, then optionally fails.
struct Trickle<'a> {
    data: &'a [u8],
    step: usize,
    fail_at_end: bool,
}

impl std::io::Read for Trickle<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.data.is_empty() && self.fail_at_end {
            return Err(std::io::Error::other("disk on fire"));
        }
        self.step = self.step % 5 + 1;
        let n = self.step.min(buf.len()).min(self.data.len());
        buf[..n].copy_from_slice(&self.data[..n]);
        self.data = &self.data[n..];
        Ok(n)
    }
}

#[test]
fn csv_reader_yields_the_framers_rows_then_one_error() {
    let input = rich_file();
    let (rows, _) = frame_in(&input, &[usize::MAX]);
    let trickle = Trickle {
        data: &input,
        step: 0,
        fail_at_end: false,
    };
    let read: Vec<FramedRow> = CsvReader::new(trickle).map(Result::unwrap).collect();
    assert_eq!(read, rows);

    let broken = [rich_file(), b"\na,b\"\n".to_vec(), row10("z").into_bytes()].concat();
    let mut it = CsvReader::new(&broken[..]);
    let items: Vec<_> = it.by_ref().collect();
    assert_eq!(items.len(), rows.len() + 1);
    let e = items.last().unwrap().as_ref().unwrap_err();
    assert_eq!(e.line, 10);
    assert!(it.next().is_none());

    let failing = Trickle {
        data: &input,
        step: 0,
        fail_at_end: true,
    };
    let items: Vec<_> = CsvReader::new(failing).collect();
    // The last row has no line end: only the end of the input would have completed it.
    assert_eq!(items.len(), rows.len());
    let e = items.last().unwrap().as_ref().unwrap_err();
    assert!(e.message.contains("read failed: disk on fire"), "{e}");
}

/// Writes one CSV field with RFC 4180 quoting: quoted when it must be, or when `force`.
fn quote(field: &str, force: bool) -> String {
    let needs = field.contains([',', '"', '\r', '\n']);
    if needs || force {
        format!("\"{}\"", field.replace('"', "\"\""))
    } else {
        field.to_owned()
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn quoted_fields_round_trip(
        rows in prop::collection::vec(
            prop::collection::vec(("[a-z ,\"\r\né😀\u{2028}\t]{0,12}", any::<bool>()), 12),
            0..8,
        ),
        crlf in any::<bool>(),
        bom in any::<bool>(),
        last_line_end in any::<bool>(),
        chunk in 1usize..40,
    ) {
        let eol = if crlf { "\r\n" } else { "\n" };
        let mut text = String::new();
        if bom {
            text.push('\u{feff}');
        }
        text.push_str(H12);
        text.push_str(eol);
        let mut lines = Vec::new();
        let mut line = 2u64;
        for (k, row) in rows.iter().enumerate() {
            lines.push(line);
            let written: Vec<String> = row.iter().map(|(f, force)| quote(f, *force)).collect();
            text.push_str(&written.join(","));
            line += row.iter().map(|(f, _)| f.matches('\n').count() as u64).sum::<u64>() + 1;
            if k + 1 < rows.len() || last_line_end {
                text.push_str(eol);
            }
        }
        let (framed, err) = frame_in(text.as_bytes(), &[chunk]);
        prop_assert_eq!(err, None);
        let got = ok_rows(&framed);
        prop_assert_eq!(got.len(), rows.len());
        for ((got_line, got_fields), (row, want_line)) in got.iter().zip(rows.iter().zip(&lines)) {
            let want: Vec<&str> = row.iter().map(|(f, _)| f.as_str()).collect();
            prop_assert_eq!(got_line, want_line);
            prop_assert_eq!(got_fields, &want);
        }
    }
}
