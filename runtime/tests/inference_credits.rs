//! The inference credits pallet as configured in the runtime: a provider lists a model, a user
//! deposits credits and signs a voucher, and settlement pays the provider, the reward pool and
//! the treasury (the runtime's 5% protocol fee, a fifth of it to the treasury by default),
//! leaving every invariant intact.

mod common;

use common::{chain_from_preset, provide_model, signed_voucher};
use frame_support::{
	assert_noop, assert_ok,
	traits::{
		fungible::{Inspect, InspectHold},
		Get,
	},
};
use pallet_inference_credits::{AccessDenied, AccessRule, Error, SettleUsage, UsageEntry};
use sp_keyring::Sr25519Keyring::{Alice, Bob, Charlie};
use tokenmeter_runtime::{
	configs::{
		governance::TreasuryAccount, inference_credits::RewardPoolAccount,
		parameters::dynamic_params::credits::ProviderBond,
	},
	Balances, InferenceCredits, Runtime, RuntimeOrigin, System, MILLI_UNIT, UNIT,
};

#[test]
fn a_provider_is_paid_for_vouched_usage_minus_the_protocol_fee() {
	chain_from_preset("development").execute_with(|| {
		let (alice, bob) = (Alice.to_account_id(), Bob.to_account_id());
		// 1 mTMT per 1k input tokens, 3 mTMT per 1k output tokens, gated at 1,000 TMT owned.
		let model =
			provide_model(&alice, MILLI_UNIT, 3 * MILLI_UNIT, AccessRule::MinBalance(1_000 * UNIT));
		assert_eq!(
			Balances::balance_on_hold(
				&pallet_inference_credits::HoldReason::ProviderBond.into(),
				&alice
			),
			ProviderBond::get()
		);
		assert_ok!(InferenceCredits::deposit_credits(
			RuntimeOrigin::signed(bob.clone()),
			10 * UNIT
		));
		assert!(InferenceCredits::can_access(&bob, model, 1_000, 1_000).allowed);

		let entry = UsageEntry {
			user: bob.clone(),
			model,
			input_tokens: 1_000_000,
			output_tokens: 100_000,
			served_at: System::block_number(),
			voucher: signed_voucher(Bob, &alice, UNIT),
		};
		let (alice_free, pool_free, treasury_free, issuance) = (
			Balances::balance(&alice),
			Balances::balance(&RewardPoolAccount::get()),
			Balances::balance(&TreasuryAccount::get()),
			Balances::total_issuance(),
		);
		let summary = <InferenceCredits as SettleUsage<_>>::settle(&alice, vec![entry]).unwrap();
		// 1,000k input tokens × 1 mTMT + 100k output tokens × 3 mTMT = 1.3 TMT, capped at 1 TMT.
		assert_eq!(summary.charged, UNIT);
		assert_eq!(summary.fees, UNIT / 20);
		assert_eq!(Balances::balance(&alice), alice_free + UNIT - UNIT / 20);
		// 5% of 1 TMT: 4% to the pool, 1% to the treasury.
		assert_eq!(Balances::balance(&RewardPoolAccount::get()), pool_free + UNIT / 25);
		assert_eq!(Balances::balance(&TreasuryAccount::get()), treasury_free + UNIT / 100);
		assert_eq!(InferenceCredits::credit_balance(&bob), 9 * UNIT);
		assert_eq!(Balances::total_issuance(), issuance);
		InferenceCredits::do_try_state().unwrap();
	});
}

#[test]
fn the_gate_and_errors_behave_in_the_runtime() {
	chain_from_preset("development").execute_with(|| {
		let (alice, charlie) = (Alice.to_account_id(), Charlie.to_account_id());
		assert_noop!(
			InferenceCredits::register_model(
				RuntimeOrigin::signed(charlie.clone()),
				b"rogue".to_vec().try_into().unwrap(),
				1,
				1,
				AccessRule::Open,
			),
			Error::<Runtime>::NotProvider
		);
		assert_ok!(InferenceCredits::register_provider(
			RuntimeOrigin::signed(alice.clone()),
			b"Alice AI".to_vec().try_into().unwrap(),
			b"".to_vec().try_into().unwrap(),
		));
		assert_ok!(InferenceCredits::register_model(
			RuntimeOrigin::signed(alice),
			b"big".to_vec().try_into().unwrap(),
			1,
			1,
			AccessRule::MinBalance(2_000_000 * UNIT),
		));
		assert_eq!(
			InferenceCredits::can_access(&charlie, 0, 1, 1).denied,
			Some(AccessDenied::BalanceBelowGate {
				required: 2_000_000 * UNIT,
				held: Balances::total_balance(&charlie),
			})
		);
		InferenceCredits::do_try_state().unwrap();
	});
}
