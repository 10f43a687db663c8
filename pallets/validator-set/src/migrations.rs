//! Storage migrations of the validator set pallet, following
//! [`tokenmeter_primitives::migrations`]: versioned migrations the runtime lists in its
//! `Migrations`, each run only from the on-chain storage version it migrates from.
//!
//! The in-code storage version is 1. To change the layout: bump `STORAGE_VERSION` in
//! `lib.rs`, add `V1ToV2` here (a `VersionedMigration<1, 2, ..>` around a step that
//! translates the stored values), list it in the runtime, and test it like `V0ToV1`.

use crate::Pallet;

/// From storage version 0 (storage written before the version was recorded) to 1: the
/// layout is unchanged, only the version is written.
pub type V0ToV1<T> = tokenmeter_primitives::migrations::InitializeV1<
	Pallet<T>,
	<T as frame_system::Config>::DbWeight,
>;

#[cfg(test)]
mod tests {
	use super::*;
	use crate::mock::{new_test_ext, Test};
	use frame_support::traits::{GetStorageVersion, StorageVersion};

	#[test]
	fn v0_to_v1_writes_the_version_once() {
		new_test_ext().execute_with(|| {
			assert_eq!(Pallet::<Test>::in_code_storage_version(), StorageVersion::new(1));
			tokenmeter_primitives::migrations::assert_migrates::<
				Pallet<Test>,
				V0ToV1<Test>,
				<Test as frame_system::Config>::DbWeight,
			>(0, 1);
		});
	}
}
