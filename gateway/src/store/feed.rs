//! The usage feed: charges sealed into numbered records, served, and retired once attested.

use super::*;

/// Charged requests sealed in one transaction at most where charges wait on a seal: SQLite
/// with a sync per commit, whose charges wait on the one writer a seal holds (and PostgreSQL).
pub(super) const SEAL_CHUNK: usize = 256;

/// The same where no charge waits on a seal: SQLite with the charge journal, whose charges are
/// written beside the writer. A seal's statements are per chunk (about a dozen, each a round
/// trip between the writer's thread and `sqlx`'s), so a larger chunk costs less a request;
/// what waits on the writer meanwhile is the other writes (a voucher kept, feedback), for a
/// few ms at most. Smaller in tests, so that tests of several chunks stay small.
pub(super) const JOURNALLED_SEAL_CHUNK: usize = if cfg!(test) { 2 * SEAL_CHUNK } else { 4096 };

// One statement moves a whole chunk: every seal names all its ids at once.
const _: () =
	assert!(SEAL_CHUNK <= IDS_PER_STATEMENT && JOURNALLED_SEAL_CHUNK <= IDS_PER_STATEMENT);

impl Store {
	/// Charged requests sealed in one transaction at most: [`JOURNALLED_SEAL_CHUNK`] with the
	/// charge journal, else [`SEAL_CHUNK`].
	pub(super) fn seal_chunk(&self) -> usize {
		if self.journal.is_some() {
			JOURNALLED_SEAL_CHUNK
		} else {
			SEAL_CHUNK
		}
	}

	/// Turns the charged requests not yet in the feed into feed records; returns the new
	/// records' (seq, user, cost).
	///
	/// The charges in `pending` first (all of them with PostgreSQL or a sync per commit; with
	/// the charge journal, those an earlier run left or a read moved there), in transactions of
	/// at most 256 requests each (4,096 with the journal): the writer serves the charges
	/// waiting in between, so that sealing a busy second's requests never holds them for
	/// longer than one chunk takes. On SQLite each chunk's requests are read beside the
	/// writer (a reader sees every committed charge, and only a seal, one at a time, takes them
	/// away), so the writer, and the charges waiting on it, is held only for the chunk's writes.
	///
	/// Then, with the journal, the charges waiting in it, straight into the feed by the writer
	/// (`journal::seal_journal`), 4,096 a transaction: a charge is written once into the
	/// database, into `requests` with its record's number, not into `pending`, read back,
	/// copied and deleted.
	pub async fn seal(&self) -> Result<Vec<(u64, AccountId32, u128)>, StoreError> {
		let _one_at_a_time = self.sealing.lock().await;
		let mut sealed = Vec::new();
		loop {
			let store = self.clone();
			// SQLite: read beside the writer; PostgreSQL: inside the transaction.
			let read = match &self.reader {
				Some(reader) => Some(reader.pending_groups(self.seal_chunk()).await?),
				None => None,
			};
			let (records, taken) =
				self.run(move |tx| Box::pin(async move { store.seal_in(tx, read).await })).await?;
			sealed.extend(records);
			if taken < self.seal_chunk() {
				break;
			}
		}
		let (Some(writer), Some(_)) = (&self.writer, &self.journal) else { return Ok(sealed) };
		let stopped = || StoreError::Protocol("the database writer stopped".into());
		loop {
			let chunk = self.seal_chunk();
			let (done, result) = oneshot::channel();
			writer.send(Job::Seal { chunk, done }).await.map_err(|_| stopped())?;
			let (records, taken) = result.await.map_err(|_| stopped())??;
			for (seq, user, cost) in records {
				sealed.push((seq, account(&user)?, cost));
			}
			if taken < chunk {
				return Ok(sealed);
			}
		}
	}

