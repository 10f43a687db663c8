//! Durable records: every charged request, the best voucher of each (user, payer), and the
//! usage feed the operator node attests. SQLite (embedded, in the data directory), written in
//! WAL mode with full sync, so a record written before an answer completes survives a crash.
//!
//! The feed aggregates: sealing turns every charged request not yet in the feed into feed
//! records, one per (user, payer, model) (split only if the tokens would not fit a `u32`),
//! numbered without gaps in one transaction. A restart loses nothing and numbers nothing
//! twice. Feed records are kept until the chain's finalised `lastSeq` has passed them.

use std::{collections::BTreeMap, path::Path, str::FromStr};

use serde_json::{json, Value};
use sp_core::crypto::Ss58Codec;
use sp_runtime::AccountId32;
use sqlx::{
	sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous},
	Row, SqlitePool,
};

/// A store error.
pub type StoreError = sqlx::Error;

/// One charged request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Charge {
	/// Whose ledger.
	pub user: AccountId32,
	/// Whose credits.
	pub payer: AccountId32,
	/// The on-chain model id.
	pub model: u32,
	/// Input tokens the upstream reported.
	pub input_tokens: u32,
	/// Output tokens the upstream reported.
	pub output_tokens: u32,
	/// What the gateway charged.
	pub cost: u128,
}

/// One usage feed record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FeedRecord {
	/// Its sequence number (from 1, no gaps).
	pub seq: u64,
	/// The user.
	pub user: AccountId32,
	/// The payer.
	pub payer: AccountId32,
	/// The model.
	pub model: u32,
	/// Input tokens.
	pub input_tokens: u32,
	/// Output tokens.
	pub output_tokens: u32,
	/// What the gateway charged for them.
	pub cost: u128,
	/// The voucher's cap.
	pub cap: u128,
	/// The voucher's expiry.
	pub expiry: u32,
	/// The voucher's signature (hex of a SCALE `MultiSignature`).
	pub signature: String,
}

impl FeedRecord {
	/// The record as the off-chain worker reads it (docs/pallets/usage-attestation.md).
	pub fn to_json(&self) -> Value {
		json!({
			"seq": self.seq,
			"user": self.user.to_ss58check(),
			"on_behalf_of": (self.payer != self.user).then(|| self.payer.to_ss58check()),
			"model": self.model,
			"input_tokens": self.input_tokens,
			"output_tokens": self.output_tokens,
			"voucher": {
				"cap": self.cap.to_string(),
				"expiry": self.expiry,
				"signature": self.signature,
			},
		})
	}
}

/// Per-user totals for reconciliation.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UserTotals {
	/// Requests charged.
	pub requests: u64,
	/// Input tokens served.
	pub input_tokens: u64,
	/// Output tokens served.
	pub output_tokens: u64,
	/// Charged in all.
	pub charged: u128,
	/// Charged in feed records the chain has attested (finalised).
	pub attested: u128,
}

/// The database.
#[derive(Clone)]
pub struct Store {
	pool: SqlitePool,
}

const SCHEMA: &[&str] = &[
	"CREATE TABLE IF NOT EXISTS requests (
		id INTEGER PRIMARY KEY AUTOINCREMENT,
		user TEXT NOT NULL, payer TEXT NOT NULL, model INTEGER NOT NULL,
		input_tokens INTEGER NOT NULL, output_tokens INTEGER NOT NULL,
		cost TEXT NOT NULL, feed_seq INTEGER, created_at INTEGER NOT NULL)",
	"CREATE INDEX IF NOT EXISTS requests_by_feed_seq ON requests(feed_seq)",
	"CREATE INDEX IF NOT EXISTS requests_by_user ON requests(user)",
	"CREATE TABLE IF NOT EXISTS vouchers (
		user TEXT NOT NULL, payer TEXT NOT NULL, cap TEXT NOT NULL, expiry INTEGER NOT NULL,
		signature TEXT NOT NULL, PRIMARY KEY (user, payer))",
	"CREATE TABLE IF NOT EXISTS feed (
		seq INTEGER PRIMARY KEY, user TEXT NOT NULL, payer TEXT NOT NULL, model INTEGER NOT NULL,
		input_tokens INTEGER NOT NULL, output_tokens INTEGER NOT NULL, cost TEXT NOT NULL,
		cap TEXT NOT NULL, expiry INTEGER NOT NULL, signature TEXT NOT NULL)",
	"CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL)",
	// Settlement events of the provider, by (block, index in the block): idempotent.
	"CREATE TABLE IF NOT EXISTS chain_events (
		block INTEGER NOT NULL, idx INTEGER NOT NULL, user TEXT NOT NULL, kind TEXT NOT NULL,
		paid TEXT NOT NULL, fee TEXT NOT NULL, unpaid TEXT NOT NULL, entries INTEGER NOT NULL,
		reason TEXT, PRIMARY KEY (block, idx))",
	"CREATE INDEX IF NOT EXISTS chain_events_by_user ON chain_events(user)",
];

