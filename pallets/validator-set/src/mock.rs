//! A test runtime: System and this pallet; accounts 1..=3 validate at genesis and accounts
//! below 100 have session keys.

use crate::{self as pallet_validator_set};
use frame_support::{derive_impl, traits::ConstU32};
use frame_system::EnsureRoot;
use sp_runtime::BuildStorage;

pub type AccountId = u64;
type Block = frame_system::mocking::MockBlock<Test>;

frame_support::construct_runtime!(
	pub enum Test {
		System: frame_system,
		ValidatorSet: pallet_validator_set,
	}
);

#[derive_impl(frame_system::config_preludes::TestDefaultConfig)]
impl frame_system::Config for Test {
	type Block = Block;
}

thread_local! {
	/// Accounts the benchmarks gave session keys.
	static REGISTERED: std::cell::RefCell<Vec<AccountId>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Accounts below 100 have session keys, and those the benchmarks registered.
pub struct MockKeys;
impl frame_support::traits::ValidatorRegistration<AccountId> for MockKeys {
	fn is_registered(id: &AccountId) -> bool {
		*id < 100 || REGISTERED.with(|r| r.borrow().contains(id))
	}
}

impl pallet_validator_set::Config for Test {
	type AdminOrigin = EnsureRoot<AccountId>;
	type KeysRegistered = MockKeys;
	type MinValidators = ConstU32<2>;
	type MaxValidators = ConstU32<4>;
	type WeightInfo = ();
	#[cfg(feature = "runtime-benchmarks")]
	type BenchmarkHelper = MockKeys;
}

#[cfg(feature = "runtime-benchmarks")]
impl crate::BenchmarkHelper<AccountId> for MockKeys {
	fn register_keys(who: &AccountId) {
		REGISTERED.with(|r| r.borrow_mut().push(*who));
	}
}

pub fn new_test_ext() -> sp_io::TestExternalities {
	let mut storage = frame_system::GenesisConfig::<Test>::default().build_storage().unwrap();
	pallet_validator_set::GenesisConfig::<Test> { initial_validators: vec![1, 2, 3] }
		.assimilate_storage(&mut storage)
		.unwrap();
	let mut ext: sp_io::TestExternalities = storage.into();
	ext.execute_with(|| System::set_block_number(1));
	ext
}

pub fn run_test(test: impl FnOnce()) {
	new_test_ext().execute_with(|| {
		test();
		ValidatorSet::do_try_state().expect("invariants hold after the test");
	});
}
