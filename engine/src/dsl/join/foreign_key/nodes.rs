//! The four processors of a foreign-key join (KIP-213): the row side sends subscriptions,
//! the foreign side keeps them and answers, and the row side turns the answers for a row's
//! current value into results.

use std::ops::Bound;
use std::sync::Arc;

use tributary_state::kv::prefix_successor;

use super::wire::{CombinedKey, Instruction, Response, Subscription, foreign_prefix, value_hash};
use crate::dsl::Data;
use crate::dsl::join::Joiner;
use crate::dsl::ktable::view::Getter;
use crate::error::{RecordPart, StreamsError};
use crate::processor::TaskContext;
use crate::processor::node::{Forward, Node};
use crate::record::{Change, Headers, Record};
use crate::serde::{SerdeRef, encode};
use crate::store::KeyValueStore;

/// The hash of a row's serialized value (`None` for no row), which subscriptions carry
/// and responses must match to be current.
fn row_hash<V>(
    kind: &str,
    value_serde: &SerdeRef<V>,
    row: Option<&V>,
) -> Result<Option<u128>, StreamsError> {
    let Some(value) = row else {
        return Ok(None);
    };
    let mut bytes = Vec::new();
    encode(&**value_serde, value, &mut bytes).map_err(|source| StreamsError::Serialization {
        target: format!("the row hash of `{kind}`"),
        part: RecordPart::Value,
        source,
    })?;
    Ok(Some(value_hash(&bytes)))
}

/// Extracts a row's foreign key (`None`: the row has none).
pub(crate) type ForeignKeyFn<V, KO> = Arc<dyn Fn(&V) -> Option<KO> + Send + Sync>;

/// The row side's first processor (Kafka Streams' `SubscriptionSendProcessorSupplier`):
/// each update of a row subscribes it to its foreign key, unsubscribes it from the one it
/// left, and says what the foreign side must answer.
pub(crate) struct SubscriptionSend<K, V, KO> {
    pub(crate) kind: &'static str,
    pub(crate) foreign_key: ForeignKeyFn<V, KO>,
    pub(crate) foreign_key_serde: SerdeRef<KO>,
    pub(crate) value_serde: SerdeRef<V>,
    pub(crate) left: bool,
    pub(crate) forward: Forward<Option<KO>, Subscription<K>>,
}

impl<K: Data, V: Data, KO: Data> SubscriptionSend<K, V, KO> {
    fn bytes(&self, key: &Option<KO>) -> Result<Option<Vec<u8>>, StreamsError> {
        let Some(key) = key else { return Ok(None) };
        let mut out = Vec::new();
        encode(&*self.foreign_key_serde, key, &mut out).map_err(|source| {
            StreamsError::Serialization {
                target: format!("the foreign key of `{}`", self.kind),
                part: RecordPart::Key,
                source,
            }
        })?;
        Ok(Some(out))
    }

    fn send(
        &self,
        cx: &mut TaskContext,
        record: &Record<K, Change<V>>,
        hash: Option<u128>,
        foreign_key: Option<KO>,
        instruction: Instruction,
    ) -> Result<(), StreamsError> {
        let subscription = Subscription {
            hash,
            instruction,
            primary_key: record.key.clone(),
            primary_partition: cx.partition,
        };
        self.forward.send(
            cx,
            Record {
                key: foreign_key,
                value: subscription,
                timestamp: record.timestamp,
                headers: record.headers.clone(),
            },
        )
    }
}

