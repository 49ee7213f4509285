//! The booking commands of the simulated terminal: authorization (with intermediate statuses, the
//! customer's wait, the decision by amount and the drop faults), reversal, refund, repeat receipt and
//! end-of-day, with their status information and receipts.

use std::time::Duration;

use tokio::time::{sleep_until, Instant};

use super::clock;
use super::commands::{ack, complete, fail, Flow, Step};
use super::decide::{decide, Decision};
use super::journal::{EntryKind, JournalEntry, LastReceipt};
use super::link::{Link, LinkError};
use super::{Behaviour, Shared, SimConfig};
use crate::codec::{
    Bmp, BmpList, EcrMessage, IndividualTotals, IntermediateStatus, IntermediateStatusMsg,
    PtMessage, ResultCode, Tag, Tlv, TlvItem,
};

/// How the customer's turn at the terminal ended.
enum Customer {
    Presented,
    /// The ECR sent Abort (`06 B0`) first.
    Aborted,
    /// The `drop-before-charge` fault: the link goes away while the terminal waits for the card.
    Dropped,
}

/// Authorization (`06 01`, `kind` Payment) or Reservation (`06 22`, `kind` Reservation): the same
/// customer dialogue; a reservation only holds the amount (journal `reservation`, no money booked).
pub(crate) async fn authorization(
    link: &mut Link,
    shared: &Shared,
    cfg: &SimConfig,
    bmps: &BmpList,
    kind: EntryKind,
) -> Step {
    if kind == EntryKind::Reservation && cfg.behaviour == Behaviour::NoReservation {
        // A terminal without pre-authorisation: "function not possible" instead of the ACK.
        link.send(&PtMessage::Nak(0x83)).await?;
        return Ok(Flow::Continue);
    }
    ack(link).await?;
    let Some(amount) = bmps.amount().filter(|a| *a > 0) else {
        return fail(link, ResultCode::FunctionNotPossible, Some("no amount")).await;
    };
    if bmps.currency().is_some_and(|c| c != cfg.currency) {
        return fail(link, ResultCode::WrongCurrency, None).await;
    }
    match cfg.behaviour {
        Behaviour::RequireActivation => {
            return fail(link, ResultCode::ActivationRequired, None).await
        }
        Behaviour::NotReady => return fail(link, ResultCode::ReceiverNotReady, None).await,
        _ => {}
    }
    let wait = match cfg.behaviour {
        Behaviour::SlowCustomer | Behaviour::SlowCustomerCharges => cfg.slow_customer_ms,
        _ => cfg.authorization_delay_ms,
    };
    let wait = Duration::from_millis(wait);
    let presented_at = Instant::now() + wait;
    let customer = match wait_for_customer(link, shared, cfg, wait).await {
        Err(e) if cfg.behaviour == Behaviour::SlowCustomerCharges => {
            // The ECR is gone, the card is in: the terminal finishes and books the payment anyway.
            tracing::debug!(error = %e, "ECR left mid-payment; completing it without reporting");
            shared.orphan.send_replace(true);
            sleep_until(presented_at).await;
            if decide(amount) == Decision::Approve {
                book_payment(shared, cfg, amount, kind);
            }
            shared.orphan.send_replace(false);
            return Ok(Flow::Drop);
        }
        waited => waited?,
    };
    match customer {
        Customer::Presented => {}
        Customer::Aborted => return fail(link, ResultCode::Aborted, None).await,
        Customer::Dropped => return Ok(Flow::Drop),
    }
    for status in [
        IntermediateStatus::WATCH_PIN_PAD,
        IntermediateStatus::WAITING_FOR_HOST,
    ] {
        if prompt(link, shared, status).await? {
            return fail(link, ResultCode::Aborted, None).await;
        }
    }
    let result = match decide(amount) {
        Decision::Approve => ResultCode::Success,
        Decision::Decline(code) => code,
        Decision::CustomerAborts => return fail(link, ResultCode::Aborted, None).await,
    };
    if result != ResultCode::Success {
        // Declines are not booked: they take no trace or receipt number.
        let info = card_status(cfg, result, amount, None, None);
        link.send_acked(&PtMessage::StatusInformation(info)).await?;
        return fail(link, result, None).await;
    }
    let (info, lines) = book_payment(shared, cfg, amount, kind);
    if drops_after_booking(shared, cfg) {
        return Ok(Flow::Drop);
    }
    link.send_acked(&PtMessage::StatusInformation(info)).await?;
    send_receipt(link, shared, cfg, &lines).await?;
    let flow = complete(link, BmpList::new(vec![Bmp::TerminalId(cfg.terminal_id)])).await?;
    if cfg.behaviour == Behaviour::RestartAfterPayment {
        shared.restart(Some(Duration::from_millis(cfg.restart_ms)));
    }
    Ok(flow)
}

