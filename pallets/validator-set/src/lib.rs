#![doc = include_str!("../README.md")]
#![cfg_attr(not(feature = "std"), no_std)]
// Runtime code never panics and never overflows silently (tests and mocks are exempt):
// checked or saturating arithmetic, `get` instead of indexing, errors instead of unwraps.
#![cfg_attr(
	not(test),
	deny(
		clippy::arithmetic_side_effects,
		clippy::unwrap_used,
		clippy::expect_used,
		clippy::indexing_slicing
	)
)]
#![deny(missing_docs)]

extern crate alloc;

pub use pallet::*;

#[cfg(feature = "runtime-benchmarks")]
mod benchmarking;
#[cfg(test)]
mod mock;
#[cfg(test)]
mod tests;
pub mod weights;
pub use weights::WeightInfo;

/// Sets up what the benchmarks need, which the pallet cannot know.
#[cfg(feature = "runtime-benchmarks")]
pub trait BenchmarkHelper<AccountId> {
	/// Gives `who` session keys, so that it may be added.
	fn register_keys(who: &AccountId);
}

// FRAME's pallet macros expand to `expect`s with proofs (pallet names, storage prefixes,
// error encodings) under this module's spans; the pallet is small enough that its logic lives
// in this module too, and none of it uses `expect`.
#[allow(clippy::expect_used)]
#[frame_support::pallet]
pub mod pallet {
	use super::*;
	use alloc::vec::Vec;
	use frame_support::{pallet_prelude::*, traits::ValidatorRegistration};
	use frame_system::pallet_prelude::*;

	/// The in-code storage version.
	const STORAGE_VERSION: StorageVersion = StorageVersion::new(1);

	#[pallet::pallet]
	#[pallet::storage_version(STORAGE_VERSION)]
	pub struct Pallet<T>(_);

	/// Configuration of the pallet.
	#[pallet::config]
	pub trait Config: frame_system::Config {
		/// Who may add and remove validators (root on the testnet).
		type AdminOrigin: EnsureOrigin<Self::RuntimeOrigin>;

		/// Whether an account has session keys (the session pallet).
		type KeysRegistered: ValidatorRegistration<Self::AccountId>;

		/// The fewest validators the chain keeps.
		#[pallet::constant]
		type MinValidators: Get<u32>;

		/// The most validators the chain may have.
		#[pallet::constant]
		type MaxValidators: Get<u32>;

		/// Weights of the calls, from the benchmarks.
		type WeightInfo: WeightInfo;

		/// Sets up the benchmarks.
		#[cfg(feature = "runtime-benchmarks")]
		type BenchmarkHelper: BenchmarkHelper<Self::AccountId>;
	}

	/// The validators, in the order they were added.
	#[pallet::storage]
	pub type Validators<T: Config> =
		StorageValue<_, BoundedVec<T::AccountId, T::MaxValidators>, ValueQuery>;

	/// Whether the set changed since it was last handed to the session pallet.
	#[pallet::storage]
	pub type Changed<T: Config> = StorageValue<_, bool, ValueQuery>;

	/// The validators at genesis.
	#[pallet::genesis_config]
	#[derive(frame_support::DefaultNoBound)]
	pub struct GenesisConfig<T: Config> {
		/// The initial validators; the session pallet's genesis keys must cover them. Every
		/// chain spec gives them: left empty, the session pallet's genesis keys decide the
		/// first validators, and the first change replaces them with this pallet's set.
		pub initial_validators: Vec<T::AccountId>,
	}

	#[pallet::genesis_build]
	impl<T: Config> BuildGenesisConfig for GenesisConfig<T> {
		fn build(&self) {
			// An invalid genesis must not produce a chain: building the genesis state fails.
			let validators = Pallet::<T>::check_genesis(&self.initial_validators);
			assert!(validators.is_ok(), "invalid initial validators: {validators:?}");
			if let Ok(validators) = validators {
				Validators::<T>::put(validators);
			}
		}
	}

	#[pallet::event]
	#[pallet::generate_deposit(pub(super) fn deposit_event)]
	pub enum Event<T: Config> {
		/// A validator was added; it validates from the session after the next one.
		ValidatorAdded {
			/// The validator.
			who: T::AccountId,
		},
		/// A validator was removed; it stops from the session after the next one.
		ValidatorRemoved {
			/// The validator.
			who: T::AccountId,
		},
	}

	#[pallet::error]
	pub enum Error<T> {
		/// The account is a validator already.
		AlreadyValidator,
		/// The account is not a validator.
		NotValidator,
		/// The set is full (`MaxValidators`).
		TooManyValidators,
		/// Removing it would leave fewer than `MinValidators`.
		TooFewValidators,
		/// The account has not set session keys (`session.setKeys`).
		NoSessionKeys,
	}

