//! Governance (docs/governance.md): OpenGov — referenda on tracks, decided by conviction
//! votes of TMT holders (staked TMT votes too: a vote's lock and the staking freeze overlap) —
//! the preimages and the scheduler that enact them, the treasury and its bounties.
//!
//! Three tracks:
//! - `root` (0): anything, as Root (runtime upgrades, the validator set, sudo's removal);
//! - `parameters` (1): the protocol's tunables, as [`pallet_custom_origins::Origin::ParameterSetter`]
//!   (priority-staking tiers and periods; see `ParametersOrigin`);
//! - `treasurer` (2): treasury spends and bounties up to [`TREASURER_SPEND_LIMIT`], as
//!   [`pallet_custom_origins::Origin::Treasurer`].
//!
//! Periods are short, fit for a test network and a dev chain (a referendum with enough support
//! passes in a few minutes: preparation, then confirmation); support is measured against the
//! total issuance.

use alloc::borrow::Cow;

use frame_support::{
	parameter_types,
	traits::{
		fungible::HoldConsideration, tokens::UnityAssetBalanceConversion, ConstU32, EitherOf,
		EqualPrivilegeOnly, LinearStoragePrice, OriginTrait, TotalIssuanceOf,
	},
	PalletId,
};
use frame_system::{EnsureRoot, EnsureRootWithSuccess, EnsureSigned, EnsureWithSuccess};
use pallet_referenda::{Curve, Track, TrackInfo};
use sp_runtime::{traits::IdentityLookup, Perbill, Permill};

use super::RuntimeBlockWeights;
use crate::{
	AccountId, Balance, Balances, BlockNumber, Bounties, OriginCaller, Preimage, Referenda,
	Runtime, RuntimeCall, RuntimeEvent, RuntimeHoldReason, RuntimeOrigin, Scheduler, System,
	Treasury, MINUTES, UNIT,
};

/// The custom origins of the tracks that are not Root.
// The pallet macro's expansion uses `expect` on values it guarantees.
#[allow(clippy::expect_used)]
#[frame_support::pallet]
pub mod pallet_custom_origins {
	use frame_support::pallet_prelude::*;

	/// The pallet's configuration (nothing to configure).
	#[pallet::config]
	pub trait Config: frame_system::Config {}

	/// The origins' pallet.
	#[pallet::pallet]
	pub struct Pallet<T>(_);

	/// An origin a referendum on a track other than `root` dispatches with.
	#[derive(
		PartialEq, Eq, Clone, MaxEncodedLen, Encode, Decode, DecodeWithMemTracking, TypeInfo, Debug,
	)]
	#[pallet::origin]
	pub enum Origin {
		/// The `parameters` track: sets the protocol's tunables.
		ParameterSetter,
		/// The `treasurer` track: spends from the treasury and funds bounties, up to the
		/// treasurer's limit.
		Treasurer,
	}

	macro_rules! ensures {
		($($name:ident),*) => {$(
			#[doc = concat!("Ensures the `", stringify!($name), "` origin.")]
			pub struct $name;
			impl<O: Into<Result<Origin, O>> + From<Origin>> EnsureOrigin<O> for $name {
				type Success = ();
				fn try_origin(o: O) -> Result<Self::Success, O> {
					o.into().and_then(|o| match o {
						Origin::$name => Ok(()),
						other => Err(O::from(other)),
					})
				}
				#[cfg(feature = "runtime-benchmarks")]
				fn try_successful_origin() -> Result<O, ()> {
					Ok(O::from(Origin::$name))
				}
			}
		)*};
	}
	ensures!(ParameterSetter, Treasurer);
}

impl pallet_custom_origins::Config for Runtime {}

/// Who may change the protocol's parameters: Root, or a referendum on the `parameters` track.
pub type ParametersOrigin = EitherOf<EnsureRoot<AccountId>, pallet_custom_origins::ParameterSetter>;

parameter_types! {
	/// A preimage's deposit: 1 TMT plus 0.001 TMT per byte, held.
	pub const PreimageBaseDeposit: Balance = UNIT;
	/// Per byte of a preimage.
	pub const PreimageByteDeposit: Balance = UNIT / 1_000;
	/// The hold reason of preimage deposits.
	pub const PreimageHoldReason: RuntimeHoldReason =
		RuntimeHoldReason::Preimage(pallet_preimage::HoldReason::Preimage);
}

