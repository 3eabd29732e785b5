//! Writing a row's fields as CSV bytes, without `fmt` machinery on the hot path.

use super::RowId;

/// The ways a merchant's name turns up in real files: as registered, in capitals, in lower case,
/// and with stray white space around it. Each CSV-quoted where needed.
pub(super) fn name_variants(name: &str) -> Vec<Vec<u8>> {
    [
        name.to_owned(),
        name.to_uppercase(),
        name.to_lowercase(),
        format!("{name} "),
        format!(" {}", name.to_uppercase()),
    ]
    .iter()
    .map(|n| csv_field(n))
    .collect()
}

/// `field` as an RFC 4180 CSV field: quoted, with quotes doubled, when it holds a comma, a quote or
/// a line break.
pub(super) fn csv_field(field: &str) -> Vec<u8> {
    if !field.contains([',', '"', '\r', '\n']) {
        return field.as_bytes().to_vec();
    }
    format!("\"{}\"", field.replace('"', "\"\"")).into_bytes()
}

pub(super) fn push_uuid(out: &mut Vec<u8>, id: &RowId, buf: &mut [u8; 36]) {
    uuid::Uuid::from_bytes(*id).hyphenated().encode_lower(buf);
    out.extend_from_slice(buf);
}

pub(super) fn push_u64(out: &mut Vec<u8>, n: u64) {
    push_padded(out, n, 1);
}

/// `n` in decimal, zero-padded to at least `width` digits (at most 20).
pub(super) fn push_padded(out: &mut Vec<u8>, mut n: u64, width: usize) {
    let mut digits = [b'0'; 20];
    let mut i = digits.len();
    while n > 0 {
        i -= 1;
        digits[i] = b'0' + (n % 10) as u8;
        n /= 10;
    }
    out.extend_from_slice(&digits[i.min(digits.len() - width)..]);
}

/// `minor` minor units written with `digits` (0 or 2) fractional digits.
pub(super) fn push_amount(out: &mut Vec<u8>, minor: u64, digits: u8) {
    if digits == 0 {
        push_u64(out, minor);
        return;
    }
    push_u64(out, minor / 100);
    out.push(b'.');
    push_padded(out, minor % 100, 2);
}
