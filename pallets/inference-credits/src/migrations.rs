//! Storage migrations of the inference credits pallet: versioned migrations the runtime lists
//! in its `Migrations`, each run only from the on-chain storage version it migrates from.
//!
//! - `V1ToV2`: models gain `pending_price` (announced price increases), stored as `None`.
//! - `V2ToV3`: voucher ledgers gain `accepted` (the voucher last settled against, which is not
//!   checked again), stored as `None`: the next voucher of each ledger is checked once.
//!   Single-block: one read and one write per ledger (about 58 µs of weight each, so about
//!   20,000 ledgers fit a block's weight; a larger chain runs it as a multi-block migration).

use crate::{
	pallet::{Models, VoucherLedgers},
	AccessRule, BalanceOf, Config, ModelOf, Pallet, VoucherLedger,
};
use codec::{Decode, Encode};
use frame_support::{
	pallet_prelude::BoundedVec,
	traits::{Get, UncheckedOnRuntimeUpgrade},
	weights::Weight,
};
use sp_runtime::Saturating;

/// From storage version 1 to 2: every model gets `pending_price: None`.
pub type V1ToV2<T> = frame_support::migrations::VersionedMigration<
	1,
	2,
	AddPendingPrice<T>,
	Pallet<T>,
	<T as frame_system::Config>::DbWeight,
>;

/// A model as version 1 stored it.
#[derive(Encode, Decode)]
pub struct ModelV1<AccountId, Balance, Ticket, MaxName: Get<u32>> {
	/// The provider.
	pub provider: AccountId,
	/// Display name.
	pub name: BoundedVec<u8, MaxName>,
	/// Price of 1,000 input tokens.
	pub price_per_1k_input: Balance,
	/// Price of 1,000 output tokens.
	pub price_per_1k_output: Balance,
	/// Who may use it.
	pub access: AccessRule<Balance>,
	/// Whether it is retired.
	pub retired: bool,
	/// Its storage deposit.
	pub deposit: Ticket,
}

/// A version-1 model of the runtime.
pub type ModelV1Of<T> = ModelV1<
	<T as frame_system::Config>::AccountId,
	crate::BalanceOf<T>,
	<T as Config>::ModelConsideration,
	<T as Config>::MaxNameLen,
>;

/// The inner step of [`V1ToV2`].
pub struct AddPendingPrice<T>(core::marker::PhantomData<T>);

impl<T: Config> UncheckedOnRuntimeUpgrade for AddPendingPrice<T> {
	fn on_runtime_upgrade() -> Weight {
		let mut count = 0u64;
		Models::<T>::translate::<ModelV1Of<T>, _>(|_, old| {
			count.saturating_inc();
			Some(ModelOf::<T> {
				provider: old.provider,
				name: old.name,
				price_per_1k_input: old.price_per_1k_input,
				price_per_1k_output: old.price_per_1k_output,
				access: old.access,
				retired: old.retired,
				deposit: old.deposit,
				pending_price: None,
			})
		});
		T::DbWeight::get().reads_writes(count, count)
	}
}

/// From storage version 2 to 3: every voucher ledger gets `accepted: None`.
pub type V2ToV3<T> = frame_support::migrations::VersionedMigration<
	2,
	3,
	AddAcceptedVoucher<T>,
	Pallet<T>,
	<T as frame_system::Config>::DbWeight,
>;

/// A voucher ledger as version 2 stored it.
#[derive(Encode, Decode)]
pub struct VoucherLedgerV2<Balance> {
	/// Everything ever settled for the pair.
	pub settled: Balance,
	/// The highest cap of a voucher that was settled against.
	pub cap: Balance,
}

/// The inner step of [`V2ToV3`].
pub struct AddAcceptedVoucher<T>(core::marker::PhantomData<T>);

impl<T: Config> UncheckedOnRuntimeUpgrade for AddAcceptedVoucher<T> {
	fn on_runtime_upgrade() -> Weight {
		let mut count = 0u64;
		VoucherLedgers::<T>::translate::<VoucherLedgerV2<BalanceOf<T>>, _>(|_, _, old| {
			count.saturating_inc();
			Some(VoucherLedger { settled: old.settled, cap: old.cap, accepted: None })
		});
		T::DbWeight::get().reads_writes(count, count)
	}
}

#[cfg(test)]
mod tests {
	use super::*;
	use crate::mock::{alice, new_test_ext, Test};
	use frame_support::traits::{GetStorageVersion, OnRuntimeUpgrade, StorageVersion};

	#[test]
	fn v1_to_v2_keeps_every_model_and_adds_no_pending_price() {
		new_test_ext().execute_with(|| {
			StorageVersion::new(1).put::<Pallet<Test>>();
			// The deposit ticket encodes as the balance it holds.
			let old = ModelV1::<_, u128, u128, frame_support::traits::ConstU32<32>> {
				provider: alice(),
				name: BoundedVec::truncate_from(b"llm".to_vec()),
				price_per_1k_input: 2_000,
				price_per_1k_output: 4_000,
				access: AccessRule::MinBalance(5),
				retired: false,
				deposit: 0,
			};
			frame_support::storage::unhashed::put_raw(
				&Models::<Test>::hashed_key_for(7),
				&old.encode(),
			);
			V1ToV2::<Test>::on_runtime_upgrade();
			let Some(new) = Models::<Test>::get(7) else { panic!("the model was not translated") };
			assert_eq!(new.provider, alice());
			assert_eq!((new.price_per_1k_input, new.price_per_1k_output), (2_000, 4_000));
			assert_eq!(new.access, AccessRule::MinBalance(5));
			assert_eq!(new.pending_price, None);
			assert_eq!(Pallet::<Test>::on_chain_storage_version(), StorageVersion::new(2));
		});
	}

	#[test]
	fn v2_to_v3_keeps_every_ledger_and_remembers_no_voucher() {
		use crate::mock::{bob, charlie};
		new_test_ext().execute_with(|| {
			assert_eq!(Pallet::<Test>::in_code_storage_version(), StorageVersion::new(3));
			StorageVersion::new(2).put::<Pallet<Test>>();
			for (user, settled, cap) in [(bob(), 400u128, 1_000u128), (charlie(), 7, 9)] {
				frame_support::storage::unhashed::put_raw(
					&VoucherLedgers::<Test>::hashed_key_for(&user, alice()),
					&VoucherLedgerV2 { settled, cap }.encode(),
				);
			}
			let weight = V2ToV3::<Test>::on_runtime_upgrade();
			assert_eq!(
				VoucherLedgers::<Test>::get(bob(), alice()),
				VoucherLedger { settled: 400, cap: 1_000, accepted: None }
			);
			assert_eq!(
				VoucherLedgers::<Test>::get(charlie(), alice()),
				VoucherLedger { settled: 7, cap: 9, accepted: None }
			);
			assert_eq!(Pallet::<Test>::on_chain_storage_version(), StorageVersion::new(3));
			// Two ledgers read and written, and the version read and written.
			let db: frame_support::weights::RuntimeDbWeight =
				<Test as frame_system::Config>::DbWeight::get();
			assert_eq!(weight, db.reads_writes(2, 2) + db.reads_writes(1, 1));
			// Run again, it does nothing.
			assert_eq!(V2ToV3::<Test>::on_runtime_upgrade(), db.reads(1));
		});
	}
}
