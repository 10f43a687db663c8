//! The store's tests, on the embedded database and on PostgreSQL servers started for them.

use super::*;
use sp_keyring::Sr25519Keyring::{Alice, Bob, Charlie};

/// A session commitment as vouchers carry it (32 bytes of hex).
const SESSION: &str = "0x0202020202020202020202020202020202020202020202020202020202020202";

/// Admits and charges one request of `user` with a voucher of `cap`; returns what was
/// charged.
#[allow(clippy::too_many_arguments)]
async fn serve(
	store: &Store,
	user: &AccountId32,
	cap: u128,
	expiry: u32,
	signature: &str,
	model: u32,
	tokens: u32,
	cost: u128,
) -> Result<u128, Refusal> {
	try_serve(store, user, cap, expiry, signature, model, tokens, cost).await.unwrap()
}

/// As [`serve`], with the store's errors returned (a charge it could not write).
#[allow(clippy::too_many_arguments)]
async fn try_serve(
	store: &Store,
	user: &AccountId32,
	cap: u128,
	expiry: u32,
	signature: &str,
	model: u32,
	tokens: u32,
	cost: u128,
) -> Result<Result<u128, Refusal>, StoreError> {
	let admission = Admission {
		user,
		payer: user,
		cap,
		expiry,
		signature,
		session: SESSION,
		worst: cost,
		settled: 0,
		available: u128::MAX,
	};
	let id = match store.admit(&admission).await?.1 {
		Ok(id) => id,
		Err(refusal) => return Ok(Err(refusal)),
	};
	let usage = Charge {
		user: user.clone(),
		payer: user.clone(),
		model,
		input_tokens: tokens,
		output_tokens: 1,
		cost,
		served_at: 7,
	};
	Ok(Ok(store.charge(id, &usage, cap, 0).await?.0))
}

#[tokio::test]
async fn charges_aggregate_into_gap_free_feed_records_that_survive_a_restart() {
	let dir = tempfile::tempdir().unwrap();
	let path = dir.path().join("usage.db");
	let (bob, charlie) = (Bob.to_account_id(), Charlie.to_account_id());
	{
		let store = Store::open(&path, Sync::Normal).await.unwrap();
		assert_eq!(serve(&store, &bob, 100, 50, "0x01aa", 0, 10, 3).await, Ok(3));
		assert_eq!(serve(&store, &charlie, 10, 50, "0x01cc", 0, 5, 2).await, Ok(2));
		// A later voucher with a lower cap is not the one kept.
		assert_eq!(serve(&store, &bob, 90, 60, "0x01bb", 0, 20, 4).await, Ok(4));
		assert_eq!(serve(&store, &bob, 100, 50, "0x01aa", 1, 7, 1).await, Ok(1));
		let sealed = store.seal().await.unwrap();
		assert_eq!(sealed, vec![(1, bob.clone(), 7), (2, charlie.clone(), 2), (3, bob.clone(), 1)]);
		assert!(store.seal().await.unwrap().is_empty(), "nothing is sealed twice");
		assert_eq!(store.book(&bob).await.unwrap(), Book { reserved: 0, unsettled: 8 });
	}
	// After a restart: the same records and books, and new ones continue the numbering.
	let store = Store::open(&path, Sync::Normal).await.unwrap();
	let feed = store.feed_after(0, 10).await.unwrap();
	assert_eq!(feed.len(), 3);
	assert_eq!((feed[0].input_tokens, feed[0].output_tokens, feed[0].cost), (30, 2, 7));
	// The better voucher (cap 100) is the one kept, not the later one with a lower cap.
	assert_eq!((feed[0].cap, feed[0].signature.as_str()), (100, "0x01aa"));
	let json = feed[0].to_json();
	assert_eq!(json["user"], bob.to_ss58check());
	assert_eq!(json["on_behalf_of"], Value::Null);
	assert_eq!(json["voucher"]["cap"], "100");
	assert_eq!(store.feed_after(1, 1).await.unwrap()[0].seq, 2);
	assert_eq!(store.book(&bob).await.unwrap().unsettled, 8);
	// Attested through 3: the records leave the feed and the books, once.
	assert_eq!(store.attested(3).await.unwrap(), 3);
	assert_eq!(store.attested(3).await.unwrap(), 0);
	assert_eq!(store.book(&bob).await.unwrap(), Book::default());
	assert!(store.feed_after(0, 10).await.unwrap().is_empty());
	// The feed was emptied: numbers are never reused.
	assert_eq!(serve(&store, &charlie, 10, 50, "0x01cc", 0, 1, 1).await, Ok(1));
	assert_eq!(store.seal().await.unwrap(), vec![(4, charlie.clone(), 1)]);
	assert_eq!(store.totals().await.unwrap(), (0, 1));
	let totals = store.user_totals(&bob, 1).await.unwrap();
	assert_eq!((totals.requests, totals.charged, totals.attested), (3, 8, 7));
}

