//! Configuration of each pallet of the runtime. One section per pallet group; the pallets
//! themselves are composed in `lib.rs`.

pub mod agent_wallet;
pub mod feedback_rewards;
pub mod governance;
pub mod inference_credits;
pub mod parameters;
pub mod priority_staking;
pub mod usage_attestation;

use codec::Encode;
use frame_support::{
	derive_impl,
	dispatch::DispatchClass,
	parameter_types,
	traits::{ConstBool, ConstU32, ConstU64, ConstU8, LinearStoragePrice, VariantCountOf},
	weights::{
		constants::{ParityDbWeight, WEIGHT_REF_TIME_PER_SECOND},
		IdentityFee, Weight,
	},
};
use frame_system::{
	limits::{BlockLength, BlockWeights},
	offchain::{AppCrypto, CreateSignedTransaction, CreateTransactionBase, SigningTypes},
};
use pallet_transaction_payment::{ConstFeeMultiplier, FungibleAdapter, Multiplier};
use sp_consensus_aura::sr25519::AuthorityId as AuraId;
use sp_runtime::{
	generic::{Era, SignedPayload},
	traits::{One, SaturatedConversion, Verify},
	MultiAddress, Perbill,
};
use sp_version::RuntimeVersion;

use super::{
	AccountId, Aura, Balance, Balances, Block, BlockNumber, Hash, Nonce, PalletInfo, Runtime,
	RuntimeCall, RuntimeEvent, RuntimeFreezeReason, RuntimeHoldReason, RuntimeOrigin, RuntimeTask,
	Session, Signature, System, UncheckedExtrinsic, ValidatorSet, EXISTENTIAL_DEPOSIT,
	SLOT_DURATION, SS58_FORMAT, VERSION,
};

/// Share of a block that normal (user) transactions may fill; the rest is for operational
/// transactions and hooks.
const NORMAL_DISPATCH_RATIO: Perbill = Perbill::from_percent(75);

parameter_types! {
	/// Block hashes kept for mortal transactions.
	pub const BlockHashCount: BlockNumber = 2400;
	/// The runtime version, as `frame_system` reports it.
	pub const Version: RuntimeVersion = VERSION;
	/// Two seconds of compute per 6-second block.
	pub RuntimeBlockWeights: BlockWeights = BlockWeights::with_sensible_defaults(
		Weight::from_parts(2u64 * WEIGHT_REF_TIME_PER_SECOND, u64::MAX),
		NORMAL_DISPATCH_RATIO,
	);
	/// At most 5 MiB per block.
	pub RuntimeBlockLength: BlockLength = BlockLength::builder()
		.max_length(5 * 1024 * 1024)
		.modify_max_length_for_class(DispatchClass::Normal, |max| {
			*max = NORMAL_DISPATCH_RATIO.mul_floor(*max)
		})
		.build();
	/// The SS58 prefix of addresses.
	pub const SS58Prefix: u16 = SS58_FORMAT;
}

#[derive_impl(frame_system::config_preludes::SolochainDefaultConfig)]
impl frame_system::Config for Runtime {
	type Block = Block;
	type BlockWeights = RuntimeBlockWeights;
	type BlockLength = RuntimeBlockLength;
	type AccountId = AccountId;
	type Nonce = Nonce;
	type Hash = Hash;
	type BlockHashCount = BlockHashCount;
	/// The node stores its state in ParityDb.
	type DbWeight = ParityDbWeight;
	type SystemWeightInfo = crate::weights::frame_system::WeightInfo<Runtime>;
	type ExtensionsWeightInfo = crate::weights::frame_system_extensions::WeightInfo<Runtime>;
	type Version = Version;
	type AccountData = pallet_balances::AccountData<Balance>;
	type SS58Prefix = SS58Prefix;
	type MaxConsumers = ConstU32<16>;
}

impl pallet_aura::Config for Runtime {
	type AuthorityId = AuraId;
	type DisabledValidators = ();
	type MaxAuthorities = ConstU32<32>;
	type AllowMultipleBlocksPerSlot = ConstBool<false>;
	type SlotDuration = pallet_aura::MinimumPeriodTimesTwo<Runtime>;
}

