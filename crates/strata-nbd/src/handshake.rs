//! Server side of the fixed-newstyle handshake: greeting, client flags and option haggling
//! until `NBD_OPT_GO` / `NBD_OPT_EXPORT_NAME` selects an export, the client aborts, or it
//! asks for `NBD_OPT_STARTTLS` (then the caller upgrades the stream and haggles again).

use std::sync::Arc;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use crate::error::{NbdError, NbdErrorKind};
use crate::proto::{
    self, InfoRequest, NBD_FLAG_C_FIXED_NEWSTYLE, NBD_FLAG_C_NO_ZEROES, NBD_FLAG_CAN_MULTI_CONN,
    NBD_FLAG_FIXED_NEWSTYLE, NBD_FLAG_HAS_FLAGS, NBD_FLAG_NO_ZEROES, NBD_FLAG_READ_ONLY,
    NBD_FLAG_SEND_FLUSH, NBD_FLAG_SEND_FUA, NBD_FLAG_SEND_TRIM, NBD_FLAG_SEND_WRITE_ZEROES,
    NBD_INFO_DESCRIPTION, NBD_INFO_NAME, NBD_OPT_ABORT, NBD_OPT_EXPORT_NAME, NBD_OPT_GO,
    NBD_OPT_INFO, NBD_OPT_LIST, NBD_OPT_STARTTLS, NBD_REP_ACK, NBD_REP_ERR_INVALID,
    NBD_REP_ERR_TLS_REQD, NBD_REP_ERR_TOO_BIG, NBD_REP_ERR_UNKNOWN, NBD_REP_ERR_UNSUP,
    NBD_REP_INFO, NBD_REP_SERVER, OPTION_HEADER_LEN, OptionHeader, OptionReplyHeader,
};
use crate::server::ServerConfig;
use crate::tls::TlsMode;
use crate::{ClientInfo, Export, ExportProvider};

/// Largest option payload the server reads; bigger ones get `NBD_REP_ERR_TOO_BIG`.
pub(crate) const MAX_OPTION_PAYLOAD_BYTES: usize = 64 * 1024;
/// Beyond this an option payload is not worth discarding: the connection closes.
pub(crate) const MAX_OPTION_DISCARD_BYTES: usize = 16 * 1024 * 1024;
/// Block size the server prefers (and advertises) for efficient I/O.
pub(crate) const PREFERRED_BLOCK_BYTES: u32 = 4096;

/// The export a client selected.
pub(crate) struct Negotiated {
    pub export: Arc<dyn Export>,
}

/// How option haggling ended.
pub(crate) enum Outcome {
    Export(Negotiated),
    /// The client aborted (or the server is stopping).
    Abort,
    /// `NBD_OPT_STARTTLS` was acked: the caller runs the TLS handshake next.
    StartTls,
}

/// Where a connection stands with TLS.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TlsPhase {
    /// The server has no certificate: `STARTTLS` is unsupported.
    Off,
    /// Offered and not yet started.
    Offered(TlsMode),
    /// The haggling already runs inside TLS.
    Active,
}

/// Who is haggling and under which rules.
pub(crate) struct Session<'a> {
    pub provider: &'a dyn ExportProvider,
    pub client: &'a ClientInfo,
    pub config: &'a ServerConfig,
    pub no_zeroes: bool,
    pub tls: TlsPhase,
}

/// Transmission flags advertised for an export.
pub(crate) fn transmission_flags(export: &dyn Export) -> u16 {
    let mut flags = NBD_FLAG_HAS_FLAGS
        | NBD_FLAG_SEND_FLUSH
        | NBD_FLAG_SEND_FUA
        | NBD_FLAG_SEND_TRIM
        | NBD_FLAG_SEND_WRITE_ZEROES
        | NBD_FLAG_CAN_MULTI_CONN;
    if export.read_only() {
        flags |= NBD_FLAG_READ_ONLY;
    }
    flags
}

