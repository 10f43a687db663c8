//! The runtime API a wallet or gateway uses to read agent wallets cheaply.

use crate::AgentStatus;
use codec::Codec;

sp_api::decl_runtime_apis! {
	/// Read-only queries of the agent wallet pallet.
	pub trait AgentWalletApi<AccountId, Balance, BlockNumber, Hash>
	where
		AccountId: Codec,
		Balance: Codec,
		BlockNumber: Codec,
		Hash: Codec,
	{
		/// The address of the agent `owner` creates with `config_hash` and `index`; with
		/// `index` `None`, the owner's next agent.
		fn address(owner: AccountId, config_hash: Hash, index: Option<u32>) -> AccountId;

		/// An agent's owner, controller, policy, what it spent in the current period and
		/// may still spend, and its pending payments; `None` if there is no such agent.
		fn agent(agent: AccountId) -> Option<AgentStatus<AccountId, Balance, BlockNumber, Hash>>;
	}
}
