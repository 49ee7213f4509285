//! The simulated terminal's memory: what it charged, batch and counters, and the last receipt.

use crate::codec::BmpList;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntryKind {
    Payment,
    Refund,
}

/// One booked transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JournalEntry {
    pub kind: EntryKind,
    pub receipt_no: u16,
    pub trace: u32,
    pub amount_minor: u64,
    pub currency: u16,
    pub batch: u32,
    pub reversed: bool,
}

/// Status information and receipt of the last transaction, for repeat receipt.
#[derive(Debug, Clone)]
pub(crate) struct LastReceipt {
    pub status: BmpList,
    pub lines: Vec<String>,
}

#[derive(Debug)]
pub(crate) struct Ledger {
    pub entries: Vec<JournalEntry>,
    pub batch: u32,
    next_receipt: u16,
    next_trace: u32,
    pub last: Option<LastReceipt>,
}

impl Default for Ledger {
    fn default() -> Self {
        Self {
            entries: Vec::new(),
            batch: 1,
            next_receipt: 1,
            next_trace: 1,
            last: None,
        }
    }
}

impl Ledger {
    /// Next trace number (6 digits, wrapping 999999 → 1).
    pub fn trace(&mut self) -> u32 {
        let trace = self.next_trace;
        self.next_trace = if trace >= 999_999 { 1 } else { trace + 1 };
        trace
    }

    /// Next receipt number (4 digits, wrapping 9999 → 1).
    pub fn receipt(&mut self) -> u16 {
        let receipt = self.next_receipt;
        self.next_receipt = if receipt >= 9_999 { 1 } else { receipt + 1 };
        receipt
    }

    /// Sum of the open batch: payments not reversed minus refunds (never below zero).
    pub fn batch_total(&self) -> (usize, u64) {
        let open = self
            .entries
            .iter()
            .filter(|e| e.batch == self.batch && !e.reversed);
        let (mut count, mut total) = (0, 0i128);
        for entry in open {
            count += 1;
            match entry.kind {
                EntryKind::Payment => total += i128::from(entry.amount_minor),
                EntryKind::Refund => total -= i128::from(entry.amount_minor),
            }
        }
        (count, u64::try_from(total.max(0)).unwrap_or(u64::MAX))
    }
}
