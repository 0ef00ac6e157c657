//! When left and outer stream-stream joins emit a record that found no partner, case by
//! case as Kafka Streams' own processor tests have it: only once the record's window has
//! closed (its time + the other side's reach + grace passed by the stream time both inputs
//! share), emitted by a record of either side, in time order (right before left at one
//! time), duplicates included, asymmetric windows included — and a record that found a
//! partner is never emitted without one.

use std::time::Duration;

use tributary::engine::JoinWindows;
use tributary::engine::dsl::StreamJoined;
use tributary::engine::serde::{I64Serde, StringSerde};
use tributary::{Consumed, Produced, StreamsBuilder, StreamsConfig, TopologyTestDriver};

#[derive(Clone, Copy)]
enum Topic {
    Left,
    Right,
}

use Topic::{Left, Right};

#[derive(Clone, Copy)]
enum Kind {
    LeftJoin,
    OuterJoin,
}

/// Inputs (topic, key, value, time), then the results expected after them (key, value,
/// time), the joiner writing `left+right` and `null` for a missing side.
type Step = (
    &'static [(Topic, i64, &'static str, i64)],
    &'static [(i64, &'static str, i64)],
);

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn run(kind: Kind, windows: JoinWindows, steps: &[Step]) {
    let builder = StreamsBuilder::new();
    let left = builder.stream("left", Consumed::with(I64Serde, StringSerde));
    let right = builder.stream("right", Consumed::with(I64Serde, StringSerde));
    let text = |v: Option<&String>| v.cloned().unwrap_or_else(|| "null".into());
    let serdes = StreamJoined::with(I64Serde, StringSerde, StringSerde);
    let joined = match kind {
        Kind::LeftJoin => left.left_join(
            &right,
            move |l, r| format!("{l}+{}", text(r)),
            windows,
            serdes,
        ),
        Kind::OuterJoin => left.outer_join(
            &right,
            move |l, r| format!("{}+{}", text(l), text(r)),
            windows,
            serdes,
        ),
    };
    joined.to("out", Produced::with(I64Serde, StringSerde));
    let driver =
        TopologyTestDriver::new(builder.build().unwrap(), StreamsConfig::new("joins")).unwrap();
    let left = driver.input_topic("left", I64Serde, StringSerde).unwrap();
    let right = driver.input_topic("right", I64Serde, StringSerde).unwrap();
    let out = driver.output_topic("out", I64Serde, StringSerde);
    for (i, (inputs, want)) in steps.iter().enumerate() {
        for (topic, key, value, ts) in *inputs {
            let topic = match topic {
                Left => &left,
                Right => &right,
            };
            topic.pipe(*key, value.to_string(), *ts).unwrap();
        }
        let got: Vec<(i64, String, i64)> = out
            .read_records()
            .unwrap()
            .into_iter()
            .map(|r| (r.key, r.value, r.timestamp))
            .collect();
        let want: Vec<(i64, String, i64)> = want
            .iter()
            .map(|(k, v, ts)| (*k, v.to_string(), *ts))
            .collect();
        assert_eq!(got, want, "step {i}");
    }
}

#[test]
fn left_join_emits_unjoined_duplicates_once_their_window_closes() {
    run(
        Kind::LeftJoin,
        JoinWindows::of_time_difference_and_grace(ms(100), ms(10)),
        &[
            (
                &[
                    (Left, 0, "A0", 0),
                    (Left, 0, "A0-0", 0),
                    (Right, 1, "a0", 111),
                    (Right, 2, "dummy", 500),
                ],
                &[(0, "A0+null", 0), (0, "A0-0+null", 0)],
            ),
            (
                &[
                    (Left, 2, "A2", 1000),
                    (Left, 2, "A2-0", 1000),
                    (Right, 2, "a2", 1001),
                ],
                &[(2, "A2+a2", 1001), (2, "A2-0+a2", 1001)],
            ),
            (&[(Right, 3, "a3", 315)], &[]),
        ],
    );
}

