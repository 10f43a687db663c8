//! Durable records and the books: every charged request, the best voucher of each (user,
//! payer), what each user has reserved and charged but not settled, and the usage feed the
//! operator node attests.
//!
//! Two databases, one schema and one set of queries: **SQLite** (embedded, `usage.db` in the
//! data directory, the default; WAL mode, so a record committed before an answer is sent
//! survives a crash of the gateway — and with [`Sync::Full`] a power cut too) for one gateway,
//! and **PostgreSQL** (`--database
//! postgres://…`) for a fleet of gateways behind a load balancer. With PostgreSQL every
//! admission and every charge holds the user's row (`SELECT … FOR UPDATE`), so instances never
//! together overspend a voucher or the user's credits; sealing holds the feed's counter row, so
//! the feed numbers stay one sequence without gaps or duplicates whichever instance seals.
//!
//! A charged request is written to `pending` (no index to keep up: one page per write). The
//! feed aggregates: sealing turns the pending requests into feed records, one per (user,
//! payer, model) (split only if the tokens would not fit a `u32`), numbered without gaps, and
//! moves the requests into `requests` (the record of every charged request, with its feed
//! number), in one transaction. A restart loses nothing and numbers nothing
//! twice. Feed records are kept until the chain's finalised `lastSeq` has passed them; then
//! they leave the feed and their charges leave the books, together.
//!
//! A reservation is held for at most the queue and upstream timeouts (and a minute): the
//! reservations of an instance that stopped without releasing them lapse by themselves, and an
//! instance drops its own when it starts.

use std::{
	collections::{BTreeMap, HashMap},
	path::Path,
	str::FromStr,
	sync::{Arc, Mutex},
	time::Duration,
};

use futures::future::BoxFuture;
use serde_json::{json, Value};
use sp_core::crypto::Ss58Codec;
use sp_runtime::AccountId32;
use sqlx::{
	any::{AnyConnectOptions, AnyPoolOptions},
	AnyConnection, AnyPool, Executor, Row,
};
use tokio::sync::{mpsc, oneshot};

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
	/// The chain's block the request was served at (the gateway's view).
	pub served_at: u32,
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
	/// The voucher's session commitment (hex), if it names one; never the secret.
	pub session: Option<String>,
	/// The earliest block its requests were served at (none for requests charged before the
	/// gateway recorded it).
	pub served_at: Option<u32>,
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
			"served_at": self.served_at,
			"voucher": {
				"cap": self.cap.to_string(),
				"expiry": self.expiry,
				"signature": self.signature,
				"session": self.session,
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
	/// The voucher's session commitment (hex), kept for the feed.
	pub session: &'a str,
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

/// When the embedded database syncs to disk (WAL mode either way, so a crash of the gateway
/// loses nothing committed).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Sync {
	/// SQLite's `synchronous = NORMAL`: a charge is committed before its answer is sent, and
	/// the log is synced at checkpoints (beside the writer). A power cut or a crash of the
	/// machine can undo the last charges — the provider's loss, never more than was served.
	#[default]
	Normal,
	/// `synchronous = FULL`: every commit waits for the disk (one sync per group of answers).
	Full,
}

/// The database.
#[derive(Clone)]
pub struct Store {
	pool: AnyPool,
	backend: Backend,
	instance: String,
	hold: Duration,
	/// SQLite: the one writer, which commits whatever writes are waiting together.
	writer: Option<mpsc::Sender<Job>>,
	/// SQLite: the books, in memory (the one instance owns the file).
	local: Option<Arc<Mutex<Local>>>,
}

/// The books of the embedded database's one instance, kept in memory and authoritative: the
/// unsettled charges are rebuilt from the charged requests and feed records at start, and
/// reservations do not outlive the process, so admission and charge read nothing from disk and
/// a charge writes one row.
#[derive(Default)]
struct Local {
	unsettled: HashMap<AccountId32, u128>,
	reserved: HashMap<AccountId32, u128>,
	reservations: HashMap<i64, (AccountId32, u128)>,
	next_reservation: i64,
	/// The (cap, expiry) of the voucher kept per (user, payer), as written.
	vouchers: HashMap<(AccountId32, AccountId32), (u128, u32)>,
	/// SS58 text of the accounts recently written (encoding costs more than the rest of a
	/// charge's bookkeeping); at most [`NAMES`], then forgotten and encoded again.
	names: HashMap<AccountId32, Arc<str>>,
}

/// A voucher as kept for the feed: user, payer (SS58), cap, expiry, signature and session
/// commitment (hex).
type KeptVoucher<'a> = (&'a str, &'a str, u128, u32, &'a str, &'a str);

/// Accounts whose SS58 text is remembered at most.
const NAMES: usize = 1 << 16;

impl Local {
	fn name(&mut self, account: &AccountId32) -> Arc<str> {
		if let Some(name) = self.names.get(account) {
			return name.clone();
		}
		if self.names.len() >= NAMES {
			self.names.clear();
		}
		let name: Arc<str> = account.to_ss58check().into();
		self.names.insert(account.clone(), name.clone());
		name
	}

	fn book(&self, user: &AccountId32) -> Book {
		Book {
			reserved: self.reserved.get(user).copied().unwrap_or(0),
			unsettled: self.unsettled.get(user).copied().unwrap_or(0),
		}
	}

