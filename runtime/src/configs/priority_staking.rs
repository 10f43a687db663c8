//! Priority staking: tiers, warm-up, unbonding and the free allowance (a discount that
//! providers who honour it grant themselves; no fund pays it).

use frame_support::traits::{ConstU128, ConstU32};

use crate::{Balances, Runtime, RuntimeFreezeReason, UNIT};

impl pallet_priority_staking::Config for Runtime {
	type Currency = Balances;
	type RuntimeFreezeReason = RuntimeFreezeReason;
	type MaxTiers = ConstU32<16>;
	type MaxChunks = ConstU32<8>;
	/// At least 1 TMT staked, so a ledger is never dust.
	type MinStake = ConstU128<UNIT>;
	/// Requests per minute for accounts without a tier.
	type DefaultRateLimit = ConstU32<10>;
	/// Root, or a referendum on the `parameters` track.
	type AdminOrigin = super::governance::ParametersOrigin;
	type WeightInfo = pallet_priority_staking::weights::SubstrateWeight<Runtime>;
}
