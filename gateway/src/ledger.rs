//! Admission accounting: what each user has reserved for requests in flight, and what the
//! gateway charged that the chain has not settled yet.
//!
//! Reservation and its check happen under one lock, so two concurrent requests can never
//! together exceed a voucher's headroom or the user's credits: a request is admitted only if
//!
//! ```text
//! settled on chain + unsettled + reserved + worst-case cost ≤ voucher cap
//! unsettled + reserved + worst-case cost ≤ available credits + free allowance
//! ```
//!
//! and then its worst-case cost stays reserved until the answer is charged (its actual cost
//! becomes unsettled) or abandoned (released). Unsettled charges leave the books when the
//! chain's finalised `lastSeq` passes the feed record that carries them: from then on they are
//! part of the ledger's `settled`.

use std::collections::{BTreeMap, HashMap};

use sp_runtime::AccountId32;

/// One user's books.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Book {
	/// Reserved by requests in flight.
	pub reserved: u128,
	/// Charged, not yet in the feed.
	pub unsealed: u128,
	/// Charged, in feed records not yet attested.
	pub sealed: u128,
}

impl Book {
	/// Charged and not settled.
	pub fn unsettled(&self) -> u128 {
		self.unsealed.saturating_add(self.sealed)
	}

	/// Committed beyond what the chain settled: unsettled and reserved.
	pub fn committed(&self) -> u128 {
		self.unsettled().saturating_add(self.reserved)
	}
}

/// Why a request cannot be admitted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
	/// The voucher's cap is too low: a voucher of at least `cap_needed` is needed.
	CapTooLow {
		/// The cumulative cap the request needs.
		cap_needed: u128,
	},
	/// The credits (and free allowance) do not cover it.
	NotEnoughCredit {
		/// What is needed.
		needed: u128,
		/// What is there.
		available: u128,
	},
}

/// The books of every user, and the feed records not yet attested.
#[derive(Debug, Default)]
pub struct Ledger {
	books: HashMap<AccountId32, Book>,
	sealed: BTreeMap<u64, (AccountId32, u128)>,
}

/// What an admission reserved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reservation {
	/// Whose.
	pub user: AccountId32,
	/// How much.
	pub amount: u128,
}

impl Ledger {
	/// Books from the store at start: unsealed charges per user and the sealed records kept.
	pub fn restore(
		unsealed: Vec<(AccountId32, u128)>,
		sealed: Vec<(u64, AccountId32, u128)>,
	) -> Self {
		let mut ledger = Ledger::default();
		for (user, cost) in unsealed {
			ledger.books.entry(user).or_default().unsealed = cost;
		}
		for (seq, user, cost) in sealed {
			let book = ledger.books.entry(user.clone()).or_default();
			book.sealed = book.sealed.saturating_add(cost);
			ledger.sealed.insert(seq, (user, cost));
		}
		ledger
	}

	/// `user`'s books.
	pub fn book(&self, user: &AccountId32) -> Book {
		self.books.get(user).cloned().unwrap_or_default()
	}

	/// Admits a request of worst-case cost `worst` for `user`, whose voucher has cap `cap`, whose
	/// ledger has `settled` on chain and who has `available` credits and allowance; reserves
	/// `worst` if it may go ahead.
	pub fn admit(
		&mut self,
		user: &AccountId32,
		worst: u128,
		cap: u128,
		settled: u128,
		available: u128,
	) -> Result<Reservation, Refusal> {
		let book = self.books.entry(user.clone()).or_default();
		let cap_needed = settled.saturating_add(book.committed()).saturating_add(worst);
		if cap_needed > cap {
			return Err(Refusal::CapTooLow { cap_needed });
		}
		let needed = book.committed().saturating_add(worst);
		if needed > available {
			return Err(Refusal::NotEnoughCredit { needed, available });
		}
		book.reserved = book.reserved.saturating_add(worst);
		Ok(Reservation { user: user.clone(), amount: worst })
	}

	/// Ends a reservation: `charged` becomes unsettled (0 for an abandoned request).
	pub fn settle_reservation(&mut self, reservation: &Reservation, charged: u128) {
		let book = self.books.entry(reservation.user.clone()).or_default();
		book.reserved = book.reserved.saturating_sub(reservation.amount);
		book.unsealed = book.unsealed.saturating_add(charged);
	}