/// What the chain did with a user's usage, from the settlement events the gateway has read.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ChainTotals {
	/// Paid to the provider's side: credits charged plus free allowance used (fees included).
	pub settled: u128,
	/// Of which the protocol fee.
	pub fees: u128,
	/// Not paid because the usage went beyond the voucher's cap.
	pub above_cap: u128,
	/// Not paid because the payer had too little credit.
	pub shortfall: u128,
	/// Entries the chain rejected, by reason.
	pub rejected: BTreeMap<String, u64>,
}

const RECONCILED_THROUGH: &str = "reconciled_through";

fn account(s: &str) -> Result<AccountId32, StoreError> {
	AccountId32::from_ss58check(s).map_err(|_| StoreError::Protocol(format!("bad account {s}")))
}

fn amount(s: &str) -> Result<u128, StoreError> {
	u128::from_str(s).map_err(|_| StoreError::Protocol(format!("bad amount {s}")))
}

fn now_ms() -> i64 {
	std::time::SystemTime::now()
		.duration_since(std::time::UNIX_EPOCH)
		.map(|d| d.as_millis() as i64)
		.unwrap_or(0)
}

impl Store {
	/// Opens (creating) the database at `path`.
	pub async fn open(path: &Path) -> Result<Self, StoreError> {
		let options = SqliteConnectOptions::new()
			.filename(path)
			.create_if_missing(true)
			.journal_mode(SqliteJournalMode::Wal)
			.synchronous(SqliteSynchronous::Full)
			.busy_timeout(std::time::Duration::from_secs(10));
		let pool = SqlitePoolOptions::new().max_connections(4).connect_with(options).await?;
		let store = Store { pool };
		store.migrate().await?;
		Ok(store)
	}

	async fn migrate(&self) -> Result<(), StoreError> {
		for statement in SCHEMA {
			sqlx::query(statement).execute(&self.pool).await?;
		}
		Ok(())
	}

