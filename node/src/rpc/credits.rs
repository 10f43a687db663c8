//! `credits_*` JSON-RPC methods: what a gateway or wallet asks of the inference credits
//! pallet, answered by its runtime API at the best block (or the block given).
//!
//! Balances are decimal strings: they are 128-bit numbers, more than a JSON number holds.

use std::sync::Arc;

use super::runtime_error;
use jsonrpsee::{core::RpcResult, proc_macros::rpc};
use pallet_inference_credits::{
	runtime_api::InferenceCreditsApi, AccessDenied, AccessReport, ModelId, Quote,
};
use serde::Serialize;
use sp_api::ProvideRuntimeApi;
use sp_blockchain::HeaderBackend;
use tokenmeter_runtime::{opaque::Block, AccountId, Balance, BlockNumber, Hash};

/// The answer of `credits_quote`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct QuoteAnswer {
	/// The cost at the prices in force now.
	pub cost: String,
	/// The cost after an announced price increase, if one is pending.
	pub pending_cost: Option<String>,
	/// The first block in which the pending prices apply.
	pub effective_from: Option<BlockNumber>,
	/// The price of 1,000 input tokens in force now (listed, times the multiplier of a
	/// dynamically priced model).
	pub price_per_1k_input: String,
	/// The price of 1,000 output tokens in force now.
	pub price_per_1k_output: String,
	/// For a dynamically priced model: the multiplier and the next epoch's bounds.
	pub dynamic: Option<DynamicAnswer>,
}

/// The dynamic part of `credits_quote`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DynamicAnswer {
	/// The multiplier of the listed prices in force, as a decimal (e.g. `"1.125"`).
	pub multiplier: String,
	/// Tokens settled for the model so far this epoch over its capacity, as a decimal.
	pub utilisation: String,
	/// The first block of the next pricing epoch.
	pub next_epoch_from: BlockNumber,
	/// The least the request can cost in the next epoch.
	pub next_min_cost: String,
	/// The most the request can cost in the next epoch.
	pub next_max_cost: String,
}

/// A fixed-point number as a decimal string with up to 18 places, trailing zeros dropped.
fn decimal(value: sp_runtime::FixedU128) -> String {
	tokenmeter_primitives::gateway::decimal(value.into_inner())
}

impl From<Quote<Balance, BlockNumber>> for QuoteAnswer {
	fn from(quote: Quote<Balance, BlockNumber>) -> Self {
		QuoteAnswer {
			cost: quote.cost.to_string(),
			pending_cost: quote.pending.map(|p| p.cost.to_string()),
			effective_from: quote.pending.map(|p| p.effective_from),
			price_per_1k_input: quote.price_per_1k_input.to_string(),
			price_per_1k_output: quote.price_per_1k_output.to_string(),
			dynamic: quote.dynamic.map(|d| DynamicAnswer {
				multiplier: decimal(d.multiplier),
				utilisation: decimal(d.utilisation),
				next_epoch_from: d.next_epoch_from,
				next_min_cost: d.next_min_cost.to_string(),
				next_max_cost: d.next_max_cost.to_string(),
			}),
		}
	}
}

/// The answer of `credits_canAccess`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AccessAnswer {
	/// Whether the request may go ahead.
	pub allowed: bool,
	/// Why not: `unknownModel`, `modelRetired`, `balanceBelowGate`, `tierBelowGate` or
	/// `notEnoughCredit`.
	pub reason: Option<&'static str>,
	/// What the failed gate asks for (a balance, a tier or a cost).
	pub required: Option<String>,
	/// What the user has against it.
	pub actual: Option<String>,
	/// The user's unspent credits.
	pub available_credit: String,
	/// What is left of the user's free staking allowance this epoch (paid before credits).
	pub free_allowance: String,
	/// The estimated cost of the request, if the model exists.
	pub estimated_cost: Option<String>,
	/// `cap − settled` of the newest voucher settled with the model's provider.
	pub voucher_headroom: String,
	/// The user's priority tier.
	pub tier: u8,
}

