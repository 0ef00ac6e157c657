//! What a foreign-key join sends between its sub-topologies, and how it is written: the
//! subscription of a row to its foreign key, the response for it, and the subscription
//! store's keys.

use crate::serde::{Format, Serde, SerdeError, SerdeRef};

/// The version byte every message starts with, for compatible changes later.
const VERSION: u8 = 0;

/// What the foreign side does with a subscription (KIP-213's instructions).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Instruction {
    /// The row left this foreign key; the result must become a delete.
    DeleteKeyAndPropagate,
    /// The row left this foreign key for another one, which answers.
    DeleteKeyNoPropagate,
    /// Answer with the foreign row, or with none: the row's result must be reset.
    PropagateNullIfNoForeignRow,
    /// Answer only when there is a foreign row.
    PropagateOnlyIfForeignRow,
}

impl Instruction {
    fn byte(self) -> u8 {
        match self {
            Self::DeleteKeyAndPropagate => 0,
            Self::DeleteKeyNoPropagate => 1,
            Self::PropagateNullIfNoForeignRow => 2,
            Self::PropagateOnlyIfForeignRow => 3,
        }
    }

    fn of(byte: u8) -> Result<Self, SerdeError> {
        Ok(match byte {
            0 => Self::DeleteKeyAndPropagate,
            1 => Self::DeleteKeyNoPropagate,
            2 => Self::PropagateNullIfNoForeignRow,
            3 => Self::PropagateOnlyIfForeignRow,
            other => {
                return Err(SerdeError::new(
                    "subscription",
                    format!("unknown instruction {other}"),
                ));
            }
        })
    }

    /// Whether the subscription leaves the store.
    pub(crate) fn unsubscribes(self) -> bool {
        matches!(
            self,
            Self::DeleteKeyAndPropagate | Self::DeleteKeyNoPropagate
        )
    }
}

/// A row's subscription to its foreign key: the hash of the row's value when it was sent
/// (`None`: the row was deleted), what to do, the row's key and partition.
#[derive(Clone)]
pub(crate) struct Subscription<K> {
    pub(crate) hash: Option<u128>,
    pub(crate) instruction: Instruction,
    pub(crate) primary_key: K,
    pub(crate) primary_partition: i32,
}

/// The foreign row for a subscription: the hash the subscription carried, the foreign
/// value (`None`: no row), and the partition of the row to answer.
#[derive(Clone)]
pub(crate) struct Response<VO> {
    pub(crate) hash: Option<u128>,
    pub(crate) foreign: Option<VO>,
    pub(crate) primary_partition: i32,
}

/// The hash a foreign-key join keeps of a row's value (its serialized bytes), to tell a
/// response for the current value from one for an older value.
pub(crate) fn value_hash(bytes: &[u8]) -> u128 {
    xxhash_rust::xxh3::xxh3_128(bytes)
}

fn put_hash(hash: Option<u128>, out: &mut Vec<u8>) {
    match hash {
        Some(hash) => {
            out.push(1);
            out.extend_from_slice(&hash.to_be_bytes());
        }
        None => out.push(0),
    }
}

/// Reads a message's header fields in order.
struct Reader<'a> {
    bytes: &'a [u8],
    what: &'static str,
}

impl<'a> Reader<'a> {
    fn take<const N: usize>(&mut self) -> Result<[u8; N], SerdeError> {
        let (head, rest) = self
            .bytes
            .split_first_chunk::<N>()
            .ok_or_else(|| SerdeError::new(self.what, "truncated message"))?;
        self.bytes = rest;
        Ok(*head)
    }

    fn version(&mut self) -> Result<(), SerdeError> {
        match self.take::<1>()?[0] {
            VERSION => Ok(()),
            other => Err(SerdeError::new(
                self.what,
                format!("version {other} is newer than this release understands ({VERSION})"),
            )),
        }
    }

    fn hash(&mut self) -> Result<Option<u128>, SerdeError> {
        Ok(match self.take::<1>()?[0] {
            0 => None,
            _ => Some(u128::from_be_bytes(self.take::<16>()?)),
        })
    }

    fn partition(&mut self) -> Result<i32, SerdeError> {
        Ok(i32::from_be_bytes(self.take::<4>()?))
    }

    fn rest(self) -> &'a [u8] {
        self.bytes
    }
}

/// Subscriptions as bytes: version, instruction, hash, partition, then the row's key.
pub(crate) struct SubscriptionSerde<K> {
    key: SerdeRef<K>,
}

impl<K> SubscriptionSerde<K> {
    pub(crate) fn new(key: SerdeRef<K>) -> Self {
        Self { key }
    }
}

impl<K> Serde<Subscription<K>> for SubscriptionSerde<K> {
    fn serialize(&self, value: &Subscription<K>, out: &mut Vec<u8>) -> Result<(), SerdeError> {
        out.push(VERSION);
        out.push(value.instruction.byte());
        put_hash(value.hash, out);
        out.extend_from_slice(&value.primary_partition.to_be_bytes());
        self.key.serialize(&value.primary_key, out)
    }

    fn deserialize(&self, bytes: &[u8]) -> Result<Subscription<K>, SerdeError> {
        let mut reader = Reader {
            bytes,
            what: "subscription",
        };
        reader.version()?;
        let instruction = Instruction::of(reader.take::<1>()?[0])?;
        let hash = reader.hash()?;
        let primary_partition = reader.partition()?;
        Ok(Subscription {
            hash,
            instruction,
            primary_key: self.key.deserialize(reader.rest())?,
            primary_partition,
        })
    }

    fn format(&self) -> Format {
        Format::Opaque("subscription")
    }
}

/// Responses as bytes: version, hash, partition, then the foreign value if any.
pub(crate) struct ResponseSerde<VO> {
    value: SerdeRef<VO>,
}

