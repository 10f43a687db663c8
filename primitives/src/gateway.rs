//! The chain as a gateway reads it: one runtime API ([`GatewayApi`]) that answers, per call,
//! everything the gateway needs of a provider's models, of a user, of a delegation or of the
//! attested feed — computed by the pallets' own code, so that a gateway never copies a
//! storage layout. A gateway calls it with `state_call("GatewayApi_<method>", args)` and
//! decodes the answer with these types.

use alloc::{string::String, vec::Vec};
use codec::{Codec, Decode, DecodeWithMemTracking, Encode, MaxEncodedLen};
use scale_info::TypeInfo;

use crate::{ModelId, Tier};

/// Who may use a model.
#[derive(
	Encode,
	Decode,
	DecodeWithMemTracking,
	MaxEncodedLen,
	TypeInfo,
	Clone,
	Copy,
	PartialEq,
	Eq,
	Debug,
)]
pub enum AccessRule<Balance> {
	/// Anyone with credit.
	Open,
	/// The user must own at least this much TMT (free, held and frozen all count).
	MinBalance(Balance),
	/// The user must have at least this priority-staking tier.
	MinTier(Tier),
	/// Both: at least this much TMT and at least this tier.
	MinBalanceAndTier(Balance, Tier),
}

/// How a dynamically priced model's prices were made at a block.
#[derive(Encode, Decode, TypeInfo, Clone, PartialEq, Eq, Debug)]
pub struct DynamicPricing<Balance, BlockNumber> {
	/// The multiplier of the listed prices in force, as `FixedU128`'s inner value
	/// (10¹⁸ is 1); [`decimal`] writes it as a decimal.
	pub multiplier: u128,
	/// The utilisation so far this epoch, as `FixedU128`'s inner value.
	pub utilisation: u128,
	/// The first block of the next epoch.
	pub next_epoch_from: BlockNumber,
	/// The lowest prices per 1,000 input and output tokens the next epoch can have.
	pub next_min: (Balance, Balance),
	/// The highest prices per 1,000 input and output tokens the next epoch can have.
	pub next_max: (Balance, Balance),
}

/// A model a provider serves, as a gateway shows and bills it.
#[derive(Encode, Decode, TypeInfo, Clone, PartialEq, Eq, Debug)]
pub struct ModelView<Balance, BlockNumber> {
	/// Its id.
	pub id: ModelId,
	/// Its name (UTF-8 as registered).
	pub name: Vec<u8>,
	/// The prices per 1,000 input and output tokens the chain settles at in this block
	/// (listed, or an announced price once in force, times the multiplier of a dynamically
	/// priced model).
	pub prices: (Balance, Balance),
	/// The listed prices in force (before any multiplier).
	pub listed: (Balance, Balance),
	/// A price change announced and not yet in force: prices and first block.
	pub pending: Option<(Balance, Balance, BlockNumber)>,
	/// Who may use it.
	pub access: AccessRule<Balance>,
	/// For a dynamically priced model: how `prices` were made.
	pub dynamic: Option<DynamicPricing<Balance, BlockNumber>>,
}

/// Why a model's gate turns a user away (credit is the gateway's to check).
#[derive(Encode, Decode, TypeInfo, Clone, PartialEq, Eq, Debug)]
pub enum GateRefusal<Balance> {
	/// No such model.
	UnknownModel,
	/// The model is retired.
	ModelRetired,
	/// The user owns less TMT than the gate asks for.
	BalanceBelowGate {
		/// What the gate asks for.
		required: Balance,
		/// What the user owns.
		held: Balance,
	},
	/// The user's tier is below the gate's.
	TierBelowGate {
		/// What the gate asks for.
		required: Tier,
		/// The user's tier.
		tier: Tier,
	},
}

/// Everything a gateway needs to admit `user`'s requests for a model of a provider.
#[derive(Encode, Decode, TypeInfo, Clone, PartialEq, Eq, Debug)]
pub struct UserView<AccountId, Balance> {
	/// `None` when the model's gate lets the user in; else why not.
	pub refused: Option<GateRefusal<Balance>>,
	/// The user's credits that may pay for new usage (unspent, not under a withdrawal
	/// notice).
	pub available_credit: Balance,
	/// What is left of the user's free staking allowance this epoch.
	pub free_allowance: Balance,
	/// The user's priority tier (0: none).
	pub tier: Tier,
	/// What the user's voucher ledger with the provider has settled so far.
	pub settled: Balance,
	/// The highest cap settled against with the provider.
	pub cap: Balance,
	/// Who signs the user's vouchers for the provider now: the user, an agent wallet's
	/// controller, or nobody (a frozen or expired agent, or one that may not pay the
	/// provider).
	pub signer: Option<AccountId>,
	/// The tier's share of the model server when requests queue (0 without a tier).
	pub priority_weight: u32,
	/// The tier's requests per minute.
	pub rate_limit: u32,
}

/// What a delegate may still spend of an owner's credits.
#[derive(Encode, Decode, TypeInfo, Clone, Copy, PartialEq, Eq, Debug, Default)]
pub struct DelegationView<Balance, BlockNumber> {
	/// The allowance left.
	pub remaining: Balance,
	/// The last block in which it may be settled.
	pub expiry: BlockNumber,
}

sp_api::decl_runtime_apis! {
	/// What a gateway reads of the chain: one call per question.
	pub trait GatewayApi<AccountId, Balance, BlockNumber>
	where
		AccountId: Codec,
		Balance: Codec,
		BlockNumber: Codec,
	{
		/// The active models of `provider` with the prices in force in this block.
		fn provider_models(provider: AccountId) -> Vec<ModelView<Balance, BlockNumber>>;

		/// What `user` may do with `model` of `provider` in this block.
		fn user_view(user: AccountId, provider: AccountId, model: ModelId) -> UserView<AccountId, Balance>;

		/// The allowance `owner` gave `delegate`, if any.
		fn delegation(owner: AccountId, delegate: AccountId) -> Option<DelegationView<Balance, BlockNumber>>;

		/// The last feed record of `provider` that the chain has attested (0: none).
		fn last_seq(provider: AccountId) -> u64;
	}
}

/// A `FixedU128` inner value (10¹⁸ is 1) as a decimal without trailing zeros: `"1.125"`.
pub fn decimal(inner: u128) -> String {
	const UNIT: u128 = 1_000_000_000_000_000_000;
	let whole = inner.checked_div(UNIT).unwrap_or_default();
	let fraction = alloc::format!("{:018}", inner.checked_rem(UNIT).unwrap_or_default());
	let fraction = fraction.trim_end_matches('0');
	if fraction.is_empty() {
		alloc::format!("{whole}")
	} else {
		alloc::format!("{whole}.{fraction}")
	}
}

#[cfg(test)]
mod tests {
	use super::*;

	#[test]
	fn decimals_drop_trailing_zeros() {
		assert_eq!(decimal(1_000_000_000_000_000_000), "1");
		assert_eq!(decimal(1_125_000_000_000_000_000), "1.125");
		assert_eq!(decimal(1_078_125_000_000_000_000), "1.078125");
		assert_eq!(decimal(0), "0");
		assert_eq!(decimal(5), "0.000000000000000005");
	}
}
