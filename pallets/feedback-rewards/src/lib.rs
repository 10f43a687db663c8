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
pub use types::*;
pub use weights::WeightInfo;

#[cfg(feature = "runtime-benchmarks")]
mod benchmarking;
mod impls;
pub mod migrations;
#[cfg(test)]
mod mock;
pub mod runtime_api;
#[cfg(test)]
mod tests;
mod types;
pub mod weights;

/// Sets up what the benchmarks need, which the pallet cannot know.
#[cfg(feature = "runtime-benchmarks")]
pub trait BenchmarkHelper {
	/// A model feedback may be about (created if needed).
	fn model() -> ModelId;
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
			fungible::{Mutate, MutateHold},
			Contains,
		},
	};
	use frame_system::pallet_prelude::*;
	use sp_runtime::Perbill;

	/// The in-code storage version.
	const STORAGE_VERSION: StorageVersion = StorageVersion::new(1);

	#[pallet::pallet]
	#[pallet::storage_version(STORAGE_VERSION)]
	pub struct Pallet<T>(_);

	/// Configuration of the pallet.
	#[pallet::config]
	pub trait Config: frame_system::Config {
		/// The currency bonds are held in and rewards paid in.
		type Currency: Mutate<Self::AccountId>
			+ MutateHold<Self::AccountId, Reason = Self::RuntimeHoldReason>;

		/// The runtime's hold reasons, which include this pallet's.
		type RuntimeHoldReason: From<HoldReason>;

		/// The models feedback may be about.
		type Models: Contains<ModelId>;

		/// The reward pool account: settlement fees and `fund_pool` fill it.
		#[pallet::constant]
		type RewardPool: Get<Self::AccountId>;

		/// An annotator's bond per feedback.
		#[pallet::constant]
		type FeedbackBond: Get<BalanceOf<Self>>;

		/// A validator's bond.
		#[pallet::constant]
		type ValidatorBond: Get<BalanceOf<Self>>;

		/// Most feedback one annotator may submit per epoch.
		#[pallet::constant]
		type MaxFeedbackPerAnnotator: Get<u32>;

		/// Most feedback per epoch, all annotators together.
		#[pallet::constant]
		type MaxFeedbackPerEpoch: Get<u32>;

		/// Most registered validators.
		#[pallet::constant]
		type MaxValidators: Get<u32>;

		/// Scores that make a feedback's final score (their median); no more are taken.
		#[pallet::constant]
		type Quorum: Get<u32>;

		/// A score within this distance of the median earns its validator 2 points, a score
		/// farther 1.
		#[pallet::constant]
		type ScoreTolerance: Get<Score>;

		/// Feedback whose final score is below this loses its bond to the pool.
		#[pallet::constant]
		type SlashThreshold: Get<Score>;

		/// The share of the pool's available funds an epoch allocates when it closes.
		#[pallet::constant]
		type EpochRewardShare: Get<Perbill>;

		/// The share of an epoch's allocation that goes to validators.
		#[pallet::constant]
		type ValidatorShare: Get<Perbill>;

		/// Blocks a validator must wait after its last score (or registration) to leave.
		#[pallet::constant]
		type DeregisterDelay: Get<BlockNumberFor<Self>>;

		/// Most epochs with unclaimed rewards an account may have.
		#[pallet::constant]
		type MaxUnclaimedEpochs: Get<u32>;

		/// Weights of the calls, from the benchmarks.
		type WeightInfo: WeightInfo;

		/// Sets up the benchmarks.
		#[cfg(feature = "runtime-benchmarks")]
		type BenchmarkHelper: BenchmarkHelper;
	}

	/// Why this pallet holds funds.
	#[pallet::composite_enum]
	pub enum HoldReason {
		/// An annotator's bond for a feedback.
		#[codec(index = 0)]
		FeedbackBond,
		/// A validator's bond.
		#[codec(index = 1)]
		ValidatorBond,
	}

	/// The default: epochs of a day (14,400 six-second blocks), scored for an hour after.
	#[pallet::type_value]
	pub fn DefaultParams<T: Config>() -> EpochParams<BlockNumberFor<T>> {
		EpochParams { epoch_length: 14_400u32.into(), scoring_window: 600u32.into() }
	}

	/// Epoch length and scoring window (fixed at genesis).
	#[pallet::storage]
	pub type Params<T: Config> =
		StorageValue<_, EpochParams<BlockNumberFor<T>>, ValueQuery, DefaultParams<T>>;

	/// The id the next feedback gets.
	#[pallet::storage]
	pub type NextFeedbackId<T: Config> = StorageValue<_, FeedbackId, ValueQuery>;

	/// Feedback waiting for its quorum of scores (removed once scored, or reaped after its
	/// epoch closed).
	#[pallet::storage]
	pub type Feedbacks<T: Config> = StorageMap<_, Twox64Concat, FeedbackId, FeedbackOf<T>>;

	/// Epochs with feedback whose rewards are not all claimed.
	#[pallet::storage]
	pub type Epochs<T: Config> = StorageMap<_, Twox64Concat, EpochIndex, EpochInfoOf<T>>;

	/// What each account contributed to an epoch, until it claims.
	#[pallet::storage]
	pub type Contributions<T: Config> = StorageDoubleMap<
		_,
		Twox64Concat,
		EpochIndex,
		Blake2_128Concat,
		T::AccountId,
		ContributionOf<T>,
	>;

	/// The epochs each account has unclaimed contributions in, oldest first.
	#[pallet::storage]
	pub type AccountEpochs<T: Config> = StorageMap<
		_,
		Blake2_128Concat,
		T::AccountId,
		BoundedVec<EpochIndex, T::MaxUnclaimedEpochs>,
		ValueQuery,
	>;

	/// Registered validators.
	#[pallet::storage]
	pub type Validators<T: Config> = CountedStorageMap<
		_,
		Blake2_128Concat,
		T::AccountId,
		ValidatorInfo<BalanceOf<T>, BlockNumberFor<T>>,
	>;

	/// Rewards allocated by closed epochs and not yet claimed; the pool keeps at least this.
	#[pallet::storage]
	pub type Unclaimed<T: Config> = StorageValue<_, BalanceOf<T>, ValueQuery>;

	/// Epoch length and scoring window.
	#[pallet::genesis_config]
	#[derive(frame_support::DefaultNoBound)]
	pub struct GenesisConfig<T: Config> {
		/// The periods; the defaults when absent.
		pub params: Option<EpochParams<BlockNumberFor<T>>>,
	}

	#[pallet::genesis_build]
	impl<T: Config> BuildGenesisConfig for GenesisConfig<T> {
		fn build(&self) {
			if let Some(params) = self.params {
				// An invalid genesis must not produce a chain.
				assert!(!params.epoch_length.is_zero(), "genesis epoch length must not be zero");
				Params::<T>::put(params);
			}
		}
	}

	#[pallet::event]
	#[pallet::generate_deposit(pub(super) fn deposit_event)]
	pub enum Event<T: Config> {
		/// An annotator submitted feedback and bonded for it.
		FeedbackSubmitted {
			/// Its id.
			id: FeedbackId,
			/// Who submitted it.
			annotator: T::AccountId,
			/// The epoch it counts in.
			epoch: EpochIndex,
			/// The model.
			model: ModelId,
			/// What kind.
			kind: FeedbackKind,
			/// The bond held.
			bond: BalanceOf<T>,
		},
		/// A validator scored a feedback.
		Scored {
			/// The feedback.
			id: FeedbackId,
			/// The validator.
			validator: T::AccountId,
			/// The score.
			score: Score,
			/// Scores so far.
			scores: u32,
		},
		/// A feedback reached its quorum: its final score is the median.
		FeedbackFinalized {
			/// The feedback.
			id: FeedbackId,
			/// Its annotator.
			annotator: T::AccountId,
			/// The median of the scores: the annotator's points.
			score: Score,
			/// Whether the bond went to the pool (score below the threshold).
			bond_slashed: bool,
		},
		/// An account became a validator.
		ValidatorRegistered {
			/// The validator.
			who: T::AccountId,
			/// The bond held.
			bond: BalanceOf<T>,
		},
		/// A validator left and got its bond back.
		ValidatorDeregistered {
			/// The validator.
			who: T::AccountId,
		},
		/// An epoch closed and allocated rewards.
		EpochClosed {
			/// The epoch.
			epoch: EpochIndex,
			/// Allocated to annotators.
			annotator_budget: BalanceOf<T>,
			/// Allocated to validators.
			validator_budget: BalanceOf<T>,
			/// Annotators' score points.
			points: u64,
			/// Validators' points.
			validator_points: u64,
		},
		/// An account claimed an epoch's reward and bonds.
		Claimed {
			/// The account.
			who: T::AccountId,
			/// The epoch.
			epoch: EpochIndex,
			/// The reward paid from the pool.
			reward: BalanceOf<T>,
			/// Bonds returned.
			bonds: BalanceOf<T>,
		},
		/// Someone funded the reward pool.
		PoolFunded {
			/// Who.
			who: T::AccountId,
			/// How much.
			amount: BalanceOf<T>,
		},
		/// A feedback that never reached quorum was removed after its epoch closed.
		FeedbackReaped {
			/// The feedback.
			id: FeedbackId,
		},
	}

	#[pallet::error]
	pub enum Error<T> {
		/// No such model.
		UnknownModel,
		/// The annotator submitted as much feedback as it may this epoch.
		AnnotatorCapReached,
		/// This epoch has as much feedback as it may hold.
		EpochFull,
		/// The account has as many epochs with unclaimed rewards as it may; claim first.
		TooManyUnclaimedEpochs,
		/// Already a validator.
		AlreadyValidator,
		/// As many validators as may be.
		TooManyValidators,
		/// Not a validator.
		NotValidator,
		/// The validator scored (or registered) too recently to leave.
		TooSoon,
		/// No such feedback (or it already has its final score).
		UnknownFeedback,
		/// A score above the maximum (100).
		InvalidScore,
		/// Validators may not score their own feedback.
		OwnFeedback,
		/// This validator already scored this feedback.
		AlreadyScored,
		/// The feedback's scoring window is over.
		ScoringClosed,
		/// The epoch's scoring window is not over yet.
		EpochNotOver,
		/// The epoch is already closed.
		AlreadyClosed,
		/// The epoch had no feedback: nothing to close.
		NothingToClose,
		/// The epoch is not closed yet.
		EpochNotClosed,
		/// Nothing to claim.
		NothingToClaim,
		/// An amount of zero.
		ZeroAmount,
		/// The bond would come out of frozen funds (e.g. priority stake), from which it could
		/// not be slashed. Unstake first.
		FundsFrozen,
	}

	#[pallet::hooks]
	impl<T: Config> Hooks<BlockNumberFor<T>> for Pallet<T> {
		fn integrity_test() {
			assert!(T::Quorum::get() >= 1, "Quorum must be at least 1");
			assert!(T::SlashThreshold::get() <= MAX_SCORE, "SlashThreshold above the maximum");
		}

		#[cfg(feature = "try-runtime")]
		fn try_state(_n: BlockNumberFor<T>) -> Result<(), sp_runtime::TryRuntimeError> {
			Self::do_try_state()
		}
	}

	#[pallet::call]
	impl<T: Config> Pallet<T> {
		/// Submit feedback on an output of `model` in the current epoch, holding
		/// `FeedbackBond`. The bond comes back with the epoch's claim unless validators score
		/// the feedback below `SlashThreshold`.
		///
		/// Errors: `UnknownModel`, `AnnotatorCapReached`, `EpochFull`,
		/// `TooManyUnclaimedEpochs`, `FundsFrozen`, and the hold's error if the bond cannot be
		/// paid.
		#[pallet::call_index(0)]
		#[pallet::weight(T::WeightInfo::submit_feedback())]
		pub fn submit_feedback(
			origin: OriginFor<T>,
			model: ModelId,
			output_hash: T::Hash,
			kind: FeedbackKind,
			payload_hash: T::Hash,
		) -> DispatchResult {
			let who = ensure_signed(origin)?;
			ensure!(T::Models::contains(&model), Error::<T>::UnknownModel);
			Self::do_submit(who, model, output_hash, kind, payload_hash)
		}

		/// Become a validator, holding `ValidatorBond`.
		///
		/// Errors: `AlreadyValidator`, `TooManyValidators`, `FundsFrozen`, and the hold's
		/// error.
		#[pallet::call_index(1)]
		#[pallet::weight(T::WeightInfo::register_validator())]
		pub fn register_validator(origin: OriginFor<T>) -> DispatchResult {
			let who = ensure_signed(origin)?;
			Self::do_register(who)
		}

		/// Stop being a validator and get the bond back, `DeregisterDelay` blocks after the
		/// last score (or registration).
		///
		/// Errors: `NotValidator`, `TooSoon`.
		#[pallet::call_index(2)]
		#[pallet::weight(T::WeightInfo::deregister_validator())]
		pub fn deregister_validator(origin: OriginFor<T>) -> DispatchResult {
			let who = ensure_signed(origin)?;
			Self::do_deregister(who)
		}

		/// Validator: score feedback `id` from 0 to 100, during its epoch or the scoring
		/// window after it. The `Quorum`-th score finalises it: its score is the median, the
		/// annotator earns that many points, and validators earn 2 points for a score within
		/// `ScoreTolerance` of the median, 1 otherwise.
		///
		/// Errors: `NotValidator`, `InvalidScore`, `UnknownFeedback`, `OwnFeedback`,
		/// `AlreadyScored`, `ScoringClosed`, `TooManyUnclaimedEpochs`.
		#[pallet::call_index(3)]
		#[pallet::weight(T::WeightInfo::score())]
		pub fn score(origin: OriginFor<T>, id: FeedbackId, score: Score) -> DispatchResult {
			let who = ensure_signed(origin)?;
			Self::do_score(who, id, score)
		}

		/// Anyone: close `epoch` once its scoring window is over. It allocates
		/// `EpochRewardShare` of the pool's available funds (what is not owed to earlier
		/// epochs), `ValidatorShare` of it to validators, the rest to annotators; each is paid
		/// per point when claimed. Reads and writes the same records however many annotators
		/// took part; it is charged for the largest state an epoch can leave (see the weights).
		///
		/// Errors: `EpochNotOver`, `AlreadyClosed`, `NothingToClose`.
		#[pallet::call_index(4)]
		#[pallet::weight(T::WeightInfo::close_epoch(
			T::MaxFeedbackPerEpoch::get().saturating_add(T::MaxValidators::get())
		))]
		pub fn close_epoch(origin: OriginFor<T>, epoch: EpochIndex) -> DispatchResult {
			ensure_signed(origin)?;
			Self::do_close(epoch)
		}

		/// Claim your reward and returned bonds of a closed `epoch`, in one step whatever the
		/// number of participants.
		///
		/// Errors: `EpochNotClosed`, `NothingToClaim`.
		#[pallet::call_index(5)]
		#[pallet::weight(T::WeightInfo::claim())]
		pub fn claim(origin: OriginFor<T>, epoch: EpochIndex) -> DispatchResult {
			let who = ensure_signed(origin)?;
			Self::do_claim(who, epoch)
		}

		/// Claim up to `max_epochs` of your closed epochs, oldest first.
		///
		/// Errors: `NothingToClaim` (no closed epoch with something to claim).
		#[pallet::call_index(6)]
		#[pallet::weight(T::WeightInfo::claim_many((*max_epochs).min(T::MaxUnclaimedEpochs::get())))]
		pub fn claim_many(origin: OriginFor<T>, max_epochs: u32) -> DispatchResultWithPostInfo {
			let who = ensure_signed(origin)?;
			let claimed = Self::do_claim_many(who, max_epochs)?;
			Ok(Some(T::WeightInfo::claim_many(claimed)).into())
		}

		/// Move `amount` from the caller into the reward pool.
		///
		/// Errors: `ZeroAmount`, and the transfer's error.
		#[pallet::call_index(7)]
		#[pallet::weight(T::WeightInfo::fund_pool())]
		pub fn fund_pool(origin: OriginFor<T>, amount: BalanceOf<T>) -> DispatchResult {
			let who = ensure_signed(origin)?;
			Self::do_fund_pool(who, amount)
		}

		/// Anyone: remove feedback that never reached its quorum, once its epoch is closed
		/// (its bond comes back with the annotator's claim).
		///
		/// Errors: `UnknownFeedback`, `EpochNotClosed`.
		#[pallet::call_index(8)]
		#[pallet::weight(T::WeightInfo::reap_feedback())]
		pub fn reap_feedback(origin: OriginFor<T>, id: FeedbackId) -> DispatchResult {
			ensure_signed(origin)?;
			Self::do_reap(id)
		}
	}
}
