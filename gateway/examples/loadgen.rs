//! A small HTTP load generator for `scripts/bench-gateway.sh`: POSTs one JSON body to a URL
//! and prints one JSON line of requests/s and latency percentiles.
//!
//! ```text
//! loadgen --url URL --body JSON [--header 'K: V']... [--tokens FILE]
//!         [--connections N] [--duration SECS] [--rate R] [--stream]
//! ```
//!
//! Closed loop by default (`--connections` clients, each sending its next request when the
//! previous one is answered); with `--rate` open loop (requests start on schedule, latency
//! each on its own task, so a slow answer cannot hide the ones behind it).
//! `--stream` also measures the time to the first byte of the answer's body (the first
//! token). `--tokens` names a file of one Bearer token per line, used in turn (distinct users).

use std::{
	sync::{
		atomic::{AtomicUsize, Ordering},
		Arc, Mutex,
	},
	time::{Duration, Instant},
};

use futures::StreamExt;

struct Options {
	url: String,
	body: String,
	headers: Vec<(String, String)>,
	tokens: Vec<String>,
	connections: usize,
	duration: Duration,
	rate: Option<f64>,
	stream: bool,
}

fn options() -> Result<Options, String> {
	let mut o = Options {
		url: String::new(),
		body: "{}".into(),
		headers: Vec::new(),
		tokens: Vec::new(),
		connections: 8,
		duration: Duration::from_secs(10),
		rate: None,
		stream: false,
	};
	let mut args = std::env::args().skip(1);
	while let Some(arg) = args.next() {
		let mut value = || args.next().ok_or(format!("{arg} needs a value"));
		match arg.as_str() {
			"--url" => o.url = value()?,
			"--body" => o.body = value()?,
			"--header" => {
				let v = value()?;
				let (k, v) = v.split_once(':').ok_or(format!("--header `{v}`: expected K: V"))?;
				o.headers.push((k.trim().into(), v.trim().into()));
			}
			"--tokens" => {
				let path = value()?;
				let text = std::fs::read_to_string(&path).map_err(|e| format!("{path}: {e}"))?;
				o.tokens = text.lines().filter(|l| !l.is_empty()).map(String::from).collect();
			}
			"--connections" => o.connections = value()?.parse().map_err(|_| "--connections")?,
			"--duration" => {
				o.duration = Duration::from_secs_f64(value()?.parse().map_err(|_| "--duration")?)
			}
			"--rate" => o.rate = Some(value()?.parse().map_err(|_| "--rate")?),
			"--stream" => o.stream = true,
			other => return Err(format!("unknown argument {other}")),
		}
	}
	if o.url.is_empty() {
		return Err("--url is required".into());
	}
	Ok(o)
}

#[derive(Default)]
struct Samples {
	latency: Vec<Duration>,
	first_byte: Vec<Duration>,
	errors: usize,
	statuses: std::collections::BTreeMap<u16, usize>,
}

async fn one(
	client: &reqwest::Client,
	o: &Options,
	next_token: &AtomicUsize,
	started: Instant,
	samples: &Mutex<Samples>,
) {
	let mut request = client.post(&o.url).header("content-type", "application/json");
	for (k, v) in &o.headers {
		request = request.header(k, v);
	}
	if !o.tokens.is_empty() {
		let i = next_token.fetch_add(1, Ordering::Relaxed) % o.tokens.len();
		request = request.bearer_auth(&o.tokens[i]);
	}
	let result = async {
		let response = request.body(o.body.clone()).send().await?;
		let status = response.status().as_u16();
		let mut body = response.bytes_stream();
		let mut first = None;
		while let Some(chunk) = body.next().await {
			chunk?;
			first.get_or_insert_with(|| started.elapsed());
		}
		Ok::<_, reqwest::Error>((status, first))
	}
	.await;
	let mut s = samples.lock().unwrap_or_else(|e| e.into_inner());
	match result {
		Ok((status, first)) => {
			*s.statuses.entry(status).or_default() += 1;
			if status == 200 {
				s.latency.push(started.elapsed());
				if let Some(first) = first {
					s.first_byte.push(first);
				}
			} else {
				s.errors += 1;
			}
		}
		Err(_) => s.errors += 1,
	}
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
	if sorted.is_empty() {
		return f64::NAN;
	}
	let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
	sorted[i].as_secs_f64() * 1000.0
}

#[tokio::main]
async fn main() {
	let o = match options() {
		Ok(o) => Arc::new(o),
		Err(e) => {
			eprintln!("error: {e}");
			std::process::exit(2);
		}
	};
	let client = reqwest::Client::builder()
		.pool_max_idle_per_host(4096)
		.timeout(Duration::from_secs(30))
		.build()
		.expect("an HTTP client");
	let samples = Arc::new(Mutex::new(Samples::default()));
	let next_token = Arc::new(AtomicUsize::new(0));
	let begun = Instant::now();
	let end = begun + o.duration;
	let mut tasks = Vec::new();
	match o.rate {
		None => {
			for _ in 0..o.connections {
				let (client, o, samples, next_token) =
					(client.clone(), o.clone(), samples.clone(), next_token.clone());
				tasks.push(tokio::spawn(async move {
					while Instant::now() < end {
						one(&client, &o, &next_token, Instant::now(), &samples).await;
					}
				}));
			}
		}
		Some(rate) => {
			let interval = Duration::from_secs_f64(1.0 / rate);
			let mut due = begun;
			while due < end {
				tokio::time::sleep_until(due.into()).await;
				let (client, o, samples, next_token) =
					(client.clone(), o.clone(), samples.clone(), next_token.clone());
				// Timed from when it is sent: the timer's own lateness (up to a millisecond) is
				// not the server's, and a slow answer never delays the next request's start.
				tasks.push(tokio::spawn(async move {
					one(&client, &o, &next_token, Instant::now(), &samples).await;
				}));
				due += interval;
			}
		}
	}
	for task in tasks {
		let _ = task.await;
	}
	let elapsed = begun.elapsed().as_secs_f64();
	let mut s = samples.lock().unwrap_or_else(|e| e.into_inner());
	s.latency.sort();
	s.first_byte.sort();
	let ok = s.latency.len();
	println!(
		"{}",
		serde_json::json!({
			"ok": ok,
			"errors": s.errors,
			"statuses": s.statuses,
			"rps": ok as f64 / elapsed,
			"p50_ms": percentile(&s.latency, 0.5),
			"p99_ms": percentile(&s.latency, 0.99),
			"ttfb_p50_ms": percentile(&s.first_byte, 0.5),
			"ttfb_p99_ms": percentile(&s.first_byte, 0.99),
		})
	);
}
