//! Validators through sessions as the runtime wires them: the `testnet` preset's three
//! validators author (Aura) and vote (GRANDPA) from genesis; a fourth account sets its session
//! keys with a proof of possession, Root adds it (on the testnet, a referendum: see
//! governance.rs), and two sessions later Aura and GRANDPA
//! include it; a removed validator leaves the same way; bad changes fail and change nothing.

mod common;

use codec::Encode;
use common::{chain_from_preset, run_to_block};
use frame_support::{assert_noop, assert_ok};
use sp_keyring::Sr25519Keyring::{Alice, Bob, Charlie, Dave, Eve};
use sp_keystore::{testing::MemoryKeystore, KeystoreExt};
use tokenmeter_runtime::{
	configs::SessionPeriod, opaque::SessionKeys, AccountId, Grandpa, Runtime, RuntimeOrigin,
	Session, System, ValidatorSet,
};

fn validators() -> Vec<AccountId> {
	pallet_session::Validators::<Runtime>::get()
}

/// Runs blocks until `sessions` more sessions have started.
fn run_sessions(sessions: u32) {
	let target = pallet_session::CurrentIndex::<Runtime>::get() + sessions;
	while pallet_session::CurrentIndex::<Runtime>::get() < target {
		run_to_block(System::block_number() + 1);
	}
	assert!(System::block_number() <= SessionPeriod::get() * (target + 1));
}

fn aura_has(who: sp_keyring::Sr25519Keyring) -> bool {
	let key: sp_consensus_aura::sr25519::AuthorityId = who.public().into();
	pallet_aura::Authorities::<Runtime>::get().contains(&key)
}

#[test]
fn the_testnet_starts_with_three_validators() {
	chain_from_preset("testnet").execute_with(|| {
		let three: Vec<AccountId> = [Alice, Bob, Charlie].map(|k| k.to_account_id()).into();
		assert_eq!(validators(), three);
		assert_eq!(pallet_validator_set::Validators::<Runtime>::get().into_inner(), three);
		assert_eq!(pallet_aura::Authorities::<Runtime>::get().len(), 3);
		assert!([Alice, Bob, Charlie].into_iter().all(aura_has));
		assert_eq!(Grandpa::grandpa_authorities().len(), 3);
	});
}

#[test]
fn root_adds_a_validator_with_session_keys_and_removes_another() {
	let mut ext = chain_from_preset("testnet");
	ext.register_extension(KeystoreExt::new(MemoryKeystore::new()));
	ext.execute_with(|| {
		let (dave, eve) = (Dave.to_account_id(), Eve.to_account_id());
		// Eve has no session keys: she could not author.
		assert_noop!(
			ValidatorSet::add_validator(RuntimeOrigin::root(), eve.clone()),
			pallet_validator_set::Error::<Runtime>::NoSessionKeys
		);
		// Only root changes the set.
		assert_noop!(
			ValidatorSet::add_validator(RuntimeOrigin::signed(dave.clone()), dave.clone()),
			sp_runtime::DispatchError::BadOrigin
		);

		// Dave's node generates keys (`author_rotateKeysWithOwner`); a proof made for another
		// owner does not do.
		let generated = SessionKeys::generate(&dave.encode(), Some(b"//Dave".to_vec()));
		let for_eve = SessionKeys::generate(&eve.encode(), Some(b"//Dave".to_vec()));
		assert!(Session::set_keys(
			RuntimeOrigin::signed(dave.clone()),
			generated.keys.clone(),
			for_eve.proof.encode()
		)
		.is_err());
		assert_ok!(Session::set_keys(
			RuntimeOrigin::signed(dave.clone()),
			generated.keys.clone(),
			generated.proof.encode()
		));
		assert_ok!(ValidatorSet::add_validator(RuntimeOrigin::root(), dave.clone()));
		assert!(!validators().contains(&dave));

		// Queued at the next session, active at the one after.
		run_sessions(1);
		assert!(!aura_has(Dave));
		run_sessions(1);
		assert!(validators().contains(&dave));
		assert!(aura_has(Dave));
		assert_eq!(pallet_aura::Authorities::<Runtime>::get().len(), 4);

		assert_ok!(ValidatorSet::remove_validator(RuntimeOrigin::root(), Bob.to_account_id()));
		run_sessions(2);
		assert!(!aura_has(Bob));
		assert_eq!(validators().len(), 3);
		ValidatorSet::do_try_state().unwrap();
	});
}

