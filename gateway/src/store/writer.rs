//! SQLite's one writer, a thread of its own: writes waiting together are committed together
//! (charged requests by one statement on the writer's own connection), and the log is
//! checkpointed beside it.

use super::*;

/// A write: runs inside a transaction on the connection it is given.
pub(super) type Work = Box<
	dyn for<'c> FnOnce(
			&'c mut AnyConnection,
		) -> BoxFuture<'c, Result<Box<dyn std::any::Any + Send>, StoreError>>
		+ Send,
>;

/// Where a write's result goes once committed.
pub(super) type WorkDone = oneshot::Sender<Result<Box<dyn std::any::Any + Send>, StoreError>>;

/// A charged request's row, as written.
pub(super) struct RequestRow {
	pub(super) user: Arc<str>,
	pub(super) payer: Arc<str>,
	pub(super) model: u32,
	pub(super) input_tokens: u32,
	pub(super) output_tokens: u32,
	pub(super) cost: u128,
	pub(super) created_at: i64,
	pub(super) served_at: i64,
}

/// A write waiting for the SQLite writer, and where its result goes once committed.
pub(super) enum Job {
	/// A charged request (the hot path): requests waiting together are written by one
	/// statement, which is atomic by itself.
	Record { row: RequestRow, done: oneshot::Sender<Result<(), StoreError>> },
	/// Any other write, run in a savepoint of its own.
	Work { work: Work, done: WorkDone },
	/// Move the charge journal's waiting charges into `pending`, and say when done (if asked).
	Move { done: Option<oneshot::Sender<Result<(), StoreError>>> },
	/// Seal the charge journal's waiting charges, at most `chunk` of them, straight into the
	/// feed ([`journal::seal_journal`]): the new records (seq, user, cost), and how many
	/// charges were taken.
	Seal { chunk: usize, done: oneshot::Sender<Result<JournalSeal, StoreError>> },
}

/// What a seal of the journal's charges made: the new records (seq, user as SS58, cost) and
/// how many charges it took.
pub(super) type JournalSeal = (Vec<(u64, String, u128)>, usize);

/// Writes taken together at most.
pub(super) const MAX_BATCH: usize = 512;

/// `$from, …` (`count` of them).
pub(super) fn placeholders(from: usize, count: usize) -> String {
	(from..from + count).map(|i| format!("${i}")).collect::<Vec<_>>().join(", ")
}

/// Request ids named by one statement at most when sealing (a seal takes at most
/// [`super::feed::JOURNALLED_SEAL_CHUNK`] requests, so one statement per record; SQLite takes
/// 32,766 parameters, PostgreSQL 65,535).
pub(super) const IDS_PER_STATEMENT: usize = 4096;

/// Charged requests written by one `INSERT` at most (8 values each).
pub(super) const ROWS_PER_INSERT: usize = 64;