#[test]
fn records_of_either_side_emit_closed_left_records() {
    for dummy in [Left, Right] {
        let other = match dummy {
            Left => Right,
            Right => Left,
        };
        run(
            Kind::LeftJoin,
            JoinWindows::of_time_difference_and_grace(ms(100), ms(0)),
            &[
                (
                    &[(Left, 0, "A0", 1), (Left, 1, "A1", 2), (Left, 0, "A0-0", 3)],
                    &[],
                ),
                (&[(Right, 1, "a1", 3)], &[(1, "A1+a1", 3)]),
                (
                    match dummy {
                        Left => &[(Left, 2, "dummy", 401)],
                        Right => &[(Right, 2, "dummy", 401)],
                    },
                    &[(0, "A0+null", 1), (0, "A0-0+null", 3)],
                ),
                (
                    match other {
                        Left => &[(Left, 2, "dummy", 402)],
                        Right => &[(Right, 2, "dummy", 402)],
                    },
                    &[(2, "dummy+dummy", 402)],
                ),
            ],
        );
    }
}

#[test]
fn a_left_join_never_emits_right_records_without_a_partner() {
    run(
        Kind::LeftJoin,
        JoinWindows::of_time_difference_with_no_grace(ms(100)),
        &[
            (
                &[
                    (Right, 0, "A0", 1),
                    (Right, 1, "A1", 2),
                    (Right, 0, "A0-0", 3),
                ],
                &[],
            ),
            (&[(Left, 1, "a1", 3)], &[(1, "a1+A1", 3)]),
            (&[(Right, 2, "dummy", 401)], &[]),
            (&[(Left, 2, "dummy", 402)], &[(2, "dummy+dummy", 402)]),
        ],
    );
}

#[test]
fn with_no_reach_after_a_record_closes_at_once_and_may_still_join_earlier_partners() {
    let a: Step = (
        &[
            (Left, 0, "A0", 1000),
            (Left, 1, "A1", 1001),
            (Left, 2, "A2", 1002),
            (Left, 3, "A3", 1003),
        ],
        &[
            (0, "A0+null", 1000),
            (1, "A1+null", 1001),
            (2, "A2+null", 1002),
        ],
    );
    let steps: Vec<Step> = vec![
        a,
        (
            &[
                (Right, 0, "a0", 999),
                (Right, 1, "a1", 999),
                (Right, 2, "a2", 999),
                (Right, 3, "a3", 999),
            ],
            &[
                (0, "A0+a0", 1000),
                (1, "A1+a1", 1001),
                (2, "A2+a2", 1002),
                (3, "A3+a3", 1003),
            ],
        ),
        (
            &[
                (Right, 0, "c0", 1001),
                (Right, 1, "c1", 1001),
                (Right, 2, "c2", 1001),
                (Right, 3, "c3", 1001),
            ],
            &[(1, "A1+c1", 1001), (2, "A2+c2", 1002), (3, "A3+c3", 1003)],
        ),
        (
            &[
                (Right, 0, "f0", 1100),
                (Right, 1, "f1", 1100),
                (Right, 2, "f2", 1100),
                (Right, 3, "f3", 1100),
            ],
            &[],
        ),
    ];
    run(
        Kind::LeftJoin,
        JoinWindows::of_time_difference_with_no_grace(ms(100)).after(Duration::ZERO),
        &steps,
    );
}

#[test]
fn closed_records_go_out_before_the_result_of_the_record_that_closed_them() {
    run(
        Kind::LeftJoin,
        JoinWindows::of_time_difference_with_no_grace(ms(100)),
        &[
            (&[(Left, 0, "A0", 0), (Left, 1, "A1", 100)], &[]),
            (
                &[(Right, 1, "a1", 110)],
                &[(0, "A0+null", 0), (1, "A1+a1", 110)],
            ),
        ],
    );
}

#[test]
fn grace_keeps_a_window_open_past_its_end() {
    run(
        Kind::LeftJoin,
        JoinWindows::of_time_difference_and_grace(ms(100), ms(10)),
        &[
            (&[(Left, 0, "A0", 0), (Left, 1, "A1", 0)], &[]),
            (
                &[
                    (Right, 0, "a0", 101),
                    (Right, 1, "a1", 101),
                    (Right, 2, "a2", 101),
                    (Right, 3, "a3", 101),
                ],
                &[],
            ),
            (
                &[(Right, 0, "dummy", 1201)],
                &[(0, "A0+null", 0), (1, "A1+null", 0)],
            ),
        ],
    );
}

#[test]
fn an_asymmetric_window_closes_by_its_own_reach() {
    run(
        Kind::LeftJoin,
        JoinWindows::of_time_difference_with_no_grace(ms(100)).before(Duration::ZERO),
        &[
            (&[(Left, 0, "A0", 0), (Left, 1, "A1", 1)], &[]),
            (&[(Right, 0, "a0", 100)], &[(0, "A0+a0", 100)]),
            (&[(Right, 1, "a1", 102)], &[(1, "A1+null", 1)]),
        ],
    );
}

