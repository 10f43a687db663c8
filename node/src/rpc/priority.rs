//! `priority_*` JSON-RPC methods: an account's priority as a gateway needs it to order and
//! rate-limit requests, answered by the priority staking runtime API at the best block (or
//! the block given).
//!
//! Balances are decimal strings: they are 128-bit numbers, more than a JSON number holds.

use std::sync::Arc;

use super::runtime_error;
use jsonrpsee::{core::RpcResult, proc_macros::rpc};
use pallet_priority_staking::{runtime_api::PriorityStakingApi, Chunk, PriorityInfo, TierInfo};
use serde::Serialize;
use sp_api::ProvideRuntimeApi;
use sp_blockchain::HeaderBackend;
use tokenmeter_runtime::{opaque::Block, AccountId, Balance, BlockNumber, Hash};

/// An amount and the block it counts from (warm-up) or can be withdrawn at (unbonding).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ChunkAnswer {
	/// The amount.
	pub amount: String,
	/// The block.
	pub at: BlockNumber,
}

impl From<&Chunk<Balance, BlockNumber>> for ChunkAnswer {
	fn from(chunk: &Chunk<Balance, BlockNumber>) -> Self {
		Self { amount: chunk.amount.to_string(), at: chunk.at }
	}
}

/// The answer of `priority_of`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PriorityAnswer {
	/// The tier (0: none).
	pub tier: u8,
	/// Its priority weight: higher is served first.
	pub priority_weight: u32,
	/// Requests per minute the gateway accepts.
	pub rate_limit: u32,
	/// Stake that counts toward the tier now.
	pub effective_stake: String,
	/// Stake still warming up.
	pub warming_up: String,
	/// When each warming chunk starts to count.
	pub warming_chunks: Vec<ChunkAnswer>,
	/// Unstaked amounts and when each can be withdrawn.
	pub unbonding: Vec<ChunkAnswer>,
	/// Free allowance left this epoch.
	pub allowance_left: String,
	/// The current epoch.
	pub epoch: u32,
	/// The first block of the next epoch, when the allowance renews.
	pub next_epoch_at: BlockNumber,
}

impl From<PriorityInfo<Balance, BlockNumber>> for PriorityAnswer {
	fn from(info: PriorityInfo<Balance, BlockNumber>) -> Self {
		Self {
			tier: info.tier,
			priority_weight: info.priority_weight,
			rate_limit: info.rate_limit,
			effective_stake: info.effective_stake.to_string(),
			warming_up: info.warming_up.to_string(),
			warming_chunks: info.warming_chunks.iter().map(Into::into).collect(),
			unbonding: info.unbonding.iter().map(Into::into).collect(),
			allowance_left: info.allowance_left.to_string(),
			epoch: info.epoch,
			next_epoch_at: info.next_epoch_at,
		}
	}
}

/// One tier of `priority_tiers`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TierAnswer {
	/// The tier's number (1 is the lowest).
	pub tier: u8,
	/// The least effective stake that reaches it.
	pub min_stake: String,
	/// Its priority weight.
	pub priority_weight: u32,
	/// Requests per minute.
	pub rate_limit: u32,
	/// Free allowance per epoch.
	pub free_allowance: String,
}

/// The `priority_*` methods.
#[rpc(server)]
pub trait PriorityApi {
	/// `who`'s tier, priority weight, rate limit, effective and warming-up stake, unbonding
	/// chunks and free allowance left this epoch.
	#[method(name = "priority_of")]
	fn priority_of(&self, who: AccountId, at: Option<Hash>) -> RpcResult<PriorityAnswer>;

	/// The tiers, lowest first.
	#[method(name = "priority_tiers")]
	fn tiers(&self, at: Option<Hash>) -> RpcResult<Vec<TierAnswer>>;
}

/// Serves the `priority_*` methods from the client's runtime API.
pub struct Priority<C> {
	client: Arc<C>,
}

impl<C> Priority<C> {
	/// Serves from `client`.
	pub fn new(client: Arc<C>) -> Self {
		Self { client }
	}
}

impl<C> PriorityApiServer for Priority<C>
where
	C: ProvideRuntimeApi<Block> + HeaderBackend<Block> + Send + Sync + 'static,
	C::Api: PriorityStakingApi<Block, AccountId, Balance, BlockNumber>,
{
	fn priority_of(&self, who: AccountId, at: Option<Hash>) -> RpcResult<PriorityAnswer> {
		let at = at.unwrap_or_else(|| self.client.info().best_hash);
		let info = self.client.runtime_api().priority_of(at, who).map_err(runtime_error)?;
		Ok(info.into())
	}

	fn tiers(&self, at: Option<Hash>) -> RpcResult<Vec<TierAnswer>> {
		let at = at.unwrap_or_else(|| self.client.info().best_hash);
		let tiers = self.client.runtime_api().tiers(at).map_err(runtime_error)?;
		Ok(tiers
			.iter()
			.zip(1u8..)
			.map(|(t, tier): (&TierInfo<Balance>, u8)| TierAnswer {
				tier,
				min_stake: t.min_stake.to_string(),
				priority_weight: t.priority_weight,
				rate_limit: t.rate_limit,
				free_allowance: t.free_allowance.to_string(),
			})
			.collect())
	}
}