	/// Seals the first [`Store::seal_chunk`] charged requests at most (`read` when they were read
	/// before the transaction, on SQLite); returns the new records and how many requests were
	/// taken.
	pub(super) async fn seal_in(
		&self,
		tx: &mut AnyConnection,
		read: Option<PendingGroups>,
	) -> Result<(Vec<(u64, AccountId32, u128)>, usize), StoreError> {
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
		let (groups, taken) = match read {
			Some(read) => read,
			None => pending_groups(tx, self.seal_chunk()).await?,
		};
		let mut sealed = Vec::new();
		for (key, chunks) in groups {
			let voucher = kept_voucher(tx, &key).await?;
			for chunk in chunks {
				seq += 1;
				insert_record(tx, seq, &key, &chunk, &voucher).await?;
				// Moved by their ids (never a range: on PostgreSQL another instance may be
				// charging requests with numbers between them).
				for ids in chunk.ids.chunks(IDS_PER_STATEMENT) {
					move_requests(tx, seq, ids).await?;
				}
				sealed.push((seq as u64, account(&key.0)?, chunk.cost));
			}
		}
		sqlx::query("UPDATE meta SET value = $1 WHERE key = $2")
			.bind(seq)
			.bind(LAST_SEQ)
			.execute(&mut *tx)
			.await?;
		Ok((sealed, taken))
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

	pub(super) async fn skip_seq_in(
		tx: &mut AnyConnection,
		last_seq: u64,
	) -> Result<(), StoreError> {
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
		self.books.settled(&gone.1)?;
		Ok(gone.0)
	}

	pub(super) async fn attested_in(
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
		self.books.settle_in(tx, &per_user).await?;
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
}

/// A feed record's requests: (user, payer) as SS58 and the model.
type GroupKey = (String, String, i64);

/// Charged requests grouped for the feed ([`pending_groups`]), and how many were taken.
pub(super) type PendingGroups = (Vec<(GroupKey, Vec<Chunk>)>, usize);

/// Requests of one (user, payer, model) whose token sums fit a `u32`: one feed record.
#[derive(Debug, Default, PartialEq)]
pub(super) struct Chunk {
	ids: Vec<i64>,
	input: u64,
	output: u64,
	cost: u128,
	/// The earliest block its requests were served at.
	served_at: Option<i64>,
}

impl Chunk {
	fn fits(&self, input: u64, output: u64) -> bool {
		self.input + input <= u64::from(u32::MAX) && self.output + output <= u64::from(u32::MAX)
	}

	fn add(&mut self, id: i64, input: u64, output: u64, cost: u128, served_at: Option<i64>) {
		self.ids.push(id);
		self.input += input;
		self.output += output;
		self.cost = self.cost.saturating_add(cost);
		self.served_at = match (self.served_at, served_at) {
			(Some(a), Some(b)) => Some(a.min(b)),
			(a, b) => a.or(b),
		};
	}
}

/// A charged request as read for sealing.
pub(super) struct PendingRow<'a> {
	id: i64,
	user: &'a str,
	payer: &'a str,
	model: i64,
	input: u64,
	output: u64,
	cost: u128,
	served_at: Option<i64>,
}

/// Requests read in id order, grouped by (user, payer, model) in the order of each group's
/// first request, each group split into chunks that fit a record.
#[derive(Default)]
pub(super) struct Grouping {
	groups: Vec<(GroupKey, Vec<Chunk>)>,
	index: HashMap<GroupKey, usize>,
	taken: usize,
}

impl Grouping {
	/// Adds the next request.
	fn add(&mut self, row: PendingRow<'_>) {
		let cost = row.cost;
		self.taken += 1;
		// Most requests follow one of their own group: found without building its key.
		let same = |(user, payer, model): &GroupKey| {
			*user == row.user && *payer == row.payer && *model == row.model
		};
		let at = match self.groups.last() {
			Some((key, _)) if same(key) => self.groups.len() - 1,
			_ => {
				let key: GroupKey = (row.user.to_string(), row.payer.to_string(), row.model);
				let groups = &mut self.groups;
				*self.index.entry(key.clone()).or_insert_with(|| {
					groups.push((key, Vec::new()));
					groups.len() - 1
				})
			}
		};
		let Some((_, chunks)) = self.groups.get_mut(at) else { return };
		if !chunks.last().is_some_and(|c| c.fits(row.input, row.output)) {
			chunks.push(Chunk::default());
		}
		if let Some(chunk) = chunks.last_mut() {
			chunk.add(row.id, row.input, row.output, cost, row.served_at);
		}
	}

	fn done(self) -> PendingGroups {
		(self.groups, self.taken)
	}
}

/// The query of [`pending_groups`] and [`Reader::pending_groups`]: the first `chunk`.
fn pending_query(chunk: usize) -> String {
	format!(
		"SELECT id, \"user\", payer, model, input_tokens, output_tokens, cost, served_at
		 FROM pending ORDER BY id LIMIT {chunk}"
	)
}

/// The first `chunk` charged requests at most, grouped ([`Grouping`]); and how many requests
/// were taken.
pub(super) async fn pending_groups(
	tx: &mut AnyConnection,
	chunk: usize,
) -> Result<PendingGroups, StoreError> {
	let rows = sqlx::query(&pending_query(chunk)).fetch_all(&mut *tx).await?;
	let mut grouping = Grouping::default();
	for row in &rows {
		grouping.add(PendingRow {
			id: row.get("id"),
			user: row.get("user"),
			payer: row.get("payer"),
			model: row.get("model"),
			input: row.get::<i64, _>("input_tokens") as u64,
			output: row.get::<i64, _>("output_tokens") as u64,
			cost: amount(row.get("cost"))?,
			served_at: row.get("served_at"),
		});
	}
	Ok(grouping.done())
}

/// The embedded database read beside its writer, on a connection of its own (`rusqlite`,
/// opened when first used) on a blocking thread: what a seal takes, read without `sqlx`'s
/// conversion of every value on the server's worker threads.
pub(super) struct Reader {
	path: std::path::PathBuf,
	conn: Mutex<Option<rusqlite::Connection>>,
}

impl Reader {
	pub(super) fn new(path: std::path::PathBuf) -> Self {
		Reader { path, conn: Mutex::new(None) }
	}

