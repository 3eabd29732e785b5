//! Exact decimal money. Every decimal the product writes has exactly 2 fractional digits (rates
//! excepted) and is never `-0.00` (REWARDS.md §3).

use rust_decimal::{Decimal, RoundingStrategy};

/// Rounds the exact value of `x` to 2 fractional digits, half to even, and normalises the result
/// to scale 2 without a negative zero.
pub fn round2(x: Decimal) -> Decimal {
    let mut r = x.round_dp_with_strategy(2, RoundingStrategy::MidpointNearestEven);
    r.rescale(2);
    if r.is_zero() {
        r.set_sign_positive(true);
    }
    r
}

/// Rounds `num / den` to 2 fractional digits, half to even, computed exactly as a fraction of
/// integers (no intermediate rounding): `num` and `den` are decimals whose scales are at most 2.
///
/// Returns `None` when `den` is zero or the values do not fit 128-bit integer cents.
pub fn round2_ratio(num_a: Decimal, num_b: Decimal, den: Decimal) -> Option<Decimal> {
    // value = a * b / den; scale everything to integers first.
    let a = to_scaled_i128(num_a)?;
    let b = to_scaled_i128(num_b)?;
    let d = to_scaled_i128(den)?;
    if d.0 == 0 {
        return None;
    }
    // a = a.0 / 10^a.1 etc.  value * 100 = a.0 * b.0 * 10^(d.1) * 100 / (d.0 * 10^(a.1 + b.1))
    let mut n =
        a.0.checked_mul(b.0)?
            .checked_mul(10i128.checked_pow(d.1 + 2)?)?;
    let mut q = d.0.checked_mul(10i128.checked_pow(a.1 + b.1)?)?;
    if q < 0 {
        q = -q;
        n = -n;
    }
    let cents = div_round_half_even(n, q);
    let r = Decimal::try_from_i128_with_scale(cents, 2).ok()?;
    Some(round2(r))
}

fn to_scaled_i128(x: Decimal) -> Option<(i128, u32)> {
    let scale = x.scale();
    let m = x.mantissa();
    (scale <= 12).then_some((m, scale))
}

/// `n / q` rounded half to even, for `q > 0`.
fn div_round_half_even(n: i128, q: i128) -> i128 {
    let mut quo = n.div_euclid(q);
    let rem = n.rem_euclid(q); // 0 <= rem < q
    let twice = rem * 2;
    if twice > q || (twice == q && quo.rem_euclid(2) == 1) {
        quo += 1;
    }
    quo
}

/// Writes a decimal with exactly 2 fractional digits (for output).
pub fn fmt2(x: Decimal) -> String {
    round2(x).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr;

    fn d(s: &str) -> Decimal {
        Decimal::from_str(s).unwrap()
    }

    #[test]
    fn half_even() {
        assert_eq!(round2(d("0.125")).to_string(), "0.12");
        assert_eq!(round2(d("0.135")).to_string(), "0.14");
        assert_eq!(round2(d("-0.125")).to_string(), "-0.12");
        assert_eq!(round2(d("-0.001")).to_string(), "0.00");
        assert!(round2(d("-0.001")).is_sign_positive());
        assert_eq!(round2(d("7")).to_string(), "7.00");
    }

    #[test]
    fn ratio_exact() {
        // 1100 * 400 / 1000 = 440
        assert_eq!(
            round2_ratio(d("1100.00"), d("400.00"), d("1000.00")).unwrap(),
            d("440.00")
        );
        // 1 * 1 / 3 = 0.333.. -> 0.33
        assert_eq!(
            round2_ratio(d("1.00"), d("1.00"), d("3.00")).unwrap(),
            d("0.33")
        );
        // 0.01 * 1 / 2 = 0.005 -> 0.00 (half to even)
        assert_eq!(round2_ratio(d("0.01"), d("1"), d("2")).unwrap(), d("0.00"));
        // 0.03 * 1 / 2 = 0.015 -> 0.02
        assert_eq!(round2_ratio(d("0.03"), d("1"), d("2")).unwrap(), d("0.02"));
        assert!(round2_ratio(d("1"), d("1"), d("0")).is_none());
    }
}
