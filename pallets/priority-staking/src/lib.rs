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
pub use tokenmeter_primitives::{FreeAllowance, TierInspect};
pub use types::*;
pub use weights::WeightInfo;

#[cfg(feature = "runtime-benchmarks")]
mod benchmarking;
mod impls;
#[cfg(test)]
mod mock;
pub mod runtime_api;
#[cfg(test)]
mod tests;
mod types;
pub mod weights;

// FRAME's pallet macros expand to `expect`s with proofs (pallet names, storage prefixes,
// error encodings) under this module's spans; the pallet's own logic lives in `impls.rs`,
// where `expect` stays denied.
#[allow(clippy::expect_used)]
#[frame_support::pallet]
pub mod pallet {
	use super::*;
	use frame_support::{
		pallet_prelude::*,
		traits::fungible::{Inspect, InspectFreeze, Mutate, MutateFreeze},
	};
	use frame_system::pallet_prelude::*;

	/// The in-code storage version.
	const STORAGE_VERSION: StorageVersion = StorageVersion::new(1);

	#[pallet::pallet]
	#[pallet::storage_version(STORAGE_VERSION)]
	pub struct Pallet<T>(_);

	/// Configuration of the pallet.
	#[pallet::config]
	pub trait Config: frame_system::Config {
		/// The currency staked (frozen in place) and the free allowance is paid in.
		type Currency: Inspect<Self::AccountId>
			+ Mutate<Self::AccountId>
			+ InspectFreeze<Self::AccountId, Id = Self::RuntimeFreezeReason>
			+ MutateFreeze<Self::AccountId, Id = Self::RuntimeFreezeReason>;

		/// The runtime's freeze reasons, which include this pallet's.
		type RuntimeFreezeReason: From<FreezeReason>;

		/// Most tiers root may define (at most 255).
		#[pallet::constant]
		type MaxTiers: Get<u32>;

		/// Most warming-up chunks, and most unbonding chunks, a staker may have at once.
		#[pallet::constant]
		type MaxChunks: Get<u32>;

		/// The least a staker may keep staked (staking less is refused; unstaking may leave
		/// this much or nothing).
		#[pallet::constant]
		type MinStake: Get<BalanceOf<Self>>;

		/// Requests per minute the gateway accepts from accounts without a tier.
		#[pallet::constant]
		type DefaultRateLimit: Get<u32>;

		/// Who may change the tiers and periods: Root, and in the runtime a referendum on the
		/// `parameters` track too.
		type AdminOrigin: EnsureOrigin<Self::RuntimeOrigin>;

		/// Weights of the calls, from the benchmarks.
		type WeightInfo: WeightInfo;
	}

	/// Why this pallet freezes funds.
	#[pallet::composite_enum]
	pub enum FreezeReason {
		/// Staked for priority, warming up or unbonding.
		#[codec(index = 0)]
		PriorityStake,
	}

	/// The tiers, lowest first, with strictly increasing minimum stakes. Tier `n` is the
	/// `n`-th entry; an account whose effective stake reaches no entry has tier 0.
	#[pallet::storage]
	pub type Tiers<T: Config> = StorageValue<_, TiersOf<T>, ValueQuery>;

	/// The default periods: a warm-up of 600 blocks (one hour of 6 s blocks), unbonding and
	/// epochs of 14,400 blocks (a day).
	#[pallet::type_value]
	pub fn DefaultParams<T: Config>() -> StakingParamsOf<T> {
		StakingParams {
			warm_up: 600u32.into(),
			unbonding_period: 14_400u32.into(),
			epoch_length: 14_400u32.into(),
		}
	}

	/// Warm-up, unbonding period and epoch length.
	#[pallet::storage]
	pub type Params<T: Config> = StorageValue<_, StakingParamsOf<T>, ValueQuery, DefaultParams<T>>;

