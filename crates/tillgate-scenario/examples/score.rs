//! Scores scenario files or directories: `cargo run -p tillgate-scenario --example score -- DIR… [--json] [--lang de] [--show NAME]`.

use std::path::PathBuf;
use tillgate_diagnosis::Lang;

fn main() {
    let mut paths = Vec::new();
    let mut json = false;
    let mut lang = Lang::En;
    let mut show: Option<String> = None;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--json" => json = true,
            "--lang" => lang = args.next().and_then(|l| l.parse().ok()).unwrap_or_default(),
            "--show" => show = args.next(),
            _ => paths.push(PathBuf::from(a)),
        }
    }
    if paths.is_empty() {
        paths.push(PathBuf::from("tests/scenarios"));
    }
    match tillgate_scenario::score_files(&paths, lang) {
        Ok(score) => {
            if json {
                println!("{}", serde_json::to_string_pretty(&score).unwrap());
            } else {
                print!("{}", score.render());
            }
            if let Some(name) = show {
                for o in score.outcomes.iter().filter(|o| {
                    o.name.contains(&name) || o.file.as_deref().is_some_and(|f| f.contains(&name))
                }) {
                    println!("{}", serde_json::to_string_pretty(&o.diagnosis).unwrap());
                }
            }
        }
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(2);
        }
    }
}
