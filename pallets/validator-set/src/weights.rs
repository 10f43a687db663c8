//! Weights for `pallet_validator_set`. Replaced by `scripts/benchmark.sh pallet_validator_set`.

#![allow(unused_parens, unused_imports, missing_docs)]

use core::marker::PhantomData;
use frame_support::{
	traits::Get,
	weights::{constants::RocksDbWeight, Weight},
};

/// Weight functions needed for `pallet_validator_set`.
pub trait WeightInfo {
	fn add_validator() -> Weight;
	fn remove_validator() -> Weight;
}

/// Weights for `pallet_validator_set` using the runtime's database weights.
pub struct SubstrateWeight<T>(PhantomData<T>);
impl<T: frame_system::Config> WeightInfo for SubstrateWeight<T> {
	fn add_validator() -> Weight {
		Weight::from_parts(20_000_000, 3_000).saturating_add(T::DbWeight::get().reads_writes(2, 2))
	}
	fn remove_validator() -> Weight {
		Weight::from_parts(20_000_000, 3_000).saturating_add(T::DbWeight::get().reads_writes(1, 2))
	}
}

impl WeightInfo for () {
	fn add_validator() -> Weight {
		Weight::from_parts(20_000_000, 3_000)
			.saturating_add(RocksDbWeight::get().reads_writes(2, 2))
	}
	fn remove_validator() -> Weight {
		Weight::from_parts(20_000_000, 3_000)
			.saturating_add(RocksDbWeight::get().reads_writes(1, 2))
	}
}
