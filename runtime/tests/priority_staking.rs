//! Priority staking as configured in the runtime: the presets' tiers and fund, stake frozen in
//! place (and what that leaves for fees), and a staker's tier and free allowance at work in
//! inference credits settlement.

mod common;

use codec::Encode;
use common::{chain_from_preset, check_invariants, provide_model, run_to_block, signed_voucher};
use frame_support::{
	assert_ok,
	dispatch::GetDispatchInfo,
	traits::{fungible::Inspect, fungible::InspectFreeze},
};
use pallet_inference_credits::{AccessDenied, AccessRule, SettleUsage, UsageEntry};
use pallet_priority_staking::{FreeAllowance, TierInspect};
use pallet_transaction_payment::OnChargeTransaction;
use sp_keyring::Sr25519Keyring::{Alice, Bob, Dave};
use sp_runtime::transaction_validity::{InvalidTransaction, TransactionValidityError};
use tokenmeter_runtime::{
	configs::inference_credits::RewardPoolAccount,
	genesis_config_presets::{DEV_STAKING_PARAMS, ENDOWMENT},
	Balances, InferenceCredits, PriorityStaking, Runtime, RuntimeCall, RuntimeFreezeReason,
	RuntimeOrigin, System, TransactionPayment, UNIT,
};

fn frozen(who: &tokenmeter_runtime::AccountId) -> tokenmeter_runtime::Balance {
	Balances::balance_frozen(
		&RuntimeFreezeReason::PriorityStaking(pallet_priority_staking::FreezeReason::PriorityStake),
		who,
	)
}

#[test]
fn presets_define_tiers_and_periods() {
	chain_from_preset("development").execute_with(|| {
		assert_eq!(pallet_priority_staking::Tiers::<Runtime>::get().len(), 3);
		assert_eq!(pallet_priority_staking::Params::<Runtime>::get(), DEV_STAKING_PARAMS);
		check_invariants();
	});
	chain_from_preset("local_testnet").execute_with(|| {
		assert_eq!(pallet_priority_staking::Tiers::<Runtime>::get().len(), 3);
		// The pallet's defaults: a one-hour warm-up, a day of unbonding, daily epochs.
		let params = pallet_priority_staking::Params::<Runtime>::get();
		assert_eq!(
			(params.warm_up, params.unbonding_period, params.epoch_length),
			(600, 14_400, 14_400)
		);
		check_invariants();
	});
}

#[test]
fn frozen_stake_pays_fees_only_as_the_freeze_rules_allow() {
	chain_from_preset("development").execute_with(|| {
		let dave = Dave.to_account_id();
		let call = RuntimeCall::System(frame_system::Call::remark { remark: vec![0; 32] });
		let info = call.get_dispatch_info();
		let fee = TransactionPayment::compute_fee(call.encode().len() as u32, &info, 0);
		assert!(fee > 0);
		let can_pay = |who| {
			<<Runtime as pallet_transaction_payment::Config>::OnChargeTransaction as OnChargeTransaction<Runtime>>::can_withdraw_fee(
				who, &call, &info, fee, 0,
			)
		};

		// Everything but 1 TMT staked: the unfrozen part pays the fee.
		assert_ok!(PriorityStaking::stake(RuntimeOrigin::signed(dave.clone()), ENDOWMENT - UNIT));
		assert_ok!(can_pay(&dave));
		// Everything staked: nothing is left to pay fees with.
		assert_ok!(PriorityStaking::stake(RuntimeOrigin::signed(dave.clone()), UNIT));
		assert_eq!(frozen(&dave), ENDOWMENT);
		assert_eq!(
			can_pay(&dave),
			Err(TransactionValidityError::Invalid(InvalidTransaction::Payment))
		);
		// Nor can the stake be transferred.
		assert!(Balances::transfer_allow_death(
			RuntimeOrigin::signed(dave.clone()),
			Alice.to_account_id().into(),
			UNIT
		)
		.is_err());
		assert_eq!(Balances::balance(&dave), ENDOWMENT);
		check_invariants();
	});
}

