//! Durable records and the books: every charged request, the best voucher of each (user,
//! payer), what each user has reserved and charged but not settled, and the usage feed the
//! operator node attests.
//!
//! Two databases, one schema and one set of queries: **SQLite** (embedded, `usage.db` in the
//! data directory, the default; WAL mode, and a charge written before its answer is sent
//! survives a crash of the gateway — and with [`Sync::Full`] a power cut too) for one gateway,
//! and **PostgreSQL** (`--database
//! postgres://…`) for a fleet of gateways behind a load balancer. With PostgreSQL every
//! admission and every charge holds the user's row (`SELECT … FOR UPDATE`), so instances never
//! together overspend a voucher or the user's credits; sealing holds the feed's counter row, so
//! the feed numbers stay one sequence without gaps or duplicates whichever instance seals.
//!
//! A charged request is made durable before its answer is sent: on SQLite by a line appended to
//! the charge journal (`journal`; with [`Sync::Full`] by a commit that waits for the disk), on
//! PostgreSQL by a commit. It waits to be sealed in `pending` (no index to keep up), or, with
//! the journal, in the journal; the feed aggregates: sealing turns the waiting requests into
//! feed records, one per (user, payer, model) (split only if the tokens would not fit a
//! `u32`), numbered without gaps, and writes the requests into `requests` (the record of every
//! charged request, with its feed number), in one transaction. A restart loses nothing and
//! numbers nothing twice. Feed records are kept until the chain's finalised `lastSeq` has
//! passed them; then they leave the feed and their charges leave the books, together.
//!
//! The code: `schema` (tables and migrations), `journal` (SQLite's charge journal), `writer`
//! (SQLite's one writer, a thread of its own that commits waiting writes together — charges,
//! out of the journal or as they come, on a connection of its own — and checkpoints), `books`
//! (admission, reservations and charges, behind one trait: in memory for SQLite, in the user's
//! row for PostgreSQL), `feed` (sealing, serving and retiring feed records) and `reconcile`
//! (the chain's settlement events and the per-user totals).
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
use serde_json::Value;
use sp_core::crypto::Ss58Codec;
use sp_runtime::AccountId32;
use sqlx::{
	any::{AnyConnectOptions, AnyPoolOptions},
	sqlite::SqliteConnectOptions,
	AnyConnection, AnyPool, Executor, Row,
};
use tokio::sync::{mpsc, oneshot};

use crate::ledger::{self, Book, Refusal};

mod books;
mod feed;
mod feedback;
mod journal;
mod queue;
mod reconcile;
mod schema;
#[cfg(test)]
mod tests;
mod windows;
mod writer;

use books::{Admitted, Books, Embedded, Shared};
pub use feedback::{Added, StoredFeedback};
use journal::Journal;
pub use queue::{Entered, Left};
pub use reconcile::ChainTotals;
use writer::*;

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
	/// The record as the feed serves it: `tokenmeter_primitives::feed::FeedRecord`, the one
	/// definition the operator node's worker reads too.
	pub fn to_wire(&self) -> tokenmeter_primitives::feed::FeedRecord {
		use tokenmeter_primitives::feed::decode_hex;
		tokenmeter_primitives::feed::FeedRecord {
			seq: self.seq,
			user: self.user.to_ss58check(),
			on_behalf_of: (self.payer != self.user).then(|| self.payer.to_ss58check()),
			model: self.model,
			input_tokens: self.input_tokens,
			output_tokens: self.output_tokens,
			cap: self.cap,
			expiry: u64::from(self.expiry),
			// Written by the gateway from a decoded signature and commitment: valid hex.
			signature: decode_hex(&self.signature).unwrap_or_default(),
			session: self
				.session
				.as_deref()
				.and_then(decode_hex)
				.and_then(|bytes| <[u8; 32]>::try_from(bytes).ok()),
			served_at: self.served_at.map(u64::from).unwrap_or(0),
		}
	}

	/// The record's JSON (docs/pallets/usage-attestation.md).
	pub fn to_json(&self) -> Value {
		self.to_wire().to_json()
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
	/// SQLite's `synchronous = NORMAL`: a charge is written to the charge journal before its
	/// answer is sent (and moved into the database in bulk), and the database's log is synced
	/// at checkpoints (beside the writer). A power cut or a crash of the machine can undo the
	/// last charges — the provider's loss, never more than was served.
	#[default]
	Normal,
	/// `synchronous = FULL`: every commit waits for the disk (one sync per group of answers).
	Full,
}

