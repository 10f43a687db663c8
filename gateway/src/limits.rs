//! Rate limits by tier: requests and tokens per minute for each user (an agent is limited as
//! the agent, whoever holds its controller key).
//!
//! Each user has a window of one minute that starts with its first request; the window counts
//! the requests let through and the tokens they were charged for. A request is refused when the
//! window already holds `requests_per_minute` requests or `tokens_per_minute` tokens; the
//! answer tells when the window ends (`RateLimit-Reset`, `Retry-After`). Tokens are counted
//! when the answer's usage is known, so one request may take a window past its token limit;
//! the next one then waits for the next window.
//!
//! Where the windows are kept ([`Limiter`]): in memory for one gateway (SQLite), in the shared
//! database for a fleet (PostgreSQL, `store::windows`), so that instances behind a load
//! balancer together let a user through at its tier's rate, not once per instance.

use std::{
	collections::HashMap,
	hash::Hash,
	sync::Mutex,
	time::{Duration, Instant},
};

use sp_runtime::AccountId32;

use crate::store::{Backend, Store};

/// The limits of one user.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limit {
	/// Requests per minute.
	pub requests_per_minute: u32,
	/// Tokens (input and output) per minute.
	pub tokens_per_minute: u64,
}

/// What the `RateLimit-*` headers report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quota {
	/// Requests per minute.
	pub limit: u32,
	/// Requests left in the window (after this one, when it was let through).
	pub remaining: u32,
	/// Seconds until the window ends (at least 1).
	pub reset_secs: u64,
}

#[derive(Debug, Clone, Copy)]
struct Window {
	start: Instant,
	requests: u32,
	tokens: u64,
}

/// The windows of every user seen in the last minute.
pub struct RateLimiter<K> {
	windows: HashMap<K, Window>,
	length: Duration,
	last_prune: Instant,
}

impl<K: Eq + Hash + Clone> Default for RateLimiter<K> {
	fn default() -> Self {
		Self::new(Duration::from_secs(60))
	}
}

impl<K: Eq + Hash + Clone> RateLimiter<K> {
	/// Windows of `length` (a minute in the gateway; shorter in tests).
	pub fn new(length: Duration) -> Self {
		RateLimiter { windows: HashMap::new(), length, last_prune: Instant::now() }
	}

	fn reset_secs(&self, window: &Window, now: Instant) -> u64 {
		let left = (window.start + self.length).saturating_duration_since(now);
		left.as_secs_f64().ceil().max(1.0) as u64
	}

	/// The current window of `who` at `now`, a new one if the last has ended.
	fn window(&mut self, who: &K, now: Instant) -> &mut Window {
		let length = self.length;
		let window = self.windows.entry(who.clone()).or_insert(Window {
			start: now,
			requests: 0,
			tokens: 0,
		});
		if now.saturating_duration_since(window.start) >= length {
			*window = Window { start: now, requests: 0, tokens: 0 };
		}
		window
	}

	/// Counts a request of `who` if the limits allow it: `Ok` with the quota left, or `Err`
	/// with the quota (nothing left) and nothing counted.
	pub fn admit(&mut self, who: &K, limit: Limit, now: Instant) -> Result<Quota, Quota> {
		self.prune(now);
		let window = *self.window(who, now);
		let reset_secs = self.reset_secs(&window, now);
		let over = window.requests >= limit.requests_per_minute
			|| window.tokens >= limit.tokens_per_minute;
		if over {
			return Err(Quota { limit: limit.requests_per_minute, remaining: 0, reset_secs });
		}
		let window = self.window(who, now);
		window.requests = window.requests.saturating_add(1);
		Ok(Quota {
			limit: limit.requests_per_minute,
			remaining: limit.requests_per_minute.saturating_sub(window.requests),
			reset_secs,
		})
	}

	/// Gives back a request counted by [`Self::admit`] that was not served after all (refused
	/// for payment, or no place with the upstream).
	pub fn give_back(&mut self, who: &K) {
		if let Some(window) = self.windows.get_mut(who) {
			window.requests = window.requests.saturating_sub(1);
		}
	}

	/// Counts the tokens a served request of `who` was charged for.
	pub fn add_tokens(&mut self, who: &K, tokens: u64, now: Instant) {
		let window = self.window(who, now);
		window.tokens = window.tokens.saturating_add(tokens);
	}

	/// Forgets windows that ended, at most once per window length.
	fn prune(&mut self, now: Instant) {
		if now.saturating_duration_since(self.last_prune) < self.length {
			return;
		}
		let length = self.length;
		self.windows.retain(|_, w| now.saturating_duration_since(w.start) < length);
		self.last_prune = now;
	}

	/// Users with a window.
	pub fn len(&self) -> usize {
		self.windows.len()
	}

	/// Whether no user has a window.
	pub fn is_empty(&self) -> bool {
		self.windows.is_empty()
	}
}

/// The rate limits' windows: this gateway's own, or a fleet's in its shared database.
pub enum Limiter {
	/// One gateway: the windows in memory.
	Local(Mutex<RateLimiter<AccountId32>>),
	/// A fleet: the windows in the database all instances share.
	Shared {
		/// The shared database.
		store: Store,
		/// The windows' length (a minute).
		length: Duration,
		/// When this instance last forgot ended windows.
		last_prune: Mutex<Instant>,
	},
}

impl Limiter {
	/// Windows of a minute, kept where `store` says: shared if it is PostgreSQL.
	pub fn for_store(store: &Store) -> Self {
		Self::with_length(store, Duration::from_secs(60))
	}

