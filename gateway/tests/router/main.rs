//! The request path in process: the public and operator routers driven with
//! `tower::ServiceExt::oneshot`, against a real HTTP model server (an axum app on a local
//! port that misbehaves on request), a real SQLite database, and a chain view set by the test
//! (no node).

mod billing;
mod common;
mod feedback;
mod operations;
mod upstreams;
