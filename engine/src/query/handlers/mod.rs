//! The request handlers, one file per kind of read; they depend on [`super::api`] and the
//! formats, never on each other or on the server.

pub(crate) mod health;
pub(crate) mod keys;
pub(crate) mod scan;
mod sse;
pub(crate) mod stores;
pub(crate) mod subscribe;
pub(crate) mod windows;
