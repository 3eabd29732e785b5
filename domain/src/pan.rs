//! Card numbers (PANs): normalising, the Luhn check, masking, and keeping them out of messages.
//!
//! A full PAN never leaves the parser that validated it (REWARDS.md §1): nothing here returns one
//! except [`normalize_pan`], whose caller must mask it before it goes anywhere.

use std::borrow::Cow;

use crate::types::MaskedPan;

/// The most digits a PAN may have.
const MAX_DIGITS: usize = 19;
/// The fewest digits a PAN may have.
const MIN_DIGITS: usize = 13;

/// Removes every U+0020 space and `-`, then requires 13–19 ASCII digits. Returns the digits.
///
/// The result is a full PAN: mask it ([`MaskedPan::mask`]) before it is stored, logged or sent.
pub fn normalize_pan(raw: &str) -> Option<String> {
    let (digits, n) = normalize_into(raw)?;
    // Only ASCII digits were written into the buffer.
    std::str::from_utf8(&digits[..n]).ok().map(str::to_owned)
}

/// Whether `digits` (ASCII digits only, at least one) pass the Luhn check. Anything else is `false`.
pub fn luhn_valid(digits: &str) -> bool {
    luhn_bytes(digits.as_bytes())
}

/// Normalises `raw` as [`normalize_pan`] does, requires the Luhn check, and masks the result.
/// `None` when `raw` is not a valid PAN. Allocates only the masked string.
pub fn mask_pan(raw: &str) -> Option<MaskedPan> {
    let (digits, n) = normalize_into(raw)?;
    let digits = &digits[..n];
    if !luhn_bytes(digits) {
        return None;
    }
    MaskedPan::mask(std::str::from_utf8(digits).ok()?)
}

/// Returns `text` with every PAN-shaped number masked, for echoing untrusted text (a rejected
/// row's id, an unknown column or JSON field name) in a report or a log.
///
/// A PAN-shaped number is a run of 13–19 ASCII digits, possibly joined by spaces and `-` (the
/// same separators [`normalize_pan`] removes), whether or not it passes the Luhn check: a mistyped
/// card number is still a card number. Its digits are masked as [`MaskedPan`] masks them (first 6
/// and last 4 kept); the separators stay where they were. Longer digit runs are not a PAN and are
/// left alone.
pub fn redact_pans(text: &str) -> Cow<'_, str> {
    let b = text.as_bytes();
    if b.iter().filter(|c| c.is_ascii_digit()).count() < MIN_DIGITS {
        return Cow::Borrowed(text);
    }
    let mut out: Option<Vec<u8>> = None;
    let mut i = 0;
    while i < b.len() {
        if !b[i].is_ascii_digit() {
            i += 1;
            continue;
        }
        // A run starts and ends with a digit; separators only inside it.
        let start = i;
        let mut end = i + 1;
        let mut j = i + 1;
        while j < b.len() && (b[j].is_ascii_digit() || b[j] == b' ' || b[j] == b'-') {
            if b[j].is_ascii_digit() {
                end = j + 1;
            }
            j += 1;
        }
        let run = &b[start..end];
        let n = run.iter().filter(|c| c.is_ascii_digit()).count();
        if (MIN_DIGITS..=MAX_DIGITS).contains(&n) {
            let o = out.get_or_insert_with(|| b.to_vec());
            let mut k = 0;
            for (p, c) in run.iter().enumerate() {
                if c.is_ascii_digit() {
                    if k >= 6 && k < n - 4 {
                        o[start + p] = b'*';
                    }
                    k += 1;
                }
            }
        }
        i = end;
    }
    match out {
        // Only ASCII digits were replaced by an ASCII byte: still UTF-8.
        Some(o) => Cow::Owned(String::from_utf8(o).unwrap_or_else(|_| "<redacted>".to_owned())),
        None => Cow::Borrowed(text),
    }
}

/// Normalises into a stack buffer: the digits and how many there are.
fn normalize_into(raw: &str) -> Option<([u8; MAX_DIGITS], usize)> {
    let mut digits = [0u8; MAX_DIGITS];
    let mut n = 0;
    for &c in raw.as_bytes() {
        match c {
            b' ' | b'-' => {}
            b'0'..=b'9' => {
                if n == MAX_DIGITS {
                    return None;
                }
                digits[n] = c;
                n += 1;
            }
            _ => return None,
        }
    }
    (n >= MIN_DIGITS).then_some((digits, n))
}

fn luhn_bytes(digits: &[u8]) -> bool {
    if digits.is_empty() {
        return false;
    }
    let mut sum = 0u32;
    for (i, &c) in digits.iter().rev().enumerate() {
        if !c.is_ascii_digit() {
            return false;
        }
        let mut d = u32::from(c - b'0');
        if i % 2 == 1 {
            d *= 2;
            if d > 9 {
                d -= 9;
            }
        }
        sum += d;
    }
    sum.is_multiple_of(10)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalizes_spaces_and_dashes_only() {
        assert_eq!(
            normalize_pan("4111-1177 7777-7772").as_deref(),
            Some("4111117777777772")
        );
        assert_eq!(
            normalize_pan("4111117777777").as_deref(),
            Some("4111117777777")
        );
        assert!(normalize_pan("411111777777").is_none(), "12 digits");
        assert!(normalize_pan("41111177777777777777").is_none(), "20 digits");
        assert!(
            normalize_pan("4111117777777772\t").is_none(),
            "a tab is not removed"
        );
        assert!(normalize_pan("4111.1177.7777.7772").is_none());
        assert!(
            normalize_pan("４１１１１１７７７７７７７７７２").is_none(),
            "fullwidth digits"
        );
        assert!(normalize_pan("").is_none());
    }

    #[test]
    fn luhn() {
        assert!(luhn_valid("4111117777777772"));
        assert!(luhn_valid("4111111111111111"));
        assert!(luhn_valid("79927398713"));
        assert!(!luhn_valid("4111117777777773"));
        assert!(!luhn_valid("79927398710"));
        assert!(!luhn_valid(""));
        assert!(!luhn_valid("4111 1111 1111 1111"));
        assert!(luhn_valid("0"));
    }

    #[test]
    fn masks_valid_pans_only() {
        assert_eq!(
            mask_pan("4111-1177-7777-7772").unwrap().as_str(),
            "411111******7772"
        );
        assert_eq!(
            mask_pan("4111111111111111111").map(|m| m.as_str().len()),
            None,
            "19 digits failing Luhn"
        );
        assert!(mask_pan("4111117777777773").is_none());
        assert!(mask_pan("411111777777").is_none());
    }

    #[test]
    fn redacts_pan_shaped_runs() {
        assert_eq!(redact_pans("not-a-uuid"), "not-a-uuid");
        assert_eq!(redact_pans("4111117777777772"), "411111******7772");
        assert_eq!(redact_pans("4111117777777773"), "411111******7773");
        assert_eq!(
            redact_pans("x4111-1177-7777-7772y"),
            "x4111-11**-****-7772y"
        );
        assert_eq!(
            redact_pans("pan 4111 1177 7777 7772 "),
            "pan 4111 11** **** 7772 "
        );
        // A near-UUID is one 31-digit run: not PAN-shaped.
        let near = "00000000-0000-4000-8000-00000000070g";
        assert_eq!(redact_pans(near), near);
        assert_eq!(redact_pans("123456789012"), "123456789012");
        let out = redact_pans("a 4111117777777772 b 5500005555555559");
        assert_eq!(out, "a 411111******7772 b 550000******5559");
    }
}