impl From<AccessReport<Balance>> for AccessAnswer {
	fn from(report: AccessReport<Balance>) -> Self {
		let (reason, required, actual) = match report.denied {
			None => (None, None, None),
			Some(AccessDenied::UnknownModel) => (Some("unknownModel"), None, None),
			Some(AccessDenied::ModelRetired) => (Some("modelRetired"), None, None),
			Some(AccessDenied::BalanceBelowGate { required, held }) => {
				(Some("balanceBelowGate"), Some(required.to_string()), Some(held.to_string()))
			}
			Some(AccessDenied::TierBelowGate { required, tier }) => {
				(Some("tierBelowGate"), Some(required.to_string()), Some(tier.to_string()))
			}
			Some(AccessDenied::NotEnoughCredit { required, available }) => {
				(Some("notEnoughCredit"), Some(required.to_string()), Some(available.to_string()))
			}
		};
		AccessAnswer {
			allowed: report.allowed,
			reason,
			required,
			actual,
			available_credit: report.available_credit.to_string(),
			free_allowance: report.free_allowance.to_string(),
			estimated_cost: report.estimated_cost.map(|c| c.to_string()),
			voucher_headroom: report.voucher_headroom.to_string(),
			tier: report.tier,
		}
	}
}

/// The `credits_*` methods.
#[rpc(server)]
pub trait CreditsApi {
	/// Whether `user` may call `model` with about this many tokens, or why not.
	#[method(name = "credits_canAccess")]
	fn can_access(
		&self,
		user: AccountId,
		model: ModelId,
		estimated_input: u32,
		estimated_output: u32,
		at: Option<Hash>,
	) -> RpcResult<AccessAnswer>;

	/// The cost of `input` and `output` tokens of `model` now, and after an announced price
	/// increase; `null` for an unknown or retired model.
	#[method(name = "credits_quote")]
	fn quote(
		&self,
		model: ModelId,
		input: u32,
		output: u32,
		at: Option<Hash>,
	) -> RpcResult<Option<QuoteAnswer>>;

	/// The credits of `user` that may pay for new usage (unspent, not under a withdrawal
	/// notice).
	#[method(name = "credits_balance")]
	fn balance(&self, user: AccountId, at: Option<Hash>) -> RpcResult<String>;
}

/// Serves the `credits_*` methods from the client's runtime API.
pub struct Credits<C> {
	client: Arc<C>,
}

impl<C> Credits<C> {
	/// Serves from `client`.
	pub fn new(client: Arc<C>) -> Self {
		Self { client }
	}
}

impl<C> CreditsApiServer for Credits<C>
where
	C: ProvideRuntimeApi<Block> + HeaderBackend<Block> + Send + Sync + 'static,
	C::Api: InferenceCreditsApi<Block, AccountId, Balance, BlockNumber>,
{
	fn can_access(
		&self,
		user: AccountId,
		model: ModelId,
		estimated_input: u32,
		estimated_output: u32,
		at: Option<Hash>,
	) -> RpcResult<AccessAnswer> {
		let at = at.unwrap_or_else(|| self.client.info().best_hash);
		let report = self
			.client
			.runtime_api()
			.can_access(at, user, model, estimated_input, estimated_output)
			.map_err(runtime_error)?;
		Ok(report.into())
	}

	fn quote(
		&self,
		model: ModelId,
		input: u32,
		output: u32,
		at: Option<Hash>,
	) -> RpcResult<Option<QuoteAnswer>> {
		let at = at.unwrap_or_else(|| self.client.info().best_hash);
		let quote =
			self.client.runtime_api().quote(at, model, input, output).map_err(runtime_error)?;
		Ok(quote.map(QuoteAnswer::from))
	}

	fn balance(&self, user: AccountId, at: Option<Hash>) -> RpcResult<String> {
		let at = at.unwrap_or_else(|| self.client.info().best_hash);
		let balance = self.client.runtime_api().credit_balance(at, user).map_err(runtime_error)?;
		Ok(balance.to_string())
	}
}
