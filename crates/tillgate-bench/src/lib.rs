//! tillgate's benchmark harness: each benchmark returns [`Figure`]s (a median over several runs, with
//! the baseline measured in the same process), which `main.rs` prints and writes to BENCHMARKS.md.
pub mod caisse_ap;
pub mod cluster;
pub mod diagnosis;
pub mod durability;
pub mod flapping;
pub mod fleet;
pub mod payments;
pub mod soak;
pub mod stripe;
pub mod zvt;

use std::fmt::Write as _;
use std::time::Duration;

/// How big a run is: `quick` is the CI size, the rest the full one.
#[derive(Debug, Clone, Copy)]
pub struct Size {
    pub quick: bool,
}

/// One measured figure: the median of `runs`, its same-run baseline and the goal beside it.
#[derive(Debug, Clone)]
pub struct Figure {
    pub bench: &'static str,
    pub name: String,
    pub value: f64,
    pub unit: &'static str,
    pub runs: usize,
    /// What the same process measured for the baseline (name, value in the same unit).
    pub baseline: Option<(String, f64)>,
    /// The goal and whether it is met, as text.
    pub goal: Option<String>,
    /// Context for the baseline column when the baseline is not one number in the same unit.
    pub note: Option<String>,
}

impl Figure {
    pub fn new(
        bench: &'static str,
        name: impl Into<String>,
        value: f64,
        unit: &'static str,
    ) -> Self {
        Figure {
            bench,
            name: name.into(),
            value,
            unit,
            runs: 1,
            baseline: None,
            goal: None,
            note: None,
        }
    }
    pub fn runs(mut self, runs: usize) -> Self {
        self.runs = runs;
        self
    }
    pub fn baseline(mut self, name: impl Into<String>, value: f64) -> Self {
        self.baseline = Some((name.into(), value));
        self
    }
    pub fn note(mut self, note: impl Into<String>) -> Self {
        self.note = Some(note.into());
        self
    }
    pub fn goal(mut self, goal: impl Into<String>) -> Self {
        self.goal = Some(goal.into());
        self
    }
    /// `true` when the value (and baseline) are finite and the value is not negative.
    pub fn sane(&self) -> bool {
        self.value.is_finite()
            && self.value >= 0.0
            && self.baseline.as_ref().is_none_or(|(_, b)| b.is_finite())
    }
    pub fn line(&self) -> String {
        let mut s = format!(
            "{:<11} {:<52} {:>12} {:<8} (median of {})",
            self.bench,
            self.name,
            fmt_num(self.value),
            self.unit,
            self.runs
        );
        if let Some((name, b)) = &self.baseline {
            let _ = write!(s, "  | baseline {name}: {} {}", fmt_num(*b), self.unit);
        }
        if let Some(n) = &self.note {
            let _ = write!(s, "  | {n}");
        }
        if let Some(g) = &self.goal {
            let _ = write!(s, "  | goal {g}");
        }
        s
    }
}

/// A number printed with sensible precision.
pub fn fmt_num(v: f64) -> String {
    if !v.is_finite() {
        format!("{v}")
    } else if v.abs() >= 1000.0 {
        format!("{v:.0}")
    } else if v.abs() >= 10.0 {
        format!("{v:.1}")
    } else if v.abs() >= 0.1 {
        format!("{v:.3}")
    } else {
        format!("{v:.4}")
    }
}

/// Median of a non-empty list (NaN when empty).
pub fn median(v: &[f64]) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    let mut v = v.to_vec();
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

/// The `q` quantile (0..=1) of durations, in milliseconds (NaN when empty).
pub fn quantile_ms(samples: &mut [Duration], q: f64) -> f64 {
    if samples.is_empty() {
        return f64::NAN;
    }
    samples.sort();
    let i = ((samples.len() - 1) as f64 * q).round() as usize;
    samples[i].as_secs_f64() * 1000.0
}

