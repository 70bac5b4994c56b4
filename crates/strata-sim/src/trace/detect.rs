//! Format detection from content: the first meaningful line of a text trace, or binary
//! content for LBN arrays. File names are never consulted, so a renamed or recompressed
//! file is still read correctly.

use super::Format;
use super::fields::{comma_fields, parse_decimal_ns, parse_u64, space_fields, trim};

/// Detects the format of a trace from its first (decompressed) bytes; `None` if unknown.
///
/// Rules, in order: binary content (a NUL or non-ASCII byte) is an LBN array; otherwise the
/// first non-empty line that is not a `#` comment decides:
/// `fio version N iolog` → fio; a `version,time,op` header → CloudPhysics; a
/// `timestamp,response,iotype` header, or 6 numeric comma fields but an `R`/`W` third,
/// → SYSTOR; 7 comma fields with `Read`/`Write` 4th →
/// MSR; 5 numeric comma fields → Tencent; a `major,minor` first field followed by at least
/// 8 whitespace fields → blkparse; 5 numeric whitespace fields → DiskSim; 4 → ARC.
pub fn detect_format(head: &[u8]) -> Option<Format> {
    if head.is_empty() {
        return None;
    }
    if head
        .iter()
        .any(|&b| b == 0 || b >= 0x80 || (b < 0x20 && !b.is_ascii_whitespace()))
    {
        return Some(Format::Lbn);
    }
    let line = head
        .split(|&b| b == b'\n')
        .map(trim)
        .find(|line| !line.is_empty() && !line.starts_with(b"#"))?;
    detect_line(line)
}

fn starts_with_ignore_case(line: &[u8], prefix: &[u8]) -> bool {
    line.len() >= prefix.len() && line[..prefix.len()].eq_ignore_ascii_case(prefix)
}

fn is_number(field: &[u8]) -> bool {
    parse_decimal_ns(field, 1).is_some()
}

fn is_major_minor(field: &[u8]) -> bool {
    let mut parts = field.split(|&b| b == b',');
    matches!(
        (parts.next(), parts.next(), parts.next()),
        (Some(major), Some(minor), None) if parse_u64(major).is_some() && parse_u64(minor).is_some()
    )
}

fn detect_line(line: &[u8]) -> Option<Format> {
    if starts_with_ignore_case(line, b"fio version ") {
        return Some(Format::Fio);
    }
    if starts_with_ignore_case(line, b"version,time,op") {
        return Some(Format::CloudPhysics);
    }
    if starts_with_ignore_case(line, b"timestamp,response,iotype") {
        return Some(Format::Systor);
    }
    let commas: Vec<&[u8]> = comma_fields(line).take(8).collect();
    if commas.len() == 7
        && (commas[3].eq_ignore_ascii_case(b"read") || commas[3].eq_ignore_ascii_case(b"write"))
    {
        return Some(Format::Msr);
    }
    if commas.len() == 6
        && matches!(commas[2], b"R" | b"W" | b"r" | b"w")
        && commas
            .iter()
            .enumerate()
            .all(|(i, field)| i == 2 || is_number(field))
    {
        return Some(Format::Systor);
    }
    if commas.len() == 5 && commas.iter().all(|field| is_number(field)) {
        return Some(Format::Tencent);
    }
    let words: Vec<&[u8]> = space_fields(line).take(12).collect();
    if words.len() >= 8 && is_major_minor(words[0]) {
        return Some(Format::Blkparse);
    }
    if commas.len() == 1 && words.iter().all(|field| is_number(field)) {
        return match words.len() {
            5 => Some(Format::DiskSim),
            4 => Some(Format::Arc),
            _ => None,
        };
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detects_each_text_format() {
        let cases: [(&[u8], Format); 10] = [
            (
                b"1456095145.133076000,0.000806000,W,0,899056122368,131072\n",
                Format::Systor,
            ),
            (
                b"128166385295514663,hm,0,Write,9056014336,2048,2833\n",
                Format::Msr,
            ),
            (
                b"Timestamp,Response,IOType,LUN,Offset,Size\n",
                Format::Systor,
            ),
            (
                b"version,time,op,size,lbn\n1,5633898,2a,512,42932745\n",
                Format::CloudPhysics,
            ),
            (b"1538323200,1234,8,0,1063\n", Format::Tencent),
            (b"0.000 5 174224064 16 1\n", Format::DiskSim),
            (b"1 1 0 0\n", Format::Arc),
            (
                b"  8,0    3        1     0.000000000   697  Q   R 223490 + 8 [kworker/u8:0]\n",
                Format::Blkparse,
            ),
            (b"fio version 2 iolog\n/dev/sda add\n", Format::Fio),
            (b"\n# comment\nfio version 3 iolog\n", Format::Fio),
        ];
        for (head, expected) in cases {
            assert_eq!(
                detect_format(head),
                Some(expected),
                "{}",
                String::from_utf8_lossy(head)
            );
        }
    }

    #[test]
    fn binary_is_lbn_and_garbage_is_unknown() {
        assert_eq!(detect_format(&[1, 0, 0, 0, 2, 0, 0, 0]), Some(Format::Lbn));
        assert_eq!(detect_format(b"hello world\n"), None);
        assert_eq!(detect_format(b""), None);
        assert_eq!(detect_format(b"1 2 3\n"), None);
    }
}
