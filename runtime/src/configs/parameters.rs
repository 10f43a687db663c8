//! Runtime parameters (docs/governance.md): tunables of the protocol that a referendum on the
//! `parameters` track (or Root) changes with `parameters.setParameter`, from the block it is
//! enacted in, without a runtime upgrade. Each is one storage value, read where it is used;
//! a parameter never set reads as its default below.

use core::marker::PhantomData;

use frame_support::{
	dynamic_params::{dynamic_pallet_params, dynamic_params},
	traits::{AsEnsureOriginWithArg, Get},
	weights::Weight,
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
	type WeightInfo = ParametersWeight;
}

/// The weight of `set_parameter`: the SDK's own benchmark figures (its reference machine:
/// 6.2 µs and a proof of 14,787 bytes) plus one read and one write of the parameter at this
/// runtime's database weights. The pallet keeps its measured weights private; this runtime's
/// own run of that benchmark (`scripts/benchmark.sh pallet_parameters`) is not done yet.
pub struct ParametersWeight;

impl pallet_parameters::WeightInfo for ParametersWeight {
	fn set_parameter() -> Weight {
		Weight::from_parts(6_204_000, 14_787)
			.saturating_add(<Runtime as frame_system::Config>::DbWeight::get().reads_writes(1, 1))
	}
}
