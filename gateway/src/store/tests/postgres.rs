//! The store's tests on PostgreSQL servers each test starts: a fleet's books, feed, rate
//! limits and priority queue shared by two instances.

use super::*;

/// A PostgreSQL server of its own for a test, in a temporary directory (as the `postgres`
/// user when the tests run as root), stopped when dropped. Debian's `postgresql` package.
struct Postgres {
	server: std::process::Child,
	url: String,
	_dir: tempfile::TempDir,
}

impl Postgres {
	fn start() -> Self {
		use std::{os::unix::process::CommandExt, process::Command};
		let bin = std::fs::read_dir("/usr/lib/postgresql")
			.expect("PostgreSQL is not installed (Debian's postgresql package)")
			.filter_map(|e| e.ok().map(|e| e.path().join("bin")))
			.find(|bin| bin.join("initdb").exists())
			.expect("no initdb under /usr/lib/postgresql");
		let dir = tempfile::tempdir().unwrap();
		let id = |flag: &str, who: Option<&str>| -> u32 {
			let out = Command::new("id").arg(flag).args(who).output().unwrap();
			String::from_utf8_lossy(&out.stdout).trim().parse().unwrap()
		};
		let (uid, gid) = if id("-u", None) == 0 {
			let ids = (id("-u", Some("postgres")), id("-g", Some("postgres")));
			std::os::unix::fs::chown(dir.path(), Some(ids.0), Some(ids.1)).unwrap();
			ids
		} else {
			(id("-u", None), id("-g", None))
		};
		let data = dir.path().join("data");
		let initdb = Command::new(bin.join("initdb"))
			.args(["-A", "trust", "-U", "tokenmeter", "-E", "UTF8", "--no-sync", "-D"])
			.arg(&data)
			.uid(uid)
			.gid(gid)
			.output()
			.unwrap();
		assert!(initdb.status.success(), "{}", String::from_utf8_lossy(&initdb.stderr));
		let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
		let mut server = Command::new(bin.join("postgres"))
			.arg("-D")
			.arg(&data)
			.args(["-p", &port.to_string(), "-c", "listen_addresses=127.0.0.1", "-k"])
			.arg(dir.path())
			.args(["-c", "fsync=off"])
			.stdout(std::process::Stdio::null())
			.stderr(std::process::Stdio::null())
			.uid(uid)
			.gid(gid)
			.spawn()
			.unwrap();
		for _ in 0..300 {
			let ready = Command::new(bin.join("pg_isready"))
				.args(["-q", "-h", "127.0.0.1", "-p", &port.to_string()])
				.status()
				.unwrap();
			if ready.success() {
				return Postgres {
					server,
					url: format!("postgres://tokenmeter@127.0.0.1:{port}/postgres"),
					_dir: dir,
				};
			}
			std::thread::sleep(Duration::from_millis(100));
		}
		let _ = server.kill();
		let _ = server.wait();
		panic!("PostgreSQL did not start");
	}

	async fn instance(&self, name: &str) -> Store {
		Store::connect(&self.url, name, Duration::from_secs(60), Sync::Normal).await.unwrap()
	}
}

impl Drop for Postgres {
	fn drop(&mut self) {
		// SIGINT: a fast shutdown.
		let _ = std::process::Command::new("kill")
			.args(["-INT", &self.server.id().to_string()])
			.status();
		let _ = self.server.wait();
	}
}

/// Two gateways on one PostgreSQL database admit, together, no more than the voucher
/// allows, and see the same books.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn on_postgres_two_instances_never_overspend_a_voucher() {
	let pg = Postgres::start();
	let (a, b) = (pg.instance("a").await, pg.instance("b").await);
	let bob = Bob.to_account_id();
	let requests: Vec<_> = (0..32)
		.map(|i| {
			let (store, bob) = (if i % 2 == 0 { a.clone() } else { b.clone() }, bob.clone());
			tokio::spawn(async move { serve(&store, &bob, 100, 100, "0x01", 0, 1, 10).await })
		})
		.collect();
	let mut served = 0;
	for request in requests {
		if request.await.unwrap().is_ok() {
			served += 1;
		}
	}
	assert_eq!(served, 10);
	for store in [&a, &b] {
		assert_eq!(store.book(&bob).await.unwrap(), Book { reserved: 0, unsettled: 100 });
		assert_eq!(store.totals().await.unwrap(), (0, 100));
	}
}

