//! NBD wire format: protocol constants and a panic-free codec for every message this crate
//! sends or receives (handshake, option haggling, transmission requests and simple replies).
//!
//! Everything here is pure byte shuffling over slices and `Vec`s; the async I/O lives in
//! `handshake`, `transmission` and `client`. Decoders return [`NbdError`] on malformed input and
//! never index wire data without a bounds check.

use crate::error::{NbdError, NbdErrorKind};

#[cfg(test)]
mod tests;

/// `"NBDMAGIC"`: first eight bytes the server sends.
pub const NBD_MAGIC: u64 = 0x4e42_444d_4147_4943;
/// `"IHAVEOPT"`: newstyle magic, also the prefix of every client option.
pub const IHAVEOPT: u64 = 0x4948_4156_454f_5054;
/// Magic of every option reply.
pub const OPTION_REPLY_MAGIC: u64 = 0x0003_e889_0455_65a9;
/// Magic of a transmission request.
pub const REQUEST_MAGIC: u32 = 0x2560_9513;
/// Magic of a simple reply.
pub const SIMPLE_REPLY_MAGIC: u32 = 0x6744_6698;

/// Server handshake flags.
pub const NBD_FLAG_FIXED_NEWSTYLE: u16 = 1 << 0;
pub const NBD_FLAG_NO_ZEROES: u16 = 1 << 1;
/// Client flags.
pub const NBD_FLAG_C_FIXED_NEWSTYLE: u32 = 1 << 0;
pub const NBD_FLAG_C_NO_ZEROES: u32 = 1 << 1;

/// Transmission flags.
pub const NBD_FLAG_HAS_FLAGS: u16 = 1 << 0;
pub const NBD_FLAG_READ_ONLY: u16 = 1 << 1;
pub const NBD_FLAG_SEND_FLUSH: u16 = 1 << 2;
pub const NBD_FLAG_SEND_FUA: u16 = 1 << 3;
pub const NBD_FLAG_SEND_TRIM: u16 = 1 << 5;
pub const NBD_FLAG_SEND_WRITE_ZEROES: u16 = 1 << 6;
pub const NBD_FLAG_CAN_MULTI_CONN: u16 = 1 << 8;

/// Options.
pub const NBD_OPT_EXPORT_NAME: u32 = 1;
pub const NBD_OPT_ABORT: u32 = 2;
pub const NBD_OPT_LIST: u32 = 3;
pub const NBD_OPT_STARTTLS: u32 = 5;
pub const NBD_OPT_INFO: u32 = 6;
pub const NBD_OPT_GO: u32 = 7;
pub const NBD_OPT_STRUCTURED_REPLY: u32 = 8;

/// Option reply types.
pub const NBD_REP_ACK: u32 = 1;
pub const NBD_REP_SERVER: u32 = 2;
pub const NBD_REP_INFO: u32 = 3;
const NBD_REP_FLAG_ERROR: u32 = 1 << 31;
pub const NBD_REP_ERR_UNSUP: u32 = NBD_REP_FLAG_ERROR | 1;
pub const NBD_REP_ERR_POLICY: u32 = NBD_REP_FLAG_ERROR | 2;
pub const NBD_REP_ERR_INVALID: u32 = NBD_REP_FLAG_ERROR | 3;
pub const NBD_REP_ERR_TLS_REQD: u32 = NBD_REP_FLAG_ERROR | 5;
pub const NBD_REP_ERR_UNKNOWN: u32 = NBD_REP_FLAG_ERROR | 6;
pub const NBD_REP_ERR_SHUTDOWN: u32 = NBD_REP_FLAG_ERROR | 7;
pub const NBD_REP_ERR_TOO_BIG: u32 = NBD_REP_FLAG_ERROR | 9;

/// Whether an option reply type is an error.
pub fn is_error_reply(reply_type: u32) -> bool {
    reply_type & NBD_REP_FLAG_ERROR != 0
}