/// Concurrent requests of one user (each on its own pooled connection) never together
/// reserve or charge beyond the voucher, and none fails with "database is locked".
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_requests_never_overspend_a_voucher() {
	let dir = tempfile::tempdir().unwrap();
	let store = Store::open(&dir.path().join("usage.db"), Sync::Full).await.unwrap();
	let bob = Bob.to_account_id();
	let requests: Vec<_> = (0..32)
		.map(|_| {
			let (store, bob) = (store.clone(), bob.clone());
			tokio::spawn(async move { serve(&store, &bob, 100, 100, "0x01", 0, 1, 10).await })
		})
		.collect();
	let mut served = 0;
	for request in requests {
		match request.await.unwrap() {
			Ok(charged) => {
				assert_eq!(charged, 10);
				served += 1;
			}
			Err(Refusal::CapTooLow { cap_needed }) => assert!(cap_needed > 100),
			Err(other) => panic!("unexpected refusal {other:?}"),
		}
	}
	assert_eq!(served, 10);
	assert_eq!(store.book(&bob).await.unwrap(), Book { reserved: 0, unsettled: 100 });
	let totals = store.user_totals(&bob, 0).await.unwrap();
	assert_eq!((totals.requests, totals.charged), (10, 100));
}

/// A charge takes at most the voucher's headroom, counting the user's other reservations;
/// a refusal changes nothing; a reservation ends with its release or the instance's
/// restart, or lapses after its hold.
#[tokio::test]
async fn reservations_bound_charges_and_end() {
	let dir = tempfile::tempdir().unwrap();
	let path = dir.path().join("usage.db");
	let bob = Bob.to_account_id();
	let admission = |worst, cap| Admission {
		user: &bob,
		payer: &bob,
		cap,
		expiry: 100,
		signature: "0x01",
		session: SESSION,
		worst,
		settled: 20,
		available: 1_000,
	};
	let store = Store::open(&path, Sync::Normal).await.unwrap();
	let (_, first) = store.admit(&admission(30, 100)).await.unwrap();
	let (book, second) = store.admit(&admission(40, 100)).await.unwrap();
	assert_eq!(book, Book { reserved: 30, unsettled: 0 });
	let (first, second) = (first.unwrap(), second.unwrap());
	// Over the cap: refused, nothing reserved, no voucher kept.
	let (book, refused) = store.admit(&admission(20, 100)).await.unwrap();
	assert_eq!(refused, Err(Refusal::CapTooLow { cap_needed: 110 }));
	assert_eq!(store.book(&bob).await.unwrap(), book);
	// The second answer cost more than reserved: charged only up to the cap, with the
	// first still reserved (100 - 20 settled - 30 = 50).
	let usage = Charge {
		user: bob.clone(),
		payer: bob.clone(),
		model: 0,
		input_tokens: 1,
		output_tokens: 1,
		cost: 70,
		served_at: 7,
	};
	let (charged, book) = store.charge(second, &usage, 100, 20).await.unwrap();
	assert_eq!((charged, book), (50, Book { reserved: 30, unsettled: 50 }));
	store.release(first).await.unwrap();
	assert_eq!(store.book(&bob).await.unwrap(), Book { reserved: 0, unsettled: 50 });
	// Reservations end with the process; the unsettled charges are rebuilt at start.
	store.admit(&admission(10, 100)).await.unwrap().1.unwrap();
	drop(store);
	let store = Store::open(&path, Sync::Normal).await.unwrap();
	assert_eq!(store.book(&bob).await.unwrap(), Book { reserved: 0, unsettled: 50 });
	assert!(Store::connect("mysql://x", "x", Duration::ZERO, Sync::Normal).await.is_err());
}

/// A write that fails in the writer's batch is undone alone: the others commit.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_failed_write_is_undone_alone() {
	let dir = tempfile::tempdir().unwrap();
	let store = Store::open(&dir.path().join("usage.db"), Sync::Full).await.unwrap();
	let writes: Vec<_> = (0..16i64)
		.map(|i| {
			let store = store.clone();
			tokio::spawn(async move {
				store
					.run(move |tx| {
						Box::pin(async move {
							sqlx::query("INSERT INTO meta (key, value) VALUES ($1, $2)")
								.bind(format!("k{i}"))
								.bind(i)
								.execute(&mut *tx)
								.await?;
							if i % 2 == 1 {
								sqlx::query("SELECT * FROM no_such_table")
									.execute(&mut *tx)
									.await?;
							}
							Ok(i)
						})
					})
					.await
			})
		})
		.collect();
	for (i, write) in writes.into_iter().enumerate() {
		assert_eq!(write.await.unwrap().is_ok(), i % 2 == 0);
	}
	let kept = sqlx::query("SELECT key FROM meta WHERE key LIKE 'k%'")
		.fetch_all(&store.pool)
		.await
		.unwrap();
	assert_eq!(kept.len(), 8);
}

