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
mod tests {
	use super::*;

	fn row(i: u32) -> RequestRow {
		RequestRow {
			user: "5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY".into(),
			payer: "5FHneW46xGXgs5mUiveU4sbTyGBzmstUspZC92UhjJM694ty".into(),
			model: i,
			input_tokens: 10 + i,
			output_tokens: 20 + i,
			cost: u128::MAX - u128::from(i),
			created_at: 1_700_000_000_000 + i64::from(i),
			served_at: 7,
		}
	}

	fn same(a: &RequestRow, b: &RequestRow) -> bool {
		(a.user == b.user && a.payer == b.payer && a.model == b.model)
			&& (a.input_tokens, a.output_tokens, a.cost)
				== (b.input_tokens, b.output_tokens, b.cost)
			&& (a.created_at, a.served_at) == (b.created_at, b.served_at)
	}

	#[test]
	fn a_line_reads_back_as_written_and_a_damaged_one_not_at_all() {
		let mut line = String::new();
		encode(&mut line, 42, &row(3));
		assert!(line.ends_with('\n') && line.len() < 200, "{line}");
		// As `fmt` writes it (the lines of earlier versions read the same).
		let r = row(3);
		let body = format!(
			"42 {} {} {} {} {} {} {} {}",
			r.user, r.payer, r.model, r.input_tokens, r.output_tokens, r.cost, r.created_at, -5
		);
		let mut negative = row(3);
		negative.served_at = -5;
		encode(&mut line, 42, &negative);
		let check = u64::from_le_bytes(sp_crypto_hashing::twox_64(body.as_bytes()));
		assert_eq!(line, format!("{body} {check:016x}\n"));
		encode(&mut line, 42, &row(3));
		let (n, back) = decode(line.trim_end()).unwrap();
		assert!(n == 42 && same(&back, &row(3)));
		// Any byte changed, or the line cut short: not read.
		for at in 0..line.len() - 1 {
			let mut bytes = line.trim_end().as_bytes().to_vec();
			if at >= bytes.len() {
				break;
			}
			bytes[at] = if bytes[at] == b'1' { b'2' } else { b'1' };
			assert!(decode(&String::from_utf8_lossy(&bytes)).is_none(), "changed at {at}");
			assert!(decode(&line[..at]).is_none(), "cut at {at}");
		}
	}

	#[test]
	fn lines_above_the_mark_are_read_and_a_cut_last_line_is_not() {
		let mut text = String::new();
		let mut line = String::new();
		for n in 1..=5 {
			encode(&mut line, n, &row(n as u32));
			text.push_str(&line);
		}
		// A damaged line between whole ones, and a last line cut short.
		text.push_str("6 garbage\n");
		encode(&mut line, 7, &row(7));
		text.push_str(&line[..line.len() - 5]);
		let mut read = Vec::new();
		let (highest, skipped) = read_lines(&text, 2, &mut read);
		assert_eq!((highest, skipped), (5, 1));
		assert_eq!(read.iter().map(|(n, _)| *n).collect::<Vec<_>>(), vec![3, 4, 5]);
		assert!(read.iter().all(|(n, r)| same(r, &row(*n as u32))));
	}

	#[test]
	fn a_failed_write_keeps_nothing_and_the_lines_after_it_are_read() {
		let dir = tempfile::tempdir().unwrap();
		let journal = Journal::open(&dir.path().join("usage.db"), 0).unwrap();
		journal.append(row(1)).unwrap();
		// The file swapped for one opened read-only: the write fails, nothing is kept.
		let writable = journal.inner().file.clone();
		journal.inner().file = Arc::new(File::open(journal.path(0)).unwrap());
		assert!(journal.append(row(2)).is_err());
		journal.inner().file = writable;
		journal.append(row(3)).unwrap();
		let taken: Vec<u64> = journal.take(usize::MAX).iter().map(|(n, _)| *n).collect();
		assert_eq!(taken, vec![1, 3]);
		// The place of line 2 was never written: it reads as zero bytes between lines 1 and 3,
		// which are read whole (after a restart).
		let bytes = std::fs::read(journal.path(0)).unwrap();
		assert!(bytes.contains(&0));
		let mut read = Vec::new();
		assert_eq!(read_lines(&String::from_utf8_lossy(&bytes), 0, &mut read), (3, 0));
		assert_eq!(read.iter().map(|(n, _)| *n).collect::<Vec<_>>(), vec![1, 3]);
		// A line cut short in the middle of the file (a part written, the rest never) is
		// skipped and the next read whole.
		let mut line = String::new();
		encode(&mut line, 4, &row(4));
		let mut text = String::from_utf8_lossy(&bytes).into_owned();
		text.push_str(&line[..40]);
		text.push_str(&"\0".repeat(line.len() - 40));
		encode(&mut line, 5, &row(5));
		text.push_str(&line);
		let mut read = Vec::new();
		assert_eq!(read_lines(&text, 0, &mut read), (5, 1));
		assert_eq!(read.iter().map(|(n, _)| *n).collect::<Vec<_>>(), vec![1, 3, 5]);
		// A journal refusing charges writes none.
		journal.refuse("the disk is full");
		assert!(journal.append(row(6)).is_err());
		assert!(journal.take(usize::MAX).is_empty());
	}

