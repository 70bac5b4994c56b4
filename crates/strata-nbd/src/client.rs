//! A small sequential NBD client (one request in flight): fixed-newstyle handshake with
//! `NBD_OPT_GO`, optionally upgraded with `NBD_OPT_STARTTLS` first, export listing, and every
//! command the server implements. Used by tests and for forwarding I/O to remote servers.

use std::path::Path;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader, BufWriter};
use tokio::net::{TcpStream, ToSocketAddrs, UnixStream};

use crate::error::{NbdError, NbdErrorKind};
use crate::proto::{
    self, Command, GREETING_LEN, Info, InfoRequest, NBD_CMD_FLAG_FUA, NBD_CMD_FLAG_NO_HOLE,
    NBD_FLAG_C_FIXED_NEWSTYLE, NBD_FLAG_C_NO_ZEROES, NBD_FLAG_FIXED_NEWSTYLE, NBD_FLAG_NO_ZEROES,
    NBD_FLAG_READ_ONLY, NBD_INFO_BLOCK_SIZE, NBD_INFO_NAME, NBD_OPT_ABORT, NBD_OPT_GO,
    NBD_OPT_LIST, NBD_OPT_STARTTLS, NBD_REP_ACK, NBD_REP_ERR_TLS_REQD, NBD_REP_ERR_UNKNOWN,
    NBD_REP_ERR_UNSUP, NBD_REP_INFO, NBD_REP_SERVER, OPTION_REPLY_HEADER_LEN, OptionHeader,
    OptionReplyHeader, Request, SIMPLE_REPLY_LEN, SimpleReply,
};
use crate::tls::{ClientTls, Joined, handshake_error};

type BoxRead = Box<dyn AsyncRead + Unpin + Send>;
type BoxWrite = Box<dyn AsyncWrite + Unpin + Send>;

/// Largest option reply body the client accepts (a string plus a little framing).
const MAX_OPTION_REPLY_BYTES: usize = 64 * 1024;

/// Block size limits a server advertised with `NBD_INFO_BLOCK_SIZE`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BlockSizes {
    pub min_bytes: u32,
    pub preferred_bytes: u32,
    pub max_bytes: u32,
}

/// A connected client in the transmission phase.
pub struct NbdClient {
    reader: BufReader<BoxRead>,
    writer: BufWriter<BoxWrite>,
    size_bytes: u64,
    transmission_flags: u16,
    block_sizes: Option<BlockSizes>,
    next_handle: u64,
}

impl std::fmt::Debug for NbdClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NbdClient")
            .field("size_bytes", &self.size_bytes)
            .field("transmission_flags", &self.transmission_flags)
            .finish_non_exhaustive()
    }
}

/// A connection during option haggling.
struct Haggle {
    reader: BufReader<BoxRead>,
    writer: BufWriter<BoxWrite>,
}

impl NbdClient {
    /// Connects over TCP and selects `export_name` with `NBD_OPT_GO`.
    pub async fn connect_tcp(
        addr: impl ToSocketAddrs,
        export_name: &str,
    ) -> Result<Self, NbdError> {
        Haggle::tcp(addr).await?.go(export_name).await
    }

    /// Connects over a Unix socket and selects `export_name` with `NBD_OPT_GO`.
    pub async fn connect_unix(path: impl AsRef<Path>, export_name: &str) -> Result<Self, NbdError> {
        Haggle::unix(path).await?.go(export_name).await
    }

    /// Connects over TCP, upgrades to TLS with `NBD_OPT_STARTTLS`, then selects `export_name`.
    pub async fn connect_tcp_tls(
        addr: impl ToSocketAddrs,
        export_name: &str,
        tls: &ClientTls,
    ) -> Result<Self, NbdError> {
        Haggle::tcp(addr)
            .await?
            .start_tls(tls)
            .await?
            .go(export_name)
            .await
    }

    /// Connects over a Unix socket, upgrades to TLS, then selects `export_name`.
    pub async fn connect_unix_tls(
        path: impl AsRef<Path>,
        export_name: &str,
        tls: &ClientTls,
    ) -> Result<Self, NbdError> {
        Haggle::unix(path)
            .await?
            .start_tls(tls)
            .await?
            .go(export_name)
            .await
    }