#[test]
fn outer_join_emits_right_records_before_left_ones_of_the_same_time() {
    run(
        Kind::OuterJoin,
        JoinWindows::of_time_difference_and_grace(ms(100), ms(10)),
        &[
            (
                &[
                    (Left, 0, "A0", 0),
                    (Left, 0, "A0-0", 0),
                    (Right, 1, "11", 0),
                    (Right, 1, "12", 0),
                    (Right, 1, "10", 111),
                    (Right, 3, "100", 211),
                ],
                &[
                    (1, "null+11", 0),
                    (1, "null+12", 0),
                    (0, "A0+null", 0),
                    (0, "A0-0+null", 0),
                ],
            ),
            (
                &[
                    (Left, 2, "A2", 200),
                    (Left, 2, "A2-0", 200),
                    (Right, 2, "13", 201),
                    (Right, 2, "14", 201),
                ],
                &[
                    (2, "A2+13", 201),
                    (2, "A2-0+13", 201),
                    (2, "A2+14", 201),
                    (2, "A2-0+14", 201),
                ],
            ),
            (
                &[(Right, 3, "100", 1500)],
                &[(1, "null+10", 111), (3, "null+100", 211)],
            ),
        ],
    );
}

#[test]
fn records_of_either_side_emit_closed_right_records() {
    for (dummy, grace) in [(Left, None), (Right, Some(ms(0)))] {
        let windows = match grace {
            None => JoinWindows::of_time_difference_with_no_grace(ms(100)),
            Some(g) => JoinWindows::of_time_difference_and_grace(ms(100), g),
        };
        run(
            Kind::OuterJoin,
            windows,
            &[
                (
                    &[
                        (Right, 0, "10", 1),
                        (Right, 1, "11", 2),
                        (Right, 0, "12", 3),
                    ],
                    &[],
                ),
                (&[(Left, 1, "A1", 3)], &[(1, "A1+11", 3)]),
                (
                    match dummy {
                        Left => &[(Left, 2, "dummy", 401)],
                        Right => &[(Right, 2, "100", 401)],
                    },
                    &[(0, "null+10", 1), (0, "null+12", 3)],
                ),
            ],
        );
    }
}

#[test]
fn outer_join_grace_keeps_both_sides_waiting() {
    run(
        Kind::OuterJoin,
        JoinWindows::of_time_difference_and_grace(ms(100), ms(10)),
        &[
            (&[(Left, 0, "A0", 0), (Right, 1, "11", 0)], &[]),
            (&[(Left, 1, "A1", 101), (Right, 0, "10", 101)], &[]),
            (
                &[(Right, 0, "100", 112)],
                &[(1, "null+11", 0), (0, "A0+null", 0)],
            ),
        ],
    );
}

#[test]
fn outer_join_closes_each_side_by_its_own_reach() {
    run(
        Kind::OuterJoin,
        JoinWindows::of_time_difference_with_no_grace(ms(5)).after(ms(20)),
        &[
            (&[(Left, 0, "A0", 29)], &[]),
            (&[(Left, 1, "A1", 30)], &[]),
            (&[(Right, 2, "12", 31)], &[]),
            (&[(Right, 3, "13", 36)], &[]),
            (&[(Right, 4, "14", 37)], &[(2, "null+12", 31)]),
            (
                &[(Right, 5, "15", 50)],
                &[(0, "A0+null", 29), (3, "null+13", 36), (4, "null+14", 37)],
            ),
        ],
    );
}

#[test]
fn outer_join_with_no_reach_after_joins_later_records_within_before() {
    run(
        Kind::OuterJoin,
        JoinWindows::of_time_difference_with_no_grace(ms(100)).after(Duration::ZERO),
        &[
            (
                &[(Left, 0, "A0", 0), (Left, 1, "A1", 1)],
                &[(0, "A0+null", 0)],
            ),
            (&[(Right, 1, "11", 1)], &[(1, "A1+11", 1)]),
            (&[(Right, 2, "12", 101), (Right, 3, "13", 101)], &[]),
            (&[(Left, 2, "A2", 201)], &[(2, "A2+12", 201)]),
        ],
    );
}