/// Charges waiting together are written by one statement, beside other writes of the same
/// batch that fail and are undone alone: every charge lands, once, and survives a restart.
#[tokio::test]
async fn charges_written_together_beside_failing_writes_all_land() {
	let dir = tempfile::tempdir().unwrap();
	let path = dir.path().join("usage.db");
	let bob = Bob.to_account_id();
	{
		let store = Store::open(&path, Sync::Normal).await.unwrap();
		let mut tasks = Vec::new();
		for i in 0..200u32 {
			let (store, bob) = (store.clone(), bob.clone());
			tasks.push(tokio::spawn(async move {
				if i % 10 == 5 {
					// A write that fails between the charges.
					let failed = store
						.run(|tx| {
							Box::pin(async move {
								sqlx::query("SELECT * FROM no_such_table")
									.execute(&mut *tx)
									.await?;
								Ok(())
							})
						})
						.await;
					assert!(failed.is_err());
					return 0;
				}
				serve(&store, &bob, u128::MAX, 100, "0x01", 0, 1, u128::from(i)).await.unwrap()
			}));
		}
		let mut charged = 0;
		for task in tasks {
			charged += task.await.unwrap();
		}
		let expected: u128 = (0..200u128).filter(|i| i % 10 != 5).sum();
		assert_eq!(charged, expected);
		let totals = store.user_totals(&bob, 0).await.unwrap();
		assert_eq!((totals.requests, totals.charged), (180, expected));
	}
	let store = Store::open(&path, Sync::Normal).await.unwrap();
	let expected: u128 = (0..200u128).filter(|i| i % 10 != 5).sum();
	assert_eq!(store.book(&bob).await.unwrap(), Book { reserved: 0, unsettled: expected });
	let sealed = store.seal().await.unwrap();
	assert_eq!(sealed, vec![(1, bob.clone(), expected)]);
	let totals = store.user_totals(&bob, 1).await.unwrap();
	assert_eq!((totals.requests, totals.charged, totals.attested), (180, expected, expected));
}

/// Sealing many charged requests of two users, interleaved, moves every one of them into a
/// feed record once: the records numbered without gaps, per user as much as was charged.
#[tokio::test]
async fn a_seal_of_many_requests_moves_each_once() {
	let dir = tempfile::tempdir().unwrap();
	let store = Store::open(&dir.path().join("usage.db"), Sync::Normal).await.unwrap();
	let (bob, charlie) = (Bob.to_account_id(), Charlie.to_account_id());
	let n = 4 * store.seal_chunk() + 7;
	for i in 0..n {
		let who = if i % 3 == 0 { &charlie } else { &bob };
		serve(&store, who, u128::MAX, 100, "0x01", 0, 1, 1).await.unwrap();
	}
	let sealed = store.seal().await.unwrap();
	let charlie_count = n.div_ceil(3) as u128;
	let bob_count = n as u128 - charlie_count;
	let seqs: Vec<u64> = sealed.iter().map(|(seq, _, _)| *seq).collect();
	assert_eq!(seqs, (1..=sealed.len() as u64).collect::<Vec<_>>(), "numbered without gaps");
	let total = |who: &AccountId32| -> u128 {
		sealed.iter().filter(|(_, user, _)| user == who).map(|(_, _, cost)| cost).sum()
	};
	assert_eq!((total(&charlie), total(&bob)), (charlie_count, bob_count));
	assert!(store.seal().await.unwrap().is_empty());
	let totals = store.user_totals(&bob, sealed.len() as u64).await.unwrap();
	assert_eq!((totals.requests as u128, totals.attested), (bob_count, bob_count));
	let left = sqlx::query("SELECT COUNT(*) AS n FROM pending").fetch_one(&store.pool).await;
	assert_eq!(left.unwrap().get::<i64, _>("n"), 0);
	let feed = store.feed_after(0, 100).await.unwrap();
	let tokens: u32 = feed.iter().map(|r| r.input_tokens).sum();
	assert_eq!(u128::from(tokens), charlie_count + bob_count);
}

