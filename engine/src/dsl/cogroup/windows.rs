//! Cogrouped aggregations per window: [`CogroupedWindowedKStream`].

use std::sync::Arc;

use super::side::Init;
use super::stream::CogroupedKStream;
use crate::dsl::params::Materialized;
use crate::dsl::repartition::require;
use crate::dsl::windowed::{EmitStrategy, Kind, MergelessWindows, WindowKind, WindowPlan, kind_of};
use crate::dsl::{Data, KTable};
use crate::window::{SessionWindows, SlidingWindows, TimeWindows, Windowed};

/// Cogrouped streams cut into windows of kind `W` (Kafka Streams'
/// `TimeWindowedCogroupedKStream` and `SessionWindowedCogroupedKStream`): every input's
/// records fold into the aggregate of each of their windows, and every update is
/// forwarded.
pub struct CogroupedWindowedKStream<K, VA, W> {
    cogrouped: CogroupedKStream<K, VA>,
    windows: W,
}

impl<K: Data + PartialEq, VA: Data> CogroupedKStream<K, VA> {
    /// Aggregates per key and time window (see [`TimeWindows`]).
    pub fn windowed_by(self, windows: TimeWindows) -> CogroupedWindowedKStream<K, VA, TimeWindows> {
        CogroupedWindowedKStream {
            cogrouped: self,
            windows,
        }
    }

    /// Aggregates per key and sliding window (see [`SlidingWindows`]).
    pub fn windowed_by_sliding(
        self,
        windows: SlidingWindows,
    ) -> CogroupedWindowedKStream<K, VA, SlidingWindows> {
        CogroupedWindowedKStream {
            cogrouped: self,
            windows,
        }
    }

    /// Aggregates per key and session (see [`SessionWindows`]).
    pub fn windowed_by_session(
        self,
        windows: SessionWindows,
    ) -> CogroupedWindowedKStream<K, VA, SessionWindows> {
        CogroupedWindowedKStream {
            cogrouped: self,
            windows,
        }
    }
}

impl<K: Data + PartialEq, VA: Data, W: MergelessWindows> CogroupedWindowedKStream<K, VA, W> {
    /// Aggregates every input per key and window, starting each window from
    /// `initializer()`. The aggregate's serde must be given in `materialized`.
    pub fn aggregate(
        self,
        initializer: impl Fn() -> VA + Send + Sync + 'static,
        materialized: Materialized<K, VA>,
    ) -> KTable<Windowed<K>, VA> {
        self.build(Arc::new(initializer), None, materialized)
    }
}

impl<K: Data + PartialEq, VA: Data> CogroupedWindowedKStream<K, VA, SessionWindows> {
    /// Aggregates every input per key and session, starting each session from
    /// `initializer()`; when a record merges sessions, their aggregates are folded with
    /// `merger` into a fresh `initializer()` first. The aggregate's serde must be given in
    /// `materialized`.
    pub fn aggregate(
        self,
        initializer: impl Fn() -> VA + Send + Sync + 'static,
        merger: impl Fn(&K, VA, VA) -> VA + Send + Sync + 'static,
        materialized: Materialized<K, VA>,
    ) -> KTable<Windowed<K>, VA> {
        let init: Init<VA> = Arc::new(initializer);
        let start = init.clone();
        let merge = Arc::new(move |key: &K, acc: Option<VA>, session| {
            merger(key, acc.unwrap_or_else(|| start()), session)
        });
        self.build(init, Some(merge), materialized)
    }
}

impl<K: Data + PartialEq, VA: Data, W: WindowKind> CogroupedWindowedKStream<K, VA, W> {
    fn build(
        self,
        init: Init<VA>,
        merge: Option<Arc<crate::dsl::windowed::Merge<K, VA>>>,
        materialized: Materialized<K, VA>,
    ) -> KTable<Windowed<K>, VA> {
        let kind = kind_of(&self.windows);
        let node_kind = match kind {
            Kind::Time(_) => "cogroup-windowed-aggregate",
            Kind::Sliding(_) => "cogroup-sliding-aggregate",
            Kind::Session(_) => "cogroup-session-aggregate",
        };
        let cogrouped = self.cogrouped;
        let graph = &cogrouped.graph;
        let fix = "give it in `Materialized` (with_key_serde / with_value_serde) or upstream";
        let key_serde = materialized
            .key_serde
            .clone()
            .or(cogrouped.key_serde.clone());
        let key_serde = require(graph, key_serde, node_kind, "key", "store keys", fix);
        let value_serde = materialized.value_serde.clone();
        let value_serde = require(graph, value_serde, node_kind, "value", "store values", fix);
        let plan = WindowPlan::new(
            graph,
            kind,
            node_kind,
            (EmitStrategy::OnWindowUpdate, None),
            (key_serde, value_serde),
            &materialized,
        );
        let first = (
            cogrouped.first.input(node_kind),
            cogrouped.first.windowed(&plan, init.clone(), merge.clone()),
        );
        let more = cogrouped
            .more
            .iter()
            .map(|side| {
                (
                    side.input(node_kind),
                    side.windowed(&plan, init.clone(), merge.clone()),
                )
            })
            .collect();
        plan.add(graph, first, more, materialized.name)
    }
}