impl pallet_preimage::Config for Runtime {
	type RuntimeEvent = RuntimeEvent;
	type WeightInfo = crate::weights::pallet_preimage::WeightInfo<Runtime>;
	type Currency = Balances;
	type ManagerOrigin = EnsureRoot<AccountId>;
	type Consideration = HoldConsideration<
		AccountId,
		Balances,
		PreimageHoldReason,
		LinearStoragePrice<PreimageBaseDeposit, PreimageByteDeposit, Balance>,
	>;
}

parameter_types! {
	/// Scheduled calls may take up to 80% of a block.
	pub MaximumSchedulerWeight: frame_support::weights::Weight = {
		let max = RuntimeBlockWeights::get().max_block;
		let share = Perbill::from_percent(80);
		frame_support::weights::Weight::from_parts(
			share.mul_floor(max.ref_time()),
			share.mul_floor(max.proof_size()),
		)
	};
}

impl pallet_scheduler::Config for Runtime {
	type RuntimeEvent = RuntimeEvent;
	type RuntimeOrigin = RuntimeOrigin;
	type PalletsOrigin = OriginCaller;
	type RuntimeCall = RuntimeCall;
	type MaximumWeight = MaximumSchedulerWeight;
	// Only referenda (and Root) schedule.
	type ScheduleOrigin = EnsureRoot<AccountId>;
	type OriginPrivilegeCmp = EqualPrivilegeOnly;
	type MaxScheduledPerBlock = ConstU32<50>;
	type WeightInfo = crate::weights::pallet_scheduler::WeightInfo<Runtime>;
	type Preimages = Preimage;
	type BlockNumberProvider = System;
}

parameter_types! {
	/// A vote's lock lasts this long per conviction doubling (1× conviction: 10 minutes).
	pub const VoteLockingPeriod: BlockNumber = 10 * MINUTES;
}

impl pallet_conviction_voting::Config for Runtime {
	type RuntimeEvent = RuntimeEvent;
	type WeightInfo = crate::weights::pallet_conviction_voting::WeightInfo<Runtime>;
	type Currency = Balances;
	type Polls = Referenda;
	type MaxTurnout = TotalIssuanceOf<Balances, AccountId>;
	type MaxVotes = ConstU32<64>;
	type VoteLockingPeriod = VoteLockingPeriod;
	type BlockNumberProvider = System;
	type VotingHooks = ();
}

/// The most a `treasurer` referendum may spend.
pub const TREASURER_SPEND_LIMIT: Balance = 10_000 * UNIT;

parameter_types! {
	/// Submitting a referendum: 10 TMT, returned once it is decided.
	pub const SubmissionDeposit: Balance = 10 * UNIT;
	/// Referenda queued per track at most, waiting for a decision slot.
	pub const MaxQueued: u32 = 20;
	/// A referendum without a decision deposit for this long times out.
	pub const UndecidingTimeout: BlockNumber = 7 * crate::DAYS;
	/// How often an undecided referendum's alarm looks again.
	pub const AlarmInterval: BlockNumber = 1;
	/// The treasurer track's spending limit.
	pub const TreasurerSpendLimit: Balance = TREASURER_SPEND_LIMIT;
	/// Root spends without a limit.
	pub const MaxBalance: Balance = Balance::MAX;
}

/// `root`, `parameters`, `treasurer`.
pub struct Tracks;

// Evaluated at compile time only (a track's name): an index out of range would not compile.
#[allow(clippy::indexing_slicing, clippy::arithmetic_side_effects)]
const fn name(text: &str) -> [u8; 25] {
	let bytes = text.as_bytes();
	let mut out = [0u8; 25];
	let mut i = 0;
	while i < bytes.len() && i < 25 {
		out[i] = bytes[i];
		i += 1;
	}
	out
}

const fn linear(floor: u32, ceil: u32) -> Curve {
	Curve::LinearDecreasing {
		length: Perbill::from_percent(100),
		floor: Perbill::from_percent(floor),
		ceil: Perbill::from_percent(ceil),
	}
}