/// Sends the greeting and reads the client's flags; returns whether `NO_ZEROES` was agreed.
pub(crate) async fn greet<R, W>(reader: &mut R, writer: &mut W) -> Result<bool, NbdError>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let greeting = proto::encode_greeting(NBD_FLAG_FIXED_NEWSTYLE | NBD_FLAG_NO_ZEROES);
    writer
        .write_all(&greeting)
        .await
        .map_err(|e| NbdError::io("send greeting", e))?;
    writer
        .flush()
        .await
        .map_err(|e| NbdError::io("send greeting", e))?;
    let client_flags = reader
        .read_u32()
        .await
        .map_err(|e| NbdError::io("read client flags", e))?;
    if client_flags & NBD_FLAG_C_FIXED_NEWSTYLE == 0 {
        return Err(NbdError::new(
            NbdErrorKind::Unsupported,
            "client is not fixed newstyle",
        ));
    }
    if client_flags & !(NBD_FLAG_C_FIXED_NEWSTYLE | NBD_FLAG_C_NO_ZEROES) != 0 {
        return Err(NbdError::protocol(format!(
            "unknown client flags {client_flags:#x}"
        )));
    }
    Ok(client_flags & NBD_FLAG_C_NO_ZEROES != 0)
}

/// Haggles over options until an export is selected, the client aborts or TLS starts.
pub(crate) async fn haggle<R, W>(
    reader: &mut R,
    writer: &mut W,
    session: &Session<'_>,
) -> Result<Outcome, NbdError>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let mut haggler = Haggler { writer, session };
    let mut payload = Vec::new();
    loop {
        let mut header = [0u8; OPTION_HEADER_LEN];
        reader
            .read_exact(&mut header)
            .await
            .map_err(|e| NbdError::io("read option", e))?;
        let header = OptionHeader::decode(&header)?;
        let len = usize::try_from(header.len_bytes).unwrap_or(usize::MAX);
        if len > MAX_OPTION_PAYLOAD_BYTES {
            if header.option == NBD_OPT_EXPORT_NAME || len > MAX_OPTION_DISCARD_BYTES {
                return Err(NbdError::protocol(format!("option payload of {len} bytes")));
            }
            discard(reader, header.len_bytes.into()).await?;
            haggler
                .error(
                    header.option,
                    NBD_REP_ERR_TOO_BIG,
                    "option payload too large",
                )
                .await?;
            haggler.flush().await?;
            continue;
        }
        payload.clear();
        payload.resize(len, 0);
        reader
            .read_exact(&mut payload)
            .await
            .map_err(|e| NbdError::io("read option", e))?;
        if let Some(outcome) = haggler.handle(header.option, &payload).await? {
            return Ok(outcome);
        }
    }
}

/// Reads and drops `len_bytes` from the stream so it stays in sync.
pub(crate) async fn discard<R: AsyncRead + Unpin>(
    reader: &mut R,
    len_bytes: u64,
) -> Result<(), NbdError> {
    let copied = tokio::io::copy(&mut reader.take(len_bytes), &mut tokio::io::sink())
        .await
        .map_err(|e| NbdError::io("discard payload", e))?;
    if copied == len_bytes {
        Ok(())
    } else {
        Err(NbdError::io(
            "discard payload",
            std::io::ErrorKind::UnexpectedEof.into(),
        ))
    }
}

struct Haggler<'a, W> {
    writer: &'a mut W,
    session: &'a Session<'a>,
}