/// `NBD_INFO_*` types carried in `NBD_REP_INFO` and requested in `NBD_OPT_INFO`/`GO`.
pub const NBD_INFO_EXPORT: u16 = 0;
pub const NBD_INFO_NAME: u16 = 1;
pub const NBD_INFO_DESCRIPTION: u16 = 2;
pub const NBD_INFO_BLOCK_SIZE: u16 = 3;

/// Command flags.
pub const NBD_CMD_FLAG_FUA: u16 = 1 << 0;
pub const NBD_CMD_FLAG_NO_HOLE: u16 = 1 << 1;

/// Error values carried in simple replies.
pub const NBD_EPERM: u32 = 1;
pub const NBD_EIO: u32 = 5;
pub const NBD_ENOMEM: u32 = 12;
pub const NBD_EINVAL: u32 = 22;
pub const NBD_ENOSPC: u32 = 28;
pub const NBD_ESHUTDOWN: u32 = 108;

/// Bytes of the server's initial greeting: magic, `IHAVEOPT`, handshake flags.
pub const GREETING_LEN: usize = 18;
/// Bytes of a client option header: `IHAVEOPT`, option, payload length.
pub const OPTION_HEADER_LEN: usize = 16;
/// Bytes of an option reply header: magic, option, reply type, payload length.
pub const OPTION_REPLY_HEADER_LEN: usize = 20;
/// Bytes of a transmission request header.
pub const REQUEST_LEN: usize = 28;
/// Bytes of a simple reply header.
pub const SIMPLE_REPLY_LEN: usize = 16;
/// Zero padding after the `NBD_OPT_EXPORT_NAME` reply unless `NO_ZEROES` was agreed.
pub const EXPORT_NAME_PADDING_LEN: usize = 124;
/// Longest string (export name, description) the protocol allows.
pub const MAX_STRING_LEN: usize = 4096;

/// A transmission command type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Command {
    Read,
    Write,
    Disconnect,
    Flush,
    Trim,
    WriteZeroes,
    /// A type this crate does not implement; answered with `EINVAL`.
    Unknown(u16),
}

impl Command {
    pub fn from_wire(value: u16) -> Self {
        match value {
            0 => Self::Read,
            1 => Self::Write,
            2 => Self::Disconnect,
            3 => Self::Flush,
            4 => Self::Trim,
            6 => Self::WriteZeroes,
            other => Self::Unknown(other),
        }
    }

    pub fn to_wire(self) -> u16 {
        match self {
            Self::Read => 0,
            Self::Write => 1,
            Self::Disconnect => 2,
            Self::Flush => 3,
            Self::Trim => 4,
            Self::WriteZeroes => 6,
            Self::Unknown(other) => other,
        }
    }
}

/// A transmission request header (the payload of a write follows it on the wire).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Request {
    pub flags: u16,
    pub command: Command,
    pub handle: u64,
    pub offset: u64,
    pub len_bytes: u32,
}

impl Request {
    pub fn encode(&self) -> [u8; REQUEST_LEN] {
        let mut out = [0u8; REQUEST_LEN];
        out[0..4].copy_from_slice(&REQUEST_MAGIC.to_be_bytes());
        out[4..6].copy_from_slice(&self.flags.to_be_bytes());
        out[6..8].copy_from_slice(&self.command.to_wire().to_be_bytes());
        out[8..16].copy_from_slice(&self.handle.to_be_bytes());
        out[16..24].copy_from_slice(&self.offset.to_be_bytes());
        out[24..28].copy_from_slice(&self.len_bytes.to_be_bytes());
        out
    }

    /// Decodes a request header; fails on a short buffer or a bad magic.
    pub fn decode(bytes: &[u8]) -> Result<Self, NbdError> {
        let mut r = WireReader::new(bytes, "request");
        let magic = r.u32()?;
        if magic != REQUEST_MAGIC {
            return Err(NbdError::protocol(format!(
                "bad request magic {magic:#010x}"
            )));
        }
        Ok(Self {
            flags: r.u16()?,
            command: Command::from_wire(r.u16()?),
            handle: r.u64()?,
            offset: r.u64()?,
            len_bytes: r.u32()?,
        })
    }
}

