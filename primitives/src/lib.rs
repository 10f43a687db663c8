//! Types and traits shared by Tokenmeter's pallets, so that a pallet can use another one's
//! service without depending on its crate:
//!
//! - [`TierInspect`]: the priority-staking tier of an account (read by the inference credits
//!   pallet for `MinTier` access rules);
//! - [`FreeAllowance`]: the free inference allowance a staking tier grants per epoch, spent
//!   by settlement before paid credits;
//! - [`VoucherSigners`]: who signs inference-credit vouchers for an account (the account
//!   itself, or the controller of a keyless agent wallet).

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

/// Who may sign inference-credit vouchers for an account. A keyless account (an agent
/// wallet) has no key of its own, so someone else signs for it. `()` lets every account sign
/// for itself only.
pub trait VoucherSigners<AccountId> {
	/// The account whose signature authorises `account`'s spending with `provider` now, or
	/// `None` if nobody may (a frozen or expired agent, a provider it may not pay).
	fn voucher_signer(account: &AccountId, provider: &AccountId) -> Option<AccountId>;

	/// The weight of one [`VoucherSigners::voucher_signer`].
	fn voucher_signer_weight() -> Weight;
}

impl<AccountId: Clone> VoucherSigners<AccountId> for () {
	fn voucher_signer(account: &AccountId, _: &AccountId) -> Option<AccountId> {
		Some(account.clone())
	}

	fn voucher_signer_weight() -> Weight {
		Weight::zero()
	}
}
