//! Sealing straight from the charge journal.

use super::*;

/// The number of rows `sql` (a `SELECT COUNT(*) AS n …`) counts.
async fn count_of(store: &Store, sql: &str) -> i64 {
	sqlx::query(sql).fetch_one(&store.pool).await.unwrap().get::<i64, _>("n")
}

/// A `meta` value, 0 if unset.
async fn meta_of(store: &Store, key: &str) -> i64 {
	sqlx::query("SELECT value FROM meta WHERE key = $1")
		.bind(key)
		.fetch_optional(&store.pool)
		.await
		.unwrap()
		.map_or(0, |row| row.get::<i64, _>("value"))
}

/// With the charge journal a charge is written into the database once, when sealed: straight
/// into `requests` with its record's number, never into `pending`; the journal's mark moves
/// past it in the same transaction.
#[tokio::test]
async fn with_the_journal_a_seal_writes_each_charge_once_straight_into_requests() {
	let dir = tempfile::tempdir().unwrap();
	let store = Store::open(&dir.path().join("usage.db"), Sync::Normal).await.unwrap();
	let (bob, charlie) = (Bob.to_account_id(), Charlie.to_account_id());
	for i in 0..10u32 {
		let who = if i % 2 == 0 { &bob } else { &charlie };
		serve(&store, who, u128::MAX, 100, "0x01", i % 3, 2, u128::from(i) + 1).await.unwrap();
	}
	// Fewer than `MOVE_AT` wait: left in the journal (two looks of the mover later too).
	tokio::time::sleep(3 * journal::MOVE_EVERY).await;
	assert_eq!(count_of(&store, "SELECT COUNT(*) AS n FROM pending").await, 0);
	assert_eq!(count_of(&store, "SELECT COUNT(*) AS n FROM requests").await, 0);
	let sealed = store.seal().await.unwrap();
	// One record per (user, model): bob's models 0, 2, 1 and charlie's 1, 0, 2, in the order
	// of each's first request.
	assert_eq!(sealed.len(), 6);
	let seqs: Vec<u64> = sealed.iter().map(|(seq, _, _)| *seq).collect();
	assert_eq!(seqs, (1..=6).collect::<Vec<_>>());
	assert_eq!(sealed.iter().map(|(_, _, cost)| cost).sum::<u128>(), 55);
	assert_eq!(count_of(&store, "SELECT COUNT(*) AS n FROM pending").await, 0);
	assert_eq!(
		count_of(&store, "SELECT COUNT(*) AS n FROM requests WHERE feed_seq BETWEEN 1 AND 6").await,
		10
	);
	assert_eq!(meta_of(&store, journal::JOURNAL_THROUGH).await, 10);
	assert_eq!(meta_of(&store, LAST_SEQ).await, 6);
	// Each record is its requests' sums, with the voucher kept.
	let feed = store.feed_after(0, 10).await.unwrap();
	for record in &feed {
		let requests = sqlx::query(
			"SELECT COUNT(*) AS n, SUM(input_tokens) AS tokens FROM requests WHERE feed_seq = $1",
		)
		.bind(record.seq as i64)
		.fetch_one(&store.pool)
		.await
		.unwrap();
		let n = requests.get::<i64, _>("n");
		assert_eq!(i64::from(record.input_tokens), 2 * n);
		assert_eq!(i64::from(record.output_tokens), n);
		assert_eq!((record.cap, record.served_at), (u128::MAX, Some(7)));
		assert_eq!(record.signature, "0x01");
	}
	let totals = store.user_totals(&bob, 0).await.unwrap();
	assert_eq!((totals.requests, totals.charged), (5, 1 + 3 + 5 + 7 + 9));
	assert!(store.seal().await.unwrap().is_empty(), "each once");
}