	#[pallet::hooks]
	impl<T: Config> Hooks<BlockNumberFor<T>> for Pallet<T> {
		fn integrity_test() {
			assert!(T::MinValidators::get() >= 1, "the chain needs a validator");
			assert!(T::MinValidators::get() <= T::MaxValidators::get(), "Min above Max");
		}

		#[cfg(feature = "try-runtime")]
		fn try_state(_n: BlockNumberFor<T>) -> Result<(), sp_runtime::TryRuntimeError> {
			Self::do_try_state()
		}
	}

	#[pallet::call]
	impl<T: Config> Pallet<T> {
		/// Admin: make `who` a validator from the session after the next one. `who` must
		/// have set its session keys.
		///
		/// Errors: `AlreadyValidator`, `NoSessionKeys`, `TooManyValidators`.
		#[pallet::call_index(0)]
		#[pallet::weight(T::WeightInfo::add_validator())]
		pub fn add_validator(origin: OriginFor<T>, who: T::AccountId) -> DispatchResult {
			T::AdminOrigin::ensure_origin(origin)?;
			let mut validators = Validators::<T>::get();
			ensure!(!validators.contains(&who), Error::<T>::AlreadyValidator);
			ensure!(T::KeysRegistered::is_registered(&who), Error::<T>::NoSessionKeys);
			validators.try_push(who.clone()).map_err(|_| Error::<T>::TooManyValidators)?;
			Validators::<T>::put(validators);
			Changed::<T>::put(true);
			Self::deposit_event(Event::ValidatorAdded { who });
			Ok(())
		}

		/// Admin: stop `who` validating from the session after the next one.
		///
		/// Errors: `NotValidator`, `TooFewValidators`.
		#[pallet::call_index(1)]
		#[pallet::weight(T::WeightInfo::remove_validator())]
		pub fn remove_validator(origin: OriginFor<T>, who: T::AccountId) -> DispatchResult {
			T::AdminOrigin::ensure_origin(origin)?;
			let mut validators = Validators::<T>::get();
			let position =
				validators.iter().position(|v| v == &who).ok_or(Error::<T>::NotValidator)?;
			ensure!(
				validators.len() > T::MinValidators::get() as usize,
				Error::<T>::TooFewValidators
			);
			validators.remove(position);
			Validators::<T>::put(validators);
			Changed::<T>::put(true);
			Self::deposit_event(Event::ValidatorRemoved { who });
			Ok(())
		}
	}

	impl<T: Config> Pallet<T> {
		/// The genesis validators, bounded and without duplicates.
		pub(crate) fn check_genesis(
			initial: &[T::AccountId],
		) -> Result<BoundedVec<T::AccountId, T::MaxValidators>, &'static str> {
			let validators: BoundedVec<_, T::MaxValidators> =
				initial.to_vec().try_into().map_err(|_| "more than MaxValidators")?;
			ensure!(
				validators.is_empty() || validators.len() >= T::MinValidators::get() as usize,
				"fewer than MinValidators"
			);
			ensure!(!Self::has_duplicates(&validators), "a validator twice");
			Ok(validators)
		}

		fn has_duplicates(validators: &[T::AccountId]) -> bool {
			validators
				.iter()
				.enumerate()
				.any(|(i, v)| validators.iter().skip(i.saturating_add(1)).any(|w| w == v))
		}

		/// The invariants: no validator twice; at least `MinValidators` once there are any
		/// (at most `MaxValidators` by the bound).
		pub fn do_try_state() -> Result<(), sp_runtime::TryRuntimeError> {
			let validators = Validators::<T>::get();
			ensure!(!Self::has_duplicates(&validators), "a validator twice");
			ensure!(
				validators.is_empty() || validators.len() >= T::MinValidators::get() as usize,
				"fewer than MinValidators"
			);
			Ok(())
		}
	}

	/// Hands the set to the session pallet when it changed.
	impl<T: Config> pallet_session::SessionManager<T::AccountId> for Pallet<T> {
		fn new_session(_new_index: u32) -> Option<Vec<T::AccountId>> {
			Changed::<T>::take().then(|| Validators::<T>::get().into_inner())
		}

		fn new_session_genesis(_new_index: u32) -> Option<Vec<T::AccountId>> {
			let validators = Validators::<T>::get();
			(!validators.is_empty()).then(|| validators.into_inner())
		}

		fn end_session(_end_index: u32) {}

		fn start_session(_start_index: u32) {}
	}
}
