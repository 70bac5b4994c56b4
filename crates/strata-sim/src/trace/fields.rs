//! Allocation-free field splitting and number parsing on raw line bytes, shared by every
//! text format. A parse failure is a static reason string, turned into a `TraceError` by
//! the line reader.

/// Why a line was rejected.
pub(crate) type Reason = &'static str;

/// Strips ASCII whitespace (including the `\r` of CRLF files) from both ends.
pub(crate) fn trim(bytes: &[u8]) -> &[u8] {
    bytes.trim_ascii()
}

/// The comma-separated fields of a line, each trimmed.
pub(crate) fn comma_fields(line: &[u8]) -> impl Iterator<Item = &[u8]> {
    line.split(|&b| b == b',').map(trim)
}

/// The whitespace-separated fields of a line.
pub(crate) fn space_fields(line: &[u8]) -> impl Iterator<Item = &[u8]> {
    line.split(u8::is_ascii_whitespace)
        .filter(|field| !field.is_empty())
}

/// The next field, or `reason` if the line ended early.
pub(crate) fn next_field<'a>(
    fields: &mut impl Iterator<Item = &'a [u8]>,
    reason: Reason,
) -> Result<&'a [u8], Reason> {
    fields.next().ok_or(reason)
}

/// A non-negative decimal integer; no sign, no spaces, no overflow.
pub(crate) fn parse_u64(field: &[u8]) -> Option<u64> {
    if field.is_empty() || field.len() > 20 {
        return None;
    }
    let mut value: u64 = 0;
    for &b in field {
        let digit = b.wrapping_sub(b'0');
        if digit > 9 {
            return None;
        }
        value = value.checked_mul(10)?.checked_add(u64::from(digit))?;
    }
    Some(value)
}

pub(crate) fn parse_u32(field: &[u8]) -> Option<u32> {
    parse_u64(field).and_then(|v| u32::try_from(v).ok())
}

/// A hexadecimal integer, with or without a `0x` prefix.
pub(crate) fn parse_hex_u32(field: &[u8]) -> Option<u32> {
    let digits = field
        .strip_prefix(b"0x")
        .or_else(|| field.strip_prefix(b"0X"))
        .unwrap_or(field);
    if digits.is_empty() || digits.len() > 8 {
        return None;
    }
    let mut value: u32 = 0;
    for &b in digits {
        let digit = char::from(b).to_digit(16)?;
        value = (value << 4) | digit;
    }
    Some(value)
}

/// A non-negative decimal number (`12`, `12.5`, `.5`) in some unit, converted exactly to
/// nanoseconds; fractional digits finer than a nanosecond are truncated.
pub(crate) fn parse_decimal_ns(field: &[u8], ns_per_unit: u64) -> Option<u64> {
    let (int_part, frac_part) = match field.iter().position(|&b| b == b'.') {
        Some(dot) => (&field[..dot], &field[dot + 1..]),
        None => (field, &field[field.len()..]),
    };
    if int_part.is_empty() && frac_part.is_empty() {
        return None;
    }
    let whole = if int_part.is_empty() {
        0
    } else {
        parse_u64(int_part)?
    };
    let mut ns = whole.checked_mul(ns_per_unit)?;
    if !frac_part.is_empty() {
        // Digits past the 18th cannot change the nanosecond value of any supported unit.
        let kept = &frac_part[..frac_part.len().min(18)];
        if !frac_part.iter().all(u8::is_ascii_digit) {
            return None;
        }
        let frac = u128::from(parse_u64(kept)?);
        let scale = 10u128.pow(u32::try_from(kept.len()).ok()?);
        let frac_ns = u64::try_from(frac * u128::from(ns_per_unit) / scale).ok()?;
        ns = ns.checked_add(frac_ns)?;
    }
    Some(ns)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integers() {
        assert_eq!(parse_u64(b"0"), Some(0));
        assert_eq!(parse_u64(b"18446744073709551615"), Some(u64::MAX));
        assert_eq!(parse_u64(b"18446744073709551616"), None);
        assert_eq!(parse_u64(b""), None);
        assert_eq!(parse_u64(b"-1"), None);
        assert_eq!(parse_u64(b"1 2"), None);
        assert_eq!(parse_u32(b"4294967296"), None);
        assert_eq!(parse_hex_u32(b"2a"), Some(0x2a));
        assert_eq!(parse_hex_u32(b"0x28"), Some(0x28));
        assert_eq!(parse_hex_u32(b"op"), None);
    }

    #[test]
    fn decimals() {
        assert_eq!(parse_decimal_ns(b"1.5", 1_000_000_000), Some(1_500_000_000));
        assert_eq!(parse_decimal_ns(b"0.221", 1_000_000), Some(221_000));
        assert_eq!(
            parse_decimal_ns(b"1456095145.133076000", 1_000_000_000),
            Some(1_456_095_145_133_076_000)
        );
        assert_eq!(parse_decimal_ns(b".25", 1_000), Some(250));
        assert_eq!(parse_decimal_ns(b"7", 1), Some(7));
        assert_eq!(
            parse_decimal_ns(b"1.0000000001", 1_000_000_000),
            Some(1_000_000_000)
        );
        assert_eq!(parse_decimal_ns(b".", 1), None);
        assert_eq!(parse_decimal_ns(b"1.2.3", 1), None);
        assert_eq!(parse_decimal_ns(b"1e3", 1), None);
        assert_eq!(parse_decimal_ns(b"99999999999999999999", 1), None);
    }

    #[test]
    fn splitting() {
        let fields: Vec<&[u8]> = comma_fields(b"a, b ,c").collect();
        assert_eq!(fields, [&b"a"[..], b"b", b"c"]);
        let fields: Vec<&[u8]> = space_fields(b"  8,0   3 Q ").collect();
        assert_eq!(fields, [&b"8,0"[..], b"3", b"Q"]);
    }
}
