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