/// A simple reply header (read data follows a successful read reply).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SimpleReply {
    pub error: u32,
    pub handle: u64,
}

impl SimpleReply {
    pub fn encode(&self) -> [u8; SIMPLE_REPLY_LEN] {
        let mut out = [0u8; SIMPLE_REPLY_LEN];
        out[0..4].copy_from_slice(&SIMPLE_REPLY_MAGIC.to_be_bytes());
        out[4..8].copy_from_slice(&self.error.to_be_bytes());
        out[8..16].copy_from_slice(&self.handle.to_be_bytes());
        out
    }

    pub fn decode(bytes: &[u8]) -> Result<Self, NbdError> {
        let mut r = WireReader::new(bytes, "simple reply");
        let magic = r.u32()?;
        if magic != SIMPLE_REPLY_MAGIC {
            return Err(NbdError::protocol(format!("bad reply magic {magic:#010x}")));
        }
        Ok(Self {
            error: r.u32()?,
            handle: r.u64()?,
        })
    }
}

/// The server greeting: `NBDMAGIC`, `IHAVEOPT`, handshake flags.
pub fn encode_greeting(handshake_flags: u16) -> [u8; GREETING_LEN] {
    let mut out = [0u8; GREETING_LEN];
    out[0..8].copy_from_slice(&NBD_MAGIC.to_be_bytes());
    out[8..16].copy_from_slice(&IHAVEOPT.to_be_bytes());
    out[16..18].copy_from_slice(&handshake_flags.to_be_bytes());
    out
}

/// Decodes the greeting and returns the handshake flags; oldstyle servers are rejected.
pub fn decode_greeting(bytes: &[u8]) -> Result<u16, NbdError> {
    let mut r = WireReader::new(bytes, "greeting");
    if r.u64()? != NBD_MAGIC {
        return Err(NbdError::protocol("server greeting lacks NBDMAGIC"));
    }
    if r.u64()? != IHAVEOPT {
        return Err(NbdError::protocol("server is not newstyle"));
    }
    r.u16()
}

/// A client option header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OptionHeader {
    pub option: u32,
    pub len_bytes: u32,
}

impl OptionHeader {
    pub fn encode(&self) -> [u8; OPTION_HEADER_LEN] {
        let mut out = [0u8; OPTION_HEADER_LEN];
        out[0..8].copy_from_slice(&IHAVEOPT.to_be_bytes());
        out[8..12].copy_from_slice(&self.option.to_be_bytes());
        out[12..16].copy_from_slice(&self.len_bytes.to_be_bytes());
        out
    }

    pub fn decode(bytes: &[u8]) -> Result<Self, NbdError> {
        let mut r = WireReader::new(bytes, "option header");
        if r.u64()? != IHAVEOPT {
            return Err(NbdError::protocol("option lacks IHAVEOPT magic"));
        }
        Ok(Self {
            option: r.u32()?,
            len_bytes: r.u32()?,
        })
    }
}

/// An option reply header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OptionReplyHeader {
    pub option: u32,
    pub reply_type: u32,
    pub len_bytes: u32,
}

impl OptionReplyHeader {
    pub fn encode(&self) -> [u8; OPTION_REPLY_HEADER_LEN] {
        let mut out = [0u8; OPTION_REPLY_HEADER_LEN];
        out[0..8].copy_from_slice(&OPTION_REPLY_MAGIC.to_be_bytes());
        out[8..12].copy_from_slice(&self.option.to_be_bytes());
        out[12..16].copy_from_slice(&self.reply_type.to_be_bytes());
        out[16..20].copy_from_slice(&self.len_bytes.to_be_bytes());
        out
    }