impl<VO> ResponseSerde<VO> {
    pub(crate) fn new(value: SerdeRef<VO>) -> Self {
        Self { value }
    }
}

impl<VO> Serde<Response<VO>> for ResponseSerde<VO> {
    fn serialize(&self, value: &Response<VO>, out: &mut Vec<u8>) -> Result<(), SerdeError> {
        out.push(VERSION);
        put_hash(value.hash, out);
        out.extend_from_slice(&value.primary_partition.to_be_bytes());
        match &value.foreign {
            Some(foreign) => {
                out.push(1);
                self.value.serialize(foreign, out)
            }
            None => {
                out.push(0);
                Ok(())
            }
        }
    }

    fn deserialize(&self, bytes: &[u8]) -> Result<Response<VO>, SerdeError> {
        let mut reader = Reader {
            bytes,
            what: "subscription response",
        };
        reader.version()?;
        let hash = reader.hash()?;
        let primary_partition = reader.partition()?;
        let present = reader.take::<1>()?[0] == 1;
        let rest = reader.rest();
        Ok(Response {
            hash,
            foreign: present.then(|| self.value.deserialize(rest)).transpose()?,
            primary_partition,
        })
    }

    fn format(&self) -> Format {
        Format::Opaque("subscription response")
    }
}

/// A subscription store key: the foreign key, then the row's key.
#[derive(Clone)]
pub(crate) struct CombinedKey<KO, K> {
    pub(crate) foreign: KO,
    pub(crate) primary: K,
}

/// Subscription store keys as bytes: the foreign key's length (four bytes), its bytes,
/// then the row's key, so that one foreign key's subscriptions share a prefix.
pub(crate) struct CombinedKeySerde<KO, K> {
    foreign: SerdeRef<KO>,
    primary: SerdeRef<K>,
}

impl<KO, K> CombinedKeySerde<KO, K> {
    pub(crate) fn new(foreign: SerdeRef<KO>, primary: SerdeRef<K>) -> Self {
        Self { foreign, primary }
    }
}

/// The first bytes of every subscription store key of the foreign key whose bytes are
/// `foreign`.
pub(crate) fn foreign_prefix(foreign: &[u8], out: &mut Vec<u8>) -> Result<(), SerdeError> {
    let len = u32::try_from(foreign.len())
        .map_err(|_| SerdeError::new("combined key", "a foreign key longer than 4 GiB"))?;
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(foreign);
    Ok(())
}

impl<KO, K> Serde<CombinedKey<KO, K>> for CombinedKeySerde<KO, K> {
    fn serialize(&self, value: &CombinedKey<KO, K>, out: &mut Vec<u8>) -> Result<(), SerdeError> {
        let mut foreign = Vec::new();
        self.foreign.serialize(&value.foreign, &mut foreign)?;
        foreign_prefix(&foreign, out)?;
        self.primary.serialize(&value.primary, out)
    }

    fn deserialize(&self, bytes: &[u8]) -> Result<CombinedKey<KO, K>, SerdeError> {
        let truncated = || SerdeError::new("combined key", "truncated key");
        let (len, rest) = bytes.split_first_chunk::<4>().ok_or_else(truncated)?;
        let len = u32::from_be_bytes(*len) as usize;
        let foreign = rest.get(..len).ok_or_else(truncated)?;
        Ok(CombinedKey {
            foreign: self.foreign.deserialize(foreign)?,
            primary: self.primary.deserialize(&rest[len..])?,
        })
    }

    fn format(&self) -> Format {
        Format::Opaque("combined key")
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::serde::StringSerde;

    #[test]
    fn messages_read_back_as_written() {
        let subscriptions = SubscriptionSerde::new(Arc::new(StringSerde));
        let mut bytes = Vec::new();
        let sent = Subscription {
            hash: Some(value_hash(b"row")),
            instruction: Instruction::PropagateOnlyIfForeignRow,
            primary_key: "pk".to_string(),
            primary_partition: 3,
        };
        subscriptions.serialize(&sent, &mut bytes).unwrap();
        let read = subscriptions.deserialize(&bytes).unwrap();
        assert_eq!(
            (
                read.hash,
                read.instruction,
                read.primary_key,
                read.primary_partition
            ),
            (sent.hash, sent.instruction, sent.primary_key, 3)
        );
        bytes[0] = 9;
        assert!(
            subscriptions.deserialize(&bytes).is_err(),
            "a newer version is refused"
        );

        let responses = ResponseSerde::new(Arc::new(StringSerde));
        for foreign in [None, Some("fv".to_string())] {
            let mut bytes = Vec::new();
            let sent = Response {
                hash: None,
                foreign: foreign.clone(),
                primary_partition: 1,
            };
            responses.serialize(&sent, &mut bytes).unwrap();
            let read = responses.deserialize(&bytes).unwrap();
            assert_eq!(
                (read.hash, read.foreign, read.primary_partition),
                (None, foreign, 1)
            );
        }

        let keys = CombinedKeySerde::new(Arc::new(StringSerde), Arc::new(StringSerde));
        let (mut ab, mut a_b) = (Vec::new(), Vec::new());
        let key = |f: &str, p: &str| CombinedKey {
            foreign: f.to_string(),
            primary: p.to_string(),
        };
        keys.serialize(&key("ab", "x"), &mut ab).unwrap();
        keys.serialize(&key("a", "bx"), &mut a_b).unwrap();
        assert_ne!(ab, a_b, "the length keeps foreign keys apart");
        let mut prefix = Vec::new();
        foreign_prefix(b"a", &mut prefix).unwrap();
        assert!(a_b.starts_with(&prefix) && !ab.starts_with(&prefix));
    }
}