/// More charged requests than one seal takes are sealed in several transactions, each
/// request once, the feed numbered without gaps: 256 at most a transaction where charges wait
/// on the writer (a sync per commit), more with the charge journal, where none does.
#[tokio::test]
async fn a_busy_seconds_requests_are_sealed_in_chunks() {
	let dir = tempfile::tempdir().unwrap();
	let bob = Bob.to_account_id();
	for (name, sync, chunk) in [
		("full.db", Sync::Full, feed::SEAL_CHUNK),
		("normal.db", Sync::Normal, feed::JOURNALLED_SEAL_CHUNK),
	] {
		let store = Store::open(&dir.path().join(name), sync).await.unwrap();
		assert_eq!(store.seal_chunk(), chunk);
		let n = chunk + 5;
		for _ in 0..n {
			serve(&store, &bob, u128::MAX, 100, "0x01", 0, 1, 1).await.unwrap();
		}
		let sealed = store.seal().await.unwrap();
		assert_eq!(sealed, vec![(1, bob.clone(), chunk as u128), (2, bob.clone(), 5)], "{name}");
		let left = sqlx::query("SELECT COUNT(*) AS n FROM pending").fetch_one(&store.pool).await;
		assert_eq!(left.unwrap().get::<i64, _>("n"), 0);
		let feed = store.feed_after(0, 10).await.unwrap();
		let tokens: u32 = feed.iter().map(|r| r.input_tokens).sum();
		assert_eq!(tokens as usize, n);
	}
}

/// Seals running while requests are charged (each request's task seals after its charge, as
/// the timer and the operator's reads may overlap): one gap-free feed, each request in it
/// once, nothing left waiting.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn seals_beside_charges_take_each_request_once() {
	let dir = tempfile::tempdir().unwrap();
	let store = Store::open(&dir.path().join("usage.db"), Sync::Normal).await.unwrap();
	let (bob, charlie) = (Bob.to_account_id(), Charlie.to_account_id());
	let n = 3 * store.seal_chunk() as u32;
	let mut tasks = Vec::new();
	for i in 0..n {
		let store = store.clone();
		let user = if i % 3 == 0 { charlie.clone() } else { bob.clone() };
		tasks.push(tokio::spawn(async move {
			serve(&store, &user, u128::MAX, 100, "0x01", i % 2, 1, 1).await.unwrap();
			if i % 16 == 0 {
				store.seal().await.unwrap();
			}
		}));
	}
	for task in tasks {
		task.await.unwrap();
	}
	store.seal().await.unwrap();
	let feed = store.feed_after(0, 10_000).await.unwrap();
	let seqs: Vec<u64> = feed.iter().map(|r| r.seq).collect();
	assert_eq!(seqs, (1..=feed.len() as u64).collect::<Vec<_>>(), "numbered without gaps");
	assert_eq!(feed.iter().map(|r| r.cost).sum::<u128>(), u128::from(n));
	assert_eq!(feed.iter().map(|r| u64::from(r.input_tokens)).sum::<u64>(), u64::from(n));
	let count = |sql: &'static str| {
		let pool = store.pool.clone();
		async move { sqlx::query(sql).fetch_one(&pool).await.unwrap().get::<i64, _>("n") }
	};
	assert_eq!(count("SELECT COUNT(*) AS n FROM pending").await, 0);
	assert_eq!(
		count("SELECT COUNT(*) AS n FROM requests WHERE feed_seq IS NOT NULL").await,
		n as i64
	);
}

/// What a seal takes is read the same on the seal's own connection (`rusqlite`, beside the
/// writer) as through the pool: groups in the order of their first request, split where the
/// tokens would not fit a record, at most one chunk's requests.
#[tokio::test]
async fn the_seal_reader_groups_as_the_pool_does() {
	let dir = tempfile::tempdir().unwrap();
	let store = Store::open(&dir.path().join("usage.db"), Sync::Normal).await.unwrap();
	let (alice, bob) = (Alice.to_account_id(), Bob.to_account_id());
	let chunk = store.seal_chunk();
	for i in 0..chunk as u32 + 10 {
		let (user, model) = match i % 5 {
			0 | 1 => (&bob, 0),
			2 => (&alice, 0),
			3 => (&bob, 1),
			_ => (&alice, 1),
		};
		// Bob's model 1: tokens that fill a record every two requests.
		let tokens = if (user, model) == (&bob, 1) { u32::MAX / 2 + 1 } else { 1 + i };
		serve(&store, user, u128::MAX, 100, "0x01", model, tokens, 1).await.unwrap();
	}
	// The charges out of the journal, into `pending` (as a seal does first).
	store.flush().await.unwrap();
	let mut conn = store.pool.acquire().await.unwrap();
	let pooled = feed::pending_groups(&mut conn, chunk).await.unwrap();
	drop(conn);
	let read = store.reader.as_ref().unwrap().pending_groups(chunk).await.unwrap();
	assert_eq!(read.1, chunk);
	assert_eq!(read, pooled);
	let order: Vec<_> = read.0.iter().map(|((user, _, model), _)| (user.clone(), *model)).collect();
	let ss58 = |a: &AccountId32| a.to_ss58check();
	assert_eq!(order, vec![(ss58(&bob), 0), (ss58(&alice), 0), (ss58(&bob), 1), (ss58(&alice), 1)]);
	// Bob's model 1: one record every two requests.
	let (_, chunks) = &read.0[2];
	assert!(chunks.len() > 1, "split into records");
	// Sealed from the reader's groups: every request once.
	let sealed = store.seal().await.unwrap();
	let costs: u128 = sealed.iter().map(|(_, _, cost)| cost).sum();
	assert_eq!(costs, chunk as u128 + 10);
}