impl pallet_grandpa::Config for Runtime {
	type RuntimeEvent = RuntimeEvent;
	type WeightInfo = ();
	type MaxAuthorities = ConstU32<32>;
	type MaxNominators = ConstU32<0>;
	type MaxSetIdSessionEntries = ConstU64<0>;
	type KeyOwnerProof = sp_core::Void;
	type EquivocationReportSystem = ();
}

parameter_types! {
	/// Sessions of 10 blocks (one minute): a validator added or removed by sudo takes part
	/// from the session after the next one, so within two minutes.
	pub const SessionPeriod: BlockNumber = 10;
	/// Sessions start at block 0.
	pub const SessionOffset: BlockNumber = 0;
	/// Held from an account while its session keys are stored (the keys and their reverse
	/// look-ups, about 200 bytes).
	pub const SessionKeyDeposit: Balance = crate::UNIT;
}

impl pallet_session::Config for Runtime {
	type RuntimeEvent = RuntimeEvent;
	/// Validators are identified by their accounts.
	type ValidatorId = AccountId;
	type ValidatorIdOf = sp_runtime::traits::ConvertInto;
	type ShouldEndSession = pallet_session::PeriodicSessions<SessionPeriod, SessionOffset>;
	type NextSessionRotation = pallet_session::PeriodicSessions<SessionPeriod, SessionOffset>;
	type SessionManager = ValidatorSet;
	type SessionHandler =
		<crate::opaque::SessionKeys as sp_runtime::traits::OpaqueKeys>::KeyTypeIdProviders;
	type Keys = crate::opaque::SessionKeys;
	/// No slashing on this chain: offenders are never disabled automatically.
	type DisablingStrategy = ();
	type WeightInfo = pallet_session::weights::SubstrateWeight<Runtime>;
	type Currency = Balances;
	type KeyDeposit = SessionKeyDeposit;
}

impl pallet_validator_set::Config for Runtime {
	/// Root adds and removes validators: sudo on a dev or local chain, a referendum on the
	/// `root` track on the testnet (which has no sudo key).
	type AdminOrigin = frame_system::EnsureRoot<AccountId>;
	type KeysRegistered = Session;
	type MinValidators = ConstU32<1>;
	/// As many as Aura and GRANDPA take.
	type MaxValidators = ConstU32<32>;
	type WeightInfo = pallet_validator_set::weights::SubstrateWeight<Runtime>;
	#[cfg(feature = "runtime-benchmarks")]
	type BenchmarkHelper = ValidatorKeys;
}

/// Gives benchmark accounts session keys (public keys derived from the account, no proof).
#[cfg(feature = "runtime-benchmarks")]
pub struct ValidatorKeys;

#[cfg(feature = "runtime-benchmarks")]
impl pallet_validator_set::BenchmarkHelper<AccountId> for ValidatorKeys {
	fn register_keys(who: &AccountId) {
		let raw: [u8; 32] = *who.as_ref();
		let keys = crate::opaque::SessionKeys {
			aura: sp_core::sr25519::Public::from_raw(raw).into(),
			grandpa: sp_core::ed25519::Public::from_raw(raw).into(),
		};
		pallet_session::NextKeys::<Runtime>::insert(who, keys);
	}
}

impl pallet_timestamp::Config for Runtime {
	/// Milliseconds since the Unix epoch.
	type Moment = u64;
	type OnTimestampSet = Aura;
	type MinimumPeriod = ConstU64<{ SLOT_DURATION / 2 }>;
	type WeightInfo = crate::weights::pallet_timestamp::WeightInfo<Runtime>;
}

parameter_types! {
	/// The smallest balance an account may hold.
	pub const ExistentialDeposit: Balance = EXISTENTIAL_DEPOSIT;
}

