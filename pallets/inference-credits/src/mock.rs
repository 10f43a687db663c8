//! A test runtime: System, Balances and this pallet, with real `MultiSignature` accounts so
//! vouchers are signed exactly as wallets sign them.

use crate::{
	self as pallet_inference_credits, FreeAllowance, HoldReason, Tier, TierInspect, VoucherSigners,
};
use frame_support::{
	derive_impl, parameter_types,
	traits::{fungible::HoldConsideration, ConstU128, ConstU32, LinearStoragePrice},
	weights::Weight,
};
#[cfg(feature = "runtime-benchmarks")]
use sp_core::sr25519;
use sp_core::Pair;
use sp_keyring::Sr25519Keyring;
use sp_runtime::{
	traits::{IdentityLookup, Verify},
	AccountId32, BuildStorage, MultiSignature, Perbill,
};
use std::{cell::RefCell, collections::BTreeMap};

pub type AccountId = AccountId32;
pub type Balance = u128;
// u32 block numbers, as in the runtime, so vouchers encode exactly as on the chain.
type Block = frame_system::mocking::MockBlockU32<Test>;

frame_support::construct_runtime!(
	pub enum Test {
		System: frame_system,
		Balances: pallet_balances,
		InferenceCredits: pallet_inference_credits,
	}
);