/// Books an approved payment (or records an approved reservation): journal entry, trace and receipt
/// numbers, the receipt to repeat.
fn book_payment(
    shared: &Shared,
    cfg: &SimConfig,
    amount: u64,
    kind: EntryKind,
) -> (BmpList, Vec<String>) {
    let mut ledger = shared.ledger();
    let (trace, receipt_no) = (ledger.trace(), ledger.receipt());
    let info = card_status(
        cfg,
        ResultCode::Success,
        amount,
        Some(trace),
        Some(receipt_no),
    );
    let title = match kind {
        EntryKind::Reservation => "RESERVATION",
        _ => "PAYMENT",
    };
    let lines = receipt_lines(cfg, title, amount, trace, receipt_no);
    let batch = ledger.batch;
    ledger.entries.push(JournalEntry {
        kind,
        receipt_no,
        trace,
        amount_minor: amount,
        currency: cfg.currency,
        batch,
        reversed: false,
        of: None,
        scheme: IndividualTotals::scheme_of(&cfg.card_name),
    });
    ledger.last = Some(LastReceipt {
        status: info.clone(),
        lines: lines.clone(),
    });
    ledger.save();
    (info, lines)
}

pub(crate) async fn reversal(
    link: &mut Link,
    shared: &Shared,
    cfg: &SimConfig,
    bmps: &BmpList,
) -> Step {
    ack(link).await?;
    let Some(receipt_no) = bmps.receipt_no() else {
        return fail(
            link,
            ResultCode::FunctionNotPossible,
            Some("no receipt number"),
        )
        .await;
    };
    let booked = {
        let mut ledger = shared.ledger();
        let batch = ledger.batch;
        let entry = ledger.entries.iter_mut().find(|e| {
            matches!(e.kind, EntryKind::Payment | EntryKind::BookTotal)
                && e.receipt_no == receipt_no
                && e.batch == batch
        });
        match entry {
            None => Err(ResultCode::ReversalNotPossible),
            Some(e) if e.reversed => Err(ResultCode::AlreadyReversed),
            Some(e) => {
                e.reversed = true;
                let amount = e.amount_minor;
                let (trace, new_receipt) = (ledger.trace(), ledger.receipt());
                let info = booking_status(cfg, amount, trace, new_receipt);
                let lines = receipt_lines(cfg, "REVERSAL", amount, trace, new_receipt);
                ledger.last = Some(LastReceipt {
                    status: info.clone(),
                    lines: lines.clone(),
                });
                ledger.save();
                Ok((info, lines))
            }
        }
    };
    match booked {
        Err(code) => fail(link, code, None).await,
        Ok((info, lines)) => finish_booking(link, shared, cfg, info, &lines).await,
    }
}

pub(crate) async fn refund(
    link: &mut Link,
    shared: &Shared,
    cfg: &SimConfig,
    bmps: &BmpList,
) -> Step {
    ack(link).await?;
    let Some(amount) = bmps.amount().filter(|a| *a > 0) else {
        return fail(link, ResultCode::FunctionNotPossible, Some("no amount")).await;
    };
    let wait = Duration::from_millis(cfg.authorization_delay_ms);
    match wait_for_customer(link, shared, cfg, wait).await? {
        Customer::Presented => {}
        Customer::Aborted => return fail(link, ResultCode::Aborted, None).await,
        Customer::Dropped => return Ok(Flow::Drop),
    }
    let (info, lines) = {
        let mut ledger = shared.ledger();
        let (trace, receipt_no) = (ledger.trace(), ledger.receipt());
        let batch = ledger.batch;
        ledger.entries.push(JournalEntry {
            kind: EntryKind::Refund,
            receipt_no,
            trace,
            amount_minor: amount,
            currency: cfg.currency,
            batch,
            reversed: false,
            of: None,
            scheme: IndividualTotals::scheme_of(&cfg.card_name),
        });
        let info = booking_status(cfg, amount, trace, receipt_no);
        let lines = receipt_lines(cfg, "REFUND", amount, trace, receipt_no);
        ledger.last = Some(LastReceipt {
            status: info.clone(),
            lines: lines.clone(),
        });
        ledger.save();
        (info, lines)
    };
    finish_booking(link, shared, cfg, info, &lines).await
}

