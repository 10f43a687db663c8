#![doc = include_str!("../README.md")]
#![cfg_attr(not(feature = "std"), no_std)]
// Runtime code never panics and never overflows silently (tests and mocks are exempt):
// checked or saturating arithmetic, `get` instead of indexing, errors instead of unwraps.
#![cfg_attr(
	not(test),
	deny(
		clippy::arithmetic_side_effects,
		clippy::unwrap_used,
		clippy::expect_used,
		clippy::indexing_slicing
	)
)]
#![deny(missing_docs)]

extern crate alloc;

pub use pallet::*;
pub use tokenmeter_primitives::{
	FreeAllowance, ModelId, SettleUsage, SettlementSummary, SignedVoucher, Tier, TierInspect,
	UsageEntry, Voucher, VoucherSigners, VOUCHER_DOMAIN,
};
pub use types::*;
pub use views::ModelViewOf;
pub use weights::WeightInfo;

#[cfg(feature = "runtime-benchmarks")]
mod benchmarking;
mod impls;
pub mod migrations;
#[cfg(test)]
mod mock;
pub mod pricing;
pub mod runtime_api;
mod settlement;
#[cfg(test)]
mod tests;
mod types;
mod views;
pub mod weights;

/// Creates signers and signatures for the benchmarks, which cannot know the runtime's
/// signature scheme.
#[cfg(feature = "runtime-benchmarks")]
pub trait BenchmarkHelper<AccountId, Signature> {
	/// The account of the `index`-th benchmark signer.
	fn signer(index: u32) -> AccountId;
	/// The `index`-th signer's signature of `message`.
	fn sign(index: u32, message: &[u8]) -> Signature;
}

// FRAME's pallet macros expand to `expect`s with proofs (pallet names, storage prefixes,
// error encodings) under this module's spans; the pallet's own logic lives in `impls.rs`,
// where `expect` stays denied.
#[allow(clippy::expect_used)]
#[frame_support::pallet]
pub mod pallet {
	use super::*;
	use frame_support::{
		pallet_prelude::*,
		traits::{
			fungible::{Inspect, InspectHold, Mutate, MutateHold},
			Consideration, Footprint,
		},
	};
	use frame_system::pallet_prelude::*;
	use sp_runtime::{
		traits::{IdentifyAccount, Verify},
		FixedU128, Perbill,
	};

	/// The in-code storage version.
	const STORAGE_VERSION: StorageVersion = StorageVersion::new(3);

	#[pallet::pallet]
	#[pallet::storage_version(STORAGE_VERSION)]
	pub struct Pallet<T>(_);

	/// Configuration of the pallet.
	#[pallet::config]
	pub trait Config: frame_system::Config {
		/// The currency credits, bonds and deposits are held in.
		type Currency: Inspect<Self::AccountId>
			+ Mutate<Self::AccountId>
			+ InspectHold<Self::AccountId, Reason = Self::RuntimeHoldReason>
			+ MutateHold<Self::AccountId, Reason = Self::RuntimeHoldReason>;

		/// The runtime's hold reasons, which include this pallet's.
		type RuntimeHoldReason: From<HoldReason>;

		/// The storage deposit of a model record, taken from the provider.
		type ModelConsideration: Consideration<Self::AccountId, Footprint>
			+ Parameter
			+ MaxEncodedLen;

		/// The storage deposit of a delegation record, taken from the owner.
		type DelegationConsideration: Consideration<Self::AccountId, Footprint>
			+ Parameter
			+ MaxEncodedLen;

		/// The bond a provider holds while registered.
		#[pallet::constant]
		type ProviderBond: Get<BalanceOf<Self>>;

		/// The share of every settlement paid as the protocol fee, to the reward pool and the
		/// treasury.
		#[pallet::constant]
		type ProtocolFee: Get<Perbill>;

		/// The share of the protocol fee paid to the treasury; the rest goes to the reward pool.
		#[pallet::constant]
		type TreasuryShare: Get<Perbill>;

		/// The treasury account that receives its share of the protocol fee. Like the pool, it
		/// must exist, or shares smaller than the existential deposit go to the pool.
		#[pallet::constant]
		type Treasury: Get<Self::AccountId>;

