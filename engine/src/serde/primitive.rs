use super::{Format, Serde, SerdeError};

/// UTF-8 strings.
#[derive(Debug, Default, Clone, Copy)]
pub struct StringSerde;

/// Raw bytes, passed through unchanged.
#[derive(Debug, Default, Clone, Copy)]
pub struct BytesSerde;

/// Signed 64-bit integers, 8 bytes big-endian (Kafka's `LongSerializer`).
#[derive(Debug, Default, Clone, Copy)]
pub struct I64Serde;

/// Unsigned 64-bit integers, 8 bytes big-endian.
#[derive(Debug, Default, Clone, Copy)]
pub struct U64Serde;

impl Serde<String> for StringSerde {
    fn serialize(&self, value: &String, out: &mut Vec<u8>) -> Result<(), SerdeError> {
        out.extend_from_slice(value.as_bytes());
        Ok(())
    }

    fn deserialize(&self, bytes: &[u8]) -> Result<String, SerdeError> {
        std::str::from_utf8(bytes)
            .map(str::to_owned)
            .map_err(|e| SerdeError::new("string", format!("not UTF-8: {e}")))
    }

    fn format(&self) -> Format {
        Format::String
    }
}

impl Serde<Vec<u8>> for BytesSerde {
    fn serialize(&self, value: &Vec<u8>, out: &mut Vec<u8>) -> Result<(), SerdeError> {
        out.extend_from_slice(value);
        Ok(())
    }

    fn deserialize(&self, bytes: &[u8]) -> Result<Vec<u8>, SerdeError> {
        Ok(bytes.to_vec())
    }

    fn format(&self) -> Format {
        Format::Bytes
    }
}

fn eight_bytes(format: &'static str, bytes: &[u8]) -> Result<[u8; 8], SerdeError> {
    bytes
        .try_into()
        .map_err(|_| SerdeError::new(format, format!("expected 8 bytes, got {}", bytes.len())))
}

impl Serde<i64> for I64Serde {
    fn serialize(&self, value: &i64, out: &mut Vec<u8>) -> Result<(), SerdeError> {
        out.extend_from_slice(&value.to_be_bytes());
        Ok(())
    }

    fn deserialize(&self, bytes: &[u8]) -> Result<i64, SerdeError> {
        eight_bytes("i64", bytes).map(i64::from_be_bytes)
    }

    fn format(&self) -> Format {
        Format::I64
    }
}

impl Serde<u64> for U64Serde {
    fn serialize(&self, value: &u64, out: &mut Vec<u8>) -> Result<(), SerdeError> {
        out.extend_from_slice(&value.to_be_bytes());
        Ok(())
    }

    fn deserialize(&self, bytes: &[u8]) -> Result<u64, SerdeError> {
        eight_bytes("u64", bytes).map(u64::from_be_bytes)
    }

    fn format(&self) -> Format {
        Format::U64
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::serde::{decode, encode};

    fn round_trip<T: PartialEq + std::fmt::Debug>(serde: &dyn Serde<T>, value: T) {
        let mut out = vec![0xAA];
        serde.serialize(&value, &mut out).unwrap();
        assert_eq!(out[0], 0xAA, "serialize must append");
        assert_eq!(serde.deserialize(&out[1..]).unwrap(), value);
    }

    #[test]
    fn primitives_round_trip() {
        round_trip(&StringSerde, "héllo".to_owned());
        round_trip(&BytesSerde, vec![0, 1, 255]);
        round_trip(&I64Serde, i64::MIN);
        round_trip(&I64Serde, -1);
        round_trip(&U64Serde, u64::MAX);
    }

    #[test]
    fn i64_is_kafka_big_endian() {
        let mut out = Vec::new();
        I64Serde.serialize(&1, &mut out).unwrap();
        assert_eq!(out, [0, 0, 0, 0, 0, 0, 0, 1]);
    }

    #[test]
    fn bad_payloads_are_errors() {
        assert!(
            StringSerde
                .deserialize(&[0xFF, 0xFE])
                .unwrap_err()
                .to_string()
                .contains("not UTF-8")
        );
        assert!(
            I64Serde
                .deserialize(&[1, 2])
                .unwrap_err()
                .to_string()
                .contains("expected 8 bytes, got 2")
        );
        let err = decode::<String>(&StringSerde, None).unwrap_err();
        assert!(err.to_string().contains("null payload"));
    }

    #[test]
    fn option_serdes_map_none_to_null() {
        let serde = crate::serde::nullable(I64Serde);
        let mut out = Vec::new();
        assert!(!encode(&serde, &None, &mut out).unwrap());
        assert!(encode(&serde, &Some(7), &mut out).unwrap());
        assert_eq!(decode(&serde, Some(&out)).unwrap(), Some(7));
        assert_eq!(decode(&serde, None).unwrap(), None);
    }
}