	/// As [`pending_groups`], for the embedded database.
	pub(super) async fn pending_groups(
		self: &Arc<Self>,
		chunk: usize,
	) -> Result<PendingGroups, StoreError> {
		let reader = self.clone();
		tokio::task::spawn_blocking(move || reader.read_pending(chunk))
			.await
			.map_err(|e| StoreError::Protocol(format!("the database reader stopped: {e}")))?
	}

	fn read_pending(&self, chunk: usize) -> Result<PendingGroups, StoreError> {
		let error = |e: rusqlite::Error| StoreError::Protocol(format!("the database reader: {e}"));
		let mut slot = self.conn.lock().unwrap_or_else(|e| e.into_inner());
		let conn = match &mut *slot {
			Some(conn) => conn,
			empty => {
				let opened = rusqlite::Connection::open_with_flags(
					&self.path,
					rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY
						| rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
				)
				.map_err(error)?;
				opened.busy_timeout(Duration::from_secs(10)).map_err(error)?;
				empty.insert(opened)
			}
		};
		let mut statement = conn.prepare_cached(&pending_query(chunk)).map_err(error)?;
		let mut rows = statement.query([]).map_err(error)?;
		let mut grouping = Grouping::default();
		while let Some(row) = rows.next().map_err(error)? {
			let text = |i: usize| row.get_ref(i).and_then(|v| v.as_str().map_err(Into::into));
			grouping.add(PendingRow {
				id: row.get(0).map_err(error)?,
				user: text(1).map_err(error)?,
				payer: text(2).map_err(error)?,
				model: row.get(3).map_err(error)?,
				input: row.get::<_, i64>(4).map_err(error)? as u64,
				output: row.get::<_, i64>(5).map_err(error)? as u64,
				cost: amount(text(6).map_err(error)?)?,
				served_at: row.get(7).map_err(error)?,
			});
		}
		Ok(grouping.done())
	}
}

/// Seals `taken`, charges out of the charge journal in number order, on the SQLite writer's
/// own connection inside its transaction ([`journal::seal_journal`]): grouped as a seal of
/// `pending` groups them, a feed record written for each chunk with the voucher kept for its
/// (user, payer), and each request written into `requests` with its record's number. Returns
/// the new records (seq, user as SS58, cost).
pub(super) fn seal_taken(
	conn: &rusqlite::Connection,
	statements: &mut InsertStatements,
	taken: &[(u64, RequestRow)],
) -> Result<Vec<(u64, String, u128)>, StoreError> {
	if taken.is_empty() {
		return Ok(Vec::new());
	}
	let mut grouping = Grouping::default();
	for (i, (_, row)) in taken.iter().enumerate() {
		grouping.add(PendingRow {
			id: i as i64,
			user: &row.user,
			payer: &row.payer,
			model: i64::from(row.model),
			input: u64::from(row.input_tokens),
			output: u64::from(row.output_tokens),
			cost: row.cost,
			served_at: Some(row.served_at),
		});
	}
	let (groups, _) = grouping.done();
	conn.execute(
		"INSERT INTO meta (key, value) VALUES (?1, 0) ON CONFLICT (key) DO NOTHING",
		[LAST_SEQ],
	)
	.map_err(sqlite_error)?;
	let mut seq: i64 = conn
		.query_row("SELECT value FROM meta WHERE key = ?1", [LAST_SEQ], |row| row.get(0))
		.map_err(sqlite_error)?;
	let mut sealed = Vec::new();
	for ((user, payer, model), chunks) in groups {
		let voucher = conn
			.prepare_cached(
				"SELECT cap, expiry, signature, session FROM vouchers
				 WHERE \"user\" = ?1 AND payer = ?2",
			)
			.and_then(|mut kept| {
				kept.query_row([&user, &payer], |row| {
					Ok((
						row.get::<_, String>(0)?,
						row.get::<_, i64>(1)?,
						row.get::<_, String>(2)?,
						row.get::<_, Option<String>>(3)?,
					))
				})
			});
		let (cap, expiry, signature, session) = match voucher {
			Ok(voucher) => voucher,
			Err(rusqlite::Error::QueryReturnedNoRows) => {
				return Err(StoreError::Protocol(format!("no voucher kept for {user}")))
			}
			Err(e) => return Err(sqlite_error(e)),
		};
		for chunk in chunks {
			seq += 1;
			conn.prepare_cached(
				"INSERT INTO feed (seq, \"user\", payer, model, input_tokens, output_tokens, cost,
				 cap, expiry, signature, session, served_at)
				 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
			)
			.and_then(|mut insert| {
				insert.execute(rusqlite::params![
					seq,
					user,
					payer,
					model,
					chunk.input as i64,
					chunk.output as i64,
					chunk.cost.to_string(),
					cap,
					expiry,
					signature,
					session,
					chunk.served_at,
				])
			})
			.map_err(sqlite_error)?;
			let rows: Vec<&RequestRow> =
				chunk.ids.iter().filter_map(|&i| taken.get(i as usize)).map(|(_, r)| r).collect();
			for part in rows.chunks(ROWS_PER_INSERT) {
				insert_sealed(conn, statements, part, seq).map_err(sqlite_error)?;
				// A seal of a busy second runs for milliseconds, on cores the workers share: it
				// gives way between statements, so that a worker it displaced goes on within
				// one statement's time rather than after the scheduler's slice (a few ms).
				std::thread::yield_now();
			}
			sealed.push((seq as u64, user.clone(), chunk.cost));
		}
	}
	conn.execute("UPDATE meta SET value = ?1 WHERE key = ?2", (seq, LAST_SEQ))
		.map_err(sqlite_error)?;
	Ok(sealed)
}