		/// The reward pool account that receives the protocol fee. It must exist (hold at
		/// least the existential deposit), or fees smaller than that go to the provider.
		#[pallet::constant]
		type RewardPool: Get<Self::AccountId>;

		/// Where `MinTier` gates read a user's tier.
		type Tiers: TierInspect<Self::AccountId>;

		/// The free allowance that pays for a user's own usage before their credits do.
		type FreeAllowance: FreeAllowance<Self::AccountId, BalanceOf<Self>>;

		/// Who signs vouchers for an account: the account itself, or for a keyless agent
		/// wallet its controller (`()`: every account signs for itself).
		type VoucherSigners: VoucherSigners<Self::AccountId>;

		/// The signature of a voucher.
		type OffchainSignature: Verify<Signer = Self::SigningPublicKey> + Parameter + MaxEncodedLen;

		/// The public key that verifies a voucher signature and names the account.
		type SigningPublicKey: IdentifyAccount<AccountId = Self::AccountId>;

		/// Longest provider or model name, in bytes.
		#[pallet::constant]
		type MaxNameLen: Get<u32>;

		/// Longest provider endpoint URL, in bytes.
		#[pallet::constant]
		type MaxEndpointLen: Get<u32>;

		/// Most models a provider may register over its lifetime.
		#[pallet::constant]
		type MaxModelsPerProvider: Get<u32>;

		/// Most entries one settlement may carry.
		#[pallet::constant]
		type MaxEntriesPerSettlement: Get<u32>;

		/// Blocks between `request_withdrawal` and the first block in which the credits may
		/// be withdrawn. Settlement may still charge them meanwhile, so it must be longer than
		/// an attestation's worst-case delay.
		#[pallet::constant]
		type WithdrawalNotice: Get<BlockNumberFor<Self>>;

		/// Blocks between a provider's price increase and the first block in which it
		/// applies. Decreases apply at once.
		#[pallet::constant]
		type PriceIncreaseNotice: Get<BlockNumberFor<Self>>;

		/// How long after it was served usage may still be settled, in blocks. Usage is
		/// priced at what was in force when it was served (never above what is in force now),
		/// so attesting late gains a provider nothing; older usage is refused.
		#[pallet::constant]
		type MaxUsageLateness: Get<BlockNumberFor<Self>>;

		/// Blocks per pricing epoch: a dynamically priced model's multiplier changes at most
		/// once per epoch, from the utilisation of the epoch that ended.
		#[pallet::constant]
		type PricingEpoch: Get<BlockNumberFor<Self>>;

		/// The most a dynamic price multiplier moves per epoch, up or down (12.5%: the
		/// EIP-1559 base fee's step).
		#[pallet::constant]
		type MaxPriceStep: Get<Perbill>;

		/// The highest maximum multiplier a provider may set.
		#[pallet::constant]
		type MaxMultiplier: Get<u32>;

		/// Weights of the calls, from the benchmarks.
		type WeightInfo: WeightInfo;

		/// Signers for the benchmarks.
		#[cfg(feature = "runtime-benchmarks")]
		type BenchmarkHelper: BenchmarkHelper<Self::AccountId, Self::OffchainSignature>;
	}

	/// Why this pallet holds funds.
	#[pallet::composite_enum]
	pub enum HoldReason {
		/// A provider's bond.
		#[codec(index = 0)]
		ProviderBond,
		/// The storage deposit of a model.
		#[codec(index = 1)]
		ModelDeposit,
		/// The storage deposit of a delegation.
		#[codec(index = 2)]
		DelegationDeposit,
		/// Deposited inference credits.
		#[codec(index = 3)]
		Credits,
	}

	/// Registered providers.
	#[pallet::storage]
	pub type Providers<T: Config> = StorageMap<_, Blake2_128Concat, T::AccountId, ProviderOf<T>>;

	/// Registered models, retired ones included until their provider retires.
	#[pallet::storage]
	pub type Models<T: Config> = StorageMap<_, Twox64Concat, ModelId, ModelOf<T>>;

	/// The id the next model gets.
	#[pallet::storage]
	pub type NextModelId<T: Config> = StorageValue<_, ModelId, ValueQuery>;

