//! Feedback rewards: bonds, caps, stake-weighted commit–reveal scoring and the reward pool
//! the credits pallet's protocol fee fills.

use frame_support::traits::{ConstU32, Contains};

use super::{inference_credits::RewardPoolAccount, parameters::dynamic_params::feedback};
use crate::{Balances, Runtime, RuntimeHoldReason};

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
	// Bonds, fees, shares, slashes and grading bands are runtime parameters (`Feedback.*`,
	// set by the parameters track; defaults in `parameters.rs`): filling an epoch's 10,000
	// feedback costs 1,000 TMT in fees by default.
	type FeedbackBond = feedback::FeedbackBond;
	type FeedbackFee = feedback::FeedbackFee;
	type ValidatorBond = feedback::ValidatorBond;
	type MaxFeedbackPerAnnotator = ConstU32<50>;
	type MaxFeedbackPerEpoch = ConstU32<10_000>;
	type MaxValidators = ConstU32<100>;
	type MaxScorers = ConstU32<16>;
	type ScoreTolerance = feedback::ScoreTolerance;
	type DeviationThreshold = feedback::DeviationThreshold;
	type DeviationSlash = feedback::DeviationSlash;
	type MissSlash = feedback::MissSlash;
	type SlashThreshold = feedback::SlashThreshold;
	type EpochRewardShare = feedback::EpochRewardShare;
	type ValidatorShare = feedback::ValidatorShare;
	type MaxUnclaimedEpochs = ConstU32<32>;
	type WeightInfo = pallet_feedback_rewards::weights::SubstrateWeight<Runtime>;
	#[cfg(feature = "runtime-benchmarks")]
	type BenchmarkHelper = ListedModels;
}

/// The benchmarks list a model with a provider of their own.
#[cfg(feature = "runtime-benchmarks")]
impl pallet_feedback_rewards::BenchmarkHelper for ListedModels {
	fn model() -> pallet_feedback_rewards::ModelId {
		use crate::UNIT;
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
