//! A subscription's snapshot is read while the store keeps taking writes: the snapshot is
//! taken (in constant time) as the subscriber joins the change feed, then read outside the
//! feed's lock. Writes made while a 100,000-entry snapshot is being read go through, reach
//! the subscriber as changes, and stay out of the snapshot.

use std::ops::Bound;
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tributary_state::{
    AppliedChange, CachingKeyValueStore, ChangeLoggingKeyValueStore, ChangeSubscriber, Delivery,
    DiscardingChangelog, FeedEnd, InMemoryKeyValueStore, KeyValueStore, MemoryBudget,
    ReadOnlyKeyValueStore, RocksDbKeyValueStore,
};

const ENTRIES: usize = 100_000;
const WRITES: usize = 1_000;

/// Keeps the keys of the changes it is handed.
struct Recorder(Arc<Mutex<Vec<Vec<u8>>>>);

impl ChangeSubscriber for Recorder {
    fn matches(&self, _: &[u8]) -> bool {
        true
    }
    fn deliver(&mut self, change: AppliedChange<'_>) -> Delivery {
        self.0.lock().unwrap().push(change.key.to_vec());
        Delivery::Queued
    }
    fn end(&mut self, _: FeedEnd) {}
}

fn key(i: usize) -> Vec<u8> {
    format!("key-{i:08}").into_bytes()
}

fn writes_go_on_while_a_snapshot_is_read(inner: Box<dyn KeyValueStore>) {
    let logged =
        ChangeLoggingKeyValueStore::new(inner, "t".into(), 0, Box::new(DiscardingChangelog));
    let mut store = CachingKeyValueStore::new(logged, None);
    for i in 0..ENTRIES {
        store.put(&key(i), Some(b"v"), 1).unwrap();
    }
    let (reader, feed) = (store.read_only_handle(), store.feed());
    let changes = Arc::new(Mutex::new(Vec::new()));
    let (started_tx, started) = mpsc::channel();
    let (release, release_rx) = mpsc::channel::<()>();
    let recorder = Box::new(Recorder(changes.clone()));
    let scanner = std::thread::spawn(move || {
        let mut subscriber = Some(recorder as Box<dyn ChangeSubscriber>);
        let (mut seen, mut waited_out) = (0usize, false);
        reader
            .snapshot_scan(
                Bound::Unbounded,
                Bound::Unbounded,
                &mut |take| {
                    let subscriber = subscriber.take().expect("one snapshot");
                    feed.subscribe(subscriber, take).is_ok()
                },
                &mut |_, _| {
                    seen += 1;
                    if seen == 1 {
                        // Hold the read open until the writer is done. Should the writer
                        // wait for this read, give up after a minute (and say so) rather
                        // than hang.
                        started_tx.send(()).unwrap();
                        waited_out = release_rx.recv_timeout(Duration::from_secs(60)).is_err();
                    }
                    true
                },
            )
            .unwrap();
        (seen, waited_out)
    });
    started
        .recv_timeout(Duration::from_secs(60))
        .expect("the snapshot starts being read");
    // The snapshot is open and being read: these writes must not wait for it.
    for i in 0..WRITES {
        store.put(&key(ENTRIES + i), Some(b"new"), 2).unwrap();
    }
    let _ = release.send(());
    let (seen, waited_out) = scanner.join().unwrap();
    assert!(
        !waited_out,
        "the writes waited for the snapshot read to end"
    );
    assert_eq!(
        seen, ENTRIES,
        "the snapshot holds what was there when it was taken"
    );
    let delivered = changes.lock().unwrap().clone();
    let expected: Vec<Vec<u8>> = (0..WRITES).map(|i| key(ENTRIES + i)).collect();
    assert_eq!(
        delivered, expected,
        "every later write reaches the subscriber, once, in order"
    );
    assert_eq!(store.feed().subscribers(), 1);
}

#[test]
fn rocksdb_stores_take_writes_while_a_snapshot_is_read() {
    let dir = tempfile::tempdir().unwrap();
    let budget = MemoryBudget::new(64 << 20);
    let store = RocksDbKeyValueStore::open("s", dir.path(), &budget).unwrap();
    writes_go_on_while_a_snapshot_is_read(Box::new(store));
}

#[test]
fn in_memory_stores_take_writes_while_a_snapshot_is_read() {
    writes_go_on_while_a_snapshot_is_read(Box::new(InMemoryKeyValueStore::new("s")));
}
