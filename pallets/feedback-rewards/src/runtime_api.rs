//! The runtime API a wallet uses to read pending rewards and epochs cheaply.

use crate::{EpochIndex, EpochStatus, PendingReward};
use alloc::vec::Vec;
use codec::Codec;

sp_api::decl_runtime_apis! {
	/// Read-only queries of the feedback rewards pallet.
	pub trait FeedbackRewardsApi<AccountId, Balance, BlockNumber>
	where
		AccountId: Codec,
		Balance: Codec,
		BlockNumber: Codec,
	{
		/// `who`'s unclaimed contributions, oldest epoch first: the reward of each closed
		/// epoch and the bonds returned with each claim.
		fn pending_rewards(who: AccountId) -> Vec<PendingReward<Balance>>;

		/// An epoch's state, blocks, feedback, points and budgets; `None`: the current one.
		fn epoch_status(epoch: Option<EpochIndex>) -> EpochStatus<Balance, BlockNumber>;
	}
}
