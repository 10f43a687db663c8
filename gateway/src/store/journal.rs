//! The charge journal of the embedded database (with [`Sync::Normal`]): a charged request is
//! made durable by appending one line to a file, on the thread that serves the request, before
//! its answer is sent. The charges wait in memory (and in the file) for the next seal, which
//! the writer makes of them straight ([`seal_journal`]: feed records, and each request written
//! once, into `requests`); the writer moves them into `pending` instead when a read of
//! `pending` asks for it, or when more than [`MOVE_AT`] pile up between seals.
//!
//! A line written is in the operating system's hands, as a commit of SQLite's `NORMAL` mode is:
//! it survives a crash of the gateway, not of the machine. What the journal saves is the
//! commit per answer (SQLite writes a page of log, takes and drops its locks, and the answer
//! waited for the writer's thread to do it and wake it): one `write` of about 150 bytes
//! instead, and one transaction per seal for thousands of charges.
//!
//! Each line is numbered. A seal's or a move's transaction records the last number it took
//! (`meta`, [`JOURNAL_THROUGH`]), and skips what is at or below it, so a line is sealed or
//! moved once whatever stops when: at start, lines above it are moved before anything else
//! reads the database. A line carries a checksum of itself; a line cut short (a power cut in
//! the middle of a write) or damaged is skipped.
//!
//! Requests charged in the same turn of a thread are written by one write: the first opens a
//! batch, lets the thread run what else is ready (whose charges join it), and writes them all
//! ([`Journal::record`]); at 8 connections on 2 threads, two charges a write on average, each
//! write ~1.5 µs of the kernel's. Batches of different threads write at once: a batch's numbers
//! and its place in the file are taken under the journal's lock, and its lines are written at
//! their place after the lock is let go (a positional write), so that one write never holds
//! another's. A seal or a move takes the charges in number order up to the first whose line is
//! still being written. A write that fails leaves its place unwritten or cut short, and the
//! lines around it whole: a place never written reads as zero bytes, which separate lines as a
//! newline does, so the line after it is read whole, and the cut line is skipped.
//!
//! Files are `<database>-charges.<n>`; once one exceeds [`ROTATE_AT`] the next move starts the
//! next, and a file is deleted once every line in it has been moved.

use std::{
	fs::{File, OpenOptions},
	os::unix::fs::FileExt as _,
	path::PathBuf,
};

use super::*;

/// The `meta` key of the last journal line sealed or moved into `pending`.
pub(super) const JOURNAL_THROUGH: &str = "journal_through";

/// How often the journal is looked at for charges piling up ([`MOVE_AT`]).
pub(super) const MOVE_EVERY: Duration = Duration::from_millis(100);

/// Charges waiting in the journal past which they are moved into `pending` rather than left
/// for the next seal (seals far apart, `--seal-every-ms`, at a high rate): memory stays
/// bounded (about 100 bytes a charge). Smaller in tests, which check both ways.
pub(super) const MOVE_AT: usize = if cfg!(test) { 1024 } else { 1 << 16 };

/// Charges waiting to be moved at most (about 100 MiB of memory): past it the database has
/// not taken them for a long while, and further charges are refused until it does.
const MAX_WAITING: usize = 1 << 20;

/// Bytes after which a journal file is followed by the next (at the next move).
const ROTATE_AT: u64 = if cfg!(test) { 4096 } else { 4 << 20 };

/// Fields of a line: number, user, payer, model, input and output tokens, cost, created and
/// served at, checksum.
const FIELDS: usize = 10;

/// The journal.
pub(super) struct Journal {
	/// The directory of the database.
	dir: PathBuf,
	/// `<database file name>-charges.`
	prefix: String,
	/// Charges waiting to be moved at most.
	max_waiting: usize,
	inner: Mutex<Inner>,
	/// The batch being gathered on each lane, if one is.
	lanes: [Mutex<Option<Batch>>; LANES],
	/// Writes made (each of a batch of lines).
	writes: std::sync::atomic::AtomicU64,
}

/// Lanes of charges written together: a thread records on its own lane (threads share one
/// past this many), so that a batch gathers the charges of the requests its thread serves.
const LANES: usize = 8;

/// The lane of the current thread.
fn lane() -> usize {
	static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
	thread_local! {
		static LANE: usize = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed) % LANES;
	}
	LANE.with(|lane| *lane)
}