	/// A write transaction. `BEGIN IMMEDIATE` takes the write lock at once (waiting up to the
	/// busy timeout for another writer): a deferred transaction that reads first and writes
	/// later fails at once with "database is locked" when another connection wrote meanwhile.
	async fn write(&self) -> Result<sqlx::Transaction<'static, sqlx::Sqlite>, sqlx::Error> {
		self.pool.begin_with("BEGIN IMMEDIATE").await
	}

	/// Keeps `voucher` as the (user, payer)'s voucher for the feed if it is better than the
	/// one kept: a higher cap, or the same cap with a later expiry.
	pub async fn record_voucher(
		&self,
		user: &AccountId32,
		payer: &AccountId32,
		cap: u128,
		expiry: u32,
		signature: &str,
	) -> Result<(), StoreError> {
		let (user, payer) = (user.to_ss58check(), payer.to_ss58check());
		let mut tx = self.write().await?;
		let kept = sqlx::query("SELECT cap, expiry FROM vouchers WHERE user = $1 AND payer = $2")
			.bind(&user)
			.bind(&payer)
			.fetch_optional(&mut *tx)
			.await?;
		let better = match kept {
			None => true,
			Some(row) => {
				let kept_cap = amount(row.get::<&str, _>("cap"))?;
				let kept_expiry = row.get::<i64, _>("expiry");
				(cap, i64::from(expiry)) > (kept_cap, kept_expiry)
			}
		};
		if better {
			sqlx::query(
				"INSERT INTO vouchers (user, payer, cap, expiry, signature) VALUES ($1, $2, $3, $4, $5)
				 ON CONFLICT (user, payer) DO UPDATE SET cap = $3, expiry = $4, signature = $5",
			)
			.bind(&user)
			.bind(&payer)
			.bind(cap.to_string())
			.bind(i64::from(expiry))
			.bind(signature)
			.execute(&mut *tx)
			.await?;
		}
		tx.commit().await
	}

	/// Writes a charged request; durable when this returns.
	pub async fn record_charge(&self, charge: &Charge) -> Result<(), StoreError> {
		sqlx::query(
			"INSERT INTO requests (user, payer, model, input_tokens, output_tokens, cost, created_at)
			 VALUES ($1, $2, $3, $4, $5, $6, $7)",
		)
		.bind(charge.user.to_ss58check())
		.bind(charge.payer.to_ss58check())
		.bind(i64::from(charge.model))
		.bind(i64::from(charge.input_tokens))
		.bind(i64::from(charge.output_tokens))
		.bind(charge.cost.to_string())
		.bind(now_ms())
		.execute(&self.pool)
		.await?;
		Ok(())
	}

	/// Turns the charged requests not yet in the feed into feed records; returns the new
	/// records' (seq, user, cost).
	pub async fn seal(&self) -> Result<Vec<(u64, AccountId32, u128)>, StoreError> {
		let mut tx = self.write().await?;
		let rows = sqlx::query(
			"SELECT id, user, payer, model, input_tokens, output_tokens, cost FROM requests
			 WHERE feed_seq IS NULL ORDER BY id",
		)
		.fetch_all(&mut *tx)
		.await?;
		if rows.is_empty() {
			return Ok(Vec::new());
		}
		// Groups in the order of their first request; each a list of chunks of request ids
		// whose token sums fit a u32.
		struct Chunk {
			ids: Vec<i64>,
			input: u64,
			output: u64,
			cost: u128,
		}
		let mut order: Vec<(String, String, i64)> = Vec::new();
		let mut groups: BTreeMap<(String, String, i64), Vec<Chunk>> = BTreeMap::new();
		for row in rows {
			let key =
				(row.get::<String, _>("user"), row.get::<String, _>("payer"), row.get("model"));
			let (input, output) = (
				row.get::<i64, _>("input_tokens") as u64,
				row.get::<i64, _>("output_tokens") as u64,
			);
			let cost = amount(row.get::<&str, _>("cost"))?;
			let chunks = groups.entry(key.clone()).or_insert_with(|| {
				order.push(key);
				Vec::new()
			});
			let fits = chunks.last().is_some_and(|c| {
				c.input + input <= u64::from(u32::MAX) && c.output + output <= u64::from(u32::MAX)
			});
			if !fits {
				chunks.push(Chunk { ids: Vec::new(), input: 0, output: 0, cost: 0 });
			}
			if let Some(chunk) = chunks.last_mut() {
				chunk.ids.push(row.get("id"));
				chunk.input += input;
				chunk.output += output;
				chunk.cost = chunk.cost.saturating_add(cost);
			}
		}
		let mut seq = sqlx::query("SELECT COALESCE(MAX(seq), 0) AS last FROM feed")
			.fetch_one(&mut *tx)
			.await?
			.get::<i64, _>("last");
		// The feed may have been pruned down to nothing: never reuse a number.
		let floor = sqlx::query("SELECT value FROM meta WHERE key = 'last_seq'")
			.fetch_optional(&mut *tx)
			.await?
			.map(|r| r.get::<i64, _>("value"))
			.unwrap_or(0);
		seq = seq.max(floor);
		let mut sealed = Vec::new();
		for key in order {
			let (user, payer, model) = &key;
			let voucher = sqlx::query(
				"SELECT cap, expiry, signature FROM vouchers WHERE user = $1 AND payer = $2",
			)
			.bind(user)
			.bind(payer)
			.fetch_optional(&mut *tx)
			.await?
			.ok_or_else(|| StoreError::Protocol(format!("no voucher kept for {user}")))?;
			for chunk in groups.remove(&key).unwrap_or_default() {
				seq += 1;
				sqlx::query(
					"INSERT INTO feed (seq, user, payer, model, input_tokens, output_tokens, cost,
					 cap, expiry, signature) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
				)
				.bind(seq)
				.bind(user)
				.bind(payer)
				.bind(model)
				.bind(chunk.input as i64)
				.bind(chunk.output as i64)
				.bind(chunk.cost.to_string())
				.bind(voucher.get::<&str, _>("cap"))
				.bind(voucher.get::<i64, _>("expiry"))
				.bind(voucher.get::<&str, _>("signature"))
				.execute(&mut *tx)
				.await?;
				for id in &chunk.ids {
					sqlx::query("UPDATE requests SET feed_seq = $1 WHERE id = $2")
						.bind(seq)
						.bind(id)
						.execute(&mut *tx)
						.await?;
				}
				sealed.push((seq as u64, account(user)?, chunk.cost));
			}
		}
		sqlx::query(
			"INSERT INTO meta (key, value) VALUES ('last_seq', $1)
			 ON CONFLICT (key) DO UPDATE SET value = $1",
		)
		.bind(seq)
		.execute(&mut *tx)
		.await?;
		tx.commit().await?;
		Ok(sealed)
	}

	/// The feed records after `after`, at most `limit`.
	pub async fn feed_after(&self, after: u64, limit: u32) -> Result<Vec<FeedRecord>, StoreError> {
		let rows = sqlx::query("SELECT * FROM feed WHERE seq > $1 ORDER BY seq LIMIT $2")
			.bind(after as i64)
			.bind(i64::from(limit))
			.fetch_all(&self.pool)
			.await?;
		rows.into_iter()
			.map(|row| {
				Ok(FeedRecord {
					seq: row.get::<i64, _>("seq") as u64,
					user: account(row.get("user"))?,
					payer: account(row.get("payer"))?,
					model: row.get::<i64, _>("model") as u32,
					input_tokens: row.get::<i64, _>("input_tokens") as u32,
					output_tokens: row.get::<i64, _>("output_tokens") as u32,
					cost: amount(row.get("cost"))?,
					cap: amount(row.get("cap"))?,
					expiry: row.get::<i64, _>("expiry") as u32,
					signature: row.get("signature"),
				})
			})
			.collect()
	}

	/// Forgets feed records the chain has attested (at the finalised head).
	pub async fn prune(&self, last_seq: u64) -> Result<(), StoreError> {
		sqlx::query("DELETE FROM feed WHERE seq <= $1")
			.bind(last_seq as i64)
			.execute(&self.pool)
			.await?;
		Ok(())
	}

	/// What is charged and not attested: per user the charges not yet in the feed, and the
	/// feed records (seq, user, cost) still kept.
	#[allow(clippy::type_complexity)]
	pub async fn unsettled(
		&self,
	) -> Result<(Vec<(AccountId32, u128)>, Vec<(u64, AccountId32, u128)>), StoreError> {
		let mut unsealed: BTreeMap<String, u128> = BTreeMap::new();
		for row in sqlx::query("SELECT user, cost FROM requests WHERE feed_seq IS NULL")
			.fetch_all(&self.pool)
			.await?
		{
			let total = unsealed.entry(row.get("user")).or_default();
			*total = total.saturating_add(amount(row.get("cost"))?);
		}
		let unsealed = unsealed
			.into_iter()
			.map(|(user, cost)| Ok((account(&user)?, cost)))
			.collect::<Result<_, StoreError>>()?;
		let sealed = sqlx::query("SELECT seq, user, cost FROM feed ORDER BY seq")
			.fetch_all(&self.pool)
			.await?
			.into_iter()
			.map(|row| {
				Ok((
					row.get::<i64, _>("seq") as u64,
					account(row.get("user"))?,
					amount(row.get("cost"))?,
				))
			})
			.collect::<Result<_, StoreError>>()?;
		Ok((unsealed, sealed))
	}

	/// The last finalised block whose events were read, if any.
	pub async fn reconciled_through(&self) -> Result<Option<u32>, StoreError> {
		Ok(sqlx::query("SELECT value FROM meta WHERE key = $1")
			.bind(RECONCILED_THROUGH)
			.fetch_optional(&self.pool)
			.await?
			.map(|row| row.get::<i64, _>("value") as u32))
	}

	/// Records block `block`'s settlement events and that the block was read, together.
	pub async fn record_settlements(
		&self,
		block: u32,
		settlements: &[crate::events::Settlement],
	) -> Result<(), StoreError> {
		use crate::events::Settlement;
		let mut tx = self.write().await?;
		for (idx, settlement) in settlements.iter().enumerate() {
			let (kind, paid, fee, unpaid, entries, reason) = match settlement {
				Settlement::Settled { charged, from_allowance, fee, .. } => {
					("settled", charged.saturating_add(*from_allowance), *fee, 0, 0, None)
				}
				Settlement::AboveCap { unpaid, .. } => ("aboveCap", 0, 0, *unpaid, 0, None),
				Settlement::Shortfall { unpaid, .. } => ("shortfall", 0, 0, *unpaid, 0, None),
				Settlement::Rejected { entries, reason, .. } => {
					("rejected", 0, 0, 0, *entries, Some(reason.as_str()))
				}
			};
			sqlx::query(
				"INSERT OR IGNORE INTO chain_events
				 (block, idx, user, kind, paid, fee, unpaid, entries, reason)
				 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
			)
			.bind(i64::from(block))
			.bind(idx as i64)
			.bind(settlement.user().to_ss58check())
			.bind(kind)
			.bind(paid.to_string())
			.bind(fee.to_string())
			.bind(unpaid.to_string())
			.bind(i64::from(entries))
			.bind(reason)
			.execute(&mut *tx)
			.await?;
		}
		sqlx::query(
			"INSERT INTO meta (key, value) VALUES ($1, $2)
			 ON CONFLICT (key) DO UPDATE SET value = $2",
		)
		.bind(RECONCILED_THROUGH)
		.bind(i64::from(block))
		.execute(&mut *tx)
		.await?;
		tx.commit().await
	}

	/// What the chain did with `user`'s usage.
	pub async fn chain_totals(&self, user: &AccountId32) -> Result<ChainTotals, StoreError> {
		let mut totals = ChainTotals::default();
		for row in sqlx::query(
			"SELECT kind, paid, fee, unpaid, entries, reason FROM chain_events WHERE user = $1",
		)
		.bind(user.to_ss58check())
		.fetch_all(&self.pool)
		.await?
		{
			let unpaid = amount(row.get("unpaid"))?;
			match row.get::<&str, _>("kind") {
				"aboveCap" => totals.above_cap = totals.above_cap.saturating_add(unpaid),
				"shortfall" => totals.shortfall = totals.shortfall.saturating_add(unpaid),
				"rejected" => {
					let reason = row.get::<Option<String>, _>("reason").unwrap_or_default();
					*totals.rejected.entry(reason).or_default() +=
						row.get::<i64, _>("entries") as u64;
				}
				_ => {
					totals.settled = totals.settled.saturating_add(amount(row.get("paid"))?);
					totals.fees = totals.fees.saturating_add(amount(row.get("fee"))?);
				}
			}
		}
		Ok(totals)
	}

	/// Totals of `user`, with charges in feed records up to `attested_seq` counted as attested.
	pub async fn user_totals(
		&self,
		user: &AccountId32,
		attested_seq: u64,
	) -> Result<UserTotals, StoreError> {
		let mut totals = UserTotals::default();
		for row in sqlx::query(
			"SELECT input_tokens, output_tokens, cost, feed_seq FROM requests WHERE user = $1",
		)
		.bind(user.to_ss58check())
		.fetch_all(&self.pool)
		.await?
		{
			let cost = amount(row.get("cost"))?;
			totals.requests += 1;
			totals.input_tokens += row.get::<i64, _>("input_tokens") as u64;
			totals.output_tokens += row.get::<i64, _>("output_tokens") as u64;
			totals.charged = totals.charged.saturating_add(cost);
			if row.get::<Option<i64>, _>("feed_seq").is_some_and(|s| s as u64 <= attested_seq) {
				totals.attested = totals.attested.saturating_add(cost);
			}
		}
		Ok(totals)
	}
}

