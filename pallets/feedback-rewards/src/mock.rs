//! A test runtime: System, Balances and this pallet, with models 0 to 9, epochs of 10 blocks
//! scored until 5 blocks after, and a quorum of 3.

use crate::{self as pallet_feedback_rewards, EpochParams};
use frame_support::{
	derive_impl, parameter_types,
	traits::{ConstU128, ConstU32, ConstU8},
};
use sp_runtime::{BuildStorage, Perbill};

pub type AccountId = u64;
pub type Balance = u128;
type Block = frame_system::mocking::MockBlockU32<Test>;

frame_support::construct_runtime!(
	pub enum Test {
		System: frame_system,
		Balances: pallet_balances,
		FeedbackRewards: pallet_feedback_rewards,
	}
);

#[derive_impl(frame_system::config_preludes::TestDefaultConfig)]
impl frame_system::Config for Test {
	type Block = Block;
	type AccountData = pallet_balances::AccountData<Balance>;
	// Non-zero, so that tests of reported weights see the storage reads.
	type DbWeight = frame_support::weights::constants::RocksDbWeight;
}

#[derive_impl(pallet_balances::config_preludes::TestDefaultConfig)]
impl pallet_balances::Config for Test {
	type Balance = Balance;
	type AccountStore = System;
	type ExistentialDeposit = ConstU128<ED>;
	type RuntimeHoldReason = RuntimeHoldReason;
	type RuntimeFreezeReason = RuntimeFreezeReason;
}

pub const ED: Balance = 10;
pub const FEEDBACK_BOND: Balance = 100;
pub const FEE_PER_FEEDBACK: Balance = 5;
pub const VALIDATOR_BOND: Balance = 1_000;
pub const INITIAL_BALANCE: Balance = 1_000_000;
pub const POOL_FUNDS: Balance = 100_000;
pub const EPOCH: u32 = 10;
pub const WINDOW: u32 = 5;
pub const MAX_SCORERS: u32 = 5;
pub const PER_ANNOTATOR: u32 = 3;
pub const PER_EPOCH: u32 = 8;
pub const MAX_UNCLAIMED: u32 = 4;

pub const POOL: AccountId = 99;
/// Annotators 1 to 9, validators 11 to 15.
pub const ANNA: AccountId = 1;
pub const BEN: AccountId = 2;
pub const VAL_A: AccountId = 11;
pub const VAL_B: AccountId = 12;
pub const VAL_C: AccountId = 13;
pub const VAL_D: AccountId = 14;

parameter_types! {
	pub const RewardPool: AccountId = POOL;
	/// Half of what the pool has available, a fifth of it to validators.
	pub const EpochRewardShare: Perbill = Perbill::from_percent(50);
	pub const ValidatorShare: Perbill = Perbill::from_percent(20);
	/// A tenth of the bond for a score far from the final one, more for a miss.
	pub const DeviationSlash: Perbill = Perbill::from_percent(10);
	pub const MissSlash: Perbill = Perbill::from_percent(15);
	/// No fee unless a test sets one (`FeedbackFee::set(FEE_PER_FEEDBACK)`).
	pub static FeedbackFee: Balance = 0;
}

/// Models 0 to 9 exist.
pub struct KnownModels;
impl frame_support::traits::Contains<u32> for KnownModels {
	fn contains(model: &u32) -> bool {
		*model < 10
	}
}

impl pallet_feedback_rewards::Config for Test {
	type Currency = Balances;
	type RuntimeHoldReason = RuntimeHoldReason;
	type Models = KnownModels;
	type RewardPool = RewardPool;
	type FeedbackBond = ConstU128<FEEDBACK_BOND>;
	type FeedbackFee = FeedbackFee;
	type ValidatorBond = ConstU128<VALIDATOR_BOND>;
	type MaxFeedbackPerAnnotator = ConstU32<PER_ANNOTATOR>;
	type MaxFeedbackPerEpoch = ConstU32<PER_EPOCH>;
	type MaxValidators = ConstU32<12>;
	type MaxScorers = ConstU32<MAX_SCORERS>;
	type ScoreTolerance = ConstU8<10>;
	type DeviationThreshold = ConstU8<30>;
	type DeviationSlash = DeviationSlash;
	type MissSlash = MissSlash;
	type SlashThreshold = ConstU8<20>;
	type EpochRewardShare = EpochRewardShare;
	type ValidatorShare = ValidatorShare;
	type MaxUnclaimedEpochs = ConstU32<MAX_UNCLAIMED>;
	type WeightInfo = ();
	#[cfg(feature = "runtime-benchmarks")]
	type BenchmarkHelper = KnownModels;
}

#[cfg(feature = "runtime-benchmarks")]
impl crate::BenchmarkHelper for KnownModels {
	fn model() -> u32 {
		1
	}
}

/// Externalities with annotators 1–9 and validators 11–16 endowed, the pool funded, at block 1.
pub fn new_test_ext() -> sp_io::TestExternalities {
	let mut storage = frame_system::GenesisConfig::<Test>::default().build_storage().unwrap();
	let mut balances: Vec<(AccountId, Balance)> =
		(1..=9).chain(11..=16).map(|who| (who, INITIAL_BALANCE)).collect();
	balances.push((POOL, POOL_FUNDS));
	pallet_balances::GenesisConfig::<Test> { balances, ..Default::default() }
		.assimilate_storage(&mut storage)
		.unwrap();
	pallet_feedback_rewards::GenesisConfig::<Test> {
		params: Some(EpochParams { epoch_length: EPOCH, scoring_window: WINDOW }),
	}
	.assimilate_storage(&mut storage)
	.unwrap();
	let mut ext: sp_io::TestExternalities = storage.into();
	ext.execute_with(|| System::set_block_number(1));
	ext
}

/// Runs `test` in fresh externalities and checks the pallet's invariants afterwards.
pub fn run_test(test: impl FnOnce()) {
	new_test_ext().execute_with(|| {
		test();
		FeedbackRewards::do_try_state().expect("invariants hold after the test");
	});
}

/// Moves to block `n`.
pub fn go_to(n: u32) {
	System::set_block_number(n);
}
