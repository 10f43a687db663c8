//! The charge journal's tests.

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
		&& (a.input_tokens, a.output_tokens, a.cost) == (b.input_tokens, b.output_tokens, b.cost)
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

/// Charges `rows(range)` from tasks spawned together (on a current-thread runtime: one turn).
fn record_at_once(
	journal: &Arc<Journal>,
	range: std::ops::RangeInclusive<u32>,
) -> Vec<tokio::task::JoinHandle<Result<(), StoreError>>> {
	range
		.map(|i| {
			let journal = journal.clone();
			tokio::spawn(async move { journal.record(row(i)).await })
		})
		.collect()
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
	let charges = record_at_once(&journal, 2..=4);
	for charge in charges {
		let refused = charge.await.unwrap().unwrap_err().to_string();
		assert!(refused.contains("1 charges wait"), "{refused}");
	}
	assert_eq!(numbers_in_file(&journal), vec![1]);
	assert_eq!(journal.take(usize::MAX).len(), 1);
	// A journal refusing charges: each charge of the batch gets the reason.
	journal.refuse("the disk is full");
	let charges = record_at_once(&journal, 5..=6);
	for charge in charges {
		let refused = charge.await.unwrap().unwrap_err().to_string();
		assert!(refused.contains("the disk is full"), "{refused}");
	}
	assert!(journal.take(usize::MAX).is_empty());
}
