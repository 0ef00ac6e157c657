use std::marker::PhantomData;

use super::{Format, Serde, SerdeError, SerdeRef};
use crate::record::Change;

/// The wire format of table updates on repartition topics: a flags byte (bit 0: new value
/// present, bit 1: old value present), the old value's length as a big-endian u32 and its
/// bytes, then the new value's bytes.
pub(crate) struct ChangeSerde<V> {
    inner: SerdeRef<V>,
    _v: PhantomData<fn() -> V>,
}

impl<V> ChangeSerde<V> {
    pub(crate) fn new(inner: SerdeRef<V>) -> Self {
        Self {
            inner,
            _v: PhantomData,
        }
    }
}

const NEW: u8 = 1;
const OLD: u8 = 2;

impl<V: 'static> Serde<Change<V>> for ChangeSerde<V> {
    fn serialize(&self, value: &Change<V>, out: &mut Vec<u8>) -> Result<(), SerdeError> {
        let flags = (if value.new.is_some() { NEW } else { 0 })
            | (if value.old.is_some() { OLD } else { 0 });
        out.push(flags);
        let len_at = out.len();
        out.extend_from_slice(&[0; 4]);
        if let Some(old) = &value.old {
            self.inner.serialize(old, out)?;
        }
        let old_len = u32::try_from(out.len() - len_at - 4)
            .map_err(|_| SerdeError::new("change", "old value longer than 4 GiB"))?;
        out[len_at..len_at + 4].copy_from_slice(&old_len.to_be_bytes());
        if let Some(new) = &value.new {
            self.inner.serialize(new, out)?;
        }
        Ok(())
    }

    fn deserialize(&self, bytes: &[u8]) -> Result<Change<V>, SerdeError> {
        let short = || {
            SerdeError::new(
                "change",
                format!("truncated table update ({} bytes)", bytes.len()),
            )
        };
        let (&flags, rest) = bytes.split_first().ok_or_else(short)?;
        if flags & !(NEW | OLD) != 0 {
            return Err(SerdeError::new(
                "change",
                format!("unknown flags {flags:#04x}"),
            ));
        }
        let len_bytes: [u8; 4] = rest
            .get(..4)
            .ok_or_else(short)?
            .try_into()
            .map_err(|_| short())?;
        let old_len = u32::from_be_bytes(len_bytes) as usize;
        let old_bytes = rest.get(4..4 + old_len).ok_or_else(short)?;
        let new_bytes = &rest[4 + old_len..];
        let old = if flags & OLD != 0 {
            Some(self.inner.deserialize(old_bytes)?)
        } else {
            None
        };
        let new = if flags & NEW != 0 {
            Some(self.inner.deserialize(new_bytes)?)
        } else {
            None
        };
        Ok(Change { new, old })
    }

    fn format(&self) -> Format {
        Format::Opaque("change")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::serde::StringSerde;
    use std::sync::Arc;

    #[test]
    fn changes_round_trip_in_every_shape() {
        let serde = ChangeSerde::<String>::new(Arc::new(StringSerde));
        for change in [
            Change {
                new: Some("n".to_owned()),
                old: Some("old".to_owned()),
            },
            Change {
                new: None,
                old: Some(String::new()),
            },
            Change {
                new: Some(String::new()),
                old: None,
            },
            Change {
                new: None,
                old: None,
            },
        ] {
            let mut out = Vec::new();
            serde.serialize(&change, &mut out).unwrap();
            assert_eq!(serde.deserialize(&out).unwrap(), change);
        }
        assert!(
            serde
                .deserialize(&[1, 0, 0])
                .unwrap_err()
                .to_string()
                .contains("truncated")
        );
        assert!(
            serde
                .deserialize(&[9, 0, 0, 0, 0])
                .unwrap_err()
                .to_string()
                .contains("flags")
        );
    }
}
