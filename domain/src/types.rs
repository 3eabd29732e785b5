//! The validated newtypes of the domain. A value of one of these types that exists is valid:
//! they are only built by the parsing constructors at the edges (CSV, JSON, Avro).

use std::fmt;

use chrono::NaiveDate;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// Parses a UUID written exactly as 36 characters `8-4-4-4-12` of hex digits, either case.
/// Braced, URN and un-hyphenated forms are refused (REWARDS.md §1).
pub fn parse_uuid_strict(s: &str) -> Option<Uuid> {
    let b = s.as_bytes();
    if b.len() != 36 {
        return None;
    }
    for (i, c) in b.iter().enumerate() {
        let ok = match i {
            8 | 13 | 18 | 23 => *c == b'-',
            _ => c.is_ascii_hexdigit(),
        };
        if !ok {
            return None;
        }
    }
    Uuid::try_parse(s).ok()
}

macro_rules! uuid_newtype {
    ($(#[$m:meta])* $name:ident) => {
        $(#[$m])*
        #[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub Uuid);

        impl $name {
            /// Strict parse: see [`parse_uuid_strict`].
            pub fn parse(s: &str) -> Option<Self> {
                parse_uuid_strict(s).map(Self)
            }
        }

        /// Lower-case hyphenated, as the product always writes ids.
        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Display::fmt(&self.0.hyphenated(), f)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({})", stringify!($name), self.0.hyphenated())
            }
        }
    };
}

uuid_newtype!(
    /// A record's `id`: its idempotency key.
    RecordId
);
uuid_newtype!(
    /// A card's `card_id`: the Kafka key and the partition of a card's history.
    CardId
);

/// A merchant category code, 1..=9999.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Mcc(u16);

impl Mcc {
    pub fn new(v: u16) -> Option<Self> {
        (1..=9999).contains(&v).then_some(Self(v))
    }
    pub fn get(self) -> u16 {
        self.0
    }
}

impl fmt::Display for Mcc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

/// An ISO 4217 alphabetic code from `spec/iso4217.txt`, upper case.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CurrencyCode([u8; 3]);

impl CurrencyCode {
    pub const SGD: CurrencyCode = CurrencyCode(*b"SGD");

    /// Accepts exactly the codes listed in `iso4217.txt`.
    pub fn parse(s: &str) -> Option<Self> {
        let b: [u8; 3] = s.as_bytes().try_into().ok()?;
        crate::types::ISO4217
            .binary_search(&s)
            .ok()
            .map(|_| CurrencyCode(b))
    }

    /// Every code [`CurrencyCode::parse`] accepts, sorted: what an API document lists as the
    /// allowed values.
    pub fn all_codes() -> &'static [&'static str] {
        crate::types::ISO4217
    }

    pub fn as_str(&self) -> &str {
        // Only ever built from a listed ASCII code.
        std::str::from_utf8(&self.0).unwrap_or("XXX")
    }

    pub fn is_sgd(self) -> bool {
        self == Self::SGD
    }
}

impl fmt::Display for CurrencyCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for CurrencyCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for CurrencyCode {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for CurrencyCode {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        CurrencyCode::parse(&s)
            .ok_or_else(|| serde::de::Error::custom(format!("unknown currency code {s:?}")))
    }
}

/// The ISO 4217 list of `spec/iso4217.txt`, sorted, for binary search.
pub(crate) static ISO4217: &[&str] = &include!("iso4217.in");

/// A transaction amount: `^[0-9]+(\.[0-9]{1,2})?$`, 0 < amount ≤ 1,000,000,000, held at scale 2.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
pub struct Amount(Decimal);

impl Amount {
    pub const MAX: Decimal = Decimal::from_parts(1_000_000_000, 0, 0, false, 0);

    /// Builds an amount from a decimal already known to be in range with at most 2 fractional
    /// digits; `None` otherwise.
    pub fn new(d: Decimal) -> Option<Self> {
        if d <= Decimal::ZERO || d > Self::MAX || d.scale() > 2 {
            return None;
        }
        let mut d = d;
        d.rescale(2);
        Some(Self(d))
    }

    pub fn get(self) -> Decimal {
        self.0
    }
}

impl fmt::Display for Amount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

/// A masked PAN: first 6 and last 4 digits kept, every digit between replaced by `*`.
/// The only form of a PAN that leaves the ingestor.
#[derive(Clone, PartialEq, Eq, Hash, Debug, Serialize, Deserialize)]
#[serde(transparent)]
pub struct MaskedPan(String);

impl MaskedPan {
    /// Masks a PAN of 13–19 ASCII digits (already stripped of spaces and `-`).
    pub fn mask(digits: &str) -> Option<Self> {
        let n = digits.len();
        if !(13..=19).contains(&n) || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let mut s = String::with_capacity(n);
        s.push_str(&digits[..6]);
        s.extend(std::iter::repeat_n('*', n - 10));
        s.push_str(&digits[n - 4..]);
        Some(Self(s))
    }

