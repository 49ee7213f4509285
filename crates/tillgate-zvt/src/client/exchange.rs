//! One command's exchange: send it, wait for the ACK (T3, extended by `84 9C`), then acknowledge each
//! PT message until completion (`06 0F`) or abort (`06 1E`), collecting what the terminal reported.

use std::sync::Arc;

use tokio::io::AsyncWriteExt;
use tokio::sync::{mpsc, Mutex};
use tokio::time::{timeout_at, Instant};

use super::error::{ProtocolError, ZvtError};
use super::outcome::Progress;
use super::ClientOptions;
use crate::codec::{
    BmpList, Completion, EcrMessage, PtMessage, ResultCode, Tag, TerminalStatus, VersionStatus,
};
use crate::frame_io::{FrameError, FrameReader};

/// Whether a command ends with its ACK (log-off) or runs until `06 0F` / `06 1E`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Finish {
    AckOnly,
    UntilCompletion,
}

/// Everything the PT sent during one command.
#[derive(Debug, Default)]
pub(crate) struct Exchange {
    pub status_infos: Vec<BmpList>,
    pub receipt: Vec<String>,
    pub completion: Option<Completion>,
    pub abort: Option<(ResultCode, BmpList)>,
}

impl Exchange {
    pub fn last_status(&self) -> Option<&BmpList> {
        self.status_infos.last()
    }

    pub fn version(&self) -> Option<&VersionStatus> {
        self.completion.as_ref()?.version.as_ref()
    }

    /// Fails with `Rejected` when the command ended in `06 1E` (for non-financial commands).
    pub fn rejected(&self, charset: crate::codec::Charset) -> Result<(), ZvtError> {
        match &self.abort {
            Some((result, bmps)) => Err(ZvtError::Rejected {
                result: *result,
                text: abort_text(*result, bmps, charset),
            }),
            None => Ok(()),
        }
    }
}

/// Result meaning plus the terminal's extended error text (TLV `1F17`) when it sent one.
pub(crate) fn abort_text(
    result: ResultCode,
    bmps: &BmpList,
    charset: crate::codec::Charset,
) -> String {
    match bmps.tlv().and_then(|t| t.find(Tag::EXTENDED_ERROR_TEXT)) {
        Some(text) => format!("{}: {}", result.meaning(), charset.decode(text)),
        None => result.meaning(),
    }
}

pub(crate) async fn write(
    writer: &Arc<Mutex<super::WriteHalf>>,
    msg: &EcrMessage,
) -> Result<(), ZvtError> {
    let bytes = msg.encode()?;
    let mut w = writer.lock().await;
    w.write_all(&bytes).await.map_err(link_error)?;
    w.flush().await.map_err(link_error)
}

fn link_error(e: std::io::Error) -> ZvtError {
    use std::io::ErrorKind::*;
    match e.kind() {
        BrokenPipe | ConnectionReset | ConnectionAborted | UnexpectedEof => ZvtError::LinkClosed,
        _ => ZvtError::Io(e),
    }
}

async fn read(
    reader: &mut FrameReader<super::ReadHalf>,
    deadline: Instant,
    on_timeout: fn() -> ZvtError,
) -> Result<PtMessage, ZvtError> {
    match timeout_at(deadline, reader.next()).await {
        Err(_) => Err(on_timeout()),
        Ok(Err(FrameError::Closed)) => Err(ZvtError::LinkClosed),
        Ok(Err(FrameError::NotZvt { received })) => Err(ZvtError::NotZvt { received }),
        Ok(Err(FrameError::Io(e))) => Err(link_error(e)),
        Ok(Ok(apdu)) => Ok(PtMessage::from_apdu(&apdu)?),
    }
}

pub(crate) async fn run(
    reader: &mut FrameReader<super::ReadHalf>,
    writer: &Arc<Mutex<super::WriteHalf>>,
    opts: &ClientOptions,
    command: &EcrMessage,
    finish: Finish,
    progress: Option<&mpsc::Sender<Progress>>,
) -> Result<Exchange, ZvtError> {
    let started = Instant::now();
    let command_deadline = started + opts.command_timeout;
    let notify = |p: Progress| {
        if let Some(tx) = progress {
            // A slow progress consumer must never stall the protocol: drop prompts instead.
            let _ = tx.try_send(p);
        }
    };
    write(writer, command).await?;

    // Phase 1: the ACK. A PT message arriving first counts as an implicit ACK.
    let mut ack_deadline = started + opts.ack_timeout;
    let first = loop {
        match read(reader, ack_deadline, || ZvtError::AckTimeout).await? {
            PtMessage::Ack | PtMessage::Nak(0x00) => {
                if finish == Finish::AckOnly {
                    return Ok(Exchange::default());
                }
                break None;
            }
            PtMessage::Nak(0x9C) => {
                notify(Progress::Busy);
                ack_deadline = command_deadline;
            }
            PtMessage::Nak(code) => return Err(ZvtError::Nak(code)),
            other => break Some(other),
        }
    };

    // Phase 2: PT messages until the command ends.
    let mut exchange = Exchange::default();
    let mut pending = first;
    loop {
        let msg = match pending.take() {
            Some(msg) => msg,
            None => read(reader, command_deadline, || ZvtError::Timeout).await?,
        };
        match msg {
            // ACKs of an abort sent through an AbortHandle, or a repeated ACK: nothing to do.
            PtMessage::Ack | PtMessage::Nak(_) => continue,
            PtMessage::Unknown(apdu) => {
                tracing::debug!(code = ?apdu.code(), "unknown PT message acknowledged");
            }
            PtMessage::IntermediateStatus(status) => {
                let text = status
                    .bmps
                    .tlv()
                    .map(|t| t.find_all(Tag::TEXT_LINE))
                    .filter(|lines| !lines.is_empty())
                    .map(|lines| {
                        let lines: Vec<String> =
                            lines.iter().map(|l| opts.charset.decode(l)).collect();
                        lines.join(" ")
                    })
                    .unwrap_or_else(|| status.status.text());
                notify(Progress::Prompt {
                    status: status.status,
                    text,
                });
            }
            PtMessage::StatusInformation(info) => exchange.status_infos.push(info),
            PtMessage::PrintLine { text, .. } => exchange.receipt.push(opts.charset.decode(&text)),
            PtMessage::PrintTextBlock(bmps) => exchange.receipt.extend(
                PtMessage::text_block_lines(&bmps)
                    .into_iter()
                    .map(|l| opts.charset.decode(l)),
            ),
            PtMessage::Completion(completion) => {
                write(writer, &EcrMessage::Ack).await?;
                exchange.completion = Some(completion);
                return Ok(exchange);
            }
            PtMessage::Abort { result, bmps } => {
                write(writer, &EcrMessage::Ack).await?;
                exchange.abort = Some((result, bmps));
                return Ok(exchange);
            }
        }
        write(writer, &EcrMessage::Ack).await?;
    }
}

/// Terminal status from a status-enquiry completion, or a protocol error when it lacks one.
pub(crate) fn require_version(exchange: &Exchange) -> Result<(TerminalStatus, Vec<u8>), ZvtError> {
    exchange
        .version()
        .map(|v| (v.terminal_status, v.sw_version.clone()))
        .ok_or_else(|| {
            ProtocolError::Unexpected("status enquiry completion without terminal status".into())
                .into()
        })
}