    /// Lists the exports of a TCP server (`NBD_OPT_LIST`), then aborts the connection.
    pub async fn list_exports_tcp(addr: impl ToSocketAddrs) -> Result<Vec<String>, NbdError> {
        Haggle::tcp(addr).await?.list().await
    }

    /// Lists the exports of a Unix-socket server.
    pub async fn list_exports_unix(path: impl AsRef<Path>) -> Result<Vec<String>, NbdError> {
        Haggle::unix(path).await?.list().await
    }

    pub fn size(&self) -> u64 {
        self.size_bytes
    }

    pub fn transmission_flags(&self) -> u16 {
        self.transmission_flags
    }

    pub fn read_only(&self) -> bool {
        self.transmission_flags & NBD_FLAG_READ_ONLY != 0
    }

    pub fn block_sizes(&self) -> Option<BlockSizes> {
        self.block_sizes
    }

    pub async fn read(&mut self, offset: u64, len_bytes: u32) -> Result<Vec<u8>, NbdError> {
        let mut buf = vec![0u8; usize::try_from(len_bytes).unwrap_or(usize::MAX)];
        self.command(Command::Read, 0, offset, len_bytes, None, Some(&mut buf))
            .await?;
        Ok(buf)
    }

    pub async fn write(&mut self, offset: u64, data: &[u8], fua: bool) -> Result<(), NbdError> {
        let len_bytes = u32::try_from(data.len())
            .map_err(|_| NbdError::new(NbdErrorKind::InvalidArgument, "write over 4 GiB"))?;
        let flags = if fua { NBD_CMD_FLAG_FUA } else { 0 };
        self.command(Command::Write, flags, offset, len_bytes, Some(data), None)
            .await
    }

    pub async fn flush(&mut self) -> Result<(), NbdError> {
        self.command(Command::Flush, 0, 0, 0, None, None).await
    }

    pub async fn trim(&mut self, offset: u64, len_bytes: u32) -> Result<(), NbdError> {
        self.command(Command::Trim, 0, offset, len_bytes, None, None)
            .await
    }

    pub async fn write_zeroes(
        &mut self,
        offset: u64,
        len_bytes: u32,
        fua: bool,
        no_hole: bool,
    ) -> Result<(), NbdError> {
        let mut flags = 0;
        if fua {
            flags |= NBD_CMD_FLAG_FUA;
        }
        if no_hole {
            flags |= NBD_CMD_FLAG_NO_HOLE;
        }
        self.command(Command::WriteZeroes, flags, offset, len_bytes, None, None)
            .await
    }

    /// Sends `NBD_CMD_DISC` and closes the connection.
    pub async fn disconnect(mut self) -> Result<(), NbdError> {
        let request = Request {
            flags: 0,
            command: Command::Disconnect,
            handle: self.next_handle,
            offset: 0,
            len_bytes: 0,
        };
        self.send(&request.encode()).await?;
        self.writer
            .flush()
            .await
            .map_err(|e| NbdError::io("send disconnect", e))?;
        // The server may close as soon as it reads the disconnect; closing our side of a
        // connection the peer already shut is not an error then.
        match self.writer.shutdown().await {
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::BrokenPipe
                        | std::io::ErrorKind::ConnectionReset
                        | std::io::ErrorKind::NotConnected
                ) =>
            {
                Ok(())
            }
            other => other.map_err(|e| NbdError::io("close", e)),
        }
    }

    /// Sends any request (even one the server will reject) and waits for its reply.
    pub async fn command(
        &mut self,
        command: Command,
        flags: u16,
        offset: u64,
        len_bytes: u32,
        payload: Option<&[u8]>,
        read_into: Option<&mut [u8]>,
    ) -> Result<(), NbdError> {
        let handle = self.next_handle;
        self.next_handle = self.next_handle.wrapping_add(1);
        let request = Request {
            flags,
            command,
            handle,
            offset,
            len_bytes,
        };
        self.send(&request.encode()).await?;
        if let Some(payload) = payload {
            self.send(payload).await?;
        }
        self.writer
            .flush()
            .await
            .map_err(|e| NbdError::io("send request", e))?;
        let mut header = [0u8; SIMPLE_REPLY_LEN];
        self.reader
            .read_exact(&mut header)
            .await
            .map_err(|e| NbdError::io("read reply", e))?;
        let reply = SimpleReply::decode(&header)?;
        if reply.handle != handle {
            return Err(NbdError::protocol(format!(
                "reply handle {} for request {handle}",
                reply.handle
            )));
        }
        if reply.error != 0 {
            return Err(NbdError::new(
                NbdErrorKind::Command {
                    nbd_errno: reply.error,
                },
                format!("{command:?} at {offset} (+{len_bytes})"),
            ));
        }
        if let Some(buf) = read_into {
            self.reader
                .read_exact(buf)
                .await
                .map_err(|e| NbdError::io("read data", e))?;
        }
        Ok(())
    }

    async fn send(&mut self, bytes: &[u8]) -> Result<(), NbdError> {
        self.writer
            .write_all(bytes)
            .await
            .map_err(|e| NbdError::io("send request", e))
    }
}

