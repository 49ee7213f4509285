//! The simulated terminal's memory: what it charged, batch and counters, and the last receipt.

use std::io::Write;
use std::path::PathBuf;

use crate::codec::BmpList;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntryKind {
    Payment,
    Refund,
    /// A pre-authorisation (`06 22`): the card's money is held, nothing is booked.
    Reservation,
    /// Book Total (`06 24`) of a reservation (`of`): the booked amount counts like a payment.
    BookTotal,
    /// Pre-Authorisation Reversal (`06 25`) of a reservation (`of`): the hold is given back.
    Release,
}

impl EntryKind {
    pub fn as_str(self) -> &'static str {
        match self {
            EntryKind::Payment => "payment",
            EntryKind::Refund => "refund",
            EntryKind::Reservation => "reservation",
            EntryKind::BookTotal => "book_total",
            EntryKind::Release => "release",
        }
    }

    /// Whether the entry moves money in the batch (payments and book totals in, refunds out).
    pub fn books(self) -> bool {
        matches!(
            self,
            EntryKind::Payment | EntryKind::BookTotal | EntryKind::Refund
        )
    }
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
    /// For a book total or a release: the receipt number of the reservation it settles.
    pub of: Option<u16>,
    /// The card scheme (index into `codec::totals::SCHEMES`).
    pub scheme: usize,
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
    /// One JSON line: `{"kind":"payment","receipt_no":1,"trace":1,"amount":1250,"currency":978,"batch":1,"reversed":false}`;
    /// a book total or release adds `"of":N`, the reservation's receipt number.
    pub fn to_json_line(&self) -> String {
        let of = self.of.map(|n| format!(",\"of\":{n}")).unwrap_or_default();
        format!(
            "{{\"kind\":\"{}\",\"receipt_no\":{},\"trace\":{},\"amount\":{},\"currency\":{},\"batch\":{},\"reversed\":{}{of}}}",
            self.kind.as_str(), self.receipt_no, self.trace, self.amount_minor, self.currency, self.batch, self.reversed
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

    /// Sum of the open batch: payments and book totals not reversed minus refunds (never below
    /// zero). Reservations and their releases move no money and are not counted.
    pub fn batch_total(&self) -> (usize, u64) {
        let totals = self.batch_totals();
        let (count, amount) = totals.sum();
        (count as usize, amount)
    }

    /// The open batch as BMP `60` reports it: receipt range, per scheme count and net turnover.
    pub fn batch_totals(&self) -> crate::codec::IndividualTotals {
        let mut totals = crate::codec::IndividualTotals::default();
        let mut net = [0i128; 7];
        let in_batch = self.entries.iter().filter(|e| e.batch == self.batch);
        for entry in in_batch {
            if totals.receipt_from == 0 || entry.receipt_no < totals.receipt_from {
                totals.receipt_from = entry.receipt_no;
            }
            totals.receipt_to = totals.receipt_to.max(entry.receipt_no);
            if entry.reversed || !entry.kind.books() {
                continue;
            }
            let scheme = entry.scheme.min(6);
            let s = &mut totals.schemes[scheme];
            s.count = s.count.saturating_add(1);
            match entry.kind {
                EntryKind::Refund => net[scheme] -= i128::from(entry.amount_minor),
                _ => net[scheme] += i128::from(entry.amount_minor),
            }
        }
        for (s, n) in totals.schemes.iter_mut().zip(net) {
            s.amount = u64::try_from(n.max(0)).unwrap_or(u64::MAX);
        }
        totals
    }

    /// The reservation with `receipt_no` in the open batch, and how it was settled so far.
    pub fn reservation(&self, receipt_no: u16) -> Option<(&JournalEntry, Option<EntryKind>)> {
        let entry = self.entries.iter().find(|e| {
            e.kind == EntryKind::Reservation && e.receipt_no == receipt_no && e.batch == self.batch
        })?;
        let settled = self
            .entries
            .iter()
            .find(|e| e.of == Some(receipt_no) && e.batch == self.batch)
            .map(|e| e.kind);
        Some((entry, settled))
    }
}
