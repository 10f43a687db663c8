//! SQLite's one writer: writes waiting together are committed in one transaction (charged
//! requests by one statement), and the log is checkpointed beside it.

use super::*;

/// A write: runs inside a transaction on the connection it is given.
pub(super) type Work = Box<
	dyn for<'c> FnOnce(
			&'c mut AnyConnection,
		) -> BoxFuture<'c, Result<Box<dyn std::any::Any + Send>, StoreError>>
		+ Send,
>;

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
pub(super) enum Done {
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
pub(super) const MAX_BATCH: usize = 512;

/// `$from, …` (`count` of them).
pub(super) fn placeholders(from: usize, count: usize) -> String {
	(from..from + count).map(|i| format!("${i}")).collect::<Vec<_>>().join(", ")
}

/// Request ids named by one statement at most when sealing (a seal takes at most
/// [`super::feed::SEAL_CHUNK`] requests, so today one statement per record).
pub(super) const IDS_PER_STATEMENT: usize = 500;

/// Charged requests written by one `INSERT` at most (8 values each).
pub(super) const ROWS_PER_INSERT: usize = 64;

/// Writes `rows` to `pending` with one statement.
pub(super) async fn insert_requests(
	conn: &mut AnyConnection,
	rows: &[RequestRow],
) -> Result<(), StoreError> {
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
pub(super) async fn write_batches(
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
