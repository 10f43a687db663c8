//! Types and traits shared by Tokenmeter's pallets, so that a pallet can use another one's
//! service without depending on its crate:
//!
//! - [`TierInspect`]: the priority-staking tier of an account (read by the inference credits
//!   pallet for `MinTier` access rules);
//! - [`FreeAllowance`]: the free inference allowance a staking tier grants per epoch, spent
//!   by settlement before paid credits;
//! - [`VoucherSigners`]: who signs inference-credit vouchers for an account (the account
//!   itself, or the controller of a keyless agent wallet);
//! - [`voucher`]: the voucher a user signs, the bytes that are signed and the usage entry
//!   that carries it ([`Voucher`], [`SignedVoucher`], [`UsageEntry`], [`ModelId`]);
//! - [`gateway`]: the runtime API a gateway reads the chain through ([`gateway::GatewayApi`]),
//!   and the access rule of a model ([`AccessRule`]);
//! - [`feed`]: the usage feed's record, as gateways serve it and operator nodes read it;
//! - [`SettleUsage`]: settlement of served usage against credits (the credits pallet provides
//!   it, the usage attestation pallet calls it).

#![cfg_attr(not(feature = "std"), no_std)]
// Runtime code never panics and never overflows silently (tests and mocks are exempt):
// checked or saturating arithmetic, `get` instead of indexing, errors instead of unwraps.
#![cfg_attr(
	not(test),
	deny(
		clippy::arithmetic_side_effects,
		clippy::unwrap_used,
		clippy::expect_used,
		clippy::indexing_slicing
	)
)]
#![deny(missing_docs)]

extern crate alloc;

pub mod feed;

pub mod gateway;

pub use gateway::AccessRule;

pub mod voucher;

pub use voucher::{
	decode_signature, session_commitment, wrap_bytes, ModelId, SignedVoucher, UsageEntry, Voucher,
	SESSION_DOMAIN, VOUCHER_DOMAIN, VOUCHER_DOMAIN_V2,
};

use frame_support::{sp_runtime::DispatchError, weights::Weight};

/// What a settlement did, in sum.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub struct SettlementSummary<Balance> {
	/// Total taken from users' credits.
	pub charged: Balance,
	/// Total paid out of users' free staking allowances.
	pub from_allowance: Balance,
	/// The part of it paid to the reward pool as the protocol fee.
	pub fees: Balance,
	/// Entries that settled nothing (rejected).
	pub rejected_entries: u32,
	/// Voucher signatures checked: none for a voucher the chain accepted before, one for a new
	/// voucher signed in the form the user signed the last one, more otherwise. The weight
	/// actually used depends on it ([`SettleUsage::settled_weight`]).
	pub signature_checks: u32,
	/// Storage reads of the worst case this settlement did not make: a user paying with its
	/// own credits reads no delegation.
	pub reads_avoided: u32,
	/// Storage writes of the worst case this settlement did not make: a user paying with its
	/// own credits writes no delegation, and a payer's withdrawal notice that its credits still
	/// cover (or that it has not given) is left as it was.
	pub writes_avoided: u32,
}

/// Settles served usage against users' credits; the usage attestation pallet calls it.
pub trait SettleUsage<AccountId> {
	/// One usage record.
	type Entry;
	/// The balance type.
	type Balance;
	/// Charges `entries` served by `provider`. Individual entries that cannot be settled are
	/// rejected (and reported in events) without failing the rest; only an unknown provider
	/// or a broken invariant fails the whole call.
	fn settle(
		provider: &AccountId,
		entries: alloc::vec::Vec<Self::Entry>,
	) -> Result<SettlementSummary<Self::Balance>, DispatchError>;
	/// The most settling `entries` entries can weigh: every voucher new, checked in every
	/// form against every signer allowed.
	fn settle_weight(entries: u32) -> Weight;
	/// What settling `entries` entries weighed, given what the settlement reported (the
	/// signature checks it made): at most [`Self::settle_weight`].
	fn settled_weight(entries: u32, summary: &SettlementSummary<Self::Balance>) -> Weight;
	/// What settling `entries` for `provider` now is expected to weigh, read from state and
	/// changing nothing: between [`Self::settled_weight`] of the checks the state says it would
	/// make and [`Self::settle_weight`]. For sizing work (how many attestations one block
	/// takes), never for charging. By default the worst case.
	fn expected_weight(provider: &AccountId, entries: &[Self::Entry]) -> Weight {
		let _ = provider;
		Self::settle_weight(u32::try_from(entries.len()).unwrap_or(u32::MAX))
	}
}

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

/// A free allowance of inference per epoch, granted by a staking tier: a discount on usage of
/// models whose provider honours allowances, used before paid credits, that the provider
/// grants and funds itself (nobody pays the provider for it). It belongs to the account it
/// was granted to (it cannot be moved or withdrawn) and does not carry over to the next
/// epoch. `()` grants nothing.
pub trait FreeAllowance<AccountId, Balance> {
	/// What `who` may still spend of its allowance in the current epoch.
	fn allowance_left(who: &AccountId) -> Balance;

	/// Uses up to `amount` of `who`'s allowance as a discount on usage served by `provider`,
	/// and returns what was used (at most `amount`; zero when there is no allowance left).
	/// Records the use only: no funds move.
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

	/// For settlement only: the account that signed for `account` with `provider` before its
	/// owner's last change (freeze, policy, signer), while a bounded notice after that change
	/// lasts — so that usage served before the change still gets paid. Gateways admit with
	/// [`VoucherSigners::voucher_signer`] alone. `None` by default.
	fn previous_voucher_signer(_account: &AccountId, _provider: &AccountId) -> Option<AccountId> {
		None
	}

	/// The weight of one [`VoucherSigners::voucher_signer`] and one
	/// [`VoucherSigners::previous_voucher_signer`].
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

/// What `input` and `output` tokens cost at these prices (per 1,000 tokens):
/// `⌈(price_in × input + price_out × output) / 1000⌉`, rounded up so that no request is free.
/// The products saturate at the balance type's maximum instead of overflowing. The chain's
/// settlement and the gateway's charges both use this one function.
pub fn usage_cost<Balance>(
	price_per_1k_input: Balance,
	price_per_1k_output: Balance,
	input: u32,
	output: u32,
) -> Balance
where
	Balance: frame_support::sp_runtime::traits::AtLeast32BitUnsigned + Copy,
{
	use frame_support::sp_runtime::traits::Zero;
	let scaled = price_per_1k_input
		.saturating_mul(input.into())
		.saturating_add(price_per_1k_output.saturating_mul(output.into()));
	let unit: Balance = 1_000u32.into();
	// `unit` is a non-zero constant: the division always succeeds.
	let whole = scaled.checked_div(&unit).unwrap_or_else(Zero::zero);
	if scaled.saturating_sub(whole.saturating_mul(unit)).is_zero() {
		whole
	} else {
		whole.saturating_add(1u32.into())
	}
}

/// Whether everything `who` holds can be moved without force: no freeze (such as priority
/// stake) reaches into the held funds. A pallet that holds funds it may later have to pay out
/// (credits, slashable bonds) checks this after holding and refuses the hold otherwise; the
/// extrinsic's storage layer then undoes it.
pub fn holds_are_movable<AccountId, Currency>(who: &AccountId) -> bool
where
	Currency: frame_support::traits::fungible::InspectHold<AccountId>,
{
	use frame_support::traits::tokens::Fortitude;
	Currency::reducible_total_balance_on_hold(who, Fortitude::Polite)
		>= Currency::total_balance_on_hold(who)
}