	/// Each account's deposited, unspent credits. Always equal to what the account holds
	/// under [`HoldReason::Credits`].
	#[pallet::storage]
	pub type Credits<T: Config> =
		StorageMap<_, Blake2_128Concat, T::AccountId, BalanceOf<T>, ValueQuery>;

	/// Withdrawals under notice: the credits stay held (and settlement may charge them) until
	/// the notice ends. At most one per account; a new request replaces it.
	#[pallet::storage]
	pub type PendingWithdrawals<T: Config> =
		StorageMap<_, Blake2_128Concat, T::AccountId, PendingWithdrawalOf<T>>;

	/// Allowances: (owner, delegate) → what the delegate may still spend of the owner's
	/// credits, and until when.
	#[pallet::storage]
	pub type Delegations<T: Config> = StorageDoubleMap<
		_,
		Blake2_128Concat,
		T::AccountId,
		Blake2_128Concat,
		T::AccountId,
		DelegationOf<T>,
	>;

	/// (user, provider) → everything settled so far, the highest voucher cap seen and the
	/// voucher last accepted (a digest: it is not checked again). Kept forever: it is what
	/// makes replaying an old voucher worthless.
	#[pallet::storage]
	pub type VoucherLedgers<T: Config> = StorageDoubleMap<
		_,
		Blake2_128Concat,
		T::AccountId,
		Blake2_128Concat,
		T::AccountId,
		VoucherLedger<BalanceOf<T>>,
		ValueQuery,
	>;

	/// Models whose provider honours stakers' free allowances: usage of these models is paid
	/// out of the user's allowance first, as a discount the provider grants (the provider is
	/// paid nothing for that part; no fund pays it). The value is the block from which the
	/// model stops honouring them, when its provider opted out (after
	/// [`Config::PriceIncreaseNotice`], as for a price increase). At most one entry per model,
	/// removed when the model is retired; covered by the model's deposit.
	#[pallet::storage]
	pub type AllowanceHonoured<T: Config> =
		StorageMap<_, Twox64Concat, ModelId, Option<BlockNumberFor<T>>, OptionQuery>;

	/// Models whose price follows demand: the provider's settings, the multiplier in force and
	/// the tokens settled toward the next one. At most one per model, with its own storage
	/// deposit; removed when the provider opts out (or its notice ends) or retires the model.
	#[pallet::storage]
	pub type DynamicPrices<T: Config> = StorageMap<_, Twox64Concat, ModelId, DynamicPriceOf<T>>;

