//! The model servers behind the gateway: for each model one or more replicas (base URLs of
//! the same OpenAI-compatible server), each health-checked, the least busy healthy one chosen
//! per request, and a failed connection retried on another replica before anything was sent
//! back. Also the upstream's tokenizer (`POST /tokenize`, llama-server and vLLM), which counts
//! what an answer without usage numbers delivered.

use std::{
	collections::HashMap,
	sync::{
		atomic::{AtomicBool, AtomicUsize, Ordering},
		Arc,
	},
	time::Duration,
};

use serde_json::{json, Value};

mod client;

pub use client::{causes, proxy_set, Answer, Conns, SendError, CONNECT_TIMEOUT, IDLE_TIMEOUT};

/// One replica of a model server.
pub struct Replica {
	/// Its base URL, with its `/v1`.
	pub base: String,
	/// The URLs of [`PATHS`] on it, parsed once (`None` if one does not parse).
	urls: Vec<Option<reqwest::Url>>,
	/// The gateway's own connections to it, at an `http://` address when no proxy is set in
	/// the environment ([`Conns`]).
	pub conns: Option<Arc<Conns>>,
	in_flight: AtomicUsize,
	healthy: AtomicBool,
}

impl Replica {
	fn new(base: &str) -> Arc<Self> {
		// Healthy until a check says otherwise: the first requests need not wait for one.
		let urls = PATHS.iter().map(|path| reqwest::Url::parse(&format!("{base}{path}")).ok());
		Arc::new(Replica {
			base: base.to_string(),
			urls: urls.collect(),
			conns: if proxy_set() { None } else { Conns::for_base(base) },
			in_flight: AtomicUsize::new(0),
			healthy: AtomicBool::new(true),
		})
	}

	/// Whether its last health check (or request) succeeded.
	pub fn is_healthy(&self) -> bool {
		self.healthy.load(Ordering::Relaxed)
	}

	/// Requests with it now.
	pub fn in_flight(&self) -> usize {
		self.in_flight.load(Ordering::Relaxed)
	}

	/// The URL of `path` (e.g. `/chat/completions`) on it: parsed when the replica was made
	/// for the paths the gateway serves, which then cost no parse per request.
	pub fn url(&self, path: &str) -> Result<reqwest::Url, String> {
		let parsed = PATHS.iter().position(|p| *p == path).and_then(|i| self.urls.get(i)).cloned();
		match parsed.flatten() {
			Some(url) => Ok(url),
			None => reqwest::Url::parse(&format!("{}{path}", self.base))
				.map_err(|e| format!("{}{path}: {e}", self.base)),
		}
	}

	/// The URL of the tokenizer: at the server's root, beside its `/v1`.
	pub fn tokenize_url(&self) -> String {
		let root = self.base.strip_suffix("/v1").unwrap_or(&self.base);
		format!("{root}/tokenize")
	}
}

/// The paths under `/v1` the gateway forwards.
pub const PATHS: [&str; 4] = ["/chat/completions", "/completions", "/embeddings", "/responses"];

/// A request's hold on a replica, counted in its `in_flight` until dropped.
pub struct Lease {
	/// The replica.
	pub replica: Arc<Replica>,
}

impl Drop for Lease {
	fn drop(&mut self) {
		self.replica.in_flight.fetch_sub(1, Ordering::Relaxed);
	}
}

/// The replicas of one model server.
#[derive(Clone)]
pub struct Pool {
	replicas: Vec<Arc<Replica>>,
	next: Arc<AtomicUsize>,
}

impl Pool {
	fn new(urls: &[String]) -> Self {
		Pool {
			replicas: urls.iter().map(|u| Replica::new(u)).collect(),
			next: Arc::new(AtomicUsize::new(0)),
		}
	}

	/// Its replicas.
	pub fn replicas(&self) -> &[Arc<Replica>] {
		&self.replicas
	}

	/// The healthy replica (not in `tried`) with the fewest requests in flight; ties go round
	/// robin. When no replica is healthy, the untried ones are tried all the same (a health
	/// check can be stale; a connection error is the final word).
	pub fn lease(&self, tried: &[Arc<Replica>]) -> Option<Lease> {
		let start = self.next.fetch_add(1, Ordering::Relaxed);
		let count = self.replicas.len();
		let candidates = (0..count)
			.map(|i| &self.replicas[(start.wrapping_add(i)) % count])
			.filter(|r| !tried.iter().any(|t| Arc::ptr_eq(t, r)));
		let healthy = candidates.clone().filter(|r| r.is_healthy()).min_by_key(|r| r.in_flight());
		let replica = healthy.or_else(|| candidates.min_by_key(|r| r.in_flight()))?.clone();
		replica.in_flight.fetch_add(1, Ordering::Relaxed);
		Some(Lease { replica })
	}

	/// Whether any replica is healthy.
	pub fn any_healthy(&self) -> bool {
		self.replicas.iter().any(|r| r.is_healthy())
	}
}

/// Every model server: the default one and the models routed to their own.
#[derive(Clone)]
pub struct Upstreams {
	default: Pool,
	routed: HashMap<u32, Pool>,
}