/// A seal of requests read before its transaction that another seal took meanwhile fails and
/// changes nothing: no record, no request moved twice.
#[tokio::test]
async fn a_seal_of_requests_already_taken_fails_and_changes_nothing() {
	let dir = tempfile::tempdir().unwrap();
	let store = Store::open(&dir.path().join("usage.db"), Sync::Normal).await.unwrap();
	let bob = Bob.to_account_id();
	for _ in 0..5 {
		serve(&store, &bob, u128::MAX, 100, "0x01", 0, 1, 1).await.unwrap();
	}
	store.flush().await.unwrap();
	let mut conn = store.pool.acquire().await.unwrap();
	let read = feed::pending_groups(&mut conn, store.seal_chunk()).await.unwrap();
	drop(conn);
	assert_eq!(store.seal().await.unwrap(), vec![(1, bob.clone(), 5)]);
	serve(&store, &bob, u128::MAX, 100, "0x01", 0, 1, 1).await.unwrap();
	let stale = store.clone();
	let again =
		store.run(move |tx| Box::pin(async move { stale.seal_in(tx, Some(read)).await })).await;
	assert!(again.is_err(), "sealed twice: {again:?}");
	let feed = store.feed_after(0, 10).await.unwrap();
	assert_eq!(feed.iter().map(|r| (r.seq, r.cost)).collect::<Vec<_>>(), vec![(1, 5)]);
	let requests = sqlx::query("SELECT COUNT(*) AS n FROM requests").fetch_one(&store.pool).await;
	assert_eq!(requests.unwrap().get::<i64, _>("n"), 5);
	// The request charged since is sealed next, as record 2.
	assert_eq!(store.seal().await.unwrap(), vec![(2, bob.clone(), 1)]);
}

/// Charges written to the journal and not yet moved when the gateway stopped (a crash) are
/// moved at the next start, before the books are read: each once — a line already moved, or
/// one cut short by the crash, is not — and the files moved are deleted.
#[tokio::test]
async fn charges_left_in_the_journal_are_moved_at_the_next_start_once() {
	let dir = tempfile::tempdir().unwrap();
	let path = dir.path().join("usage.db");
	let bob = Bob.to_account_id();
	{
		let store = Store::open(&path, Sync::Normal).await.unwrap();
		for cost in [1, 2, 3] {
			serve(&store, &bob, u128::MAX, 100, "0x01", 0, 1, cost).await.unwrap();
		}
		assert_eq!(store.seal().await.unwrap(), vec![(1, bob.clone(), 6)]);
	}
	// What a crash leaves: a journal file with a line already moved (3), two that were not
	// (4, 5) and one cut short by the crash (6).
	let row = |cost: u128| RequestRow {
		user: bob.to_ss58check().into(),
		payer: bob.to_ss58check().into(),
		model: 0,
		input_tokens: 1,
		output_tokens: 1,
		cost,
		created_at: 1,
		served_at: 7,
	};
	let mut text = String::new();
	let mut line = String::new();
	for (n, cost) in [(3, 3), (4, 40), (5, 50)] {
		journal::encode(&mut line, n, &row(cost));
		text.push_str(&line);
	}
	journal::encode(&mut line, 6, &row(600));
	text.push_str(&line[..line.len() / 2]);
	let left = dir.path().join("usage.db-charges.90");
	std::fs::write(&left, text).unwrap();
	let store = Store::open(&path, Sync::Normal).await.unwrap();
	assert_eq!(store.book(&bob).await.unwrap(), Book { reserved: 0, unsettled: 6 + 90 });
	assert!(!left.exists(), "moved, then deleted");
	assert_eq!(store.seal().await.unwrap(), vec![(2, bob.clone(), 90)]);
	let totals = store.user_totals(&bob, 0).await.unwrap();
	assert_eq!((totals.requests, totals.charged), (5, 96));
	// Numbering goes on after the lines found: a charge now is moved, not taken for one
	// already moved.
	serve(&store, &bob, u128::MAX, 100, "0x01", 0, 1, 7).await.unwrap();
	assert_eq!(store.seal().await.unwrap(), vec![(3, bob.clone(), 7)]);
	drop(store);
	let store = Store::open(&path, Sync::Normal).await.unwrap();
	assert_eq!(store.book(&bob).await.unwrap(), Book { reserved: 0, unsettled: 103 });
	assert!(store.seal().await.unwrap().is_empty(), "nothing moved twice");
}

