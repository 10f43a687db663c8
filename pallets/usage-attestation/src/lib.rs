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

pub use ocw::{FeedEntry, FeedRecord};
pub use pallet::*;
pub use tokenmeter_primitives::{SettleUsage, SettlementSummary};
pub use types::*;

#[cfg(feature = "runtime-benchmarks")]
mod benchmarking;
mod impls;
#[cfg(test)]
mod mock;
pub mod ocw;
#[cfg(test)]
mod tests;
mod types;
pub mod weights;
pub use weights::WeightInfo;

/// Sets up what the benchmarks need, which the pallet cannot know.
#[cfg(feature = "runtime-benchmarks")]
pub trait BenchmarkHelper<AccountId, Entry> {
	/// A registered provider with funds for deposits.
	fn provider() -> AccountId;
	/// The `i`-th usage record of a distinct user, as large as records get.
	fn entry(i: u32) -> Entry;
}

/// The key type of operator keys in a node's keystore: `tmat` (sr25519).
pub const KEY_TYPE: sp_core::crypto::KeyTypeId = sp_core::crypto::KeyTypeId(*b"tmat");

/// Operator keys: sr25519 keys of type [`KEY_TYPE`], whose accounts sign attestations.
pub mod crypto {
	use super::KEY_TYPE;
	use sp_runtime::{
		app_crypto::{app_crypto, sr25519},
		MultiSignature, MultiSigner,
	};

	app_crypto!(sr25519, KEY_TYPE);

	/// Signs attestations with an operator key, for a runtime with `MultiSignature` accounts.
	pub struct OperatorKey;

	impl frame_system::offchain::AppCrypto<MultiSigner, MultiSignature> for OperatorKey {
		type RuntimeAppPublic = Public;
		type GenericPublic = sp_core::sr25519::Public;
		type GenericSignature = sp_core::sr25519::Signature;
	}
}

/// What an attested usage record says was served, to count against the provider's capacity.
pub trait UsageTokens {
	/// Input and output tokens together.
	fn tokens(&self) -> u64;
}

impl<Hash, AccountId, Balance, BlockNumber, Signature> UsageTokens
	for tokenmeter_primitives::UsageEntry<Hash, AccountId, Balance, BlockNumber, Signature>
{
	fn tokens(&self) -> u64 {
		u64::from(self.input_tokens).saturating_add(self.output_tokens.into())
	}
}

// FRAME's pallet macros expand to `expect`s with proofs (pallet names, storage prefixes,
// error encodings) under this module's spans; the pallet's own logic lives in `impls.rs`,
// where `expect` stays denied.
#[allow(clippy::expect_used)]
#[frame_support::pallet]
pub mod pallet {
	use super::*;
	use frame_support::{
		pallet_prelude::*,
		traits::{Consideration, Contains, Footprint},
	};
	use frame_system::{
		offchain::{AppCrypto, CreateSignedTransaction},
		pallet_prelude::*,
	};

	/// The in-code storage version.
	const STORAGE_VERSION: StorageVersion = StorageVersion::new(1);

	#[pallet::pallet]
	#[pallet::storage_version(STORAGE_VERSION)]
	pub struct Pallet<T>(_);

	/// Configuration of the pallet.
	#[pallet::config]
	pub trait Config: frame_system::Config + CreateSignedTransaction<Call<Self>> {
		/// Settles attested usage (the inference credits pallet).
		type Settlement: SettleUsage<
			Self::AccountId,
			Entry: Parameter + MaxEncodedLen + UsageTokens,
			Balance: Parameter + MaxEncodedLen + Default + Copy,
		>;

		/// Registered providers (the inference credits pallet's).
		type Providers: Contains<Self::AccountId>;

		/// The provider's deposit for an operator record.
		type OperatorDeposit: Consideration<Self::AccountId, Footprint>;

		/// Most operators per provider.
		#[pallet::constant]
		type MaxOperators: Get<u32>;

		/// Most entries per attestation.
		#[pallet::constant]
		type MaxEntries: Get<u32>;

		/// Blocks per capacity epoch.
		#[pallet::constant]
		type EpochLength: Get<BlockNumberFor<Self>>;

		/// The operator keys the off-chain worker signs attestations with
		/// ([`crypto::OperatorKey`] in a runtime with `MultiSignature` accounts).
		type OperatorKey: AppCrypto<Self::Public, Self::Signature>;