	/// Windows of `length` (shorter in tests), kept where `store` says.
	pub fn with_length(store: &Store, length: Duration) -> Self {
		match store.backend() {
			Backend::Sqlite => Limiter::Local(Mutex::new(RateLimiter::new(length))),
			Backend::Postgres => Limiter::Shared {
				store: store.clone(),
				length,
				last_prune: Mutex::new(Instant::now()),
			},
		}
	}

	/// Counts a request of `who` if `limit` allows it: `Ok(Ok(quota left))`, or
	/// `Ok(Err(quota))` with nothing counted; `Err` if the shared windows cannot be read.
	pub async fn admit(
		&self,
		who: &AccountId32,
		limit: Limit,
	) -> Result<Result<Quota, Quota>, String> {
		match self {
			Limiter::Local(limiter) => {
				let mut limiter = limiter.lock().map_err(|_| "limiter poisoned".to_string())?;
				Ok(limiter.admit(who, limit, Instant::now()))
			}
			Limiter::Shared { store, length, last_prune } => {
				let prune = last_prune.lock().ok().is_some_and(|mut last| {
					let due = last.elapsed() >= *length;
					if due {
						*last = Instant::now();
					}
					due
				});
				if prune {
					let (store, length) = (store.clone(), *length);
					tokio::spawn(async move {
						if let Err(error) = store.prune_windows(length).await {
							tracing::warn!(%error, "cannot forget ended rate-limit windows");
						}
					});
				}
				store.admit_in_window(who, limit, *length).await.map_err(|e| e.to_string())
			}
		}
	}

	/// Gives back a request counted by [`Self::admit`] that was not served (in the background
	/// for a fleet).
	pub fn give_back(&self, who: &AccountId32) {
		match self {
			Limiter::Local(limiter) => {
				if let Ok(mut limiter) = limiter.lock() {
					limiter.give_back(who);
				}
			}
			Limiter::Shared { store, .. } => {
				let (store, who) = (store.clone(), who.clone());
				tokio::spawn(async move {
					if let Err(error) = store.give_back_in_window(&who).await {
						tracing::warn!(%error, "cannot give back a request to its rate limit");
					}
				});
			}
		}
	}

	/// Counts the tokens a served request of `who` was charged for (in the background for a
	/// fleet).
	pub fn add_tokens(&self, who: &AccountId32, tokens: u64) {
		match self {
			Limiter::Local(limiter) => {
				if let Ok(mut limiter) = limiter.lock() {
					limiter.add_tokens(who, tokens, Instant::now());
				}
			}
			Limiter::Shared { store, length, .. } => {
				let (store, who, length) = (store.clone(), who.clone(), *length);
				tokio::spawn(async move {
					if let Err(error) = store.add_tokens_in_window(&who, tokens, length).await {
						tracing::warn!(%error, "cannot count tokens against a rate limit");
					}
				});
			}
		}
	}
}

#[cfg(test)]
mod tests {
	use super::*;

	const TIER_1: Limit = Limit { requests_per_minute: 3, tokens_per_minute: 1_000 };
	const TIER_2: Limit = Limit { requests_per_minute: 10, tokens_per_minute: 10_000 };

	#[test]
	fn each_user_gets_its_tiers_requests_per_minute_then_waits_for_the_next_window() {
		let mut limiter = RateLimiter::new(Duration::from_secs(60));
		let t0 = Instant::now();
		for left in [2, 1, 0] {
			assert_eq!(
				limiter.admit(&"low", TIER_1, t0),
				Ok(Quota { limit: 3, remaining: left, reset_secs: 60 })
			);
		}
		let refused = limiter.admit(&"low", TIER_1, t0 + Duration::from_secs(20)).unwrap_err();
		assert_eq!(refused, Quota { limit: 3, remaining: 0, reset_secs: 40 });
		// Refusals are not counted; another user (a higher tier) is not affected.
		for _ in 0..10 {
			assert!(limiter.admit(&"high", TIER_2, t0).is_ok());
		}
		assert!(limiter.admit(&"high", TIER_2, t0).is_err());
		// The next window.
		let later = t0 + Duration::from_secs(60);
		assert_eq!(limiter.admit(&"low", TIER_1, later).unwrap().remaining, 2);
	}

	#[test]
	fn tokens_per_minute_stop_the_next_request() {
		let mut limiter = RateLimiter::new(Duration::from_secs(60));
		let t0 = Instant::now();
		assert!(limiter.admit(&"u", TIER_1, t0).is_ok());
		limiter.add_tokens(&"u", 999, t0);
		assert!(limiter.admit(&"u", TIER_1, t0).is_ok());
		limiter.add_tokens(&"u", 1, t0);
		assert!(limiter.admit(&"u", TIER_1, t0).is_err());
	}

	#[test]
	fn a_request_given_back_does_not_count_and_old_windows_are_forgotten() {
		let mut limiter = RateLimiter::new(Duration::from_secs(60));
		let t0 = Instant::now();
		for _ in 0..3 {
			assert!(limiter.admit(&"u", TIER_1, t0).is_ok());
		}
		limiter.give_back(&"u");
		assert_eq!(limiter.admit(&"u", TIER_1, t0).unwrap().remaining, 0);
		assert_eq!(limiter.len(), 1);
		let _ = limiter.admit(&"v", TIER_1, t0 + Duration::from_secs(61));
		assert_eq!(limiter.len(), 1, "u's window ended and was pruned");
	}
}
