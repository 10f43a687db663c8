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
//!
//! A fleet of gateways on one PostgreSQL database ([`Scheduler::shared`]) keeps one queue in
//! it: `max_in_flight` counts the places of the whole fleet, the tags and the virtual time are
//! the fleet's, and a place freed on one instance goes to the request with the smallest tag on
//! any instance (`store::queue`). So a higher tier is served first fleet-wide, whichever
//! instance the load balancer sent each request to.

use std::{
	collections::{BTreeMap, HashMap, VecDeque},
	sync::{
		atomic::{AtomicI64, Ordering},
		Arc, Mutex, Weak,
	},
	time::Duration,
};

use sqlx::postgres::PgListener;
use tokio::sync::oneshot;

use crate::store::{Entered, Left, Store, StoreError};

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
	/// This instance's queue; with a fleet's, only what this instance holds and has waiting.
	state: Mutex<State>,
	max_in_flight: usize,
	max_queue: usize,
	max_wait: Duration,
	/// The fleet's queue, if shared.
	fleet: Option<Fleet>,
}

/// A fleet's queue, in the shared database.
struct Fleet {
	store: Store,
	/// The number of this instance's next entry.
	next_entry: AtomicI64,
	/// This instance's waiting requests, by entry: told when granted.
	waiters: Mutex<HashMap<i64, oneshot::Sender<()>>>,
	/// The tasks that listen for grants and drop expired entries.
	tasks: Mutex<Vec<tokio::task::AbortHandle>>,
}

impl Drop for Fleet {
	fn drop(&mut self) {
		if let Ok(tasks) = self.tasks.lock() {
			tasks.iter().for_each(|task| task.abort());
		}
	}
}

impl Fleet {
	/// Tells waiting entry `entry` it has a place.
	fn wake(&self, entry: i64) {
		let waiter = self.waiters.lock().ok().and_then(|mut w| w.remove(&entry));
		if let Some(waiter) = waiter {
			// A waiter that went away meanwhile gives the place back (`Waiting`).
			let _ = waiter.send(());
		}
	}

	/// Tells every waiting entry granted a place so (after grants may have gone unannounced).
	async fn wake_granted(&self) {
		match self.store.queue_granted().await {
			Ok(entries) => entries.into_iter().for_each(|entry| self.wake(entry)),
			Err(error) => tracing::warn!(%error, "cannot read the fleet's queue"),
		}
	}
}

/// Listens for the fleet's grants, for as long as the scheduler lives.
async fn listen(scheduler: Weak<Scheduler>, mut listener: PgListener) {
	loop {
		let notice = listener.try_recv().await;
		let Some(scheduler) = scheduler.upgrade() else { return };
		let Some(fleet) = &scheduler.fleet else { return };
		match notice {
			Ok(Some(notice)) => {
				let (entry, instance) = notice.payload().split_once(' ').unwrap_or_default();
				if instance == fleet.store.instance() {
					if let Ok(entry) = entry.parse() {
						fleet.wake(entry);
					}
				}
			}
			// The connection was lost, and is listening again: what was granted meanwhile
			// was not announced.
			Ok(None) => fleet.wake_granted().await,
			Err(error) => {
				tracing::warn!(%error, "cannot listen for the fleet queue's grants");
				tokio::time::sleep(Duration::from_secs(1)).await;
				fleet.wake_granted().await;
			}
		}
	}
}

/// While this instance has requests waiting, drops the fleet's expired entries every second:
/// a place held by an instance that stopped goes to the next request when its hold ends.
async fn sweep(scheduler: Weak<Scheduler>) {
	let mut every = tokio::time::interval(Duration::from_secs(1));
	loop {
		every.tick().await;
		let Some(scheduler) = scheduler.upgrade() else { return };
		let Some(fleet) = &scheduler.fleet else { return };
		if fleet.waiters.lock().map(|w| w.is_empty()).unwrap_or(true) {
			continue;
		}
		if let Err(error) = fleet.store.queue_sweep(scheduler.max_in_flight).await {
			tracing::warn!(%error, "cannot drop the fleet queue's expired entries");
		}
	}
}