/// Charges gathered to be written together, and where to say each of them was written (the
/// first's is its own).
struct Batch {
	rows: Vec<RequestRow>,
	waiting: Vec<oneshot::Sender<Result<(), String>>>,
}

/// The write of a lane's batch, by the charge that opened it: when it is done, or dropped.
struct Flush<'a> {
	journal: &'a Journal,
	lane: &'a Mutex<Option<Batch>>,
	done: bool,
}

impl Flush<'_> {
	/// Closes the batch, writes it, and answers its other charges.
	fn write(mut self) -> Result<(), StoreError> {
		self.write_now()
	}

	fn write_now(&mut self) -> Result<(), StoreError> {
		self.done = true;
		let taken = self.lane.lock().unwrap_or_else(|e| e.into_inner()).take();
		let Some(Batch { rows, waiting }) = taken else { return Ok(()) };
		let result = self.journal.write(rows);
		let told = result.as_ref().map(drop).map_err(ToString::to_string);
		for done in waiting {
			let _ = done.send(told.clone());
		}
		result
	}
}

impl Drop for Flush<'_> {
	fn drop(&mut self) {
		if !self.done {
			if let Err(e) = self.write_now() {
				tracing::warn!("{e}");
			}
		}
	}
}

struct Inner {
	file: Arc<File>,
	/// Its number (in its name).
	generation: u64,
	/// Its length, with the places taken by lines being written.
	len: u64,
	/// The number of the next line.
	next: u64,
	/// Charges written and not yet moved, in order, with their numbers; and those being
	/// written among them (`None` until their line is).
	waiting: Vec<(u64, Option<RequestRow>)>,
	/// Files written to before the current one, with the last number in each, deleted once
	/// that number is moved.
	retired: Vec<(PathBuf, u64)>,
	/// Why the journal refuses charges, if it does.
	broken: Option<String>,
}

fn io_error(what: &str, e: std::io::Error) -> StoreError {
	StoreError::Protocol(format!("the charge journal: {what}: {e}"))
}

/// The line of charge `n` (with its newline).
pub(super) fn encode(line: &mut String, n: u64, row: &RequestRow) {
	line.clear();
	let mut number = itoa::Buffer::new();
	line.push_str(number.format(n));
	for text in [&*row.user, &*row.payer] {
		line.push(' ');
		line.push_str(text);
	}
	for value in [row.model, row.input_tokens, row.output_tokens] {
		line.push(' ');
		line.push_str(number.format(value));
	}
	line.push(' ');
	line.push_str(number.format(row.cost));
	for value in [row.created_at, row.served_at] {
		line.push(' ');
		line.push_str(number.format(value));
	}
	let check = u64::from_le_bytes(sp_crypto_hashing::twox_64(line.as_bytes()));
	line.push(' ');
	crate::payment::push_hex(line, &check.to_be_bytes());
	line.push('\n');
}

/// The charge of a line (without its newline), if it is whole.
fn decode(line: &str) -> Option<(u64, RequestRow)> {
	let (body, check) = line.rsplit_once(' ')?;
	let expected = u64::from_le_bytes(sp_crypto_hashing::twox_64(body.as_bytes()));
	if u64::from_str_radix(check, 16).ok()? != expected {
		return None;
	}
	let fields: Vec<&str> = body.split(' ').collect();
	if fields.len() != FIELDS - 1 || fields[1].is_empty() || fields[2].is_empty() {
		return None;
	}
	let row = RequestRow {
		user: fields[1].into(),
		payer: fields[2].into(),
		model: fields[3].parse().ok()?,
		input_tokens: fields[4].parse().ok()?,
		output_tokens: fields[5].parse().ok()?,
		cost: fields[6].parse().ok()?,
		created_at: fields[7].parse().ok()?,
		served_at: fields[8].parse().ok()?,
	};
	Some((fields[0].parse().ok()?, row))
}

/// The charges of a journal file's text above `through`, and the highest number in it. A last
/// line without its newline was cut short and is not read; zero bytes (a place whose write
/// failed) separate lines as newlines do.
fn read_lines(text: &str, through: u64, into: &mut Vec<(u64, RequestRow)>) -> (u64, usize) {
	let (mut highest, mut skipped) = (0, 0);
	let whole = text.rfind('\n').map_or("", |end| &text[..end]);
	for line in whole.split(['\n', '\0']).filter(|l| !l.is_empty()) {
		match decode(line) {
			Some((n, row)) => {
				highest = highest.max(n);
				if n > through {
					into.push((n, row));
				}
			}
			None => skipped += 1,
		}
	}
	(highest, skipped)
}

