//! Process CPU time (user + system, all threads) and what a measured run reports.

use std::time::Duration;

/// Linux reports CPU times in `/proc` in USER_HZ ticks, which the kernel's ABI fixes at 100
/// per second on every architecture Tributary builds for.
const TICKS_PER_SECOND: u64 = 100;

/// User + system CPU time this process has used so far, summed over all its threads
/// (librdkafka's included).
pub fn process_cpu() -> Duration {
    let stat = std::fs::read_to_string("/proc/self/stat").expect("/proc/self/stat is readable");
    // Fields after the command name (which may hold spaces) start at field 3, `state`;
    // utime and stime are fields 14 and 15.
    let after_name = &stat[stat.rfind(')').expect("stat has a command name") + 2..];
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    let ticks: u64 = fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap();
    Duration::from_millis(ticks * 1000 / TICKS_PER_SECOND)
}

/// One measured run over `records` records.
#[derive(Clone, Copy)]
pub struct Run {
    /// Records read.
    pub records: u64,
    /// From the first record read to the work being done (output flushed, offsets
    /// committed).
    pub elapsed: Duration,
    /// Process CPU time over the whole run, joining the group included.
    pub cpu: Duration,
}

impl Run {
    /// Records per second.
    pub fn rate(&self) -> f64 {
        self.records as f64 / self.elapsed.as_secs_f64()
    }

    /// CPU microseconds per record.
    pub fn cpu_per_record_us(&self) -> f64 {
        self.cpu.as_secs_f64() * 1e6 / self.records as f64
    }
}

/// Prints engine and baseline side by side with the ratios the targets speak of.
pub fn report(name: &str, engine: Run, baseline: Run, baseline_name: &str) {
    println!("{name}");
    for (label, run) in [("engine", engine), (baseline_name, baseline)] {
        println!(
            "  {label:<10} {:>10.0} records/s  {:>6.2} µs CPU/record  ({} records in {:.2} s, {:.2} s CPU)",
            run.rate(),
            run.cpu_per_record_us(),
            run.records,
            run.elapsed.as_secs_f64(),
            run.cpu.as_secs_f64()
        );
    }
    println!(
        "  throughput engine/{baseline_name} = {:.2}×   CPU per record engine/{baseline_name} = {:.2}×",
        engine.rate() / baseline.rate(),
        engine.cpu_per_record_us() / baseline.cpu_per_record_us()
    );
}

/// The run with the median CPU time per record (of an even number, the upper one).
pub fn median(runs: &[Run]) -> Run {
    let mut sorted = runs.to_vec();
    sorted.sort_by(|a, b| a.cpu_per_record_us().total_cmp(&b.cpu_per_record_us()));
    sorted[sorted.len() / 2]
}

/// Prints each round of engine and baseline, then [`report`] of their medians.
pub fn report_rounds(name: &str, engine: &[Run], baseline: &[Run], baseline_name: &str) {
    let ratios: Vec<String> = engine
        .iter()
        .zip(baseline)
        .map(|(e, b)| format!("{:.2}×", e.cpu_per_record_us() / b.cpu_per_record_us()))
        .collect();
    let per_run = |runs: &[Run]| -> String {
        let cpu: Vec<String> = runs
            .iter()
            .map(|r| format!("{:.2}", r.cpu_per_record_us()))
            .collect();
        cpu.join(" / ")
    };
    println!(
        "{name}: {} rounds; CPU µs per record: engine {}, {baseline_name} {}; per round engine/{baseline_name} {}",
        engine.len(),
        per_run(engine),
        per_run(baseline),
        ratios.join(", ")
    );
    report(
        &format!("{name} (medians)"),
        median(engine),
        median(baseline),
        baseline_name,
    );
}
