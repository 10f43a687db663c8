//! Weights for `pallet_feedback_rewards`. PROVISIONAL: replaced by `scripts/benchmark.sh`.

#![cfg_attr(rustfmt, rustfmt_skip)]
#![allow(unused_parens)]
#![allow(unused_imports)]
#![allow(missing_docs)]

use frame_support::{traits::Get, weights::{Weight, constants::ParityDbWeight}};
use core::marker::PhantomData;

/// The weight of each call and hook of `pallet_feedback_rewards`.
pub trait WeightInfo {
	fn submit_feedback() -> Weight;
	fn register_validator() -> Weight;
	fn deregister_validator() -> Weight;
	fn score() -> Weight;
	fn close_epoch() -> Weight;
	fn claim() -> Weight;
	fn claim_many(e: u32, ) -> Weight;
	fn fund_pool() -> Weight;
	fn reap_feedback() -> Weight;
}

/// Measured weights, with database costs from the runtime's `DbWeight`.
pub struct SubstrateWeight<T>(PhantomData<T>);
impl<T: frame_system::Config> WeightInfo for SubstrateWeight<T> {
	fn submit_feedback() -> Weight {
		Weight::from_parts(50_000_000, 10_000).saturating_add(T::DbWeight::get().reads_writes(4, 4))
	}
	fn register_validator() -> Weight {
		Weight::from_parts(50_000_000, 10_000).saturating_add(T::DbWeight::get().reads_writes(4, 4))
	}
	fn deregister_validator() -> Weight {
		Weight::from_parts(50_000_000, 10_000).saturating_add(T::DbWeight::get().reads_writes(4, 4))
	}
	fn score() -> Weight {
		Weight::from_parts(50_000_000, 10_000).saturating_add(T::DbWeight::get().reads_writes(4, 4))
	}
	fn close_epoch() -> Weight {
		Weight::from_parts(50_000_000, 10_000).saturating_add(T::DbWeight::get().reads_writes(4, 4))
	}
	fn claim() -> Weight {
		Weight::from_parts(50_000_000, 10_000).saturating_add(T::DbWeight::get().reads_writes(4, 4))
	}
	fn claim_many(_e: u32, ) -> Weight {
		Weight::from_parts(50_000_000, 10_000).saturating_add(T::DbWeight::get().reads_writes(4, 4))
	}
	fn fund_pool() -> Weight {
		Weight::from_parts(50_000_000, 10_000).saturating_add(T::DbWeight::get().reads_writes(4, 4))
	}
	fn reap_feedback() -> Weight {
		Weight::from_parts(50_000_000, 10_000).saturating_add(T::DbWeight::get().reads_writes(4, 4))
	}
}

impl WeightInfo for () {
	fn submit_feedback() -> Weight {
		Weight::from_parts(50_000_000, 10_000).saturating_add(ParityDbWeight::get().reads_writes(4, 4))
	}
	fn register_validator() -> Weight {
		Weight::from_parts(50_000_000, 10_000).saturating_add(ParityDbWeight::get().reads_writes(4, 4))
	}
	fn deregister_validator() -> Weight {
		Weight::from_parts(50_000_000, 10_000).saturating_add(ParityDbWeight::get().reads_writes(4, 4))
	}
	fn score() -> Weight {
		Weight::from_parts(50_000_000, 10_000).saturating_add(ParityDbWeight::get().reads_writes(4, 4))
	}
	fn close_epoch() -> Weight {
		Weight::from_parts(50_000_000, 10_000).saturating_add(ParityDbWeight::get().reads_writes(4, 4))
	}
	fn claim() -> Weight {
		Weight::from_parts(50_000_000, 10_000).saturating_add(ParityDbWeight::get().reads_writes(4, 4))
	}
	fn claim_many(_e: u32, ) -> Weight {
		Weight::from_parts(50_000_000, 10_000).saturating_add(ParityDbWeight::get().reads_writes(4, 4))
	}
	fn fund_pool() -> Weight {
		Weight::from_parts(50_000_000, 10_000).saturating_add(ParityDbWeight::get().reads_writes(4, 4))
	}
	fn reap_feedback() -> Weight {
		Weight::from_parts(50_000_000, 10_000).saturating_add(ParityDbWeight::get().reads_writes(4, 4))
	}
}