/// The machine the figures come from, read from /proc.
pub fn machine() -> String {
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(0);
    let mem_kib = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| {
            m.lines()
                .find(|l| l.starts_with("MemTotal:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
        })
        .unwrap_or(0);
    let model = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|c| {
            c.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|s| s.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    format!(
        "{cores} cores ({model}), {:.1} GiB memory",
        mem_kib as f64 / 1024.0 / 1024.0
    )
}

/// Resident memory of this process in KiB (VmRSS).
pub fn rss_kib() -> u64 {
    proc_status_field("VmRSS:")
}

/// Bytes SQLite holds on its heap across every connection of the process (page caches, schema,
/// prepared statements), in KiB: the part of resident memory that follows the database.
pub fn sqlite_heap_kib() -> u64 {
    // SAFETY: sqlite3_memory_used only reads SQLite's global memory counter; it takes no
    // pointers and is safe to call from any thread (SQLITE_THREADSAFE=1).
    let bytes = unsafe { rusqlite::ffi::sqlite3_memory_used() };
    bytes.max(0) as u64 / 1024
}

/// Peak resident memory of this process in KiB (VmHWM).
pub fn peak_rss_kib() -> u64 {
    proc_status_field("VmHWM:")
}

fn proc_status_field(name: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(name))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

/// CPU time (user + system) this process has used so far.
pub fn cpu_time() -> Duration {
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else {
        return Duration::ZERO;
    };
    // The command name is in parentheses and may hold spaces; fields count from after it.
    let Some(rest) = stat.rsplit_once(')').map(|(_, r)| r) else {
        return Duration::ZERO;
    };
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the whole line, i.e. 12 and 13 after the name.
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<u64>().ok())
            .unwrap_or(0)
    };
    let total = ticks(11) + ticks(12);
    // USER_HZ is 100 on every Linux this runs on.
    Duration::from_millis(total * 10)
}

/// BENCHMARKS.md: the figures as tables by benchmark, the machine, the date and the command.
pub fn markdown(figures: &[Figure], command: &str, date: &str, notes: &[String]) -> String {
    let mut s = String::from("# tillgate benchmarks\n\n");
    let _ = writeln!(s, "- **Command:** `{command}`");
    let _ = writeln!(s, "- **Date:** {date}");
    let _ = writeln!(s, "- **Machine:** {}", machine());
    s.push_str(
        "\nEvery figure is the median of several runs; its baseline was measured in the same process \
         and run, interleaved, so that noise on a shared machine affects both alike.\n",
    );
    let mut benches: Vec<&str> = Vec::new();
    for f in figures {
        if !benches.contains(&f.bench) {
            benches.push(f.bench);
        }
    }
    for b in benches {
        let _ = writeln!(s, "\n## {b}\n");
        s.push_str(
            "| figure | value | runs | baseline (same run) | goal |\n|---|---|---|---|---|\n",
        );
        for f in figures.iter().filter(|f| f.bench == b) {
            let mut base = f
                .baseline
                .as_ref()
                .map(|(n, v)| format!("{n}: {} {}", fmt_num(*v), f.unit))
                .unwrap_or_default();
            if let Some(n) = &f.note {
                if !base.is_empty() {
                    base.push_str("; ");
                }
                base.push_str(n);
            }
            let _ = writeln!(
                s,
                "| {} | {} {} | {} | {} | {} |",
                f.name,
                fmt_num(f.value),
                f.unit,
                f.runs,
                base,
                f.goal.clone().unwrap_or_default()
            );
        }
    }
    if !notes.is_empty() {
        s.push_str("\n## Notes\n\n");
        for n in notes {
            let _ = writeln!(s, "- {n}");
        }
    }
    s
}