		/// Turns a record of the usage feed into a settlement entry.
		type FeedEntries: FeedEntry<Self::AccountId, EntryOf<Self>>;

		/// Weights of the calls, from the benchmarks.
		type WeightInfo: WeightInfo;

		/// Sets up the benchmarks.
		#[cfg(feature = "runtime-benchmarks")]
		type BenchmarkHelper: BenchmarkHelper<Self::AccountId, EntryOf<Self>>;
	}

	/// Why this pallet holds funds (through the runtime's deposit consideration).
	#[pallet::composite_enum]
	pub enum HoldReason {
		/// A provider's deposit for an operator record.
		#[codec(index = 0)]
		OperatorDeposit,
	}

	/// Each operator's provider and the deposit for the record.
	#[pallet::storage]
	pub type Operators<T: Config> = StorageMap<_, Blake2_128Concat, T::AccountId, OperatorOf<T>>;

	/// Each provider's operators.
	#[pallet::storage]
	pub type ProviderOperators<T: Config> = StorageMap<
		_,
		Blake2_128Concat,
		T::AccountId,
		BoundedVec<T::AccountId, T::MaxOperators>,
		ValueQuery,
	>;

	/// Tokens per epoch each of a provider's operators may attest (0: none).
	#[pallet::storage]
	pub type Capacities<T: Config> = StorageMap<_, Blake2_128Concat, T::AccountId, u64, ValueQuery>;

	/// The sequence number of a provider's last attested record (0: none yet; feeds number
	/// records from 1). The next attestation must start right after it.
	#[pallet::storage]
	pub type LastSeq<T: Config> = StorageMap<_, Blake2_128Concat, T::AccountId, u64, ValueQuery>;

	/// Tokens each operator attested in its latest epoch.
	#[pallet::storage]
	pub type OperatorUsage<T: Config> =
		StorageMap<_, Blake2_128Concat, T::AccountId, EpochUsage, ValueQuery>;

	#[pallet::event]
	#[pallet::generate_deposit(pub(super) fn deposit_event)]
	pub enum Event<T: Config> {
		/// A provider registered an operator key.
		OperatorRegistered {
			/// The provider.
			provider: T::AccountId,
			/// The operator.
			operator: T::AccountId,
		},
		/// A provider removed an operator key.
		OperatorRemoved {
			/// The provider.
			provider: T::AccountId,
			/// The operator.
			operator: T::AccountId,
		},
		/// A provider declared its capacity.
		CapacitySet {
			/// The provider.
			provider: T::AccountId,
			/// Tokens per epoch per operator.
			tokens_per_epoch: u64,
		},
		/// An operator attested a batch of usage records and they were settled.
		Attested {
			/// The provider.
			provider: T::AccountId,
			/// The operator.
			operator: T::AccountId,
			/// The sequence number of the first record.
			first_seq: u64,
			/// Records in the batch.
			entries: u32,
			/// What settlement charged users' credits.
			charged: <T::Settlement as SettleUsage<T::AccountId>>::Balance,
			/// Records that settled nothing (rejected by settlement or over capacity).
			rejected: u32,
		},
		/// An operator declared a usage record void: the feed serves it but it cannot be read.
		/// It settled nothing; the sequence moved past it.
		RecordVoided {
			/// The provider.
			provider: T::AccountId,
			/// The operator.
			operator: T::AccountId,
			/// The record's sequence number.
			seq: u64,
			/// Why it cannot be read (the field, as text).
			reason: VoidReason,
		},
		/// Records beyond the operator's remaining capacity this epoch were not attested: the
		/// sequence stops before them, and they can be attested in a later epoch.
		OverCapacity {
			/// The operator.
			operator: T::AccountId,
			/// Records left for later.
			entries: u32,
			/// Their tokens.
			tokens: u64,
		},
	}

	#[pallet::error]
	pub enum Error<T> {
		/// The caller is not a registered provider.
		NotProvider,
		/// The signer is not an operator of this provider.
		NotOperator,
		/// The operator key is already registered (for some provider).
		AlreadyOperator,
		/// The provider has as many operators as it may.
		TooManyOperators,
		/// The batch starts at or before the last attested record: a replay.
		Replay,
		/// The batch starts after the record following the last attested one: records are
		/// missing.
		Gap,
		/// An attestation without records.
		Empty,
		/// Not even the first record fits the operator's remaining capacity this epoch (see
		/// `set_capacity`); nothing was consumed, attest it in a later epoch.
		NoCapacity,
	}

