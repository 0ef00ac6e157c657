//! A custom processor with a store and both punctuation types.

use std::time::Duration;

use tributary::engine::processor::{Processor, ProcessorContext, PunctuationType, ScheduleId};
use tributary::engine::serde::{I64Serde, StringSerde};
use tributary::engine::store::StoreBuilder;
use tributary::{
    Consumed, Produced, Record, StreamsBuilder, StreamsConfig, StreamsError, TopologyTestDriver,
};

/// Counts records per key in a store; on each punctuation, emits which clock fired, at
/// what time, and how many records the store has counted in total.
#[derive(Default)]
struct Ticker {
    stream: Option<ScheduleId>,
    wall: Option<ScheduleId>,
}

impl Processor<String, String, String, String> for Ticker {
    fn init(&mut self, ctx: &mut ProcessorContext<'_, String, String>) -> Result<(), StreamsError> {
        self.stream = Some(ctx.schedule(Duration::from_millis(10), PunctuationType::StreamTime));
        self.wall = Some(ctx.schedule(Duration::from_secs(1), PunctuationType::WallClockTime));
        Ok(())
    }

    fn process(
        &mut self,
        ctx: &mut ProcessorContext<'_, String, String>,
        record: Record<String, String>,
    ) -> Result<(), StreamsError> {
        let mut store = ctx.key_value_store::<String, i64>("seen")?;
        let n = store.get(&record.key)?.unwrap_or(0);
        store.put(&record.key, &(n + 1))
    }

    fn punctuate(
        &mut self,
        ctx: &mut ProcessorContext<'_, String, String>,
        schedule: ScheduleId,
        timestamp: i64,
    ) -> Result<(), StreamsError> {
        let clock = if Some(schedule) == self.stream {
            "stream"
        } else {
            "wall"
        };
        let store = ctx.key_value_store::<String, i64>("seen")?;
        let total: i64 = store.all()?.into_iter().map(|(_, n)| n).sum();
        ctx.forward(Record::new(
            clock.to_owned(),
            format!("{timestamp}:{total}"),
            timestamp,
        ))
    }
}

#[test]
fn stream_time_and_wall_clock_punctuations_fire_on_their_own_clocks() {
    let builder = StreamsBuilder::new();
    builder.add_state_store(StoreBuilder::key_value("seen", StringSerde, I64Serde));
    builder
        .stream("events", Consumed::with(StringSerde, StringSerde))
        .process(Ticker::default, &["seen"])
        .to("ticks", Produced::with(StringSerde, StringSerde));
    let driver =
        TopologyTestDriver::new(builder.build().unwrap(), StreamsConfig::new("ticks")).unwrap();
    let input = driver
        .input_topic("events", StringSerde, StringSerde)
        .unwrap();
    let ticks = driver.output_topic("ticks", StringSerde, StringSerde);

    // Stream time starts at the first record (0): due at 10, then every 10 ms.
    input.pipe("a".into(), "x".into(), 0).unwrap();
    input.pipe("b".into(), "x".into(), 5).unwrap();
    assert!(ticks.is_empty(), "stream time 5 < 10");
    input.pipe("a".into(), "x".into(), 12).unwrap();
    // A jump over several intervals fires once.
    input.pipe("c".into(), "x".into(), 35).unwrap();
    // An out-of-order record does not move stream time back or fire.
    input.pipe("c".into(), "x".into(), 20).unwrap();
    assert_eq!(
        ticks.read_key_values().unwrap(),
        vec![
            ("stream".into(), "12:3".into()),
            ("stream".into(), "35:4".into())
        ]
    );

    // Wall clock: due at 1 s, then every second; records do not move it.
    driver
        .advance_wall_clock(Duration::from_millis(500))
        .unwrap();
    assert!(ticks.is_empty());
    driver
        .advance_wall_clock(Duration::from_millis(600))
        .unwrap();
    driver.advance_wall_clock(Duration::from_secs(3)).unwrap();
    assert_eq!(
        ticks.read_key_values().unwrap(),
        vec![
            ("wall".into(), "1100:5".into()),
            ("wall".into(), "4100:5".into())
        ]
    );
    assert_eq!(driver.metrics().punctuations, 4);
}
