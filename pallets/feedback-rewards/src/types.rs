//! Records the pallet stores and exchanges, and their `*Of<T>` aliases.

use crate::Config;
use codec::{Decode, DecodeWithMemTracking, Encode, MaxEncodedLen};
use frame_support::{pallet_prelude::BoundedVec, traits::fungible::Inspect};
use scale_info::TypeInfo;

/// The balance type of the currency bonds and rewards are in.
pub type BalanceOf<T> =
	<<T as Config>::Currency as Inspect<<T as frame_system::Config>::AccountId>>::Balance;
/// A feedback record as the runtime stores it.
pub type FeedbackOf<T> = Feedback<
	<T as frame_system::Config>::AccountId,
	BalanceOf<T>,
	<T as frame_system::Config>::Hash,
	<T as Config>::MaxScorers,
>;
/// A validator's record as the runtime stores it.
pub type ValidatorInfoOf<T> = ValidatorInfo<BalanceOf<T>>;
/// An epoch's record as the runtime stores it.
pub type EpochInfoOf<T> = EpochInfo<BalanceOf<T>>;
/// An account's contribution to an epoch as the runtime stores it.
pub type ContributionOf<T> = Contribution<BalanceOf<T>>;

/// Numbers epochs from 0 (blocks `0 .. epoch_length`).
pub type EpochIndex = u32;
/// Identifies a feedback. Ids are assigned in order and never reused.
pub type FeedbackId = u32;
/// Identifies a model (as the inference credits pallet numbers them): the one definition in
/// `tokenmeter-primitives`.
pub use tokenmeter_primitives::ModelId;
/// A validator's score of a feedback, from 0 (useless or wrong) to [`MAX_SCORE`].
pub type Score = u8;
/// The highest score.
pub const MAX_SCORE: Score = 100;

/// What a feedback is.
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
pub enum FeedbackKind {
	/// A rating of the output.
	Rating,
	/// A preference between outputs.
	Preference,
	/// A label for the output.
	Label,
	/// A bug in the output (wrong, broken, harmful).
	BugReport,
	/// A moderation flag.
	Moderation,
}

/// A validator's sealed score of a feedback: the hash of (feedback, validator, score, salt),
/// the stake it carries, and the score once revealed.
#[derive(Encode, Decode, MaxEncodedLen, TypeInfo, Clone, PartialEq, Eq, Debug)]
pub struct Commitment<AccountId, Balance, Hash> {
	/// The validator.
	pub validator: AccountId,
	/// `hash(feedback id, validator, score, salt)`.
	pub hash: Hash,
	/// The validator's bond when it committed: the weight of its score.
	pub stake: Balance,
	/// The score, once revealed.
	pub score: Option<Score>,
}

/// A feedback waiting for its scoring window to close and be finalised.
#[derive(Encode, Decode, MaxEncodedLen, TypeInfo, Clone, PartialEq, Eq, Debug)]
#[scale_info(skip_type_params(MaxScorers))]
#[codec(mel_bound(AccountId: MaxEncodedLen, Balance: MaxEncodedLen, Hash: MaxEncodedLen))]
pub struct Feedback<AccountId, Balance, Hash, MaxScorers: frame_support::traits::Get<u32>> {
	/// Who submitted it.
	pub annotator: AccountId,
	/// The epoch it was submitted in.
	pub epoch: EpochIndex,
	/// The model whose output it is about.
	pub model: ModelId,
	/// The hash of the output.
	pub output_hash: Hash,
	/// What kind of feedback.
	pub kind: FeedbackKind,
	/// The hash of the feedback's content (kept off chain).
	pub payload_hash: Hash,
	/// The annotator's bond for it.
	pub bond: Balance,
	/// The validators' commitments (and revealed scores).
	pub scores: BoundedVec<Commitment<AccountId, Balance, Hash>, MaxScorers>,
}