/// Book Total (`06 24`, `kind` BookTotal) or Pre-Authorisation Reversal (`06 25`, `kind` Release)
/// of the open reservation with BMP `87`: a book total books the amount asked for (at most the
/// reserved amount, default all of it) and releases the rest; a release gives the whole hold back.
pub(crate) async fn settle_reservation(
    link: &mut Link,
    shared: &Shared,
    cfg: &SimConfig,
    bmps: &BmpList,
    kind: EntryKind,
) -> Step {
    if cfg.behaviour == Behaviour::NoReservation {
        link.send(&PtMessage::Nak(0x83)).await?;
        return Ok(Flow::Continue);
    }
    ack(link).await?;
    let Some(receipt_no) = bmps.receipt_no() else {
        return fail(
            link,
            ResultCode::FunctionNotPossible,
            Some("no receipt number"),
        )
        .await;
    };
    if cfg.host_delay_ms > 0 {
        // The host's round trip: the booking below is made whether or not the ECR is still there.
        tokio::time::sleep(Duration::from_millis(cfg.host_delay_ms)).await;
    }
    let booked = {
        let mut ledger = shared.ledger();
        match ledger.reservation(receipt_no) {
            None => Err((ResultCode::FunctionNotPossible, "no such reservation")),
            Some((_, Some(EntryKind::Release))) => {
                Err((ResultCode::AlreadyReversed, "reservation already released"))
            }
            Some((_, Some(_))) => Err((
                ResultCode::ReversalNotPossible,
                "reservation already booked",
            )),
            Some((held, None)) => {
                let reserved = held.amount_minor;
                let scheme = held.scheme;
                let amount = match kind {
                    EntryKind::BookTotal => bmps.amount().unwrap_or(reserved),
                    _ => reserved,
                };
                if amount == 0 || amount > reserved {
                    Err((
                        ResultCode::FunctionNotPossible,
                        "amount beyond the reservation",
                    ))
                } else {
                    let (trace, new_receipt) = (ledger.trace(), ledger.receipt());
                    let batch = ledger.batch;
                    ledger.entries.push(JournalEntry {
                        kind,
                        receipt_no: new_receipt,
                        trace,
                        amount_minor: amount,
                        currency: cfg.currency,
                        batch,
                        reversed: false,
                        of: Some(receipt_no),
                        scheme,
                    });
                    let info = booking_status(cfg, amount, trace, new_receipt);
                    let title = match kind {
                        EntryKind::BookTotal => "BOOK TOTAL",
                        _ => "RESERVATION RELEASED",
                    };
                    let lines = receipt_lines(cfg, title, amount, trace, new_receipt);
                    ledger.last = Some(LastReceipt {
                        status: info.clone(),
                        lines: lines.clone(),
                    });
                    ledger.save();
                    Ok((info, lines))
                }
            }
        }
    };
    match booked {
        Err((code, text)) => fail(link, code, Some(text)).await,
        Ok((info, lines)) => finish_booking(link, shared, cfg, info, &lines).await,
    }
}

pub(crate) async fn repeat_receipt(link: &mut Link, shared: &Shared) -> Step {
    ack(link).await?;
    let last = shared.ledger().last.clone();
    let Some(last) = last else {
        return fail(
            link,
            ResultCode::FunctionNotPossible,
            Some("no receipt to repeat"),
        )
        .await;
    };
    link.send_acked(&PtMessage::StatusInformation(last.status))
        .await?;
    send_receipt(link, shared, &shared.config(), &last.lines).await?;
    complete(link, BmpList::default()).await
}

pub(crate) async fn end_of_day(link: &mut Link, shared: &Shared, cfg: &SimConfig) -> Step {
    ack(link).await?;
    let (count, total, batch, totals) = {
        let mut ledger = shared.ledger();
        let (count, total) = ledger.batch_total();
        let totals = ledger.batch_totals();
        let batch = ledger.batch;
        ledger.batch += 1;
        (count, total, batch, totals)
    };
    let (time, date) = clock::now();
    let mut fields = vec![
        Bmp::ResultCode(ResultCode::Success),
        Bmp::Amount(total),
        Bmp::Time(time),
        Bmp::Date(date),
        Bmp::TerminalId(cfg.terminal_id),
    ];
    if let Ok(data) = totals.encode() {
        fields.push(Bmp::Other { tag: 0x60, data });
    }
    let info = BmpList::new(fields);
    link.send_acked(&PtMessage::StatusInformation(info)).await?;
    let lines = vec![
        "END OF DAY".to_string(),
        format!("TID {:08}  BATCH {batch}", cfg.terminal_id),
        format!("TRANSACTIONS {count}"),
        format!("TOTAL {} {}", currency_alpha(cfg.currency), money(total)),
    ];
    send_receipt(link, shared, cfg, &lines).await?;
    complete(link, BmpList::default()).await
}