impl Sync {
	/// SQLite's `synchronous` setting for it.
	pub(super) fn setting(self) -> &'static str {
		match self {
			Sync::Normal => "NORMAL",
			Sync::Full => "FULL",
		}
	}
}

/// The database.
#[derive(Clone)]
pub struct Store {
	pool: AnyPool,
	backend: Backend,
	instance: String,
	/// SQLite: the one writer, which commits whatever writes are waiting together.
	writer: Option<mpsc::Sender<Job>>,
	/// SQLite: what a seal takes, read beside the writer.
	reader: Option<Arc<feed::Reader>>,
	/// SQLite (`NORMAL`): the charge journal.
	journal: Option<Arc<Journal>>,
	/// Held while sealing: one seal at a time.
	sealing: Arc<tokio::sync::Mutex<()>>,
	/// The URL it was opened with (a fleet's queue listens for grants on a connection of
	/// its own).
	url: Arc<str>,
	/// The longest a request can be in flight.
	hold: Duration,
	/// The books: in memory for SQLite (the one instance owns the file), in the database for
	/// PostgreSQL.
	books: Arc<dyn Books>,
}

/// A voucher as kept for the feed: user, payer (SS58), cap, expiry, signature and session
/// commitment (hex).
type KeptVoucher<'a> = (&'a str, &'a str, u128, u32, &'a str, &'a str);

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