	fn release(&mut self, id: i64) -> Option<(AccountId32, u128)> {
		let (user, amount) = self.reservations.remove(&id)?;
		if let Some(reserved) = self.reserved.get_mut(&user) {
			*reserved = reserved.saturating_sub(amount);
			if *reserved == 0 {
				self.reserved.remove(&user);
			}
		}
		Some((user, amount))
	}

	fn add_unsettled(&mut self, user: &AccountId32, delta: u128, up: bool) {
		let entry = self.unsettled.entry(user.clone()).or_default();
		*entry = if up { entry.saturating_add(delta) } else { entry.saturating_sub(delta) };
		if *entry == 0 {
			self.unsettled.remove(user);
		}
	}
}

/// A write: runs inside a transaction on the connection it is given.
type Work = Box<
	dyn for<'c> FnOnce(
			&'c mut AnyConnection,
		) -> BoxFuture<'c, Result<Box<dyn std::any::Any + Send>, StoreError>>
		+ Send,
>;

/// A charged request's row, as written.
struct RequestRow {
	user: Arc<str>,
	payer: Arc<str>,
	model: u32,
	input_tokens: u32,
	output_tokens: u32,
	cost: u128,
	created_at: i64,
	served_at: i64,
}

/// A write waiting for the SQLite writer, and where its result goes once committed.
enum Job {
	/// A charged request (the hot path): requests waiting together are written by one
	/// statement, which is atomic by itself.
	Record { row: RequestRow, done: oneshot::Sender<Result<(), StoreError>> },
	/// Any other write, run in a savepoint of its own.
	Work { work: Work, done: oneshot::Sender<Result<Box<dyn std::any::Any + Send>, StoreError>> },
}

impl Job {
	/// Answers the job with an error, unrun.
	fn fail(self, message: &str) {
		let error = StoreError::Protocol(message.to_string());
		match self {
			Job::Record { done, .. } => drop(done.send(Err(error))),
			Job::Work { done, .. } => drop(done.send(Err(error))),
		}
	}
}

/// Where a job's result goes once its batch is committed.
enum Done {
	Record(oneshot::Sender<Result<(), StoreError>>, Result<(), StoreError>),
	Work(
		oneshot::Sender<Result<Box<dyn std::any::Any + Send>, StoreError>>,
		Result<Box<dyn std::any::Any + Send>, StoreError>,
	),
}

impl Done {
	fn send(self) {
		match self {
			Done::Record(done, result) => drop(done.send(result)),
			Done::Work(done, result) => drop(done.send(result)),
		}
	}

	fn fail(self, message: &str) {
		let error = || StoreError::Protocol(message.to_string());
		match self {
			Done::Record(done, _) => drop(done.send(Err(error()))),
			Done::Work(done, _) => drop(done.send(Err(error()))),
		}
	}
}

/// Writes committed together at most.
const MAX_BATCH: usize = 512;

/// `$from, …` (`count` of them).
fn placeholders(from: usize, count: usize) -> String {
	(from..from + count).map(|i| format!("${i}")).collect::<Vec<_>>().join(", ")
}

/// Request ids named by one statement at most when sealing.
const IDS_PER_STATEMENT: usize = 500;

/// Charged requests written by one `INSERT` at most (8 values each).
const ROWS_PER_INSERT: usize = 64;

/// Writes `rows` to `pending` with one statement.
async fn insert_requests(conn: &mut AnyConnection, rows: &[RequestRow]) -> Result<(), StoreError> {
	let mut sql = String::from(
		"INSERT INTO pending (\"user\", payer, model, input_tokens, output_tokens, cost, created_at,
		 served_at) VALUES ",
	);
	let values = (0..rows.len()).map(|i| format!("({})", placeholders(8 * i + 1, 8)));
	sql.push_str(&values.collect::<Vec<_>>().join(", "));
	let mut query = sqlx::query(&sql);
	for row in rows {
		query = query
			.bind(&*row.user)
			.bind(&*row.payer)
			.bind(i64::from(row.model))
			.bind(i64::from(row.input_tokens))
			.bind(i64::from(row.output_tokens))
			.bind(row.cost.to_string())
			.bind(row.created_at)
			.bind(row.served_at);
	}
	query.execute(&mut *conn).await.map(drop)
}

