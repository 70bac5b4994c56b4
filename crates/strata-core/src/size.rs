//! Sizes (`4096`, `64K`, `1M`, `20G`, `1T`) and fractions (`10%`, `0.1`) as INTERFACE.md
//! accepts them on the command line, in config files and in API bodies.

use crate::ParseError;
use std::fmt;
use std::str::FromStr;

const UNITS: [(char, u32); 5] = [('K', 10), ('M', 20), ('G', 30), ('T', 40), ('P', 50)];

/// Parses a byte size: a plain number of bytes or a number with a binary suffix
/// `K`, `M`, `G`, `T`, `P` (optionally followed by `iB` or `B`), e.g. `64K`, `20G`, `1.5G`.
pub fn parse_size(input: &str) -> Result<u64, ParseError> {
    const EXPECTED: &str = "a size such as 4096, 64K, 1M, 20G or 1T";
    let s = input.trim();
    let upper = s.to_ascii_uppercase();
    let body = upper
        .strip_suffix("IB")
        .or_else(|| upper.strip_suffix('B'))
        .unwrap_or(&upper);
    let (number, shift) = match body.chars().last() {
        Some(c) if c.is_ascii_alphabetic() => {
            let shift = UNITS
                .iter()
                .find(|(unit, _)| *unit == c)
                .map(|(_, shift)| *shift)
                .ok_or_else(|| ParseError::new(input, EXPECTED))?;
            (&body[..body.len() - 1], shift)
        }
        _ => (body, 0),
    };
    if number.is_empty() || number.starts_with('-') || number.starts_with('+') {
        return Err(ParseError::new(input, EXPECTED));
    }
    if let Ok(whole) = number.parse::<u64>() {
        return whole
            .checked_mul(1u64 << shift)
            .ok_or_else(|| ParseError::new(input, "a size below 16 EiB"));
    }
    let value: f64 = number
        .parse()
        .map_err(|_| ParseError::new(input, EXPECTED))?;
    let bytes = value * (1u64 << shift) as f64;
    if !bytes.is_finite() || bytes < 0.0 || bytes >= u64::MAX as f64 || bytes.fract() != 0.0 {
        return Err(ParseError::new(input, "a whole number of bytes"));
    }
    Ok(bytes as u64)
}

/// Formats a byte count with the largest binary suffix that divides it exactly (`1M`, `1536K`).
pub fn format_size(bytes: u64) -> String {
    for (unit, shift) in UNITS.iter().rev() {
        let scale = 1u64 << shift;
        if bytes >= scale && bytes.is_multiple_of(scale) {
            return format!("{}{unit}", bytes / scale);
        }
    }
    bytes.to_string()
}

/// Parses a fraction written as a percentage (`10%`) or a plain ratio in [0, 1] (`0.1`).
pub fn parse_fraction(input: &str) -> Result<f64, ParseError> {
    const EXPECTED: &str = "a fraction such as 10% or 0.1, between 0 and 1";
    let s = input.trim();
    let value = match s.strip_suffix('%') {
        Some(pct) => pct.trim().parse::<f64>().map(|p| p / 100.0),
        None => s.parse::<f64>(),
    }
    .map_err(|_| ParseError::new(input, EXPECTED))?;
    if value.is_finite() && (0.0..=1.0).contains(&value) {
        Ok(value)
    } else {
        Err(ParseError::new(input, EXPECTED))
    }
}

/// A capacity given either absolutely (`512M`) or relative to something else (`10%`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum SizeOrFraction {
    Bytes(u64),
    Fraction(f64),
}

impl SizeOrFraction {
    /// Resolves against `whole`: a fraction takes `floor(fraction × whole)`.
    pub fn resolve(self, whole: u64) -> u64 {
        match self {
            Self::Bytes(bytes) => bytes,
            Self::Fraction(f) => (f * whole as f64).floor() as u64,
        }
    }
}

impl FromStr for SizeOrFraction {
    type Err = ParseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.trim_end().ends_with('%') {
            parse_fraction(s).map(Self::Fraction)
        } else {
            parse_size(s).map(Self::Bytes)
        }
    }
}

impl fmt::Display for SizeOrFraction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Bytes(bytes) => f.write_str(&format_size(*bytes)),
            Self::Fraction(frac) => write!(f, "{}%", frac * 100.0),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse_as_interface_md_lists_them() {
        let cases = [
            ("4096", 4096),
            ("64K", 64 << 10),
            ("64k", 64 << 10),
            ("1M", 1 << 20),
            ("20G", 20 << 30),
            ("1T", 1 << 40),
            ("2GiB", 2 << 30),
            ("8MB", 8 << 20),
            ("1.5G", 3 << 29),
            (" 7 ", 7),
        ];
        for (input, want) in cases {
            assert_eq!(parse_size(input), Ok(want), "{input}");
        }
    }

    #[test]
    fn bad_sizes_are_rejected_with_the_input_named() {
        for input in [
            "",
            "K",
            "-1",
            "+4",
            "12X",
            "1.3",
            "99999999999P",
            "nan",
            "1e400",
        ] {
            let err = parse_size(input).expect_err(input);
            assert_eq!(err.input, input);
        }
    }

    #[test]
    fn fractions_parse_and_stay_in_range() {
        assert_eq!(parse_fraction("10%"), Ok(0.1));
        assert_eq!(parse_fraction("0.25"), Ok(0.25));
        assert_eq!(parse_fraction("100%"), Ok(1.0));
        assert!(parse_fraction("101%").is_err());
        assert!(parse_fraction("-1%").is_err());
        assert!(parse_fraction("x%").is_err());
    }

    #[test]
    fn size_or_fraction_resolves() {
        assert_eq!(
            "10%".parse::<SizeOrFraction>().map(|s| s.resolve(55)),
            Ok(5)
        );
        assert_eq!(
            "1M".parse::<SizeOrFraction>().map(|s| s.resolve(55)),
            Ok(1 << 20)
        );
    }

    proptest::proptest! {
        #[test]
        fn format_then_parse_round_trips(bytes in 0u64..(1 << 52)) {
            proptest::prop_assert_eq!(parse_size(&format_size(bytes)), Ok(bytes));
        }
    }
}