	/// Events of the pallet.
	#[pallet::event]
	#[pallet::generate_deposit(pub(super) fn deposit_event)]
	pub enum Event<T: Config> {
		/// A provider registered and its bond was held.
		ProviderRegistered {
			/// The provider.
			provider: T::AccountId,
			/// The bond held.
			bond: BalanceOf<T>,
		},
		/// A provider changed its name or endpoint.
		ProviderUpdated {
			/// The provider.
			provider: T::AccountId,
		},
		/// A provider retired: its models were removed and its bond and deposits released.
		ProviderRetired {
			/// The provider.
			provider: T::AccountId,
			/// The bond released.
			bond: BalanceOf<T>,
			/// How many model records were removed.
			models_removed: u32,
		},
		/// A model was registered.
		ModelRegistered {
			/// Its id.
			model: ModelId,
			/// The provider serving it.
			provider: T::AccountId,
			/// Price of 1,000 input tokens.
			price_per_1k_input: BalanceOf<T>,
			/// Price of 1,000 output tokens.
			price_per_1k_output: BalanceOf<T>,
			/// Who may use it.
			access: AccessRule<BalanceOf<T>>,
		},
		/// A model's prices or access rule changed. The access rule and price decreases
		/// apply at once; a price increase applies from `effective_from`.
		ModelUpdated {
			/// Its id.
			model: ModelId,
			/// Price of 1,000 input tokens from `effective_from` on.
			price_per_1k_input: BalanceOf<T>,
			/// Price of 1,000 output tokens from `effective_from` on.
			price_per_1k_output: BalanceOf<T>,
			/// Who may use it (from now on).
			access: AccessRule<BalanceOf<T>>,
			/// The first block in which both prices apply: now, or after
			/// [`Config::PriceIncreaseNotice`] when a price rose.
			effective_from: BlockNumberFor<T>,
		},
		/// A model was retired: it can no longer be used or settled.
		ModelRetired {
			/// Its id.
			model: ModelId,
		},
		/// A provider opted a model in to (or out of) honouring stakers' free allowances.
		AllowanceHonouredSet {
			/// The model.
			model: ModelId,
			/// Whether its usage is now discounted by stakers' allowances.
			honoured: bool,
			/// The first block it applies: now for an opt-in, after the price increase notice
			/// for an opt-out.
			effective_from: BlockNumberFor<T>,
		},
		/// A provider set (or changed) a model's dynamic pricing, or opted it out.
		DynamicPricingSet {
			/// The model.
			model: ModelId,
			/// The settings, or `None` for the listed prices.
			config: Option<PricingConfig>,
			/// The multiplier in force now.
			multiplier: FixedU128,
			/// The first block from which the settings apply: now, or for an opt-out with the
			/// multiplier below one, after the price increase notice.
			effective_from: BlockNumberFor<T>,
		},
		/// A dynamically priced model's multiplier changed at an epoch boundary, from the
		/// utilisation of the epoch(s) that ended.
		PriceMultiplierChanged {
			/// The model.
			model: ModelId,
			/// The pricing epoch it applies to.
			epoch: u32,
			/// The multiplier before.
			old: FixedU128,
			/// The multiplier now.
			new: FixedU128,
			/// The utilisation of the last epoch that ended (tokens settled over capacity).
			utilisation: FixedU128,
		},
		/// Credits were deposited (held).
		CreditsDeposited {
			/// The depositor.
			who: T::AccountId,
			/// The amount deposited.
			amount: BalanceOf<T>,
			/// The account's credits after the deposit.
			credits: BalanceOf<T>,
		},
		/// A withdrawal of credits was requested; they stay held, and may still be charged
		/// for usage, until `unlock_at`.
		WithdrawalRequested {
			/// The owner.
			who: T::AccountId,
			/// The most that may be withdrawn.
			amount: BalanceOf<T>,
			/// The first block in which they may be withdrawn.
			unlock_at: BlockNumberFor<T>,
		},
		/// Unspent credits were withdrawn (released).
		CreditsWithdrawn {
			/// The owner.
			who: T::AccountId,
			/// The amount withdrawn.
			amount: BalanceOf<T>,
			/// The account's credits after the withdrawal.
			credits: BalanceOf<T>,
		},
		/// An owner set a delegate's allowance.
		DelegateApproved {
			/// Whose credits are spent.
			owner: T::AccountId,
			/// Who may spend them.
			delegate: T::AccountId,
			/// The allowance.
			amount: BalanceOf<T>,
			/// The last block the allowance may be used.
			expiry: BlockNumberFor<T>,
		},
		/// An owner revoked a delegate's allowance.
		DelegateRevoked {
			/// Whose credits were delegated.
			owner: T::AccountId,
			/// The former delegate.
			delegate: T::AccountId,
		},
		/// Usage of a user was settled: credits moved to the provider, the reward pool and the
		/// treasury.
		UsageSettled {
			/// Who was paid.
			provider: T::AccountId,
			/// Who used the models and signed the voucher.
			user: T::AccountId,
			/// Whose credits paid (the user, or the owner who delegated to them).
			payer: T::AccountId,
			/// Taken from the payer's credits.
			charged: BalanceOf<T>,
			/// Paid out of the user's free staking allowance, before credits (no fee).
			from_allowance: BalanceOf<T>,
			/// The part of `charged` paid as the protocol fee (reward pool and treasury).
			fee: BalanceOf<T>,
			/// The part of `fee` paid to the treasury.
			to_treasury: BalanceOf<T>,
			/// Settled for this (user, provider) pair so far.
			settled_total: BalanceOf<T>,
			/// The cap of the voucher settled against.
			cap: BalanceOf<T>,
		},
		/// An entry, or all of a user's entries in a settlement, settled nothing.
		UsageRejected {
			/// The provider that reported the usage.
			provider: T::AccountId,
			/// The user.
			user: T::AccountId,
			/// How many entries were rejected.
			entries: u32,
			/// Why.
			reason: RejectReason,
		},
		/// Usage cost more than the voucher still allowed; only the headroom was charged.
		UsageAboveCap {
			/// The provider.
			provider: T::AccountId,
			/// The user.
			user: T::AccountId,
			/// What the usage cost.
			cost: BalanceOf<T>,
			/// What the voucher still allowed.
			headroom: BalanceOf<T>,
		},
		/// A delegate's usage cost more than its allowance; only the allowance was charged.
		AllowanceExceeded {
			/// The provider.
			provider: T::AccountId,
			/// The delegate.
			user: T::AccountId,
			/// The owner.
			owner: T::AccountId,
			/// What was owed.
			owed: BalanceOf<T>,
			/// What the allowance still allowed.
			allowed: BalanceOf<T>,
		},
		/// The payer had less credit than was owed; what was there was settled.
		SettlementShortfall {
			/// The provider.
			provider: T::AccountId,
			/// The user.
			user: T::AccountId,
			/// Whose credits paid.
			payer: T::AccountId,
			/// What was owed.
			owed: BalanceOf<T>,
			/// What was paid, from the allowance and credits together.
			paid: BalanceOf<T>,
		},
	}