/// A request of this instance in the fleet's queue until it is granted a place or has left:
/// one that goes away (its client gone) leaves in the background, giving back a place granted
/// meanwhile.
struct Waiting {
	scheduler: Arc<Scheduler>,
	entry: i64,
	/// Its place is taken (granted) or nothing is left in the queue.
	settled: bool,
}

impl Waiting {
	fn enter(scheduler: &Arc<Scheduler>, fleet: &Fleet) -> (Self, oneshot::Receiver<()>) {
		let entry = fleet.next_entry.fetch_add(1, Ordering::Relaxed);
		let (grant, granted) = oneshot::channel();
		if let Ok(mut waiters) = fleet.waiters.lock() {
			waiters.insert(entry, grant);
		}
		if let Ok(mut state) = scheduler.state.lock() {
			state.queued = state.queued.saturating_add(1);
		}
		(Waiting { scheduler: scheduler.clone(), entry, settled: false }, granted)
	}

	/// It holds a place.
	fn granted(mut self) -> Permit {
		self.settled = true;
		if let Ok(mut state) = self.scheduler.state.lock() {
			state.in_flight = state.in_flight.saturating_add(1);
		}
		Permit { scheduler: self.scheduler.clone(), entry: Some(self.entry) }
	}

	/// It is not in the queue.
	fn gone(mut self) {
		self.settled = true;
	}
}

impl Drop for Waiting {
	fn drop(&mut self) {
		if let Ok(mut state) = self.scheduler.state.lock() {
			state.queued = state.queued.saturating_sub(1);
		}
		let Some(fleet) = &self.scheduler.fleet else { return };
		if let Ok(mut waiters) = fleet.waiters.lock() {
			waiters.remove(&self.entry);
		}
		if self.settled {
			return;
		}
		let (scheduler, entry) = (self.scheduler.clone(), self.entry);
		if let Ok(runtime) = tokio::runtime::Handle::try_current() {
			runtime.spawn(async move {
				let Some(fleet) = &scheduler.fleet else { return };
				match fleet.store.queue_leave(entry).await {
					Ok(Left::Granted) => {
						if let Err(error) =
							fleet.store.queue_release(entry, scheduler.max_in_flight).await
						{
							tracing::warn!(%error, "cannot give back a place in the fleet's queue");
						}
					}
					Ok(Left::Left | Left::Gone) => {}
					Err(error) => tracing::warn!(%error, "cannot leave the fleet's queue"),
				}
			});
		}
	}
}

/// A place with the upstream; the next waiting request gets it when this is dropped.
pub struct Permit {
	scheduler: Arc<Scheduler>,
	/// Its entry in the fleet's queue, if shared.
	entry: Option<i64>,
}