/// The SQLite writer (group commit): takes the writes waiting and commits them together with
/// one sync, then answers each. Charged requests waiting next to each other are written by one
/// statement; any other write runs in a savepoint (a write that fails is undone alone), all in
/// one `BEGIN IMMEDIATE` transaction — unless the batch is one statement of charged requests,
/// which is its own transaction. Only this connection writes, so no write ever waits on
/// SQLite's busy handler, and a burst of requests costs one statement and one sync instead of
/// one each.
async fn write_batches(
	mut conn: sqlx::pool::PoolConnection<sqlx::Any>,
	mut jobs: mpsc::Receiver<Job>,
) {
	let mut batch = Vec::with_capacity(MAX_BATCH);
	let mut rows = Vec::with_capacity(ROWS_PER_INSERT);
	let mut waiting = Vec::with_capacity(ROWS_PER_INSERT);
	while jobs.recv_many(&mut batch, MAX_BATCH).await > 0 {
		let conn: &mut AnyConnection = &mut conn;
		let one_statement = batch.len() <= ROWS_PER_INSERT
			&& batch.iter().all(|job| matches!(job, Job::Record { .. }));
		if !one_statement {
			if let Err(e) = conn.execute("BEGIN IMMEDIATE").await {
				let message = e.to_string();
				for job in batch.drain(..) {
					job.fail(&message);
				}
				continue;
			}
		}
		let mut results = Vec::with_capacity(batch.len());
		let mut jobs_in_order = batch.drain(..).peekable();
		while let Some(job) = jobs_in_order.next() {
			match job {
				Job::Record { row, done } => {
					rows.push(row);
					waiting.push(done);
					while rows.len() < ROWS_PER_INSERT {
						match jobs_in_order.next_if(|job| matches!(job, Job::Record { .. })) {
							Some(Job::Record { row, done }) => {
								rows.push(row);
								waiting.push(done);
							}
							_ => break,
						}
					}
					let written = insert_requests(conn, &rows).await;
					rows.clear();
					match written {
						Ok(()) => {
							results.extend(waiting.drain(..).map(|d| Done::Record(d, Ok(()))))
						}
						Err(e) if waiting.len() == 1 => {
							if let Some(done) = waiting.pop() {
								results.push(Done::Record(done, Err(e)));
							}
						}
						Err(e) => {
							let message = e.to_string();
							results.extend(waiting.drain(..).map(|d| {
								Done::Record(d, Err(StoreError::Protocol(message.clone())))
							}))
						}
					}
				}
				Job::Work { work, done } => {
					let result = match conn.execute("SAVEPOINT job").await {
						Ok(_) => work(conn).await,
						Err(e) => Err(e),
					};
					let ended = if result.is_ok() {
						conn.execute("RELEASE job").await.map(drop)
					} else {
						match conn.execute("ROLLBACK TO job").await {
							Ok(_) => conn.execute("RELEASE job").await.map(drop),
							Err(e) => Err(e),
						}
					};
					results.push(Done::Work(done, ended.and(result)));
				}
			}
		}
		drop(jobs_in_order);
		if one_statement {
			results.into_iter().for_each(Done::send);
			continue;
		}
		match conn.execute("COMMIT").await {
			Ok(_) => results.into_iter().for_each(Done::send),
			Err(e) => {
				let _ = conn.execute("ROLLBACK").await;
				let message = e.to_string();
				for done in results {
					done.fail(&message);
				}
			}
		}
	}
}

/// Pages of log (4 KiB each) after which the writer completes a checkpoint itself, holding the
/// answers waiting on it for a few milliseconds: 64 MiB, every few seconds at full load
/// (about one page per commit). Smaller in the tests, which check that the log starts over.
const WRITER_CHECKPOINT_PAGES: u32 = if cfg!(test) { 2048 } else { 16384 };

/// How often the embedded database's log is copied into the database file.
const CHECKPOINT_EVERY: Duration = Duration::from_secs(1);

/// Copies the embedded database's write-ahead log into the database file every
/// [`CHECKPOINT_EVERY`], on a connection of its own. SQLite would otherwise do it all inside
/// the commit that crosses its threshold (by default about once a second at 1,000 requests/s),
/// holding every answer waiting for that commit for the milliseconds the copy and its syncs
/// take. A passive checkpoint never blocks the writer.
async fn checkpoints(pool: AnyPool) {
	let mut every = tokio::time::interval(CHECKPOINT_EVERY);
	every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
	loop {
		every.tick().await;
		if pool.is_closed() {
			return;
		}
		if let Err(e) = sqlx::query("PRAGMA wal_checkpoint(PASSIVE)").execute(&pool).await {
			tracing::warn!("checkpoint of the database's log: {e}");
		}
	}
}

/// Columns added to tables of the first schema: (table, column, type).
const ADDED_COLUMNS: &[(&str, &str, &str)] = &[
	// Vouchers commit to a session (issue 28).
	("vouchers", "session", "TEXT"),
	("feed", "session", "TEXT"),
	// Usage is priced on chain at the block it was served at (issue 28).
	("pending", "served_at", "{big}"),
	("requests", "served_at", "{big}"),
	("feed", "served_at", "{big}"),
];

/// The schema; `{id}` is the auto-numbered key's type, `{key}` the same for keys whose
/// numbers may be used again once deleted, `{big}` a 64-bit integer.
const SCHEMA: &[&str] = &[
	"CREATE TABLE IF NOT EXISTS requests (
		id {id}, \"user\" TEXT NOT NULL, payer TEXT NOT NULL, model {big} NOT NULL,
		input_tokens {big} NOT NULL, output_tokens {big} NOT NULL,
		cost TEXT NOT NULL, feed_seq {big}, created_at {big} NOT NULL)",
	"CREATE INDEX IF NOT EXISTS requests_by_feed_seq ON requests(feed_seq)",
	"CREATE INDEX IF NOT EXISTS requests_by_user ON requests(\"user\")",
	// Charged requests not yet in the feed, as charged: written once per answer, so without
	// an index to keep up (one page per write); sealing moves them into `requests`.
	"CREATE TABLE IF NOT EXISTS pending (
		id {key}, \"user\" TEXT NOT NULL, payer TEXT NOT NULL, model {big} NOT NULL,
		input_tokens {big} NOT NULL, output_tokens {big} NOT NULL,
		cost TEXT NOT NULL, created_at {big} NOT NULL)",
	// Requests charged by an earlier version are in `requests` without a feed number.
	"INSERT INTO pending (\"user\", payer, model, input_tokens, output_tokens, cost, created_at)
		SELECT \"user\", payer, model, input_tokens, output_tokens, cost, created_at
		FROM requests WHERE feed_seq IS NULL ORDER BY id",
	"DELETE FROM requests WHERE feed_seq IS NULL",
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

