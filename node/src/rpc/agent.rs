//! `agentWallet_*` JSON-RPC methods: the address an owner's agent gets before it is created,
//! and an agent's policy, spending in the current period and pending payments, answered by
//! the agent wallet runtime API at the best block (or the block given).
//!
//! Balances are decimal strings: they are 128-bit numbers, more than a JSON number holds.

use std::sync::Arc;

use super::runtime_error;
use jsonrpsee::{core::RpcResult, proc_macros::rpc};
use pallet_agent_wallet::{runtime_api::AgentWalletApi, AgentStatus, PendingStatus};
use serde::Serialize;
use sp_api::ProvideRuntimeApi;
use sp_blockchain::HeaderBackend;
use tokenmeter_runtime::{opaque::Block, AccountId, Balance, BlockNumber, Hash};

/// A payment waiting for cosigners.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PendingAnswer {
	/// Its id (for `approve`, `reject`, `reap`).
	pub id: u32,
	/// Who is to be paid.
	pub payee: AccountId,
	/// How much.
	pub amount: String,
	/// Who proposed it.
	pub proposer: AccountId,
	/// The last block it may be approved in.
	pub expires: BlockNumber,
	/// Who approved so far.
	pub approvals: Vec<AccountId>,
}

impl From<PendingStatus<AccountId, Balance, BlockNumber>> for PendingAnswer {
	fn from(p: PendingStatus<AccountId, Balance, BlockNumber>) -> Self {
		Self {
			id: p.id,
			payee: p.payee,
			amount: p.amount.to_string(),
			proposer: p.proposer,
			expires: p.expires,
			approvals: p.approvals,
		}
	}
}

/// The answer of `agentWallet_agent`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AgentAnswer {
	/// The owner.
	pub owner: AccountId,
	/// The controller (the running agent's key).
	pub controller: AccountId,
	/// The configuration hash the address was derived from.
	pub config_hash: Hash,
	/// The owner's agent counter the address was derived from.
	pub index: u32,
	/// The most one payment may move.
	pub per_payment_cap: String,
	/// The most one period may move.
	pub period_cap: String,
	/// The period length in blocks.
	pub period_length: BlockNumber,
	/// Who the agent may pay; `null`: anyone.
	pub payees: Option<Vec<AccountId>>,
	/// Payments above this wait for cosigners.
	pub cosign_threshold: String,
	/// Who approves (empty: the owner).
	pub cosigners: Vec<AccountId>,
	/// Approvals needed.
	pub approvals_needed: u32,
	/// The last block the agent may spend in; `null`: none.
	pub expiry: Option<BlockNumber>,
	/// The agent pays its controller's transaction fees.
	pub pays_fees: bool,
	/// Bumped on every policy change, freeze and unfreeze.
	pub policy_version: u32,
	/// Frozen by the owner.
	pub frozen: bool,
	/// Past its expiry.
	pub expired: bool,
	/// The first block of the current period.
	pub period_start: BlockNumber,
	/// The first block of the next period.
	pub next_period_start: BlockNumber,
	/// Spent in the current period.
	pub spent: String,
	/// What may still be spent in the current period.
	pub remaining: String,
	/// The agent's free balance.
	pub balance: String,
	/// Payments waiting for cosigners.
	pub pending: Vec<PendingAnswer>,
	/// The id the next proposal takes, and the nonce of the next payment the controller
	/// signs (`agentWallet.paySigned`).
	pub next_payment_id: u32,
}

impl From<AgentStatus<AccountId, Balance, BlockNumber, Hash>> for AgentAnswer {
	fn from(s: AgentStatus<AccountId, Balance, BlockNumber, Hash>) -> Self {
		Self {
			owner: s.owner,
			controller: s.controller,
			config_hash: s.config_hash,
			index: s.index,
			per_payment_cap: s.per_payment_cap.to_string(),
			period_cap: s.period_cap.to_string(),
			period_length: s.period_length,
			payees: s.payees,
			cosign_threshold: s.cosign_threshold.to_string(),
			cosigners: s.cosigners,
			approvals_needed: s.approvals_needed,
			expiry: s.expiry,
			pays_fees: s.pays_fees,
			policy_version: s.policy_version,
			frozen: s.frozen,
			expired: s.expired,
			period_start: s.period_start,
			next_period_start: s.next_period_start,
			spent: s.spent.to_string(),
			remaining: s.remaining.to_string(),
			balance: s.balance.to_string(),
			pending: s.pending.into_iter().map(Into::into).collect(),
			next_payment_id: s.next_payment_id,
		}
	}
}

/// The `agentWallet_*` methods.
#[rpc(server)]
pub trait AgentWalletRpc {
	/// The keyless address of the agent `owner` creates with `config_hash` and `index`;
	/// without `index`, the owner's next agent (what `createAgent` would create now).
	#[method(name = "agentWallet_address")]
	fn address(
		&self,
		owner: AccountId,
		config_hash: Hash,
		index: Option<u32>,
		at: Option<Hash>,
	) -> RpcResult<AccountId>;

	/// An agent's owner, controller, policy, spending in the current period and pending
	/// payments; `null` if there is no agent at that address.
	#[method(name = "agentWallet_agent")]
	fn agent(&self, agent: AccountId, at: Option<Hash>) -> RpcResult<Option<AgentAnswer>>;
}

/// Serves the `agentWallet_*` methods from the client's runtime API.
pub struct AgentWallet<C> {
	client: Arc<C>,
}

impl<C> AgentWallet<C> {
	/// Serves from `client`.
	pub fn new(client: Arc<C>) -> Self {
		Self { client }
	}
}

impl<C> AgentWalletRpcServer for AgentWallet<C>
where
	C: ProvideRuntimeApi<Block> + HeaderBackend<Block> + Send + Sync + 'static,
	C::Api: AgentWalletApi<Block, AccountId, Balance, BlockNumber, Hash>,
{
	fn address(
		&self,
		owner: AccountId,
		config_hash: Hash,
		index: Option<u32>,
		at: Option<Hash>,
	) -> RpcResult<AccountId> {
		let at = at.unwrap_or_else(|| self.client.info().best_hash);
		self.client.runtime_api().address(at, owner, config_hash, index).map_err(runtime_error)
	}

	fn agent(&self, agent: AccountId, at: Option<Hash>) -> RpcResult<Option<AgentAnswer>> {
		let at = at.unwrap_or_else(|| self.client.info().best_hash);
		let status = self.client.runtime_api().agent(at, agent).map_err(runtime_error)?;
		Ok(status.map(Into::into))
	}
}
