//! Durable records and the books: every charged request, the best voucher of each (user,
//! payer), what each user has reserved and charged but not settled, and the usage feed the
//! operator node attests.
//!
//! Two databases, one schema and one set of queries: **SQLite** (embedded, `usage.db` in the
//! data directory, the default; WAL mode with full sync, so a record written before an answer
//! completes survives a crash) for one gateway, and **PostgreSQL** (`--database
//! postgres://…`) for a fleet of gateways behind a load balancer. With PostgreSQL every
//! admission and every charge holds the user's row (`SELECT … FOR UPDATE`), so instances never
//! together overspend a voucher or the user's credits; sealing holds the feed's counter row, so
//! the feed numbers stay one sequence without gaps or duplicates whichever instance seals.
//!
//! The feed aggregates: sealing turns every charged request not yet in the feed into feed
//! records, one per (user, payer, model) (split only if the tokens would not fit a `u32`),
//! numbered without gaps in one transaction. A restart loses nothing and numbers nothing
//! twice. Feed records are kept until the chain's finalised `lastSeq` has passed them; then
//! they leave the feed and their charges leave the books, together.
//!
//! A reservation is held for at most the queue and upstream timeouts (and a minute): the
//! reservations of an instance that stopped without releasing them lapse by themselves, and an
//! instance drops its own when it starts.

use std::{collections::BTreeMap, path::Path, str::FromStr, time::Duration};

use serde_json::{json, Value};
use sp_core::crypto::Ss58Codec;
use sp_runtime::AccountId32;
use sqlx::{
	any::{AnyConnectOptions, AnyPoolOptions},
	AnyPool, Executor, Row,
};

use crate::ledger::{self, Book, Refusal};

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

/// A request to admit: who, with which voucher, at what worst case, against what the chain
/// says.
#[derive(Debug, Clone)]
pub struct Admission<'a> {
	/// Whose ledger.
	pub user: &'a AccountId32,
	/// Whose credits.
	pub payer: &'a AccountId32,
	/// The voucher's cumulative cap.
	pub cap: u128,
	/// The voucher's expiry.
	pub expiry: u32,
	/// The voucher's signature (hex), kept for the feed.
	pub signature: &'a str,
	/// The request's worst-case cost.
	pub worst: u128,
	/// Settled on chain for (user, provider).
	pub settled: u128,
	/// Credits and free allowance the user has.
	pub available: u128,
}

/// Which database.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
	/// Embedded SQLite: one gateway.
	Sqlite,
	/// PostgreSQL: any number of gateways.
	Postgres,
}

/// The database.
#[derive(Clone)]
pub struct Store {
	pool: AnyPool,
	backend: Backend,
	instance: String,
	hold: Duration,
}

/// The schema; `{id}` is the auto-numbered key's type, `{big}` a 64-bit integer.
const SCHEMA: &[&str] = &[
	"CREATE TABLE IF NOT EXISTS requests (
		id {id}, \"user\" TEXT NOT NULL, payer TEXT NOT NULL, model {big} NOT NULL,
		input_tokens {big} NOT NULL, output_tokens {big} NOT NULL,
		cost TEXT NOT NULL, feed_seq {big}, created_at {big} NOT NULL)",
	"CREATE INDEX IF NOT EXISTS requests_by_feed_seq ON requests(feed_seq)",
	"CREATE INDEX IF NOT EXISTS requests_by_user ON requests(\"user\")",
	"CREATE TABLE IF NOT EXISTS vouchers (
		\"user\" TEXT NOT NULL, payer TEXT NOT NULL, cap TEXT NOT NULL, expiry {big} NOT NULL,
		signature TEXT NOT NULL, PRIMARY KEY (\"user\", payer))",
	"CREATE TABLE IF NOT EXISTS feed (
		seq {big} PRIMARY KEY, \"user\" TEXT NOT NULL, payer TEXT NOT NULL, model {big} NOT NULL,
		input_tokens {big} NOT NULL, output_tokens {big} NOT NULL, cost TEXT NOT NULL,
		cap TEXT NOT NULL, expiry {big} NOT NULL, signature TEXT NOT NULL)",
	"CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value {big} NOT NULL)",
	// Per user: charged and not attested. Its row is what admissions and charges hold.
	"CREATE TABLE IF NOT EXISTS books (\"user\" TEXT PRIMARY KEY, unsettled TEXT NOT NULL)",
	// Requests in flight, by the instance serving them, until `expires_at` (ms) at the latest.
	"CREATE TABLE IF NOT EXISTS reservations (
		id {id}, \"user\" TEXT NOT NULL, amount TEXT NOT NULL, instance TEXT NOT NULL,
		expires_at {big} NOT NULL)",
	"CREATE INDEX IF NOT EXISTS reservations_by_user ON reservations(\"user\")",
	// Settlement events of the provider, by (block, index in the block): idempotent.
	"CREATE TABLE IF NOT EXISTS chain_events (
		block {big} NOT NULL, idx {big} NOT NULL, \"user\" TEXT NOT NULL, kind TEXT NOT NULL,
		paid TEXT NOT NULL, fee TEXT NOT NULL, unpaid TEXT NOT NULL, entries {big} NOT NULL,
		reason TEXT, PRIMARY KEY (block, idx))",
	"CREATE INDEX IF NOT EXISTS chain_events_by_user ON chain_events(\"user\")",
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
const LAST_SEQ: &str = "last_seq";
const ATTESTED_THROUGH: &str = "attested_through";