/// The customer's turn: "insert card", then the configured wait. An ECR abort ends it.
async fn wait_for_customer(
    link: &mut Link,
    shared: &Shared,
    cfg: &SimConfig,
    wait: Duration,
) -> Result<Customer, LinkError> {
    if prompt(link, shared, IntermediateStatus::INSERT_CARD).await? {
        return Ok(Customer::Aborted);
    }
    if wait.is_zero() && cfg.behaviour != Behaviour::DropBeforeCharge {
        // An instant customer: no timer at all, so benchmarks measure protocol, not timer ticks.
        return Ok(Customer::Presented);
    }
    let deadline = Instant::now() + wait;
    let repeat = Duration::from_secs(1);
    let mut next_prompt = Instant::now() + repeat;
    loop {
        if cfg.behaviour == Behaviour::DropBeforeCharge {
            return Ok(Customer::Dropped);
        }
        enum Woke {
            Timer,
            Packet(EcrMessage),
        }
        let woke = tokio::select! {
            _ = sleep_until(deadline.min(next_prompt)) => Woke::Timer,
            msg = link.recv() => Woke::Packet(msg?),
        };
        match woke {
            Woke::Timer if Instant::now() >= deadline => return Ok(Customer::Presented),
            Woke::Timer => {
                // A long wait repeats the prompt, as terminals refresh their display.
                next_prompt += repeat;
                if prompt(link, shared, IntermediateStatus::INSERT_CARD).await? {
                    return Ok(Customer::Aborted);
                }
            }
            Woke::Packet(EcrMessage::Abort) => {
                ack(link).await?;
                return Ok(Customer::Aborted);
            }
            Woke::Packet(other) => {
                tracing::debug!(?other, "ECR packet ignored while the customer is busy");
            }
        }
    }
}

/// Sends an intermediate status if the ECR asked for them (config byte bit `08`). `true` when the ECR
/// sent Abort meanwhile.
async fn prompt(
    link: &mut Link,
    shared: &Shared,
    status: IntermediateStatus,
) -> Result<bool, LinkError> {
    if shared.ecr_config() & 0x08 == 0 {
        return Ok(false);
    }
    let msg = PtMessage::IntermediateStatus(IntermediateStatusMsg {
        status,
        timeout: None,
        bmps: BmpList::default(),
    });
    let aborted = link.send_acked(&msg).await?;
    if aborted {
        ack(link).await?;
    }
    Ok(aborted)
}

/// The "drop after charge" faults: the booking is made, the answer never leaves.
fn drops_after_booking(shared: &Shared, cfg: &SimConfig) -> bool {
    match cfg.behaviour {
        Behaviour::DropAfterChargeOnce => {
            shared.set_behaviour(Behaviour::Normal);
            true
        }
        Behaviour::DropAfterChargeAlways => true,
        Behaviour::CrashAfterCharge => {
            shared.set_behaviour(Behaviour::Normal);
            shared.restart(Some(Duration::from_millis(cfg.restart_ms)));
            true
        }
        _ => false,
    }
}

/// Reports a booked reversal or refund (unless a fault drops the answer).
async fn finish_booking(
    link: &mut Link,
    shared: &Shared,
    cfg: &SimConfig,
    info: BmpList,
    lines: &[String],
) -> Step {
    if drops_after_booking(shared, cfg) {
        return Ok(Flow::Drop);
    }
    link.send_acked(&PtMessage::StatusInformation(info)).await?;
    send_receipt(link, shared, cfg, lines).await?;
    complete(link, BmpList::new(vec![Bmp::TerminalId(cfg.terminal_id)])).await
}

