use std::fmt;

use rust_decimal::{Decimal, RoundingStrategy};

/// A non-negative amount with at most 2 decimal places, held as an integer
/// number of hundredths so that it is exact and cheap to store and compare.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Amount(i64);

/// 10^13 units: above any real deal, far below where cents overflow an i64.
const MAX_MINOR: i64 = 1_000_000_000_000_000;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AmountError {
    #[error("must be a decimal string such as \"1250.00\"")]
    NotADecimal,
    #[error("must not be negative")]
    Negative,
    #[error("must have at most 2 decimal places")]
    TooPrecise,
    #[error("must be at most 10000000000000")]
    TooLarge,
}

impl Amount {
    pub const ZERO: Amount = Amount(0);

    /// Digits, then optionally a point and one or two digits (`^\d+(\.\d{1,2})?$`):
    /// no sign, spaces, separators or exponent, so that what is stored is
    /// exactly what was written.
    pub fn parse(raw: &str) -> Result<Self, AmountError> {
        let (whole, fraction) = raw.split_once('.').unwrap_or((raw, ""));
        let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
        if raw.starts_with('-') && raw.len() > 1 {
            return Err(AmountError::Negative);
        }
        if whole.is_empty() || !digits(whole) || !digits(fraction) || (raw.contains('.') && fraction.is_empty()) {
            return Err(AmountError::NotADecimal);
        }
        if fraction.len() > 2 {
            return Err(AmountError::TooPrecise);
        }
        let value = Decimal::from_str_exact(raw).map_err(|_| AmountError::TooLarge)?;
        Self::from_decimal(value)
    }

    pub fn from_decimal(value: Decimal) -> Result<Self, AmountError> {
        if value.is_sign_negative() && !value.is_zero() {
            return Err(AmountError::Negative);
        }
        if value.normalize().scale() > 2 {
            return Err(AmountError::TooPrecise);
        }
        let minor = (value * Decimal::ONE_HUNDRED).trunc();
        let minor = i64::try_from(minor).map_err(|_| AmountError::TooLarge)?;
        if minor > MAX_MINOR {
            return Err(AmountError::TooLarge);
        }
        Ok(Self(minor))
    }

    /// From stored hundredths; `None` for a value no `Amount` can hold.
    pub fn from_minor(minor: i64) -> Option<Self> {
        (0..=MAX_MINOR).contains(&minor).then_some(Self(minor))
    }

    pub fn minor(self) -> i64 {
        self.0
    }

    pub fn to_decimal(self) -> Decimal {
        Decimal::new(self.0, 2)
    }
}

/// Always two decimal places: `"1250.00"`.
impl fmt::Display for Amount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.to_decimal())
    }
}

/// Rounds a computed amount for output: 2 decimal places, half to even, so
/// that rounding a column of figures does not drift upwards. Always scale 2,
/// so that it prints as `"2.50"`.
pub fn round_money(value: Decimal) -> Decimal {
    let mut rounded = value.round_dp_with_strategy(2, RoundingStrategy::MidpointNearestEven);
    rounded.rescale(2);
    rounded
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn amounts_parse_exactly_and_print_two_places() {
        assert_eq!(Amount::parse("1250").unwrap().to_string(), "1250.00");
        assert_eq!(Amount::parse("0.1").unwrap().minor(), 10);
        assert_eq!(Amount::parse("19.99").unwrap().minor(), 1999);
        assert_eq!(Amount::parse("1.50").unwrap().to_string(), "1.50");
    }

    #[test]
    fn invalid_amounts_are_refused() {
        assert_eq!(Amount::parse("-1"), Err(AmountError::Negative));
        assert_eq!(Amount::parse("1.999"), Err(AmountError::TooPrecise));
        assert_eq!(Amount::parse("abc"), Err(AmountError::NotADecimal));
        assert_eq!(Amount::parse("1e5"), Err(AmountError::NotADecimal));
        for lenient in ["1_000", " 1.00", "1.00 ", "+1.00", "1.", ".5", "", "1,00", "0x10"] {
            assert_eq!(Amount::parse(lenient), Err(AmountError::NotADecimal), "{lenient:?}");
        }
        assert_eq!(Amount::parse("100000000000000"), Err(AmountError::TooLarge));
    }

    #[test]
    fn money_rounds_half_to_even_at_two_places() {
        let round = |raw: &str| round_money(Decimal::from_str_exact(raw).unwrap()).to_string();
        assert_eq!(round("0.125"), "0.12");
        assert_eq!(round("0.135"), "0.14");
        assert_eq!(round("0.1251"), "0.13");
        assert_eq!(round("-0.125"), "-0.12");
        assert_eq!(round("2.5"), "2.50");
        assert_eq!(round("7"), "7.00");
        assert_eq!(round_money(Decimal::from_str_exact("2.5").unwrap()).scale(), 2);
    }

    proptest! {
        #[test]
        fn printing_and_parsing_round_trip(minor in 0i64..=MAX_MINOR) {
            let amount = Amount::from_minor(minor).unwrap();
            prop_assert_eq!(Amount::parse(&amount.to_string()).unwrap(), amount);
        }
    }
}
