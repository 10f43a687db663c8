//! Runtime parameters (docs/governance.md): tunables of the protocol that a referendum on the
//! `parameters` track (or Root) changes with `parameters.setParameter`, from the block it is
//! enacted in, without a runtime upgrade. Each is one storage value, read where it is used;
//! a parameter never set reads as its default below.

use core::marker::PhantomData;

use frame_support::{
	dynamic_params::{dynamic_pallet_params, dynamic_params},
	traits::{AsEnsureOriginWithArg, Get},
};

use crate::{BlockNumber, Runtime, RuntimeEvent};

/// The parameters, by group (`RuntimeParameters` is their key-value enum).
#[dynamic_params(RuntimeParameters, pallet_parameters::Parameters::<Runtime>)]
pub mod dynamic_params {
	use super::*;

	/// The protocol fee on every settlement, and where it goes.
	#[dynamic_pallet_params]
	#[codec(index = 0)]
	pub mod protocol {
		/// The share of every settlement (of what credits pay) taken as the protocol fee: 5%.
		#[codec(index = 0)]
		pub static ProtocolFee: sp_runtime::Perbill = sp_runtime::Perbill::from_percent(5);

		/// The treasury's share of the protocol fee: 20%; the feedback reward pool gets the
		/// rest.
		#[codec(index = 1)]
		pub static TreasuryShare: sp_runtime::Perbill = sp_runtime::Perbill::from_percent(20);
	}

	/// Credits: notices and congestion pricing.
	#[dynamic_pallet_params]
	#[codec(index = 2)]
	pub mod credits {
		/// Blocks between a withdrawal request and the withdrawal: an hour, many times an
		/// attestation's worst-case delay (an operator node resubmits after 10 blocks).
		#[codec(index = 0)]
		pub static WithdrawalNotice: crate::BlockNumber = crate::HOURS;

		/// Blocks between a price increase and the block it applies: an hour.
		#[codec(index = 1)]
		pub static PriceIncreaseNotice: crate::BlockNumber = crate::HOURS;

		/// Blocks per pricing epoch (congestion pricing): an hour. The pallet reads it as at
		/// least one block.
		#[codec(index = 2)]
		pub static PricingEpoch: crate::BlockNumber = crate::HOURS;

		/// The most a dynamic price moves per epoch, up or down: 12.5%, EIP-1559's step.
		#[codec(index = 3)]
		pub static MaxPriceStep: sp_runtime::Perbill = sp_runtime::Perbill::from_parts(125_000_000);

		/// What a provider holds while registered: 100 TMT (each provider keeps the bond it
		/// registered with).
		#[codec(index = 4)]
		pub static ProviderBond: crate::Balance = 100 * crate::UNIT;
	}

	/// Feedback rewards: bonds, fees, the pool's allocation and the validators' grading.
	#[dynamic_pallet_params]
	#[codec(index = 3)]
	pub mod feedback {
		/// An annotator's bond per feedback: 1 TMT (what a feedback bonded is kept with it).
		#[codec(index = 0)]
		pub static FeedbackBond: crate::Balance = crate::UNIT;

		/// An annotator's fee per feedback, to the reward pool: 0.1 TMT.
		#[codec(index = 1)]
		pub static FeedbackFee: crate::Balance = crate::UNIT / 10;

		/// The smallest validator bond: 100 TMT (more may be bonded, and weighs more).
		#[codec(index = 2)]
		pub static ValidatorBond: crate::Balance = 100 * crate::UNIT;

		/// The share of what the pool has available allocated to each epoch: 10%.
		#[codec(index = 3)]
		pub static EpochRewardShare: sp_runtime::Perbill = sp_runtime::Perbill::from_percent(10);

		/// The share of an epoch's allocation that goes to validators: 20%.
		#[codec(index = 4)]
		pub static ValidatorShare: sp_runtime::Perbill = sp_runtime::Perbill::from_percent(20);

		/// What a score farther than `DeviationThreshold` from the final one costs, of the
		/// validator's bond: 2%.
		#[codec(index = 5)]
		pub static DeviationSlash: sp_runtime::Perbill = sp_runtime::Perbill::from_percent(2);

		/// What an unrevealed commitment costs, of the validator's bond: 3%, more than a bad
		/// score.
		#[codec(index = 6)]
		pub static MissSlash: sp_runtime::Perbill = sp_runtime::Perbill::from_percent(3);

		/// Grading band: a score within this of the final one earns the full point.
		#[codec(index = 7)]
		pub static ScoreTolerance: u8 = 10;

		/// Grading band: a score farther than this from the final one is slashed.
		#[codec(index = 8)]
		pub static DeviationThreshold: u8 = 30;

		/// Feedback whose final score is below this loses its bond to the pool.
		#[codec(index = 9)]
		pub static SlashThreshold: u8 = 20;
	}

	/// The treasury's and its bounties' periods.
	#[dynamic_pallet_params]
	#[codec(index = 1)]
	pub mod treasury {
		/// Blocks between the treasury's spend periods, when approved bounties are funded: 10
		/// minutes. Read as at least one block (see [`super::AtLeastOneBlock`]).
		#[codec(index = 0)]
		pub static SpendPeriod: crate::BlockNumber = 10 * crate::MINUTES;

		/// Blocks between a curator's award of a bounty and its claim: 10 minutes, time for a
		/// `treasurer` referendum to unassign a curator who awards wrongly.
		#[codec(index = 1)]
		pub static BountyPayoutDelay: crate::BlockNumber = 10 * crate::MINUTES;
	}
}

/// A period parameter read as at least one block: the treasury divides the block number by
/// its spend period, so a referendum that set it to zero must not halt the chain.
pub struct AtLeastOneBlock<P>(PhantomData<P>);

impl<P: Get<BlockNumber>> Get<BlockNumber> for AtLeastOneBlock<P> {
	fn get() -> BlockNumber {
		P::get().max(1)
	}
}

/// The parameter the pallet's benchmark sets.
#[cfg(feature = "runtime-benchmarks")]
impl Default for RuntimeParameters {
	fn default() -> Self {
		RuntimeParameters::Protocol(dynamic_params::protocol::Parameters::ProtocolFee(
			dynamic_params::protocol::ProtocolFee,
			Some(sp_runtime::Perbill::from_percent(5)),
		))
	}
}

impl pallet_parameters::Config for Runtime {
	type RuntimeEvent = RuntimeEvent;
	type RuntimeParameters = RuntimeParameters;
	/// Root, or a referendum on the `parameters` track, sets any parameter.
	type AdminOrigin = AsEnsureOriginWithArg<super::governance::ParametersOrigin>;
	type WeightInfo = crate::weights::pallet_parameters::WeightInfo<Runtime>;
}
