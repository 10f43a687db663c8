//! The runtime API a gateway or wallet uses to read an account's priority cheaply.

use crate::{PriorityInfo, TierInfo};
use alloc::vec::Vec;
use codec::Codec;

sp_api::decl_runtime_apis! {
	/// Read-only queries of the priority staking pallet.
	pub trait PriorityStakingApi<AccountId, Balance, BlockNumber>
	where
		AccountId: Codec,
		Balance: Codec,
		BlockNumber: Codec,
	{
		/// `who`'s tier, priority weight, rate limit, effective and warming-up stake,
		/// unbonding chunks and free allowance left this epoch.
		fn priority_of(who: AccountId) -> PriorityInfo<Balance, BlockNumber>;

		/// The tiers, lowest first (tier 1 is the first).
		fn tiers() -> Vec<TierInfo<Balance>>;
	}
}