/// Puts the benchmark sections of `fresh` (a [`markdown`] of some benchmarks) into `existing`
/// (BENCHMARKS.md from earlier runs), replacing the sections of the same name and adding new ones
/// before `## Notes`; the header gains a line naming the command and date of those sections.
pub fn merge_sections(existing: &str, fresh: &str, command: &str, date: &str) -> String {
    fn sections(text: &str) -> Vec<(String, String)> {
        let mut out: Vec<(String, String)> = Vec::new();
        for line in text.lines() {
            if let Some(name) = line.strip_prefix("## ") {
                out.push((name.trim().to_owned(), String::new()));
            }
            if let Some((_, body)) = out.last_mut() {
                body.push_str(line);
                body.push('\n');
            }
        }
        out
    }
    let head_end = existing.find("\n## ").map_or(existing.len(), |i| i + 1);
    let mut head = existing[..head_end].trim_end().to_owned();
    let mut old = sections(&existing[head_end..]);
    let new: Vec<_> = sections(fresh)
        .into_iter()
        .filter(|(n, _)| n != "Notes")
        .collect();
    let names: Vec<&str> = new.iter().map(|(n, _)| n.as_str()).collect();
    if names.is_empty() {
        // A run that produced no figure (it failed) changes nothing.
        return existing.to_owned();
    }
    let line = format!(
        "- **{} section{}:** `{command}` ({date})",
        names.join(", "),
        if names.len() == 1 { "" } else { "s" }
    );
    // With the header's other command lines, before the paragraph that follows them.
    let mut lines: Vec<&str> = head.lines().collect();
    let at = lines
        .iter()
        .rposition(|l| l.starts_with("- **"))
        .map_or(lines.len(), |i| i + 1);
    lines.insert(at, &line);
    head = lines.join("\n");
    for (name, body) in new.iter() {
        match old.iter_mut().find(|(n, _)| n == name) {
            Some(slot) => slot.1 = body.clone(),
            None => {
                let at = old
                    .iter()
                    .position(|(n, _)| n == "Notes")
                    .unwrap_or(old.len());
                old.insert(at, (name.clone(), body.clone()));
            }
        }
    }
    let mut out = head;
    out.push_str("\n\n");
    for (_, body) in old {
        out.push_str(body.trim_end());
        out.push_str("\n\n");
    }
    out.trim_end().to_owned() + "\n"
}

/// `met` / `NOT met` for a goal check.
pub fn met(ok: bool) -> &'static str {
    if ok {
        "met"
    } else {
        "NOT met"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_partial_run_replaces_its_own_sections_and_keeps_the_others() {
        let old = "# tillgate benchmarks\n\n- **Command:** `all`\n\n## payments\n\n| a |\n\n## zvt\n\n| old zvt |\n\n## Notes\n\n- n\n";
        let fresh = "# tillgate benchmarks\n\n- **Command:** `x`\n\n## zvt\n\n| new zvt |\n\n## stripe\n\n| s |\n";
        let out = merge_sections(old, fresh, "cargo run -- zvt stripe", "2026-12-07");
        assert!(out.contains("| a |"), "{out}");
        assert!(
            out.contains("| new zvt |") && !out.contains("old zvt"),
            "{out}"
        );
        let (s, n) = (
            out.find("## stripe").unwrap(),
            out.find("## Notes").unwrap(),
        );
        assert!(s < n, "{out}");
        assert!(out.contains("- **zvt, stripe sections:** `cargo run -- zvt stripe` (2026-12-07)"));
    }

    #[test]
    fn the_command_line_joins_the_header_s_list_and_a_run_without_figures_changes_nothing() {
        let old = "# tillgate benchmarks\n\n- **Command:** `all`\n\nEvery figure is a median.\n\n## zvt\n\n| old |\n";
        let fresh = "# tillgate benchmarks\n\n## zvt\n\n| new |\n";
        let out = merge_sections(old, fresh, "cargo run -- zvt", "2026-12-07");
        let (line, para) = (
            out.find("- **zvt section:**").unwrap(),
            out.find("Every figure").unwrap(),
        );
        assert!(line < para, "{out}");
        assert!(
            out.contains("- **Command:** `all`\n- **zvt section:**"),
            "{out}"
        );
        let failed = "# tillgate benchmarks\n\n- **Command:** `x`\n";
        assert_eq!(merge_sections(old, failed, "cargo run -- zvt", "d"), old);
    }
}
