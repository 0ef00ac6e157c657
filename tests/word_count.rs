//! Word count with a repartition step, run through the test driver on four partitions.

use std::collections::BTreeMap;

use tributary::engine::partitioner::partition_for;
use tributary::engine::serde::{I64Serde, StringSerde, nullable};
use tributary::{StreamsConfig, TopologyTestDriver};

const LINES: &[(&str, &str)] = &[
    ("doc-1", "the quick brown fox"),
    ("doc-2", "jumps over the lazy dog"),
    ("doc-3", "The dog barks"),
    ("doc-1", "the fox runs"),
    ("doc-4", "quick quick QUICK"),
];

fn expected() -> BTreeMap<String, i64> {
    let mut counts = BTreeMap::new();
    for (_, line) in LINES {
        for word in line.split_whitespace() {
            *counts.entry(word.to_lowercase()).or_insert(0) += 1;
        }
    }
    counts
}

#[test]
fn describe_shows_two_subtopologies_joined_by_the_repartition_topic() {
    let topology = tributary::topologies::word_count("lines", "word-counts").unwrap();
    let text = topology.describe();
    assert_eq!(topology.subtopologies().len(), 2, "{text}");
    assert!(
        text.contains("Sub-topology: 0") && text.contains("Sub-topology: 1"),
        "{text}"
    );
    let (first, second) = text.split_once("Sub-topology: 1").unwrap();
    assert!(
        first.contains("(topic: <application.id>-words-repartition)"),
        "sink in sub-topology 0:\n{text}"
    );
    assert!(
        second.contains("(topics: [<application.id>-words-repartition])"),
        "source in sub-topology 1:\n{text}"
    );
    assert!(second.contains("stores: [word-counts]"), "{text}");
    assert!(
        text.contains("<application.id>-word-counts-changelog (changelog"),
        "{text}"
    );
}

#[test]
fn counts_every_word_across_four_partitions() {
    let topology = tributary::topologies::word_count("lines", "word-counts").unwrap();
    let driver = TopologyTestDriver::builder(topology, StreamsConfig::new("wc"))
        .partitions("lines", 4)
        .build()
        .unwrap();
    assert_eq!(driver.tasks().len(), 8, "4 partitions × 2 sub-topologies");
    let input = driver
        .input_topic("lines", StringSerde, StringSerde)
        .unwrap();
    for (i, (doc, line)) in LINES.iter().enumerate() {
        input
            .pipe(doc.to_string(), line.to_string(), i as i64)
            .unwrap();
    }

    let store = driver
        .key_value_store::<String, i64>("word-counts")
        .unwrap();
    let want = expected();
    assert_eq!(
        store.all().unwrap().into_iter().collect::<BTreeMap<_, _>>(),
        want
    );
    for (word, count) in &want {
        assert_eq!(store.get(word).unwrap(), Some(*count), "{word}");
    }

    // The last count written per word is the final count.
    let out = driver.output_topic("word-counts", StringSerde, nullable(I64Serde));
    let mut last = BTreeMap::new();
    for (word, count) in out.read_key_values().unwrap() {
        last.insert(word, count.unwrap());
    }
    assert_eq!(last, want);

    // Every record on the repartition topic sits in its key's murmur2 partition.
    let repartitioned = driver.raw_records("wc-words-repartition");
    assert_eq!(repartitioned.len() as i64, want.values().sum::<i64>());
    for (partition, record) in repartitioned {
        assert_eq!(partition, partition_for(record.key.as_deref().unwrap(), 4));
    }
}
