//! [`Acknowledged`]: how far, in the order records were sent, the brokers have acknowledged
//! every one of them.

use std::collections::VecDeque;

/// The records a producer sent, numbered in the order they were sent, of which every one
/// before [`Acknowledged::all_before`] is acknowledged. Acknowledgements of different
/// partitions arrive in any order; those past the first record still unacknowledged wait
/// here until it is. A record whose delivery failed is never acknowledged, so nothing after
/// it counts as acknowledged either.
#[derive(Debug, Default)]
pub(crate) struct Acknowledged {
    /// Every record numbered below this one is acknowledged.
    low: u64,
    /// Whether the records numbered `low`, `low + 1` … are acknowledged (the first is not).
    above: VecDeque<bool>,
}

impl Acknowledged {
    /// Notes that the record numbered `sequence` was acknowledged.
    pub(crate) fn acknowledge(&mut self, sequence: u64) {
        let Some(at) = sequence
            .checked_sub(self.low)
            .and_then(|at| usize::try_from(at).ok())
        else {
            return; // acknowledged already
        };
        if self.above.len() <= at {
            self.above.resize(at + 1, false);
        }
        self.above[at] = true;
        while self.above.front() == Some(&true) {
            self.above.pop_front();
            self.low += 1;
        }
    }

    /// The number of the first record not acknowledged yet: every record numbered below it
    /// is.
    pub(crate) fn all_before(&self) -> u64 {
        self.low
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn acknowledgements_count_once_every_earlier_record_is_acknowledged() {
        let mut acked = Acknowledged::default();
        assert_eq!(acked.all_before(), 0);
        acked.acknowledge(2);
        acked.acknowledge(1);
        assert_eq!(acked.all_before(), 0, "record 0 is still in flight");
        acked.acknowledge(0);
        assert_eq!(acked.all_before(), 3);
        acked.acknowledge(4);
        assert_eq!(acked.all_before(), 3);
        acked.acknowledge(3);
        assert_eq!(acked.all_before(), 5);
        acked.acknowledge(1);
        assert_eq!(
            acked.all_before(),
            5,
            "a repeated acknowledgement changes nothing"
        );
    }

    #[test]
    fn a_record_never_acknowledged_holds_back_everything_after_it() {
        let mut acked = Acknowledged::default();
        for sequence in (0..100).filter(|&s| s != 7) {
            acked.acknowledge(sequence);
        }
        assert_eq!(acked.all_before(), 7);
    }
}
