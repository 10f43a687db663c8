//! Feedback rewards: bonds, caps, stake-weighted commit–reveal scoring and the reward pool
//! the credits pallet's protocol fee fills.

use frame_support::{
	parameter_types,
	traits::{ConstU32, ConstU8, Contains},
};
use sp_runtime::Perbill;

use super::inference_credits::RewardPoolAccount;
use crate::{Balance, Balances, Runtime, RuntimeHoldReason, UNIT};

parameter_types! {
	/// An annotator's bond per feedback.
	pub const FeedbackBond: Balance = UNIT;
	/// An annotator's fee per feedback, to the reward pool: filling an epoch's 10,000
	/// feedback costs 1,000 TMT.
	pub const FeedbackFee: Balance = UNIT / 10;
	/// The smallest validator bond (more may be bonded, and weighs more).
	pub const ValidatorBond: Balance = 100 * UNIT;
	/// A tenth of what the pool has available is allocated to each epoch.
	pub const EpochRewardShare: Perbill = Perbill::from_percent(10);
	/// A fifth of an epoch's allocation goes to validators.
	pub const ValidatorShare: Perbill = Perbill::from_percent(20);
	/// A score more than `DeviationThreshold` from the final one costs 2% of the bond.
	pub const DeviationSlash: Perbill = Perbill::from_percent(2);
	/// Every unrevealed commitment costs 3% of the bond: more than a bad score.
	pub const MissSlash: Perbill = Perbill::from_percent(3);
}

/// Feedback may be about any model of the inference credits pallet that is not retired.
pub struct ListedModels;

impl Contains<pallet_feedback_rewards::ModelId> for ListedModels {
	fn contains(model: &pallet_feedback_rewards::ModelId) -> bool {
		pallet_inference_credits::Models::<Runtime>::get(model).is_some_and(|m| !m.retired)
	}
}

impl pallet_feedback_rewards::Config for Runtime {
	type Currency = Balances;
	type RuntimeHoldReason = RuntimeHoldReason;
	type Models = ListedModels;
	type RewardPool = RewardPoolAccount;
	type FeedbackBond = FeedbackBond;
	type FeedbackFee = FeedbackFee;
	type ValidatorBond = ValidatorBond;
	type MaxFeedbackPerAnnotator = ConstU32<50>;
	type MaxFeedbackPerEpoch = ConstU32<10_000>;
	type MaxValidators = ConstU32<100>;
	type MaxScorers = ConstU32<16>;
	type ScoreTolerance = ConstU8<10>;
	type DeviationThreshold = ConstU8<30>;
	type DeviationSlash = DeviationSlash;
	type MissSlash = MissSlash;
	type SlashThreshold = ConstU8<20>;
	type EpochRewardShare = EpochRewardShare;
	type ValidatorShare = ValidatorShare;
	type MaxUnclaimedEpochs = ConstU32<32>;
	type WeightInfo = pallet_feedback_rewards::weights::SubstrateWeight<Runtime>;
	#[cfg(feature = "runtime-benchmarks")]
	type BenchmarkHelper = ListedModels;
}

/// The benchmarks list a model with a provider of their own.
#[cfg(feature = "runtime-benchmarks")]
impl pallet_feedback_rewards::BenchmarkHelper for ListedModels {
	fn model() -> pallet_feedback_rewards::ModelId {
		use frame_support::traits::fungible::Mutate;
		let provider: crate::AccountId = frame_benchmarking::account("provider", 0, 0);
		let _ = Balances::set_balance(&provider, 1_000_000 * UNIT);
		let origin = crate::RuntimeOrigin::signed(provider);
		let model = pallet_inference_credits::NextModelId::<Runtime>::get();
		let _ = crate::InferenceCredits::register_provider(
			origin.clone(),
			b"bench".to_vec().try_into().unwrap_or_default(),
			b"https://bench".to_vec().try_into().unwrap_or_default(),
		);
		let _ = crate::InferenceCredits::register_model(
			origin,
			b"model".to_vec().try_into().unwrap_or_default(),
			UNIT,
			UNIT,
			pallet_inference_credits::AccessRule::Open,
		);
		model
	}
}
