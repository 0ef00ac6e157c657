//! [`SpareBuffers`]: the byte buffers of processed records, reused for the next ones.

use std::cell::RefCell;
use std::rc::Rc;

/// How many bytes of buffers are kept: the keys and values of a poll's worth of small
/// records.
const MAX_BYTES: usize = 1 << 20;
/// The largest buffer worth keeping; larger ones go back to the allocator, so that a
/// burst of large records does not stay allocated.
const MAX_CAPACITY: usize = 4096;

/// Byte buffers of records that were processed, kept for the keys and values of the records
/// consumed next: a consumed record is copied out of the consumer's message into them,
/// which spares an allocation and a free for each key and each value. Buffers of at most
/// [`MAX_CAPACITY`] bytes each are kept, [`MAX_BYTES`] in all. Clones share the buffers: a
/// stream thread's tasks share one set, so that the memory kept does not grow with the
/// number of tasks.
#[derive(Clone)]
pub(crate) struct SpareBuffers {
    pool: Rc<RefCell<Pool>>,
}

struct Pool {
    buffers: Vec<Vec<u8>>,
    /// The capacity of `buffers`, in bytes.
    bytes: usize,
    /// The most `bytes` may reach.
    limit: usize,
}

impl SpareBuffers {
    /// Buffers for a stream thread's tasks, kept up to [`MAX_BYTES`].
    pub(crate) fn new() -> Self {
        Self::with_limit(MAX_BYTES)
    }

    /// Buffers that keep nothing: for a task given owned records (the test driver's), which
    /// never copies into them.
    pub(crate) fn none() -> Self {
        Self::with_limit(0)
    }

    fn with_limit(limit: usize) -> Self {
        Self {
            pool: Rc::new(RefCell::new(Pool {
                buffers: Vec::new(),
                bytes: 0,
                limit,
            })),
        }
    }

    /// A copy of `bytes`, in a spare buffer when there is one.
    pub(crate) fn copy(&self, bytes: Option<&[u8]>) -> Option<Vec<u8>> {
        let bytes = bytes?;
        let mut pool = self.pool.borrow_mut();
        Some(match pool.buffers.pop() {
            Some(mut buffer) => {
                pool.bytes -= buffer.capacity();
                buffer.clear();
                buffer.extend_from_slice(bytes);
                buffer
            }
            None => bytes.to_vec(),
        })
    }

    /// Keeps `buffer` for a later [`SpareBuffers::copy`], unless enough are kept already or
    /// it is too large to keep.
    pub(crate) fn keep(&self, buffer: Option<Vec<u8>>) {
        let mut pool = self.pool.borrow_mut();
        if let Some(buffer) = buffer
            && buffer.capacity() <= MAX_CAPACITY
            && pool.bytes + buffer.capacity() <= pool.limit
        {
            pool.bytes += buffer.capacity();
            pool.buffers.push(buffer);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_copy_reuses_a_kept_buffer_and_holds_exactly_the_bytes() {
        let spare = SpareBuffers::new();
        let kept = b"a longer value than the next".to_vec();
        let address = kept.as_ptr();
        spare.keep(Some(kept));
        let copy = spare.copy(Some(b"short")).unwrap();
        assert_eq!(copy, b"short");
        assert_eq!(copy.as_ptr(), address, "the kept buffer is reused");
        assert_eq!(spare.copy(None), None, "a null stays null");
    }

    #[test]
    fn large_buffers_and_buffers_past_the_limit_are_not_kept() {
        let spare = SpareBuffers::new();
        spare.keep(Some(Vec::with_capacity(MAX_CAPACITY + 1)));
        assert!(spare.pool.borrow().buffers.is_empty());
        // A clone shares the buffers and their limit.
        let other = spare.clone();
        for _ in 0..MAX_BYTES / 1024 + 10 {
            spare.keep(Some(Vec::with_capacity(1024)));
            other.keep(Some(Vec::with_capacity(1024)));
        }
        assert_eq!(spare.pool.borrow().buffers.len(), MAX_BYTES / 1024);
        other.copy(Some(b"x"));
        assert_eq!(
            spare.pool.borrow().bytes,
            MAX_BYTES - 1024,
            "a buffer taken out is no longer counted"
        );
    }

    #[test]
    fn buffers_that_keep_nothing_still_copy() {
        let spare = SpareBuffers::none();
        spare.keep(Some(b"kept?".to_vec()));
        assert!(spare.pool.borrow().buffers.is_empty());
        assert_eq!(spare.copy(Some(b"v")), Some(b"v".to_vec()));
    }
}
