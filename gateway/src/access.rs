//! The access log: one line per request (request id, method, path, status, milliseconds) on
//! stderr, beside the other logs. A request writes its line into a shared buffer of bounded
//! size, which a task takes and writes every [`FLUSH_EVERY`], so that a request never waits
//! for stderr (a pipe to a slow reader, a journal) and never wakes the writer: a line costs
//! its formatting under a short lock, and one write carries all the lines of its interval
//! (waking a writer per line cost a third of the gateway's throughput). A line that finds the
//! buffer full is dropped and counted (`tokenmeter_gateway_access_log_dropped_total`).

use std::{
	fmt::Write as _,
	sync::{
		atomic::{AtomicU64, Ordering},
		Arc, Mutex,
	},
	time::{SystemTime, UNIX_EPOCH},
};

use serde_json::json;
use tokio::io::AsyncWriteExt;

/// Bytes of lines waiting to be written at most (more than a flush interval's at any rate the
/// gateway reaches: about 16,000 lines).
const MAX_WAITING: usize = 2 << 20;
/// How often the lines that came are written.
pub const FLUSH_EVERY: std::time::Duration = std::time::Duration::from_millis(50);

/// Lines dropped because the buffer was full.
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
	/// The lines not yet written (shared with the task that writes them).
	lines: Option<Arc<Mutex<String>>>,
	json: bool,
}

impl AccessLog {
	/// Writes to stderr (as JSON lines if `json`), from a task of the current runtime.
	pub fn stderr(json: bool) -> Self {
		let lines = Arc::new(Mutex::new(String::new()));
		let waiting = lines.clone();
		tokio::spawn(async move {
			let mut stderr = tokio::io::stderr();
			let mut batch = String::new();
			let mut ticks = tokio::time::interval(FLUSH_EVERY);
			ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
			loop {
				ticks.tick().await;
				// The log is gone once this task holds the last reference: its last lines are
				// written, then the task ends.
				let closed = Arc::strong_count(&waiting) == 1;
				if let Ok(mut lines) = waiting.lock() {
					std::mem::swap(&mut *lines, &mut batch);
				}
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
		AccessLog { lines: Some(lines), json }
	}

	/// Logs nothing.
	pub fn off() -> Self {
		AccessLog { lines: None, json: false }
	}

	/// Logs `entry`.
	pub fn log(&self, entry: &Entry) {
		let Some(lines) = &self.lines else { return };
		let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
		let Ok(mut lines) = lines.lock() else { return };
		if lines.len() >= MAX_WAITING {
			DROPPED.fetch_add(1, Ordering::Relaxed);
			return;
		}
		write_line(&mut lines, self.json, entry, now);
	}
}

/// Appends the line of `entry` logged at `now` (since the epoch), with its newline, to `out`.
fn write_line(out: &mut String, json: bool, entry: &Entry, now: std::time::Duration) {
	if json {
		let line = json!({
			"time": now.as_secs_f64(),
			"level": "INFO",
			"target": "tokenmeter_gateway::access",
			"request_id": entry.request_id,
			"method": entry.method,
			"path": entry.path,
			"status": entry.status,
			"ms": entry.elapsed.as_secs_f64() * 1e3,
		});
		let _ = writeln!(out, "{line}");
	} else {
		// Written from whole numbers, without `fmt` (a float's formatting costs more than the
		// rest of the line).
		let micros = entry.elapsed.as_micros();
		let mut number = itoa::Buffer::new();
		out.push_str(number.format(now.as_secs()));
		push_thousandths(out, now.subsec_millis());
		for (name, value) in [
			(" access request_id=", entry.request_id),
			(" method=", entry.method),
			(" path=", entry.path),
		] {
			out.push_str(name);
			out.push_str(value);
		}
		out.push_str(" status=");
		out.push_str(number.format(entry.status));
		out.push_str(" ms=");
		out.push_str(number.format(micros / 1000));
		push_thousandths(out, (micros % 1000) as u32);
		out.push('\n');
	}
}

/// `.` and `n` (below 1,000) in three digits.
fn push_thousandths(out: &mut String, n: u32) {
	out.push('.');
	for digit in [n / 100 % 10, n / 10 % 10, n % 10] {
		out.push(char::from(b'0' + digit as u8));
	}
}

#[cfg(test)]
mod tests {
	use super::*;

	fn line(json: bool, entry: &Entry, now: std::time::Duration) -> String {
		let mut out = String::new();
		write_line(&mut out, json, entry, now);
		out
	}

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
		let slow =
			Entry { status: 502, elapsed: std::time::Duration::from_micros(1_234_500), ..entry };
		assert_eq!(
			line(false, &slow, std::time::Duration::from_millis(1_700_000_000_000)),
			"1700000000.000 access request_id=req_1 method=POST path=/v1/chat/completions \
			 status=502 ms=1234.500\n"
		);
		let json: serde_json::Value = serde_json::from_str(&line(true, &entry, now)).unwrap();
		assert_eq!(json["request_id"], "req_1");
		assert_eq!(json["status"], 200);
		assert!((json["ms"].as_f64().unwrap() - 12.045).abs() < 1e-9);
		assert!((json["time"].as_f64().unwrap() - 1_700_000_000.007).abs() < 1e-3);
	}

	#[test]
	fn lines_wait_in_a_bounded_buffer_and_one_past_it_is_dropped_and_counted() {
		let lines = Arc::new(Mutex::new(String::new()));
		let log = AccessLog { lines: Some(lines.clone()), json: false };
		let entry = Entry {
			request_id: "req_2",
			method: "GET",
			path: "/v1/models",
			status: 200,
			elapsed: std::time::Duration::from_micros(7),
		};
		log.log(&entry);
		log.log(&entry);
		let text = lines.lock().unwrap().clone();
		assert_eq!(text.lines().count(), 2);
		assert!(text.lines().all(|l| l.contains("request_id=req_2") && l.ends_with("ms=0.007")));
		// Full: the line is dropped, counted, and what waits is left as it was.
		*lines.lock().unwrap() = "x".repeat(MAX_WAITING);
		let dropped = DROPPED.load(Ordering::Relaxed);
		log.log(&entry);
		assert_eq!(DROPPED.load(Ordering::Relaxed), dropped + 1);
		assert_eq!(lines.lock().unwrap().len(), MAX_WAITING);
		// Off: nothing is written anywhere.
		AccessLog::off().log(&entry);
	}
}