/// How long a reservation of the embedded database's only instance is held at most when no
/// hold is given.
const DEFAULT_HOLD: Duration = Duration::from_secs(15 * 60);

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

type Tx = sqlx::Transaction<'static, sqlx::Any>;

impl Store {
	/// Opens (creating) the embedded database at `path`.
	pub async fn open(path: &Path) -> Result<Self, StoreError> {
		Self::connect(&format!("sqlite://{}?mode=rwc", path.display()), "local", DEFAULT_HOLD).await
	}

	/// Connects to the database at `url` (`sqlite://<path>?mode=rwc` or
	/// `postgres://user:password@host:port/database`), creating the schema. `instance` names
	/// this gateway among those sharing the database (its leftover reservations are dropped);
	/// `hold` is the longest a request can be in flight.
	pub async fn connect(url: &str, instance: &str, hold: Duration) -> Result<Self, StoreError> {
		sqlx::any::install_default_drivers();
		let backend = if url.starts_with("sqlite:") {
			Backend::Sqlite
		} else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
			Backend::Postgres
		} else {
			return Err(StoreError::Configuration(
				format!("`{url}` is neither a sqlite:// nor a postgres:// URL").into(),
			));
		};
		let options = AnyConnectOptions::from_str(url)?;
		let pool = AnyPoolOptions::new()
			.max_connections(if backend == Backend::Sqlite { 4 } else { 16 })
			.after_connect(move |conn, _| {
				Box::pin(async move {
					if backend == Backend::Sqlite {
						conn.execute("PRAGMA journal_mode = WAL").await?;
						conn.execute("PRAGMA synchronous = FULL").await?;
						conn.execute("PRAGMA busy_timeout = 10000").await?;
					}
					Ok(())
				})
			})
			.connect_with(options)
			.await?;
		let store = Store { pool, backend, instance: instance.to_string(), hold };
		store.migrate().await?;
		sqlx::query("DELETE FROM reservations WHERE instance = $1")
			.bind(&store.instance)
			.execute(&store.pool)
			.await?;
		Ok(store)
	}

	/// Which database this is.
	pub fn backend(&self) -> Backend {
		self.backend
	}

	async fn migrate(&self) -> Result<(), StoreError> {
		let (id, big) = match self.backend {
			Backend::Sqlite => ("INTEGER PRIMARY KEY AUTOINCREMENT", "INTEGER"),
			Backend::Postgres => ("BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY", "BIGINT"),
		};
		let mut tx = self.write().await?;
		if self.backend == Backend::Postgres {
			// Instances starting together create the schema one after the other.
			sqlx::query("SELECT pg_advisory_xact_lock(7370746)").execute(&mut *tx).await?;
		}
		for statement in SCHEMA {
			let statement = statement.replace("{id}", id).replace("{big}", big);
			sqlx::query(&statement).execute(&mut *tx).await?;
		}
		tx.commit().await
	}

	/// A write transaction. On SQLite `BEGIN IMMEDIATE` takes the write lock at once (waiting
	/// up to the busy timeout for another writer): a deferred transaction that reads first and
	/// writes later fails at once with "database is locked" when another connection wrote
	/// meanwhile. On PostgreSQL the rows written are locked as they are read (`FOR UPDATE`).
	async fn write(&self) -> Result<Tx, StoreError> {
		match self.backend {
			Backend::Sqlite => self.pool.begin_with("BEGIN IMMEDIATE").await,
			Backend::Postgres => self.pool.begin().await,
		}
	}

	/// `FOR UPDATE` where the database has it (SQLite's write lock covers the whole file).
	fn for_update(&self) -> &'static str {
		match self.backend {
			Backend::Sqlite => "",
			Backend::Postgres => " FOR UPDATE",
		}
	}

	/// Holds `user`'s row for the rest of `tx` and reads their books; `except` is a
	/// reservation not to count.
	async fn lock_book(
		&self,
		tx: &mut Tx,
		user: &str,
		except: Option<i64>,
	) -> Result<Book, StoreError> {
		sqlx::query(
			"INSERT INTO books (\"user\", unsettled) VALUES ($1, '0') ON CONFLICT (\"user\") DO NOTHING",
		)
		.bind(user)
		.execute(&mut **tx)
		.await?;
		let row = sqlx::query(&format!(
			"SELECT unsettled FROM books WHERE \"user\" = $1{}",
			self.for_update()
		))
		.bind(user)
		.fetch_one(&mut **tx)
		.await?;
		let unsettled = amount(row.get::<&str, _>("unsettled"))?;
		let reserved = self.reserved(&mut **tx, user, except).await?;
		Ok(Book { reserved, unsettled })
	}

	async fn reserved<'e>(
		&self,
		executor: impl sqlx::Executor<'e, Database = sqlx::Any>,
		user: &str,
		except: Option<i64>,
	) -> Result<u128, StoreError> {
		let rows = sqlx::query(
			"SELECT id, amount FROM reservations WHERE \"user\" = $1 AND expires_at > $2",
		)
		.bind(user)
		.bind(now_ms())
		.fetch_all(executor)
		.await?;
		let mut reserved = 0u128;
		for row in rows {
			if Some(row.get::<i64, _>("id")) != except {
				reserved = reserved.saturating_add(amount(row.get::<&str, _>("amount"))?);
			}
		}
		Ok(reserved)
	}

	/// `user`'s books.
	pub async fn book(&self, user: &AccountId32) -> Result<Book, StoreError> {
		let user = user.to_ss58check();
		let unsettled = sqlx::query("SELECT unsettled FROM books WHERE \"user\" = $1")
			.bind(&user)
			.fetch_optional(&self.pool)
			.await?
			.map(|row| amount(row.get::<&str, _>("unsettled")))
			.transpose()?
			.unwrap_or(0);
		let reserved = self.reserved(&self.pool, &user, None).await?;
		Ok(Book { reserved, unsettled })
	}

	/// Admits a request if the books allow it ([`ledger::admit`]): reserves its worst case and
	/// keeps its voucher for the feed if it is better than the one kept (a higher cap, or the
	/// same cap with a later expiry), all in one transaction holding the user's row. Returns
	/// the books as they were before, and the reservation's id or why it was refused.
	pub async fn admit(
		&self,
		request: &Admission<'_>,
	) -> Result<(Book, Result<i64, Refusal>), StoreError> {
		let (user, payer) = (request.user.to_ss58check(), request.payer.to_ss58check());
		let mut tx = self.write().await?;
		let book = self.lock_book(&mut tx, &user, None).await?;
		if let Err(refusal) =
			ledger::admit(&book, request.worst, request.cap, request.settled, request.available)
		{
			tx.rollback().await?;
			return Ok((book, Err(refusal)));
		}
		let kept =
			sqlx::query("SELECT cap, expiry FROM vouchers WHERE \"user\" = $1 AND payer = $2")
				.bind(&user)
				.bind(&payer)
				.fetch_optional(&mut *tx)
				.await?;
		let better = match kept {
			None => true,
			Some(row) => {
				let kept_cap = amount(row.get::<&str, _>("cap"))?;
				let kept_expiry = row.get::<i64, _>("expiry");
				(request.cap, i64::from(request.expiry)) > (kept_cap, kept_expiry)
			}
		};
		if better {
			sqlx::query(
				"INSERT INTO vouchers (\"user\", payer, cap, expiry, signature) VALUES ($1, $2, $3, $4, $5)
				 ON CONFLICT (\"user\", payer) DO UPDATE SET cap = $3, expiry = $4, signature = $5",
			)
			.bind(&user)
			.bind(&payer)
			.bind(request.cap.to_string())
			.bind(i64::from(request.expiry))
			.bind(request.signature)
			.execute(&mut *tx)
			.await?;
		}
		let id = sqlx::query(
			"INSERT INTO reservations (\"user\", amount, instance, expires_at)
			 VALUES ($1, $2, $3, $4) RETURNING id",
		)
		.bind(&user)
		.bind(request.worst.to_string())
		.bind(&self.instance)
		.bind(now_ms().saturating_add(self.hold.as_millis() as i64))
		.fetch_one(&mut *tx)
		.await?
		.get::<i64, _>("id");
		tx.commit().await?;
		Ok((book, Ok(id)))
	}

	/// Ends reservation `reservation` without a charge.
	pub async fn release(&self, reservation: i64) -> Result<(), StoreError> {
		sqlx::query("DELETE FROM reservations WHERE id = $1")
			.bind(reservation)
			.execute(&self.pool)
			.await?;
		Ok(())
	}

	/// Charges an answer in place of its reservation, in one transaction holding the user's
	/// row: at most what the voucher of cap `cap` still allows with `settled` settled on chain
	/// ([`ledger::chargeable`]). The charge is durable when this returns. Returns what was
	/// charged and the books after.
	pub async fn charge(
		&self,
		reservation: i64,
		usage: &Charge,
		cap: u128,
		settled: u128,
	) -> Result<(u128, Book), StoreError> {
		let user = usage.user.to_ss58check();
		let mut tx = self.write().await?;
		let others = self.lock_book(&mut tx, &user, Some(reservation)).await?;
		let charged = ledger::chargeable(usage.cost, cap, settled, others.committed());
		let unsettled = others.unsettled.saturating_add(charged);
		sqlx::query("UPDATE books SET unsettled = $1 WHERE \"user\" = $2")
			.bind(unsettled.to_string())
			.bind(&user)
			.execute(&mut *tx)
			.await?;
		sqlx::query("DELETE FROM reservations WHERE id = $1")
			.bind(reservation)
			.execute(&mut *tx)
			.await?;
		sqlx::query(
			"INSERT INTO requests (\"user\", payer, model, input_tokens, output_tokens, cost, created_at)
			 VALUES ($1, $2, $3, $4, $5, $6, $7)",
		)
		.bind(&user)
		.bind(usage.payer.to_ss58check())
		.bind(i64::from(usage.model))
		.bind(i64::from(usage.input_tokens))
		.bind(i64::from(usage.output_tokens))
		.bind(charged.to_string())
		.bind(now_ms())
		.execute(&mut *tx)
		.await?;
		tx.commit().await?;
		Ok((charged, Book { reserved: others.reserved, unsettled }))
	}

	/// Value reserved and unsettled over all users (for metrics).
	pub async fn totals(&self) -> Result<(u128, u128), StoreError> {
		let mut unsettled = 0u128;
		for row in sqlx::query("SELECT unsettled FROM books").fetch_all(&self.pool).await? {
			unsettled = unsettled.saturating_add(amount(row.get::<&str, _>("unsettled"))?);
		}
		let mut reserved = 0u128;
		for row in sqlx::query("SELECT amount FROM reservations WHERE expires_at > $1")
			.bind(now_ms())
			.fetch_all(&self.pool)
			.await?
		{
			reserved = reserved.saturating_add(amount(row.get::<&str, _>("amount"))?);
		}
		Ok((reserved, unsettled))
	}

	/// Turns the charged requests not yet in the feed into feed records; returns the new
	/// records' (seq, user, cost).
	pub async fn seal(&self) -> Result<Vec<(u64, AccountId32, u128)>, StoreError> {
		let mut tx = self.write().await?;
		// The feed's counter: held to the end, so that sealing is one at a time.
		sqlx::query("INSERT INTO meta (key, value) VALUES ($1, 0) ON CONFLICT (key) DO NOTHING")
			.bind(LAST_SEQ)
			.execute(&mut *tx)
			.await?;
		let mut seq =
			sqlx::query(&format!("SELECT value FROM meta WHERE key = $1{}", self.for_update()))
				.bind(LAST_SEQ)
				.fetch_one(&mut *tx)
				.await?
				.get::<i64, _>("value");
		let rows = sqlx::query(
			"SELECT id, \"user\", payer, model, input_tokens, output_tokens, cost FROM requests
			 WHERE feed_seq IS NULL ORDER BY id",
		)
		.fetch_all(&mut *tx)
		.await?;
		if rows.is_empty() {
			tx.rollback().await?;
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
		let mut sealed = Vec::new();
		for key in order {
			let (user, payer, model) = &key;
			let voucher = sqlx::query(
				"SELECT cap, expiry, signature FROM vouchers WHERE \"user\" = $1 AND payer = $2",
			)
			.bind(user)
			.bind(payer)
			.fetch_optional(&mut *tx)
			.await?
			.ok_or_else(|| StoreError::Protocol(format!("no voucher kept for {user}")))?;
			for chunk in groups.remove(&key).unwrap_or_default() {
				seq += 1;
				sqlx::query(
					"INSERT INTO feed (seq, \"user\", payer, model, input_tokens, output_tokens, cost,
					 cap, expiry, signature) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
				)
				.bind(seq)
				.bind(user)
				.bind(payer)
				.bind(*model)
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
		sqlx::query("UPDATE meta SET value = $1 WHERE key = $2")
			.bind(seq)
			.bind(LAST_SEQ)
			.execute(&mut *tx)
			.await?;
		tx.commit().await?;
		Ok(sealed)
	}

	/// The feed records after `after`, at most `limit`.
	pub async fn feed_after(&self, after: u64, limit: u32) -> Result<Vec<FeedRecord>, StoreError> {
		let rows = sqlx::query(
			"SELECT seq, \"user\", payer, model, input_tokens, output_tokens, cost, cap, expiry,
			 signature FROM feed WHERE seq > $1 ORDER BY seq LIMIT $2",
		)
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

	/// The chain attested (at its finalised head) every feed record up to `last_seq`: they
	/// leave the feed and their charges the books, in one transaction and once (whichever
	/// instance sees it first). Lapsed reservations are dropped too. Returns how many records
	/// left.
	pub async fn attested(&self, last_seq: u64) -> Result<usize, StoreError> {
		let through = sqlx::query("SELECT value FROM meta WHERE key = $1")
			.bind(ATTESTED_THROUGH)
			.fetch_optional(&self.pool)
			.await?
			.map(|row| row.get::<i64, _>("value"))
			.unwrap_or(0);
		if last_seq as i64 <= through {
			return Ok(0);
		}
		let mut tx = self.write().await?;
		sqlx::query("INSERT INTO meta (key, value) VALUES ($1, 0) ON CONFLICT (key) DO NOTHING")
			.bind(ATTESTED_THROUGH)
			.execute(&mut *tx)
			.await?;
		let through =
			sqlx::query(&format!("SELECT value FROM meta WHERE key = $1{}", self.for_update()))
				.bind(ATTESTED_THROUGH)
				.fetch_one(&mut *tx)
				.await?
				.get::<i64, _>("value");
		if last_seq as i64 <= through {
			tx.rollback().await?;
			return Ok(0);
		}
		let gone = sqlx::query("DELETE FROM feed WHERE seq <= $1 RETURNING \"user\", cost")
			.bind(last_seq as i64)
			.fetch_all(&mut *tx)
			.await?;
		let mut per_user: BTreeMap<String, u128> = BTreeMap::new();
		for row in &gone {
			let total = per_user.entry(row.get("user")).or_default();
			*total = total.saturating_add(amount(row.get::<&str, _>("cost"))?);
		}
		for (user, cost) in per_user {
			let book = self.lock_book(&mut tx, &user, None).await?;
			// The row stays (one per user): an admission may be waiting for it.
			sqlx::query("UPDATE books SET unsettled = $1 WHERE \"user\" = $2")
				.bind(book.unsettled.saturating_sub(cost).to_string())
				.bind(&user)
				.execute(&mut *tx)
				.await?;
		}
		sqlx::query("DELETE FROM reservations WHERE expires_at <= $1")
			.bind(now_ms())
			.execute(&mut *tx)
			.await?;
		sqlx::query("UPDATE meta SET value = $1 WHERE key = $2")
			.bind(last_seq as i64)
			.bind(ATTESTED_THROUGH)
			.execute(&mut *tx)
			.await?;
		tx.commit().await?;
		Ok(gone.len())
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
				"INSERT INTO chain_events
				 (block, idx, \"user\", kind, paid, fee, unpaid, entries, reason)
				 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT (block, idx) DO NOTHING",
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
			"SELECT kind, paid, fee, unpaid, entries, reason FROM chain_events WHERE \"user\" = $1",
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
			"SELECT input_tokens, output_tokens, cost, feed_seq FROM requests WHERE \"user\" = $1",
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
		let admission = Admission {
			user,
			payer: user,
			cap,
			expiry,
			signature,
			worst: cost,
			settled: 0,
			available: u128::MAX,
		};
		let id = store.admit(&admission).await.unwrap().1?;
		let usage = Charge {
			user: user.clone(),
			payer: user.clone(),
			model,
			input_tokens: tokens,
			output_tokens: 1,
			cost,
		};
		Ok(store.charge(id, &usage, cap, 0).await.unwrap().0)
	}

	#[tokio::test]
	async fn charges_aggregate_into_gap_free_feed_records_that_survive_a_restart() {
		let dir = tempfile::tempdir().unwrap();
		let path = dir.path().join("usage.db");
		let (bob, charlie) = (Bob.to_account_id(), Charlie.to_account_id());
		{
			let store = Store::open(&path).await.unwrap();
			assert_eq!(serve(&store, &bob, 100, 50, "0x01aa", 0, 10, 3).await, Ok(3));
			assert_eq!(serve(&store, &charlie, 10, 50, "0x01cc", 0, 5, 2).await, Ok(2));
			// A later voucher with a lower cap is not the one kept.
			assert_eq!(serve(&store, &bob, 90, 60, "0x01bb", 0, 20, 4).await, Ok(4));
			assert_eq!(serve(&store, &bob, 100, 50, "0x01aa", 1, 7, 1).await, Ok(1));
			let sealed = store.seal().await.unwrap();
			assert_eq!(
				sealed,
				vec![(1, bob.clone(), 7), (2, charlie.clone(), 2), (3, bob.clone(), 1)]
			);
			assert!(store.seal().await.unwrap().is_empty(), "nothing is sealed twice");
			assert_eq!(store.book(&bob).await.unwrap(), Book { reserved: 0, unsettled: 8 });
		}
		// After a restart: the same records and books, and new ones continue the numbering.
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
		let store = Store::open(&dir.path().join("usage.db")).await.unwrap();
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
			worst,
			settled: 20,
			available: 1_000,
		};
		let store = Store::open(&path).await.unwrap();
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
		};
		let (charged, book) = store.charge(second, &usage, 100, 20).await.unwrap();
		assert_eq!((charged, book), (50, Book { reserved: 30, unsettled: 50 }));
		store.release(first).await.unwrap();
		assert_eq!(store.book(&bob).await.unwrap(), Book { reserved: 0, unsettled: 50 });
		// A reservation left by a stopped instance is dropped when it starts again...
		store.admit(&admission(10, 100)).await.unwrap().1.unwrap();
		drop(store);
		let store = Store::open(&path).await.unwrap();
		assert_eq!(store.book(&bob).await.unwrap().reserved, 0);
		// ...and one past its hold no longer counts (another instance's, say).
		let url = format!("sqlite://{}?mode=rwc", path.display());
		let other = Store::connect(&url, "other", Duration::ZERO).await.unwrap();
		other.admit(&admission(10, 100)).await.unwrap().1.unwrap();
		assert_eq!(store.book(&bob).await.unwrap().reserved, 0);
		assert!(Store::connect("mysql://x", "x", Duration::ZERO).await.is_err());
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