/// Charges piling up in the journal between seals (more than `MOVE_AT`) are moved into
/// `pending`, and the next seal takes them from there and the rest from the journal: each once.
#[tokio::test]
async fn charges_piling_up_in_the_journal_are_moved_and_sealed_once() {
	let dir = tempfile::tempdir().unwrap();
	let store = Store::open(&dir.path().join("usage.db"), Sync::Normal).await.unwrap();
	let bob = Bob.to_account_id();
	let n = journal::MOVE_AT + 10;
	for _ in 0..n {
		serve(&store, &bob, u128::MAX, 100, "0x01", 0, 1, 1).await.unwrap();
	}
	let mut moved = 0;
	for _ in 0..50 {
		moved = count_of(&store, "SELECT COUNT(*) AS n FROM pending").await;
		if moved > 0 {
			break;
		}
		tokio::time::sleep(journal::MOVE_EVERY).await;
	}
	assert_eq!(moved as usize, n, "moved once past the bound");
	for _ in 0..5 {
		serve(&store, &bob, u128::MAX, 100, "0x01", 0, 1, 1).await.unwrap();
	}
	// Those in `pending` a chunk a transaction, then the journal's.
	let sealed = store.seal().await.unwrap();
	let chunk = store.seal_chunk();
	let costs: Vec<u128> = sealed.iter().map(|(_, _, cost)| *cost).collect();
	assert_eq!(costs, vec![chunk as u128, chunk as u128, (n - 2 * chunk) as u128, 5]);
	let seqs: Vec<u64> = sealed.iter().map(|(seq, _, _)| *seq).collect();
	assert_eq!(seqs, vec![1, 2, 3, 4]);
	assert_eq!(count_of(&store, "SELECT COUNT(*) AS n FROM pending").await, 0);
	let requests = count_of(&store, "SELECT COUNT(*) AS n FROM requests").await;
	assert_eq!(requests as usize, n + 5);
	assert_eq!(meta_of(&store, journal::JOURNAL_THROUGH).await as usize, n + 5);
}

/// A seal of the journal's charges that fails (here: no voucher kept for their user) writes
/// nothing — no record, no request, the marks unmoved — and the next seal takes them all.
#[tokio::test]
async fn a_failed_seal_of_the_journal_changes_nothing_and_the_next_takes_its_charges() {
	let dir = tempfile::tempdir().unwrap();
	let store = Store::open(&dir.path().join("usage.db"), Sync::Normal).await.unwrap();
	let bob = Bob.to_account_id();
	for cost in [1, 2, 3] {
		serve(&store, &bob, u128::MAX, 100, "0x01", 0, 1, cost).await.unwrap();
	}
	let kept = sqlx::query("SELECT \"user\", payer, cap, expiry, signature, session FROM vouchers")
		.fetch_one(&store.pool)
		.await
		.unwrap();
	let voucher: (String, String, String, i64, String, Option<String>) = (
		kept.get("user"),
		kept.get("payer"),
		kept.get("cap"),
		kept.get("expiry"),
		kept.get("signature"),
		kept.get("session"),
	);
	store
		.run(|tx| {
			Box::pin(async move { sqlx::query("DELETE FROM vouchers").execute(tx).await.map(drop) })
		})
		.await
		.unwrap();
	let error = store.seal().await.unwrap_err().to_string();
	assert!(error.contains("no voucher kept for"), "{error}");
	for table in ["feed", "requests", "pending"] {
		let n = count_of(&store, &format!("SELECT COUNT(*) AS n FROM {table}")).await;
		assert_eq!(n, 0, "{table}");
	}
	assert_eq!(meta_of(&store, journal::JOURNAL_THROUGH).await, 0);
	assert_eq!(meta_of(&store, LAST_SEQ).await, 0);
	store
		.run(move |tx| {
			Box::pin(async move {
				let (user, payer, cap, expiry, signature, session) = voucher;
				sqlx::query(
					"INSERT INTO vouchers (\"user\", payer, cap, expiry, signature, session)
					 VALUES ($1, $2, $3, $4, $5, $6)",
				)
				.bind(user)
				.bind(payer)
				.bind(cap)
				.bind(expiry)
				.bind(signature)
				.bind(session)
				.execute(tx)
				.await?;
				Ok(())
			})
		})
		.await
		.unwrap();
	assert_eq!(store.seal().await.unwrap(), vec![(1, bob.clone(), 6)]);
	assert_eq!(count_of(&store, "SELECT COUNT(*) AS n FROM requests WHERE feed_seq = 1").await, 3);
	assert_eq!(meta_of(&store, journal::JOURNAL_THROUGH).await, 3);
}
