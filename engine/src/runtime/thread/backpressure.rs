//! Back-pressure: which input partitions to pause because their tasks have too many
//! records buffered, and which paused ones to resume. A pure decision, applied to the
//! consumer by the stream thread.
//!
//! Pausing is the exception, not the rhythm: librdkafka drops what it has prefetched for a
//! paused partition and fetches it again on resume. The thread polls at most the limit per
//! round and its tasks drain their buffers every round, so a partition is paused only when
//! its task cannot keep up — above all while the task is still restoring its stores.

use std::collections::BTreeSet;

/// A topic and partition.
pub(crate) type Partition = (String, i32);

/// What to change: partitions to pause and partitions to resume.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Decision {
    pub(crate) pause: Vec<Partition>,
    pub(crate) resume: Vec<Partition>,
}

/// Pauses a partition once `limit` records of it are buffered; resumes it when fewer than
/// half of that remain, so that a partition near the limit does not flip on every round.
/// Partitions no longer assigned (absent from `buffered`) are dropped from `paused`.
pub(crate) fn decide(
    buffered: &[(Partition, usize)],
    paused: &mut BTreeSet<Partition>,
    limit: usize,
) -> Decision {
    let mut decision = Decision::default();
    paused.retain(|p| buffered.iter().any(|(b, _)| b == p));
    for (partition, count) in buffered {
        let is_paused = paused.contains(partition);
        if !is_paused && *count >= limit {
            paused.insert(partition.clone());
            decision.pause.push(partition.clone());
        } else if is_paused && *count < limit.div_ceil(2) {
            paused.remove(partition);
            decision.resume.push(partition.clone());
        }
    }
    decision
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(n: i32) -> Partition {
        ("events".to_owned(), n)
    }

    #[test]
    fn pauses_at_the_limit_and_resumes_below_half() {
        let mut paused = BTreeSet::new();
        let d = decide(&[(p(0), 1000), (p(1), 999)], &mut paused, 1000);
        assert_eq!(
            d,
            Decision {
                pause: vec![p(0)],
                resume: vec![]
            }
        );
        // Still above half: stays paused, nothing changes.
        assert_eq!(
            decide(&[(p(0), 600), (p(1), 10)], &mut paused, 1000),
            Decision::default()
        );
        let d = decide(&[(p(0), 499), (p(1), 10)], &mut paused, 1000);
        assert_eq!(
            d,
            Decision {
                pause: vec![],
                resume: vec![p(0)]
            }
        );
        assert!(paused.is_empty());
    }

    #[test]
    fn revoked_partitions_are_forgotten() {
        let mut paused = BTreeSet::from([p(3)]);
        assert_eq!(decide(&[(p(0), 0)], &mut paused, 10), Decision::default());
        assert!(paused.is_empty());
    }
}
