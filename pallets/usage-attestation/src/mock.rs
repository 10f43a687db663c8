//! A test runtime: System, Balances and this pallet, with a settlement that charges one unit
//! per token of each valid record and rejects invalid ones.

use crate::{self as pallet_usage_attestation, SettleUsage, SettlementSummary, UsageTokens};
use codec::{Decode, DecodeWithMemTracking, Encode, MaxEncodedLen};
use frame_support::{
	derive_impl, parameter_types,
	traits::{fungible::HoldConsideration, ConstU128, ConstU32, LinearStoragePrice},
	weights::Weight,
};
use scale_info::TypeInfo;
use sp_runtime::{
	testing::{TestSignature, TestXt, UintAuthorityId},
	BuildStorage, DispatchError,
};
use std::cell::{Cell, RefCell};

pub type AccountId = u64;
pub type Balance = u128;
type Block = frame_system::mocking::MockBlockU32<Test>;

frame_support::construct_runtime!(
	pub enum Test {
		System: frame_system,
		Balances: pallet_balances,
		UsageAttestation: pallet_usage_attestation,
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
	type ExistentialDeposit = ConstU128<1>;
	type RuntimeHoldReason = RuntimeHoldReason;
}

/// A usage record: who, how many tokens, and whether its voucher is good.
#[derive(
	Encode, Decode, DecodeWithMemTracking, MaxEncodedLen, TypeInfo, Clone, PartialEq, Eq, Debug,
)]
pub struct MockEntry {
	pub user: AccountId,
	pub tokens: u32,
	pub valid: bool,
}

impl UsageTokens for MockEntry {
	fn tokens(&self) -> u64 {
		self.tokens.into()
	}
}

thread_local! {
	/// Every settlement: the provider and the records it got.
	pub static SETTLED: RefCell<Vec<(AccountId, Vec<MockEntry>)>> = const { RefCell::new(Vec::new()) };
	/// What a record is declared to weigh at most to settle (ref time).
	pub static WORST_PER_RECORD: Cell<u64> = const { Cell::new(10_000_000) };
	/// What a record is expected to weigh to settle (ref time); the worst case when `None`.
	pub static EXPECTED_PER_RECORD: Cell<Option<u64>> = const { Cell::new(None) };
}

/// Charges one unit per token of valid records; rejects the others. A record weighs at most
/// `WORST_PER_RECORD` (10 µs) to settle, 1 µs plus 4 µs per signature check it made: one for
/// each valid record. It is expected to weigh `EXPECTED_PER_RECORD`, the worst by default.
pub struct MockSettlement;
impl SettleUsage<AccountId> for MockSettlement {
	type Entry = MockEntry;
	type Balance = Balance;
	fn settle(
		provider: &AccountId,
		entries: Vec<MockEntry>,
	) -> Result<SettlementSummary<Balance>, DispatchError> {
		let mut summary = SettlementSummary::default();
		for e in &entries {
			if e.valid {
				summary.charged += Balance::from(e.tokens);
				summary.signature_checks += 1;
			} else {
				summary.rejected_entries += 1;
			}
		}
		SETTLED.with(|s| s.borrow_mut().push((*provider, entries)));
		Ok(summary)
	}
	fn settle_weight(entries: u32) -> Weight {
		Weight::from_parts(WORST_PER_RECORD.get() * u64::from(entries), 0)
	}
	fn expected_weight(_provider: &AccountId, entries: &[MockEntry]) -> Weight {
		let per_record = EXPECTED_PER_RECORD.get().unwrap_or(WORST_PER_RECORD.get());
		Weight::from_parts(per_record * entries.len() as u64, 0)
	}
	fn settled_weight(entries: u32, summary: &SettlementSummary<Balance>) -> Weight {
		Weight::from_parts(
			1_000_000 * u64::from(entries) + 4_000_000 * u64::from(summary.signature_checks),
			0,
		)
	}
}

pub fn settled() -> Vec<(AccountId, Vec<MockEntry>)> {
	SETTLED.with(|s| s.borrow().clone())
}

pub const PROVIDER: AccountId = 1;
pub const OTHER_PROVIDER: AccountId = 2;
pub const OPERATOR: AccountId = 11;
pub const SECOND_OPERATOR: AccountId = 12;
pub const OTHER_OPERATOR: AccountId = 21;
pub const STRANGER: AccountId = 99;
pub const OPERATOR_DEPOSIT: Balance = 50;
pub const EPOCH: u32 = 10;

