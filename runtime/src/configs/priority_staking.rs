//! Priority staking: tiers, warm-up, unbonding and the free allowance fund.

use frame_support::{
	parameter_types,
	traits::{ConstU128, ConstU32},
	PalletId,
};
use sp_runtime::traits::AccountIdConversion;

use crate::{AccountId, Balances, Runtime, RuntimeFreezeReason, UNIT};

parameter_types! {
	/// The allowance fund's id; its account pays stakers' free allowances.
	pub const AllowanceFundPalletId: PalletId = PalletId(*b"tmt/allw");
	/// The account free allowances are paid from; anyone can fund it with a transfer.
	pub AllowanceFundAccount: AccountId = AllowanceFundPalletId::get().into_account_truncating();
}

impl pallet_priority_staking::Config for Runtime {
	type Currency = Balances;
	type RuntimeFreezeReason = RuntimeFreezeReason;
	type MaxTiers = ConstU32<16>;
	type MaxChunks = ConstU32<8>;
	/// At least 1 TMT staked, so a ledger is never dust.
	type MinStake = ConstU128<UNIT>;
	/// Requests per minute for accounts without a tier.
	type DefaultRateLimit = ConstU32<10>;
	type AllowanceFund = AllowanceFundAccount;
	type WeightInfo = pallet_priority_staking::weights::SubstrateWeight<Runtime>;
}