impl<W: AsyncWrite + Unpin> Haggler<'_, W> {
    /// Handles one option; `Some(outcome)` ends the handshake.
    async fn handle(&mut self, option: u32, payload: &[u8]) -> Result<Option<Outcome>, NbdError> {
        if self.session.tls == TlsPhase::Offered(TlsMode::Require)
            && option != NBD_OPT_STARTTLS
            && option != NBD_OPT_ABORT
        {
            if option == NBD_OPT_EXPORT_NAME {
                // No error reply exists for this option: closing is the only refusal.
                return Err(NbdError::new(
                    NbdErrorKind::Tls,
                    "NBD_OPT_EXPORT_NAME before STARTTLS on a TLS-only server",
                ));
            }
            self.error(option, NBD_REP_ERR_TLS_REQD, "this server requires TLS")
                .await?;
            self.flush().await?;
            return Ok(None);
        }
        match option {
            NBD_OPT_STARTTLS if self.session.tls != TlsPhase::Off => {
                if self.session.tls == TlsPhase::Active {
                    self.error(option, NBD_REP_ERR_INVALID, "TLS is already active")
                        .await?;
                } else if !payload.is_empty() {
                    self.error(option, NBD_REP_ERR_INVALID, "STARTTLS takes no payload")
                        .await?;
                } else {
                    self.reply(option, NBD_REP_ACK, &[]).await?;
                    self.flush().await?;
                    return Ok(Some(Outcome::StartTls));
                }
                self.flush().await?;
                Ok(None)
            }
            NBD_OPT_EXPORT_NAME => {
                let name = std::str::from_utf8(payload)
                    .map_err(|_| NbdError::protocol("export name is not UTF-8"))?;
                let Some(export) = self.session.provider.open(name, self.session.client) else {
                    // This option has no error reply: closing is the only answer.
                    return Err(NbdError::new(NbdErrorKind::UnknownExport, name.to_owned()));
                };
                let flags = transmission_flags(export.as_ref());
                let reply = proto::encode_export_name_reply(
                    export.size_bytes(),
                    flags,
                    self.session.no_zeroes,
                );
                self.send(&reply).await?;
                self.flush().await?;
                Ok(Some(Outcome::Export(Negotiated { export })))
            }
            NBD_OPT_ABORT => {
                // The client may already have closed; a failed ack changes nothing.
                let _ = self.reply(option, NBD_REP_ACK, &[]).await;
                let _ = self.flush().await;
                Ok(Some(Outcome::Abort))
            }
            NBD_OPT_LIST => {
                if payload.is_empty() {
                    for name in self.session.provider.list(self.session.client) {
                        self.reply(option, NBD_REP_SERVER, &proto::encode_server_entry(&name))
                            .await?;
                    }
                    self.reply(option, NBD_REP_ACK, &[]).await?;
                } else {
                    self.error(option, NBD_REP_ERR_INVALID, "LIST takes no payload")
                        .await?;
                }
                self.flush().await?;
                Ok(None)
            }
            NBD_OPT_INFO | NBD_OPT_GO => self.info_or_go(option, payload).await,
            _ => {
                self.error(option, NBD_REP_ERR_UNSUP, "option not supported")
                    .await?;
                self.flush().await?;
                Ok(None)
            }
        }
    }

    async fn info_or_go(
        &mut self,
        option: u32,
        payload: &[u8],
    ) -> Result<Option<Outcome>, NbdError> {
        let request = match InfoRequest::decode(payload) {
            Ok(request) => request,
            Err(error) => {
                self.error(option, NBD_REP_ERR_INVALID, error.context())
                    .await?;
                self.flush().await?;
                return Ok(None);
            }
        };
        let Some(export) = self
            .session
            .provider
            .open(&request.name, self.session.client)
        else {
            self.error(option, NBD_REP_ERR_UNKNOWN, "no such export")
                .await?;
            self.flush().await?;
            return Ok(None);
        };
        let flags = transmission_flags(export.as_ref());
        // Block size is sent whether asked for or not: its minimum is never above 512, so a
        // client that did not ask can ignore it safely.
        let mut infos = vec![
            proto::Info::Export {
                size_bytes: export.size_bytes(),
                transmission_flags: flags,
            },
            proto::Info::BlockSize {
                min_bytes: self.session.config.min_block_bytes,
                preferred_bytes: PREFERRED_BLOCK_BYTES.max(self.session.config.min_block_bytes),
                max_bytes: self.session.config.max_request_bytes,
            },
        ];
        if request.info_types.contains(&NBD_INFO_NAME) {
            infos.push(proto::Info::Name(request.name.clone()));
        }
        let description = export.description();
        if request.info_types.contains(&NBD_INFO_DESCRIPTION) && !description.is_empty() {
            infos.push(proto::Info::Description(description));
        }
        for info in infos {
            self.reply(option, NBD_REP_INFO, &info.encode()).await?;
        }
        self.reply(option, NBD_REP_ACK, &[]).await?;
        self.flush().await?;
        if option == NBD_OPT_GO {
            Ok(Some(Outcome::Export(Negotiated { export })))
        } else {
            Ok(None)
        }
    }

    async fn reply(&mut self, option: u32, reply_type: u32, body: &[u8]) -> Result<(), NbdError> {
        let len_bytes = u32::try_from(body.len())
            .map_err(|_| NbdError::protocol("option reply body too large"))?;
        let header = OptionReplyHeader {
            option,
            reply_type,
            len_bytes,
        };
        self.send(&header.encode()).await?;
        self.send(body).await
    }

    async fn error(&mut self, option: u32, reply_type: u32, message: &str) -> Result<(), NbdError> {
        self.reply(option, reply_type, message.as_bytes()).await
    }

    async fn send(&mut self, bytes: &[u8]) -> Result<(), NbdError> {
        self.writer
            .write_all(bytes)
            .await
            .map_err(|e| NbdError::io("send option reply", e))
    }

    async fn flush(&mut self) -> Result<(), NbdError> {
        self.writer
            .flush()
            .await
            .map_err(|e| NbdError::io("send option reply", e))
    }
}