/// With `--sync-every-commit` charges are committed one by one through the writer, without the
/// journal: no journal file, and every charge in the database when it returns.
#[tokio::test]
async fn with_a_sync_per_commit_charges_go_to_the_database_without_the_journal() {
	let dir = tempfile::tempdir().unwrap();
	let path = dir.path().join("usage.db");
	let bob = Bob.to_account_id();
	{
		let store = Store::open(&path, Sync::Full).await.unwrap();
		assert!(store.journal.is_none());
		for cost in [1, 2, 3] {
			serve(&store, &bob, u128::MAX, 100, "0x01", 0, 1, cost).await.unwrap();
		}
		let pending = sqlx::query("SELECT COUNT(*) AS n FROM pending").fetch_one(&store.pool);
		assert_eq!(pending.await.unwrap().get::<i64, _>("n"), 3, "committed when charged");
	}
	let journal_files = std::fs::read_dir(dir.path())
		.unwrap()
		.filter(|e| e.as_ref().unwrap().file_name().to_string_lossy().contains("-charges."))
		.count();
	assert_eq!(journal_files, 0);
	let store = Store::open(&path, Sync::Full).await.unwrap();
	assert_eq!(store.book(&bob).await.unwrap(), Book { reserved: 0, unsettled: 6 });
	assert_eq!(store.seal().await.unwrap(), vec![(1, bob.clone(), 6)]);
}

/// A charge the journal refuses is not charged: an error, the books as before the charge,
/// nothing to seal; the journal's earlier charges are unaffected.
#[tokio::test]
async fn a_charge_the_journal_refuses_charges_nothing() {
	let dir = tempfile::tempdir().unwrap();
	let store = Store::open(&dir.path().join("usage.db"), Sync::Normal).await.unwrap();
	let bob = Bob.to_account_id();
	serve(&store, &bob, u128::MAX, 100, "0x01", 0, 1, 5).await.unwrap();
	store.journal.as_ref().unwrap().refuse("the disk is full");
	let refused = try_serve(&store, &bob, u128::MAX, 100, "0x01", 0, 1, 9).await;
	let refused = refused.unwrap_err().to_string();
	assert!(refused.contains("the disk is full"), "{refused}");
	assert_eq!(store.book(&bob).await.unwrap(), Book { reserved: 0, unsettled: 5 });
	assert_eq!(store.seal().await.unwrap(), vec![(1, bob.clone(), 5)]);
	let totals = store.user_totals(&bob, 0).await.unwrap();
	assert_eq!((totals.requests, totals.charged), (1, 5));
}

/// The writer's charged requests: more than one statement takes are written by several
/// statements in one transaction, each row once; a batch that cannot be written answers every
/// row with the error and writes none of them.
#[tokio::test]
async fn the_writer_writes_a_large_batch_whole_and_a_failed_one_not_at_all() {
	let dir = tempfile::tempdir().unwrap();
	let path = dir.path().join("usage.db");
	let store = Store::open(&path, Sync::Normal).await.unwrap();
	let conn = rusqlite::Connection::open(&path).unwrap();
	let mut statements = InsertStatements::default();
	let row = |i: u32| RequestRow {
		user: "5Grw".into(),
		payer: "5Grw".into(),
		model: i,
		input_tokens: i,
		output_tokens: 1,
		cost: u128::MAX - u128::from(i),
		created_at: 1,
		served_at: 2,
	};
	let rows: Vec<_> = (0..2 * ROWS_PER_INSERT as u32 + 3).map(row).collect();
	let results = insert_rows(&conn, &mut statements, &rows);
	assert!(results.len() == rows.len() && results.iter().all(Result::is_ok), "{results:?}");
	let written = sqlx::query("SELECT model, input_tokens, cost FROM pending ORDER BY id")
		.fetch_all(&store.pool)
		.await
		.unwrap();
	assert_eq!(written.len(), rows.len());
	for (i, got) in written.iter().enumerate() {
		assert_eq!(got.get::<i64, _>("model"), i as i64);
		assert_eq!(got.get::<i64, _>("input_tokens"), i as i64);
		assert_eq!(got.get::<&str, _>("cost"), (u128::MAX - i as u128).to_string());
	}
	// A batch whose transaction cannot start (the database is held by another writer, and
	// the writer's wait for it is cut short): every row fails, none is written.
	let other = rusqlite::Connection::open(&path).unwrap();
	other.execute_batch("BEGIN IMMEDIATE").unwrap();
	conn.busy_timeout(Duration::from_millis(1)).unwrap();
	let results = insert_rows(&conn, &mut statements, &rows);
	assert!(results.len() == rows.len() && results.iter().all(Result::is_err), "{results:?}");
	other.execute_batch("ROLLBACK").unwrap();
	let n = sqlx::query("SELECT COUNT(*) AS n FROM pending").fetch_one(&store.pool).await;
	assert_eq!(n.unwrap().get::<i64, _>("n"), rows.len() as i64, "nothing more written");
}