/// Writes `rows` to `pending` with one statement.
pub(super) async fn insert_requests(
	conn: &mut AnyConnection,
	rows: &[RequestRow],
) -> Result<(), StoreError> {
	let mut sql = String::from(INSERT_PENDING);
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

pub(super) fn sqlite_error(e: rusqlite::Error) -> StoreError {
	StoreError::Protocol(format!("the database writer: {e}"))
}

/// Starts the embedded database's one writer (group commit) on a thread of its own: it takes
/// the writes waiting and commits them together, then answers each.
///
/// Charged requests are written on the writer's own SQLite connection, opened at `path`: with
/// `journal` (SQLite's `NORMAL`), out of the [charge journal](super::journal) in bulk: sealed
/// straight into the feed ([`Job::Seal`]), or moved into `pending` when asked ([`Job::Move`]);
/// without (`FULL`, a sync per commit), as they come, answered once committed: those waiting
/// next to each other by one `INSERT` (a statement is atomic by itself), several statements in
/// one transaction. Any other write runs on `work`, a connection of the pool, in a savepoint of
/// its own (a write that fails is undone alone), writes waiting together in one `BEGIN
/// IMMEDIATE` transaction. Both connections are driven by this thread only, one after the
/// other, so no write ever waits on SQLite's busy handler, and a burst of requests costs one
/// statement and one sync instead of one each.
pub(super) fn start_writer(
	path: &Path,
	sync: Sync,
	work: sqlx::pool::PoolConnection<sqlx::Any>,
	jobs: mpsc::Receiver<Job>,
	journal: Option<Arc<Journal>>,
) -> Result<(), StoreError> {
	let conn = rusqlite::Connection::open_with_flags(
		path,
		rusqlite::OpenFlags::SQLITE_OPEN_READ_WRITE | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
	)
	.map_err(sqlite_error)?;
	conn.busy_timeout(Duration::from_secs(10)).map_err(sqlite_error)?;
	conn.pragma_update(None, "synchronous", sync.setting()).map_err(sqlite_error)?;
	// A statement's undo log in memory, not in a file created (and deleted) for each.
	conn.pragma_update(None, "temp_store", "MEMORY").map_err(sqlite_error)?;
	// The writer completes a checkpoint itself once the log reaches
	// `WRITER_CHECKPOINT_PAGES` (so that the log starts over: the passive checkpoints beside
	// it never catch up with a writer that keeps writing).
	conn.pragma_update(None, "wal_autocheckpoint", WRITER_CHECKPOINT_PAGES)
		.map_err(sqlite_error)?;
	// Two statements per number of rows (1 ..= ROWS_PER_INSERT: into `pending` and into
	// `requests`), prepared once, and the seal's few.
	conn.set_prepared_statement_cache_capacity(2 * ROWS_PER_INSERT + 8);
	let runtime = tokio::runtime::Handle::current();
	std::thread::Builder::new()
		.name("tokenmeter-db-writer".into())
		.spawn(move || write_batches(conn, work, jobs, journal, runtime))
		.map(drop)
		.map_err(|e| StoreError::Protocol(format!("cannot start the database writer: {e}")))
}

/// The writer's loop: until every sender is gone.
fn write_batches(
	conn: rusqlite::Connection,
	mut work: sqlx::pool::PoolConnection<sqlx::Any>,
	mut jobs: mpsc::Receiver<Job>,
	journal: Option<Arc<Journal>>,
	runtime: tokio::runtime::Handle,
) {
	let mut statements = InsertStatements::default();
	let mut rows = Vec::with_capacity(MAX_BATCH);
	let mut waiting = Vec::with_capacity(MAX_BATCH);
	let mut works = Vec::new();
	let (mut moving, mut moved) = (false, Vec::new());
	let mut seals = Vec::new();
	let move_journal = |statements: &mut InsertStatements| match &journal {
		Some(journal) => journal::move_journal(&conn, statements, journal),
		None => Ok(()),
	};
	let seal_journal = |statements: &mut InsertStatements, chunk| match &journal {
		Some(journal) => journal::seal_journal(&conn, statements, journal, chunk),
		None => Ok((Vec::new(), 0)),
	};
	while let Some(first) = jobs.blocking_recv() {
		// The writes waiting, at most MAX_BATCH. Charged requests are written first: they are
		// what answers wait on, and no other write depends on one waiting beside it (a
		// voucher is kept before its requests are served).
		let mut next = Some(first);
		let mut taken = 0;
		while let Some(job) = next.take() {
			match job {
				Job::Record { row, done } => {
					rows.push(row);
					waiting.push(done);
				}
				Job::Work { work, done } => works.push((work, done)),
				Job::Move { done } => {
					moving = true;
					moved.extend(done);
				}
				Job::Seal { chunk, done } => seals.push((chunk, done)),
			}
			taken += 1;
			if taken < MAX_BATCH {
				next = jobs.try_recv().ok();
			}
		}
		if !rows.is_empty() {
			let results = insert_rows(&conn, &mut statements, &rows);
			rows.clear();
			for (done, result) in waiting.drain(..).zip(results) {
				let _ = done.send(result);
			}
		}
		// Before the other writes: a write that reads `pending` asked for the move first.
		if std::mem::take(&mut moving) {
			let result = move_journal(&mut statements);
			if let Err(e) = &result {
				tracing::warn!("moving the charge journal into the database: {e}");
			}
			for done in moved.drain(..) {
				let _ = done.send(
					result.as_ref().map(drop).map_err(|e| StoreError::Protocol(e.to_string())),
				);
			}
		}
		for (chunk, done) in seals.drain(..) {
			let _ = done.send(seal_journal(&mut statements, chunk));
		}
		if !works.is_empty() {
			runtime.block_on(run_works(&mut work, &mut works));
		}
	}
	// What the journal holds is moved at the next start otherwise.
	if let Err(e) = move_journal(&mut statements) {
		tracing::warn!("moving the charge journal into the database: {e}");
	}
	// The pool takes its connection back on the runtime.
	let _entered = runtime.enter();
	drop(work);
}

/// The start of an insert of charged requests into `pending` (eight values a row), for both
/// drivers: sqlx's (PostgreSQL) and rusqlite's (SQLite's writer thread).
const INSERT_PENDING: &str = "INSERT INTO pending (\"user\", payer, model, input_tokens, \
	output_tokens, cost, created_at, served_at) VALUES ";

/// The start of an insert of sealed requests into `requests` (nine values a row: a charged
/// request's eight in the order of [`INSERT_PENDING`], with its record's number before
/// `created_at`).
const INSERT_SEALED: &str = "INSERT INTO requests (\"user\", payer, model, input_tokens, \
	output_tokens, cost, feed_seq, created_at, served_at) VALUES ";

/// `INSERT INTO pending … VALUES (?, …), …` and `INSERT INTO requests …` for each number of
/// rows, made once.
#[derive(Default)]
pub(super) struct InsertStatements {
	pending: Vec<String>,
	sealed: Vec<String>,
}

/// `head` followed by `rows` groups of `values`, made once each in `made`.
fn statement<'a>(made: &'a mut Vec<String>, head: &str, values: &str, rows: usize) -> &'a str {
	while made.len() < rows {
		let mut sql = String::from(head);
		sql.push_str(&vec![values; made.len() + 1].join(", "));
		made.push(sql);
	}
	&made[rows - 1]
}