impl pallet_balances::Config for Runtime {
	type MaxLocks = ConstU32<50>;
	type MaxReserves = ();
	type ReserveIdentifier = [u8; 8];
	type Balance = Balance;
	type RuntimeEvent = RuntimeEvent;
	type DustRemoval = ();
	type ExistentialDeposit = ExistentialDeposit;
	type AccountStore = System;
	type WeightInfo = crate::weights::pallet_balances::WeightInfo<Runtime>;
	/// Freezes (stake) are identified by the runtime's freeze reasons.
	type FreezeIdentifier = RuntimeFreezeReason;
	type MaxFreezes = VariantCountOf<RuntimeFreezeReason>;
	/// Holds (credits, bonds, deposits) are identified by the runtime's hold reasons.
	type RuntimeHoldReason = RuntimeHoldReason;
	type RuntimeFreezeReason = RuntimeFreezeReason;
	type DoneSlashHandler = ();
}

parameter_types! {
	/// Fees do not change with congestion on this chain (yet).
	pub FeeMultiplier: Multiplier = Multiplier::one();
}

impl pallet_transaction_payment::Config for Runtime {
	type RuntimeEvent = RuntimeEvent;
	/// Fees go to nobody (burned); an agent whose policy says so pays its controller's fees.
	type OnChargeTransaction =
		pallet_agent_wallet::AgentPaysFees<Runtime, FungibleAdapter<Balances, ()>>;
	type OperationalFeeMultiplier = ConstU8<5>;
	type WeightToFee = IdentityFee<Balance>;
	type LengthToFee = IdentityFee<Balance>;
	type FeeMultiplierUpdate = ConstFeeMultiplier<FeeMultiplier>;
	type WeightInfo = crate::weights::pallet_transaction_payment::WeightInfo<Runtime>;
}

impl pallet_sudo::Config for Runtime {
	type RuntimeEvent = RuntimeEvent;
	type RuntimeCall = RuntimeCall;
	type WeightInfo = crate::weights::pallet_sudo::WeightInfo<Runtime>;
}

impl pallet_utility::Config for Runtime {
	type RuntimeEvent = RuntimeEvent;
	type RuntimeCall = RuntimeCall;
	type PalletsOrigin = crate::OriginCaller;
	type WeightInfo = crate::weights::pallet_utility::WeightInfo<Runtime>;
}

parameter_types! {
	/// Storage deposits of every Tokenmeter pallet: a base per record plus a price per byte.
	pub const DepositBase: Balance = crate::UNIT / 10;
	/// Storage deposit per byte of a record.
	pub const DepositPerByte: Balance = crate::MILLI_UNIT;
}

/// Storage deposit of a record (models, delegations, agents, pending payments, operators):
/// `DepositBase + DepositPerByte × encoded size`.
pub type StorageDeposit = LinearStoragePrice<DepositBase, DepositPerByte, Balance>;

/// Off-chain workers sign transactions with the runtime's accounts (operator keys).
impl SigningTypes for Runtime {
	type Public = <Signature as Verify>::Signer;
	type Signature = Signature;
}

impl<C> CreateTransactionBase<C> for Runtime
where
	RuntimeCall: From<C>,
{
	type Extrinsic = UncheckedExtrinsic;
	type RuntimeCall = RuntimeCall;
}

/// A transaction from an off-chain worker: the runtime's extensions, mortal for half the
/// block hashes kept, no tip, signed by the worker's key.
impl<C> CreateSignedTransaction<C> for Runtime
where
	RuntimeCall: From<C>,
{
	fn create_signed_transaction<K: AppCrypto<Self::Public, Self::Signature>>(
		call: RuntimeCall,
		public: Self::Public,
		account: AccountId,
		nonce: Nonce,
	) -> Option<UncheckedExtrinsic> {
		let period =
			u64::from(BlockHashCount::get()).checked_next_power_of_two().map_or(2, |p| p / 2);
		let current = System::block_number().saturated_into::<u64>().saturating_sub(1);
		let extension = crate::tx_extension(nonce, Era::mortal(period, current), 0);
		let payload = SignedPayload::new(call, extension)
			.map_err(|e| log::warn!(target: "usage-attestation", "cannot sign: {e:?}"))
			.ok()?;
		let signature = payload.using_encoded(|bytes| K::sign(bytes, public))?;
		let (call, extension, _) = payload.deconstruct();
		Some(UncheckedExtrinsic::new_signed(call, MultiAddress::Id(account), signature, extension))
	}
}
