//! Records the pallet stores and exchanges, and their `*Of<T>` aliases.

use crate::{Config, ModelId, SignedVoucher, Tier, UsageEntry, Voucher};
use codec::{Decode, DecodeWithMemTracking, Encode, MaxEncodedLen};
use frame_support::{pallet_prelude::BoundedVec, traits::fungible::Inspect};
use frame_system::pallet_prelude::BlockNumberFor;
use scale_info::TypeInfo;
use sp_runtime::{FixedU128, Perbill};

/// The balance type of the currency credits are held in.
pub type BalanceOf<T> =
	<<T as Config>::Currency as Inspect<<T as frame_system::Config>::AccountId>>::Balance;
/// An account id of the runtime.
pub type AccountIdOf<T> = <T as frame_system::Config>::AccountId;
/// A provider's registered metadata.
pub type ProviderOf<T> = Provider<
	BalanceOf<T>,
	<T as Config>::MaxNameLen,
	<T as Config>::MaxEndpointLen,
	<T as Config>::MaxModelsPerProvider,
>;
/// A registered model.
pub type ModelOf<T> = Model<
	AccountIdOf<T>,
	BalanceOf<T>,
	BlockNumberFor<T>,
	<T as Config>::ModelConsideration,
	<T as Config>::MaxNameLen,
>;
/// A price increase waiting for its notice period.
pub type PendingPriceOf<T> = PendingPrice<BalanceOf<T>, BlockNumberFor<T>>;
/// A withdrawal of credits waiting for its notice period.
pub type PendingWithdrawalOf<T> = PendingWithdrawal<BalanceOf<T>, BlockNumberFor<T>>;
/// A spending allowance an owner gave a delegate.
pub type DelegationOf<T> =
	Delegation<BalanceOf<T>, BlockNumberFor<T>, <T as Config>::DelegationConsideration>;
/// The payload a user signs.
pub type VoucherOf<T> =
	Voucher<<T as frame_system::Config>::Hash, AccountIdOf<T>, BalanceOf<T>, BlockNumberFor<T>>;
/// A (user, provider) voucher ledger of the runtime.
pub type VoucherLedgerOf<T> = VoucherLedger<BalanceOf<T>>;
/// A voucher with its signature.
pub type SignedVoucherOf<T> = SignedVoucher<
	<T as frame_system::Config>::Hash,
	AccountIdOf<T>,
	BalanceOf<T>,
	BlockNumberFor<T>,
	<T as Config>::OffchainSignature,
>;
/// One settlement entry.
pub type UsageEntryOf<T> = UsageEntry<
	<T as frame_system::Config>::Hash,
	AccountIdOf<T>,
	BalanceOf<T>,
	BlockNumberFor<T>,
	<T as Config>::OffchainSignature,
>;
/// A bounded list of settlement entries.
pub type UsageEntriesOf<T> = BoundedVec<UsageEntryOf<T>, <T as Config>::MaxEntriesPerSettlement>;
/// A bounded name.
pub type NameOf<T> = BoundedVec<u8, <T as Config>::MaxNameLen>;
/// A bounded endpoint URL.
pub type EndpointOf<T> = BoundedVec<u8, <T as Config>::MaxEndpointLen>;

/// Who may use a model: defined with the gateway's view of the chain in
/// [`tokenmeter_primitives::gateway`], so that a gateway reads the same type.
pub use tokenmeter_primitives::AccessRule;

/// A provider: who lists models and is paid for serving them.
#[derive(Encode, Decode, MaxEncodedLen, TypeInfo, Clone, PartialEq, Eq, Debug)]
#[scale_info(skip_type_params(MaxName, MaxEndpoint, MaxModels))]
#[codec(mel_bound(Balance: MaxEncodedLen))]
pub struct Provider<
	Balance,
	MaxName: frame_support::traits::Get<u32>,
	MaxEndpoint: frame_support::traits::Get<u32>,
	MaxModels: frame_support::traits::Get<u32>,
> {
	/// Display name.
	pub name: BoundedVec<u8, MaxName>,
	/// Where its inference gateway is reached.
	pub endpoint: BoundedVec<u8, MaxEndpoint>,
	/// The bond held while registered.
	pub bond: Balance,
	/// Every model it registered, retired ones included (they are removed when the provider
	/// retires).
	pub models: BoundedVec<ModelId, MaxModels>,
}