impl Upstreams {
	/// The default replicas and the routes (on-chain model id → replicas).
	pub fn new(default: &[String], routed: &HashMap<u32, Vec<String>>) -> Self {
		Upstreams {
			default: Pool::new(default),
			routed: routed.iter().map(|(id, urls)| (*id, Pool::new(urls))).collect(),
		}
	}

	/// The pool serving `model`.
	pub fn pool(&self, model: u32) -> &Pool {
		self.routed.get(&model).unwrap_or(&self.default)
	}

	/// Every pool, the default first.
	pub fn pools(&self) -> impl Iterator<Item = &Pool> {
		std::iter::once(&self.default).chain(self.routed.values())
	}

	/// Checks every replica now: healthy when `GET <base>/models` answers 2xx in time.
	pub async fn check(&self, http: &reqwest::Client, timeout: Duration) {
		let checks = self.pools().flat_map(|p| p.replicas.iter()).map(|replica| async move {
			let healthy = match replica.url("/models") {
				Ok(url) => http
					.get(url)
					.timeout(timeout)
					.send()
					.await
					.is_ok_and(|a| a.status().is_success()),
				Err(_) => false,
			};
			if healthy != replica.is_healthy() {
				tracing::info!(upstream = %replica.base, healthy, "upstream health changed");
			}
			replica.healthy.store(healthy, Ordering::Relaxed);
		});
		futures::future::join_all(checks).await;
	}

	/// Checks every replica every `every`, forever.
	pub async fn run_checks(self, http: reqwest::Client, every: Duration) {
		let mut timer = tokio::time::interval(every);
		timer.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
		loop {
			timer.tick().await;
			self.check(&http, every.max(Duration::from_secs(1))).await;
		}
	}
}

/// Marks `replica` unhealthy (a connection to it failed) until its next good check.
pub fn mark_down(replica: &Replica) {
	if replica.healthy.swap(false, Ordering::Relaxed) {
		tracing::warn!(upstream = %replica.base, "upstream unreachable; trying the others");
	}
}

/// The tokens of `text` by the upstream's own tokenizer: llama-server answers
/// `{"tokens": [...]}` to `{"content": ...}`, vLLM `{"count": n, ...}` to `{"model": ...,
/// "prompt": ...}`; both fields are sent. `None` when it has no tokenizer or does not answer.
pub async fn count_tokens(
	http: &reqwest::Client,
	replica: &Replica,
	model: &str,
	text: &str,
	timeout: Duration,
) -> Option<u32> {
	if text.is_empty() {
		return Some(0);
	}
	let body =
		json!({ "model": model, "prompt": text, "content": text, "add_special_tokens": false });
	let answer =
		http.post(replica.tokenize_url()).json(&body).timeout(timeout).send().await.ok()?;
	if !answer.status().is_success() {
		return None;
	}
	let value: Value = answer.json().await.ok()?;
	let count = value
		.get("count")
		.and_then(Value::as_u64)
		.or_else(|| value.get("tokens").and_then(Value::as_array).map(|t| t.len() as u64))?;
	Some(u32::try_from(count).unwrap_or(u32::MAX))
}

/// The tokens of `text` when no tokenizer answers: one per four bytes, rounded up (the usual
/// ratio of English text in BPE vocabularies), at least one for any text.
pub fn estimate_tokens(text: &str) -> u32 {
	u32::try_from(text.len().div_ceil(4)).unwrap_or(u32::MAX)
}

#[cfg(test)]
mod tests {
	use super::*;

	#[test]
	fn the_least_busy_healthy_replica_is_leased_and_the_tried_are_skipped() {
		let pool = Pool::new(&["http://a/v1".into(), "http://b/v1".into(), "http://c/v1".into()]);
		let first = pool.lease(&[]).unwrap();
		let second = pool.lease(&[]).unwrap();
		assert!(!Arc::ptr_eq(&first.replica, &second.replica), "an idle replica goes first");
		mark_down(&pool.replicas[2]);
		let third = pool.lease(&[]).unwrap();
		assert!(third.replica.is_healthy(), "the healthy ones are preferred");
		let tried = vec![pool.replicas[0].clone(), pool.replicas[1].clone()];
		let last = pool.lease(&tried).unwrap();
		assert_eq!(last.replica.base, "http://c/v1", "an unhealthy replica is still a last resort");
		let all: Vec<_> = pool.replicas.to_vec();
		assert!(pool.lease(&all).is_none());
		drop((first, second, third, last));
		assert!(pool.replicas.iter().all(|r| r.in_flight() == 0));
	}

	#[test]
	fn the_tokenizer_sits_beside_v1() {
		let replica = Replica::new("http://127.0.0.1:8080/v1");
		assert_eq!(replica.tokenize_url(), "http://127.0.0.1:8080/tokenize");
		assert_eq!(
			replica.url("/chat/completions").unwrap().as_str(),
			"http://127.0.0.1:8080/v1/chat/completions"
		);
		assert_eq!(replica.url("/models").unwrap().as_str(), "http://127.0.0.1:8080/v1/models");
		assert_eq!(estimate_tokens(""), 0);
		assert_eq!(estimate_tokens("abcde"), 2);
	}
}