impl InsertStatements {
	fn sql(&mut self, rows: usize) -> &str {
		statement(&mut self.pending, INSERT_PENDING, "(?, ?, ?, ?, ?, ?, ?, ?)", rows)
	}

	fn sealed_sql(&mut self, rows: usize) -> &str {
		statement(&mut self.sealed, INSERT_SEALED, "(?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
	}
}

/// Writes `rows` (at most [`MAX_BATCH`]) to `pending`: one statement per
/// [`ROWS_PER_INSERT`], all in one transaction when there are several. Each row's result.
pub(super) fn insert_rows(
	conn: &rusqlite::Connection,
	statements: &mut InsertStatements,
	rows: &[RequestRow],
) -> Vec<Result<(), StoreError>> {
	let several = rows.len() > ROWS_PER_INSERT;
	if several {
		if let Err(e) = conn.execute_batch("BEGIN IMMEDIATE") {
			let message = e.to_string();
			return rows.iter().map(|_| Err(StoreError::Protocol(message.clone()))).collect();
		}
	}
	let mut results = Vec::with_capacity(rows.len());
	for chunk in rows.chunks(ROWS_PER_INSERT) {
		match insert_chunk(conn, statements, chunk) {
			Ok(()) => results.extend(chunk.iter().map(|_| Ok(()))),
			Err(e) => {
				let message = e.to_string();
				results.extend(chunk.iter().map(|_| Err(StoreError::Protocol(message.clone()))));
			}
		}
	}
	if several {
		if let Err(e) = conn.execute_batch("COMMIT") {
			let _ = conn.execute_batch("ROLLBACK");
			let message = e.to_string();
			return rows.iter().map(|_| Err(StoreError::Protocol(message.clone()))).collect();
		}
	}
	results
}

/// One `INSERT` of `rows` (at most [`ROWS_PER_INSERT`]) into `pending`.
pub(super) fn insert_chunk<R: std::borrow::Borrow<RequestRow>>(
	conn: &rusqlite::Connection,
	statements: &mut InsertStatements,
	rows: &[R],
) -> rusqlite::Result<()> {
	let mut statement = conn.prepare_cached(statements.sql(rows.len()))?;
	bind_rows(&mut statement, rows.iter().map(std::borrow::Borrow::borrow), None)?;
	statement.raw_execute().map(drop)
}

/// One `INSERT` into `requests` of `rows` (at most [`ROWS_PER_INSERT`]), sealed into record
/// `seq`.
pub(super) fn insert_sealed(
	conn: &rusqlite::Connection,
	statements: &mut InsertStatements,
	rows: &[&RequestRow],
	seq: i64,
) -> rusqlite::Result<()> {
	let mut statement = conn.prepare_cached(statements.sealed_sql(rows.len()))?;
	bind_rows(&mut statement, rows.iter().copied(), Some(seq))?;
	statement.raw_execute().map(drop)
}

/// Binds each row's values in the order of [`INSERT_PENDING`], with `seq` (the record's
/// number, [`INSERT_SEALED`]) before `created_at` when given.
fn bind_rows<'a>(
	statement: &mut rusqlite::CachedStatement<'_>,
	rows: impl Iterator<Item = &'a RequestRow>,
	seq: Option<i64>,
) -> rusqlite::Result<()> {
	let mut at = 0;
	let mut bind = |value: &dyn rusqlite::ToSql| {
		at += 1;
		statement.raw_bind_parameter(at, value)
	};
	for row in rows {
		bind(&&*row.user)?;
		bind(&&*row.payer)?;
		bind(&i64::from(row.model))?;
		bind(&i64::from(row.input_tokens))?;
		bind(&i64::from(row.output_tokens))?;
		bind(&row.cost.to_string())?;
		if let Some(seq) = seq {
			bind(&seq)?;
		}
		bind(&row.created_at)?;
		bind(&row.served_at)?;
	}
	Ok(())
}

