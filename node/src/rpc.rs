//! The node's JSON-RPC extensions beyond the standard Substrate ones: account nonces
//! (`system_accountNextIndex`), fee queries (`payment_queryInfo`, ...) and the inference
//! credits queries (`credits_canAccess`, `credits_quote`, `credits_balance`) and the
//! priority staking queries (`priority_of`, `priority_tiers`) and the agent wallet queries
//! (`agentWallet_address`, `agentWallet_agent`) and the feedback rewards queries
//! (`feedback_pendingRewards`, `feedback_epochStatus`).

pub mod agent;
pub mod credits;
pub mod feedback;
pub mod priority;

use std::sync::Arc;

use jsonrpsee::{types::ErrorObjectOwned, RpcModule};
use sc_transaction_pool_api::TransactionPool;
use sp_api::ProvideRuntimeApi;
use sp_block_builder::BlockBuilder;
use sp_blockchain::{Error as BlockChainError, HeaderBackend, HeaderMetadata};
use tokenmeter_runtime::{opaque::Block, AccountId, Balance, BlockNumber, Hash, Nonce};

/// What the RPC extensions need from the node.
pub struct FullDeps<C, P> {
	/// The client, to call into the runtime.
	pub client: Arc<C>,
	/// The transaction pool.
	pub pool: Arc<P>,
}

/// Builds the RPC module with every extension of the node.
pub fn create_full<C, P>(
	deps: FullDeps<C, P>,
) -> Result<RpcModule<()>, Box<dyn std::error::Error + Send + Sync>>
where
	C: ProvideRuntimeApi<Block>
		+ HeaderBackend<Block>
		+ HeaderMetadata<Block, Error = BlockChainError>
		+ Send
		+ Sync
		+ 'static,
	C::Api: substrate_frame_rpc_system::AccountNonceApi<Block, AccountId, Nonce>,
	C::Api: pallet_transaction_payment_rpc::TransactionPaymentRuntimeApi<Block, Balance>,
	C::Api: BlockBuilder<Block>,
	C::Api: pallet_inference_credits::runtime_api::InferenceCreditsApi<
		Block,
		AccountId,
		Balance,
		BlockNumber,
	>,
	C::Api: pallet_priority_staking::runtime_api::PriorityStakingApi<
		Block,
		AccountId,
		Balance,
		BlockNumber,
	>,
	C::Api: pallet_agent_wallet::runtime_api::AgentWalletApi<
		Block,
		AccountId,
		Balance,
		BlockNumber,
		Hash,
	>,
	C::Api: pallet_feedback_rewards::runtime_api::FeedbackRewardsApi<
		Block,
		AccountId,
		Balance,
		BlockNumber,
	>,
	P: TransactionPool + 'static,
{
	use agent::AgentWalletRpcServer;
	use credits::CreditsApiServer;
	use feedback::FeedbackRpcServer;
	use pallet_transaction_payment_rpc::{TransactionPayment, TransactionPaymentApiServer};
	use priority::PriorityApiServer;
	use substrate_frame_rpc_system::{System, SystemApiServer};

	let mut module = RpcModule::new(());
	let FullDeps { client, pool } = deps;

	module.merge(System::new(client.clone(), pool).into_rpc())?;
	module.merge(TransactionPayment::new(client.clone()).into_rpc())?;
	module.merge(credits::Credits::new(client.clone()).into_rpc())?;
	module.merge(priority::Priority::new(client.clone()).into_rpc())?;
	module.merge(agent::AgentWallet::new(client.clone()).into_rpc())?;
	module.merge(feedback::Feedback::new(client).into_rpc())?;

	Ok(module)
}

/// A runtime API call failed (e.g. the block is unknown or pruned).
pub(crate) fn runtime_error(error: impl std::fmt::Display) -> ErrorObjectOwned {
	ErrorObjectOwned::owned(1, "runtime API call failed", Some(error.to_string()))
}
