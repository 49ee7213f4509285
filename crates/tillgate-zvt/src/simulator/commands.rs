//! The simulated terminal's answer to each ECR command, after the per-command faults (NAK, late ACK,
//! busy). Payments and other bookings live in `payment`; this file has the administrative commands.

use std::time::Duration;

use super::journal::EntryKind;
use super::link::{Link, LinkError};
use super::payment;
use super::{Behaviour, Shared, SimConfig};
use crate::codec::{
    Bmp, BmpList, Completion, EcrMessage, PtMessage, ResultCode, Tag, TerminalStatus, Tlv, TlvItem,
    VersionStatus,
};

/// Whether the session goes on after a command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Flow {
    Continue,
    /// Close the connection (the ECR left, or a fault drops the link).
    Drop,
}

pub(crate) type Step = Result<Flow, LinkError>;

pub(crate) async fn handle(link: &mut Link, shared: &Shared, msg: EcrMessage) -> Flow {
    match dispatch(link, shared, msg).await {
        Ok(flow) => flow,
        Err(e) => {
            tracing::debug!(error = %e, "session ends");
            Flow::Drop
        }
    }
}

async fn dispatch(link: &mut Link, shared: &Shared, msg: EcrMessage) -> Step {
    if matches!(msg, EcrMessage::Ack | EcrMessage::Nak(_)) {
        // A stray acknowledgement outside a command: nothing to answer.
        return Ok(Flow::Continue);
    }
    if *shared.orphan.borrow() {
        // Still completing a payment whose ECR left: "please wait", then carry the command out.
        link.send(&PtMessage::Nak(0x9C)).await?;
        let mut orphan = shared.orphan.subscribe();
        let _ = orphan.wait_for(|busy| !*busy).await;
    }
    let cfg = shared.config();
    match cfg.behaviour {
        Behaviour::Nak => {
            link.send(&PtMessage::Nak(0x83)).await?;
            return Ok(Flow::Continue);
        }
        Behaviour::LateAck => tokio::time::sleep(Duration::from_millis(cfg.late_ack_ms)).await,
        Behaviour::BusyThenProceed => {
            link.send(&PtMessage::Nak(0x9C)).await?;
            tokio::time::sleep(Duration::from_millis(cfg.busy_ms)).await;
        }
        Behaviour::BusyRefuse => {
            link.send(&PtMessage::Nak(0x9C)).await?;
            tokio::time::sleep(Duration::from_millis(cfg.busy_ms)).await;
            return fail(link, ResultCode::ReceiverNotReady, None).await;
        }
        _ => {}
    }
    match msg {
        EcrMessage::Registration(reg) => {
            if reg.password != cfg.password {
                return wrong_password(link).await;
            }
            ack(link).await?;
            if reg.currency.is_some_and(|c| c != cfg.currency) {
                return fail(link, ResultCode::WrongCurrency, None).await;
            }
            shared.set_ecr_config(reg.config_byte);
            complete(link, registration_facts(&cfg)).await
        }
        EcrMessage::Authorization(bmps) => {
            payment::authorization(link, shared, &cfg, &bmps, EntryKind::Payment).await
        }
        EcrMessage::Reservation(bmps) => {
            payment::authorization(link, shared, &cfg, &bmps, EntryKind::Reservation).await
        }
        EcrMessage::BookTotal(bmps) => {
            payment::settle_reservation(link, shared, &cfg, &bmps, EntryKind::BookTotal).await
        }
        EcrMessage::PreAuthReversal(bmps) => {
            payment::settle_reservation(link, shared, &cfg, &bmps, EntryKind::Release).await
        }
        EcrMessage::Reversal(cmd) if cmd.password == cfg.password => {
            payment::reversal(link, shared, &cfg, &cmd.bmps).await
        }
        EcrMessage::Refund(cmd) if cmd.password == cfg.password => {
            payment::refund(link, shared, &cfg, &cmd.bmps).await
        }
        EcrMessage::RepeatReceipt(cmd) if cmd.password == cfg.password => {
            payment::repeat_receipt(link, shared).await
        }
        EcrMessage::EndOfDay(cmd) if cmd.password == cfg.password => {
            payment::end_of_day(link, shared, &cfg).await
        }
        EcrMessage::Reversal(_)
        | EcrMessage::Refund(_)
        | EcrMessage::RepeatReceipt(_)
        | EcrMessage::EndOfDay(_) => wrong_password(link).await,
        EcrMessage::StatusEnquiry(enq) => {
            if enq.password.is_some_and(|pw| pw != cfg.password) {
                return wrong_password(link).await;
            }
            ack(link).await?;
            status_enquiry(link, &cfg).await
        }
        EcrMessage::Diagnosis(_) => {
            ack(link).await?;
            diagnosis(link, shared, &cfg).await
        }
        EcrMessage::LogOff | EcrMessage::Abort => {
            // Abort with no command running has nothing to stop; both are just acknowledged.
            ack(link).await?;
            Ok(Flow::Continue)
        }
        EcrMessage::Unknown(apdu) => {
            tracing::debug!(code = ?apdu.code(), "unsupported command");
            link.send(&PtMessage::Nak(0x83)).await?;
            Ok(Flow::Continue)
        }
        EcrMessage::Ack | EcrMessage::Nak(_) => Ok(Flow::Continue),
    }
}

