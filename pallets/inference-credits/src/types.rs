//! Records the pallet stores and exchanges, and their `*Of<T>` aliases.

use crate::{Config, Tier};
use codec::{Decode, DecodeWithMemTracking, Encode, MaxEncodedLen};
use frame_support::{pallet_prelude::BoundedVec, traits::fungible::Inspect};
use frame_system::pallet_prelude::BlockNumberFor;
use scale_info::TypeInfo;

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
	<T as Config>::ModelConsideration,
	<T as Config>::MaxNameLen,
>;
/// A spending allowance an owner gave a delegate.
pub type DelegationOf<T> =
	Delegation<BalanceOf<T>, BlockNumberFor<T>, <T as Config>::DelegationConsideration>;
/// The payload a user signs.
pub type VoucherOf<T> =
	Voucher<<T as frame_system::Config>::Hash, AccountIdOf<T>, BalanceOf<T>, BlockNumberFor<T>>;
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

/// Identifies a model. Ids are assigned in order and never reused.
pub type ModelId = u32;

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
#[codec(mel_bound(AccountId: MaxEncodedLen, Balance: MaxEncodedLen, Ticket: MaxEncodedLen))]
pub struct Model<AccountId, Balance, Ticket, MaxName: frame_support::traits::Get<u32>> {
	/// The provider that serves it and is paid for it.
	pub provider: AccountId,
	/// Display name.
	pub name: BoundedVec<u8, MaxName>,
	/// Price of 1,000 input tokens, in the smallest unit.
	pub price_per_1k_input: Balance,
	/// Price of 1,000 output tokens, in the smallest unit.
	pub price_per_1k_output: Balance,
	/// Who may use it.
	pub access: AccessRule<Balance>,
	/// A retired model can no longer be used or settled.
	pub retired: bool,
	/// The storage deposit of this record, held from the provider.
	pub deposit: Ticket,
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

/// What a user signs off-chain to let a provider charge their credits. Vouchers are
/// cumulative: `cap` bounds everything ever settled for this (user, provider) pair, so a newer
/// voucher with a higher cap supersedes older ones and replaying an old one gains nothing.
///
/// The signed message is the SCALE encoding of this struct, i.e. of the tuple
/// `(genesis_hash, provider, cap, expiry)`.
#[derive(
	Encode, Decode, DecodeWithMemTracking, MaxEncodedLen, TypeInfo, Clone, PartialEq, Eq, Debug,
)]
pub struct Voucher<Hash, AccountId, Balance, BlockNumber> {
	/// The genesis hash of the chain the voucher is valid on.
	pub genesis_hash: Hash,
	/// The only provider that may settle against it.
	pub provider: AccountId,
	/// The most that may ever be settled for this (user, provider) pair.
	pub cap: Balance,
	/// The last block at which it may be settled.
	pub expiry: BlockNumber,
}

/// A voucher with the user's signature over its SCALE encoding.
#[derive(
	Encode, Decode, DecodeWithMemTracking, MaxEncodedLen, TypeInfo, Clone, PartialEq, Eq, Debug,
)]
pub struct SignedVoucher<Hash, AccountId, Balance, BlockNumber, Signature> {
	/// What was signed.
	pub voucher: Voucher<Hash, AccountId, Balance, BlockNumber>,
	/// The signature of the user (sr25519, ed25519 or ecdsa via `MultiSignature`).
	pub signature: Signature,
}

/// One record of served usage, as the provider's operator reports it.
#[derive(
	Encode, Decode, DecodeWithMemTracking, MaxEncodedLen, TypeInfo, Clone, PartialEq, Eq, Debug,
)]
pub struct UsageEntry<Hash, AccountId, Balance, BlockNumber, Signature> {
	/// Who made the request and signed the voucher.
	pub user: AccountId,
	/// When the user spends a delegated allowance: the owner whose credits pay.
	pub on_behalf_of: Option<AccountId>,
	/// The model used.
	pub model: ModelId,
	/// Input tokens served.
	pub input_tokens: u32,
	/// Output tokens served.
	pub output_tokens: u32,
	/// The user's latest voucher for this provider.
	pub voucher: SignedVoucher<Hash, AccountId, Balance, BlockNumber, Signature>,
}

/// How much has been settled for a (user, provider) pair, and the highest voucher cap seen.
#[derive(Encode, Decode, MaxEncodedLen, TypeInfo, Clone, Copy, PartialEq, Eq, Debug, Default)]
pub struct VoucherLedger<Balance> {
	/// Everything ever settled for the pair.
	pub settled: Balance,
	/// The highest cap of a voucher that was settled against.
	pub cap: Balance,
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
	/// Nobody may sign for this user now: a frozen or expired agent wallet, or a provider
	/// the agent may not pay.
	SignerNotAllowed,
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
	/// The user's deposited credits not yet spent.
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