impl Journal {
	/// Opens the journal of the database at `path`, of which every line up to `through` is
	/// moved: the lines above it wait to be moved (the first move takes them), and a new file
	/// is started.
	pub(super) fn open(path: &Path, through: u64) -> Result<Self, StoreError> {
		let dir = path.parent().map_or_else(|| PathBuf::from("."), Path::to_path_buf);
		let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
		let prefix = format!("{name}-charges.");
		let mut files = Vec::new();
		for entry in std::fs::read_dir(&dir).map_err(|e| io_error("listing", e))? {
			let entry = entry.map_err(|e| io_error("listing", e))?;
			let file_name = entry.file_name();
			let Some(generation) = file_name
				.to_str()
				.and_then(|n| n.strip_prefix(&prefix))
				.and_then(|g| g.parse::<u64>().ok())
			else {
				continue;
			};
			files.push((generation, entry.path()));
		}
		files.sort();
		let (mut waiting, mut retired, mut highest) = (Vec::new(), Vec::new(), through);
		for (_, file) in &files {
			let bytes = std::fs::read(file).map_err(|e| io_error("reading", e))?;
			let (last, skipped) =
				read_lines(&String::from_utf8_lossy(&bytes), through, &mut waiting);
			if skipped > 0 {
				tracing::warn!("the charge journal {}: {skipped} damaged lines", file.display());
			}
			highest = highest.max(last);
			retired.push((file.clone(), last));
		}
		// In number order (files are, unless one was damaged), each once.
		waiting.sort_by_key(|(n, _)| *n);
		waiting.dedup_by_key(|(n, _)| *n);
		if !waiting.is_empty() {
			tracing::info!(
				"the charge journal: {} charges of an earlier run to move into the database",
				waiting.len()
			);
		}
		let generation = files.last().map_or(0, |(g, _)| g + 1);
		let (file, len) = create(&dir.join(format!("{prefix}{generation}")))?;
		let inner = Inner {
			file: Arc::new(file),
			generation,
			len,
			next: highest + 1,
			waiting: waiting.into_iter().map(|(n, row)| (n, Some(row))).collect(),
			retired,
			broken: None,
		};
		Ok(Journal {
			dir,
			prefix,
			max_waiting: MAX_WAITING,
			inner: Mutex::new(inner),
			lanes: Default::default(),
			writes: Default::default(),
		})
	}

