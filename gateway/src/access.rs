//! The access log: one line per request (request id, method, path, status, milliseconds) on
//! stderr, beside the other logs. Lines go through a bounded queue to a task that writes what
//! has come every [`FLUSH_EVERY`], so that a request never waits for stderr (a pipe to a slow
//! reader, a journal) and never wakes the writer: a line costs a queue push, and one write
//! carries all the lines of its interval (waking a writer per line cost a third of the
//! gateway's throughput). A line that finds the queue full is dropped and counted
//! (`tokenmeter_gateway_access_log_dropped_total`).

use std::{
	sync::atomic::{AtomicU64, Ordering},
	time::{SystemTime, UNIX_EPOCH},
};

use serde_json::json;
use tokio::{io::AsyncWriteExt, sync::mpsc};

/// Lines waiting to be written at most (more than a flush interval's at any rate the gateway
/// reaches).
const QUEUE: usize = 16_384;
/// How often the lines that came are written.
pub const FLUSH_EVERY: std::time::Duration = std::time::Duration::from_millis(50);

/// Lines dropped because the queue was full.
pub static DROPPED: AtomicU64 = AtomicU64::new(0);

/// One request, as logged.
pub struct Entry<'a> {
	/// Its id (`X-Request-Id`).
	pub request_id: &'a str,
	/// Its method.
	pub method: &'a str,
	/// Its path.
	pub path: &'a str,
	/// The answer's status.
	pub status: u16,
	/// Milliseconds to the answer's head.
	pub ms: f64,
}

/// Where access lines go.
#[derive(Clone)]
pub struct AccessLog {
	lines: Option<mpsc::Sender<String>>,
	json: bool,
}

impl AccessLog {
	/// Writes to stderr (as JSON lines if `json`), from a task of the current runtime.
	pub fn stderr(json: bool) -> Self {
		let (tx, mut rx) = mpsc::channel::<String>(QUEUE);
		tokio::spawn(async move {
			let mut stderr = tokio::io::stderr();
			let mut batch = String::new();
			let mut ticks = tokio::time::interval(FLUSH_EVERY);
			ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
			loop {
				ticks.tick().await;
				let closed = loop {
					match rx.try_recv() {
						Ok(line) => batch.push_str(&line),
						Err(mpsc::error::TryRecvError::Empty) => break false,
						Err(mpsc::error::TryRecvError::Disconnected) => break true,
					}
				};
				if !batch.is_empty() {
					if stderr.write_all(batch.as_bytes()).await.is_err() {
						return;
					}
					batch.clear();
				}
				if closed {
					return;
				}
			}
		});
		AccessLog { lines: Some(tx), json }
	}

	/// Logs nothing.
	pub fn off() -> Self {
		AccessLog { lines: None, json: false }
	}

	/// Logs `entry`.
	pub fn log(&self, entry: &Entry) {
		let Some(lines) = &self.lines else { return };
		let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default().as_secs_f64();
		let line = if self.json {
			let mut line = json!({
				"time": now,
				"level": "INFO",
				"target": "tokenmeter_gateway::access",
				"request_id": entry.request_id,
				"method": entry.method,
				"path": entry.path,
				"status": entry.status,
				"ms": entry.ms,
			})
			.to_string();
			line.push('\n');
			line
		} else {
			format!(
				"{now:.3} access request_id={} method={} path={} status={} ms={:.3}\n",
				entry.request_id, entry.method, entry.path, entry.status, entry.ms
			)
		};
		if lines.try_send(line).is_err() {
			DROPPED.fetch_add(1, Ordering::Relaxed);
		}
	}
}