/// Two gateways sealing one PostgreSQL feed at once, while both charge: one sequence, no
/// gap, no duplicate, every charge in exactly one record; attested once.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn on_postgres_the_feed_stays_gap_free_when_two_instances_seal() {
	let pg = Postgres::start();
	let (a, b) = (pg.instance("a").await, pg.instance("b").await);
	let (bob, charlie) = (Bob.to_account_id(), Charlie.to_account_id());
	let mut tasks = Vec::new();
	for i in 0..60u32 {
		let store = if i % 2 == 0 { a.clone() } else { b.clone() };
		let user = if i % 3 == 0 { charlie.clone() } else { bob.clone() };
		tasks.push(tokio::spawn(async move {
			serve(&store, &user, 1_000_000, 100, "0x01", i % 2, 1, 1).await.unwrap();
			store.seal().await.unwrap().len()
		}));
	}
	for task in tasks {
		task.await.unwrap();
	}
	a.seal().await.unwrap();
	let (fa, fb) = (a.feed_after(0, 1000).await.unwrap(), b.feed_after(0, 1000).await.unwrap());
	assert_eq!(fa, fb);
	let seqs: Vec<u64> = fa.iter().map(|r| r.seq).collect();
	assert_eq!(seqs, (1..=fa.len() as u64).collect::<Vec<_>>());
	assert_eq!(fa.iter().map(|r| r.cost).sum::<u128>(), 60);
	assert_eq!(fa.iter().map(|r| u64::from(r.input_tokens)).sum::<u64>(), 60);
	let last = fa.len() as u64;
	// Both see the attestation; the books go down once.
	let (ga, gb) = tokio::join!(a.attested(last), b.attested(last));
	assert_eq!(ga.unwrap() + gb.unwrap(), fa.len());
	assert_eq!(a.totals().await.unwrap(), (0, 0));
	assert_eq!(b.book(&bob).await.unwrap(), Book::default());
}

/// On PostgreSQL a reservation is dropped when its instance starts again, and no longer
/// counts after its hold (an instance that never came back).
#[tokio::test]
async fn on_postgres_reservations_end_with_a_restart_or_their_hold() {
	let pg = Postgres::start();
	let bob = Bob.to_account_id();
	let admission = Admission {
		user: &bob,
		payer: &bob,
		cap: 100,
		expiry: 100,
		signature: "0x01",
		session: SESSION,
		worst: 10,
		settled: 0,
		available: 1_000,
	};
	let a = pg.instance("a").await;
	a.admit(&admission).await.unwrap().1.unwrap();
	assert_eq!(a.book(&bob).await.unwrap().reserved, 10);
	let gone = Store::connect(&pg.url, "gone", Duration::ZERO, Sync::Normal).await.unwrap();
	gone.admit(&admission).await.unwrap().1.unwrap();
	assert_eq!(a.book(&bob).await.unwrap().reserved, 10, "a lapsed reservation counts");
	drop(a);
	let a = pg.instance("a").await;
	assert_eq!(a.book(&bob).await.unwrap().reserved, 0);
}

/// Two gateways on one PostgreSQL database hold a user to its tier's rate together: 32
/// requests at once over both let exactly the limit through; what is given back counts no
/// more; tokens charged on either instance stop the next request on the other; and the next
/// window starts afresh. Another user is not affected.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn on_postgres_two_instances_share_each_users_rate_limit() {
	use crate::limits::{Limit, Limiter};
	let pg = Postgres::start();
	let window = Duration::from_secs(3);
	let (a, b) = (pg.instance("a").await, pg.instance("b").await);
	let limiters = Arc::new([Limiter::with_length(&a, window), Limiter::with_length(&b, window)]);
	let limit = Limit { requests_per_minute: 10, tokens_per_minute: 1_000 };
	let (bob, charlie) = (Bob.to_account_id(), Charlie.to_account_id());
	let requests: Vec<_> = (0..32)
		.map(|i| {
			let (limiters, bob) = (limiters.clone(), bob.clone());
			tokio::spawn(async move { limiters[i % 2].admit(&bob, limit).await.unwrap() })
		})
		.collect();
	let mut admitted = Vec::new();
	for request in requests {
		if let Ok(quota) = request.await.unwrap() {
			admitted.push(quota.remaining);
		}
	}
	admitted.sort();
	assert_eq!(admitted, (0..10).collect::<Vec<_>>(), "each admission saw the shared count");
	let refused = limiters[1].admit(&bob, limit).await.unwrap().unwrap_err();
	assert_eq!((refused.limit, refused.remaining), (10, 0));
	assert!((1..=3).contains(&refused.reset_secs));
	// Another user has a window of its own.
	assert_eq!(limiters[0].admit(&charlie, limit).await.unwrap().unwrap().remaining, 9);

	// A request given back on one instance frees a place on the other.
	a.give_back_in_window(&bob).await.unwrap();
	assert_eq!(limiters[1].admit(&bob, limit).await.unwrap().unwrap().remaining, 0);
	assert!(limiters[0].admit(&bob, limit).await.unwrap().is_err());

	// Tokens charged on one instance stop Charlie's next request on the other.
	a.add_tokens_in_window(&charlie, 1_000, window).await.unwrap();
	assert!(limiters[1].admit(&charlie, limit).await.unwrap().is_err());

	// The next window starts afresh; ended windows are forgotten (by the instances
	// themselves, at most once per window length, or when asked).
	tokio::time::sleep(window).await;
	assert_eq!(limiters[1].admit(&bob, limit).await.unwrap().unwrap().remaining, 9);
	tokio::time::sleep(window + Duration::from_millis(100)).await;
	b.prune_windows(window).await.unwrap();
	let left: i64 =
		sqlx::query_scalar("SELECT COUNT(*) FROM rate_windows").fetch_one(&b.pool).await.unwrap();
	assert_eq!(left, 0, "both users' windows ended");
}