    /// Accepts an already masked PAN (as read back from Kafka or a store): 6 digits, 3–9 `*`,
    /// 4 digits.
    pub fn parse_masked(s: &str) -> Option<Self> {
        let b = s.as_bytes();
        let n = b.len();
        if !(13..=19).contains(&n) {
            return None;
        }
        let ok = b.iter().enumerate().all(|(i, c)| {
            if i < 6 || i >= n - 4 {
                c.is_ascii_digit()
            } else {
                *c == b'*'
            }
        });
        ok.then(|| Self(s.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for MaskedPan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A card program id (`card_type`): `^[a-z0-9_]{1,64}$`.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Debug, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ProgramId(String);

impl ProgramId {
    pub fn parse(s: &str) -> Option<Self> {
        let ok = !s.is_empty()
            && s.len() <= 64
            && s.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
        ok.then(|| Self(s.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ProgramId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The unit a program rewards in.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Unit {
    Points,
    Miles,
    /// Rates are percentages; the reward is SGD.
    Cashback,
}

impl Unit {
    pub fn as_str(self) -> &'static str {
        match self {
            Unit::Points => "points",
            Unit::Miles => "miles",
            Unit::Cashback => "cashback",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "points" => Some(Unit::Points),
            "miles" => Some(Unit::Miles),
            "cashback" => Some(Unit::Cashback),
            _ => None,
        }
    }
}

impl fmt::Display for Unit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Purchase, or a reversal of an earlier purchase of the same card.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum TxKind {
    Purchase,
    Reversal { original_id: RecordId },
}

impl TxKind {
    /// `purchase` or `reversal`, as the `type` column writes it.
    pub fn type_str(&self) -> &'static str {
        match self {
            TxKind::Purchase => "purchase",
            TxKind::Reversal { .. } => "reversal",
        }
    }

    pub fn original_id(&self) -> Option<RecordId> {
        match self {
            TxKind::Purchase => None,
            TxKind::Reversal { original_id } => Some(*original_id),
        }
    }
}

/// A valid transaction (REWARDS.md §1). The PAN is already masked: the full PAN never leaves the
/// parser that validated it.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Transaction {
    pub id: RecordId,
    pub transaction_id: String,
    pub merchant: String,
    pub mcc: Mcc,
    pub currency: CurrencyCode,
    pub amount: Amount,
    pub transaction_date: NaiveDate,
    pub card_id: CardId,
    pub card_pan: MaskedPan,
    pub card_type: ProgramId,
    pub kind: TxKind,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strict_uuid() {
        assert!(parse_uuid_strict("00000000-0000-4000-8000-0000000000A1").is_some());
        assert!(parse_uuid_strict("000000000000400080000000000000a1").is_none());
        assert!(parse_uuid_strict("{00000000-0000-4000-8000-0000000000a1}").is_none());
        assert!(parse_uuid_strict("00000000-0000-4000-8000-0000000000g1").is_none());
        let id = RecordId::parse("00000000-0000-4000-8000-0000000000A1").unwrap();
        assert_eq!(id.to_string(), "00000000-0000-4000-8000-0000000000a1");
    }

    #[test]
    fn currency_list() {
        assert!(CurrencyCode::parse("SGD").unwrap().is_sgd());
        assert!(CurrencyCode::parse("THB").is_some());
        assert!(CurrencyCode::parse("sgd").is_none());
        assert!(CurrencyCode::parse("ABC").is_none());
        let mut sorted = ISO4217.to_vec();
        sorted.sort_unstable();
        assert_eq!(
            sorted, ISO4217,
            "the list must stay sorted for binary search"
        );
    }

    #[test]
    fn currency_list_is_the_contract_file() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/spec/iso4217.txt");
        let text = std::fs::read_to_string(path).expect("spec/iso4217.txt beside the project");
        let mut codes: Vec<&str> = text
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .collect();
        codes.sort_unstable();
        codes.dedup();
        assert_eq!(
            codes, ISO4217,
            "regenerate domain/src/iso4217.in from the spec"
        );
    }

    #[test]
    fn masking() {
        assert_eq!(
            MaskedPan::mask("4111111111111111").unwrap().as_str(),
            "411111******1111"
        );
        assert_eq!(
            MaskedPan::mask("4111111111111").unwrap().as_str(),
            "411111***1111"
        );
        assert!(MaskedPan::mask("411111111111").is_none());
        assert!(MaskedPan::parse_masked("411111******1111").is_some());
        assert!(MaskedPan::parse_masked("4111111111111111").is_none());
    }

    #[test]
    fn amount_bounds() {
        use std::str::FromStr;
        assert!(Amount::new(Decimal::from_str("0.01").unwrap()).is_some());
        assert!(Amount::new(Decimal::ZERO).is_none());
        assert!(Amount::new(Decimal::from_str("1000000000.00").unwrap()).is_some());
        assert!(Amount::new(Decimal::from_str("1000000000.01").unwrap()).is_none());
        assert!(Amount::new(Decimal::from_str("1.001").unwrap()).is_none());
        assert_eq!(Amount::new(Decimal::from(5)).unwrap().to_string(), "5.00");
    }
}
