//! The access log: one line per request (request id, method, path, status, milliseconds) on
//! stderr, beside the other logs. Lines go through a bounded queue to a task that writes what
//! has come every [`FLUSH_EVERY`], so that a request never waits for stderr (a pipe to a slow
//! reader, a journal) and never wakes the writer: a line costs a queue push, and one write
//! carries all the lines of its interval (waking a writer per line cost a third of the
//! gateway's throughput). A line that finds the queue full is dropped and counted
//! (`tokenmeter_gateway_access_log_dropped_total`).

use std::{
	fmt::Write as _,
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
	/// Time to the answer's head.
	pub elapsed: std::time::Duration,
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
		let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
		if lines.try_send(line(self.json, entry, now)).is_err() {
			DROPPED.fetch_add(1, Ordering::Relaxed);
		}
	}
}

/// The line of `entry` logged at `now` (since the epoch), with its newline.
fn line(json: bool, entry: &Entry, now: std::time::Duration) -> String {
	if json {
		let mut line = json!({
			"time": now.as_secs_f64(),
			"level": "INFO",
			"target": "tokenmeter_gateway::access",
			"request_id": entry.request_id,
			"method": entry.method,
			"path": entry.path,
			"status": entry.status,
			"ms": entry.elapsed.as_secs_f64() * 1e3,
		})
		.to_string();
		line.push('\n');
		line
	} else {
		// Three decimals written from whole numbers (a float's formatting costs more than
		// the rest of the line).
		let micros = entry.elapsed.as_micros();
		let mut line = String::with_capacity(96 + entry.request_id.len() + entry.path.len());
		let _ = writeln!(
			line,
			"{}.{:03} access request_id={} method={} path={} status={} ms={}.{:03}",
			now.as_secs(),
			now.subsec_millis(),
			entry.request_id,
			entry.method,
			entry.path,
			entry.status,
			micros / 1000,
			micros % 1000
		);
		line
	}
}

#[cfg(test)]
mod tests {
	use super::*;

	#[test]
	fn a_line_says_who_what_and_how_long() {
		let entry = Entry {
			request_id: "req_1",
			method: "POST",
			path: "/v1/chat/completions",
			status: 200,
			elapsed: std::time::Duration::from_micros(12_045),
		};
		let now = std::time::Duration::from_millis(1_700_000_000_007);
		assert_eq!(
			line(false, &entry, now),
			"1700000000.007 access request_id=req_1 method=POST path=/v1/chat/completions \
			 status=200 ms=12.045\n"
		);
		let json: serde_json::Value = serde_json::from_str(&line(true, &entry, now)).unwrap();
		assert_eq!(json["request_id"], "req_1");
		assert_eq!(json["status"], 200);
		assert!((json["ms"].as_f64().unwrap() - 12.045).abs() < 1e-9);
		assert!((json["time"].as_f64().unwrap() - 1_700_000_000.007).abs() < 1e-3);
	}
}
