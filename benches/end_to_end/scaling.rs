//! Scaling on this machine: the stateless pipeline (a) over the preloaded 4-partition input
//! with 1, 2 and 4 stream threads in one instance, and with two instances of 2 threads
//! each. A run is timed from the moment every instance is running with its final
//! assignment (stream threads and instances joining the group one after another would
//! otherwise put rebalancing pauses into the figure) until every record was read; records
//! read before that moment are not counted.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use tributary::StreamsConfig;
use tributary::engine::StreamsState;
use tributary::engine::internals::TopicAdmin;

use crate::cpu::{Run, process_cpu};
use crate::work;

/// Runs the layouts one after another and prints each against one thread.
pub fn measure(
    config: &impl Fn(&str) -> StreamsConfig,
    admin: &TopicAdmin,
    input: &str,
    prefix: &str,
    events: u64,
) {
    let layouts: [(&str, usize, &str); 4] = [
        ("1 instance x 1 thread", 1, "1"),
        ("1 instance x 2 threads", 1, "2"),
        ("1 instance x 4 threads", 1, "4"),
        ("2 instances x 2 threads", 2, "2"),
    ];
    let mut runs = Vec::new();
    for (index, (name, instances, threads)) in layouts.into_iter().enumerate() {
        let output = format!("{prefix}-scaling-out-{index}");
        admin.create_topic(&output, 4, &[]).unwrap();
        let app = format!("scaling-{index}");
        let configs = (0..instances)
            .map(|_| {
                let mut config = config(&app);
                config.set("num.stream.threads", threads).unwrap();
                config
            })
            .collect();
        runs.push((name, run(configs, input, &output, events)));
    }
    println!("scaling: (a) stateless filter + map, records read once every instance runs");
    let one = runs[0].1;
    for (name, run) in &runs {
        println!(
            "  {name:<24} {:>10.0} records/s  {:>6.2} µs CPU/record  {:.2}x one thread  ({} records in {:.2} s)",
            run.rate(),
            run.cpu_per_record_us(),
            run.rate() / one.rate(),
            run.records,
            run.elapsed.as_secs_f64()
        );
    }
}

/// One layout: instances of the stateless pipeline from `configs`, timed from when all of
/// them run.
fn run(configs: Vec<StreamsConfig>, input: &str, output: &str, events: u64) -> Run {
    let seen = Arc::new(AtomicU64::new(0));
    let (mut instances, _states) = crate::start_instances(
        configs,
        || work::stateless(input, output, seen.clone()),
        "none",
    );
    let deadline = Instant::now() + Duration::from_secs(120);
    while !instances.iter().all(|s| s.state() == StreamsState::Running) {
        assert!(Instant::now() < deadline, "the instances did not start");
        std::thread::sleep(Duration::from_millis(1));
    }
    let (started, before, cpu_before) =
        (Instant::now(), seen.load(Ordering::Relaxed), process_cpu());
    while seen.load(Ordering::Relaxed) < events {
        std::thread::sleep(Duration::from_millis(5));
    }
    let run = Run {
        records: events - before,
        elapsed: started.elapsed(),
        cpu: process_cpu() - cpu_before,
    };
    for streams in &mut instances {
        streams.close(Duration::from_secs(120)).unwrap();
    }
    run
}