    pub fn decode(bytes: &[u8]) -> Result<Self, NbdError> {
        let mut r = WireReader::new(bytes, "option reply header");
        if r.u64()? != OPTION_REPLY_MAGIC {
            return Err(NbdError::protocol("option reply lacks its magic"));
        }
        Ok(Self {
            option: r.u32()?,
            reply_type: r.u32()?,
            len_bytes: r.u32()?,
        })
    }
}

/// Payload of `NBD_OPT_INFO` / `NBD_OPT_GO`: an export name and the info types requested.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InfoRequest {
    pub name: String,
    pub info_types: Vec<u16>,
}

impl InfoRequest {
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(6 + self.name.len() + 2 * self.info_types.len());
        put_string_u32(&mut out, &self.name);
        // Encoding more than u16::MAX info types is a caller bug; clamp rather than wrap.
        let count = u16::try_from(self.info_types.len()).unwrap_or(u16::MAX);
        out.extend_from_slice(&count.to_be_bytes());
        for info in self.info_types.iter().take(usize::from(count)) {
            out.extend_from_slice(&info.to_be_bytes());
        }
        out
    }

    /// Decodes the payload; its length must match the counts inside exactly.
    pub fn decode(bytes: &[u8]) -> Result<Self, NbdError> {
        let mut r = WireReader::new(bytes, "info request");
        let name = r.string_u32()?;
        let count = r.u16()?;
        let mut info_types = Vec::with_capacity(usize::from(count).min(bytes.len() / 2));
        for _ in 0..count {
            info_types.push(r.u16()?);
        }
        r.finish()?;
        Ok(Self { name, info_types })
    }
}

/// The body of one `NBD_REP_INFO` reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Info {
    Export {
        size_bytes: u64,
        transmission_flags: u16,
    },
    Name(String),
    Description(String),
    BlockSize {
        min_bytes: u32,
        preferred_bytes: u32,
        max_bytes: u32,
    },
    /// An info type this crate does not interpret (clients must ignore those).
    Other(u16),
}

impl Info {
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        match self {
            Self::Export {
                size_bytes,
                transmission_flags,
            } => {
                out.extend_from_slice(&NBD_INFO_EXPORT.to_be_bytes());
                out.extend_from_slice(&size_bytes.to_be_bytes());
                out.extend_from_slice(&transmission_flags.to_be_bytes());
            }
            Self::Name(name) => {
                out.extend_from_slice(&NBD_INFO_NAME.to_be_bytes());
                out.extend_from_slice(name.as_bytes());
            }
            Self::Description(text) => {
                out.extend_from_slice(&NBD_INFO_DESCRIPTION.to_be_bytes());
                out.extend_from_slice(text.as_bytes());
            }
            Self::BlockSize {
                min_bytes,
                preferred_bytes,
                max_bytes,
            } => {
                out.extend_from_slice(&NBD_INFO_BLOCK_SIZE.to_be_bytes());
                out.extend_from_slice(&min_bytes.to_be_bytes());
                out.extend_from_slice(&preferred_bytes.to_be_bytes());
                out.extend_from_slice(&max_bytes.to_be_bytes());
            }
            Self::Other(kind) => out.extend_from_slice(&kind.to_be_bytes()),
        }
        out
    }

    pub fn decode(bytes: &[u8]) -> Result<Self, NbdError> {
        let mut r = WireReader::new(bytes, "info reply");
        let info = match r.u16()? {
            NBD_INFO_EXPORT => Self::Export {
                size_bytes: r.u64()?,
                transmission_flags: r.u16()?,
            },
            NBD_INFO_NAME => Self::Name(r.rest_string()?),
            NBD_INFO_DESCRIPTION => Self::Description(r.rest_string()?),
            NBD_INFO_BLOCK_SIZE => Self::BlockSize {
                min_bytes: r.u32()?,
                preferred_bytes: r.u32()?,
                max_bytes: r.u32()?,
            },
            other => {
                r.rest();
                Self::Other(other)
            }
        };
        r.finish()?;
        Ok(info)
    }
}