#[cfg(test)]
mod tests {
	use super::*;
	use sp_keyring::Sr25519Keyring::{Bob, Charlie};

	fn charge(user: &AccountId32, model: u32, tokens: u32, cost: u128) -> Charge {
		Charge {
			user: user.clone(),
			payer: user.clone(),
			model,
			input_tokens: tokens,
			output_tokens: 1,
			cost,
		}
	}

	#[tokio::test]
	async fn charges_aggregate_into_gap_free_feed_records_that_survive_a_restart() {
		let dir = tempfile::tempdir().unwrap();
		let path = dir.path().join("usage.db");
		let (bob, charlie) = (Bob.to_account_id(), Charlie.to_account_id());
		{
			let store = Store::open(&path).await.unwrap();
			store.record_voucher(&bob, &bob, 100, 50, "0x01aa").await.unwrap();
			store.record_voucher(&bob, &bob, 90, 60, "0x01bb").await.unwrap();
			store.record_voucher(&charlie, &charlie, 10, 50, "0x01cc").await.unwrap();
			for c in [charge(&bob, 0, 10, 3), charge(&charlie, 0, 5, 2), charge(&bob, 0, 20, 4)] {
				store.record_charge(&c).await.unwrap();
			}
			store.record_charge(&charge(&bob, 1, 7, 1)).await.unwrap();
			let sealed = store.seal().await.unwrap();
			assert_eq!(
				sealed,
				vec![(1, bob.clone(), 7), (2, charlie.clone(), 2), (3, bob.clone(), 1)]
			);
			assert!(store.seal().await.unwrap().is_empty(), "nothing is sealed twice");
		}
		// After a restart: the same records, and new ones continue the numbering.
		let store = Store::open(&path).await.unwrap();
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
		store.prune(3).await.unwrap();
		store.record_charge(&charge(&charlie, 0, 1, 1)).await.unwrap();
		assert_eq!(store.seal().await.unwrap(), vec![(4, charlie.clone(), 1)]);
		let (unsealed, sealed) = store.unsettled().await.unwrap();
		assert!(unsealed.is_empty());
		assert_eq!(sealed, vec![(4, charlie.clone(), 1)]);
		let totals = store.user_totals(&bob, 1).await.unwrap();
		assert_eq!((totals.requests, totals.charged, totals.attested), (3, 8, 7));
	}

