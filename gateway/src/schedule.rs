//! Priority by stake: at most `max_in_flight` requests are with the upstream at once; the rest
//! wait, ordered by weighted fair queueing over the users' priority weights.
//!
//! Each waiting request gets a finish tag in virtual time: `max(V, last tag of its class) +
//! 1 / weight`, where the class is the priority weight (a tier) and `V` is the tag of the last
//! request let through (self-clocked fair queueing). The request with the smallest tag goes
//! next. Under saturation a class of weight 4 is thus let through four times as often as one
//! of weight 1, and a waiting request ages: its tag is fixed while `V` grows past it, so every
//! class progresses and none starves. A request that waits longer than `max_wait` (or finds
//! `max_queue` requests waiting) is refused, for the caller to answer `503` with
//! `Retry-After`.

use std::{
	collections::{BTreeMap, VecDeque},
	sync::{Arc, Mutex},
	time::Duration,
};

use tokio::sync::oneshot;

/// The scheduler could not let the request through in time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Overloaded {
	/// When to try again.
	pub retry_after: Duration,
}

struct Waiter {
	id: u64,
	tag: f64,
	grant: oneshot::Sender<()>,
}

#[derive(Default)]
struct Class {
	last_tag: f64,
	queue: VecDeque<Waiter>,
}

#[derive(Default)]
struct State {
	in_flight: usize,
	virtual_time: f64,
	next_id: u64,
	queued: usize,
	/// By priority weight.
	classes: BTreeMap<u32, Class>,
}

impl State {
	/// Lets the waiter with the smallest tag through, if any (skipping those that left).
	fn grant_next(&mut self) {
		loop {
			let next = self
				.classes
				.iter()
				.filter_map(|(weight, class)| class.queue.front().map(|w| (w.tag, w.id, *weight)))
				.min_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
			let Some((tag, _, weight)) = next else { return };
			let Some(waiter) = self.classes.get_mut(&weight).and_then(|c| c.queue.pop_front())
			else {
				return;
			};
			self.queued = self.queued.saturating_sub(1);
			self.virtual_time = self.virtual_time.max(tag);
			if waiter.grant.send(()).is_ok() {
				self.in_flight = self.in_flight.saturating_add(1);
				return;
			}
		}
	}
}

/// The queue in front of the upstream.
pub struct Scheduler {
	state: Mutex<State>,
	max_in_flight: usize,
	max_queue: usize,
	max_wait: Duration,
}

/// A place with the upstream; the next waiting request gets it when this is dropped.
pub struct Permit {
	scheduler: Arc<Scheduler>,
}

impl Drop for Permit {
	fn drop(&mut self) {
		if let Ok(mut state) = self.scheduler.state.lock() {
			state.in_flight = state.in_flight.saturating_sub(1);
			if state.in_flight < self.scheduler.max_in_flight {
				state.grant_next();
			}
		}
	}
}

impl Scheduler {
	/// At most `max_in_flight` (at least 1) requests with the upstream, at most `max_queue`
	/// waiting, none longer than `max_wait`.
	pub fn new(max_in_flight: usize, max_queue: usize, max_wait: Duration) -> Arc<Self> {
		Arc::new(Scheduler {
			state: Mutex::new(State::default()),
			max_in_flight: max_in_flight.max(1),
			max_queue,
			max_wait,
		})
	}

	fn overloaded(&self) -> Overloaded {
		Overloaded { retry_after: self.max_wait.max(Duration::from_secs(1)) }
	}

	/// Waits for a place with the upstream for a request of priority `weight` (0 counts as
	/// 1).
	pub async fn acquire(self: &Arc<Self>, weight: u32) -> Result<Permit, Overloaded> {
		let (id, mut granted) = {
			let mut state = self.state.lock().map_err(|_| self.overloaded())?;
			if state.queued == 0 && state.in_flight < self.max_in_flight {
				state.in_flight = state.in_flight.saturating_add(1);
				return Ok(Permit { scheduler: self.clone() });
			}
			if state.queued >= self.max_queue {
				return Err(self.overloaded());
			}
			let (tx, rx) = oneshot::channel();
			let id = state.next_id;
			state.next_id = state.next_id.wrapping_add(1);
			let virtual_time = state.virtual_time;
			let class = state.classes.entry(weight.max(1)).or_default();
			let tag = class.last_tag.max(virtual_time) + 1.0 / f64::from(weight.max(1));
			class.last_tag = tag;
			class.queue.push_back(Waiter { id, tag, grant: tx });
			state.queued = state.queued.saturating_add(1);
			(id, rx)
		};
		match tokio::time::timeout(self.max_wait, &mut granted).await {
			Ok(Ok(())) => Ok(Permit { scheduler: self.clone() }),
			_ => {
				// Leave the queue, unless the place was granted meanwhile.
				let mut state = self.state.lock().map_err(|_| self.overloaded())?;
				let mut removed = false;
				for class in state.classes.values_mut() {
					if let Some(at) = class.queue.iter().position(|w| w.id == id) {
						class.queue.remove(at);
						removed = true;
						break;
					}
				}
				if removed {
					state.queued = state.queued.saturating_sub(1);
					return Err(self.overloaded());
				}
				drop(state);
				match granted.try_recv() {
					Ok(()) => Ok(Permit { scheduler: self.clone() }),
					Err(_) => Err(self.overloaded()),
				}
			}
		}
	}

