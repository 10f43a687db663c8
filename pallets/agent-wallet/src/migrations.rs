//! Storage migrations of the agent wallet pallet: versioned migrations the runtime lists in
//! its `Migrations`, each run only from the on-chain storage version it migrates from.
//!
//! - `V1ToV2`: since issue 28 an agent's deposit pays for its record *and* one settlement
//!   grace; agents created before hold the record's deposit only. Each owner's deposit is
//!   brought to the new footprint. An owner who cannot pay the difference keeps the old
//!   deposit (the grace is written all the same; the shortfall is a few bytes' price).

use crate::{pallet::Agents, Config, Pallet};
use alloc::vec::Vec;
use frame_support::{
	traits::{Consideration, Get, UncheckedOnRuntimeUpgrade},
	weights::Weight,
};

/// From storage version 1 to 2: every agent's deposit covers a settlement grace too.
pub type V1ToV2<T> = frame_support::migrations::VersionedMigration<
	1,
	2,
	ResizeAgentDeposits<T>,
	Pallet<T>,
	<T as frame_system::Config>::DbWeight,
>;

/// The inner step of [`V1ToV2`].
pub struct ResizeAgentDeposits<T>(core::marker::PhantomData<T>);

impl<T: Config> UncheckedOnRuntimeUpgrade for ResizeAgentDeposits<T> {
	fn on_runtime_upgrade() -> Weight {
		let footprint = Pallet::<T>::footprint();
		let agents: Vec<T::AccountId> = Agents::<T>::iter_keys().collect();
		let count = agents.len() as u64;
		for agent in agents {
			Agents::<T>::mutate(&agent, |info| {
				let Some(info) = info else { return };
				if let Ok(ticket) = info.deposit.clone().update(&info.owner, footprint) {
					info.deposit = ticket;
				}
			});
		}
		// Per agent: its record read and written, and the owner's hold and account.
		T::DbWeight::get().reads_writes(count.saturating_mul(3), count.saturating_mul(3))
	}
}

#[cfg(test)]
mod tests {
	use super::*;
	use crate::{mock::*, tests::*, HoldReason};
	use codec::{Decode, Encode};
	use frame_support::{
		assert_ok,
		traits::{
			fungible::MutateHold, tokens::Precision, GetStorageVersion, OnRuntimeUpgrade,
			StorageVersion,
		},
	};

	#[test]
	fn v1_to_v2_brings_old_deposits_to_the_new_footprint() {
		new_test_ext().execute_with(|| {
			assert_eq!(Pallet::<Test>::in_code_storage_version(), StorageVersion::new(2));
			let agent = create();
			let full = held(HoldReason::AgentDeposit, OWNER);
			// As version 1 made it: a smaller deposit (the record's alone; the mock's price is
			// flat, so it is made smaller by hand: 200 released, the ticket saying so).
			let reason: RuntimeHoldReason = HoldReason::AgentDeposit.into();
			assert_ok!(<Balances as MutateHold<AccountId>>::release(
				&reason,
				&OWNER,
				200,
				Precision::Exact
			));
			Agents::<Test>::mutate(agent, |info| {
				let info = info.as_mut().expect("the agent was created above; qed");
				info.deposit = Decode::decode(&mut &(full - 200).encode()[..])
					.expect("a hold ticket encodes as the balance it holds; qed");
			});
			assert_eq!(held(HoldReason::AgentDeposit, OWNER), full - 200);
			StorageVersion::new(1).put::<Pallet<Test>>();
			V1ToV2::<Test>::on_runtime_upgrade();
			assert_eq!(held(HoldReason::AgentDeposit, OWNER), full);
			assert_eq!(Pallet::<Test>::on_chain_storage_version(), StorageVersion::new(2));
			// Run again: nothing changes (the version says it is done).
			V1ToV2::<Test>::on_runtime_upgrade();
			assert_eq!(held(HoldReason::AgentDeposit, OWNER), full);
			// Closing returns everything.
			assert_ok!(AgentWallet::close_agent(RuntimeOrigin::signed(OWNER), agent));
			assert_eq!(held(HoldReason::AgentDeposit, OWNER), 0);
		});
	}
}