#[derive_impl(frame_system::config_preludes::TestDefaultConfig)]
impl frame_system::Config for Test {
	type Block = Block;
	// Storage is weighed, as in the runtime: a settlement is refunded what it did not touch.
	type DbWeight = frame_support::weights::constants::RocksDbWeight;
	type AccountId = AccountId;
	type Lookup = IdentityLookup<AccountId>;
	type AccountData = pallet_balances::AccountData<Balance>;
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
pub const PROVIDER_BOND: Balance = 1_000;
/// Base of a model or delegation deposit; the footprint adds one per byte.
pub const DEPOSIT_BASE: Balance = 100;
pub const INITIAL_BALANCE: Balance = 1_000_000;

parameter_types! {
	pub const ProviderBond: Balance = PROVIDER_BOND;
	pub const ProtocolFee: Perbill = Perbill::from_percent(10);
	pub const MaxPriceStep: Perbill = Perbill::from_parts(125_000_000);
	pub RewardPool: AccountId = AccountId::new([0xEE; 32]);
	pub TreasuryAccount: AccountId = AccountId::new([0xDD; 32]);
	/// None of the fee by default; tests that split it set this.
	pub static TreasuryShare: Perbill = Perbill::zero();
	pub const ModelDepositReason: RuntimeHoldReason =
		RuntimeHoldReason::InferenceCredits(HoldReason::ModelDeposit);
	pub const DelegationDepositReason: RuntimeHoldReason =
		RuntimeHoldReason::InferenceCredits(HoldReason::DelegationDeposit);
}

thread_local! {
	static TIERS: RefCell<BTreeMap<AccountId, Tier>> = const { RefCell::new(BTreeMap::new()) };
	static ALLOWANCES: RefCell<BTreeMap<AccountId, Balance>> =
		const { RefCell::new(BTreeMap::new()) };
	static SIGNERS: RefCell<BTreeMap<AccountId, Option<AccountId>>> =
		const { RefCell::new(BTreeMap::new()) };
}

/// Voucher signers the tests set by hand (as an agent wallet would); an account not set
/// signs for itself.
pub struct MockSigners;
impl MockSigners {
	/// `signer` signs for `account`; `None`: nobody may.
	pub fn set(account: &AccountId, signer: Option<AccountId>) {
		SIGNERS.with(|s| s.borrow_mut().insert(account.clone(), signer));
	}
}
impl VoucherSigners<AccountId> for MockSigners {
	fn voucher_signer(account: &AccountId, _provider: &AccountId) -> Option<AccountId> {
		SIGNERS.with(|s| s.borrow().get(account).cloned().unwrap_or_else(|| Some(account.clone())))
	}
	fn voucher_signer_weight() -> Weight {
		Weight::zero()
	}
}

/// Free allowances the tests set by hand (a discount: using them moves no funds).
pub struct MockAllowance;
impl MockAllowance {
	pub fn set(who: &AccountId, amount: Balance) {
		ALLOWANCES.with(|a| a.borrow_mut().insert(who.clone(), amount));
	}
}
impl FreeAllowance<AccountId, Balance> for MockAllowance {
	fn allowance_left(who: &AccountId) -> Balance {
		ALLOWANCES.with(|a| a.borrow().get(who).copied().unwrap_or(0))
	}
	fn spend_allowance(who: &AccountId, _provider: &AccountId, amount: Balance) -> Balance {
		let spend = amount.min(Self::allowance_left(who));
		Self::set(who, Self::allowance_left(who) - spend);
		spend
	}
	fn spend_allowance_weight() -> Weight {
		Weight::zero()
	}
}

/// Tiers the tests set by hand.
pub struct MockTiers;
impl MockTiers {
	pub fn set(who: &AccountId, tier: Tier) {
		TIERS.with(|t| t.borrow_mut().insert(who.clone(), tier));
	}
}
impl TierInspect<AccountId> for MockTiers {
	fn tier_of(who: &AccountId) -> Tier {
		TIERS.with(|t| t.borrow().get(who).copied().unwrap_or(0))
	}
}

/// Benchmark signers: sr25519 keys derived from the index.
#[cfg(feature = "runtime-benchmarks")]
pub struct MockBenchmarkHelper;
#[cfg(feature = "runtime-benchmarks")]
impl crate::BenchmarkHelper<AccountId, MultiSignature> for MockBenchmarkHelper {
	fn signer(index: u32) -> AccountId {
		bench_pair(index).public().into()
	}
	fn sign(index: u32, message: &[u8]) -> MultiSignature {
		bench_pair(index).sign(message).into()
	}
}
#[cfg(feature = "runtime-benchmarks")]
fn bench_pair(index: u32) -> sr25519::Pair {
	let mut seed = [7u8; 32];
	seed[..4].copy_from_slice(&index.to_le_bytes());
	sr25519::Pair::from_seed(&seed)
}

impl pallet_inference_credits::Config for Test {
	type Currency = Balances;
	type RuntimeHoldReason = RuntimeHoldReason;
	type ModelConsideration = HoldConsideration<
		AccountId,
		Balances,
		ModelDepositReason,
		LinearStoragePrice<ConstU128<DEPOSIT_BASE>, ConstU128<1>, Balance>,
	>;
	type DelegationConsideration = HoldConsideration<
		AccountId,
		Balances,
		DelegationDepositReason,
		LinearStoragePrice<ConstU128<DEPOSIT_BASE>, ConstU128<1>, Balance>,
	>;
	type ProviderBond = ProviderBond;
	type ProtocolFee = ProtocolFee;
	type RewardPool = RewardPool;
	type TreasuryShare = TreasuryShare;
	type Treasury = TreasuryAccount;
	type Tiers = MockTiers;
	type FreeAllowance = MockAllowance;
	type VoucherSigners = MockSigners;
	type OffchainSignature = MultiSignature;
	type SigningPublicKey = <MultiSignature as Verify>::Signer;
	type MaxNameLen = ConstU32<32>;
	type MaxEndpointLen = ConstU32<64>;
	type MaxModelsPerProvider = ConstU32<4>;
	type MaxEntriesPerSettlement = ConstU32<16>;
	type WithdrawalNotice = ConstU32<WITHDRAWAL_NOTICE>;
	type PriceIncreaseNotice = ConstU32<PRICE_NOTICE>;
	type MaxUsageLateness = ConstU32<LATENESS>;
	type PricingEpoch = ConstU32<PRICING_EPOCH>;
	type MaxPriceStep = MaxPriceStep;
	type MaxMultiplier = ConstU32<10>;
	type WeightInfo = ();
	#[cfg(feature = "runtime-benchmarks")]
	type BenchmarkHelper = MockBenchmarkHelper;
}

/// Well-known test accounts.
pub fn account(who: Sr25519Keyring) -> AccountId {
	who.to_account_id()
}
pub fn alice() -> AccountId {
	account(Sr25519Keyring::Alice)
}
pub fn bob() -> AccountId {
	account(Sr25519Keyring::Bob)
}
pub fn charlie() -> AccountId {
	account(Sr25519Keyring::Charlie)
}
pub fn dave() -> AccountId {
	account(Sr25519Keyring::Dave)
}
pub fn eve() -> AccountId {
	account(Sr25519Keyring::Eve)
}
/// An account with no balance at all.
pub fn pauper() -> AccountId {
	account(Sr25519Keyring::Ferdie)
}

/// Externalities with Alice..Eve endowed, the reward pool alive, at block 1.
pub fn new_test_ext() -> sp_io::TestExternalities {
	let mut storage = frame_system::GenesisConfig::<Test>::default().build_storage().unwrap();
	pallet_balances::GenesisConfig::<Test> {
		balances: vec![
			(alice(), INITIAL_BALANCE),
			(bob(), INITIAL_BALANCE),
			(charlie(), INITIAL_BALANCE),
			(dave(), INITIAL_BALANCE),
			(eve(), INITIAL_BALANCE),
			(RewardPool::get(), ED),
			(TreasuryAccount::get(), ED),
		],
		..Default::default()
	}
	.assimilate_storage(&mut storage)
	.unwrap();
	let mut ext: sp_io::TestExternalities = storage.into();
	ext.execute_with(|| {
		System::set_block_number(1);
		TreasuryShare::set(Perbill::zero());
		TIERS.with(|t| t.borrow_mut().clear());
		ALLOWANCES.with(|a| a.borrow_mut().clear());
	});
	ext
}

/// Runs `test` in fresh externalities and checks the pallet's invariants afterwards.
pub fn run_test(test: impl FnOnce()) {
	new_test_ext().execute_with(|| {
		test();
		InferenceCredits::do_try_state().expect("invariants hold after the test");
	});
}

/// Blocks between a withdrawal request and the withdrawal.
pub const WITHDRAWAL_NOTICE: u32 = 10;
/// Blocks between a price increase and the block it applies.
pub const PRICE_NOTICE: u32 = 5;
/// Usage may be settled up to 20 blocks after it was served.
pub const LATENESS: u32 = 20;
/// Blocks per pricing epoch.
pub const PRICING_EPOCH: u32 = 10;

/// Signs `voucher` as `who` would with a keypair (the bare payload).
pub fn sign_voucher(who: Sr25519Keyring, voucher: &crate::VoucherOf<Test>) -> MultiSignature {
	who.pair().sign(&voucher.signing_payload()).into()
}

/// Signs `voucher` as `who` would in the Polkadot.js extension (`<Bytes>…</Bytes>`).
pub fn sign_voucher_wrapped(
	who: Sr25519Keyring,
	voucher: &crate::VoucherOf<Test>,
) -> MultiSignature {
	who.pair().sign(&voucher.wrapped_signing_payload()).into()
}