parameter_types! {
	pub const OperatorDepositReason: RuntimeHoldReason =
		RuntimeHoldReason::UsageAttestation(pallet_usage_attestation::HoldReason::OperatorDeposit);
}

/// Providers 1 and 2.
pub struct MockProviders;
impl frame_support::traits::Contains<AccountId> for MockProviders {
	fn contains(who: &AccountId) -> bool {
		*who == PROVIDER || *who == OTHER_PROVIDER
	}
}

/// Transactions the off-chain worker submits: the signer's account and the call.
pub type Extrinsic = TestXt<RuntimeCall, ()>;

impl frame_system::offchain::SigningTypes for Test {
	type Public = UintAuthorityId;
	type Signature = TestSignature;
}

impl<C> frame_system::offchain::CreateTransactionBase<C> for Test
where
	RuntimeCall: From<C>,
{
	type Extrinsic = Extrinsic;
	type RuntimeCall = RuntimeCall;
}

impl<C> frame_system::offchain::CreateSignedTransaction<C> for Test
where
	RuntimeCall: From<C>,
{
	fn create_signed_transaction<
		K: frame_system::offchain::AppCrypto<Self::Public, Self::Signature>,
	>(
		call: RuntimeCall,
		_public: UintAuthorityId,
		account: AccountId,
		_nonce: Self::Nonce,
	) -> Option<Extrinsic> {
		Some(Extrinsic::new_signed(call, account, (), ()))
	}
}

/// Operator keys are `UintAuthorityId`s: key `n` is account `n`.
pub struct MockOperatorKey;
impl frame_system::offchain::AppCrypto<UintAuthorityId, TestSignature> for MockOperatorKey {
	type RuntimeAppPublic = UintAuthorityId;
	type GenericPublic = UintAuthorityId;
	type GenericSignature = TestSignature;
}

/// Feed records become mock entries: the user is a number, the tokens add up, and the
/// voucher is good when its signature is `0x01`.
pub struct MockFeedEntries;
impl crate::FeedEntry<AccountId, MockEntry> for MockFeedEntries {
	fn entry(_provider: &AccountId, record: crate::FeedRecord) -> Result<MockEntry, &'static str> {
		Ok(MockEntry {
			user: record.user.parse().map_err(|_| "user")?,
			tokens: record.input_tokens.saturating_add(record.output_tokens),
			valid: record.signature == [1],
		})
	}
}

impl pallet_usage_attestation::Config for Test {
	type Settlement = MockSettlement;
	type Providers = MockProviders;
	type OperatorDeposit = HoldConsideration<
		AccountId,
		Balances,
		OperatorDepositReason,
		LinearStoragePrice<ConstU128<OPERATOR_DEPOSIT>, ConstU128<0>, Balance>,
	>;
	type MaxOperators = ConstU32<2>;
	type MaxEntries = ConstU32<4>;
	type EpochLength = ConstU32<EPOCH>;
	type OperatorKey = MockOperatorKey;
	type FeedEntries = MockFeedEntries;
	type WeightInfo = ();
	#[cfg(feature = "runtime-benchmarks")]
	type BenchmarkHelper = MockProviders;
}

#[cfg(feature = "runtime-benchmarks")]
impl crate::BenchmarkHelper<AccountId, MockEntry> for MockProviders {
	fn provider() -> AccountId {
		PROVIDER
	}
	fn entry(i: u32) -> MockEntry {
		MockEntry { user: 1_000 + u64::from(i), tokens: 1_000, valid: true }
	}
}

pub fn new_test_ext() -> sp_io::TestExternalities {
	let mut storage = frame_system::GenesisConfig::<Test>::default().build_storage().unwrap();
	pallet_balances::GenesisConfig::<Test> {
		balances: vec![(PROVIDER, 10_000), (OTHER_PROVIDER, 10_000), (STRANGER, 10_000)],
		..Default::default()
	}
	.assimilate_storage(&mut storage)
	.unwrap();
	let mut ext: sp_io::TestExternalities = storage.into();
	ext.execute_with(|| {
		System::set_block_number(1);
		SETTLED.with(|s| s.borrow_mut().clear());
	});
	ext
}

pub fn run_test(test: impl FnOnce()) {
	new_test_ext().execute_with(|| {
		test();
		UsageAttestation::do_try_state().expect("invariants hold after the test");
	});
}
