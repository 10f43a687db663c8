//! Weights for `pallet_inference_credits`.
//!
//! Measured with the pallet's benchmarks (`benchmarking.rs`); regenerate them with
//! `scripts/benchmark.sh` rather than editing by hand.
//!
//! WEIGHTS-PLACEHOLDER

#![allow(unused_parens)]
#![allow(unused_imports)]
#![allow(missing_docs)]

use core::marker::PhantomData;
use frame_support::{
	traits::Get,
	weights::{constants::RocksDbWeight, Weight},
};

/// The weight of each call of the pallet.
pub trait WeightInfo {
	fn register_provider() -> Weight;
	fn update_provider() -> Weight;
	fn retire_provider(m: u32) -> Weight;
	fn register_model() -> Weight;
	fn update_model() -> Weight;
	fn retire_model() -> Weight;
	fn deposit_credits() -> Weight;
	fn withdraw_credits() -> Weight;
	fn approve_delegate() -> Weight;
	fn revoke_delegate() -> Weight;
	fn settle(n: u32) -> Weight;
}

// PROVISIONAL: replaced by the benchmark output before this lands.
impl WeightInfo for () {
	fn register_provider() -> Weight {
		Weight::zero()
	}
	fn update_provider() -> Weight {
		Weight::zero()
	}
	fn retire_provider(_m: u32) -> Weight {
		Weight::zero()
	}
	fn register_model() -> Weight {
		Weight::zero()
	}
	fn update_model() -> Weight {
		Weight::zero()
	}
	fn retire_model() -> Weight {
		Weight::zero()
	}
	fn deposit_credits() -> Weight {
		Weight::zero()
	}
	fn withdraw_credits() -> Weight {
		Weight::zero()
	}
	fn approve_delegate() -> Weight {
		Weight::zero()
	}
	fn revoke_delegate() -> Weight {
		Weight::zero()
	}
	fn settle(_n: u32) -> Weight {
		Weight::zero()
	}
}

// PROVISIONAL: replaced by the benchmark output before this lands.
pub struct SubstrateWeight<T>(PhantomData<T>);
impl<T: frame_system::Config> WeightInfo for SubstrateWeight<T> {
	fn register_provider() -> Weight {
		Weight::zero()
	}
	fn update_provider() -> Weight {
		Weight::zero()
	}
	fn retire_provider(_m: u32) -> Weight {
		Weight::zero()
	}
	fn register_model() -> Weight {
		Weight::zero()
	}
	fn update_model() -> Weight {
		Weight::zero()
	}
	fn retire_model() -> Weight {
		Weight::zero()
	}
	fn deposit_credits() -> Weight {
		Weight::zero()
	}
	fn withdraw_credits() -> Weight {
		Weight::zero()
	}
	fn approve_delegate() -> Weight {
		Weight::zero()
	}
	fn revoke_delegate() -> Weight {
		Weight::zero()
	}
	fn settle(_n: u32) -> Weight {
		Weight::zero()
	}
}