/// A database written by the previous version (charged requests kept in `requests` without
/// a feed number) opens with those requests still to be sealed, and nothing counted twice.
#[tokio::test]
async fn requests_charged_before_the_upgrade_are_still_sealed() {
	let dir = tempfile::tempdir().unwrap();
	let path = dir.path().join("usage.db");
	let bob = Bob.to_account_id();
	{
		let store = Store::open(&path, Sync::Normal).await.unwrap();
		serve(&store, &bob, 1_000, 100, "0x01", 0, 4, 40).await.unwrap();
		assert_eq!(store.seal().await.unwrap(), vec![(1, bob.clone(), 40)]);
		// As the previous version left a charged request: in `requests`, not yet sealed.
		sqlx::query(
			"INSERT INTO requests (\"user\", payer, model, input_tokens, output_tokens, cost,
			 created_at) VALUES ($1, $1, 0, 3, 1, '30', 0)",
		)
		.bind(bob.to_ss58check())
		.execute(&store.pool)
		.await
		.unwrap();
	}
	let store = Store::open(&path, Sync::Normal).await.unwrap();
	assert_eq!(store.book(&bob).await.unwrap(), Book { reserved: 0, unsettled: 70 });
	assert_eq!(store.seal().await.unwrap(), vec![(2, bob.clone(), 30)]);
	let totals = store.user_totals(&bob, 2).await.unwrap();
	assert_eq!((totals.requests, totals.charged, totals.attested), (2, 70, 70));
	// Opening again moves nothing twice.
	drop(store);
	let store = Store::open(&path, Sync::Normal).await.unwrap();
	assert!(store.seal().await.unwrap().is_empty());
	assert_eq!(store.user_totals(&bob, 2).await.unwrap().requests, 2);
}

/// Issue 28 §6: after a lost or reset database the feed counter restarted at 1, at or
/// below the chain's `LastSeq`: those records were dropped as attested and never paid.
/// The counter now starts past what the chain attested.
#[tokio::test]
async fn a_reset_database_numbers_the_feed_past_the_chains_last_seq() {
	let dir = tempfile::tempdir().unwrap();
	let bob = Bob.to_account_id();
	// At start, the best block's `LastSeq`.
	let store = Store::open(&dir.path().join("a.db"), Sync::Normal).await.unwrap();
	store.skip_seq_to(50).await.unwrap();
	store.skip_seq_to(20).await.unwrap();
	serve(&store, &bob, 1_000, 100, "0x01", 0, 4, 40).await.unwrap();
	assert_eq!(store.seal().await.unwrap(), vec![(51, bob.clone(), 40)]);
	// Or the finalised one, through `attested`: the record is kept, not taken as attested.
	let store = Store::open(&dir.path().join("b.db"), Sync::Normal).await.unwrap();
	assert_eq!(store.attested(50).await.unwrap(), 0);
	serve(&store, &bob, 1_000, 100, "0x01", 0, 4, 40).await.unwrap();
	assert_eq!(store.seal().await.unwrap(), vec![(51, bob.clone(), 40)]);
	assert_eq!(store.attested(50).await.unwrap(), 0);
	assert_eq!(store.feed_after(50, 10).await.unwrap().len(), 1);
}

/// A database of the version before sessions (its `vouchers` and `feed` tables without a
/// `session` column) opens with the column added: its feed records read with no session,
/// and new vouchers keep theirs for the feed.
#[tokio::test]
async fn a_database_from_before_sessions_gains_the_column() {
	let dir = tempfile::tempdir().unwrap();
	let path = dir.path().join("usage.db");
	let bob = Bob.to_account_id();
	{
		let store = Store::open(&path, Sync::Normal).await.unwrap();
		serve(&store, &bob, 1_000, 100, "0x01", 0, 4, 40).await.unwrap();
		store.seal().await.unwrap();
		for (table, column) in [("vouchers", "session"), ("feed", "session"), ("feed", "served_at")]
		{
			sqlx::query(&format!("ALTER TABLE {table} DROP COLUMN {column}"))
				.execute(&store.pool)
				.await
				.unwrap();
		}
	}
	let store = Store::open(&path, Sync::Normal).await.unwrap();
	let old = store.feed_after(0, 10).await.unwrap();
	assert_eq!((old.len(), old[0].session.clone()), (1, None));
	assert_eq!(old[0].to_json()["voucher"]["session"], Value::Null);
	serve(&store, &bob, 2_000, 100, "0x01", 0, 4, 40).await.unwrap();
	store.seal().await.unwrap();
	let new = store.feed_after(1, 10).await.unwrap();
	assert_eq!(new[0].session.as_deref(), Some(SESSION));
	assert_eq!((old[0].served_at, new[0].served_at), (None, Some(7)));
	assert_eq!(new[0].to_json()["served_at"], 7);
	assert_eq!(new[0].to_json()["voucher"]["session"], SESSION);
	// Opening again adds nothing twice.
	drop(store);
	Store::open(&path, Sync::Normal).await.unwrap();
}

