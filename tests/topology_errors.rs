//! Topology errors name the operator, store or topic at fault and say how to fix it; and
//! generated names stay stable when unrelated operators are added.

use tributary::engine::processor::{Processor, ProcessorContext};
use tributary::engine::serde::{I64Serde, StringSerde};
use tributary::engine::store::StoreBuilder;
use tributary::{
    Consumed, Grouped, Materialized, Produced, Record, StreamsBuilder, StreamsConfig, StreamsError,
    TopologyError, TopologyTestDriver,
};

struct Noop;
impl Processor<String, String, String, String> for Noop {
    fn process(
        &mut self,
        _: &mut ProcessorContext<'_, String, String>,
        _: Record<String, String>,
    ) -> Result<(), StreamsError> {
        Ok(())
    }
}

fn strings() -> Consumed<String, String> {
    Consumed::with(StringSerde, StringSerde)
}

#[test]
fn an_unknown_store_lists_the_known_ones() {
    let builder = StreamsBuilder::new();
    builder.add_state_store(StoreBuilder::key_value("seen", StringSerde, I64Serde));
    builder
        .stream("in", strings())
        .process(|| Noop, &["sen"])
        .named("dedupe");
    let err = builder.build().err().unwrap();
    assert!(matches!(err, TopologyError::UnknownStore { .. }));
    let text = err.to_string();
    assert!(
        text.contains("operator `dedupe` uses store `sen`")
            && text.contains("stores: seen")
            && text.contains("add_state_store"),
        "{text}"
    );
}

#[test]
fn duplicate_operator_and_store_names_are_refused() {
    let builder = StreamsBuilder::new();
    let s = builder.stream("in", strings());
    s.filter(|_, _| true).named("keep");
    s.filter(|_, _| false).named("keep");
    assert_eq!(
        builder.build().err().unwrap(),
        TopologyError::DuplicateName {
            name: "keep".into()
        }
    );

    let builder = StreamsBuilder::new();
    let s = builder.stream("in", strings());
    s.group_by_key(Grouped::new())
        .count(Materialized::named("counts"));
    s.group_by_key(Grouped::new())
        .count(Materialized::named("counts"));
    let err = builder.build().err().unwrap();
    assert!(
        err.to_string().contains("two stores are named `counts`"),
        "{err}"
    );
}

#[test]
fn co_partitioned_inputs_with_different_counts_are_refused() {
    let builder = StreamsBuilder::new();
    let orders = builder.stream("orders", strings());
    let refunds = builder.stream("refunds", strings());
    orders
        .merge(&refunds)
        .group_by_key(Grouped::new())
        .count(Materialized::named("activity"));
    let topology = builder.build().unwrap();
    let err = TopologyTestDriver::builder(topology, StreamsConfig::new("cp"))
        .partitions("orders", 6)
        .partitions("refunds", 4)
        .build()
        .err()
        .unwrap()
        .to_string();
    assert!(
        err.contains("topic `orders` has 6 partitions but `refunds` has 4"),
        "{err}"
    );
    assert!(
        err.contains("stores: activity") && err.contains("need equal partition counts"),
        "{err}"
    );
}

#[test]
fn explicit_naming_refuses_generated_store_and_topic_names() {
    let builder = StreamsBuilder::new();
    builder.ensure_explicit_internal_resource_naming();
    builder
        .stream("in", strings())
        .group_by_key(Grouped::new())
        .count(Materialized::new());
    let err = builder.build().err().unwrap().to_string();
    assert!(
        err.contains("the store of `count-") && err.contains("Materialized::named"),
        "{err}"
    );

    let builder = StreamsBuilder::new();
    builder.ensure_explicit_internal_resource_naming();
    builder
        .stream("in", strings())
        .group_by(|_, v| v.clone(), Grouped::with(StringSerde, StringSerde))
        .count(Materialized::named("counts"));
    let err = builder.build().err().unwrap().to_string();
    assert!(
        err.contains("the repartition topic after `group-by-") && err.contains("Grouped::named"),
        "{err}"
    );
}

#[test]
fn a_missing_serde_names_the_operator_and_the_fix() {
    let builder = StreamsBuilder::new();
    builder
        .stream("in", strings())
        .map(|k, v| (v, k))
        .group_by_key(Grouped::new())
        .count(Materialized::named("counts"));
    let err = builder.build().err().unwrap().to_string();
    assert!(
        err.contains("`count` needs a key serde to write the repartition topic")
            && err.contains("Grouped::with"),
        "{err}"
    );
}