fn aura_key_of(who: &AccountId) -> Option<sp_consensus_aura::sr25519::AuthorityId> {
	let keys = pallet_session::NextKeys::<Runtime>::get(who)?;
	let index = validators().iter().position(|v| v == who)?;
	let queued = pallet_aura::Authorities::<Runtime>::get();
	(queued.get(index) == Some(&keys.aura)).then_some(keys.aura)
}

/// docs/operators.md: a validator that set keys (the deposit held once) rotates them by
/// generating and setting new ones, which take over at the session after the next; leaving
/// (`removeValidator`, then `purgeKeys`) gives the deposit back.
#[test]
fn a_validator_rotates_its_keys_leaves_and_purges_them() {
	let mut ext = chain_from_preset("testnet");
	ext.register_extension(KeystoreExt::new(MemoryKeystore::new()));
	ext.execute_with(|| {
		use frame_support::traits::fungible::InspectHold;
		let dave = Dave.to_account_id();
		let held = || tokenmeter_runtime::Balances::total_balance_on_hold(&dave);
		let deposit = tokenmeter_runtime::configs::SessionKeyDeposit::get();
		let before = held();
		let first = SessionKeys::generate(&dave.encode(), Some(b"//Dave//1".to_vec()));
		assert_ok!(Session::set_keys(
			RuntimeOrigin::signed(dave.clone()),
			first.keys.clone(),
			first.proof.encode()
		));
		assert_eq!(held(), before + deposit);
		assert_ok!(ValidatorSet::add_validator(RuntimeOrigin::root(), dave.clone()));
		run_sessions(2);
		let old_aura = pallet_session::NextKeys::<Runtime>::get(&dave).unwrap().aura;
		assert_eq!(aura_key_of(&dave), Some(old_aura.clone()));

		// Rotating: new keys from the node, set again; no second deposit.
		let second = SessionKeys::generate(&dave.encode(), Some(b"//Dave//2".to_vec()));
		assert_ok!(Session::set_keys(
			RuntimeOrigin::signed(dave.clone()),
			second.keys.clone(),
			second.proof.encode()
		));
		assert_eq!(held(), before + deposit);
		let new_aura = pallet_session::NextKeys::<Runtime>::get(&dave).unwrap().aura;
		assert_ne!(new_aura, old_aura);
		// The old key authors this session and the next; then the new one.
		run_sessions(1);
		assert!(pallet_aura::Authorities::<Runtime>::get().contains(&old_aura));
		run_sessions(1);
		assert_eq!(aura_key_of(&dave), Some(new_aura));
		assert!(!pallet_aura::Authorities::<Runtime>::get().contains(&old_aura));
		// GRANDPA enacts the new set when the session's first block is finalised.
		let grandpa = pallet_session::NextKeys::<Runtime>::get(&dave).unwrap().grandpa;
		run_to_block(System::block_number() + 1);
		assert!(Grandpa::grandpa_authorities().iter().any(|(key, _)| key == &grandpa));

		// Leaving: removed, then the keys purged and the deposit returned.
		assert_ok!(ValidatorSet::remove_validator(RuntimeOrigin::root(), dave.clone()));
		run_sessions(2);
		assert!(!validators().contains(&dave));
		assert_ok!(Session::purge_keys(RuntimeOrigin::signed(dave.clone())));
		assert!(pallet_session::NextKeys::<Runtime>::get(&dave).is_none());
		assert_eq!(held(), before);
		// Without keys it cannot be added back.
		assert_noop!(
			ValidatorSet::add_validator(RuntimeOrigin::root(), dave.clone()),
			pallet_validator_set::Error::<Runtime>::NoSessionKeys
		);
		ValidatorSet::do_try_state().unwrap();
	});
}