/// The index of `requests` by feed number, which nothing reads (and every sealed request paid
/// for), is dropped from a database made before; the one by user, which the totals read, stays.
#[tokio::test]
async fn the_unread_index_of_requests_by_feed_number_is_dropped() {
	let dir = tempfile::tempdir().unwrap();
	let path = dir.path().join("usage.db");
	async fn indexes(store: &Store) -> Vec<String> {
		sqlx::query("SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'requests'")
			.fetch_all(&store.pool)
			.await
			.unwrap()
			.iter()
			.map(|row| row.get::<String, _>("name"))
			.collect()
	}
	{
		let store = Store::open(&path, Sync::Normal).await.unwrap();
		assert_eq!(indexes(&store).await, vec!["requests_by_user"]);
		// As the version before left it.
		sqlx::query("CREATE INDEX requests_by_feed_seq ON requests(feed_seq)")
			.execute(&store.pool)
			.await
			.unwrap();
	}
	let store = Store::open(&path, Sync::Normal).await.unwrap();
	assert_eq!(indexes(&store).await, vec!["requests_by_user"]);
}

/// The write-ahead log starts over once the writer's checkpoint completes: one commit per
/// charge (each moved out of the journal alone) for many more commits than the threshold
/// leaves a log of about the threshold,
/// not one that grows with every charge. `--sync-every-commit` is SQLite's FULL.
#[tokio::test]
async fn the_log_stays_bounded_and_sync_is_as_asked() {
	let dir = tempfile::tempdir().unwrap();
	let path = dir.path().join("usage.db");
	let store = Store::open(&path, Sync::Normal).await.unwrap();
	let bob = Bob.to_account_id();
	// Each charge alone moved out of the journal: one commit, at least one page of log each.
	for _ in 0..12_000 {
		serve(&store, &bob, u128::MAX, 100, "0x01", 0, 1, 1).await.unwrap();
		store.flush().await.unwrap();
	}
	let page = 4096u64;
	let log = std::fs::metadata(dir.path().join("usage.db-wal")).unwrap().len();
	let bound = 2 * u64::from(WRITER_CHECKPOINT_PAGES) * page;
	assert!(log < bound, "the log is {log} bytes after 12,000 commits");
	let synchronous = |store: Store| async move {
		sqlx::query("PRAGMA synchronous").fetch_one(&store.pool).await.unwrap().get::<i64, _>(0)
	};
	assert_eq!(synchronous(store).await, 1, "NORMAL");
	let other = dir.path().join("full.db");
	assert_eq!(synchronous(Store::open(&other, Sync::Full).await.unwrap()).await, 2, "FULL");
}

#[tokio::test]
async fn settlement_events_are_counted_once_per_block_even_when_read_again() {
	use crate::events::Settlement;
	let dir = tempfile::tempdir().unwrap();
	let path = dir.path().join("usage.db");
	let (bob, charlie) = (Bob.to_account_id(), Charlie.to_account_id());
	let store = Store::open(&path, Sync::Normal).await.unwrap();
	assert_eq!(store.reconciled_through().await.unwrap(), None);
	let block = vec![
		Settlement::Settled { user: bob.clone(), charged: 90, from_allowance: 10, fee: 5 },
		Settlement::AboveCap { user: bob.clone(), unpaid: 7 },
		Settlement::Rejected { user: charlie.clone(), entries: 2, reason: "BadSignature".into() },
	];
	store.record_settlements(12, &block).await.unwrap();
	// A crash before the caller saw the commit: the block is read again, nothing doubles.
	store.record_settlements(12, &block).await.unwrap();
	store
		.record_settlements(
			13,
			&[
				Settlement::Shortfall { user: bob.clone(), unpaid: 3 },
				Settlement::Settled { user: bob.clone(), charged: 1, from_allowance: 0, fee: 0 },
			],
		)
		.await
		.unwrap();
	drop(store);
	let store = Store::open(&path, Sync::Normal).await.unwrap();
	assert_eq!(store.reconciled_through().await.unwrap(), Some(13));
	let totals = store.chain_totals(&bob).await.unwrap();
	assert_eq!((totals.settled, totals.fees, totals.above_cap, totals.shortfall), (101, 5, 7, 3));
	assert!(totals.rejected.is_empty());
	let charlie = store.chain_totals(&charlie).await.unwrap();
	assert_eq!(charlie.rejected.get("BadSignature"), Some(&2));
	assert_eq!(charlie.settled, 0);
}

mod journal_seal;
mod postgres;
