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
	const STORAGE_VERSION: StorageVersion = StorageVersion::new(2);

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

		/// An annotator's fee per feedback, paid into the reward pool and not returned: what
		/// filling an epoch's `MaxFeedbackPerEpoch` with feedback nobody values costs, whatever
		/// the number of accounts it is sent from.
		#[pallet::constant]
		type FeedbackFee: Get<BalanceOf<Self>>;

		/// The smallest validator bond. A validator may bond more: its scores weigh by bond.
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

		/// Most validators that may commit a score on one feedback.
		#[pallet::constant]
		type MaxScorers: Get<u32>;

		/// A score within this distance of the final score earns its validator 2 points, a
		/// score farther (up to `DeviationThreshold`) 1.
		#[pallet::constant]
		type ScoreTolerance: Get<Score>;

		/// A score farther than this from the final score earns nothing and costs its
		/// validator `DeviationSlash` of its bond.
		#[pallet::constant]
		type DeviationThreshold: Get<Score>;

		/// The share of a validator's bond taken to the pool for a score beyond
		/// `DeviationThreshold`.
		#[pallet::constant]
		type DeviationSlash: Get<Perbill>;

		/// The share of a validator's bond taken to the pool for each commitment it does not
		/// reveal, from the first: at least `DeviationSlash`, so that keeping a committed score
		/// back (to reveal only the scores that move the median) costs more than revealing a
		/// bad one.
		#[pallet::constant]
		type MissSlash: Get<Perbill>;

		/// Feedback whose final score is below this loses its bond to the pool.
		#[pallet::constant]
		type SlashThreshold: Get<Score>;

		/// The share of the pool's available funds an epoch allocates when it closes.
		#[pallet::constant]
		type EpochRewardShare: Get<Perbill>;

		/// The share of an epoch's allocation that goes to validators.
		#[pallet::constant]
		type ValidatorShare: Get<Perbill>;

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

	/// Feedback waiting to be finalised (removed when it is, after its scoring window).
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
	pub type Validators<T: Config> =
		CountedStorageMap<_, Blake2_128Concat, T::AccountId, ValidatorInfoOf<T>>;

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
		/// A validator committed a sealed score of a feedback.
		ScoreCommitted {
			/// The feedback.
			id: FeedbackId,
			/// The validator.
			validator: T::AccountId,
			/// The stake its score carries.
			stake: BalanceOf<T>,
			/// Commitments so far.
			commitments: u32,
		},
		/// A validator's commitment was displaced from a full committee by a larger stake.
		ScoreDisplaced {
			/// The feedback.
			id: FeedbackId,
			/// The validator displaced (its commitment is gone, with no penalty).
			validator: T::AccountId,
			/// The validator that took its seat.
			by: T::AccountId,
		},
		/// A validator revealed its committed score.
		ScoreRevealed {
			/// The feedback.
			id: FeedbackId,
			/// The validator.
			validator: T::AccountId,
			/// The score.
			score: Score,
		},
		/// A feedback's scoring window closed: its final score is the stake-weighted median of
		/// the revealed scores (none when nobody revealed: no points, the bond comes back).
		FeedbackFinalized {
			/// The feedback.
			id: FeedbackId,
			/// Its annotator.
			annotator: T::AccountId,
			/// The final score: the annotator's points.
			score: Option<Score>,
			/// Whether the bond went to the pool (score below the threshold).
			bond_slashed: bool,
		},
		/// A validator lost part of its bond to the pool: a score far from the final one, or
		/// a commitment it did not reveal again.
		ValidatorSlashed {
			/// The validator.
			who: T::AccountId,
			/// The feedback.
			id: FeedbackId,
			/// What was taken.
			amount: BalanceOf<T>,
			/// Whether for not revealing (else for deviating).
			missed: bool,
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
		/// The validator has commitments on feedback not yet finalised.
		CommitmentsPending,
		/// A bond below the minimum `ValidatorBond`.
		BondTooLow,
		/// The validator registered in this epoch: its stake counts from the next one.
		NotYetActive,
		/// No such feedback (or it is already final).
		UnknownFeedback,
		/// A score above the maximum (100).
		InvalidScore,
		/// Validators may not score their own feedback.
		OwnFeedback,
		/// This validator already committed a score on this feedback.
		AlreadyScored,
		/// The feedback's committee is full and every member's stake is at least the caller's.
		TooManyScorers,
		/// Commitments on this feedback are closed (the scoring window's first half is over).
		ScoringClosed,
		/// Reveals are not open yet: they open when commitments close.
		RevealNotOpen,
		/// Reveals on this feedback are closed.
		RevealClosed,
		/// This validator committed no score on this feedback.
		NotCommitted,
		/// The score was already revealed.
		AlreadyRevealed,
		/// The score and salt do not match the commitment.
		BadReveal,
		/// The feedback's scoring window is not over yet.
		ScoringNotOver,
		/// Some of the epoch's feedback is not finalised yet (`finalize_feedback`).
		FeedbackNotFinal,
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
			assert!(T::MaxScorers::get() >= 1, "MaxScorers must be at least 1");
			assert!(
				T::ScoreTolerance::get() <= T::DeviationThreshold::get(),
				"ScoreTolerance above DeviationThreshold"
			);
			assert!(T::SlashThreshold::get() <= MAX_SCORE, "SlashThreshold above the maximum");
			assert!(
				T::MissSlash::get() >= T::DeviationSlash::get(),
				"MissSlash below DeviationSlash: keeping a score back would pay"
			);
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

		/// Become a validator, holding `bond` (at least `ValidatorBond`; more weighs more).
		/// The stake counts from the next epoch: a validator registered in epoch `e` may
		/// score feedback of epoch `e + 1` on.
		///
		/// Errors: `BondTooLow`, `AlreadyValidator`, `TooManyValidators`, `FundsFrozen`, and
		/// the hold's error.
		#[pallet::call_index(1)]
		#[pallet::weight(T::WeightInfo::register_validator())]
		pub fn register_validator(origin: OriginFor<T>, bond: BalanceOf<T>) -> DispatchResult {
			let who = ensure_signed(origin)?;
			Self::do_register(who, bond)
		}

		/// Stop being a validator and get the bond back, once every feedback it committed a
		/// score on is finalised (anyone may finalise a feedback after its window).
		///
		/// Errors: `NotValidator`, `CommitmentsPending`.
		#[pallet::call_index(2)]
		#[pallet::weight(T::WeightInfo::deregister_validator())]
		pub fn deregister_validator(origin: OriginFor<T>) -> DispatchResult {
			let who = ensure_signed(origin)?;
			Self::do_deregister(who)
		}

		/// Validator: commit a sealed score of feedback `id`, `commitment =
		/// blake2_256(SCALE(id, validator, score, salt))` (the runtime's hash), during the
		/// feedback's epoch or the first half of the scoring window after it. Nobody can see
		/// or copy the score before reveals open, when commitments have closed. The score
		/// weighs the validator's bond at this moment.
		///
		/// The committee is the `MaxScorers` largest stakes among the committers, not the
		/// first to come: once it is full, a commitment with a larger stake than the smallest
		/// member's takes that member's seat (the latest of equal smallest stakes leaves; it
		/// loses nothing but the chance to score).
		///
		/// Errors: `NotValidator`, `NotYetActive`, `UnknownFeedback`, `OwnFeedback`,
		/// `AlreadyScored`, `TooManyScorers`, `ScoringClosed`, `TooManyUnclaimedEpochs`.
		#[pallet::call_index(3)]
		#[pallet::weight(T::WeightInfo::commit_score())]
		pub fn commit_score(
			origin: OriginFor<T>,
			id: FeedbackId,
			commitment: T::Hash,
		) -> DispatchResult {
			let who = ensure_signed(origin)?;
			Self::do_commit(who, id, commitment)
		}

		/// Validator: reveal the score committed on feedback `id`, in the second half of the
		/// scoring window. An unrevealed commitment counts as not scored: it earns nothing
		/// and costs `MissSlash` of the bond (more than a bad score costs).
		///
		/// Errors: `InvalidScore`, `UnknownFeedback`, `NotCommitted`, `AlreadyRevealed`,
		/// `RevealNotOpen`, `RevealClosed`, `BadReveal`.
		#[pallet::call_index(9)]
		#[pallet::weight(T::WeightInfo::reveal_score())]
		pub fn reveal_score(
			origin: OriginFor<T>,
			id: FeedbackId,
			score: Score,
			salt: [u8; 32],
		) -> DispatchResult {
			let who = ensure_signed(origin)?;
			Self::do_reveal(who, id, score, salt)
		}

		/// Anyone: finalise feedback `id` once its scoring window is over. Its final score is
		/// the stake-weighted median of the revealed scores: the annotator earns that many
		/// points and loses the bond below `SlashThreshold`. Validators within
		/// `ScoreTolerance` earn 2 points, within `DeviationThreshold` 1; farther earns
		/// nothing and costs `DeviationSlash` of the bond. Feedback nobody revealed a score
		/// for earns nothing and its bond comes back with the annotator's claim.
		///
		/// Errors: `UnknownFeedback`, `ScoringNotOver`.
		#[pallet::call_index(8)]
		#[pallet::weight(T::WeightInfo::finalize_feedback(T::MaxScorers::get()))]
		pub fn finalize_feedback(
			origin: OriginFor<T>,
			id: FeedbackId,
		) -> DispatchResultWithPostInfo {
			ensure_signed(origin)?;
			let scorers = Self::do_finalize(id)?;
			Ok(Some(T::WeightInfo::finalize_feedback(scorers)).into())
		}

		/// Anyone: close `epoch` once its scoring window is over and all its feedback is
		/// finalised. It allocates
		/// `EpochRewardShare` of the pool's available funds (what is not owed to earlier
		/// epochs), `ValidatorShare` of it to validators, the rest to annotators; each is paid
		/// per point when claimed. Reads and writes the same records however many annotators
		/// took part; it is charged for the largest state an epoch can leave (see the weights).
		///
		/// Errors: `EpochNotOver`, `AlreadyClosed`, `NothingToClose`, `FeedbackNotFinal`.
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
		/// Charged for claiming `max_epochs` and for reading every epoch you have a stake in
		/// (at most `MaxUnclaimedEpochs`); refunded to the epochs claimed and read.
		///
		/// Errors: `NothingToClaim` (no closed epoch with something to claim).
		#[pallet::call_index(6)]
		#[pallet::weight(T::WeightInfo::claim_many((*max_epochs).min(T::MaxUnclaimedEpochs::get()))
			.saturating_add(T::DbWeight::get().reads(T::MaxUnclaimedEpochs::get().into())))]
		pub fn claim_many(origin: OriginFor<T>, max_epochs: u32) -> DispatchResultWithPostInfo {
			let who = ensure_signed(origin)?;
			let (claimed, passed) = Self::do_claim_many(who, max_epochs)?;
			Ok(Some(
				T::WeightInfo::claim_many(claimed)
					.saturating_add(T::DbWeight::get().reads(passed.into())),
			)
			.into())
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
	}
}
