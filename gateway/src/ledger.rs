//! Admission accounting: the rule that decides whether a request may go ahead, given what its
//! user has reserved for requests in flight and what the gateway charged that the chain has
//! not settled yet. The books themselves live in the database ([`crate::store`]), so that
//! several gateway instances sharing one database keep one set of books.
//!
//! A request is admitted only if
//!
//! ```text
//! settled on chain + unsettled + reserved + worst-case cost ≤ voucher cap
//! unsettled + reserved + worst-case cost ≤ available credits + free allowance
//! ```
//!
//! and then its worst-case cost stays reserved until the answer is charged (its actual cost
//! becomes unsettled) or abandoned (released). The check and the reservation happen in one
//! database transaction that holds the user's row, so two concurrent requests (on one
//! instance or on two) can never together exceed a voucher's headroom or the user's credits.
//! Unsettled charges leave the books when the chain's finalised `lastSeq` passes the feed
//! record that carries them: from then on they are part of the ledger's `settled`.

/// One user's books.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Book {
	/// Reserved by requests in flight.
	pub reserved: u128,
	/// Charged and not yet attested by the chain (in the feed or about to be).
	pub unsettled: u128,
}

impl Book {
	/// Committed beyond what the chain settled: unsettled and reserved.
	pub fn committed(&self) -> u128 {
		self.unsettled.saturating_add(self.reserved)
	}

	/// What a voucher of cap `cap` still allows, with `settled` settled on chain.
	pub fn headroom(&self, cap: u128, settled: u128) -> u128 {
		cap.saturating_sub(settled.saturating_add(self.committed()))
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

/// Whether a request of worst-case cost `worst` may go ahead for a user with `book`, whose
/// voucher has cap `cap`, whose ledger has `settled` on chain and who has `available` credits
/// and allowance.
pub fn admit(
	book: &Book,
	worst: u128,
	cap: u128,
	settled: u128,
	available: u128,
) -> Result<(), Refusal> {
	let cap_needed = settled.saturating_add(book.committed()).saturating_add(worst);
	if cap_needed > cap {
		return Err(Refusal::CapTooLow { cap_needed });
	}
	let needed = book.committed().saturating_add(worst);
	if needed > available {
		return Err(Refusal::NotEnoughCredit { needed, available });
	}
	Ok(())
}

/// What an answer of cost `cost` is charged: at most what the voucher still allows, with
/// `others` committed by the user's other requests (everything but this one's reservation).
pub fn chargeable(cost: u128, cap: u128, settled: u128, others: u128) -> u128 {
	cost.min(cap.saturating_sub(settled.saturating_add(others)))
}

#[cfg(test)]
mod tests {
	use super::*;

	#[test]
	fn admission_needs_headroom_under_the_cap_and_credits() {
		// Cap 100, 20 settled on chain: 80 of headroom; 50 already reserved.
		let book = Book { reserved: 50, unsettled: 0 };
		assert_eq!(admit(&book, 50, 100, 20, 1_000), Err(Refusal::CapTooLow { cap_needed: 120 }));
		assert_eq!(admit(&book, 30, 100, 20, 1_000), Ok(()));
		// Credits bound what is committed.
		let book = Book { reserved: 30, unsettled: 0 };
		assert_eq!(
			admit(&book, 30, 1_000, 0, 50),
			Err(Refusal::NotEnoughCredit { needed: 60, available: 50 })
		);
		assert_eq!(book.headroom(100, 20), 50);
	}

	#[test]
	fn a_charge_never_exceeds_what_the_voucher_still_allows() {
		assert_eq!(chargeable(10, 100, 20, 30), 10);
		assert_eq!(chargeable(60, 100, 20, 30), 50);
		assert_eq!(chargeable(60, 100, 120, 0), 0);
	}
}
