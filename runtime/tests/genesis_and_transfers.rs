//! Runtime integration tests: the genesis presets build a working chain, and balance
//! transfers behave as wallets expect on it.

use frame_support::{assert_noop, assert_ok, traits::fungible::Inspect};
mod common;

use common::chain_from_preset;
use sp_keyring::Sr25519Keyring;
use sp_runtime::{DispatchError, TokenError};
use tokenmeter_runtime::{
	configs::inference_credits::RewardPoolAccount,
	genesis_config_presets::{self, ENDOWMENT},
	Balances, Grandpa, Runtime, RuntimeOrigin, System, EXISTENTIAL_DEPOSIT, UNIT, VERSION,
};

#[test]
fn runtime_identifies_as_tokenmeter() {
	assert_eq!(VERSION.spec_name, "tokenmeter");
	assert_eq!(VERSION.impl_name, "tokenmeter-node");
}

#[test]
fn both_presets_are_listed_and_unknown_ones_are_not() {
	let names = genesis_config_presets::preset_names();
	assert!(names.contains(&"development".into()));
	assert!(names.contains(&"local_testnet".into()));
	assert!(genesis_config_presets::get_preset(&"mainnet".into()).is_none());
}

#[test]
fn development_preset_has_alice_as_sole_validator_and_sudo() {
	chain_from_preset("development").execute_with(|| {
		let aura = pallet_aura::Authorities::<Runtime>::get();
		assert_eq!(aura.len(), 1);
		assert_eq!(aura[0], Sr25519Keyring::Alice.public().into());
		assert_eq!(Grandpa::grandpa_authorities().len(), 1);
		assert_eq!(pallet_sudo::Key::<Runtime>::get(), Some(Sr25519Keyring::Alice.to_account_id()));
		let endowed = Sr25519Keyring::well_known().count() as u128;
		// The reward pool and the treasury start with the existential deposit.
		assert_eq!(Balances::total_issuance(), endowed * ENDOWMENT + 2 * EXISTENTIAL_DEPOSIT);
		assert_eq!(Balances::balance(&RewardPoolAccount::get()), EXISTENTIAL_DEPOSIT);
		assert_eq!(
			Balances::balance(&tokenmeter_runtime::configs::governance::TreasuryAccount::get()),
			EXISTENTIAL_DEPOSIT
		);
		assert_eq!(Balances::balance(&Sr25519Keyring::Bob.to_account_id()), ENDOWMENT);
	});
}

#[test]
fn local_testnet_preset_has_two_validators() {
	chain_from_preset("local_testnet").execute_with(|| {
		assert_eq!(pallet_aura::Authorities::<Runtime>::get().len(), 2);
		assert_eq!(Grandpa::grandpa_authorities().len(), 2);
	});
}

#[test]
fn transfer_moves_exactly_the_amount() {
	chain_from_preset("development").execute_with(|| {
		let alice = Sr25519Keyring::Alice.to_account_id();
		let bob = Sr25519Keyring::Bob.to_account_id();
		let issuance = Balances::total_issuance();
		assert_ok!(Balances::transfer_keep_alive(
			RuntimeOrigin::signed(alice.clone()),
			bob.clone().into(),
			5 * UNIT
		));
		assert_eq!(Balances::balance(&alice), ENDOWMENT - 5 * UNIT);
		assert_eq!(Balances::balance(&bob), ENDOWMENT + 5 * UNIT);
		assert_eq!(Balances::total_issuance(), issuance);
		System::assert_last_event(
			pallet_balances::Event::Transfer { from: alice, to: bob, amount: 5 * UNIT }.into(),
		);
	});
}

#[test]
fn transfer_of_more_than_held_fails_and_changes_nothing() {
	chain_from_preset("development").execute_with(|| {
		let alice = Sr25519Keyring::Alice.to_account_id();
		let bob = Sr25519Keyring::Bob.to_account_id();
		assert_noop!(
			Balances::transfer_allow_death(
				RuntimeOrigin::signed(bob.clone()),
				alice.clone().into(),
				ENDOWMENT + 1
			),
			DispatchError::Token(TokenError::FundsUnavailable)
		);
		assert_eq!(Balances::balance(&alice), ENDOWMENT);
		assert_eq!(Balances::balance(&bob), ENDOWMENT);
	});
}
