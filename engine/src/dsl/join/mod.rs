//! Joins, with Kafka Streams' semantics: stream-table ([`stream_table`]), table-table
//! ([`table_table`]), windowed stream-stream ([`stream_stream`]).
//!
//! Every join kind takes the user's value joiner in the shape its results need (Rust has
//! no overloading): an inner join's joiner sees both values, a left join's an optional
//! right one, an outer join's both optional. [`Joiner`] holds any of them and says which
//! results exist.

mod foreign_key;
mod stream_global;
mod stream_stream;
mod stream_table;
mod table_table;

use std::sync::Arc;

/// An inner join's joiner.
pub(crate) type InnerFn<L, R, VR> = Arc<dyn Fn(&L, &R) -> VR + Send + Sync>;
/// A left join's joiner.
pub(crate) type LeftFn<L, R, VR> = Arc<dyn Fn(&L, Option<&R>) -> VR + Send + Sync>;
/// An outer join's joiner.
pub(crate) type OuterFn<L, R, VR> = Arc<dyn Fn(Option<&L>, Option<&R>) -> VR + Send + Sync>;

/// What a join computes when values meet, for one join kind.
pub(crate) enum Joiner<L, R, VR> {
    /// A result needs both values.
    Inner(InnerFn<L, R, VR>),
    /// A result needs the left value.
    Left(LeftFn<L, R, VR>),
    /// A result needs either value.
    Outer(OuterFn<L, R, VR>),
}

impl<L, R, VR> Clone for Joiner<L, R, VR> {
    fn clone(&self) -> Self {
        match self {
            Self::Inner(f) => Self::Inner(f.clone()),
            Self::Left(f) => Self::Left(f.clone()),
            Self::Outer(f) => Self::Outer(f.clone()),
        }
    }
}

impl<L, R, VR> Joiner<L, R, VR> {
    /// The result of `left` meeting `right` (`None`: absent), if this join has one.
    pub(crate) fn join(&self, left: Option<&L>, right: Option<&R>) -> Option<VR> {
        match (self, left, right) {
            (Self::Inner(f), Some(l), Some(r)) => Some(f(l, r)),
            (Self::Left(f), Some(l), r) => Some(f(l, r)),
            (Self::Outer(f), l, r) if l.is_some() || r.is_some() => Some(f(l, r)),
            _ => None,
        }
    }

    /// Whether a left value without a right one has a result.
    pub(crate) fn keeps_left(&self) -> bool {
        !matches!(self, Self::Inner(_))
    }

    /// Whether a right value without a left one has a result.
    pub(crate) fn keeps_right(&self) -> bool {
        matches!(self, Self::Outer(_))
    }
}

/// A function from the values of one side and the other to the result, whichever side
/// "this" is: the left side's node calls the joiner as it is, the right side's with the
/// arguments swapped.
pub(crate) type SideJoin<T, O, VR> =
    Arc<dyn Fn(Option<&T>, Option<&O>) -> Option<VR> + Send + Sync>;

impl<L: 'static, R: 'static, VR: 'static> Joiner<L, R, VR> {
    /// The joiner as the left side calls it.
    pub(crate) fn for_left_side(&self) -> SideJoin<L, R, VR> {
        let joiner = self.clone();
        Arc::new(move |l, r| joiner.join(l, r))
    }

    /// The joiner as the right side calls it (its own value first).
    pub(crate) fn for_right_side(&self) -> SideJoin<R, L, VR> {
        let joiner = self.clone();
        Arc::new(move |r, l| joiner.join(l, r))
    }
}