	/// An epoch and the block it started at; later epochs follow every `epoch_length` blocks.
	/// Moved forward when the epoch length changes, so epoch numbers only ever grow.
	#[pallet::storage]
	pub type EpochAnchor<T: Config> = StorageValue<_, (EpochIndex, BlockNumberFor<T>), ValueQuery>;

	/// Every staker's stake, warm-up and unbonding chunks and free allowance spent.
	#[pallet::storage]
	pub type Ledgers<T: Config> = StorageMap<_, Blake2_128Concat, T::AccountId, StakeLedgerOf<T>>;

	/// Initial tiers and periods.
	#[pallet::genesis_config]
	#[derive(frame_support::DefaultNoBound)]
	pub struct GenesisConfig<T: Config> {
		/// The tiers, lowest first.
		pub tiers: alloc::vec::Vec<TierInfoOf<T>>,
		/// The periods; the defaults when absent.
		pub params: Option<StakingParamsOf<T>>,
	}

	#[pallet::genesis_build]
	impl<T: Config> BuildGenesisConfig for GenesisConfig<T> {
		fn build(&self) {
			// An invalid genesis must not produce a chain: building the genesis state fails.
			let tiers = Pallet::<T>::check_tiers(self.tiers.clone());
			assert!(
				tiers.is_ok(),
				"genesis tiers: at most MaxTiers, strictly increasing minimum stakes above zero"
			);
			Tiers::<T>::put(tiers.unwrap_or_default());
			if let Some(params) = self.params {
				assert!(!params.epoch_length.is_zero(), "genesis epoch length must not be zero");
				Params::<T>::put(params);
			}
		}
	}

	/// Events of the pallet.
	#[pallet::event]
	#[pallet::generate_deposit(pub(super) fn deposit_event)]
	pub enum Event<T: Config> {
		/// Funds were staked; they count toward the tier from `effective_at`.
		Staked {
			/// The staker.
			who: T::AccountId,
			/// The amount staked.
			amount: BalanceOf<T>,
			/// The block from which it counts.
			effective_at: BlockNumberFor<T>,
			/// Everything staked and not unstaked, warming up included.
			bonded: BalanceOf<T>,
		},
		/// Stake was unstaked; it stops counting at once and can be withdrawn at `unlocks_at`.
		Unstaked {
			/// The staker.
			who: T::AccountId,
			/// The amount unstaked.
			amount: BalanceOf<T>,
			/// The block from which it can be withdrawn.
			unlocks_at: BlockNumberFor<T>,
			/// What stays staked.
			bonded: BalanceOf<T>,
		},
		/// Unbonded funds were unfrozen.
		Withdrawn {
			/// The staker.
			who: T::AccountId,
			/// The amount unfrozen.
			amount: BalanceOf<T>,
			/// Still waiting out the unbonding period.
			unbonding: BalanceOf<T>,
		},
		/// Root replaced the tiers.
		TiersSet {
			/// The new tiers, lowest first.
			tiers: TiersOf<T>,
		},
		/// Root changed the periods.
		ParamsSet {
			/// The new periods.
			params: StakingParamsOf<T>,
		},
		/// A staker's free allowance discounted the staker's usage of a provider that honours
		/// allowances (the provider granted the discount; no funds moved).
		AllowanceSpent {
			/// The staker.
			who: T::AccountId,
			/// The provider that granted the discount.
			provider: T::AccountId,
			/// The discount.
			amount: BalanceOf<T>,
			/// The allowance left this epoch.
			left: BalanceOf<T>,
			/// The epoch.
			epoch: EpochIndex,
		},
	}

