//! Storage versions and the runtime's migrations: a new chain starts at the in-code versions,
//! the listed migrations change nothing there, and a runtime upgrade run by `Executive` at
//! the start of a block brings the pallets with a layout change from version 1 to 2.

mod common;

use common::{chain_from_preset, check_invariants, run_to_block};
use frame_support::{
	traits::{GetStorageVersion, OnRuntimeUpgrade, PalletInfoAccess, StorageVersion},
	weights::RuntimeDbWeight,
};
use tokenmeter_runtime::{
	AgentWallet, FeedbackRewards, InferenceCredits, Migrations, PriorityStaking, Runtime, System,
	UsageAttestation, ValidatorSet,
};

/// (name, on-chain version, in-code version) of each custom pallet.
fn versions() -> Vec<(&'static str, StorageVersion, StorageVersion)> {
	fn of<P: GetStorageVersion<InCodeStorageVersion = StorageVersion> + PalletInfoAccess>(
	) -> (&'static str, StorageVersion, StorageVersion) {
		(P::name(), P::on_chain_storage_version(), P::in_code_storage_version())
	}
	vec![
		of::<InferenceCredits>(),
		of::<PriorityStaking>(),
		of::<AgentWallet>(),
		of::<FeedbackRewards>(),
		of::<UsageAttestation>(),
		of::<ValidatorSet>(),
	]
}

#[test]
fn a_new_chain_is_at_the_in_code_storage_versions_and_migrations_do_nothing() {
	chain_from_preset("development").execute_with(|| {
		for (name, on_chain, in_code) in versions() {
			assert_eq!(on_chain, in_code, "{name}");
			// Inference credits is at 3 (models gained `pending_price`, then ledgers the voucher
			// they accepted), feedback rewards at 2 (commit–reveal scoring by stake), the agent
			// wallet at 2 (deposits that cover a settlement grace), the rest at 1.
			let expected = match name {
				"InferenceCredits" => 3,
				"FeedbackRewards" | "AgentWallet" => 2,
				_ => 1,
			};
			assert_eq!(in_code, StorageVersion::new(expected), "{name}");
		}
		let before = versions();
		let weight = Migrations::on_runtime_upgrade();
		let db: RuntimeDbWeight = <Runtime as frame_system::Config>::DbWeight::get();
		assert_eq!(weight, db.reads(4), "one version read per migration, nothing written");
		assert_eq!(versions(), before);
		check_invariants();
	});
}

#[test]
fn a_runtime_upgrade_migrates_the_pallets_whose_layout_changed() {
	chain_from_preset("development").execute_with(|| {
		run_to_block(2);
		let v1 = StorageVersion::new(1);
		v1.put::<InferenceCredits>();
		v1.put::<FeedbackRewards>();
		v1.put::<AgentWallet>();
		// The next block sees a new runtime (no record of the last upgrade) and runs the
		// migrations in `Executive::initialize_block`.
		frame_system::LastRuntimeUpgrade::<Runtime>::kill();
		run_to_block(3);
		for (name, on_chain, in_code) in versions() {
			assert_eq!(on_chain, in_code, "{name} migrated");
		}
		assert!(frame_system::LastRuntimeUpgrade::<Runtime>::get().is_some());
		assert_eq!(System::block_number(), 3);
		check_invariants();
	});
}