/// An epoch: what was submitted and scored in it, and once closed, the rewards it allocated.
#[derive(Encode, Decode, MaxEncodedLen, TypeInfo, Clone, Copy, PartialEq, Eq, Debug, Default)]
pub struct EpochInfo<Balance> {
	/// Feedback submitted in it.
	pub feedback: u32,
	/// Of which finalised (the epoch closes once all are).
	pub finalised: u32,
	/// The sum of the final scores of its feedback (annotators' score points).
	pub points: u64,
	/// The sum of its validators' points (2 per score near the final score, 1 per score
	/// farther, none beyond the deviation threshold or unrevealed).
	pub validator_points: u64,
	/// Accounts with a contribution not yet claimed.
	pub unclaimed_accounts: u32,
	/// Closed: the rewards below are allocated and may be claimed.
	pub closed: bool,
	/// Allocated to annotators, in proportion to their points.
	pub annotator_budget: Balance,
	/// Allocated to validators, in proportion to their points.
	pub validator_budget: Balance,
	/// Claimed so far.
	pub claimed: Balance,
}

/// An account's contribution to an epoch, as annotator and as validator.
#[derive(Encode, Decode, MaxEncodedLen, TypeInfo, Clone, Copy, PartialEq, Eq, Debug, Default)]
pub struct Contribution<Balance> {
	/// Feedback submitted.
	pub feedback: u32,
	/// The sum of the final scores of that feedback.
	pub points: u64,
	/// Bonds still held, returned with the claim (bonds of feedback scored below the
	/// threshold went to the pool).
	pub bonds: Balance,
	/// Validator points earned scoring.
	pub validator_points: u64,
}

/// A registered validator.
#[derive(Encode, Decode, MaxEncodedLen, TypeInfo, Clone, Copy, PartialEq, Eq, Debug)]
pub struct ValidatorInfo<Balance> {
	/// The bond held: its stake, the weight of its scores.
	pub bond: Balance,
	/// The first epoch whose feedback it may score (the epoch after it registered).
	pub active_from: EpochIndex,
	/// Its commitments on feedback not yet finalised: it may leave only when there are none.
	pub pending: u32,
	/// Commitments it did not reveal, in a row.
	pub misses: u32,
}

/// Epoch length and scoring window, fixed at genesis.
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
	frame_support::Serialize,
	frame_support::Deserialize,
)]
#[serde(crate = "frame_support::__private::serde", rename_all = "camelCase")]
pub struct EpochParams<BlockNumber> {
	/// Blocks per epoch.
	pub epoch_length: BlockNumber,
	/// Blocks after an epoch's end in which its feedback is scored: validators commit until
	/// the window's middle and reveal in its second half; then the feedback is finalised and
	/// the epoch closed.
	pub scoring_window: BlockNumber,
}

/// Where an epoch is in its life.
#[derive(Encode, Decode, TypeInfo, Clone, Copy, PartialEq, Eq, Debug)]
pub enum EpochState {
	/// Feedback may be submitted and scores committed.
	Open,
	/// Over; scores of its feedback may still be committed (first half of the window) or
	/// revealed (second half).
	Scoring,
	/// The scoring window is over: anyone may finalise its feedback, then close it.
	Closable,
	/// Closed: rewards may be claimed (or all were, and its record is gone).
	Closed,
}

/// An epoch, as the runtime API reports it.
#[derive(Encode, Decode, TypeInfo, Clone, PartialEq, Eq, Debug)]
pub struct EpochStatus<Balance, BlockNumber> {
	/// The epoch.
	pub epoch: EpochIndex,
	/// Where it is.
	pub state: EpochState,
	/// Its first block.
	pub start: BlockNumber,
	/// The first block after it.
	pub end: BlockNumber,
	/// The first block scores of its feedback may be revealed in (commitments close then).
	pub reveal_from: BlockNumber,
	/// The first block it may be closed in.
	pub closable_at: BlockNumber,
	/// Its record (all zero once every reward was claimed).
	pub info: EpochInfo<Balance>,
}

/// An account's unclaimed rewards of one epoch, as the runtime API reports them.
#[derive(Encode, Decode, TypeInfo, Clone, PartialEq, Eq, Debug)]
pub struct PendingReward<Balance> {
	/// The epoch.
	pub epoch: EpochIndex,
	/// Whether it is closed (the reward is known and may be claimed).
	pub closed: bool,
	/// The reward (zero until closed).
	pub reward: Balance,
	/// Bonds returned with the claim.
	pub bonds: Balance,
}
