//! Scans as Arrow IPC streams: one record batch with a `key` and a `value` column, typed by
//! the store's formats (strings and JSON as UTF-8, integers as integers, bytes as binary).

use std::sync::Arc;

use arrow_array::builder::{BinaryBuilder, Int64Builder, StringBuilder, UInt64Builder};
use arrow_array::{ArrayRef, RecordBatch};
use arrow_ipc::writer::StreamWriter;
use arrow_schema::{ArrowError, DataType, Field, Schema};
use tributary_state::KeyValue;

use crate::serde::Format;

/// The media type of an Arrow IPC stream.
pub const ARROW_STREAM: &str = "application/vnd.apache.arrow.stream";

/// A column of `values` in `format`'s Arrow type; bytes that do not fit the type (not UTF-8,
/// not eight bytes) are null.
fn column<'a>(format: Format, values: impl Iterator<Item = &'a [u8]>) -> (DataType, ArrayRef) {
    match format {
        Format::String | Format::Json => {
            let mut b = StringBuilder::new();
            for v in values {
                b.append_option(std::str::from_utf8(v).ok());
            }
            (DataType::Utf8, Arc::new(b.finish()))
        }
        Format::I64 => {
            let mut b = Int64Builder::new();
            for v in values {
                b.append_option(<[u8; 8]>::try_from(v).ok().map(i64::from_be_bytes));
            }
            (DataType::Int64, Arc::new(b.finish()))
        }
        Format::U64 => {
            let mut b = UInt64Builder::new();
            for v in values {
                b.append_option(<[u8; 8]>::try_from(v).ok().map(u64::from_be_bytes));
            }
            (DataType::UInt64, Arc::new(b.finish()))
        }
        _ => {
            let mut b = BinaryBuilder::new();
            for v in values {
                b.append_value(v);
            }
            (DataType::Binary, Arc::new(b.finish()))
        }
    }
}

/// `entries` as an Arrow IPC stream.
///
/// # Errors
/// When Arrow cannot encode the batch.
pub fn to_ipc(
    key_format: Format,
    value_format: Format,
    entries: &[KeyValue],
) -> Result<Vec<u8>, ArrowError> {
    let (key_type, keys) = column(key_format, entries.iter().map(|(k, _)| k.as_slice()));
    let (value_type, values) = column(value_format, entries.iter().map(|(_, v)| v.as_slice()));
    let schema = Arc::new(Schema::new(vec![
        Field::new("key", key_type, true),
        Field::new("value", value_type, true),
    ]));
    let batch = RecordBatch::try_new(schema.clone(), vec![keys, values])?;
    let mut out = Vec::new();
    let mut writer = StreamWriter::try_new(&mut out, &schema)?;
    writer.write(&batch)?;
    writer.finish()?;
    drop(writer);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_array::{Array, Int64Array, StringArray};
    use arrow_ipc::reader::StreamReader;

    #[test]
    fn entries_read_back_as_typed_columns() {
        let entries = vec![
            (b"alice".to_vec(), 3i64.to_be_bytes().to_vec()),
            (b"bob".to_vec(), 5i64.to_be_bytes().to_vec()),
        ];
        let ipc = to_ipc(Format::String, Format::I64, &entries).unwrap();
        let mut reader = StreamReader::try_new(ipc.as_slice(), None).unwrap();
        let batch = reader.next().unwrap().unwrap();
        let keys = batch
            .column(0)
            .as_any()
            .downcast_ref::<StringArray>()
            .unwrap();
        let values = batch
            .column(1)
            .as_any()
            .downcast_ref::<Int64Array>()
            .unwrap();
        assert_eq!(keys.value(1), "bob");
        assert_eq!(values.value(0), 3);
        assert_eq!(values.len(), 2);
    }
}