	/// Concurrent requests keep their vouchers and charges at once (each on its own pooled
	/// connection): none fails with "database is locked".
	#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
	async fn concurrent_writes_all_succeed() {
		let dir = tempfile::tempdir().unwrap();
		let store = Store::open(&dir.path().join("usage.db")).await.unwrap();
		let bob = Bob.to_account_id();
		let writes: Vec<_> = (1..=32u128)
			.map(|cap| {
				let (store, bob) = (store.clone(), bob.clone());
				tokio::spawn(async move {
					store.record_voucher(&bob, &bob, cap, 100, "0x01").await?;
					let charge = Charge {
						user: bob.clone(),
						payer: bob,
						model: 0,
						input_tokens: 1,
						output_tokens: 1,
						cost: 1,
					};
					store.record_charge(&charge).await
				})
			})
			.collect();
		for write in writes {
			write.await.unwrap().unwrap();
		}
		let totals = store.user_totals(&bob, 0).await.unwrap();
		assert_eq!((totals.requests, totals.charged), (32, 32));
	}

	#[tokio::test]
	async fn settlement_events_are_counted_once_per_block_even_when_read_again() {
		use crate::events::Settlement;
		let dir = tempfile::tempdir().unwrap();
		let path = dir.path().join("usage.db");
		let (bob, charlie) = (Bob.to_account_id(), Charlie.to_account_id());
		let store = Store::open(&path).await.unwrap();
		assert_eq!(store.reconciled_through().await.unwrap(), None);
		let block = vec![
			Settlement::Settled { user: bob.clone(), charged: 90, from_allowance: 10, fee: 5 },
			Settlement::AboveCap { user: bob.clone(), unpaid: 7 },
			Settlement::Rejected {
				user: charlie.clone(),
				entries: 2,
				reason: "BadSignature".into(),
			},
		];
		store.record_settlements(12, &block).await.unwrap();
		// A crash before the caller saw the commit: the block is read again, nothing doubles.
		store.record_settlements(12, &block).await.unwrap();
		store
			.record_settlements(
				13,
				&[
					Settlement::Shortfall { user: bob.clone(), unpaid: 3 },
					Settlement::Settled {
						user: bob.clone(),
						charged: 1,
						from_allowance: 0,
						fee: 0,
					},
				],
			)
			.await
			.unwrap();
		drop(store);
		let store = Store::open(&path).await.unwrap();
		assert_eq!(store.reconciled_through().await.unwrap(), Some(13));
		let totals = store.chain_totals(&bob).await.unwrap();
		assert_eq!(
			(totals.settled, totals.fees, totals.above_cap, totals.shortfall),
			(101, 5, 7, 3)
		);
		assert!(totals.rejected.is_empty());
		let charlie = store.chain_totals(&charlie).await.unwrap();
		assert_eq!(charlie.rejected.get("BadSignature"), Some(&2));
		assert_eq!(charlie.settled, 0);
	}
}