/// Waits (up to 10 s) until the fleet's queue has `in_flight` places held and `queued` requests
/// waiting, counted as the rows are (the counts the queue keeps match its rows).
async fn fleet_queue_reaches(store: &Store, in_flight: i64, queued: i64) {
	for _ in 0..1000 {
		let (counted, found) = store.queue_counts().await.unwrap();
		assert_eq!(counted, found, "the fleet queue's counts match its rows");
		if counted == (in_flight, queued) {
			return;
		}
		tokio::time::sleep(Duration::from_millis(10)).await;
	}
	panic!("the fleet's queue never reached {in_flight} held, {queued} waiting");
}

/// Two instances share one priority queue on PostgreSQL: with the fleet's one place taken,
/// eight weight-1 requests wait on one instance and then eight weight-4 ones on the other;
/// the higher weight gets about four places in five fleet-wide, and the lower, queued first,
/// still progresses. Under load from both instances, never more than the fleet's places are
/// held at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn on_postgres_a_fleet_shares_one_priority_queue() {
	use crate::schedule::Scheduler;
	use std::sync::atomic::{AtomicUsize, Ordering};
	let pg = Postgres::start();
	let (a, b) = (pg.instance("a").await, pg.instance("b").await);
	let wait = Duration::from_secs(20);
	let queues = [
		Scheduler::shared(a.clone(), 1, 1_000, wait).await.unwrap(),
		Scheduler::shared(b.clone(), 1, 1_000, wait).await.unwrap(),
	];
	let first = queues[0].acquire(1).await.unwrap();
	fleet_queue_reaches(&a, 1, 0).await;
	let served = Arc::new(Mutex::new(Vec::new()));
	let mut tasks = Vec::new();
	for (i, (name, weight, on)) in
		std::iter::repeat_n(('l', 1, 0), 8).chain(std::iter::repeat_n(('h', 4, 1), 8)).enumerate()
	{
		let (queue, served) = (queues[on].clone(), served.clone());
		tasks.push(tokio::spawn(async move {
			let permit = queue.acquire(weight).await.unwrap();
			served.lock().unwrap().push(name);
			drop(permit);
		}));
		// Queued in this order.
		fleet_queue_reaches(&b, 1, i as i64 + 1).await;
	}
	assert_eq!(queues[0].load(), (1, 8));
	assert_eq!(queues[1].load(), (0, 8));
	drop(first);
	for task in tasks {
		task.await.unwrap();
	}
	let order = served.lock().unwrap().clone();
	assert_eq!(order.len(), 16);
	let high_first = order[..10].iter().filter(|&&c| c == 'h').count();
	assert!(high_first >= 7, "{order:?}");
	assert!(order[..5].contains(&'l'), "{order:?}");
	fleet_queue_reaches(&a, 0, 0).await;

	// Forty requests over both instances, three places for the fleet.
	let queues = [
		Scheduler::shared(a.clone(), 3, 1_000, wait).await.unwrap(),
		Scheduler::shared(b.clone(), 3, 1_000, wait).await.unwrap(),
	];
	let (now, peak) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
	let tasks: Vec<_> = (0..40u32)
		.map(|i| {
			let (queue, now, peak) = (queues[i as usize % 2].clone(), now.clone(), peak.clone());
			tokio::spawn(async move {
				let _permit = queue.acquire(i % 3).await.unwrap();
				let current = now.fetch_add(1, Ordering::SeqCst) + 1;
				peak.fetch_max(current, Ordering::SeqCst);
				tokio::time::sleep(Duration::from_millis(5)).await;
				now.fetch_sub(1, Ordering::SeqCst);
			})
		})
		.collect();
	for task in tasks {
		task.await.unwrap();
	}
	assert_eq!(peak.load(Ordering::SeqCst), 3);
	fleet_queue_reaches(&b, 0, 0).await;
	assert_eq!((queues[0].load(), queues[1].load()), ((0, 0), (0, 0)));
}