	/// Requests with the upstream now, and waiting.
	pub fn load(&self) -> (usize, usize) {
		self.state.lock().map(|s| (s.in_flight, s.queued)).unwrap_or_default()
	}
}

#[cfg(test)]
mod tests {
	use super::*;
	use std::sync::atomic::{AtomicUsize, Ordering};

	/// With one place taken, `high` (weight 4) and `low` (weight 1) requests queue in the
	/// order given; returns the order in which they were let through.
	async fn order_of(queued: &[(char, u32)]) -> Vec<char> {
		let scheduler = Scheduler::new(1, 1_000, Duration::from_secs(10));
		let first = scheduler.acquire(1).await.unwrap();
		let served = Arc::new(Mutex::new(Vec::new()));
		let mut tasks = Vec::new();
		for (i, &(name, weight)) in queued.iter().enumerate() {
			let (queue, served) = (scheduler.clone(), served.clone());
			tasks.push(tokio::spawn(async move {
				let permit = queue.acquire(weight).await.unwrap();
				served.lock().unwrap().push(name);
				tokio::task::yield_now().await;
				drop(permit);
			}));
			// Queue them in this order.
			while scheduler.load().1 < i + 1 {
				tokio::task::yield_now().await;
			}
		}
		drop(first);
		for task in tasks {
			task.await.unwrap();
		}
		let order = served.lock().unwrap().clone();
		order
	}

	#[tokio::test]
	async fn a_higher_weight_is_served_first_and_the_lower_still_progresses() {
		// Eight low-tier requests queued before eight high-tier ones.
		let mut queued = vec![('l', 1); 8];
		queued.extend(vec![('h', 4); 8]);
		let order = order_of(&queued).await;
		assert_eq!(order.len(), 16);
		// Of the first ten served, the high tier has (about) four of every five.
		let high_first = order[..10].iter().filter(|&&c| c == 'h').count();
		assert!(high_first >= 7, "{order:?}");
		// The low tier, queued first, is not starved: it is served among the first five.
		assert!(order[..5].contains(&'l'), "{order:?}");
	}

	#[tokio::test]
	async fn equal_weights_are_served_in_arrival_order() {
		let queued: Vec<(char, u32)> = "abcdef".chars().map(|c| (c, 2)).collect();
		assert_eq!(order_of(&queued).await, "abcdef".chars().collect::<Vec<_>>());
	}

	#[tokio::test]
	async fn a_request_that_waits_too_long_is_refused_and_leaves_the_queue() {
		let scheduler = Scheduler::new(1, 10, Duration::from_millis(50));
		let held = scheduler.acquire(1).await.unwrap();
		let refused = scheduler.acquire(5).await.err().unwrap();
		assert_eq!(refused.retry_after, Duration::from_secs(1));
		assert_eq!(scheduler.load(), (1, 0));
		drop(held);
		assert_eq!(scheduler.load(), (0, 0));
		// A full queue refuses at once.
		let scheduler = Scheduler::new(1, 0, Duration::from_secs(10));
		let _held = scheduler.acquire(1).await.unwrap();
		assert!(scheduler.acquire(1).await.is_err());
	}

	#[tokio::test]
	async fn never_more_than_the_limit_in_flight() {
		let scheduler = Scheduler::new(3, 1_000, Duration::from_secs(10));
		let now = Arc::new(AtomicUsize::new(0));
		let peak = Arc::new(AtomicUsize::new(0));
		let tasks: Vec<_> = (0..40u32)
			.map(|i| {
				let (scheduler, now, peak) = (scheduler.clone(), now.clone(), peak.clone());
				tokio::spawn(async move {
					let _permit = scheduler.acquire(i % 3).await.unwrap();
					let current = now.fetch_add(1, Ordering::SeqCst) + 1;
					peak.fetch_max(current, Ordering::SeqCst);
					tokio::time::sleep(Duration::from_millis(1)).await;
					now.fetch_sub(1, Ordering::SeqCst);
				})
			})
			.collect();
		for task in tasks {
			task.await.unwrap();
		}
		assert_eq!(peak.load(Ordering::SeqCst), 3);
		assert_eq!(scheduler.load(), (0, 0));
	}
}
