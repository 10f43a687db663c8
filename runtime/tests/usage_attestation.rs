//! Usage attestation as configured in the runtime: a provider's operator attests usage with
//! real vouchers and the credits pallet settles it; replays settle nothing; a record over its
//! voucher's cap is not paid beyond the cap.

mod common;

use common::{chain_from_preset, provide_model, signed_voucher};
use frame_support::{assert_noop, assert_ok, traits::fungible::Inspect};
use pallet_inference_credits::{AccessRule, UsageEntry};
use sp_keyring::Sr25519Keyring::{Alice, Bob, Charlie, Dave};
use tokenmeter_runtime::{
	configs::inference_credits::RewardPoolAccount, Balances, InferenceCredits, Runtime,
	RuntimeOrigin, UsageAttestation, UNIT,
};

#[test]
fn an_operator_attests_usage_and_credits_pay_the_provider() {
	chain_from_preset("development").execute_with(|| {
		let (alice, bob, charlie) =
			(Alice.to_account_id(), Bob.to_account_id(), Charlie.to_account_id());
		let model = provide_model(&alice, UNIT, UNIT, AccessRule::Open);
		assert_ok!(InferenceCredits::deposit_credits(
			RuntimeOrigin::signed(bob.clone()),
			100 * UNIT
		));
		assert_ok!(UsageAttestation::register_operator(
			RuntimeOrigin::signed(alice.clone()),
			charlie.clone()
		));
		assert_ok!(UsageAttestation::set_capacity(RuntimeOrigin::signed(alice.clone()), 1_000_000));

		// 10,000 input tokens at 1 TMT per 1,000 under a 15 TMT voucher, then 10,000 more:
		// only 5 TMT of the second are within the voucher's cap.
		let voucher = signed_voucher(Bob, &alice, 15 * UNIT);
		let entry = UsageEntry {
			user: bob.clone(),
			on_behalf_of: None,
			model,
			input_tokens: 10_000,
			output_tokens: 0,
			voucher,
		};
		let (alice_free, pool_free) =
			(Balances::balance(&alice), Balances::balance(&RewardPoolAccount::get()));
		let attest = |first_seq| {
			UsageAttestation::attest(
				RuntimeOrigin::signed(charlie.clone()),
				alice.clone(),
				first_seq,
				vec![entry.clone()].try_into().unwrap(),
			)
		};
		assert_ok!(attest(0));
		assert_eq!(InferenceCredits::credit_balance(&bob), 90 * UNIT);
		// The provider got 10 TMT minus the 5% protocol fee, which went to the reward pool.
		assert_eq!(Balances::balance(&alice), alice_free + 10 * UNIT - UNIT / 2);
		assert_eq!(Balances::balance(&RewardPoolAccount::get()), pool_free + UNIT / 2);
		// Replaying the same batch settles nothing.
		assert_noop!(attest(0), pallet_usage_attestation::Error::<Runtime>::Replay);
		// The next record is paid up to the voucher's cap only.
		assert_ok!(attest(1));
		assert_eq!(InferenceCredits::credit_balance(&bob), 85 * UNIT);
		// Another provider's operator (Dave is none) cannot attest for Alice.
		assert_noop!(
			UsageAttestation::attest(
				RuntimeOrigin::signed(Dave.to_account_id()),
				alice.clone(),
				2,
				vec![entry.clone()].try_into().unwrap()
			),
			pallet_usage_attestation::Error::<Runtime>::NotOperator
		);
		UsageAttestation::do_try_state().unwrap();
		InferenceCredits::do_try_state().unwrap();
	});
}
