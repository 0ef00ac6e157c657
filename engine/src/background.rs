//! A background thread of an instance that runs until it is told to stop (the instance
//! directory, the standby copies): it gets a stop flag to watch, and is stopped and joined
//! on [`BackgroundThread::stop`] or when dropped.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;

use crate::error::StreamsError;

/// A running background thread.
pub(crate) struct BackgroundThread {
    stop: Arc<AtomicBool>,
    handle: Option<JoinHandle<()>>,
}

impl BackgroundThread {
    /// Starts thread `name` running `run`, which returns once the flag it is given is set.
    ///
    /// # Errors
    /// [`StreamsError::Lifecycle`] naming `what` when the thread cannot be created.
    pub(crate) fn spawn(
        name: String,
        what: &str,
        run: impl FnOnce(&AtomicBool) + Send + 'static,
    ) -> Result<Self, StreamsError> {
        let stop = Arc::new(AtomicBool::new(false));
        let stopping = stop.clone();
        let handle = std::thread::Builder::new()
            .name(name)
            .spawn(move || run(&stopping))
            .map_err(|e| StreamsError::Lifecycle {
                doing: format!("start {what}"),
                reason: e.to_string(),
            })?;
        Ok(Self {
            stop,
            handle: Some(handle),
        })
    }

    /// Tells the thread to stop and waits until it has.
    pub(crate) fn stop(&mut self) {
        self.stop.store(true, Ordering::Release);
        if let Some(handle) = self.handle.take() {
            let _ = handle.join();
        }
    }
}

impl Drop for BackgroundThread {
    fn drop(&mut self) {
        self.stop();
    }
}