	#[test]
	fn lines_written_at_once_are_all_read_and_taken_in_order() {
		let dir = tempfile::tempdir().unwrap();
		let journal = Arc::new(Journal::open(&dir.path().join("usage.db"), 0).unwrap());
		let mut taken = Vec::new();
		std::thread::scope(|scope| {
			for t in 0..4u32 {
				let journal = journal.clone();
				scope.spawn(move || {
					for i in 0..500 {
						journal.append(row(t * 1000 + i)).unwrap();
					}
				});
			}
			// Moves beside the writers: each takes a prefix in number order.
			for _ in 0..50 {
				taken.extend(journal.take(usize::MAX));
				std::thread::yield_now();
			}
		});
		taken.extend(journal.take(usize::MAX));
		let numbers: Vec<u64> = taken.iter().map(|(n, _)| *n).collect();
		assert_eq!(numbers, (1..=2000).collect::<Vec<_>>());
		// Every line whole in the file (the first file, or the next ones after a rotation).
		let mut read = Vec::new();
		for generation in 0..=journal.inner().generation {
			let text = std::fs::read_to_string(journal.path(generation)).unwrap();
			assert_eq!(read_lines(&text, 0, &mut read).1, 0, "no damaged line");
		}
		read.sort_by_key(|(n, _)| *n);
		assert_eq!(read.len(), 2000);
		for ((n, back), (m, row)) in read.iter().zip(&taken) {
			assert!(n == m && same(back, row));
		}
	}

	#[test]
	fn charges_are_refused_while_too_many_wait_to_be_moved() {
		let dir = tempfile::tempdir().unwrap();
		let mut journal = Journal::open(&dir.path().join("usage.db"), 0).unwrap();
		journal.max_waiting = 3;
		for i in 1..=3 {
			journal.append(row(i)).unwrap();
		}
		let refused = journal.append(row(4)).unwrap_err().to_string();
		assert!(refused.contains("3 charges wait"), "{refused}");
		let text = std::fs::read_to_string(journal.path(0)).unwrap();
		assert_eq!(text.lines().count(), 3, "the refused charge is not written");
		// Once they are taken (and moved), charges are written again.
		assert_eq!(journal.take(usize::MAX).len(), 3);
		journal.append(row(4)).unwrap();
	}

	#[test]
	fn full_files_are_followed_and_deleted_once_moved() {
		let dir = tempfile::tempdir().unwrap();
		let journal = Journal::open(&dir.path().join("usage.db"), 0).unwrap();
		let mut n = 0;
		while journal.inner().len < ROTATE_AT {
			n += 1;
			journal.append(row(n)).unwrap();
		}
		let taken = journal.take(usize::MAX);
		assert_eq!(taken.len(), n as usize);
		journal.append(row(n + 1)).unwrap();
		assert!(journal.path(0).exists() && journal.path(1).exists());
		// Not yet moved through the first file's last line: kept.
		journal.moved(u64::from(n) - 1);
		assert!(journal.path(0).exists());
		journal.moved(u64::from(n));
		assert!(!journal.path(0).exists() && journal.path(1).exists());
		// Opened again (a restart): the second file's line waits; numbering goes on after it.
		drop(journal);
		let journal = Journal::open(&dir.path().join("usage.db"), u64::from(n)).unwrap();
		let waiting: Vec<u64> = journal.take(usize::MAX).iter().map(|(n, _)| *n).collect();
		assert_eq!(waiting, vec![u64::from(n) + 1]);
		assert_eq!(journal.inner().next, u64::from(n) + 2);
		assert!(journal.path(2).exists());
	}
	/// The numbers of the lines in the journal's first file.
	fn numbers_in_file(journal: &Journal) -> Vec<u64> {
		let text = std::fs::read_to_string(journal.path(0)).unwrap();
		let mut read = Vec::new();
		read_lines(&text, 0, &mut read);
		read.iter().map(|(n, _)| *n).collect()
	}