impl<K: Data, V: Data, KO: Data> Node<K, Change<V>> for SubscriptionSend<K, V, KO> {
    fn process(
        &mut self,
        cx: &mut TaskContext,
        record: Record<K, Change<V>>,
    ) -> Result<(), StreamsError> {
        let hash = row_hash(self.kind, &self.value_serde, record.value.new.as_ref())?;
        let old = record.value.old.as_ref().map(|v| (self.foreign_key)(v));
        let new = record.value.new.as_ref().map(|v| (self.foreign_key)(v));
        let moved = |this: &Self, old: &Option<KO>, new: &Option<KO>| {
            Ok::<_, StreamsError>(this.bytes(old)? != this.bytes(new)?)
        };
        if self.left {
            // A left join: every update is answered from the row's (new) foreign key — a
            // row without one through a subscription without a key. The foreign key it left
            // only forgets it: an answer from there too could arrive last and overwrite
            // the right one.
            match (old, new) {
                (Some(old), new) => {
                    let new = new.flatten();
                    if old.is_some() && moved(self, &old, &new)? {
                        self.send(cx, &record, hash, old, Instruction::DeleteKeyNoPropagate)?;
                    }
                    let instruction = Instruction::PropagateNullIfNoForeignRow;
                    self.send(cx, &record, hash, new, instruction)
                }
                (None, Some(new)) => self.send(
                    cx,
                    &record,
                    hash,
                    new,
                    Instruction::PropagateNullIfNoForeignRow,
                ),
                (None, None) => Ok(()),
            }
        } else {
            // An inner join: a row without a foreign key has no result.
            match (old.flatten(), new) {
                (Some(old), Some(Some(new))) => {
                    let (old, new) = (Some(old), Some(new));
                    if moved(self, &old, &new)? {
                        self.send(cx, &record, hash, old, Instruction::DeleteKeyNoPropagate)?;
                    }
                    self.send(
                        cx,
                        &record,
                        hash,
                        new,
                        Instruction::PropagateNullIfNoForeignRow,
                    )
                }
                (Some(old), _) => {
                    let instruction = Instruction::DeleteKeyAndPropagate;
                    self.send(cx, &record, hash, Some(old), instruction)
                }
                (None, Some(Some(new))) => {
                    let instruction = Instruction::PropagateOnlyIfForeignRow;
                    self.send(cx, &record, hash, Some(new), instruction)
                }
                (None, Some(None)) => {
                    cx.skips_null(self.kind, true, false);
                    Ok(())
                }
                (None, None) => Ok(()),
            }
        }
    }
}

/// The foreign side's processor for subscriptions (Kafka Streams'
/// `SubscriptionReceiveProcessorSupplier` and `SubscriptionJoinProcessorSupplier`): keeps
/// each row's subscription under its foreign key and answers it with the foreign row as
/// its instruction says.
pub(crate) struct SubscriptionReceive<K, KO, VO> {
    pub(crate) kind: &'static str,
    pub(crate) subscriptions: KeyValueStore<CombinedKey<KO, K>, Subscription<K>>,
    pub(crate) foreign: Getter<KO, VO>,
    pub(crate) forward: Forward<K, Response<VO>>,
}

impl<K: Data, KO: Data, VO: Data> Node<Option<KO>, Subscription<K>>
    for SubscriptionReceive<K, KO, VO>
{
    fn process(
        &mut self,
        cx: &mut TaskContext,
        record: Record<Option<KO>, Subscription<K>>,
    ) -> Result<(), StreamsError> {
        let subscription = record.value;
        let instruction = subscription.instruction;
        let foreign = match record.key {
            // A left join's row without a foreign key: answered with no foreign row.
            None if instruction == Instruction::PropagateNullIfNoForeignRow => None,
            None => {
                cx.skips_null(self.kind, true, false);
                return Ok(());
            }
            Some(key) => {
                let combined = CombinedKey {
                    foreign: key,
                    primary: subscription.primary_key.clone(),
                };
                if instruction.unsubscribes() {
                    self.subscriptions.delete(&combined)?;
                } else {
                    self.subscriptions.put_with_timestamp(
                        &combined,
                        &subscription,
                        record.timestamp,
                    )?;
                }
                (self.foreign)(&combined.foreign)?
            }
        };
        let timestamp = foreign
            .as_ref()
            .map_or(record.timestamp, |f| f.timestamp.max(record.timestamp));
        let answer = match instruction {
            Instruction::DeleteKeyNoPropagate => return Ok(()),
            Instruction::PropagateOnlyIfForeignRow if foreign.is_none() => return Ok(()),
            Instruction::DeleteKeyAndPropagate => None,
            Instruction::PropagateNullIfNoForeignRow | Instruction::PropagateOnlyIfForeignRow => {
                foreign.map(|f| f.value)
            }
        };
        respond(
            &mut self.forward,
            cx,
            subscription,
            answer,
            timestamp,
            record.headers,
        )
    }
}