	fn inner(&self) -> std::sync::MutexGuard<'_, Inner> {
		self.inner.lock().unwrap_or_else(|e| e.into_inner())
	}

	fn path(&self, generation: u64) -> PathBuf {
		self.dir.join(format!("{}{generation}", self.prefix))
	}

	/// Writes a charged request; it is durable when this returns (as a commit of SQLite's
	/// `NORMAL` mode is). On an error nothing is written (or only a part of a line, which is
	/// never read).
	///
	/// Charges recorded at once on one thread are written together, by one write: the first
	/// opens a batch of its thread's [lane](LANES), lets the thread serve the other requests
	/// ready beside it (whose charges join the batch), then writes the batch and answers the
	/// others. A request's answer waits for its line as before, and never for a later request
	/// (the batch closes once the thread has run what was ready).
	pub(super) async fn record(&self, row: RequestRow) -> Result<(), StoreError> {
		let lane = &self.lanes[lane()];
		let joined = {
			let mut open = lane.lock().unwrap_or_else(|e| e.into_inner());
			match &mut *open {
				Some(batch) => {
					let (done, written) = oneshot::channel();
					batch.rows.push(row);
					batch.waiting.push(done);
					Some(written)
				}
				None => {
					*open = Some(Batch { rows: vec![row], waiting: Vec::new() });
					None
				}
			}
		};
		if let Some(written) = joined {
			return match written.await {
				Ok(result) => result.map_err(StoreError::Protocol),
				Err(_) => Err(StoreError::Protocol("the charge journal's batch was lost".into())),
			};
		}
		// Written when dropped too (a request dropped meanwhile): the batch's charges are
		// counted in the books, and the others wait for it.
		let batch = Flush { journal: self, lane, done: false };
		tokio::task::yield_now().await;
		batch.write()
	}

	/// Writes charged requests with one positional write (see [`Journal::record`]).
	pub(super) fn write(&self, rows: Vec<RequestRow>) -> Result<(), StoreError> {
		let count = rows.len();
		let mut lines = String::with_capacity(192 * count);
		let (first, at, file) = {
			let mut inner = self.inner();
			if let Some(why) = &inner.broken {
				return Err(StoreError::Protocol(format!("the charge journal: {why}")));
			}
			if inner.waiting.len() + count > self.max_waiting {
				return Err(StoreError::Protocol(format!(
					"the charge journal: {} charges wait for the database to take them",
					inner.waiting.len()
				)));
			}
			let first = inner.next;
			let mut line = String::with_capacity(192);
			for (n, row) in (first..).zip(&rows) {
				encode(&mut line, n, row);
				lines.push_str(&line);
			}
			let at = inner.len;
			inner.len += lines.len() as u64;
			inner.next += count as u64;
			inner.waiting.extend((first..first + count as u64).map(|n| (n, None)));
			(first, at, inner.file.clone())
		};
		let written = file.write_all_at(lines.as_bytes(), at);
		self.writes.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
		let mut inner = self.inner();
		let place = inner.waiting.binary_search_by_key(&first, |(m, _)| *m);
		match (written, place) {
			(Ok(()), Ok(i)) => {
				for (slot, row) in inner.waiting[i..i + count].iter_mut().zip(rows) {
					slot.1 = Some(row);
				}
				Ok(())
			}
			(Err(e), Ok(i)) => {
				inner.waiting.drain(i..i + count);
				Err(io_error("writing", e))
			}
			// Never: a move takes no charge whose line is being written.
			(_, Err(_)) => Err(StoreError::Protocol("the charge journal lost a line".into())),
		}
	}

	/// Writes one charged request at once.
	#[cfg(test)]
	pub(super) fn append(&self, row: RequestRow) -> Result<(), StoreError> {
		self.write(vec![row])
	}

	/// Makes it refuse every later charge, as a write that could not be cut off does.
	#[cfg(test)]
	pub(super) fn refuse(&self, why: &str) {
		self.inner().broken = Some(why.into());
	}

	/// How many charges wait to be moved or sealed.
	pub(super) fn waiting(&self) -> usize {
		self.inner().waiting.len()
	}

	/// Takes the charges waiting (at most `limit`), in number order up to the first whose line
	/// is still being written (and starts the next file if this one is long).
	fn take(&self, limit: usize) -> Vec<(u64, RequestRow)> {
		let mut inner = self.inner();
		if inner.len >= ROTATE_AT && inner.broken.is_none() {
			let generation = inner.generation + 1;
			match create(&self.path(generation)) {
				Ok((file, len)) => {
					// Lines being written finish in the old file (their writers hold it).
					let last = inner.next - 1;
					inner.file = Arc::new(file);
					let old_path = self.path(inner.generation);
					inner.retired.push((old_path, last));
					(inner.generation, inner.len) = (generation, len);
				}
				Err(e) => tracing::warn!("{e}; the journal goes on in the same file"),
			}
		}
		let written = inner.waiting.iter().take(limit).take_while(|(_, row)| row.is_some()).count();
		inner.waiting.drain(..written).filter_map(|(n, row)| row.map(|row| (n, row))).collect()
	}

	/// Gives back charges taken whose move failed (the next move takes them again).
	fn untake(&self, taken: Vec<(u64, RequestRow)>) {
		let mut inner = self.inner();
		let rest = std::mem::take(&mut inner.waiting);
		inner.waiting = taken.into_iter().map(|(n, row)| (n, Some(row))).chain(rest).collect();
	}

	/// Every line up to `through` is moved: deletes the files holding only such lines.
	fn moved(&self, through: u64) {
		let mut inner = self.inner();
		inner.retired.retain(|(file, last)| {
			if *last > through {
				return true;
			}
			match std::fs::remove_file(file) {
				Ok(()) => false,
				Err(e) if e.kind() == std::io::ErrorKind::NotFound => false,
				Err(e) => {
					tracing::warn!("the charge journal {}: {e}", file.display());
					true
				}
			}
		});
	}
}

/// Creates (or opens) a journal file, to write lines at their places in, and its length. Not
/// opened to append: a positional write to such a file goes to its end instead (on Linux).
fn create(path: &Path) -> Result<(File, u64), StoreError> {
	let file = OpenOptions::new()
		.create(true)
		.truncate(false)
		.write(true)
		.open(path)
		.map_err(|e| io_error("creating", e))?;
	let len = file.metadata().map_err(|e| io_error("creating", e))?.len();
	Ok((file, len))
}