impl Haggle {
    async fn tcp(addr: impl ToSocketAddrs) -> Result<Self, NbdError> {
        let stream = TcpStream::connect(addr)
            .await
            .map_err(|e| NbdError::io("connect", e))?;
        stream
            .set_nodelay(true)
            .map_err(|e| NbdError::io("TCP_NODELAY", e))?;
        let (reader, writer) = stream.into_split();
        Self::start(Box::new(reader), Box::new(writer)).await
    }

    async fn unix(path: impl AsRef<Path>) -> Result<Self, NbdError> {
        let stream = UnixStream::connect(path)
            .await
            .map_err(|e| NbdError::io("connect", e))?;
        let (reader, writer) = stream.into_split();
        Self::start(Box::new(reader), Box::new(writer)).await
    }

    async fn start(reader: BoxRead, writer: BoxWrite) -> Result<Self, NbdError> {
        let mut this = Self {
            reader: BufReader::new(reader),
            writer: BufWriter::new(writer),
        };
        let mut greeting = [0u8; GREETING_LEN];
        this.reader
            .read_exact(&mut greeting)
            .await
            .map_err(|e| NbdError::io("greeting", e))?;
        let server_flags = proto::decode_greeting(&greeting)?;
        if server_flags & NBD_FLAG_FIXED_NEWSTYLE == 0 {
            return Err(NbdError::new(
                NbdErrorKind::Unsupported,
                "server not fixed newstyle",
            ));
        }
        let mut client_flags = NBD_FLAG_C_FIXED_NEWSTYLE;
        if server_flags & NBD_FLAG_NO_ZEROES != 0 {
            client_flags |= NBD_FLAG_C_NO_ZEROES;
        }
        this.send(&client_flags.to_be_bytes()).await?;
        Ok(this)
    }

    /// Asks for `NBD_OPT_STARTTLS` and runs the TLS handshake; haggling goes on inside TLS.
    async fn start_tls(mut self, tls: &ClientTls) -> Result<Self, NbdError> {
        self.option(NBD_OPT_STARTTLS, &[]).await?;
        let (header, body) = self.reply(NBD_OPT_STARTTLS).await?;
        if header.reply_type != NBD_REP_ACK {
            return Err(refusal(header.reply_type, &body, ""));
        }
        // `reply` flushed the writer, so nothing is lost by unwrapping it.
        let stream = Joined::new(self.reader, self.writer.into_inner());
        let stream = tls
            .connector()
            .connect(tls.server_name(), stream)
            .await
            .map_err(|e| handshake_error("client", e))?;
        let (reader, writer) = tokio::io::split(stream);
        Ok(Self {
            reader: BufReader::new(Box::new(reader)),
            writer: BufWriter::new(Box::new(writer)),
        })
    }

