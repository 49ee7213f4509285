//! `tillgate sim score` and `tillgate sim run` as a user runs them: the built binary on the shipped scenarios.
use std::path::PathBuf;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

/// The workspace root (where `tests/scenarios` lives).
fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Runs the binary with `args` from the workspace root, killed after `limit`.
fn tillgate(args: &[&str], limit: Duration) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_tillgate"))
        .args(args)
        .current_dir(root())
        .env("NO_COLOR", "1")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("start tillgate");
    let start = Instant::now();
    while child.try_wait().expect("wait").is_none() {
        if start.elapsed() > limit {
            let _ = child.kill();
            panic!("tillgate {args:?} took longer than {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    child.wait_with_output().expect("output")
}

/// `N/M` of "N/M top-1" → (N, M).
fn fraction(s: &str) -> (usize, usize) {
    let (n, m) = s.split_once('/').expect("N/M");
    (n.parse().expect("N"), m.parse().expect("M"))
}

#[test]
fn sim_score_prints_per_scenario_lines_and_the_score_line() {
    let out = tillgate(
        &["sim", "score", "tests/scenarios"],
        Duration::from_secs(120),
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    let last = stdout.lines().last().expect("some output");
    // `score: N/M top-1, K/M top-3`
    let rest = last.strip_prefix("score: ").expect(last);
    let (top1, rest) = rest.split_once(" top-1, ").expect(last);
    let top3 = rest.strip_suffix(" top-3").expect(last);
    let (n, m) = fraction(top1);
    let (k, m3) = fraction(top3);
    assert_eq!(m, m3);
    let files = std::fs::read_dir(root().join("tests/scenarios"))
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .path()
                .extension()
                .is_some_and(|x| x == "toml")
        })
        .count();
    assert_eq!(m, files, "every scenario file is scored");
    assert!(k >= n);
    assert!(n as f64 / m as f64 >= 0.9, "top-1 {n}/{m} below 90 %");
    assert!(out.status.success(), "exit code 0 at ≥ 90 %: {out:?}");
    // One line per scenario before the score line, each naming expected and found.
    assert_eq!(stdout.lines().count(), m + 1);
    assert!(stdout
        .lines()
        .take(m)
        .all(|l| l.contains("expected ") && l.contains("found ")));
}

#[test]
fn sim_score_json_carries_the_outcomes() {
    let out = tillgate(
        &[
            "sim",
            "score",
            "--json",
            "tests/scenarios/01_reader_powered_off.toml",
        ],
        Duration::from_secs(60),
    );
    assert!(out.status.success(), "{out:?}");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(v["total"], 1);
    assert_eq!(v["outcomes"][0]["rank"], 1);
}

#[test]
fn sim_run_prints_the_report_for_the_target() {
    let file = "tests/scenarios/01_reader_powered_off.toml";
    let text = std::fs::read_to_string(root().join(file)).unwrap();
    let scenario: toml::Value = toml::from_str(&text).unwrap();
    let cause = scenario["expect"]["cause"].as_str().unwrap().to_owned();

    let out = tillgate(&["sim", "run", file], Duration::from_secs(60));
    assert!(out.status.success(), "{out:?}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("Reader "), "{stdout}");
    assert!(
        stdout.contains(&format!("expected: {cause} (rank 1)")),
        "{stdout}"
    );

    let out = tillgate(&["sim", "run", "--json", file], Duration::from_secs(60));
    assert!(out.status.success(), "{out:?}");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(v["causes"][0]["code"], cause.as_str(), "{v:#}");
}

#[test]
fn sim_score_fails_with_exit_1_below_90_percent() {
    let dir = tempfile::tempdir().unwrap();
    let text =
        std::fs::read_to_string(root().join("tests/scenarios/01_reader_powered_off.toml")).unwrap();
    let mut v: toml::Value = toml::from_str(&text).unwrap();
    // Expect a cause the world does not show: the only scenario is then wrong.
    v["expect"]["cause"] = toml::Value::String("clock_skew".into());
    let path = dir.path().join("wrong.toml");
    std::fs::write(&path, toml::to_string(&v).unwrap()).unwrap();
    let out = tillgate(
        &["sim", "score", path.to_str().unwrap()],
        Duration::from_secs(60),
    );
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(stdout.lines().last(), Some("score: 0/1 top-1, 0/1 top-3"));
}
