//! A test runtime: System, Balances, Utility (for batches), a small pallet that puts the
//! caller's funds on hold and releases them (as credits do), and this pallet.

use crate::{self as pallet_agent_wallet, AgentCalls, AgentPaysFees, HoldReason, Policy};
use frame_support::weights::IdentityFee;
use frame_support::{
	derive_impl, parameter_types,
	traits::{fungible::HoldConsideration, ConstU128, ConstU32, LinearStoragePrice},
};
use pallet_transaction_payment::FungibleAdapter;
use sp_runtime::{testing::TestSignature, BuildStorage};

pub type AccountId = u64;
pub type Balance = u128;
type Block = frame_system::mocking::MockBlockU32<Test>;

/// A pallet whose calls put the caller's funds on hold and release them, as depositing and
/// withdrawing inference credits does.
#[frame_support::pallet(dev_mode)]
pub mod holds {
	use frame_support::{
		pallet_prelude::*,
		traits::{
			fungible::{Mutate, MutateHold},
			tokens::{Precision, Preservation},
		},
	};
	use frame_system::pallet_prelude::*;

	#[pallet::pallet]
	pub struct Pallet<T>(_);

	#[pallet::config]
	pub trait Config: frame_system::Config<AccountId = u64> {
		type Currency: MutateHold<Self::AccountId, Reason = Self::RuntimeHoldReason, Balance = u128>
			+ Mutate<Self::AccountId>;
		type RuntimeHoldReason: From<HoldReason>;
	}

	#[pallet::composite_enum]
	pub enum HoldReason {
		Locked,
	}

	#[pallet::call]
	impl<T: Config> Pallet<T> {
		pub fn lock(origin: OriginFor<T>, amount: u128) -> DispatchResult {
			let who = ensure_signed(origin)?;
			T::Currency::hold(&HoldReason::Locked.into(), &who, amount)
		}

		pub fn unlock(origin: OriginFor<T>, amount: u128) -> DispatchResult {
			let who = ensure_signed(origin)?;
			T::Currency::release(&HoldReason::Locked.into(), &who, amount, Precision::Exact)
				.map(|_| ())
		}

		/// Pays the caller `amount` from the faucet, as a reward claim does.
		pub fn collect(origin: OriginFor<T>, amount: u128) -> DispatchResult {
			let who = ensure_signed(origin)?;
			T::Currency::transfer(&super::FAUCET, &who, amount, Preservation::Preserve).map(|_| ())
		}
	}
}