	/// Errors of the pallet.
	#[pallet::error]
	pub enum Error<T> {
		/// The amount must be more than zero.
		ZeroAmount,
		/// What stays staked must be at least `MinStake`, or nothing.
		BelowMinStake,
		/// The free balance (not on hold, not already staked) cannot cover the stake.
		InsufficientBalance,
		/// Less is staked than asked to unstake.
		InsufficientStake,
		/// The staker has as many warming-up or unbonding chunks as allowed; wait for them
		/// to mature, or withdraw unbonded funds, first.
		TooManyChunks,
		/// The account has never staked.
		NotStaker,
		/// Nothing has finished unbonding yet.
		NothingToWithdraw,
		/// Tiers must have strictly increasing minimum stakes, the first above zero, and be
		/// at most `MaxTiers`.
		InvalidTiers,
		/// An epoch must last at least one block.
		ZeroEpochLength,
	}

	#[pallet::hooks]
	impl<T: Config> Hooks<BlockNumberFor<T>> for Pallet<T> {
		fn integrity_test() {
			assert!(T::MaxTiers::get() <= u32::from(Tier::MAX), "tiers are numbered by a u8");
			assert!(T::MaxChunks::get() > 0, "a staker needs at least one chunk");
			assert!(!T::MinStake::get().is_zero(), "a zero minimum stake lets dust fill storage");
		}

		#[cfg(feature = "try-runtime")]
		fn try_state(_n: BlockNumberFor<T>) -> Result<(), sp_runtime::TryRuntimeError> {
			Self::do_try_state()
		}
	}

	#[pallet::call(weight(<T as Config>::WeightInfo))]
	impl<T: Config> Pallet<T> {
		/// Stake `amount` of the caller's free balance. The funds are frozen in the caller's
		/// account and count toward the tier once the warm-up has passed.
		///
		/// Errors: `ZeroAmount`, `BelowMinStake`, `InsufficientBalance`, `TooManyChunks`.
		#[pallet::call_index(0)]
		pub fn stake(origin: OriginFor<T>, amount: BalanceOf<T>) -> DispatchResult {
			let who = ensure_signed(origin)?;
			Self::do_stake(who, amount)
		}

		/// Unstake `amount`: it stops counting toward the tier at once (stake still warming
		/// up is taken first) and stays frozen until the unbonding period has passed.
		///
		/// Errors: `ZeroAmount`, `NotStaker`, `InsufficientStake`, `BelowMinStake`,
		/// `TooManyChunks`.
		#[pallet::call_index(1)]
		pub fn unstake(origin: OriginFor<T>, amount: BalanceOf<T>) -> DispatchResult {
			let who = ensure_signed(origin)?;
			Self::do_unstake(who, amount)
		}

		/// Unfreeze every unstaked amount whose unbonding period has passed.
		///
		/// Errors: `NotStaker`, `NothingToWithdraw`.
		#[pallet::call_index(2)]
		pub fn withdraw_unbonded(origin: OriginFor<T>) -> DispatchResult {
			let who = ensure_signed(origin)?;
			Self::do_withdraw_unbonded(who)
		}

		/// Replace the tiers (`AdminOrigin`: Root, or a `parameters` referendum). Minimum stakes must strictly increase from a
		/// non-zero first one. Tiers are read from current stake, so the change applies to
		/// every staker at once.
		///
		/// Errors: `InvalidTiers`.
		#[pallet::call_index(3)]
		#[pallet::weight(T::WeightInfo::set_tiers(tiers.len() as u32))]
		pub fn set_tiers(origin: OriginFor<T>, tiers: TiersOf<T>) -> DispatchResult {
			T::AdminOrigin::ensure_origin(origin)?;
			Self::do_set_tiers(tiers)
		}

		/// Change the warm-up, unbonding period and epoch length (`AdminOrigin`). Chunks already
		/// warming up or unbonding keep their blocks; a new epoch length applies from the
		/// start of the current epoch.
		///
		/// Errors: `ZeroEpochLength`.
		#[pallet::call_index(4)]
		pub fn set_params(origin: OriginFor<T>, params: StakingParamsOf<T>) -> DispatchResult {
			T::AdminOrigin::ensure_origin(origin)?;
			Self::do_set_params(params)
		}
	}
}