	fn writes(journal: &Journal) -> u64 {
		journal.writes.load(std::sync::atomic::Ordering::Relaxed)
	}

	#[tokio::test(flavor = "current_thread")]
	async fn charges_recorded_at_once_on_a_thread_are_written_together() {
		let dir = tempfile::tempdir().unwrap();
		let journal = Arc::new(Journal::open(&dir.path().join("usage.db"), 0).unwrap());
		// Five requests charged in the same turn of the thread: one write.
		let charges = (1..=5).map(|i| {
			let journal = journal.clone();
			tokio::spawn(async move { journal.record(row(i)).await })
		});
		for charge in charges.collect::<Vec<_>>() {
			charge.await.unwrap().unwrap();
		}
		assert_eq!(writes(&journal), 1);
		assert_eq!(numbers_in_file(&journal), vec![1, 2, 3, 4, 5]);
		let taken = journal.take(usize::MAX);
		assert_eq!(taken.len(), 5);
		assert!(taken.iter().zip(1..).all(|((_, r), i)| same(r, &row(i))));
		// One alone: written alone, and never waits for a later one.
		journal.record(row(6)).await.unwrap();
		assert_eq!((writes(&journal), numbers_in_file(&journal).len()), (2, 6));
	}

	#[tokio::test(flavor = "current_thread")]
	async fn a_batch_whose_first_request_is_dropped_is_written_all_the_same() {
		let dir = tempfile::tempdir().unwrap();
		let journal = Arc::new(Journal::open(&dir.path().join("usage.db"), 0).unwrap());
		// The first charge opens the batch and yields; a second joins it; the first request is
		// then dropped (its client left): the batch is written, and the second answered.
		let mut first = Box::pin(journal.record(row(1)));
		assert!(futures::poll!(first.as_mut()).is_pending());
		let second = tokio::spawn({
			let journal = journal.clone();
			async move { journal.record(row(2)).await }
		});
		tokio::task::yield_now().await;
		assert_eq!(writes(&journal), 0, "gathered, not yet written");
		drop(first);
		second.await.unwrap().unwrap();
		assert_eq!(writes(&journal), 1);
		assert_eq!(numbers_in_file(&journal), vec![1, 2]);
	}

	#[tokio::test(flavor = "current_thread")]
	async fn a_batch_that_cannot_be_written_fails_every_charge_in_it() {
		let dir = tempfile::tempdir().unwrap();
		let mut journal = Journal::open(&dir.path().join("usage.db"), 0).unwrap();
		journal.max_waiting = 3;
		journal.record(row(1)).await.unwrap();
		let journal = Arc::new(journal);
		// Three charges together would make four waiting, one past the bound: all three are
		// refused (as one charge past the bound is), none written.
		let charges: Vec<_> = (2..=4)
			.map(|i| {
				let journal = journal.clone();
				tokio::spawn(async move { journal.record(row(i)).await })
			})
			.collect();
		for charge in charges {
			let refused = charge.await.unwrap().unwrap_err().to_string();
			assert!(refused.contains("1 charges wait"), "{refused}");
		}
		assert_eq!(numbers_in_file(&journal), vec![1]);
		assert_eq!(journal.take(usize::MAX).len(), 1);
		// A journal refusing charges: each charge of the batch gets the reason.
		journal.refuse("the disk is full");
		let charges: Vec<_> = (5..=6)
			.map(|i| {
				let journal = journal.clone();
				tokio::spawn(async move { journal.record(row(i)).await })
			})
			.collect();
		for charge in charges {
			let refused = charge.await.unwrap().unwrap_err().to_string();
			assert!(refused.contains("the disk is full"), "{refused}");
		}
		assert!(journal.take(usize::MAX).is_empty());
	}
}