/// The `parameters` and `treasurer` tracks: alike but for their names (and origins).
const fn spending_or_parameters(track: &str) -> TrackInfo<Balance, BlockNumber> {
	TrackInfo {
		name: name(track),
		max_deciding: 10,
		decision_deposit: 100 * UNIT,
		prepare_period: MINUTES,
		decision_period: 3 * crate::DAYS,
		confirm_period: MINUTES,
		min_enactment_period: 1,
		min_approval: linear(50, 100),
		min_support: linear(1, 5),
	}
}

static TRACKS: [Track<u16, Balance, BlockNumber>; 3] = [
	Track {
		id: 0,
		info: TrackInfo {
			name: name("root"),
			max_deciding: 1,
			decision_deposit: 1_000 * UNIT,
			prepare_period: MINUTES,
			decision_period: 7 * crate::DAYS,
			confirm_period: 2 * MINUTES,
			min_enactment_period: MINUTES,
			min_approval: linear(50, 100),
			min_support: linear(1, 10),
		},
	},
	Track { id: 1, info: spending_or_parameters("parameters") },
	Track { id: 2, info: spending_or_parameters("treasurer") },
];

impl pallet_referenda::TracksInfo<Balance, BlockNumber> for Tracks {
	type Id = u16;
	type RuntimeOrigin = <RuntimeOrigin as OriginTrait>::PalletsOrigin;

	fn tracks() -> impl Iterator<Item = Cow<'static, Track<Self::Id, Balance, BlockNumber>>> {
		TRACKS.iter().map(Cow::Borrowed)
	}

	fn track_for(origin: &Self::RuntimeOrigin) -> Result<Self::Id, ()> {
		match origin {
			OriginCaller::system(frame_system::RawOrigin::Root) => Ok(0),
			OriginCaller::Origins(pallet_custom_origins::Origin::ParameterSetter) => Ok(1),
			OriginCaller::Origins(pallet_custom_origins::Origin::Treasurer) => Ok(2),
			_ => Err(()),
		}
	}
}

impl pallet_referenda::Config for Runtime {
	type RuntimeCall = RuntimeCall;
	type RuntimeEvent = RuntimeEvent;
	type WeightInfo = crate::weights::pallet_referenda::WeightInfo<Runtime>;
	type Scheduler = Scheduler;
	type Currency = Balances;
	type SubmitOrigin = EnsureSigned<AccountId>;
	type CancelOrigin = EnsureRoot<AccountId>;
	type KillOrigin = EnsureRoot<AccountId>;
	// A killed referendum's deposits go to the treasury.
	type Slash = Treasury;
	type Votes = Balance;
	type Tally = pallet_conviction_voting::TallyOf<Runtime>;
	type SubmissionDeposit = SubmissionDeposit;
	type MaxQueued = MaxQueued;
	type UndecidingTimeout = UndecidingTimeout;
	type AlarmInterval = AlarmInterval;
	type Tracks = Tracks;
	type Preimages = Preimage;
	type BlockNumberProvider = System;
}

parameter_types! {
	/// The treasury's account id.
	pub const TreasuryPalletId: PalletId = PalletId(*b"tm/trsry");
	/// Nothing is burned.
	pub const Burn: Permill = Permill::zero();
	/// A spend may be claimed for a week.
	pub const PayoutPeriod: BlockNumber = 7 * crate::DAYS;
	/// The treasury's account.
	pub TreasuryAccount: AccountId = Treasury::account_id();
}

/// Pays approved treasury spends from the treasury's account (the SDK's `PayFromAccount`).
///
/// For benchmarks only, `ensure_successful` also gives the beneficiary its existential deposit:
/// the SDK's `payout` benchmark pays 100 plancks to a new account, below this chain's existential
/// deposit, which a real spend of at least that deposit never is. The payout is then weighed
/// into an existing account, which differs from a new one by the account's creation only.
pub struct TreasuryPaymaster;

type PayFromTreasury =
	frame_support::traits::tokens::pay::PayFromAccount<Balances, TreasuryAccount>;

impl frame_support::traits::tokens::Pay for TreasuryPaymaster {
	type Balance = Balance;
	type Beneficiary = AccountId;
	type AssetKind = ();
	type Id = ();
	type Error = sp_runtime::DispatchError;

	fn pay(who: &AccountId, asset_kind: (), amount: Balance) -> Result<(), Self::Error> {
		PayFromTreasury::pay(who, asset_kind, amount)
	}