	/// Errors of the pallet.
	#[pallet::error]
	pub enum Error<T> {
		/// The account is already a registered provider.
		AlreadyProvider,
		/// The account is not a registered provider.
		NotProvider,
		/// The provider still has models that are not retired.
		ProviderHasActiveModels,
		/// The provider registered as many models as it may.
		TooManyModels,
		/// No model has this id.
		UnknownModel,
		/// The model belongs to another provider.
		NotModelProvider,
		/// The model is retired.
		ModelRetired,
		/// A name must not be empty.
		EmptyName,
		/// The amount must be more than zero.
		ZeroAmount,
		/// The account has fewer unspent credits than asked for.
		InsufficientCredits,
		/// The account's free balance cannot cover the deposit.
		InsufficientBalance,
		/// The expiry block is already past.
		ExpiryInPast,
		/// An account cannot delegate to itself.
		SelfDelegation,
		/// There is no allowance for this delegate.
		UnknownDelegation,
		/// No more model ids are available.
		ModelIdOverflow,
		/// The amount would come out of frozen funds (e.g. priority stake), from which held
		/// credits could not be paid to a provider. Unstake first, or deposit less.
		FundsFrozen,
		/// No withdrawal was requested (`request_withdrawal`), or it was fully withdrawn.
		NoWithdrawalRequested,
		/// The withdrawal's notice period has not ended yet.
		WithdrawalNotDue,
		/// More than the requested withdrawal.
		AboveRequestedWithdrawal,
		/// Dynamic pricing settings out of range: the capacity must be more than zero, the
		/// target strictly between 0% and 100%, the minimum multiplier more than zero and at
		/// most one, the maximum at least one and at most [`Config::MaxMultiplier`].
		InvalidPricing,
		/// The model has no dynamic pricing to opt out of.
		NotDynamicallyPriced,
	}

	#[pallet::hooks]
	impl<T: Config> Hooks<BlockNumberFor<T>> for Pallet<T> {
		#[cfg(feature = "try-runtime")]
		fn try_state(_n: BlockNumberFor<T>) -> Result<(), sp_runtime::TryRuntimeError> {
			Self::do_try_state()
		}
	}

	#[pallet::call(weight(<T as Config>::WeightInfo))]
	impl<T: Config> Pallet<T> {
		/// Register the caller as a provider, holding [`Config::ProviderBond`].
		///
		/// - `name`: display name, not empty.
		/// - `endpoint`: URL of the provider's inference gateway.
		///
		/// Errors: `AlreadyProvider`, `EmptyName`, `InsufficientBalance`.
		#[pallet::call_index(0)]
		pub fn register_provider(
			origin: OriginFor<T>,
			name: NameOf<T>,
			endpoint: EndpointOf<T>,
		) -> DispatchResult {
			let who = ensure_signed(origin)?;
			Self::do_register_provider(who, name, endpoint)
		}