/// Body of an `NBD_REP_SERVER` reply to `NBD_OPT_LIST`: a name and an optional description.
pub fn encode_server_entry(name: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(4 + name.len());
    put_string_u32(&mut out, name);
    out
}

/// Decodes an `NBD_REP_SERVER` body and returns the export name (trailing details ignored).
pub fn decode_server_entry(bytes: &[u8]) -> Result<String, NbdError> {
    let mut r = WireReader::new(bytes, "server entry");
    let name = r.string_u32()?;
    r.rest();
    Ok(name)
}

/// The reply to `NBD_OPT_EXPORT_NAME`: size, transmission flags and optional padding.
pub fn encode_export_name_reply(size_bytes: u64, flags: u16, no_zeroes: bool) -> Vec<u8> {
    let mut out = Vec::with_capacity(10 + EXPORT_NAME_PADDING_LEN);
    out.extend_from_slice(&size_bytes.to_be_bytes());
    out.extend_from_slice(&flags.to_be_bytes());
    if !no_zeroes {
        out.resize(out.len() + EXPORT_NAME_PADDING_LEN, 0);
    }
    out
}

fn put_string_u32(out: &mut Vec<u8>, text: &str) {
    // Strings longer than u32::MAX cannot be represented; callers keep them to 4 KiB.
    let len = u32::try_from(text.len()).unwrap_or(u32::MAX);
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(text.as_bytes());
}

/// A bounds-checked big-endian cursor over wire bytes.
#[derive(Debug)]
pub struct WireReader<'a> {
    bytes: &'a [u8],
    what: &'static str,
}

impl<'a> WireReader<'a> {
    pub fn new(bytes: &'a [u8], what: &'static str) -> Self {
        Self { bytes, what }
    }

    fn take<const N: usize>(&mut self) -> Result<[u8; N], NbdError> {
        let Some((head, tail)) = self.bytes.split_first_chunk::<N>() else {
            return Err(self.short());
        };
        self.bytes = tail;
        Ok(*head)
    }

    fn short(&self) -> NbdError {
        NbdError::new(
            NbdErrorKind::Protocol,
            format!("{} is truncated", self.what),
        )
    }

    pub fn u16(&mut self) -> Result<u16, NbdError> {
        self.take().map(u16::from_be_bytes)
    }

    pub fn u32(&mut self) -> Result<u32, NbdError> {
        self.take().map(u32::from_be_bytes)
    }

    pub fn u64(&mut self) -> Result<u64, NbdError> {
        self.take().map(u64::from_be_bytes)
    }

    /// A string prefixed by its u32 length.
    pub fn string_u32(&mut self) -> Result<String, NbdError> {
        let len = usize::try_from(self.u32()?).map_err(|_| self.short())?;
        if len > MAX_STRING_LEN {
            return Err(NbdError::protocol(format!(
                "{} string of {len} bytes",
                self.what
            )));
        }
        let Some((text, tail)) = self.bytes.split_at_checked(len) else {
            return Err(self.short());
        };
        self.bytes = tail;
        utf8(text, self.what)
    }

    /// All remaining bytes as a string.
    pub fn rest_string(&mut self) -> Result<String, NbdError> {
        let text = self.rest();
        if text.len() > MAX_STRING_LEN {
            return Err(NbdError::protocol(format!("{} string too long", self.what)));
        }
        utf8(text, self.what)
    }

    pub fn rest(&mut self) -> &'a [u8] {
        std::mem::take(&mut self.bytes)
    }

    /// Fails if bytes are left over.
    pub fn finish(self) -> Result<(), NbdError> {
        if self.bytes.is_empty() {
            Ok(())
        } else {
            Err(NbdError::protocol(format!(
                "{} has {} trailing bytes",
                self.what,
                self.bytes.len()
            )))
        }
    }
}

fn utf8(bytes: &[u8], what: &str) -> Result<String, NbdError> {
    String::from_utf8(bytes.to_vec())
        .map_err(|_| NbdError::protocol(format!("{what} string is not UTF-8")))
}