/// Receipt lines go to the ECR only when it registered to print them (config byte bit `02`): as one
/// text block (`06 D3`, bit `80`) or line by line (`06 D1`).
pub(crate) async fn send_receipt(
    link: &mut Link,
    shared: &Shared,
    cfg: &SimConfig,
    lines: &[String],
) -> Result<(), LinkError> {
    let config = shared.ecr_config();
    if config & 0x02 == 0 {
        return Ok(());
    }
    if config & 0x80 != 0 {
        let items = lines
            .iter()
            .map(|l| TlvItem::primitive(Tag::TEXT_LINE, cfg.charset.encode(l)))
            .collect();
        let tlv = Tlv::new(vec![TlvItem::constructed(Tag::PRINT_TEXTS, items)]);
        let block = PtMessage::PrintTextBlock(BmpList::new(vec![Bmp::Tlv(tlv)]));
        link.send_acked(&block).await?;
        return Ok(());
    }
    for line in lines {
        let msg = PtMessage::PrintLine {
            attribute: 0x00,
            text: cfg.charset.encode(line),
        };
        link.send_acked(&msg).await?;
    }
    Ok(())
}

/// Status information of a card payment: result, amount, numbers, card facts (masked PAN only).
fn card_status(
    cfg: &SimConfig,
    result: ResultCode,
    amount: u64,
    trace: Option<u32>,
    receipt_no: Option<u16>,
) -> BmpList {
    let (time, date) = clock::now();
    let pan: String = cfg
        .masked_pan
        .chars()
        .filter(|c| c.is_ascii_digit() || *c == '*')
        .collect();
    let mut fields = vec![
        Bmp::ResultCode(result),
        Bmp::Amount(amount),
        Bmp::Currency(cfg.currency),
    ];
    fields.extend(trace.map(Bmp::Trace));
    fields.extend([
        Bmp::Time(time),
        Bmp::Date(date),
        Bmp::Expiry(cfg.card_expiry),
        Bmp::CardSequence(1),
        Bmp::PaymentType(0x60),
        Bmp::Pan(pan),
        Bmp::TerminalId(cfg.terminal_id),
        Bmp::Other {
            tag: 0x2A,
            data: format!("{:<15.15}", "455600001234").into_bytes(),
        },
    ]);
    if let Some(trace) = trace {
        let mut code = [0u8; 8];
        code[..6]
            .copy_from_slice(format!("{:06}", (u64::from(trace) * 7919) % 1_000_000).as_bytes());
        fields.push(Bmp::AuthAttribute(code));
    }
    fields.extend(receipt_no.map(Bmp::ReceiptNo));
    fields.push(Bmp::CardType(card_type(&cfg.card_name)));
    fields.push(Bmp::CardName(cfg.charset.encode(&cfg.card_name)));
    BmpList::new(fields)
}

/// Status information of a reversal or refund.
fn booking_status(cfg: &SimConfig, amount: u64, trace: u32, receipt_no: u16) -> BmpList {
    let (time, date) = clock::now();
    BmpList::new(vec![
        Bmp::ResultCode(ResultCode::Success),
        Bmp::Amount(amount),
        Bmp::Currency(cfg.currency),
        Bmp::Trace(trace),
        Bmp::Time(time),
        Bmp::Date(date),
        Bmp::TerminalId(cfg.terminal_id),
        Bmp::ReceiptNo(receipt_no),
    ])
}

/// ZVT card type numbers of a few card names (`05` girocard, `06` Mastercard, `0A` Visa).
fn card_type(name: &str) -> u8 {
    let name = name.to_ascii_lowercase();
    match () {
        _ if name.contains("giro") => 0x05,
        _ if name.contains("master") => 0x06,
        _ if name.contains("visa") => 0x0A,
        _ => 0xFF,
    }
}

fn receipt_lines(
    cfg: &SimConfig,
    what: &str,
    amount: u64,
    trace: u32,
    receipt_no: u16,
) -> Vec<String> {
    vec![
        "tillgate Simulator - Händlerbeleg".to_string(),
        what.to_string(),
        format!("TID {:08}  TRACE {trace:06}", cfg.terminal_id),
        format!("BELEG-NR {receipt_no:04}"),
        format!("{} {}", cfg.card_name, cfg.masked_pan),
        format!("BETRAG {} {}", currency_alpha(cfg.currency), money(amount)),
        "ZAHLUNG ERFOLGT".to_string(),
    ]
}

fn money(minor: u64) -> String {
    format!("{}.{:02}", minor / 100, minor % 100)
}

fn currency_alpha(numeric: u16) -> &'static str {
    match numeric {
        978 => "EUR",
        756 => "CHF",
        826 => "GBP",
        840 => "USD",
        _ => "XXX",
    }
}