		/// Change the caller's provider name and endpoint.
		///
		/// Errors: `NotProvider`, `EmptyName`.
		#[pallet::call_index(1)]
		pub fn update_provider(
			origin: OriginFor<T>,
			name: NameOf<T>,
			endpoint: EndpointOf<T>,
		) -> DispatchResult {
			let who = ensure_signed(origin)?;
			Self::do_update_provider(who, name, endpoint)
		}

		/// Stop being a provider. Every model must be retired first; their records are
		/// removed, and their deposits and the bond are released.
		///
		/// Errors: `NotProvider`, `ProviderHasActiveModels`.
		#[pallet::call_index(2)]
		#[pallet::weight(T::WeightInfo::retire_provider(T::MaxModelsPerProvider::get()))]
		pub fn retire_provider(origin: OriginFor<T>) -> DispatchResultWithPostInfo {
			let who = ensure_signed(origin)?;
			let removed = Self::do_retire_provider(who)?;
			Ok(Some(T::WeightInfo::retire_provider(removed)).into())
		}

		/// Register a model the caller serves, holding its storage deposit.
		///
		/// - `price_per_1k_input`, `price_per_1k_output`: prices of 1,000 tokens in the
		///   smallest unit.
		/// - `access`: who may use it.
		///
		/// Errors: `NotProvider`, `EmptyName`, `TooManyModels`, `ModelIdOverflow`,
		/// `InsufficientBalance`.
		#[pallet::call_index(3)]
		pub fn register_model(
			origin: OriginFor<T>,
			name: NameOf<T>,
			price_per_1k_input: BalanceOf<T>,
			price_per_1k_output: BalanceOf<T>,
			access: AccessRule<BalanceOf<T>>,
		) -> DispatchResult {
			let who = ensure_signed(origin)?;
			Self::do_register_model(who, name, price_per_1k_input, price_per_1k_output, access)
		}

		/// Change a model's prices and access rule. Only its provider may.
		///
		/// The access rule and any price that goes down apply at once. When a price goes up,
		/// both new prices apply from [`Config::PriceIncreaseNotice`] blocks on (shown in the
		/// model's `pending_price` meanwhile), so that usage already authorised by a voucher is
		/// not charged at a price the user never saw. A new update replaces a pending one.
		///
		/// Errors: `UnknownModel`, `NotModelProvider`, `ModelRetired`.
		#[pallet::call_index(4)]
		pub fn update_model(
			origin: OriginFor<T>,
			model: ModelId,
			price_per_1k_input: BalanceOf<T>,
			price_per_1k_output: BalanceOf<T>,
			access: AccessRule<BalanceOf<T>>,
		) -> DispatchResult {
			let who = ensure_signed(origin)?;
			Self::do_update_model(who, model, price_per_1k_input, price_per_1k_output, access)
		}

		/// Retire a model: it can no longer be used or settled. Only its provider may.
		///
		/// Errors: `UnknownModel`, `NotModelProvider`, `ModelRetired`.
		#[pallet::call_index(5)]
		pub fn retire_model(origin: OriginFor<T>, model: ModelId) -> DispatchResult {
			let who = ensure_signed(origin)?;
			Self::do_retire_model(who, model)
		}

		/// Deposit credits: `amount` of the caller's free balance is held for inference. Only
		/// funds that no freeze (such as priority stake) covers can be deposited.
		///
		/// Errors: `ZeroAmount`, `InsufficientBalance`, `FundsFrozen`.
		#[pallet::call_index(6)]
		pub fn deposit_credits(origin: OriginFor<T>, amount: BalanceOf<T>) -> DispatchResult {
			let who = ensure_signed(origin)?;
			Self::do_deposit_credits(who, amount)
		}

		/// Withdraw credits whose withdrawal notice has ended: `amount` (at most what was
		/// requested with `request_withdrawal` and is still unspent) is released back to the
		/// free balance. What is left of the request stays withdrawable.
		///
		/// Errors: `ZeroAmount`, `NoWithdrawalRequested`, `WithdrawalNotDue`,
		/// `AboveRequestedWithdrawal`, `InsufficientCredits`.
		#[pallet::call_index(7)]
		pub fn withdraw_credits(origin: OriginFor<T>, amount: BalanceOf<T>) -> DispatchResult {
			let who = ensure_signed(origin)?;
			Self::do_withdraw_credits(who, amount)
		}