    async fn go(mut self, export_name: &str) -> Result<NbdClient, NbdError> {
        let request = InfoRequest {
            name: export_name.to_owned(),
            info_types: vec![NBD_INFO_BLOCK_SIZE, NBD_INFO_NAME],
        };
        self.option(NBD_OPT_GO, &request.encode()).await?;
        let mut export = None;
        let mut block_sizes = None;
        loop {
            let (header, body) = self.reply(NBD_OPT_GO).await?;
            match header.reply_type {
                NBD_REP_ACK => break,
                NBD_REP_INFO => match Info::decode(&body)? {
                    Info::Export {
                        size_bytes,
                        transmission_flags,
                    } => {
                        export = Some((size_bytes, transmission_flags));
                    }
                    Info::BlockSize {
                        min_bytes,
                        preferred_bytes,
                        max_bytes,
                    } => {
                        block_sizes = Some(BlockSizes {
                            min_bytes,
                            preferred_bytes,
                            max_bytes,
                        });
                    }
                    Info::Name(_) | Info::Description(_) | Info::Other(_) => {}
                },
                other => return Err(refusal(other, &body, export_name)),
            }
        }
        let Some((size_bytes, transmission_flags)) = export else {
            return Err(NbdError::protocol(
                "NBD_OPT_GO acknowledged without NBD_INFO_EXPORT",
            ));
        };
        Ok(NbdClient {
            reader: self.reader,
            writer: self.writer,
            size_bytes,
            transmission_flags,
            block_sizes,
            next_handle: 1,
        })
    }

    async fn list(mut self) -> Result<Vec<String>, NbdError> {
        self.option(NBD_OPT_LIST, &[]).await?;
        let mut names = Vec::new();
        loop {
            let (header, body) = self.reply(NBD_OPT_LIST).await?;
            match header.reply_type {
                NBD_REP_ACK => break,
                NBD_REP_SERVER => names.push(proto::decode_server_entry(&body)?),
                other => return Err(refusal(other, &body, "")),
            }
        }
        // Ending politely is best effort: the names are already in hand.
        if self.option(NBD_OPT_ABORT, &[]).await.is_ok() {
            let _ = self.reply(NBD_OPT_ABORT).await;
        }
        Ok(names)
    }

    async fn option(&mut self, option: u32, payload: &[u8]) -> Result<(), NbdError> {
        let len_bytes = u32::try_from(payload.len())
            .map_err(|_| NbdError::new(NbdErrorKind::InvalidArgument, "option too large"))?;
        self.send(&OptionHeader { option, len_bytes }.encode())
            .await?;
        self.send(payload).await
    }

    async fn reply(&mut self, option: u32) -> Result<(OptionReplyHeader, Vec<u8>), NbdError> {
        self.writer
            .flush()
            .await
            .map_err(|e| NbdError::io("send option", e))?;
        let mut header = [0u8; OPTION_REPLY_HEADER_LEN];
        self.reader
            .read_exact(&mut header)
            .await
            .map_err(|e| NbdError::io("option reply", e))?;
        let header = OptionReplyHeader::decode(&header)?;
        if header.option != option {
            return Err(NbdError::protocol(format!(
                "reply to option {} while waiting for {option}",
                header.option
            )));
        }
        let len = usize::try_from(header.len_bytes).unwrap_or(usize::MAX);
        if len > MAX_OPTION_REPLY_BYTES {
            return Err(NbdError::protocol(format!("option reply of {len} bytes")));
        }
        let mut body = vec![0u8; len];
        self.reader
            .read_exact(&mut body)
            .await
            .map_err(|e| NbdError::io("option reply", e))?;
        Ok((header, body))
    }

    async fn send(&mut self, bytes: &[u8]) -> Result<(), NbdError> {
        self.writer
            .write_all(bytes)
            .await
            .map_err(|e| NbdError::io("send option", e))
    }
}

/// Turns an option error reply into an error naming what was refused.
fn refusal(reply_type: u32, body: &[u8], export_name: &str) -> NbdError {
    let message = String::from_utf8_lossy(body);
    let kind = match reply_type {
        NBD_REP_ERR_UNKNOWN => NbdErrorKind::UnknownExport,
        NBD_REP_ERR_UNSUP => NbdErrorKind::Unsupported,
        NBD_REP_ERR_TLS_REQD => NbdErrorKind::Tls,
        _ if proto::is_error_reply(reply_type) => NbdErrorKind::OptionRefused { reply_type },
        _ => return NbdError::protocol(format!("unexpected option reply type {reply_type:#x}")),
    };
    NbdError::new(kind, format!("export {export_name:?}: {message}"))
}