/// The voucher kept for (user, payer): cap, expiry, signature and session.
async fn kept_voucher(
	tx: &mut AnyConnection,
	(user, payer, _): &GroupKey,
) -> Result<sqlx::any::AnyRow, StoreError> {
	sqlx::query(
		"SELECT cap, expiry, signature, session FROM vouchers WHERE \"user\" = $1 AND payer = $2",
	)
	.bind(user)
	.bind(payer)
	.fetch_optional(&mut *tx)
	.await?
	.ok_or_else(|| StoreError::Protocol(format!("no voucher kept for {user}")))
}

/// Writes feed record `seq` of `chunk`, with `voucher`.
async fn insert_record(
	tx: &mut AnyConnection,
	seq: i64,
	(user, payer, model): &GroupKey,
	chunk: &Chunk,
	voucher: &sqlx::any::AnyRow,
) -> Result<(), StoreError> {
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
	.await
	.map(drop)
}

/// Moves the charged requests `ids` (ascending) from `pending` to `requests`, as part of record
/// `seq`. Consecutive ids (the usual case: one user's requests, or one writer's) are named as
/// a range, which no other request can be inside; any others one by one (never a range: on
/// PostgreSQL another instance may be charging requests with numbers between them).
async fn move_requests(tx: &mut AnyConnection, seq: i64, ids: &[i64]) -> Result<(), StoreError> {
	let (Some(&first), Some(&last)) = (ids.first(), ids.last()) else { return Ok(()) };
	let consecutive = last - first + 1 == ids.len() as i64;
	let selected = |from: usize| -> String {
		if consecutive {
			format!("id BETWEEN ${from} AND ${}", from + 1)
		} else {
			format!("id IN ({})", placeholders(from, ids.len()))
		}
	};
	let move_sql = format!(
		"INSERT INTO requests (\"user\", payer, model, input_tokens, output_tokens, cost, feed_seq,
		 created_at, served_at)
		 SELECT \"user\", payer, model, input_tokens, output_tokens, cost, $1, created_at,
		 served_at FROM pending WHERE {} ORDER BY id",
		selected(2)
	);
	let delete_sql = format!("DELETE FROM pending WHERE {}", selected(1));
	let mut moved = sqlx::query(&move_sql).bind(seq);
	let mut gone = sqlx::query(&delete_sql);
	let named = if consecutive { &[first, last][..] } else { ids };
	for id in named {
		moved = moved.bind(*id);
		gone = gone.bind(*id);
	}
	moved.execute(&mut *tx).await?;
	let deleted = gone.execute(&mut *tx).await?.rows_affected();
	if deleted != ids.len() as u64 {
		// Read before another seal took them (`seal` runs one at a time, so only a stale
		// read gets here): the savepoint is undone.
		return Err(StoreError::Protocol(format!(
			"sealing: {deleted} of {} charged requests were still waiting",
			ids.len()
		)));
	}
	Ok(())
}
