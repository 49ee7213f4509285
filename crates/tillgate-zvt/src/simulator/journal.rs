//! The simulated terminal's memory: what it charged, batch and counters, and the last receipt.

use std::io::Write;
use std::path::PathBuf;

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
    /// Where the journal is mirrored as JSON lines (`--journal PATH`), rewritten after every booking.
    pub file: Option<PathBuf>,
}

impl Default for Ledger {
    fn default() -> Self {
        Self {
            entries: Vec::new(),
            batch: 1,
            next_receipt: 1,
            next_trace: 1,
            last: None,
            file: None,
        }
    }
}

impl JournalEntry {
    /// One JSON line: `{"kind":"payment","receipt_no":1,"trace":1,"amount":1250,"currency":978,"batch":1,"reversed":false}`.
    pub fn to_json_line(&self) -> String {
        let kind = match self.kind {
            EntryKind::Payment => "payment",
            EntryKind::Refund => "refund",
        };
        format!(
            "{{\"kind\":\"{kind}\",\"receipt_no\":{},\"trace\":{},\"amount\":{},\"currency\":{},\"batch\":{},\"reversed\":{}}}",
            self.receipt_no, self.trace, self.amount_minor, self.currency, self.batch, self.reversed
        )
    }
}

impl Ledger {
    pub fn with_file(file: Option<PathBuf>) -> Self {
        let ledger = Self {
            file,
            ..Self::default()
        };
        ledger.save();
        ledger
    }

    /// Rewrites the journal file (if any) atomically: a reader never sees half a journal.
    pub fn save(&self) {
        let Some(path) = &self.file else { return };
        let mut tmp = path.clone().into_os_string();
        tmp.push(".tmp");
        let tmp = PathBuf::from(tmp);
        let written = (|| {
            let mut f = std::fs::File::create(&tmp)?;
            for entry in &self.entries {
                writeln!(f, "{}", entry.to_json_line())?;
            }
            f.sync_all()?;
            std::fs::rename(&tmp, path)
        })();
        if let Err(e) = written {
            tracing::error!(path = %path.display(), error = %e, "cannot write the journal file");
        }
    }

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