		/// Let `delegate` spend up to `amount` of the caller's credits until block `expiry`
		/// (inclusive). Replaces any earlier allowance for the same delegate. The first
		/// allowance for a delegate holds a storage deposit.
		///
		/// Errors: `SelfDelegation`, `ZeroAmount`, `ExpiryInPast`, `InsufficientBalance`.
		#[pallet::call_index(8)]
		pub fn approve_delegate(
			origin: OriginFor<T>,
			delegate: T::AccountId,
			amount: BalanceOf<T>,
			expiry: BlockNumberFor<T>,
		) -> DispatchResult {
			let who = ensure_signed(origin)?;
			Self::do_approve_delegate(who, delegate, amount, expiry)
		}

		/// Remove `delegate`'s allowance and release its deposit.
		///
		/// Errors: `UnknownDelegation`.
		#[pallet::call_index(9)]
		pub fn revoke_delegate(origin: OriginFor<T>, delegate: T::AccountId) -> DispatchResult {
			let who = ensure_signed(origin)?;
			Self::do_revoke_delegate(who, delegate)
		}

		/// Opt a model in to or out of honouring stakers' free allowances. Only its provider
		/// may.
		///
		/// The free allowance a staking tier grants is a discount that providers grant and
		/// fund themselves: usage of a model that honours allowances is paid out of the user's
		/// allowance first, and the provider receives nothing for that part (no fund pays
		/// it). An opt-in applies at once (prices only fall); an opt-out applies after
		/// [`Config::PriceIncreaseNotice`] blocks, like a price increase, so usage already
		/// authorised keeps its discount.
		///
		/// Errors: `UnknownModel`, `NotModelProvider`, `ModelRetired`.
		#[pallet::call_index(11)]
		#[pallet::weight(T::WeightInfo::set_allowance_honoured())]
		pub fn set_allowance_honoured(
			origin: OriginFor<T>,
			model: ModelId,
			honoured: bool,
		) -> DispatchResult {
			let who = ensure_signed(origin)?;
			Self::do_set_allowance_honoured(who, model, honoured)
		}

		/// Let a model's price follow demand (`Some(config)`), or go back to the listed prices
		/// (`None`). Only its provider may.
		///
		/// At each pricing epoch's first use, the multiplier of the listed prices moves toward
		/// the target utilisation by at most [`Config::MaxPriceStep`] per epoch that ended,
		/// within `[min_multiplier, max_multiplier]`: up when the tokens settled for the model
		/// in the last epoch were above `target × capacity`, down when below. Settlement,
		/// quotes and `can_access` use the multiplied prices; a pending price increase still
		/// waits for its notice, and vouchers still cap what is charged. New settings keep
		/// the multiplier (brought within the new bounds; a rise that way is at most one step).
		/// Opting out with the multiplier above one applies at once (the price falls); below
		/// one, after [`Config::PriceIncreaseNotice`]. The first opt-in holds a storage
		/// deposit, released on opt-out.
		///
		/// Errors: `UnknownModel`, `NotModelProvider`, `ModelRetired`, `InvalidPricing`,
		/// `NotDynamicallyPriced`, `InsufficientBalance`.
		#[pallet::call_index(12)]
		#[pallet::weight(T::WeightInfo::set_dynamic_pricing())]
		pub fn set_dynamic_pricing(
			origin: OriginFor<T>,
			model: ModelId,
			config: Option<PricingConfig>,
		) -> DispatchResult {
			let who = ensure_signed(origin)?;
			Self::do_set_dynamic_pricing(who, model, config)
		}

		/// Ask to withdraw `amount` of the caller's credits. They stay held for
		/// [`Config::WithdrawalNotice`] blocks, during which settlement may still charge them
		/// for usage already served and `can_access` no longer counts them as available; then
		/// `withdraw_credits` releases what is left of them. Replaces an earlier request (and
		/// restarts the notice).
		///
		/// Errors: `ZeroAmount`, `InsufficientCredits`.
		#[pallet::call_index(10)]
		pub fn request_withdrawal(origin: OriginFor<T>, amount: BalanceOf<T>) -> DispatchResult {
			let who = ensure_signed(origin)?;
			Self::do_request_withdrawal(who, amount)
		}
	}
}