/// Opens the charge journal of the embedded database at `file` and moves into `pending` what
/// it holds from an earlier run (before the books are read from `pending`).
async fn open_journal(pool: &AnyPool, file: &Path) -> Result<Journal, StoreError> {
	let through = sqlx::query("SELECT value FROM meta WHERE key = $1")
		.bind(journal::JOURNAL_THROUGH)
		.fetch_optional(pool)
		.await?
		.map_or(0, |row| row.get::<i64, _>("value"));
	let journal = Journal::open(file, u64::try_from(through).unwrap_or(0))?;
	let file = file.to_path_buf();
	tokio::task::spawn_blocking(move || {
		let conn = rusqlite::Connection::open(&file).map_err(sqlite_error)?;
		conn.busy_timeout(Duration::from_secs(10)).map_err(sqlite_error)?;
		journal::move_journal(&conn, &mut InsertStatements::default(), &journal)?;
		Ok(journal)
	})
	.await
	.map_err(|e| StoreError::Protocol(format!("moving the charge journal: {e}")))?
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
		/// A statement's undo log and sorts in memory, not in a file created (and deleted)
		/// for each: sealing a chunk of charges made one per statement.
		const TEMP_STORE: &str = "PRAGMA temp_store = MEMORY";
		let pool = AnyPoolOptions::new()
			.max_connections(if backend == Backend::Sqlite { 4 } else { 16 })
			.after_connect(move |conn, _| {
				Box::pin(async move {
					if backend == Backend::Sqlite {
						conn.execute("PRAGMA journal_mode = WAL").await?;
						conn.execute(format!("PRAGMA synchronous = {}", sync.setting()).as_str())
							.await?;
						conn.execute("PRAGMA busy_timeout = 10000").await?;
						conn.execute(TEMP_STORE).await?;
						// Checkpoints run beside the writer (`checkpoints`), not in its commits.
						conn.execute("PRAGMA wal_autocheckpoint = 0").await?;
					}
					Ok(())
				})
			})
			.connect_with(options)
			.await?;
		let instance = instance.to_string();
		let (writer, reader, journal, books): (_, _, _, Arc<dyn Books>) =
			if backend == Backend::Sqlite {
				let (sender, receiver) = mpsc::channel(4 * MAX_BATCH);
				// Migrated before the writer starts (nothing else writes meanwhile).
				schema::migrate(&pool, backend).await?;
				let file = SqliteConnectOptions::from_str(url)?.get_filename().to_path_buf();
				let journal = match sync {
					Sync::Normal => Some(Arc::new(open_journal(&pool, &file).await?)),
					Sync::Full => None,
				};
				let books = Embedded::load(&pool, sender.clone(), journal.clone()).await?;
				start_writer(&file, sync, pool.acquire().await?, receiver, journal.clone())?;
				tokio::spawn(checkpoints(pool.clone()));
				if let Some(journal) = &journal {
					tokio::spawn(journal::moves(sender.downgrade(), journal.clone()));
				}
				(Some(sender), Some(Arc::new(feed::Reader::new(file))), journal, Arc::new(books))
			} else {
				schema::migrate(&pool, backend).await?;
				(None, None, None, Arc::new(Shared::new(pool.clone(), instance.clone(), hold)))
			};
		let sealing = Arc::default();
		let url = Arc::from(url);
		let store =
			Store { pool, backend, instance, writer, reader, journal, sealing, url, hold, books };
		sqlx::query("DELETE FROM reservations WHERE instance = $1")
			.bind(&store.instance)
			.execute(&store.pool)
			.await?;
		Ok(store)
	}

	/// `user`'s books.
	pub async fn book(&self, user: &AccountId32) -> Result<Book, StoreError> {
		self.books.book(user).await
	}

	/// Admits a request if the books allow it ([`ledger::admit`]): reserves its worst case and
	/// keeps its voucher for the feed if it is better than the one kept (a higher cap, or the
	/// same cap with a later expiry). Returns the books as they were before, and the
	/// reservation's id or why it was refused.
	pub async fn admit(&self, request: &Admission<'_>) -> Result<Admitted, StoreError> {
		self.books.admit(request).await
	}

	/// Ends reservation `reservation` without a charge.
	pub async fn release(&self, reservation: i64) -> Result<(), StoreError> {
		self.books.release(reservation).await
	}

	/// Charges an answer in place of its reservation: at most what the voucher of cap `cap`
	/// still allows with `settled` settled on chain ([`ledger::chargeable`]). The charge is
	/// durable when this returns. Returns what was charged and the books after.
	pub async fn charge(
		&self,
		reservation: i64,
		usage: &Charge,
		cap: u128,
		settled: u128,
	) -> Result<(u128, Book), StoreError> {
		self.books.charge(reservation, usage.clone(), cap, settled).await
	}

	/// Value reserved and unsettled over all users (for metrics).
	pub async fn totals(&self) -> Result<(u128, u128), StoreError> {
		self.books.totals().await
	}

	/// Moves the charges waiting in the journal (SQLite) into `pending`: before anything reads
	/// `pending`, so that it sees every charge made before.
	pub(super) async fn flush(&self) -> Result<(), StoreError> {
		let (Some(writer), Some(_)) = (&self.writer, &self.journal) else { return Ok(()) };
		let stopped = || StoreError::Protocol("the database writer stopped".into());
		let (done, moved) = oneshot::channel();
		writer.send(Job::Move { done: Some(done) }).await.map_err(|_| stopped())?;
		moved.await.map_err(|_| stopped())?
	}

	/// `FOR UPDATE` where the database has it (SQLite's write lock covers the whole file).
	pub(super) fn for_update(&self) -> &'static str {
		match self.backend {
			Backend::Sqlite => "",
			Backend::Postgres => " FOR UPDATE",
		}
	}

	/// Which database this is.
	pub fn backend(&self) -> Backend {
		self.backend
	}
}