/// Runs `works` (taken) on `conn`, each in a savepoint of its own, all in one `BEGIN
/// IMMEDIATE` transaction, and answers each once it is committed.
async fn run_works(conn: &mut AnyConnection, works: &mut Vec<(Work, WorkDone)>) {
	if let Err(e) = conn.execute("BEGIN IMMEDIATE").await {
		let message = e.to_string();
		for (_, done) in works.drain(..) {
			let _ = done.send(Err(StoreError::Protocol(message.clone())));
		}
		return;
	}
	let mut results = Vec::with_capacity(works.len());
	for (work, done) in works.drain(..) {
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
		results.push((done, ended.and(result)));
	}
	match conn.execute("COMMIT").await {
		Ok(_) => results.into_iter().for_each(|(done, result)| drop(done.send(result))),
		Err(e) => {
			let _ = conn.execute("ROLLBACK").await;
			let message = e.to_string();
			for (done, _) in results {
				let _ = done.send(Err(StoreError::Protocol(message.clone())));
			}
		}
	}
}

/// Pages of log (4 KiB each) after which the writer completes a checkpoint itself, holding the
/// answers waiting on it for a few milliseconds: 64 MiB, every few seconds at full load
/// (about one page per commit). Smaller in the tests, which check that the log starts over.
pub(super) const WRITER_CHECKPOINT_PAGES: u32 = if cfg!(test) { 2048 } else { 16384 };

/// How often the embedded database's log is copied into the database file.
pub(super) const CHECKPOINT_EVERY: Duration = Duration::from_secs(1);

/// Copies the embedded database's write-ahead log into the database file every
/// [`CHECKPOINT_EVERY`], on a connection of its own. SQLite would otherwise do it all inside
/// the commit that crosses its threshold (by default about once a second at 1,000 requests/s),
/// holding every answer waiting for that commit for the milliseconds the copy and its syncs
/// take. A passive checkpoint never blocks the writer.
pub(super) async fn checkpoints(pool: AnyPool) {
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

impl Store {
	/// Runs `work` in a write transaction and returns its result once committed. SQLite: by
	/// the one writer, committed together with the writes waiting beside it (`BEGIN IMMEDIATE`:
	/// the write lock from the start). PostgreSQL: in a transaction of its own, which locks the
	/// rows it writes as it reads them (`FOR UPDATE`); instances write concurrently.
	pub(super) async fn run<T: Send + 'static>(
		&self,
		work: impl for<'c> FnOnce(&'c mut AnyConnection) -> BoxFuture<'c, Result<T, StoreError>>
			+ Send
			+ 'static,
	) -> Result<T, StoreError> {
		match &self.writer {
			Some(writer) => run_on(writer, work).await,
			None => {
				let mut tx = self.pool.begin().await?;
				let output = work(&mut tx).await?;
				tx.commit().await?;
				Ok(output)
			}
		}
	}
}

/// Runs `work` on the SQLite writer `writer` (in a savepoint of its own, committed together
/// with the writes waiting beside it) and returns its result once committed.
pub(super) async fn run_on<T: Send + 'static>(
	writer: &mpsc::Sender<Job>,
	work: impl for<'c> FnOnce(&'c mut AnyConnection) -> BoxFuture<'c, Result<T, StoreError>>
		+ Send
		+ 'static,
) -> Result<T, StoreError> {
	let stopped = || StoreError::Protocol("the database writer stopped".into());
	let (done, result) = oneshot::channel();
	let work: Work = Box::new(move |conn| {
		Box::pin(
			async move { work(conn).await.map(|t| Box::new(t) as Box<dyn std::any::Any + Send>) },
		)
	});
	writer.send(Job::Work { work, done }).await.map_err(|_| stopped())?;
	result
		.await
		.map_err(|_| stopped())??
		.downcast::<T>()
		.map(|t| *t)
		.map_err(|_| StoreError::Protocol("a write returned the wrong type".into()))
}