	#[pallet::hooks]
	impl<T: Config> Hooks<BlockNumberFor<T>> for Pallet<T> {
		/// On a node that holds an operator key and has a usage feed (`--usage-feed`): fetch
		/// the records after the provider's last attested one and submit one attestation.
		/// Runs off chain, so it has no weight.
		fn offchain_worker(now: BlockNumberFor<T>) {
			Self::offchain_attest(now);
		}

		#[cfg(feature = "try-runtime")]
		fn try_state(_n: BlockNumberFor<T>) -> Result<(), sp_runtime::TryRuntimeError> {
			Self::do_try_state()
		}
	}

	#[pallet::call]
	impl<T: Config> Pallet<T> {
		/// Provider: register `operator` as a key that may attest usage for the caller. Takes
		/// a deposit.
		///
		/// Errors: `NotProvider`, `AlreadyOperator`, `TooManyOperators`, the deposit's error.
		#[pallet::call_index(0)]
		#[pallet::weight(T::WeightInfo::register_operator())]
		pub fn register_operator(origin: OriginFor<T>, operator: T::AccountId) -> DispatchResult {
			let provider = ensure_signed(origin)?;
			Self::do_register_operator(provider, operator)
		}

		/// Provider: remove one of its operators; the deposit comes back.
		///
		/// Errors: `NotOperator`.
		#[pallet::call_index(1)]
		#[pallet::weight(T::WeightInfo::remove_operator())]
		pub fn remove_operator(origin: OriginFor<T>, operator: T::AccountId) -> DispatchResult {
			let provider = ensure_signed(origin)?;
			Self::do_remove_operator(provider, operator)
		}

		/// Provider: declare how many tokens per epoch each of its operators may attest.
		///
		/// Errors: `NotProvider`.
		#[pallet::call_index(2)]
		#[pallet::weight(T::WeightInfo::set_capacity())]
		pub fn set_capacity(origin: OriginFor<T>, tokens_per_epoch: u64) -> DispatchResult {
			let provider = ensure_signed(origin)?;
			ensure!(T::Providers::contains(&provider), Error::<T>::NotProvider);
			Capacities::<T>::insert(&provider, tokens_per_epoch);
			Self::deposit_event(Event::CapacitySet { provider, tokens_per_epoch });
			Ok(())
		}

		/// Operator: attest `entries`, the provider's usage records `first_seq ..`, which must
		/// start right after the last attested one (`LastSeq + 1`). The records that fit the
		/// operator's remaining capacity this epoch, in order, settle through the credits
		/// pallet and `LastSeq` moves past them only; the rest are reported (`OverCapacity`)
		/// and attested again later.
		///
		/// Charged the most its settlement can weigh (every voucher new, checked in every form)
		/// and refunded to what it did: a voucher the chain accepted before is not checked
		/// again.
		///
		/// Errors: `NotOperator`, `Empty`, `Replay`, `Gap`, `NoCapacity` (not even the first
		/// record fits).
		#[pallet::call_index(3)]
		#[pallet::weight(Pallet::<T>::attest_weight(entries.len() as u32))]
		pub fn attest(
			origin: OriginFor<T>,
			provider: T::AccountId,
			first_seq: u64,
			entries: BoundedVec<EntryOf<T>, T::MaxEntries>,
		) -> DispatchResultWithPostInfo {
			let operator = ensure_signed(origin)?;
			let used = Self::do_attest(operator, provider, first_seq, entries)?;
			Ok(Some(used).into())
		}

		/// Operator: declare the provider's usage record `seq`, which must be the one after
		/// the last attested (`LastSeq + 1`), void: the feed serves it but it cannot be read
		/// (an account that is not SS58, a signature or number the chain cannot hold). It
		/// settles nothing and is reported with `reason`; the sequence moves past it so that
		/// the records after it can be attested. Only the provider's own operator can do this,
		/// so only the provider can lose by it. The off-chain worker does it by itself.
		///
		/// Errors: `NotOperator`, `Replay`, `Gap`.
		#[pallet::call_index(4)]
		#[pallet::weight(T::WeightInfo::void_record())]
		pub fn void_record(
			origin: OriginFor<T>,
			provider: T::AccountId,
			seq: u64,
			reason: VoidReason,
		) -> DispatchResult {
			let operator = ensure_signed(origin)?;
			Self::do_void_record(operator, provider, seq, reason)
		}
	}
}
