//! `tributary status` and `tributary reset` on the broker. Status shows the running
//! instance, its partitions and the lag of every partition it reads. Reset is refused while
//! an instance runs (naming it); a dry run
//! changes nothing; a reset moves the group's input offsets to the beginning, deletes the
//! changelog and repartition topics and the local state; and the next start rebuilds the
//! same word counts from the input.

mod support;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use serde_json::Value;
use support::http;
use tributary::engine::KafkaStreams;
use tributary::engine::internals::{
    KafkaCollector, OutgoingRecord, RecordCollector, TopicAdmin, changelog_topic,
};

const LINES: &[&str] = &["to be or not to be", "that is the question", "to be"];

/// `tributary reset --config <config> --input <input> <extra…>`.
fn reset(config: &Path, input: &str, extra: &[&str]) -> Output {
    tributary_cli("reset", config, input, extra)
}

/// `tributary <command> --config <config> --input <input> <extra…>`.
fn tributary_cli(command: &str, config: &Path, input: &str, extra: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_tributary"))
        .args([command, "--config"])
        .arg(config)
        .args(["--input", input])
        .args(extra)
        .output()
        .expect("the tributary binary runs")
}

fn text(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// Every word count the instance at `address` serves, once the group has caught up.
fn counts(
    streams: &KafkaStreams,
    config: &tributary::StreamsConfig,
    lines: &str,
) -> BTreeMap<String, i64> {
    let app = &config.application_id;
    let repartition = format!("{app}-words-repartition");
    support::worker::await_caught_up(
        config,
        app,
        &[(lines, 2), (repartition.as_str(), 2)],
        Duration::from_secs(120),
        || {},
    );
    let address = streams.server_address().expect("a query server");
    let url = format!("http://{address}/v1/stores/word-counts/entries?limit=1000");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let reply = http::get_ok(&url, Duration::from_secs(30));
        let counts: BTreeMap<String, i64> = reply.json()["entries"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|e: &Value| {
                (
                    e["key"].as_str().unwrap().to_owned(),
                    e["value"].as_i64().unwrap(),
                )
            })
            .collect();
        if counts.get("to") == Some(&3) || Instant::now() > deadline {
            return counts;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn a_reset_replays_the_inputs_and_rebuilds_the_same_state() {
    let app = support::unique("reset");
    let (config, state) = support::streams_config(&app, &[("commit.interval.ms", "200")]);
    let (lines, out) = (format!("{app}-lines"), format!("{app}-counts"));
    let admin = TopicAdmin::new(&config).unwrap();
    admin.create_topic(&lines, 2, &[]).unwrap();
    admin.create_topic(&out, 2, &[]).unwrap();
    let mut producer = KafkaCollector::new(&config).unwrap();
    for (i, line) in LINES.iter().enumerate() {
        producer
            .send(OutgoingRecord {
                topic: &lines,
                partition: i as i32 % 2,
                key: None,
                value: Some(line.as_bytes()),
                timestamp: i as i64,
                headers: &Vec::new(),
            })
            .unwrap();
    }
    producer.flush().unwrap();
    let toml = state.path().join("app.toml");
    std::fs::write(
        &toml,
        format!(
            "\"application.id\" = {app:?}\n\"bootstrap.servers\" = {:?}\n\"state.dir\" = {:?}\n",
            support::bootstrap(),
            state.path().to_str().unwrap()
        ),
    )
    .unwrap();

    let topology = || tributary::topologies::word_count(&lines, &out).unwrap();
    let mut streams = KafkaStreams::new(topology(), config.clone());
    streams.start().unwrap();
    let before = counts(&streams, &config, &lines);
    assert_eq!(before.get("be"), Some(&3), "{before:?}");

    let status = tributary_cli("status", &toml, &lines, &[]);
    let shown = text(&status);
    assert!(status.status.success(), "{shown}");
    let address = streams.server_address().unwrap().to_string();
    assert!(
        shown.contains("1 active member(s)")
            && shown.contains(&address)
            && shown.contains("word-counts: active [0, 1]"),
        "the running instance and its partitions: {shown}"
    );
    let lag_rows: Vec<&str> = shown
        .lines()
        .filter(|l| l.starts_with(&lines) || l.contains("-words-repartition"))
        .collect();
    assert_eq!(
        lag_rows.len(),
        4,
        "two partitions of the input and of the repartition topic: {shown}"
    );
    assert!(
        lag_rows.iter().all(|row| row.ends_with(" 0")),
        "caught up everywhere: {shown}"
    );

    let refused = reset(&toml, &lines, &[]);
    assert!(
        !refused.status.success(),
        "refused while running: {}",
        text(&refused)
    );
    assert!(
        text(&refused).contains("active member") && text(&refused).contains("stop every instance"),
        "names the running members: {}",
        text(&refused)
    );
    streams.close(Duration::from_secs(30)).unwrap();
    drop(streams);

    let changelog = changelog_topic(&app, "word-counts");
    let app_state = state.path().join(&app);
    let dry = reset(&toml, &lines, &["--dry-run"]);
    assert!(dry.status.success(), "{}", text(&dry));
    assert!(
        text(&dry).contains(&format!("delete internal topic `{changelog}`"))
            && text(&dry).contains("resume at offset 0")
            && text(&dry).contains("nothing was changed"),
        "{}",
        text(&dry)
    );
    assert!(app_state.exists(), "a dry run keeps the local state");

    let done = reset(&toml, &lines, &["--to-earliest"]);
    assert!(done.status.success(), "{}", text(&done));
    assert!(!app_state.exists(), "the local state is deleted");
    let committed = admin.committed_offsets(&app, &lines, 2).unwrap();
    assert_eq!(
        committed,
        vec![Some(0), Some(0)],
        "the input offsets are back at 0"
    );
    let deadline = Instant::now() + Duration::from_secs(30);
    while admin
        .partition_counts(std::slice::from_ref(&changelog))
        .unwrap()
        .contains_key(&changelog)
    {
        assert!(
            Instant::now() < deadline,
            "the changelog `{changelog}` is deleted"
        );
        std::thread::sleep(Duration::from_millis(200));
    }

    let mut streams = KafkaStreams::new(topology(), config.clone());
    streams.start().unwrap();
    let after = counts(&streams, &config, &lines);
    streams.close(Duration::from_secs(30)).unwrap();
    assert_eq!(after, before, "the replay rebuilds the same counts");

    let bad = reset(&toml, "no-such-topic", &["--by-duration", "2h"]);
    assert!(
        !bad.status.success() && text(&bad).contains("`no-such-topic` does not exist"),
        "{}",
        text(&bad)
    );
}