/// Answers `subscription` with `foreign` (the foreign row's value, or none): a response
/// keyed by the subscribing row's key, carrying the hash of the row value it was asked for.
fn respond<K: Data, VO: Data>(
    forward: &mut Forward<K, Response<VO>>,
    cx: &mut TaskContext,
    subscription: Subscription<K>,
    foreign: Option<VO>,
    timestamp: i64,
    headers: Headers,
) -> Result<(), StreamsError> {
    let response = Response {
        hash: subscription.hash,
        foreign,
        primary_partition: subscription.primary_partition,
    };
    forward.send(
        cx,
        Record {
            key: subscription.primary_key,
            value: response,
            timestamp,
            headers,
        },
    )
}

/// The foreign side's processor for foreign rows (Kafka Streams'
/// `ForeignTableJoinProcessorSupplier`): each update of a foreign row answers every row
/// subscribed to it.
pub(crate) struct ForeignJoin<K, KO, VO> {
    pub(crate) kind: &'static str,
    pub(crate) subscriptions: KeyValueStore<CombinedKey<KO, K>, Subscription<K>>,
    pub(crate) foreign_key_serde: SerdeRef<KO>,
    pub(crate) forward: Forward<K, Response<VO>>,
}

impl<K: Data, KO: Data, VO: Data> Node<KO, Change<VO>> for ForeignJoin<K, KO, VO> {
    fn process(
        &mut self,
        cx: &mut TaskContext,
        record: Record<KO, Change<VO>>,
    ) -> Result<(), StreamsError> {
        let mut key = Vec::new();
        let mut prefix = Vec::new();
        let error = |source| StreamsError::Serialization {
            target: format!("the subscriptions of `{}`", self.kind),
            part: RecordPart::Key,
            source,
        };
        encode(&*self.foreign_key_serde, &record.key, &mut key).map_err(error)?;
        foreign_prefix(&key, &mut prefix).map_err(error)?;
        let end = prefix_successor(&prefix);
        let to = end.as_deref().map_or(Bound::Unbounded, Bound::Excluded);
        let subscribed = self.subscriptions.scan(Bound::Included(&prefix), to)?;
        for (_, subscription) in subscribed {
            respond(
                &mut self.forward,
                cx,
                subscription.value,
                record.value.new.clone(),
                record.timestamp,
                record.headers.clone(),
            )?;
        }
        Ok(())
    }
}

/// The row side's last processor (Kafka Streams' `ResponseJoinProcessorSupplier`): a
/// response for the row's current value becomes the row's result (`None`: none); a
/// response for a value the row no longer has is dropped.
pub(crate) struct ResponseJoin<K, V, VO, VR> {
    pub(crate) kind: &'static str,
    pub(crate) rows: Getter<K, V>,
    pub(crate) value_serde: SerdeRef<V>,
    pub(crate) joiner: Joiner<V, VO, VR>,
    pub(crate) forward: Forward<K, Option<VR>>,
}

impl<K: Data, V: Data, VO: Data, VR: Data> Node<K, Response<VO>> for ResponseJoin<K, V, VO, VR> {
    fn process(
        &mut self,
        cx: &mut TaskContext,
        record: Record<K, Response<VO>>,
    ) -> Result<(), StreamsError> {
        let current = (self.rows)(&record.key)?.map(|row| row.value);
        let hash = row_hash(self.kind, &self.value_serde, current.as_ref())?;
        if hash != record.value.hash {
            tracing::trace!(
                operator = self.kind,
                "dropping a response for an older value of the row"
            );
            return Ok(());
        }
        let result = self
            .joiner
            .join(current.as_ref(), record.value.foreign.as_ref());
        self.forward.send(cx, record.with_value(result))
    }
}
