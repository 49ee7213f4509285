//! Diagnosis speed: one reader, a location of 50 and a fleet of 10,000 simulated readers (medians).
//! Run with `cargo run --release -p tillgate-scenario --example bench`.

use std::time::{Duration, Instant};
use tillgate_diagnosis::{FleetView, Lang, Subject};
use tillgate_scenario::{Scenario, World};

/// A fleet of `locations` stores with `per` readers each; a few faults so the rules have work to do.
fn fleet_toml(locations: usize, per: usize) -> String {
    let mut s = String::from("name = \"bench\"\nduration = \"4h\"\nexpect = { fleet = true, cause = \"reader_powered_off\" }\n");
    for l in 0..locations {
        let extra = match l % 10 {
            3 => "congestion = \"peak\"\n",
            7 => "client_isolation = true\n",
            _ => "",
        };
        s.push_str(&format!("[[location]]\nname = \"Store {l}\"\n{extra}"));
    }
    for l in 0..locations {
        for k in 0..per {
            s.push_str(&format!(
                "[[reader]]\nlabel = \"R {l}-{k}\"\nlocation = \"Store {l}\"\n"
            ));
            match (l * per + k) % 13 {
                1 => s.push_str("[reader.faults]\npower = \"off\"\n"),
                5 => s.push_str("[reader.faults]\nrssi_dbm = -80\n"),
                9 => s.push_str("[reader.faults]\ndhcp_churn = \"40m\"\n"),
                _ => {}
            }
        }
    }
    s
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn bench(name: &str, locations: usize, per: usize, subject: Subject, runs: usize) {
    let scenario = Scenario::from_toml(&fleet_toml(locations, per), name).unwrap();
    let t = Instant::now();
    let fleet = World::new(&scenario).observe();
    let sim = t.elapsed();
    let mut times = Vec::new();
    for _ in 0..runs {
        let t = Instant::now();
        let view = FleetView::new(&fleet);
        let d = view.diagnose(&subject, Lang::En).unwrap();
        std::hint::black_box(d);
        times.push(t.elapsed());
    }
    println!(
        "{name:<28} readers {:>6}  diagnose median {:>10.2?}  (simulating the signals took {:.2?}, {runs} runs)",
        fleet.readers.len(),
        median(times),
        sim
    );
}

fn main() {
    bench("one reader", 1, 1, Subject::Reader("R 0-0".into()), 21);
    bench(
        "location of 50",
        1,
        50,
        Subject::Location("Store 0".into()),
        11,
    );
    bench("fleet of 10,000 (fleet)", 200, 50, Subject::Fleet, 3);
    bench(
        "fleet of 10,000 (1 reader)",
        200,
        50,
        Subject::Reader("R 17-3".into()),
        3,
    );
}