/// A model a provider serves.
#[derive(Encode, Decode, MaxEncodedLen, TypeInfo, Clone, PartialEq, Eq, Debug)]
#[scale_info(skip_type_params(MaxName))]
#[codec(mel_bound(
	AccountId: MaxEncodedLen,
	Balance: MaxEncodedLen,
	BlockNumber: MaxEncodedLen,
	Ticket: MaxEncodedLen
))]
pub struct Model<AccountId, Balance, BlockNumber, Ticket, MaxName: frame_support::traits::Get<u32>>
{
	/// The provider that serves it and is paid for it.
	pub provider: AccountId,
	/// Display name.
	pub name: BoundedVec<u8, MaxName>,
	/// Price of 1,000 input tokens, in the smallest unit, until `pending_price` takes effect.
	pub price_per_1k_input: Balance,
	/// Price of 1,000 output tokens, in the smallest unit, until `pending_price` takes effect.
	pub price_per_1k_output: Balance,
	/// Who may use it.
	pub access: AccessRule<Balance>,
	/// A retired model can no longer be used or settled.
	pub retired: bool,
	/// The storage deposit of this record, held from the provider.
	pub deposit: Ticket,
	/// A price increase announced by the provider, in force from its `effective_from` block.
	pub pending_price: Option<PendingPrice<Balance, BlockNumber>>,
}

impl<
		AccountId,
		Balance: Copy,
		BlockNumber: PartialOrd,
		Ticket,
		MaxName: frame_support::traits::Get<u32>,
	> Model<AccountId, Balance, BlockNumber, Ticket, MaxName>
{
	/// The prices (per 1,000 input tokens, per 1,000 output tokens) in force at block `now`.
	pub fn prices_at(&self, now: &BlockNumber) -> (Balance, Balance) {
		match &self.pending_price {
			Some(pending) if &pending.effective_from <= now => {
				(pending.price_per_1k_input, pending.price_per_1k_output)
			}
			_ => (self.price_per_1k_input, self.price_per_1k_output),
		}
	}
}

/// New prices announced by a provider that take effect at `effective_from`.
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
pub struct PendingPrice<Balance, BlockNumber> {
	/// Price of 1,000 input tokens from `effective_from` on.
	pub price_per_1k_input: Balance,
	/// Price of 1,000 output tokens from `effective_from` on.
	pub price_per_1k_output: Balance,
	/// The first block in which these prices apply.
	pub effective_from: BlockNumber,
}

/// Credits a user asked to withdraw: they stay held, and settlement may still charge them,
/// until `unlock_at`; then the user may withdraw up to `amount` of what is left.
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
pub struct PendingWithdrawal<Balance, BlockNumber> {
	/// The most that may be withdrawn.
	pub amount: Balance,
	/// The first block in which it may be withdrawn.
	pub unlock_at: BlockNumber,
}

/// An allowance: the delegate may spend up to `remaining` of the owner's credits until
/// `expiry` (inclusive).
#[derive(Encode, Decode, MaxEncodedLen, TypeInfo, Clone, PartialEq, Eq, Debug)]
pub struct Delegation<Balance, BlockNumber, Ticket> {
	/// What the delegate may still spend.
	pub remaining: Balance,
	/// The last block in which the allowance may be used.
	pub expiry: BlockNumber,
	/// The storage deposit of this record, held from the owner.
	pub deposit: Ticket,
}

/// How much has been settled for a (user, provider) pair, the highest voucher cap seen, and
/// the voucher last accepted.
#[derive(Encode, Decode, MaxEncodedLen, TypeInfo, Clone, Copy, PartialEq, Eq, Debug, Default)]
pub struct VoucherLedger<Balance> {
	/// Everything ever settled for the pair.
	pub settled: Balance,
	/// The highest cap of a voucher that was settled against.
	pub cap: Balance,
	/// The voucher last settled against: an entry carrying it again is not checked again, and
	/// a new one is checked first in the form this one was signed in.
	pub accepted: Option<AcceptedVoucher>,
}

/// What the chain remembers of the voucher it last accepted for a ledger.
#[derive(Encode, Decode, MaxEncodedLen, TypeInfo, Clone, Copy, PartialEq, Eq, Debug)]
pub struct AcceptedVoucher {
	/// `SignedVoucher::accepted_digest`: the signed voucher and the account whose signature it
	/// carried.
	pub digest: [u8; 32],
	/// Whether it was signed in the wallet-wrapped form (`<Bytes>…</Bytes>`).
	pub wrapped: bool,
}

/// Why an entry, or every entry of a user in a settlement, settled nothing.
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
	PartialOrd,
	Ord,
	Debug,
)]
pub enum RejectReason {
	/// No such model.
	UnknownModel,
	/// The model is retired.
	ModelRetired,
	/// The model belongs to another provider.
	ModelOfAnotherProvider,
	/// The voucher names another chain.
	WrongChain,
	/// The voucher names another provider.
	WrongProvider,
	/// The voucher expired.
	VoucherExpired,
	/// The signature does not match the user (or, for an agent wallet, its controller).
	BadSignature,
	/// The owner gave the user no allowance.
	NoDelegation,
	/// The allowance expired.
	DelegationExpired,
	/// Nobody may sign for this user now, or the payer may not pay this provider now: a
	/// frozen or expired agent wallet, or a provider the agent may not pay.
	SignerNotAllowed,
	/// The voucher names another user than the entry it came with.
	VoucherForAnotherUser,
	/// The usage was served longer ago than `MaxUsageLateness` allows.
	ServedTooLongAgo,
}