#[test]
fn a_topology_without_sources_is_refused() {
    assert_eq!(
        StreamsBuilder::new().build().err().unwrap(),
        TopologyError::NoSource
    );
}

fn store_and_topic_names(extra: bool) -> Vec<String> {
    let builder = StreamsBuilder::new();
    if extra {
        // Unrelated operators, added before and beside the counted chain.
        let other = builder.stream("audit", strings());
        other
            .filter(|_, _| true)
            .to("audit-copy", Produced::with(StringSerde, StringSerde));
    }
    let clicks = builder.stream("clicks", strings());
    if extra {
        clicks
            .peek(|_, _| {})
            .to("clicks-copy", Produced::with(StringSerde, StringSerde));
    }
    clicks
        .filter(|_, v| !v.is_empty())
        .group_by(|_, v| v.clone(), Grouped::with(StringSerde, StringSerde))
        .count(Materialized::new());
    let topology = builder.build().unwrap();
    let mut names: Vec<String> = topology
        .stores()
        .iter()
        .map(|s| s.name().to_owned())
        .collect();
    names.extend(
        topology
            .internal_topics()
            .into_iter()
            .map(|t| t.name.to_string()),
    );
    names
}

#[test]
fn generated_names_are_stable_when_unrelated_operators_are_added() {
    let plain = store_and_topic_names(false);
    assert_eq!(plain.len(), 3, "{plain:?}");
    assert_eq!(plain, store_and_topic_names(true));
}

#[test]
fn joined_inputs_with_different_counts_are_refused_with_both_topics_named() {
    use std::time::Duration;
    use tributary::engine::JoinWindows;
    use tributary::engine::dsl::{Joined, StreamJoined};
    /// A kind of join and the topology that builds it over `left` and `right`.
    type Join = (&'static str, fn(&StreamsBuilder));
    let joins: [Join; 3] = [
        ("stream-table", |builder| {
            let users = builder.table("right", strings(), Materialized::new());
            builder.stream("left", strings()).join_table(
                &users,
                |a, b| format!("{a}{b}"),
                Joined::new(),
            );
        }),
        ("table-table", |builder| {
            let left = builder.table("left", strings(), Materialized::new());
            let right = builder.table("right", strings(), Materialized::new());
            left.join(
                &right,
                |a, b| format!("{a}{b}"),
                Materialized::new().with_value_serde(StringSerde),
            );
        }),
        ("stream-stream", |builder| {
            let left = builder.stream("left", strings());
            let right = builder.stream("right", strings());
            left.join(
                &right,
                |a, b| format!("{a}{b}"),
                JoinWindows::of_time_difference_with_no_grace(Duration::from_secs(1)),
                StreamJoined::new(),
            );
        }),
    ];
    for (kind, join) in joins {
        let builder = StreamsBuilder::new();
        join(&builder);
        let err = TopologyTestDriver::builder(builder.build().unwrap(), StreamsConfig::new("cp"))
            .partitions("left", 3)
            .partitions("right", 2)
            .build()
            .err()
            .unwrap()
            .to_string();
        assert!(
            err.contains("`left` has 3 partitions but `right` has 2")
                || err.contains("`right` has 2 partitions but `left` has 3"),
            "{kind}: {err}"
        );
    }
}

#[test]
fn a_rekeyed_stream_is_repartitioned_before_a_join_and_describe_shows_the_join() {
    use tributary::engine::dsl::Joined;
    let builder = StreamsBuilder::new();
    let users = builder.table("users", strings(), Materialized::named("users"));
    builder
        .stream("clicks", strings())
        .select_key(|_, v| v.clone())
        .join_table(
            &users,
            |a, b| format!("{a}{b}"),
            Joined::with(StringSerde, StringSerde).with_name("clicks-by-user"),
        )
        .to("out", Produced::with(StringSerde, StringSerde));
    let description = builder.build().unwrap().describe();
    for part in [
        "<application.id>-clicks-by-user-repartition",
        "(stream-table-join; stores: [users])",
    ] {
        assert!(description.contains(part), "{part} in\n{description}");
    }
}

#[test]
fn a_global_tables_topic_cannot_also_be_streamed() {
    let builder = StreamsBuilder::new();
    builder.global_table("countries", strings(), Materialized::new());
    builder
        .stream("countries", strings())
        .to("copy", Produced::with(StringSerde, StringSerde));
    let err = builder.build().err().unwrap();
    assert_eq!(
        err,
        TopologyError::GlobalTopicReadTwice {
            topic: "countries".into()
        }
    );
    assert!(err.to_string().contains("its topic's only reader"), "{err}");
}