impl Drop for Permit {
	fn drop(&mut self) {
		let Ok(mut state) = self.scheduler.state.lock() else { return };
		state.in_flight = state.in_flight.saturating_sub(1);
		let Some(entry) = self.entry else {
			if state.in_flight < self.scheduler.max_in_flight {
				state.grant_next();
			}
			return;
		};
		drop(state);
		let scheduler = self.scheduler.clone();
		if let Ok(runtime) = tokio::runtime::Handle::try_current() {
			runtime.spawn(async move {
				let Some(fleet) = &scheduler.fleet else { return };
				if let Err(error) = fleet.store.queue_release(entry, scheduler.max_in_flight).await
				{
					// It expires with the hold.
					tracing::warn!(%error, "cannot give back a place in the fleet's queue");
				}
			});
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
			fleet: None,
		})
	}

	/// The queue of a fleet sharing `store` (PostgreSQL): at most `max_in_flight` requests of
	/// all its instances with the upstream at once, at most `max_queue` waiting, none longer
	/// than `max_wait`. Drops what this instance left in the queue before it started.
	pub async fn shared(
		store: Store,
		max_in_flight: usize,
		max_queue: usize,
		max_wait: Duration,
	) -> Result<Arc<Self>, StoreError> {
		let max_in_flight = max_in_flight.max(1);
		let listener = store.queue_listener().await?;
		store.queue_drop_own(max_in_flight).await?;
		// Numbers not used by an earlier run of this instance.
		let first = std::time::SystemTime::now()
			.duration_since(std::time::UNIX_EPOCH)
			.map(|d| d.as_micros() as i64)
			.unwrap_or(0);
		let scheduler = Arc::new(Scheduler {
			state: Mutex::new(State::default()),
			max_in_flight,
			max_queue,
			max_wait,
			fleet: Some(Fleet {
				store,
				next_entry: AtomicI64::new(first),
				waiters: Mutex::default(),
				tasks: Mutex::default(),
			}),
		});
		let tasks = [
			tokio::spawn(listen(Arc::downgrade(&scheduler), listener)).abort_handle(),
			tokio::spawn(sweep(Arc::downgrade(&scheduler))).abort_handle(),
		];
		if let Some(fleet) = &scheduler.fleet {
			if let Ok(mut held) = fleet.tasks.lock() {
				held.extend(tasks);
			}
		}
		Ok(scheduler)
	}

	fn overloaded(&self) -> Overloaded {
		Overloaded { retry_after: self.max_wait.max(Duration::from_secs(1)) }
	}

	/// Waits for a place with the upstream for a request of priority `weight` (0 counts as
	/// 1).
	pub async fn acquire(self: &Arc<Self>, weight: u32) -> Result<Permit, Overloaded> {
		if let Some(fleet) = &self.fleet {
			return self.acquire_shared(fleet, weight).await;
		}
		let (id, mut granted) = {
			let mut state = self.state.lock().map_err(|_| self.overloaded())?;
			if state.queued == 0 && state.in_flight < self.max_in_flight {
				state.in_flight = state.in_flight.saturating_add(1);
				return Ok(Permit { scheduler: self.clone(), entry: None });
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
			Ok(Ok(())) => Ok(Permit { scheduler: self.clone(), entry: None }),
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
					Ok(()) => Ok(Permit { scheduler: self.clone(), entry: None }),
					Err(_) => Err(self.overloaded()),
				}
			}
		}
	}

	/// [`Self::acquire`] in the fleet's queue.
	async fn acquire_shared(
		self: &Arc<Self>,
		fleet: &Fleet,
		weight: u32,
	) -> Result<Permit, Overloaded> {
		let (waiting, granted) = Waiting::enter(self, fleet);
		let entry = waiting.entry;
		match fleet.store.queue_enter(entry, weight, self.max_in_flight, self.max_queue).await {
			Ok(Entered::Granted) => return Ok(waiting.granted()),
			Ok(Entered::Waiting) => {}
			Ok(Entered::Full) => {
				waiting.gone();
				return Err(self.overloaded());
			}
			Err(error) => {
				// Whether it entered is not known: it leaves in the background.
				tracing::warn!(%error, "cannot enter the fleet's queue");
				return Err(self.overloaded());
			}
		}
		if let Ok(Ok(())) = tokio::time::timeout(self.max_wait, granted).await {
			return Ok(waiting.granted());
		}
		// Waited too long: it leaves, unless the place was granted meanwhile.
		match fleet.store.queue_leave(entry).await {
			Ok(Left::Granted) => Ok(waiting.granted()),
			Ok(Left::Left | Left::Gone) => {
				waiting.gone();
				Err(self.overloaded())
			}
			Err(error) => {
				tracing::warn!(%error, "cannot leave the fleet's queue");
				Err(self.overloaded())
			}
		}
	}

	/// Requests with the upstream now, and waiting (this instance's, with a fleet's queue).
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
