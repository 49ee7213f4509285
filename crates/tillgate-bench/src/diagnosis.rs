//! Diagnosis speed (the `tillgate-scenario` `bench` example's method, re-measured): one reader, a
//! location of 50, a fleet of 10,000 simulated readers. The baseline is the time the scenario world
//! takes to simulate the signals the engine reads (the input it has to look at).
use crate::{median, met, Figure, Size};
use std::time::Instant;
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

fn one(
    name: &str,
    locations: usize,
    per: usize,
    subject: Subject,
    runs: usize,
    goal_s: f64,
) -> anyhow::Result<Figure> {
    let scenario = Scenario::from_toml(&fleet_toml(locations, per), name)
        .map_err(|e| anyhow::anyhow!("scenario: {e}"))?;
    let t = Instant::now();
    let fleet = World::new(&scenario).observe();
    let simulate_ms = t.elapsed().as_secs_f64() * 1000.0;
    let mut times = Vec::new();
    for _ in 0..runs {
        let t = Instant::now();
        let view = FleetView::new(&fleet);
        let d = view
            .diagnose(&subject, Lang::En)
            .map_err(|e| anyhow::anyhow!("diagnose: {e:?}"))?;
        std::hint::black_box(d);
        times.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    let m = median(&times);
    Ok(Figure::new(
        "diagnosis",
        format!("{name} ({} readers)", fleet.readers.len()),
        m,
        "ms",
    )
    .runs(runs)
    .baseline("simulating its signals", simulate_ms)
    .goal(format!("< {goal_s} s: {}", met(m < goal_s * 1000.0))))
}

/// Runs the diagnosis benchmark (the fleet of 10,000 in full mode only).
pub fn run(size: Size) -> anyhow::Result<Vec<Figure>> {
    let mut out = vec![
        one("one reader", 1, 1, Subject::Reader("R 0-0".into()), 21, 1.0)?,
        one(
            "location of 50",
            1,
            50,
            Subject::Location("Store 0".into()),
            11,
            1.0,
        )?,
    ];
    let (locs, runs) = if size.quick { (20, 3) } else { (200, 5) };
    out.push(one("fleet (fleet)", locs, 50, Subject::Fleet, runs, 5.0)?);
    out.push(one(
        "fleet (1 reader)",
        locs,
        50,
        Subject::Reader("R 17-3".into()),
        runs,
        1.0,
    )?);
    Ok(out)
}