/// The last journal line moved or sealed, as recorded (0 if none).
fn through(conn: &rusqlite::Connection) -> rusqlite::Result<i64> {
	conn.query_row("SELECT value FROM meta WHERE key = ?1", [JOURNAL_THROUGH], |r| r.get(0))
		.or_else(|e| match e {
			rusqlite::Error::QueryReturnedNoRows => Ok(0),
			e => Err(e),
		})
}

/// Records `through` as the last journal line moved or sealed (never lowering it).
fn set_through(conn: &rusqlite::Connection, through: u64) -> rusqlite::Result<()> {
	conn.execute(
		"INSERT INTO meta (key, value) VALUES (?1, ?2) ON CONFLICT (key)
		 DO UPDATE SET value = excluded.value WHERE excluded.value > meta.value",
		(JOURNAL_THROUGH, through as i64),
	)
	.map(drop)
}

/// Moves the journal's waiting charges into `pending` on `conn`, in one transaction that
/// records the last number moved; lines at or below the number already recorded (moved by a
/// run before this one) are not moved again. On an error nothing is moved and the charges
/// wait for the next move.
pub(super) fn move_journal(
	conn: &rusqlite::Connection,
	statements: &mut InsertStatements,
	journal: &Journal,
) -> Result<(), StoreError> {
	let taken = journal.take(usize::MAX);
	let Some(&(last, _)) = taken.last() else { return Ok(()) };
	let moved = (|| {
		conn.execute_batch("BEGIN IMMEDIATE")?;
		let before = through(conn)?;
		let rows: Vec<&RequestRow> =
			taken.iter().filter(|(n, _)| *n as i64 > before).map(|(_, row)| row).collect();
		for chunk in rows.chunks(ROWS_PER_INSERT) {
			insert_chunk(conn, statements, chunk)?;
		}
		set_through(conn, last)?;
		conn.execute_batch("COMMIT")
	})();
	match moved {
		Ok(()) => {
			journal.moved(last);
			Ok(())
		}
		Err(e) => {
			let _ = conn.execute_batch("ROLLBACK");
			journal.untake(taken);
			Err(sqlite_error(e))
		}
	}
}

/// Seals the journal's waiting charges, at most `chunk`, on `conn`, in one transaction: feed
/// records made of them and the requests written into `requests` with their record's number
/// ([`feed::seal_taken`]) — never through `pending` — and the last number sealed recorded, as a
/// move records it (lines at or below the number recorded are not sealed again). On an error
/// nothing is sealed and the charges wait for the next seal. Returns the new records and how
/// many charges were taken.
pub(super) fn seal_journal(
	conn: &rusqlite::Connection,
	statements: &mut InsertStatements,
	journal: &Journal,
	chunk: usize,
) -> Result<JournalSeal, StoreError> {
	let taken = journal.take(chunk);
	let Some(&(last, _)) = taken.last() else { return Ok((Vec::new(), 0)) };
	let sealed = (|| {
		conn.execute_batch("BEGIN IMMEDIATE").map_err(sqlite_error)?;
		let before = through(conn).map_err(sqlite_error)?;
		let fresh = taken.partition_point(|(n, _)| *n as i64 <= before);
		let records = feed::seal_taken(conn, statements, &taken[fresh..])?;
		set_through(conn, last).map_err(sqlite_error)?;
		conn.execute_batch("COMMIT").map_err(sqlite_error)?;
		Ok(records)
	})();
	match sealed {
		Ok(records) => {
			journal.moved(last);
			Ok((records, taken.len()))
		}
		Err(e) => {
			let _ = conn.execute_batch("ROLLBACK");
			journal.untake(taken);
			Err(e)
		}
	}
}

/// Asks the writer to move the journal into `pending` when more than [`MOVE_AT`] charges wait
/// in it (looked at every [`MOVE_EVERY`]), until the writer is gone.
pub(super) async fn moves(writer: mpsc::WeakSender<Job>, journal: Arc<Journal>) {
	let mut every = tokio::time::interval(MOVE_EVERY);
	every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
	loop {
		every.tick().await;
		let Some(writer) = writer.upgrade() else { return };
		if journal.waiting() > MOVE_AT {
			// A move already waiting does it; never waits.
			let _ = writer.try_send(Job::Move { done: None });
		}
	}
}

#[cfg(test)]
#[path = "journal_tests.rs"]
mod tests;
