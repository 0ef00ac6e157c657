//! Model-based property tests: the RocksDB and in-memory stores must behave exactly like a
//! `BTreeMap` under random sequences of writes, deletes, batches, range and prefix scans.

use std::collections::BTreeMap;
use std::ops::Bound;

use proptest::prelude::*;
use tributary_state::{
    InMemoryKeyValueStore, KeyValueStore, MemoryBudget, ReadOnlyKeyValueStore, RocksDbKeyValueStore,
};

#[derive(Debug, Clone)]
enum Op {
    Put(Vec<u8>, Vec<u8>),
    Delete(Vec<u8>),
    Batch(Vec<(Vec<u8>, Option<Vec<u8>>)>),
    Get(Vec<u8>),
    Range(Bound<Vec<u8>>, Bound<Vec<u8>>),
    Prefix(Vec<u8>),
    All,
}

fn key() -> impl Strategy<Value = Vec<u8>> {
    // Few distinct bytes so that keys collide, share prefixes and touch 0x00 / 0xFF edges.
    prop::collection::vec(
        prop::sample::select(vec![0u8, 1, 2, b'a', b'b', 0xFE, 0xFF]),
        0..4,
    )
}

fn bound() -> impl Strategy<Value = Bound<Vec<u8>>> {
    prop_oneof![
        key().prop_map(Bound::Included),
        key().prop_map(Bound::Excluded),
        Just(Bound::Unbounded),
    ]
}

fn op() -> impl Strategy<Value = Op> {
    let value = prop::collection::vec(any::<u8>(), 0..8);
    prop_oneof![
        4 => (key(), value.clone()).prop_map(|(k, v)| Op::Put(k, v)),
        2 => key().prop_map(Op::Delete),
        2 => prop::collection::vec((key(), prop::option::of(value)), 0..6).prop_map(Op::Batch),
        2 => key().prop_map(Op::Get),
        2 => (bound(), bound()).prop_map(|(a, b)| Op::Range(a, b)),
        2 => key().prop_map(Op::Prefix),
        1 => Just(Op::All),
    ]
}

fn as_ref(b: &Bound<Vec<u8>>) -> Bound<&[u8]> {
    match b {
        Bound::Included(k) => Bound::Included(k.as_slice()),
        Bound::Excluded(k) => Bound::Excluded(k.as_slice()),
        Bound::Unbounded => Bound::Unbounded,
    }
}

fn model_range(
    model: &BTreeMap<Vec<u8>, Vec<u8>>,
    from: Bound<&[u8]>,
    to: Bound<&[u8]>,
) -> Vec<(Vec<u8>, Vec<u8>)> {
    model
        .iter()
        .filter(|(k, _)| tributary_state::kv::in_bounds(k, from, to))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

fn check(store: &mut dyn KeyValueStore, ops: &[Op]) {
    let mut model: BTreeMap<Vec<u8>, Vec<u8>> = BTreeMap::new();
    let collect = |it: tributary_state::KvIter<'_>| it.collect::<Result<Vec<_>, _>>().unwrap();
    for op in ops {
        match op {
            Op::Put(k, v) => {
                store.put(k, v).unwrap();
                model.insert(k.clone(), v.clone());
            }
            Op::Delete(k) => {
                store.delete(k).unwrap();
                model.remove(k);
            }
            Op::Batch(entries) => {
                let refs: Vec<_> = entries
                    .iter()
                    .map(|(k, v)| (k.as_slice(), v.as_deref()))
                    .collect();
                store.put_all(&refs).unwrap();
                for (k, v) in entries {
                    match v {
                        Some(v) => model.insert(k.clone(), v.clone()),
                        None => model.remove(k),
                    };
                }
            }
            Op::Get(k) => assert_eq!(store.get(k).unwrap(), model.get(k).cloned(), "get {k:?}"),
            Op::Range(from, to) => {
                let got = collect(store.range(as_ref(from), as_ref(to)).unwrap());
                assert_eq!(
                    got,
                    model_range(&model, as_ref(from), as_ref(to)),
                    "range {from:?}..{to:?}"
                );
            }
            Op::Prefix(p) => {
                let got = collect(store.prefix_scan(p).unwrap());
                let want: Vec<_> = model
                    .iter()
                    .filter(|(k, _)| k.starts_with(p))
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect();
                assert_eq!(got, want, "prefix {p:?}");
            }
            Op::All => assert_eq!(
                collect(store.all().unwrap()),
                model_range(&model, Bound::Unbounded, Bound::Unbounded)
            ),
        }
    }
    // A read-only handle sees the same final state.
    let handle = store.read_only_handle();
    assert_eq!(
        collect(handle.all().unwrap()),
        model_range(&model, Bound::Unbounded, Bound::Unbounded)
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn in_memory_store_matches_a_btreemap(ops in prop::collection::vec(op(), 1..60)) {
        check(&mut InMemoryKeyValueStore::new("model"), &ops);
    }

    #[test]
    fn rocksdb_store_matches_a_btreemap(ops in prop::collection::vec(op(), 1..60)) {
        let dir = tempfile::tempdir().unwrap();
        let budget = MemoryBudget::new(8 << 20);
        let mut store = RocksDbKeyValueStore::open("model", dir.path(), &budget).unwrap();
        check(&mut store, &ops);
    }
}

#[test]
fn rocksdb_state_survives_flush_and_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let budget = MemoryBudget::new(8 << 20);
    {
        let mut store = RocksDbKeyValueStore::open("s", dir.path(), &budget).unwrap();
        store.put(b"k", b"v").unwrap();
        store.flush().unwrap();
    }
    let store = RocksDbKeyValueStore::open("s", dir.path(), &budget).unwrap();
    assert_eq!(store.get(b"k").unwrap(), Some(b"v".to_vec()));
    assert_eq!(store.approximate_num_entries().unwrap(), 1);
}

#[test]
fn a_second_open_of_the_same_directory_is_refused_with_the_store_name() {
    let dir = tempfile::tempdir().unwrap();
    let budget = MemoryBudget::new(8 << 20);
    let _first = RocksDbKeyValueStore::open("counts", dir.path(), &budget).unwrap();
    let err = RocksDbKeyValueStore::open("counts", dir.path(), &budget)
        .err()
        .expect("second open must fail");
    assert!(err.to_string().contains("`counts`"), "{err}");
}
