//! The books: per user, what is reserved for requests in flight and what was charged and not
//! yet settled on chain; admission reserves a request's worst case against them and a charge
//! takes the reservation's place ([`ledger`] decides both).
//!
//! One trait, [`Books`], and two implementations:
//! - [`Embedded`] (SQLite, one gateway): the books in memory and authoritative — the unsettled
//!   charges are rebuilt from the database at start and reservations do not outlive the
//!   process — so admission reads nothing from disk and a charge writes one row, through the
//!   one writer;
//! - [`Shared`] (PostgreSQL, a fleet): the books in the database, every admission and charge
//!   in a transaction holding the user's row (`SELECT … FOR UPDATE`), so instances never
//!   together overspend a voucher or a user's credits.

use super::*;

mod embedded;
mod shared;

pub(super) use embedded::Embedded;
pub(super) use shared::Shared;

/// What an admission returns: the books as they were before, and the reservation's id or why
/// the request was refused.
pub(super) type Admitted = (Book, Result<i64, Refusal>);

/// Per-user books of reservations and unsettled charges.
pub(super) trait Books: Send + std::marker::Sync {
	/// `user`'s books.
	fn book<'a>(&'a self, user: &'a AccountId32) -> BoxFuture<'a, Result<Book, StoreError>>;

	/// Admits `request` if the books allow it: reserves its worst case and keeps its voucher
	/// for the feed when it is better than the one kept (a higher cap, or the same cap with a
	/// later expiry).
	fn admit<'a>(
		&'a self,
		request: &'a Admission<'a>,
	) -> BoxFuture<'a, Result<Admitted, StoreError>>;

	/// Ends a reservation without a charge.
	fn release(&self, reservation: i64) -> BoxFuture<'_, Result<(), StoreError>>;

	/// Charges `usage` in place of `reservation`: at most what the voucher of cap `cap` still
	/// allows with `settled` settled on chain. Durable when it returns; returns what was
	/// charged and the books after.
	fn charge(
		&self,
		reservation: i64,
		usage: Charge,
		cap: u128,
		settled: u128,
	) -> BoxFuture<'_, Result<(u128, Book), StoreError>>;

	/// Value reserved and unsettled over all users.
	fn totals(&self) -> BoxFuture<'_, Result<(u128, u128), StoreError>>;

	/// Inside the transaction in which attested feed records leave the feed: takes their
	/// charges (per user, SS58) off the books kept in the database.
	fn settle_in<'c>(
		&'c self,
		tx: &'c mut AnyConnection,
		per_user: &'c BTreeMap<String, u128>,
	) -> BoxFuture<'c, Result<(), StoreError>>;

	/// After that transaction committed: takes them off the books kept in memory.
	fn settled(&self, per_user: &BTreeMap<String, u128>) -> Result<(), StoreError>;
}

impl RequestRow {
	/// The row of `usage` charged `charged`, for `user` and `payer` as written (SS58).
	pub(super) fn new(user: Arc<str>, payer: Arc<str>, usage: &Charge, charged: u128) -> Self {
		RequestRow {
			user,
			payer,
			model: usage.model,
			input_tokens: usage.input_tokens,
			output_tokens: usage.output_tokens,
			cost: charged,
			created_at: now_ms(),
			served_at: i64::from(usage.served_at),
		}
	}
}

/// Keeps `voucher` (user, payer, cap, expiry, signature, session) for the feed if it is better
/// than the one kept: a higher cap, or the same cap with a later expiry.
pub(super) async fn keep_voucher(
	tx: &mut AnyConnection,
	(user, payer, cap, expiry, signature, session): KeptVoucher<'_>,
) -> Result<(), StoreError> {
	let kept = sqlx::query("SELECT cap, expiry FROM vouchers WHERE \"user\" = $1 AND payer = $2")
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