	/// Takes back a charge that could not be recorded.
	pub fn undo_charge(&mut self, user: &AccountId32, charged: u128) {
		let book = self.books.entry(user.clone()).or_default();
		book.unsealed = book.unsealed.saturating_sub(charged);
	}

	/// New feed records: their charges move from unsealed to sealed.
	pub fn sealed(&mut self, records: &[(u64, AccountId32, u128)]) {
		for (seq, user, cost) in records {
			let book = self.books.entry(user.clone()).or_default();
			book.unsealed = book.unsealed.saturating_sub(*cost);
			book.sealed = book.sealed.saturating_add(*cost);
			self.sealed.insert(*seq, (user.clone(), *cost));
		}
	}

	/// The chain attested (finalised) every record up to `last_seq`: they leave the books.
	pub fn attested(&mut self, last_seq: u64) {
		let later = self.sealed.split_off(&last_seq.saturating_add(1));
		for (_, (user, cost)) in std::mem::replace(&mut self.sealed, later) {
			if let Some(book) = self.books.get_mut(&user) {
				book.sealed = book.sealed.saturating_sub(cost);
			}
		}
		self.books.retain(|_, book| *book != Book::default());
	}

	/// Reserved and unsettled value over all users (for metrics).
	pub fn totals(&self) -> (u128, u128) {
		self.books.values().fold((0, 0), |(r, u), b| {
			(r.saturating_add(b.reserved), u.saturating_add(b.unsettled()))
		})
	}
}

#[cfg(test)]
mod tests {
	use super::*;
	use sp_keyring::Sr25519Keyring::{Bob, Charlie};

	#[test]
	fn concurrent_reservations_never_exceed_the_voucher() {
		let mut ledger = Ledger::default();
		let bob = Bob.to_account_id();
		// Cap 100, 20 settled on chain: 80 of headroom. Two requests of worst case 50.
		let first = ledger.admit(&bob, 50, 100, 20, 1_000).unwrap();
		assert_eq!(
			ledger.admit(&bob, 50, 100, 20, 1_000),
			Err(Refusal::CapTooLow { cap_needed: 120 })
		);
		// The first costs 10 in the end: 70 of headroom left.
		ledger.settle_reservation(&first, 10);
		assert_eq!(
			ledger.admit(&bob, 71, 100, 20, 1_000),
			Err(Refusal::CapTooLow { cap_needed: 101 })
		);
		assert!(ledger.admit(&bob, 70, 100, 20, 1_000).is_ok());
		assert_eq!(ledger.book(&bob), Book { reserved: 70, unsealed: 10, sealed: 0 });
	}

	#[test]
	fn credits_bound_what_is_committed() {
		let mut ledger = Ledger::default();
		let bob = Bob.to_account_id();
		let r = ledger.admit(&bob, 30, 1_000, 0, 50).unwrap();
		assert_eq!(
			ledger.admit(&bob, 30, 1_000, 0, 50),
			Err(Refusal::NotEnoughCredit { needed: 60, available: 50 })
		);
		ledger.settle_reservation(&r, 0);
		assert_eq!(ledger.book(&bob), Book::default());
	}

	#[test]
	fn attested_records_leave_the_books() {
		let mut ledger = Ledger::default();
		let (bob, charlie) = (Bob.to_account_id(), Charlie.to_account_id());
		let r = ledger.admit(&bob, 10, 100, 0, 100).unwrap();
		ledger.settle_reservation(&r, 7);
		let r = ledger.admit(&charlie, 10, 100, 0, 100).unwrap();
		ledger.settle_reservation(&r, 3);
		ledger.sealed(&[(1, bob.clone(), 7), (2, charlie.clone(), 3)]);
		assert_eq!(ledger.book(&bob), Book { reserved: 0, unsealed: 0, sealed: 7 });
		ledger.attested(1);
		assert_eq!(ledger.book(&bob), Book::default());
		assert_eq!(ledger.book(&charlie).sealed, 3);
		assert_eq!(ledger.totals(), (0, 3));
		// Restored from the store, the same books.
		let restored = Ledger::restore(vec![(bob.clone(), 5)], vec![(2, charlie.clone(), 3)]);
		assert_eq!(restored.book(&bob).unsealed, 5);
		assert_eq!(restored.book(&charlie).sealed, 3);
	}
}