	fn check_payment(id: ()) -> frame_support::traits::tokens::PaymentStatus {
		PayFromTreasury::check_payment(id)
	}

	#[cfg(feature = "runtime-benchmarks")]
	fn ensure_successful(who: &AccountId, asset_kind: (), amount: Balance) {
		use frame_support::traits::fungible::Mutate;
		let existential =
			<Balances as frame_support::traits::fungible::Inspect<_>>::minimum_balance();
		let _ = Balances::mint_into(who, existential);
		PayFromTreasury::ensure_successful(who, asset_kind, amount)
	}

	#[cfg(feature = "runtime-benchmarks")]
	fn ensure_concluded(id: ()) {
		PayFromTreasury::ensure_concluded(id)
	}
}

impl pallet_treasury::Config for Runtime {
	type Currency = Balances;
	type RejectOrigin = EnsureRoot<AccountId>;
	type RuntimeEvent = RuntimeEvent;
	/// A runtime parameter (10 minutes by default), at least one block.
	type SpendPeriod = super::parameters::AtLeastOneBlock<
		super::parameters::dynamic_params::treasury::SpendPeriod,
	>;
	type Burn = Burn;
	type PalletId = TreasuryPalletId;
	type BurnDestination = ();
	type WeightInfo = crate::weights::pallet_treasury::WeightInfo<Runtime>;
	// Bounties are funded from the treasury at each spend period.
	type SpendFunds = Bounties;
	type MaxApprovals = ConstU32<100>;
	type SpendOrigin = EitherOf<
		EnsureRootWithSuccess<AccountId, MaxBalance>,
		EnsureWithSuccess<pallet_custom_origins::Treasurer, AccountId, TreasurerSpendLimit>,
	>;
	type AssetKind = ();
	type Beneficiary = AccountId;
	type BeneficiaryLookup = IdentityLookup<AccountId>;
	type Paymaster = TreasuryPaymaster;
	type BalanceConverter = UnityAssetBalanceConversion;
	type PayoutPeriod = PayoutPeriod;
	type BlockNumberProvider = System;
	#[cfg(feature = "runtime-benchmarks")]
	type BenchmarkHelper = ();
}

parameter_types! {
	/// A bounty's deposit: 1 TMT plus the data deposit of its description.
	pub const BountyDepositBase: Balance = UNIT;
	/// Per byte of a bounty's description.
	pub const DataDepositPerByte: Balance = UNIT / 100;
	/// A curator must update an active bounty at least every 30 days.
	pub const BountyUpdatePeriod: BlockNumber = 30 * crate::DAYS;
	/// A curator's deposit: half its fee, between 1 and 100 TMT.
	pub const CuratorDepositMultiplier: Permill = Permill::from_percent(50);
	/// The smallest curator deposit.
	pub const CuratorDepositMin: Option<Balance> = Some(UNIT);
	/// The largest curator deposit.
	pub const CuratorDepositMax: Option<Balance> = Some(100 * UNIT);
	/// The smallest bounty.
	pub const BountyValueMinimum: Balance = 10 * UNIT;
}

impl pallet_bounties::Config for Runtime {
	type RuntimeEvent = RuntimeEvent;
	type BountyDepositBase = BountyDepositBase;
	/// A runtime parameter: a curator's award is paid 10 minutes after it is made by default
	/// (time to object: the curator can be unassigned by the treasurer track meanwhile).
	type BountyDepositPayoutDelay = super::parameters::dynamic_params::treasury::BountyPayoutDelay;
	type BountyUpdatePeriod = BountyUpdatePeriod;
	type CuratorDepositMultiplier = CuratorDepositMultiplier;
	type CuratorDepositMax = CuratorDepositMax;
	type CuratorDepositMin = CuratorDepositMin;
	type BountyValueMinimum = BountyValueMinimum;
	type DataDepositPerByte = DataDepositPerByte;
	type MaximumReasonLength = ConstU32<1_024>;
	type WeightInfo = crate::weights::pallet_bounties::WeightInfo<Runtime>;
	type ChildBountyManager = ();
	type OnSlash = Treasury;
	type TransferAllAssets = pallet_bounties::TransferFungible<AccountId, Balances>;
}
