//! A test runtime: System, Balances and this pallet.

use crate::{self as pallet_priority_staking, StakingParams, TierInfo};
use frame_support::{
	derive_impl,
	traits::{ConstU128, ConstU32},
};
use sp_runtime::BuildStorage;

pub type AccountId = u64;
pub type Balance = u128;
type Block = frame_system::mocking::MockBlockU32<Test>;

frame_support::construct_runtime!(
	pub enum Test {
		System: frame_system,
		Balances: pallet_balances,
		PriorityStaking: pallet_priority_staking,
	}
);

#[derive_impl(frame_system::config_preludes::TestDefaultConfig)]
impl frame_system::Config for Test {
	type Block = Block;
	type AccountData = pallet_balances::AccountData<Balance>;
}

#[derive_impl(pallet_balances::config_preludes::TestDefaultConfig)]
impl pallet_balances::Config for Test {
	type Balance = Balance;
	type AccountStore = System;
	type ExistentialDeposit = ConstU128<ED>;
	type RuntimeHoldReason = RuntimeHoldReason;
	type RuntimeFreezeReason = RuntimeFreezeReason;
	type FreezeIdentifier = RuntimeFreezeReason;
	type MaxFreezes = ConstU32<2>;
}

pub const ED: Balance = 10;
pub const MIN_STAKE: Balance = 100;
pub const INITIAL_BALANCE: Balance = 1_000_000;
pub const DEFAULT_RATE_LIMIT: u32 = 10;
pub const MAX_CHUNKS: u32 = 4;

pub const ALICE: AccountId = 1;
pub const BOB: AccountId = 2;
pub const CHARLIE: AccountId = 3;
pub const PROVIDER: AccountId = 7;
/// An account with no balance.
pub const PAUPER: AccountId = 8;

/// Warm-up 10 blocks, unbonding 20 blocks, epochs of 100 blocks.
pub const WARM_UP: u32 = 10;
pub const UNBONDING: u32 = 20;
pub const EPOCH: u32 = 100;

impl pallet_priority_staking::Config for Test {
	type Currency = Balances;
	type RuntimeFreezeReason = RuntimeFreezeReason;
	type MaxTiers = ConstU32<4>;
	type MaxChunks = ConstU32<MAX_CHUNKS>;
	type MinStake = ConstU128<MIN_STAKE>;
	type DefaultRateLimit = ConstU32<DEFAULT_RATE_LIMIT>;
	type AdminOrigin = frame_system::EnsureRoot<u64>;
	type WeightInfo = ();
}

/// The test tiers: 1 000 → tier 1, 10 000 → tier 2, 100 000 → tier 3.
pub fn test_tiers() -> Vec<TierInfo<Balance>> {
	vec![
		TierInfo { min_stake: 1_000, priority_weight: 1, rate_limit: 60, free_allowance: 50 },
		TierInfo { min_stake: 10_000, priority_weight: 5, rate_limit: 300, free_allowance: 500 },
		TierInfo {
			min_stake: 100_000,
			priority_weight: 20,
			rate_limit: 1_200,
			free_allowance: 5_000,
		},
	]
}

/// Externalities with Alice, Bob and Charlie endowed, the test tiers and
/// periods, at block 1.
pub fn new_test_ext() -> sp_io::TestExternalities {
	let mut storage = frame_system::GenesisConfig::<Test>::default().build_storage().unwrap();
	pallet_balances::GenesisConfig::<Test> {
		balances: vec![
			(ALICE, INITIAL_BALANCE),
			(BOB, INITIAL_BALANCE),
			(CHARLIE, INITIAL_BALANCE),
			(PROVIDER, ED),
		],
		..Default::default()
	}
	.assimilate_storage(&mut storage)
	.unwrap();
	pallet_priority_staking::GenesisConfig::<Test> {
		tiers: test_tiers(),
		params: Some(StakingParams {
			warm_up: WARM_UP,
			unbonding_period: UNBONDING,
			epoch_length: EPOCH,
		}),
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
		PriorityStaking::do_try_state().expect("invariants hold after the test");
	});
}

/// Moves to block `n`.
pub fn go_to(n: u32) {
	System::set_block_number(n);
}
