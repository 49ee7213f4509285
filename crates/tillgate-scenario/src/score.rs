//! Running scenarios through the engine and scoring the answers (top-1 / top-3), for one file or many.

use crate::file::{Scenario, ScenarioError};
use crate::world::World;
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::time::Instant;
use tillgate_diagnosis::{Cause, Diagnosis, FleetView, Lang, Subject};

/// What one scenario gave.
#[derive(Debug, Clone, Serialize)]
pub struct Outcome {
    pub name: String,
    pub file: Option<String>,
    /// Where a public case comes from.
    pub source: Option<String>,
    pub target: String,
    pub expected: String,
    /// The engine's first cause (`None`: it found nothing).
    pub found: Option<Cause>,
    /// 1-based rank of the expected cause in the engine's list.
    pub rank: Option<usize>,
    pub simulate_ms: f64,
    pub diagnose_ms: f64,
    #[serde(skip)]
    pub diagnosis: Diagnosis,
}

impl Outcome {
    pub fn top1(&self) -> bool {
        self.rank == Some(1)
    }
    pub fn top3(&self) -> bool {
        self.rank.is_some_and(|r| r <= 3)
    }
}

/// The engine's answer for a scenario's target, after simulating its world.
pub fn run(s: &Scenario, lang: Lang) -> Result<Outcome, ScenarioError> {
    let expected: Cause = s
        .expect
        .cause
        .parse()
        .map_err(|msg| ScenarioError::Invalid {
            path: s.name.clone(),
            msg,
        })?;
    let t = Instant::now();
    let fleet = World::new(s).observe();
    let simulate_ms = t.elapsed().as_secs_f64() * 1e3;
    let (subject, target) = if let Some(r) = &s.expect.reader {
        (Subject::Reader(r.clone()), format!("reader {r}"))
    } else if let Some(l) = &s.expect.location {
        (Subject::Location(l.clone()), format!("location {l}"))
    } else if s.expect.fleet {
        (Subject::Fleet, "fleet".to_string())
    } else {
        (Subject::Host, "host".to_string())
    };
    let t = Instant::now();
    let view = FleetView::new(&fleet);
    let diagnosis = view
        .diagnose(&subject, lang)
        .map_err(|e| ScenarioError::Invalid {
            path: s.name.clone(),
            msg: e.to_string(),
        })?;
    let diagnose_ms = t.elapsed().as_secs_f64() * 1e3;
    Ok(Outcome {
        name: s.name.clone(),
        file: None,
        source: s.source.clone(),
        target,
        expected: expected.code().to_string(),
        found: diagnosis.top(),
        rank: diagnosis.rank_of(expected),
        simulate_ms,
        diagnose_ms,
        diagnosis,
    })
}

/// Scores of many scenarios.
#[derive(Debug, Clone, Serialize)]
pub struct Score {
    pub outcomes: Vec<Outcome>,
    pub total: usize,
    pub top1: usize,
    pub top3: usize,
}

impl Score {
    pub fn top1_share(&self) -> f64 {
        self.top1 as f64 / self.total.max(1) as f64
    }

    /// One line per scenario, then `score: N/M top-1, K/M top-3`.
    pub fn render(&self) -> String {
        let mut out = String::new();
        for o in &self.outcomes {
            let found = o
                .found
                .map_or("(nothing)".to_string(), |c| c.code().to_string());
            let rank = o.rank.map_or("-".to_string(), |r| r.to_string());
            let mark = if o.top1() {
                "ok  "
            } else if o.top3() {
                "top3"
            } else {
                "MISS"
            };
            out.push_str(&format!(
                "{mark} {:<52} {:<22} expected {:<30} found {:<30} rank {rank}\n",
                o.name, o.target, o.expected, found
            ));
        }
        out.push_str(&format!(
            "score: {}/{} top-1, {}/{} top-3\n",
            self.top1, self.total, self.top3, self.total
        ));
        out
    }

    /// Every scenario whose expected cause was not the engine's first, with its file and source.
    pub fn render_misses(&self) -> String {
        let mut out = String::new();
        for o in self.outcomes.iter().filter(|o| !o.top1()) {
            let found = o
                .found
                .map_or("(nothing)".to_string(), |c| c.code().to_string());
            let rank = o
                .rank
                .map_or("not listed".to_string(), |r| format!("rank {r}"));
            out.push_str(&format!(
                "miss: {} ({}): expected {} ({rank}), engine said {found}\n      source: {}\n",
                o.file.as_deref().unwrap_or(&o.name),
                o.target,
                o.expected,
                o.source.as_deref().unwrap_or("-"),
            ));
        }
        out
    }
}

/// The `.toml` files named, directories expanded (sorted, not recursive).
pub fn expand(paths: &[PathBuf]) -> Result<Vec<PathBuf>, ScenarioError> {
    let mut files = Vec::new();
    for p in paths {
        if p.is_dir() {
            let rd = std::fs::read_dir(p).map_err(|source| ScenarioError::Io {
                path: p.display().to_string(),
                source,
            })?;
            let mut v: Vec<PathBuf> = rd
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|f| f.extension().is_some_and(|x| x == "toml"))
                .collect();
            v.sort();
            files.extend(v);
        } else {
            files.push(p.clone());
        }
    }
    Ok(files)
}

/// Loads, simulates, diagnoses and scores every scenario file of `paths` (files or directories).
pub fn score_files(paths: &[PathBuf], lang: Lang) -> Result<Score, ScenarioError> {
    score_with(paths, lang, Scenario::load)
}

/// Like [`score_files`] for public cases: a file without `source`, `observed` or `cause_reported`
/// is refused, not scored.
pub fn score_public_files(paths: &[PathBuf], lang: Lang) -> Result<Score, ScenarioError> {
    score_with(paths, lang, Scenario::load_public)
}

fn score_with(
    paths: &[PathBuf],
    lang: Lang,
    load: fn(&Path) -> Result<Scenario, ScenarioError>,
) -> Result<Score, ScenarioError> {
    let mut outcomes = Vec::new();
    for f in expand(paths)? {
        let s = load(&f)?;
        let mut o = run(&s, lang)?;
        o.file = Some(display(&f));
        outcomes.push(o);
    }
    let total = outcomes.len();
    let top1 = outcomes.iter().filter(|o| o.top1()).count();
    let top3 = outcomes.iter().filter(|o| o.top3()).count();
    Ok(Score {
        outcomes,
        total,
        top1,
        top3,
    })
}

fn display(p: &Path) -> String {
    p.display().to_string()
}