/// The fleet's queue when things go wrong: a request that waits too long, or finds the queue
/// full, is refused and leaves nothing behind; one whose client goes away leaves the queue;
/// an instance that stops holding a place frees it when it starts again, and one that never
/// comes back frees it when its hold ends; after a crash of the database the queue starts
/// empty.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn on_postgres_the_fleet_queue_frees_what_is_abandoned() {
	use crate::schedule::Scheduler;
	let pg = Postgres::start();
	let (a, b) = (pg.instance("a").await, pg.instance("b").await);
	let short = Duration::from_millis(200);
	let qa = Scheduler::shared(a.clone(), 1, 1, Duration::from_secs(20)).await.unwrap();
	let qb = Scheduler::shared(b.clone(), 1, 1, short).await.unwrap();
	let held = qa.acquire(1).await.unwrap();

	// Too long a wait: refused, and gone from the queue.
	let refused = qb.acquire(5).await.err().unwrap();
	assert_eq!(refused.retry_after, Duration::from_secs(1));
	fleet_queue_reaches(&a, 1, 0).await;
	assert_eq!(qb.load(), (0, 0));

	// A full queue (one waiting) refuses at once, writing nothing.
	let waiting = tokio::spawn({
		let qa = qa.clone();
		async move { qa.acquire(1).await.map(drop) }
	});
	fleet_queue_reaches(&a, 1, 1).await;
	assert!(qb.acquire(1).await.is_err());
	fleet_queue_reaches(&a, 1, 1).await;

	// The waiting request's client goes away: it leaves the queue.
	waiting.abort();
	let _ = waiting.await;
	fleet_queue_reaches(&a, 1, 0).await;
	assert_eq!(qa.load(), (1, 0));

	// Instance a stops without giving its place back; b waits for it...
	std::mem::forget(held);
	drop(qa);
	let qb = Scheduler::shared(b.clone(), 1, 1, Duration::from_secs(20)).await.unwrap();
	let next = tokio::spawn({
		let qb = qb.clone();
		async move { qb.acquire(1).await.map(drop) }
	});
	fleet_queue_reaches(&b, 1, 1).await;
	// ...and gets it when a starts again.
	let qa = Scheduler::shared(a.clone(), 1, 1, Duration::from_secs(20)).await.unwrap();
	next.await.unwrap().unwrap();
	fleet_queue_reaches(&a, 0, 0).await;

	// An instance that holds places only briefly (hold 0) and never comes back: its place
	// is freed for b once the hold has ended.
	let gone = Store::connect(&pg.url, "gone", Duration::ZERO, Sync::Normal).await.unwrap();
	let qg = Scheduler::shared(gone, 1, 1, Duration::from_secs(20)).await.unwrap();
	std::mem::forget(qg.acquire(1).await.unwrap());
	drop(qg);
	qb.acquire(1).await.unwrap();
	fleet_queue_reaches(&b, 0, 0).await;

	// The database restarts after a crash: its unlogged queue is empty. A place held before
	// is not given back twice.
	let before = qa.acquire(1).await.unwrap();
	sqlx::query("TRUNCATE queue_places, queue_classes, queue_clock")
		.execute(&a.pool)
		.await
		.unwrap();
	let after = qb.acquire(1).await.unwrap();
	fleet_queue_reaches(&b, 1, 0).await;
	drop(before);
	tokio::time::sleep(Duration::from_millis(100)).await;
	fleet_queue_reaches(&b, 1, 0).await;
	drop(after);
	fleet_queue_reaches(&b, 0, 0).await;
}