#[test]
fn a_stakers_tier_opens_gated_models_and_its_allowance_is_a_discount_first() {
	chain_from_preset("development").execute_with(|| {
		let (alice, bob) = (Alice.to_account_id(), Bob.to_account_id());
		// 1 TMT per 1k input tokens, for tier 2 and up; Alice honours stakers' allowances.
		let model = provide_model(&alice, UNIT, 0, AccessRule::MinTier(2));
		assert_ok!(InferenceCredits::set_allowance_honoured(
			RuntimeOrigin::signed(alice.clone()),
			model,
			true
		));
		assert_ok!(InferenceCredits::deposit_credits(
			RuntimeOrigin::signed(bob.clone()),
			100 * UNIT
		));

		// Tier 2 takes 1,000 TMT; it counts only after the 5-block warm-up.
		assert_ok!(PriorityStaking::stake(RuntimeOrigin::signed(bob.clone()), 1_000 * UNIT));
		assert_eq!(
			InferenceCredits::can_access(&bob, model, 1_000, 0).denied,
			Some(AccessDenied::TierBelowGate { required: 2, tier: 0 })
		);
		run_to_block(1 + DEV_STAKING_PARAMS.warm_up);
		assert_eq!(PriorityStaking::tier_of(&bob), 2);
		let report = InferenceCredits::can_access(&bob, model, 1_000, 0);
		assert!(report.allowed);
		assert_eq!(report.free_allowance, 10 * UNIT);

		// 15k input tokens cost 15 TMT: 10 discounted by the allowance (Alice's own discount),
		// 5 from credits (5% fee).
		let voucher = signed_voucher(Bob, &alice, 1_000 * UNIT);
		let entry = |input_tokens| UsageEntry {
			user: bob.clone(),
			model,
			input_tokens,
			output_tokens: 0,
			served_at: System::block_number(),
			voucher: voucher.clone(),
		};
		let (alice_free, pool_free, issuance) = (
			Balances::balance(&alice),
			Balances::balance(&RewardPoolAccount::get()),
			Balances::total_issuance(),
		);
		let summary =
			<InferenceCredits as SettleUsage<_>>::settle(&alice, vec![entry(15_000)]).unwrap();
		assert_eq!(summary.from_allowance, 10 * UNIT);
		assert_eq!(summary.charged, 5 * UNIT);
		assert_eq!(summary.fees, 5 * UNIT / 20);
		assert_eq!(Balances::balance(&alice), alice_free + 5 * UNIT - 5 * UNIT / 20);
		// The fee's treasury share (a fifth) goes to the treasury, the rest to the pool.
		assert_eq!(Balances::balance(&RewardPoolAccount::get()), pool_free + 5 * UNIT / 25);
		assert_eq!(InferenceCredits::credit_balance(&bob), 95 * UNIT);
		assert_eq!(Balances::total_issuance(), issuance);
		assert_eq!(PriorityStaking::allowance_left(&bob), 0);
		check_invariants();

		// The next epoch renews the allowance, once.
		run_to_block(DEV_STAKING_PARAMS.epoch_length);
		assert_eq!(PriorityStaking::allowance_left(&bob), 10 * UNIT);
		let summary =
			<InferenceCredits as SettleUsage<_>>::settle(&alice, vec![entry(1_000)]).unwrap();
		assert_eq!((summary.from_allowance, summary.charged), (UNIT, 0));
		assert_eq!(PriorityStaking::allowance_left(&bob), 9 * UNIT);
		assert_eq!(InferenceCredits::credit_balance(&bob), 95 * UNIT);
		check_invariants();
	});
}

/// Issue 18's attack on the free allowance: a staker registers as a provider, lists a model,
/// signs vouchers for itself and settles made-up usage under its allowance, epoch after
/// epoch. With a common allowance fund paying providers, this cashed out 1% of the stake a
/// day; the allowance is now a discount the provider grants itself, so nothing moves.
#[test]
fn a_staker_who_provides_to_itself_cashes_nothing_out_of_its_allowance() {
	chain_from_preset("development").execute_with(|| {
		let dave = Dave.to_account_id();
		let model = provide_model(&dave, UNIT, 0, AccessRule::Open);
		assert_ok!(InferenceCredits::set_allowance_honoured(
			RuntimeOrigin::signed(dave.clone()),
			model,
			true
		));
		assert_ok!(PriorityStaking::stake(RuntimeOrigin::signed(dave.clone()), 100_000 * UNIT));
		run_to_block(1 + DEV_STAKING_PARAMS.warm_up);
		let allowance = PriorityStaking::allowance_left(&dave);
		assert!(allowance > 0, "the top tier grants an allowance");
		let owned = || Balances::total_balance(&dave);
		let (before, issuance) = (owned(), Balances::total_issuance());
		let voucher = signed_voucher(Dave, &dave, 1_000_000 * UNIT);
		for epoch in 1..=3 {
			// Made-up usage worth the whole allowance, attested by the staker itself.
			let tokens = u32::try_from(allowance / UNIT * 1_000).unwrap();
			let summary = <InferenceCredits as SettleUsage<_>>::settle(
				&dave,
				vec![UsageEntry {
					user: dave.clone(),
					model,
					input_tokens: tokens,
					output_tokens: 0,
					served_at: System::block_number(),
					voucher: voucher.clone(),
				}],
			)
			.unwrap();
			assert_eq!((summary.from_allowance, summary.charged), (allowance, 0));
			assert_eq!(owned(), before, "epoch {epoch}: the staker gained nothing");
			check_invariants();
			run_to_block(epoch * DEV_STAKING_PARAMS.epoch_length);
		}
		assert_eq!(Balances::total_issuance(), issuance);
	});
}