impl Store {
	/// Opens (creating) the embedded database at `path`.
	pub async fn open(path: &Path, sync: Sync) -> Result<Self, StoreError> {
		let url = format!("sqlite://{}?mode=rwc", path.display());
		Self::connect(&url, "local", DEFAULT_HOLD, sync).await
	}

	/// Connects to the database at `url` (`sqlite://<path>?mode=rwc` or
	/// `postgres://user:password@host:port/database`), creating the schema. `instance` names
	/// this gateway among those sharing the database (its leftover reservations are dropped);
	/// `hold` is the longest a request can be in flight; `sync` is how SQLite syncs (PostgreSQL
	/// follows its server's settings).
	pub async fn connect(
		url: &str,
		instance: &str,
		hold: Duration,
		sync: Sync,
	) -> Result<Self, StoreError> {
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
						conn.execute(match sync {
							Sync::Normal => "PRAGMA synchronous = NORMAL",
							Sync::Full => "PRAGMA synchronous = FULL",
						})
						.await?;
						conn.execute("PRAGMA busy_timeout = 10000").await?;
						// Checkpoints run beside the writer (`checkpoints`), not in its commits.
						conn.execute("PRAGMA wal_autocheckpoint = 0").await?;
					}
					Ok(())
				})
			})
			.connect_with(options)
			.await?;
		let mut store = Store {
			pool,
			backend,
			instance: instance.to_string(),
			hold,
			writer: None,
			local: None,
		};
		store.migrate().await?;
		if backend == Backend::Sqlite {
			store.local = Some(Arc::new(Mutex::new(store.load_books().await?)));
			let (sender, receiver) = mpsc::channel(4 * MAX_BATCH);
			let mut writer = store.pool.acquire().await?;
			// The writer completes a checkpoint itself once the log reaches
			// `WRITER_CHECKPOINT_PAGES` (so that the log starts over: the passive checkpoints
			// beside it never catch up with a writer that keeps writing).
			let pragma = format!("PRAGMA wal_autocheckpoint = {WRITER_CHECKPOINT_PAGES}");
			writer.execute(pragma.as_str()).await?;
			tokio::spawn(write_batches(writer, receiver));
			tokio::spawn(checkpoints(store.pool.clone()));
			store.writer = Some(sender);
		}
		sqlx::query("DELETE FROM reservations WHERE instance = $1")
			.bind(&store.instance)
			.execute(&store.pool)
			.await?;
		Ok(store)
	}

	/// The embedded database's books: per user the charges not yet in the feed and the feed
	/// records kept (not attested), and the vouchers kept.
	async fn load_books(&self) -> Result<Local, StoreError> {
		let mut local = Local::default();
		for query in ["SELECT \"user\", cost FROM pending", "SELECT \"user\", cost FROM feed"] {
			for row in sqlx::query(query).fetch_all(&self.pool).await? {
				let cost = amount(row.get::<&str, _>("cost"))?;
				local.add_unsettled(&account(row.get::<&str, _>("user"))?, cost, true);
			}
		}
		for row in sqlx::query("SELECT \"user\", payer, cap, expiry FROM vouchers")
			.fetch_all(&self.pool)
			.await?
		{
			local.vouchers.insert(
				(account(row.get::<&str, _>("user"))?, account(row.get::<&str, _>("payer"))?),
				(amount(row.get::<&str, _>("cap"))?, row.get::<i64, _>("expiry") as u32),
			);
		}
		Ok(local)
	}

	fn local(&self) -> Option<std::sync::MutexGuard<'_, Local>> {
		self.local.as_ref().map(|local| local.lock().unwrap_or_else(|e| e.into_inner()))
	}

	/// Which database this is.
	pub fn backend(&self) -> Backend {
		self.backend
	}

	async fn migrate(&self) -> Result<(), StoreError> {
		// `{key}`: a key numbered in order, whose numbers may be used again once deleted.
		let (id, key, big) = match self.backend {
			Backend::Sqlite => {
				("INTEGER PRIMARY KEY AUTOINCREMENT", "INTEGER PRIMARY KEY", "INTEGER")
			}
			Backend::Postgres => {
				let identity = "BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY";
				(identity, identity, "BIGINT")
			}
		};
		let mut tx = match self.backend {
			Backend::Sqlite => self.pool.begin_with("BEGIN IMMEDIATE").await?,
			Backend::Postgres => self.pool.begin().await?,
		};
		if self.backend == Backend::Postgres {
			// Instances starting together create the schema one after the other.
			sqlx::query("SELECT pg_advisory_xact_lock(7370746)").execute(&mut *tx).await?;
		}
		for statement in SCHEMA {
			let statement =
				statement.replace("{id}", id).replace("{key}", key).replace("{big}", big);
			sqlx::query(&statement).execute(&mut *tx).await?;
		}
		// Columns added since the first version: a database of an earlier version gets them
		// (its rows keep none: v1 vouchers without a session, requests without the block they
		// were served at).
		for (table, column, kind) in ADDED_COLUMNS {
			let exists = match self.backend {
				Backend::Sqlite => "SELECT COUNT(*) FROM pragma_table_info($1) WHERE name = $2",
				Backend::Postgres => {
					"SELECT COUNT(*) FROM information_schema.columns
					 WHERE table_name = $1 AND column_name = $2"
				}
			};
			let found: i64 =
				sqlx::query_scalar(exists).bind(table).bind(column).fetch_one(&mut *tx).await?;
			if found == 0 {
				let kind = kind.replace("{big}", big);
				sqlx::query(&format!("ALTER TABLE {table} ADD COLUMN {column} {kind}"))
					.execute(&mut *tx)
					.await?;
			}
		}
		tx.commit().await
	}

	/// Runs `work` in a write transaction and returns its result once committed. SQLite: by
	/// the one writer, committed together with the writes waiting beside it (`BEGIN IMMEDIATE`:
	/// the write lock from the start). PostgreSQL: in a transaction of its own, which locks the
	/// rows it writes as it reads them (`FOR UPDATE`); instances write concurrently.
	async fn run<T: Send + 'static>(
		&self,
		work: impl for<'c> FnOnce(&'c mut AnyConnection) -> BoxFuture<'c, Result<T, StoreError>>
			+ Send
			+ 'static,
	) -> Result<T, StoreError> {
		let output = match &self.writer {
			Some(writer) => {
				let (done, result) = oneshot::channel();
				let work: Work = Box::new(move |conn| {
					Box::pin(async move {
						work(conn).await.map(|t| Box::new(t) as Box<dyn std::any::Any + Send>)
					})
				});
				writer
					.send(Job::Work { work, done })
					.await
					.map_err(|_| StoreError::Protocol("the database writer stopped".into()))?;
				result
					.await
					.map_err(|_| StoreError::Protocol("the database writer stopped".into()))??
			}
			None => {
				let mut tx = self.pool.begin().await?;
				let output = work(&mut tx).await?;
				tx.commit().await?;
				return Ok(output);
			}
		};
		output
			.downcast::<T>()
			.map(|t| *t)
			.map_err(|_| StoreError::Protocol("a write returned the wrong type".into()))
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
		tx: &mut AnyConnection,
		user: &str,
		except: Option<i64>,
	) -> Result<Book, StoreError> {
		sqlx::query(
			"INSERT INTO books (\"user\", unsettled) VALUES ($1, '0') ON CONFLICT (\"user\") DO NOTHING",
		)
		.bind(user)
		.execute(&mut *tx)
		.await?;
		let row = sqlx::query(&format!(
			"SELECT unsettled FROM books WHERE \"user\" = $1{}",
			self.for_update()
		))
		.bind(user)
		.fetch_one(&mut *tx)
		.await?;
		let unsettled = amount(row.get::<&str, _>("unsettled"))?;
		let reserved = self.reserved(&mut *tx, user, except).await?;
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
		if let Some(local) = self.local() {
			return Ok(local.book(user));
		}
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
		if self.local.is_some() {
			return self.admit_local(request).await;
		}
		let (user, payer) = (request.user.to_ss58check(), request.payer.to_ss58check());
		let (cap, expiry, signature) = (request.cap, request.expiry, request.signature.to_string());
		let session = request.session.to_string();
		let (worst, settled, available) = (request.worst, request.settled, request.available);
		let store = self.clone();
		self.run(move |tx| {
			Box::pin(async move {
				let book = store.lock_book(tx, &user, None).await?;
				if let Err(refusal) = ledger::admit(&book, worst, cap, settled, available) {
					return Ok((book, Err(refusal)));
				}
				let voucher = (
					user.as_str(),
					payer.as_str(),
					cap,
					expiry,
					signature.as_str(),
					session.as_str(),
				);
				let id = store.reserve(tx, voucher, worst).await?;
				Ok((book, Ok(id)))
			})
		})
		.await
	}

	/// [`Store::admit`] on the embedded database: checked and reserved in memory; the voucher
	/// written (and committed) only when it is better than the one kept.
	async fn admit_local(
		&self,
		request: &Admission<'_>,
	) -> Result<(Book, Result<i64, Refusal>), StoreError> {
		let (cap, expiry, worst) = (request.cap, request.expiry, request.worst);
		let key = (request.user.clone(), request.payer.clone());
		let (book, id, better) = {
			let Some(mut local) = self.local() else {
				return Err(StoreError::Protocol("no local books".into()));
			};
			let book = local.book(request.user);
			if let Err(refusal) =
				ledger::admit(&book, worst, cap, request.settled, request.available)
			{
				return Ok((book, Err(refusal)));
			}
			local.next_reservation += 1;
			let id = local.next_reservation;
			local.reservations.insert(id, (request.user.clone(), worst));
			let reserved = local.reserved.entry(request.user.clone()).or_default();
			*reserved = reserved.saturating_add(worst);
			let better = local.vouchers.get(&key).is_none_or(|&kept| (cap, expiry) > kept);
			if better {
				local.vouchers.insert(key.clone(), (cap, expiry));
			}
			(book, id, better)
		};
		if better {
			let (user, payer) = (request.user.to_ss58check(), request.payer.to_ss58check());
			let (signature, session) = (request.signature.to_string(), request.session.to_string());
			let written = self
				.run(move |tx| {
					Box::pin(async move {
						let voucher = (&*user, &*payer, cap, expiry, &*signature, &*session);
						Self::keep_voucher(tx, voucher).await
					})
				})
				.await;
			if let Err(e) = written {
				if let Some(mut local) = self.local() {
					local.release(id);
					// Written again (if still better) by the next admission.
					local.vouchers.remove(&key);
				}
				return Err(e);
			}
		}
		Ok((book, Ok(id)))
	}

	/// Keeps `voucher` (user, payer, cap, expiry, signature, session) for the feed if it is
	/// better than the one kept: a higher cap, or the same cap with a later expiry.
	async fn keep_voucher(
		tx: &mut AnyConnection,
		(user, payer, cap, expiry, signature, session): KeptVoucher<'_>,
	) -> Result<(), StoreError> {
		let kept =
			sqlx::query("SELECT cap, expiry FROM vouchers WHERE \"user\" = $1 AND payer = $2")
				.bind(user)
				.bind(payer)
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
				"INSERT INTO vouchers (\"user\", payer, cap, expiry, signature, session)
				 VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (\"user\", payer)
				 DO UPDATE SET cap = $3, expiry = $4, signature = $5, session = $6",
			)
			.bind(user)
			.bind(payer)
			.bind(cap.to_string())
			.bind(i64::from(expiry))
			.bind(signature)
			.bind(session)
			.execute(&mut *tx)
			.await?;
		}
		Ok(())
	}

	/// Keeps `voucher` and reserves `worst` for the user (PostgreSQL).
	async fn reserve(
		&self,
		tx: &mut AnyConnection,
		voucher: KeptVoucher<'_>,
		worst: u128,
	) -> Result<i64, StoreError> {
		let user = voucher.0;
		Self::keep_voucher(tx, voucher).await?;
		let id = sqlx::query(
			"INSERT INTO reservations (\"user\", amount, instance, expires_at)
			 VALUES ($1, $2, $3, $4) RETURNING id",
		)
		.bind(user)
		.bind(worst.to_string())
		.bind(&self.instance)
		.bind(now_ms().saturating_add(self.hold.as_millis() as i64))
		.fetch_one(&mut *tx)
		.await?
		.get::<i64, _>("id");
		Ok(id)
	}

	/// Ends reservation `reservation` without a charge.
	pub async fn release(&self, reservation: i64) -> Result<(), StoreError> {
		if let Some(mut local) = self.local() {
			local.release(reservation);
			return Ok(());
		}
		self.run(move |tx| {
			Box::pin(async move {
				sqlx::query("DELETE FROM reservations WHERE id = $1")
					.bind(reservation)
					.execute(&mut *tx)
					.await?;
				Ok(())
			})
		})
		.await
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
		let usage = usage.clone();
		if self.local.is_some() {
			return self.charge_local(reservation, usage, cap, settled).await;
		}
		let store = self.clone();
		self.run(move |tx| {
			Box::pin(async move { store.charge_in(tx, reservation, &usage, cap, settled).await })
		})
		.await
	}

	/// [`Store::charge`] on the embedded database: the books in memory, one row written.
	async fn charge_local(
		&self,
		reservation: i64,
		usage: Charge,
		cap: u128,
		settled: u128,
	) -> Result<(u128, Book), StoreError> {
		let user = &usage.user;
		let (charged, book, row) = {
			let Some(mut local) = self.local() else {
				return Err(StoreError::Protocol("no local books".into()));
			};
			local.release(reservation);
			let others = local.book(user);
			let charged = ledger::chargeable(usage.cost, cap, settled, others.committed());
			local.add_unsettled(user, charged, true);
			let row = RequestRow {
				user: local.name(user),
				payer: local.name(&usage.payer),
				model: usage.model,
				input_tokens: usage.input_tokens,
				output_tokens: usage.output_tokens,
				cost: charged,
				created_at: now_ms(),
				served_at: i64::from(usage.served_at),
			};
			(charged, local.book(user), row)
		};
		let written = match &self.writer {
			Some(writer) => {
				let (done, result) = oneshot::channel();
				let stopped = || StoreError::Protocol("the database writer stopped".into());
				match writer.send(Job::Record { row, done }).await {
					Ok(()) => result.await.map_err(|_| stopped()).and_then(|r| r),
					Err(_) => Err(stopped()),
				}
			}
			None => Err(StoreError::Protocol("no database writer".into())),
		};
		if let Err(e) = written {
			// Not recorded, not charged.
			if let Some(mut local) = self.local() {
				local.add_unsettled(user, charged, false);
			}
			return Err(e);
		}
		Ok((charged, book))
	}

	async fn charge_in(
		&self,
		tx: &mut AnyConnection,
		reservation: i64,
		usage: &Charge,
		cap: u128,
		settled: u128,
	) -> Result<(u128, Book), StoreError> {
		let user = usage.user.to_ss58check();
		let others = self.lock_book(tx, &user, Some(reservation)).await?;
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
		let row = RequestRow {
			payer: usage.payer.to_ss58check().into(),
			user: user.into(),
			model: usage.model,
			input_tokens: usage.input_tokens,
			output_tokens: usage.output_tokens,
			cost: charged,
			created_at: now_ms(),
			served_at: i64::from(usage.served_at),
		};
		insert_requests(tx, std::slice::from_ref(&row)).await?;
		Ok((charged, Book { reserved: others.reserved, unsettled }))
	}

	/// Value reserved and unsettled over all users (for metrics).
	pub async fn totals(&self) -> Result<(u128, u128), StoreError> {
		if let Some(local) = self.local() {
			let sum = |m: &HashMap<AccountId32, u128>| {
				m.values().fold(0u128, |a, b| a.saturating_add(*b))
			};
			return Ok((sum(&local.reserved), sum(&local.unsettled)));
		}
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
		let store = self.clone();
		self.run(move |tx| Box::pin(async move { store.seal_in(tx).await })).await
	}

	async fn seal_in(
		&self,
		tx: &mut AnyConnection,
	) -> Result<Vec<(u64, AccountId32, u128)>, StoreError> {
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
			"SELECT id, \"user\", payer, model, input_tokens, output_tokens, cost, served_at
			 FROM pending ORDER BY id",
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
			/// The earliest block its requests were served at.
			served_at: Option<i64>,
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
				chunks.push(Chunk {
					ids: Vec::new(),
					input: 0,
					output: 0,
					cost: 0,
					served_at: None,
				});
			}
			if let Some(chunk) = chunks.last_mut() {
				chunk.ids.push(row.get("id"));
				chunk.input += input;
				chunk.output += output;
				chunk.cost = chunk.cost.saturating_add(cost);
				let served_at = row.get::<Option<i64>, _>("served_at");
				chunk.served_at = match (chunk.served_at, served_at) {
					(Some(a), Some(b)) => Some(a.min(b)),
					(a, b) => a.or(b),
				};
			}
		}
		let mut sealed = Vec::new();
		for key in order {
			let (user, payer, model) = &key;
			let voucher = sqlx::query(
				"SELECT cap, expiry, signature, session FROM vouchers
				 WHERE \"user\" = $1 AND payer = $2",
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
					 cap, expiry, signature, session, served_at)
					 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
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
				.bind(voucher.get::<Option<&str>, _>("session"))
				.bind(chunk.served_at)
				.execute(&mut *tx)
				.await?;
				// Moved by their ids (never a range: on PostgreSQL another instance may be
				// charging requests with numbers between them).
				for ids in chunk.ids.chunks(IDS_PER_STATEMENT) {
					let move_sql = format!(
						"INSERT INTO requests (\"user\", payer, model, input_tokens, output_tokens,
						 cost, feed_seq, created_at, served_at)
						 SELECT \"user\", payer, model, input_tokens, output_tokens, cost, $1,
						 created_at, served_at FROM pending WHERE id IN ({}) ORDER BY id",
						placeholders(2, ids.len())
					);
					let delete_sql =
						format!("DELETE FROM pending WHERE id IN ({})", placeholders(1, ids.len()));
					let mut moved = sqlx::query(&move_sql).bind(seq);
					let mut gone = sqlx::query(&delete_sql);
					for id in ids {
						moved = moved.bind(*id);
						gone = gone.bind(*id);
					}
					moved.execute(&mut *tx).await?;
					gone.execute(&mut *tx).await?;
				}
				sealed.push((seq as u64, account(user)?, chunk.cost));
			}
		}
		sqlx::query("UPDATE meta SET value = $1 WHERE key = $2")
			.bind(seq)
			.bind(LAST_SEQ)
			.execute(&mut *tx)
			.await?;
		Ok(sealed)
	}

	/// The feed records after `after`, at most `limit`.
	pub async fn feed_after(&self, after: u64, limit: u32) -> Result<Vec<FeedRecord>, StoreError> {
		let rows = sqlx::query(
			"SELECT seq, \"user\", payer, model, input_tokens, output_tokens, cost, cap, expiry,
			 signature, session, served_at FROM feed WHERE seq > $1 ORDER BY seq LIMIT $2",
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
					session: row.get("session"),
					served_at: row.get::<Option<i64>, _>("served_at").map(|b| b as u32),
				})
			})
			.collect()
	}

	/// Numbers the feed's next record after `last_seq` at least: at start, the chain's
	/// `LastSeq` for this provider (at its best block), so that a lost or reset database never
	/// numbers records the chain will not attest.
	pub async fn skip_seq_to(&self, last_seq: u64) -> Result<(), StoreError> {
		self.run(move |tx| Box::pin(async move { Self::skip_seq_in(tx, last_seq).await })).await
	}

	async fn skip_seq_in(tx: &mut AnyConnection, last_seq: u64) -> Result<(), StoreError> {
		sqlx::query(
			"INSERT INTO meta (key, value) VALUES ($1, $2) ON CONFLICT (key)
			 DO UPDATE SET value = $2 WHERE meta.value < $2",
		)
		.bind(LAST_SEQ)
		.bind(last_seq as i64)
		.execute(&mut *tx)
		.await?;
		Ok(())
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
		let store = self.clone();
		let gone = self
			.run(move |tx| Box::pin(async move { store.attested_in(tx, last_seq).await }))
			.await?;
		if let Some(mut local) = self.local() {
			for (user, cost) in &gone.1 {
				local.add_unsettled(&account(user)?, *cost, false);
			}
		}
		Ok(gone.0)
	}

	async fn attested_in(
		&self,
		tx: &mut AnyConnection,
		last_seq: u64,
	) -> Result<(usize, BTreeMap<String, u128>), StoreError> {
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
			return Ok((0, BTreeMap::new()));
		}
		// The chain has attested through `last_seq`: the feed never numbers a record at or
		// below it again (after a lost or reset database such records would never be
		// attested, and would be dropped here as attested).
		Self::skip_seq_in(tx, last_seq).await?;
		let gone = sqlx::query("DELETE FROM feed WHERE seq <= $1 RETURNING \"user\", cost")
			.bind(last_seq as i64)
			.fetch_all(&mut *tx)
			.await?;
		let mut per_user: BTreeMap<String, u128> = BTreeMap::new();
		for row in &gone {
			let total = per_user.entry(row.get("user")).or_default();
			*total = total.saturating_add(amount(row.get::<&str, _>("cost"))?);
		}
		for (user, cost) in per_user.iter().filter(|_| self.local.is_none()) {
			let book = self.lock_book(tx, user, None).await?;
			// The row stays (one per user): an admission may be waiting for it.
			sqlx::query("UPDATE books SET unsettled = $1 WHERE \"user\" = $2")
				.bind(book.unsettled.saturating_sub(*cost).to_string())
				.bind(user)
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
		Ok((gone.len(), per_user))
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
		let (store, settlements) = (self.clone(), settlements.to_vec());
		self.run(move |tx| {
			Box::pin(async move { store.record_settlements_in(tx, block, &settlements).await })
		})
		.await
	}

	async fn record_settlements_in(
		&self,
		tx: &mut AnyConnection,
		block: u32,
		settlements: &[crate::events::Settlement],
	) -> Result<(), StoreError> {
		use crate::events::Settlement;
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
		Ok(())
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
		// One statement: one snapshot, whatever a seal moves meanwhile.
		for row in sqlx::query(
			"SELECT input_tokens, output_tokens, cost, feed_seq FROM requests WHERE \"user\" = $1
			 UNION ALL
			 SELECT input_tokens, output_tokens, cost, NULL FROM pending WHERE \"user\" = $1",
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
			session: "0x02",
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
			served_at: 7,
		};
		Ok(store.charge(id, &usage, cap, 0).await.unwrap().0)
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
			assert_eq!(
				sealed,
				vec![(1, bob.clone(), 7), (2, charlie.clone(), 2), (3, bob.clone(), 1)]
			);
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
			session: "0x02",
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

	/// Sealing more charged requests than one statement names moves every one of them into
	/// the feed record, once.
	#[tokio::test]
	async fn a_seal_of_many_requests_moves_each_once() {
		let dir = tempfile::tempdir().unwrap();
		let store = Store::open(&dir.path().join("usage.db"), Sync::Normal).await.unwrap();
		let (bob, charlie) = (Bob.to_account_id(), Charlie.to_account_id());
		let n = 2 * IDS_PER_STATEMENT + 7;
		for i in 0..n {
			let who = if i % 3 == 0 { &charlie } else { &bob };
			serve(&store, who, u128::MAX, 100, "0x01", 0, 1, 1).await.unwrap();
		}
		let sealed = store.seal().await.unwrap();
		let charlie_count = n.div_ceil(3) as u128;
		let bob_count = n as u128 - charlie_count;
		assert_eq!(sealed, vec![(1, charlie.clone(), charlie_count), (2, bob.clone(), bob_count)]);
		assert!(store.seal().await.unwrap().is_empty());
		let totals = store.user_totals(&bob, 2).await.unwrap();
		assert_eq!((totals.requests as u128, totals.attested), (bob_count, bob_count));
		let left = sqlx::query("SELECT COUNT(*) AS n FROM pending").fetch_one(&store.pool).await;
		assert_eq!(left.unwrap().get::<i64, _>("n"), 0);
		let feed = store.feed_after(0, 10).await.unwrap();
		assert_eq!(
			feed.iter().map(|r| r.input_tokens).collect::<Vec<_>>(),
			vec![charlie_count as u32, bob_count as u32]
		);
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
			for (table, column) in
				[("vouchers", "session"), ("feed", "session"), ("feed", "served_at")]
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
		assert_eq!(new[0].session.as_deref(), Some("0x02"));
		assert_eq!((old[0].served_at, new[0].served_at), (None, Some(7)));
		assert_eq!(new[0].to_json()["served_at"], 7);
		assert_eq!(new[0].to_json()["voucher"]["session"], "0x02");
		// Opening again adds nothing twice.
		drop(store);
		Store::open(&path, Sync::Normal).await.unwrap();
	}

	/// The write-ahead log starts over once the writer's checkpoint completes: one commit per
	/// charge for many more commits than the threshold leaves a log of about the threshold,
	/// not one that grows with every charge. `--sync-every-commit` is SQLite's FULL.
	#[tokio::test]
	async fn the_log_stays_bounded_and_sync_is_as_asked() {
		let dir = tempfile::tempdir().unwrap();
		let path = dir.path().join("usage.db");
		let store = Store::open(&path, Sync::Normal).await.unwrap();
		let bob = Bob.to_account_id();
		// Each charge alone: one commit, at least one page of log each.
		for _ in 0..12_000 {
			serve(&store, &bob, u128::MAX, 100, "0x01", 0, 1, 1).await.unwrap();
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
			let port =
				std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
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
			session: "0x02",
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
		let store = Store::open(&path, Sync::Normal).await.unwrap();
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