pub(crate) async fn ack(link: &mut Link) -> Result<(), LinkError> {
    link.send(&PtMessage::Ack).await
}

/// Ends the running command with `06 1E` and the result code (plus TLV `1F17` text when given).
pub(crate) async fn fail(link: &mut Link, result: ResultCode, text: Option<&str>) -> Step {
    let bmps = match text {
        Some(text) => BmpList::new(vec![Bmp::Tlv(Tlv::new(vec![TlvItem::primitive(
            Tag::EXTENDED_ERROR_TEXT,
            text.as_bytes(),
        )]))]),
        None => BmpList::default(),
    };
    link.send_acked(&PtMessage::Abort { result, bmps }).await?;
    Ok(Flow::Continue)
}

/// Ends the running command with `06 0F`.
pub(crate) async fn complete(link: &mut Link, bmps: BmpList) -> Step {
    let completion = Completion {
        version: None,
        bmps,
    };
    link.send_acked(&PtMessage::Completion(completion)).await?;
    Ok(Flow::Continue)
}

/// A command with a password the terminal does not know: acknowledged, then refused.
async fn wrong_password(link: &mut Link) -> Step {
    ack(link).await?;
    fail(
        link,
        ResultCode::FunctionNotPossible,
        Some("wrong password"),
    )
    .await
}

/// What the terminal says about itself after registration: TID, currency and device TLV.
fn registration_facts(cfg: &SimConfig) -> BmpList {
    let preauth: &[[u8; 2]] = match cfg.behaviour {
        Behaviour::NoReservation => &[],
        _ => &[[0x06, 0x22], [0x06, 0x24], [0x06, 0x25]],
    };
    let permitted: Vec<TlvItem> = [
        [0x06, 0x01],
        [0x06, 0x20],
        [0x06, 0x30],
        [0x06, 0x31],
        [0x06, 0x50],
        [0x06, 0x70],
        [0x05, 0x01],
        [0x06, 0xB0],
    ]
    .iter()
    .chain(preauth)
    .map(|code| TlvItem::primitive(Tag(0x0A), code.to_vec()))
    .collect();
    BmpList::new(vec![
        Bmp::TerminalId(cfg.terminal_id),
        Bmp::Currency(cfg.currency),
        Bmp::Tlv(Tlv::new(vec![
            TlvItem::constructed(Tag::PERMITTED_COMMANDS, permitted),
            TlvItem::primitive(Tag::DEVICE_NAME, cfg.charset.encode(&cfg.device_name)),
            TlvItem::primitive(Tag::SOFTWARE_VERSION, cfg.charset.encode(&cfg.sw_version)),
            TlvItem::primitive(Tag::SERIAL_NUMBER, cfg.charset.encode(&cfg.serial_number)),
        ])),
    ])
}

/// The terminal status byte for the configured behaviour.
pub(crate) fn terminal_status(cfg: &SimConfig) -> TerminalStatus {
    match cfg.behaviour {
        Behaviour::RequireActivation => TerminalStatus::InitialisationRequired,
        Behaviour::NotReady => TerminalStatus::OutOfOrder,
        _ => TerminalStatus::Ready,
    }
}

async fn status_enquiry(link: &mut Link, cfg: &SimConfig) -> Step {
    let completion = Completion {
        version: Some(VersionStatus {
            sw_version: cfg.charset.encode(&cfg.sw_version),
            terminal_status: terminal_status(cfg),
        }),
        bmps: BmpList::new(vec![Bmp::TerminalId(cfg.terminal_id)]),
    };
    link.send_acked(&PtMessage::Completion(completion)).await?;
    Ok(Flow::Continue)
}

async fn diagnosis(link: &mut Link, shared: &Shared, cfg: &SimConfig) -> Step {
    match cfg.behaviour {
        Behaviour::RequireActivation => {
            return fail(link, ResultCode::ActivationRequired, None).await
        }
        Behaviour::NotReady => return fail(link, ResultCode::NoConnection, None).await,
        _ => {}
    }
    let info = BmpList::new(vec![
        Bmp::ResultCode(ResultCode::Success),
        Bmp::TerminalId(cfg.terminal_id),
    ]);
    link.send_acked(&PtMessage::StatusInformation(info)).await?;
    let lines = vec![
        "DIAGNOSIS".to_string(),
        format!("TID {:08}", cfg.terminal_id),
        "HOST CONNECTION OK".to_string(),
        format!("SW {}", cfg.sw_version),
    ];
    payment::send_receipt(link, shared, cfg, &lines).await?;
    complete(link, BmpList::default()).await
}
