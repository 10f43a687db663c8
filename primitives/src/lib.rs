//! Types and traits shared by Tokenmeter's pallets, so that a pallet can use another one's
//! service without depending on its crate:
//!
//! - [`TierInspect`]: the priority-staking tier of an account (read by the inference credits
//!   pallet for `MinTier` access rules);
//! - [`FreeAllowance`]: the free inference allowance a staking tier grants per epoch, spent
//!   by settlement before paid credits.

#![cfg_attr(not(feature = "std"), no_std)]
#![deny(missing_docs)]

use frame_support::weights::Weight;

/// A priority-staking tier; 0 means no tier.
pub type Tier = u8;

/// Reads an account's priority-staking tier. `()` reports tier 0 for everyone (no staking).
pub trait TierInspect<AccountId> {
	/// The tier of `who` (0: none).
	fn tier_of(who: &AccountId) -> Tier;
}

impl<AccountId> TierInspect<AccountId> for () {
	fn tier_of(_: &AccountId) -> Tier {
		0
	}
}

/// A free allowance of inference per epoch, granted by a staking tier: it pays for usage
/// before paid credits do, belongs to the account it was granted to (it cannot be moved or
/// withdrawn) and does not carry over to the next epoch. `()` grants nothing.
pub trait FreeAllowance<AccountId, Balance> {
	/// What `who` may still spend of its allowance in the current epoch.
	fn allowance_left(who: &AccountId) -> Balance;

	/// Pays `provider` up to `amount` for `who`'s usage out of `who`'s allowance, and
	/// returns what was paid (at most `amount`; zero when there is no allowance left or
	/// nothing could be paid). Either pays and records the whole returned amount or changes
	/// nothing.
	fn spend_allowance(who: &AccountId, provider: &AccountId, amount: Balance) -> Balance;

	/// The weight of one [`FreeAllowance::spend_allowance`].
	fn spend_allowance_weight() -> Weight;
}

impl<AccountId, Balance: Default> FreeAllowance<AccountId, Balance> for () {
	fn allowance_left(_: &AccountId) -> Balance {
		Balance::default()
	}

	fn spend_allowance(_: &AccountId, _: &AccountId, _: Balance) -> Balance {
		Balance::default()
	}

	fn spend_allowance_weight() -> Weight {
		Weight::zero()
	}
}
