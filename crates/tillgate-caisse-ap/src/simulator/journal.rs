//! What the simulated terminal booked, optionally mirrored to a JSON-lines file rewritten after every
//! booking (a reader of the file never sees half a journal).

use std::io::Write;
use std::path::PathBuf;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntryKind {
    /// A debit (`CD=0`): money in.
    Payment,
    /// A credit (`CD=1`): money out.
    Refund,
    /// A cancellation (`CD=2`) of the payment `cancels`: that payment no longer counts.
    Cancellation,
}

impl EntryKind {
    pub fn as_str(self) -> &'static str {
        match self {
            EntryKind::Payment => "payment",
            EntryKind::Refund => "refund",
            EntryKind::Cancellation => "cancellation",
        }
    }
}

/// One booked transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JournalEntry {
    pub kind: EntryKind,
    /// The terminal's transaction number (printed on the ticket).
    pub seq: u32,
    pub amount_minor: u64,
    pub currency: u16,
    /// The authorisation number (`AC`) of a payment.
    pub auth_code: String,
    /// Unix time of the booking, milliseconds.
    pub at_ms: u64,
    /// A payment later cancelled (`CD=2`).
    pub cancelled: bool,
    /// For a cancellation: the `seq` of the payment it cancels.
    pub cancels: Option<u32>,
}

impl JournalEntry {
    /// `{"kind":"payment","seq":1,"amount":1250,"currency":978,"auth_code":"A00001","at_ms":…,"cancelled":false}`;
    /// a cancellation adds `"cancels":N`.
    pub fn to_json_line(&self) -> String {
        let cancels = self
            .cancels
            .map(|n| format!(",\"cancels\":{n}"))
            .unwrap_or_default();
        format!(
            "{{\"kind\":\"{}\",\"seq\":{},\"amount\":{},\"currency\":{},\"auth_code\":\"{}\",\"at_ms\":{},\"cancelled\":{}{cancels}}}",
            self.kind.as_str(),
            self.seq,
            self.amount_minor,
            self.currency,
            self.auth_code,
            self.at_ms,
            self.cancelled
        )
    }

    /// What the entry adds to the batch: payments in (unless cancelled), refunds out; a
    /// cancellation counts through the payment it marks.
    pub fn net(&self) -> i64 {
        let amount = self.amount_minor as i64;
        match self.kind {
            EntryKind::Payment if !self.cancelled => amount,
            EntryKind::Refund => -amount,
            _ => 0,
        }
    }
}

#[derive(Debug, Default)]
pub(crate) struct Ledger {
    pub entries: Vec<JournalEntry>,
    next_seq: u32,
    pub file: Option<PathBuf>,
}

impl Ledger {
    pub fn with_file(file: Option<PathBuf>) -> Self {
        let ledger = Self {
            entries: Vec::new(),
            next_seq: 1,
            file,
        };
        ledger.save();
        ledger
    }

    pub fn next_seq(&mut self) -> u32 {
        let seq = self.next_seq.max(1);
        self.next_seq = seq + 1;
        seq
    }

    pub fn book(&mut self, entry: JournalEntry) {
        self.entries.push(entry);
        self.save();
    }

    /// Rewrites the journal file (if any) through a temporary file and a rename.
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
            tracing::error!(path = %path.display(), error = %e, "journal not written");
        }
    }
}