/// Why a user may not use a model right now.
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
pub enum AccessDenied<Balance> {
	/// No such model.
	UnknownModel,
	/// The model is retired.
	ModelRetired,
	/// The user owns less TMT than the model's gate.
	BalanceBelowGate {
		/// What the gate asks for.
		required: Balance,
		/// What the user owns.
		held: Balance,
	},
	/// The user's priority tier is below the model's gate.
	TierBelowGate {
		/// What the gate asks for.
		required: Tier,
		/// The user's tier.
		tier: Tier,
	},
	/// The estimated cost exceeds the user's credits and free allowance together.
	NotEnoughCredit {
		/// Estimated cost of the request.
		required: Balance,
		/// Credits and free allowance available.
		available: Balance,
	},
}

/// The answer to "may this user call this model with about this many tokens?".
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
pub struct AccessReport<Balance> {
	/// Whether the request may go ahead.
	pub allowed: bool,
	/// Why not, when it may not.
	pub denied: Option<AccessDenied<Balance>>,
	/// The user's deposited credits not yet spent and not under a withdrawal notice.
	pub available_credit: Balance,
	/// What is left of the user's free staking allowance this epoch; it pays before credits.
	pub free_allowance: Balance,
	/// The estimated cost of the request, if the model exists.
	pub estimated_cost: Option<Balance>,
	/// What the newest voucher settled with this model's provider still allows
	/// (`cap − settled`); zero when none was settled yet, in which case the gateway needs a
	/// voucher first.
	pub voucher_headroom: Balance,
	/// The user's priority tier (0: none).
	pub tier: Tier,
}

/// What a request costs at a model's prices.
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
pub struct Quote<Balance, BlockNumber> {
	/// The cost at the prices in force now.
	pub cost: Balance,
	/// The cost after an announced price increase, and when it applies.
	pub pending: Option<PendingQuote<Balance, BlockNumber>>,
	/// The prices in force now (per 1,000 input and output tokens): the listed prices, times
	/// the multiplier for a dynamically priced model.
	pub price_per_1k_input: Balance,
	/// See `price_per_1k_input`.
	pub price_per_1k_output: Balance,
	/// For a dynamically priced model: its multiplier and the next epoch's bounds.
	pub dynamic: Option<DynamicQuote<Balance, BlockNumber>>,
}

/// The cost of a request after an announced price increase.
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
pub struct PendingQuote<Balance, BlockNumber> {
	/// The cost at the new prices.
	pub cost: Balance,
	/// The first block in which the new prices apply.
	pub effective_from: BlockNumber,
}

/// How a provider lets a model's price follow demand ([`crate::Pallet::set_dynamic_pricing`]).
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
pub struct PricingConfig {
	/// Tokens (input and output) the model can serve per pricing epoch: the capacity the
	/// utilisation is measured against.
	pub capacity: u64,
	/// The utilisation the price steers toward: above it the price rises, below it falls.
	/// Strictly between 0% and 100%.
	pub target: Perbill,
	/// The lowest multiplier of the listed prices: one keeps the listed price as a floor, less
	/// lets an idle model get cheaper. More than zero, at most one.
	pub min_multiplier: FixedU128,
	/// The highest multiplier of the listed prices. At least one, at most
	/// [`crate::Config::MaxMultiplier`].
	pub max_multiplier: FixedU128,
}

/// A model's dynamic price: its provider's settings, the multiplier in force and the usage
/// counted toward the next one. At most one per model, paid for by a deposit of its own.
#[derive(Encode, Decode, MaxEncodedLen, TypeInfo, Clone, PartialEq, Eq, Debug)]
pub struct DynamicPrice<BlockNumber, Ticket> {
	/// The provider's settings.
	pub config: PricingConfig,
	/// The multiplier of the listed prices in `epoch`.
	pub multiplier: FixedU128,
	/// The pricing epoch `multiplier` and `tokens` are of.
	pub epoch: u32,
	/// Tokens settled for the model so far in `epoch`.
	pub tokens: u64,
	/// When the provider opted out with the multiplier below one: the block from which the
	/// listed prices apply again (after [`crate::Config::PriceIncreaseNotice`], as for a price
	/// increase).
	pub until: Option<BlockNumber>,
	/// The record's storage deposit, held from the provider.
	pub deposit: Ticket,
}

/// A model's dynamic price state in storage.
pub type DynamicPriceOf<T> = DynamicPrice<BlockNumberFor<T>, <T as Config>::ModelConsideration>;

/// What a dynamically priced model costs now and what it may cost next epoch.
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
pub struct DynamicQuote<Balance, BlockNumber> {
	/// The multiplier of the listed prices in force.
	pub multiplier: FixedU128,
	/// The utilisation so far in this epoch (tokens settled over capacity).
	pub utilisation: FixedU128,
	/// The first block of the next epoch.
	pub next_epoch_from: BlockNumber,
	/// The least the request can cost in the next epoch (one step down, within the bounds).
	pub next_min_cost: Balance,
	/// The most the request can cost in the next epoch (one step up, within the bounds).
	pub next_max_cost: Balance,
}
