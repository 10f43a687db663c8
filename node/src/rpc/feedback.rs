//! `feedback_*` JSON-RPC methods: an account's pending rewards and an epoch's status,
//! answered by the feedback rewards runtime API at the best block (or the block given).
//!
//! Balances are decimal strings: they are 128-bit numbers, more than a JSON number holds.

use std::sync::Arc;

use super::runtime_error;
use jsonrpsee::{core::RpcResult, proc_macros::rpc};
use pallet_feedback_rewards::{runtime_api::FeedbackRewardsApi, EpochState, EpochStatus};
use serde::Serialize;
use sp_api::ProvideRuntimeApi;
use sp_blockchain::HeaderBackend;
use tokenmeter_runtime::{opaque::Block, AccountId, Balance, BlockNumber, Hash};

/// One epoch of `feedback_pendingRewards`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PendingAnswer {
	/// The epoch.
	pub epoch: u32,
	/// Closed: the reward is known and may be claimed.
	pub closed: bool,
	/// The reward (zero until closed).
	pub reward: String,
	/// Bonds returned with the claim.
	pub bonds: String,
}

/// The answer of `feedback_epochStatus`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct EpochAnswer {
	/// The epoch.
	pub epoch: u32,
	/// `open`, `scoring`, `closable` or `closed`.
	pub state: &'static str,
	/// Its first block.
	pub start: BlockNumber,
	/// The first block after it.
	pub end: BlockNumber,
	/// The first block scores of its feedback may be revealed in (commitments close then).
	pub reveal_from: BlockNumber,
	/// The first block its feedback may be finalised and it closed in.
	pub closable_at: BlockNumber,
	/// Feedback submitted in it.
	pub feedback: u32,
	/// Of which finalised.
	pub finalised: u32,
	/// Annotators' score points.
	pub points: u64,
	/// Validators' points.
	pub validator_points: u64,
	/// Allocated to annotators (once closed).
	pub annotator_budget: String,
	/// Allocated to validators (once closed).
	pub validator_budget: String,
	/// Claimed so far.
	pub claimed: String,
}

impl From<EpochStatus<Balance, BlockNumber>> for EpochAnswer {
	fn from(s: EpochStatus<Balance, BlockNumber>) -> Self {
		Self {
			epoch: s.epoch,
			state: match s.state {
				EpochState::Open => "open",
				EpochState::Scoring => "scoring",
				EpochState::Closable => "closable",
				EpochState::Closed => "closed",
			},
			start: s.start,
			end: s.end,
			reveal_from: s.reveal_from,
			closable_at: s.closable_at,
			feedback: s.info.feedback,
			finalised: s.info.finalised,
			points: s.info.points,
			validator_points: s.info.validator_points,
			annotator_budget: s.info.annotator_budget.to_string(),
			validator_budget: s.info.validator_budget.to_string(),
			claimed: s.info.claimed.to_string(),
		}
	}
}

/// The `feedback_*` methods.
#[rpc(server)]
pub trait FeedbackRpc {
	/// `who`'s unclaimed epochs, oldest first: reward (once closed) and bonds.
	#[method(name = "feedback_pendingRewards")]
	fn pending_rewards(&self, who: AccountId, at: Option<Hash>) -> RpcResult<Vec<PendingAnswer>>;

	/// An epoch's state, blocks, feedback, points and budgets; without `epoch`, the current
	/// one.
	#[method(name = "feedback_epochStatus")]
	fn epoch_status(&self, epoch: Option<u32>, at: Option<Hash>) -> RpcResult<EpochAnswer>;
}

/// Serves the `feedback_*` methods from the client's runtime API.
pub struct Feedback<C> {
	client: Arc<C>,
}

impl<C> Feedback<C> {
	/// Serves from `client`.
	pub fn new(client: Arc<C>) -> Self {
		Self { client }
	}
}

impl<C> FeedbackRpcServer for Feedback<C>
where
	C: ProvideRuntimeApi<Block> + HeaderBackend<Block> + Send + Sync + 'static,
	C::Api: FeedbackRewardsApi<Block, AccountId, Balance, BlockNumber>,
{
	fn pending_rewards(&self, who: AccountId, at: Option<Hash>) -> RpcResult<Vec<PendingAnswer>> {
		let at = at.unwrap_or_else(|| self.client.info().best_hash);
		let pending = self.client.runtime_api().pending_rewards(at, who).map_err(runtime_error)?;
		Ok(pending
			.into_iter()
			.map(|p| PendingAnswer {
				epoch: p.epoch,
				closed: p.closed,
				reward: p.reward.to_string(),
				bonds: p.bonds.to_string(),
			})
			.collect())
	}

	fn epoch_status(&self, epoch: Option<u32>, at: Option<Hash>) -> RpcResult<EpochAnswer> {
		let at = at.unwrap_or_else(|| self.client.info().best_hash);
		let status = self.client.runtime_api().epoch_status(at, epoch).map_err(runtime_error)?;
		Ok(status.into())
	}
}