frame_support::construct_runtime!(
	pub enum Test {
		System: frame_system,
		Balances: pallet_balances,
		TransactionPayment: pallet_transaction_payment,
		Utility: pallet_utility,
		Holds: holds,
		AgentWallet: pallet_agent_wallet,
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
	type FreezeIdentifier = RuntimeFreezeReason;
	type MaxFreezes = ConstU32<2>;
}

#[derive_impl(pallet_transaction_payment::config_preludes::TestDefaultConfig)]
impl pallet_transaction_payment::Config for Test {
	type OnChargeTransaction = AgentPaysFees<Test, FungibleAdapter<Balances, ()>>;
	type WeightToFee = IdentityFee<Balance>;
	type LengthToFee = IdentityFee<Balance>;
}

impl pallet_utility::Config for Test {
	type RuntimeEvent = RuntimeEvent;
	type RuntimeCall = RuntimeCall;
	type PalletsOrigin = OriginCaller;
	type WeightInfo = ();
}

impl holds::Config for Test {
	type Currency = Balances;
	type RuntimeHoldReason = RuntimeHoldReason;
}

pub const ED: Balance = 10;
pub const AGENT_DEPOSIT: Balance = 500;
pub const PENDING_DEPOSIT: Balance = 50;
pub const INITIAL_BALANCE: Balance = 1_000_000;
pub const MAX_PENDING: u32 = 3;
pub const PENDING_LIFETIME: u64 = 20;
/// Blocks after an owner's change during which the previous signer's vouchers still settle.
pub const SETTLEMENT_GRACE: u64 = 10;

pub const OWNER: AccountId = 1;
pub const CONTROLLER: AccountId = 2;
pub const SHOP: AccountId = 3;
pub const ATTACKER: AccountId = 4;
pub const COSIGNER_A: AccountId = 5;
pub const COSIGNER_B: AccountId = 6;
pub const STRANGER: AccountId = 7;
/// Pays out `holds::collect`, as a reward pool pays claims.
pub const FAUCET: AccountId = 98;

parameter_types! {
	pub const AgentDepositReason: RuntimeHoldReason =
		RuntimeHoldReason::AgentWallet(HoldReason::AgentDeposit);
	pub const PendingDepositReason: RuntimeHoldReason =
		RuntimeHoldReason::AgentWallet(HoldReason::PendingDeposit);
}

/// Agents may transfer (to allowed payees), batch, remark and use the holds pallet.
pub struct MockAgentCalls;
impl AgentCalls<RuntimeCall, AccountId> for MockAgentCalls {
	fn allows(call: &RuntimeCall, payees: Option<&[AccountId]>) -> bool {
		let may_pay = |dest: &AccountId| payees.is_none_or(|p| p.contains(dest));
		match call {
			RuntimeCall::Balances(pallet_balances::Call::transfer_keep_alive { dest, .. })
			| RuntimeCall::Balances(pallet_balances::Call::transfer_allow_death { dest, .. }) => {
				may_pay(dest)
			}
			RuntimeCall::Utility(
				pallet_utility::Call::batch { .. }
				| pallet_utility::Call::batch_all { .. }
				| pallet_utility::Call::force_batch { .. },
			) => true,
			RuntimeCall::System(frame_system::Call::remark { .. }) => true,
			RuntimeCall::Holds(holds::Call::lock { .. } | holds::Call::unlock { .. }) => true,
			_ => false,
		}
	}

	fn allows_alone(call: &RuntimeCall) -> bool {
		matches!(call, RuntimeCall::Holds(holds::Call::collect { .. }))
	}
}

#[cfg(feature = "runtime-benchmarks")]
pub struct MockBenchmarkHelper;
#[cfg(feature = "runtime-benchmarks")]
impl crate::BenchmarkHelper<RuntimeCall, AccountId, TestSignature> for MockBenchmarkHelper {
	fn harmless_call() -> RuntimeCall {
		RuntimeCall::System(frame_system::Call::remark { remark: vec![] })
	}

	fn signer() -> AccountId {
		77
	}

	fn sign(message: &[u8]) -> TestSignature {
		TestSignature(77, message.to_vec())
	}
}

/// What an agent pays for a signed payment here, whatever its weight and length.
pub const SIGNED_PAYMENT_FEE: Balance = 5;

/// A fixed fee for signed payments.
pub struct MockSignedPaymentFee;
impl crate::SignedPaymentFee<Balance> for MockSignedPaymentFee {
	fn fee(_weight: frame_support::weights::Weight, _length: u32) -> Balance {
		SIGNED_PAYMENT_FEE
	}
}

/// `who`'s signature of `message` (the mock's signatures name their signer).
pub fn sign(who: AccountId, message: &[u8]) -> TestSignature {
	TestSignature(who, message.to_vec())
}

impl pallet_agent_wallet::Config for Test {
	type Currency = Balances;
	type RuntimeCall = RuntimeCall;
	type AgentCalls = MockAgentCalls;
	type AgentDeposit = HoldConsideration<
		AccountId,
		Balances,
		AgentDepositReason,
		LinearStoragePrice<ConstU128<AGENT_DEPOSIT>, ConstU128<0>, Balance>,
	>;
	type PendingDeposit = HoldConsideration<
		AccountId,
		Balances,
		PendingDepositReason,
		LinearStoragePrice<ConstU128<PENDING_DEPOSIT>, ConstU128<0>, Balance>,
	>;
	type MaxPayees = ConstU32<4>;
	type MaxCosigners = ConstU32<3>;
	type MaxPending = ConstU32<MAX_PENDING>;
	type PendingLifetime = ConstU32<{ PENDING_LIFETIME as u32 }>;
	type SettlementGrace = ConstU32<{ SETTLEMENT_GRACE as u32 }>;
	type Signature = TestSignature;
	type SignedPaymentFee = MockSignedPaymentFee;
	type WeightInfo = ();
	#[cfg(feature = "runtime-benchmarks")]
	type BenchmarkHelper = MockBenchmarkHelper;
}

/// Per payment 100, per period (10 blocks) 300, any payee, cosign above 50 by the owner
/// alone, no expiry.
pub fn test_policy() -> crate::PolicyOf<Test> {
	Policy {
		per_payment_cap: 100,
		period_cap: 300,
		period_length: 10,
		payees: None,
		cosign_threshold: 50,
		cosigners: Default::default(),
		approvals_needed: 1,
		expiry: None,
		pays_fees: false,
	}
}

/// Externalities with the owner, controller, cosigners and attacker endowed, at block 1.
pub fn new_test_ext() -> sp_io::TestExternalities {
	let mut storage = frame_system::GenesisConfig::<Test>::default().build_storage().unwrap();
	pallet_balances::GenesisConfig::<Test> {
		balances: vec![
			(OWNER, INITIAL_BALANCE),
			(CONTROLLER, INITIAL_BALANCE),
			(COSIGNER_A, INITIAL_BALANCE),
			(COSIGNER_B, INITIAL_BALANCE),
			(ATTACKER, INITIAL_BALANCE),
			(STRANGER, INITIAL_BALANCE),
			(FAUCET, INITIAL_BALANCE),
		],
		..Default::default()
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
		AgentWallet::do_try_state().expect("invariants hold after the test");
	});
}

/// Moves to block `n`.
pub fn go_to(n: u32) {
	System::set_block_number(n);
}
