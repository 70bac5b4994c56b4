//! Opening a trace file: transparent decompression chosen by magic bytes (gzip, zstd, xz),
//! and, for `Format::Auto`, a peek at the decompressed head to detect the format without
//! losing those bytes.

use std::fs::File;
use std::io::{BufRead, BufReader, Cursor, Read};
use std::path::Path;

use flate2::read::MultiGzDecoder;

use super::{Format, TraceError, detect};

/// Buffer size of the raw file and of the decompressed stream.
const BUFFER_BYTES: usize = 256 << 10;
/// How much decompressed content format detection looks at.
const DETECT_BYTES: u64 = 16 << 10;

const GZIP_MAGIC: &[u8] = &[0x1f, 0x8b];
const ZSTD_MAGIC: &[u8] = &[0x28, 0xb5, 0x2f, 0xfd];
const XZ_MAGIC: &[u8] = &[0xfd, b'7', b'z', b'X', b'Z', 0x00];

/// Opens `path` as a decompressed byte stream and resolves `Format::Auto`.
pub(crate) fn open(
    path: &Path,
    format: Format,
) -> Result<(Format, Box<dyn BufRead + Send>), TraceError> {
    let io_err = |error| TraceError::io(path, error);
    let file = File::open(path).map_err(io_err)?;
    let mut raw = BufReader::with_capacity(BUFFER_BYTES, file);
    let magic = raw.fill_buf().map_err(io_err)?;
    let mut stream: Box<dyn BufRead + Send> = if magic.starts_with(GZIP_MAGIC) {
        Box::new(BufReader::with_capacity(
            BUFFER_BYTES,
            MultiGzDecoder::new(raw),
        ))
    } else if magic.starts_with(ZSTD_MAGIC) {
        let decoder = zstd::stream::read::Decoder::with_buffer(raw).map_err(io_err)?;
        Box::new(BufReader::with_capacity(BUFFER_BYTES, decoder))
    } else if magic.starts_with(XZ_MAGIC) {
        Box::new(BufReader::with_capacity(
            BUFFER_BYTES,
            xz2::bufread::XzDecoder::new_multi_decoder(raw),
        ))
    } else {
        Box::new(raw)
    };
    if format != Format::Auto {
        return Ok((format, stream));
    }
    let mut head = Vec::new();
    (&mut stream)
        .take(DETECT_BYTES)
        .read_to_end(&mut head)
        .map_err(io_err)?;
    let detected = detect::detect_format(&head).ok_or_else(|| {
        TraceError::unknown_format(
            path,
            "cannot detect the trace format from its first lines; pass the format explicitly",
        )
    })?;
    Ok((detected, Box::new(Cursor::new(head).chain(stream))))
}
