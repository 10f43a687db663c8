//! The free allowance: a discount that providers grant and fund themselves. Usage of a model
//! that honours allowances is paid out of the user's allowance first; the provider receives
//! nothing for that part and nobody else pays it, so no set of accounts can turn an allowance
//! into funds by settling made-up usage.

use super::*;
use crate::mock::*;
use frame_support::{assert_noop, assert_ok, traits::fungible::Inspect};
use sp_keyring::Sr25519Keyring::{Alice, Bob, Charlie};

/// Free plus held: everything an account owns.
fn owned(who: &AccountId) -> Balance {
	<Balances as Inspect<AccountId>>::total_balance(who)
}

#[test]
fn the_allowance_is_a_discount_the_provider_grants() {
	run_test(|| {
		let model = open_model_and_funded_bob();
		honour(model);
		MockAllowance::set(&bob(), 150);
		let provider_free = free(&alice());
		let pool_free = free(&RewardPool::get());
		let total = issuance();
		// Costs 400: 150 discounted by the allowance, 250 from credits (fee 10% of 250 = 25).
		let summary = InferenceCredits::do_settle(
			&alice(),
			vec![entry(Bob, model, 100, 50, voucher(Bob, &alice(), 1_000))],
		)
		.unwrap();
		assert_eq!(
			summary,
			SettlementSummary {
				charged: 250,
				from_allowance: 150,
				fees: 25,
				rejected_entries: 0,
				signature_checks: 1,
				// Bob pays with his own credits (no delegation) and gave no withdrawal notice.
				reads_avoided: 1,
				writes_avoided: 2,
			}
		);
		assert_eq!(MockAllowance::allowance_left(&bob()), 0);
		assert_eq!(InferenceCredits::credit_balance(&bob()), 9_750);
		// The provider is paid for the credits part only: the discount is its own.
		assert_eq!(free(&alice()), provider_free + 225);
		assert_eq!(free(&RewardPool::get()), pool_free + 25);
		assert_eq!(issuance(), total);
		// The voucher counts the whole cost.
		assert_eq!(VoucherLedgers::<Test>::get(bob(), alice()).settled, 400);
		System::assert_last_event(
			Event::UsageSettled {
				provider: alice(),
				user: bob(),
				payer: bob(),
				charged: 250,
				from_allowance: 150,
				fee: 25,
				to_treasury: 0,
				settled_total: 400,
				cap: 1_000,
			}
			.into(),
		);
	});
}

#[test]
fn a_model_that_does_not_honour_allowances_is_paid_from_credits_in_full() {
	run_test(|| {
		let model = open_model_and_funded_bob();
		MockAllowance::set(&bob(), 150);
		let provider_free = free(&alice());
		let summary = InferenceCredits::do_settle(
			&alice(),
			vec![entry(Bob, model, 100, 50, voucher(Bob, &alice(), 1_000))],
		)
		.unwrap();
		assert_eq!((summary.charged, summary.from_allowance), (400, 0));
		assert_eq!(MockAllowance::allowance_left(&bob()), 150);
		assert_eq!(free(&alice()), provider_free + 360);
	});
}

#[test]
fn only_the_entries_of_honouring_models_are_discounted() {
	run_test(|| {
		let model = open_model_and_funded_bob();
		let other = register_model(&alice(), AccessRule::Open);
		honour(model);
		MockAllowance::set(&bob(), 10_000);
		// 400 on the honouring model, 200 on the other.
		let summary = InferenceCredits::do_settle(
			&alice(),
			vec![
				entry(Bob, model, 100, 50, voucher(Bob, &alice(), 1_000)),
				entry(Bob, other, 100, 0, voucher(Bob, &alice(), 1_000)),
			],
		)
		.unwrap();
		assert_eq!((summary.charged, summary.from_allowance), (200, 400));
		assert_eq!(MockAllowance::allowance_left(&bob()), 9_600);
	});
}

#[test]
fn usage_within_the_allowance_needs_no_credits_and_stays_under_the_cap() {
	run_test(|| {
		register_provider(&alice());
		let model = register_model(&alice(), AccessRule::Open);
		honour(model);
		// Charlie has no credits at all, only an allowance.
		MockAllowance::set(&charlie(), 10_000);
		let summary = InferenceCredits::do_settle(
			&alice(),
			vec![entry(Charlie, model, 100, 50, voucher(Charlie, &alice(), 300))],
		)
		.unwrap();
		// The voucher cap still bounds the discount.
		assert_eq!(summary.from_allowance, 300);
		assert_eq!(summary.charged, 0);
		assert_eq!(MockAllowance::allowance_left(&charlie()), 9_700);
		assert_eq!(VoucherLedgers::<Test>::get(charlie(), alice()).settled, 300);
		assert_eq!(InferenceCredits::credit_balance(&charlie()), 0);
	});
}

#[test]
fn a_delegate_never_spends_an_allowance() {
	run_test(|| {
		let model = open_model_and_funded_bob();
		honour(model);
		assert_ok!(InferenceCredits::approve_delegate(
			RuntimeOrigin::signed(bob()),
			charlie(),
			1_000,
			50
		));
		MockAllowance::set(&bob(), 500);
		MockAllowance::set(&charlie(), 500);
		let e = entry(Charlie, model, 100, 0, voucher_paid_by(Charlie, &bob(), &alice(), 1_000));
		let summary = InferenceCredits::do_settle(&alice(), vec![e]).unwrap();
		assert_eq!(summary.charged, 200);
		assert_eq!(summary.from_allowance, 0);
		assert_eq!(MockAllowance::allowance_left(&bob()), 500);
		assert_eq!(MockAllowance::allowance_left(&charlie()), 500);
	});
}

/// The attack of issue 18: a staker who is also the provider signs vouchers for itself and
/// settles made-up usage under its allowance, every epoch. Before, a common fund paid the
/// provider the allowance; now the discount is the provider's own and nothing moves.
#[test]
fn a_staker_who_is_its_own_provider_gains_nothing_from_its_allowance() {
	run_test(|| {
		register_provider(&alice());
		let model = register_model(&alice(), AccessRule::Open);
		honour(model);
		let (before, total) = (owned(&alice()), issuance());
		for epoch in 0..3u32 {
			// A fresh allowance every epoch.
			MockAllowance::set(&alice(), 10_000);
			let summary = InferenceCredits::do_settle(
				&alice(),
				vec![entry(Alice, model, 1_000, 1_000, voucher(Alice, &alice(), 100_000))],
			)
			.unwrap();
			assert_eq!(summary.from_allowance, 6_000, "epoch {epoch}");
			assert_eq!(summary.charged, 0);
		}
		assert_eq!(owned(&alice()), before);
		assert_eq!(issuance(), total);
	});
}

/// The same with a separate, colluding provider: the staker's usage is made up, the provider
/// shares what it receives. Under the allowance it receives nothing, so there is nothing to
/// share; beyond it the staker pays the provider from its own credits (less the fee).
#[test]
fn a_colluding_provider_and_staker_gain_nothing_together() {
	run_test(|| {
		register_provider(&alice());
		let model = register_model(&alice(), AccessRule::Open);
		honour(model);
		deposit(&bob(), 10_000);
		let coalition = || owned(&alice()) + owned(&bob());
		let (before, total) = (coalition(), issuance());
		MockAllowance::set(&bob(), 10_000);
		// 12,000 of made-up usage: 10,000 under the allowance, 2,000 from Bob's credits.
		let summary = InferenceCredits::do_settle(
			&alice(),
			vec![entry(Bob, model, 2_000, 2_000, voucher(Bob, &alice(), 100_000))],
		)
		.unwrap();
		assert_eq!((summary.from_allowance, summary.charged, summary.fees), (10_000, 2_000, 200));
		// The coalition lost the fee and gained nothing.
		assert_eq!(coalition(), before - 200);
		assert_eq!(issuance(), total);
	});
}

#[test]
fn opting_out_takes_the_price_increase_notice() {
	run_test(|| {
		let model = open_model_and_funded_bob();
		honour(model);
		System::assert_last_event(
			Event::AllowanceHonouredSet { model, honoured: true, effective_from: 1 }.into(),
		);
		assert_ok!(InferenceCredits::set_allowance_honoured(
			RuntimeOrigin::signed(alice()),
			model,
			false
		));
		let until = 1 + PRICE_NOTICE;
		System::assert_last_event(
			Event::AllowanceHonouredSet { model, honoured: false, effective_from: until }.into(),
		);
		assert_eq!(AllowanceHonoured::<Test>::get(model), Some(Some(until)));
		// Opting out again keeps the first notice.
		System::set_block_number(3);
		assert_ok!(InferenceCredits::set_allowance_honoured(
			RuntimeOrigin::signed(alice()),
			model,
			false
		));
		assert_eq!(AllowanceHonoured::<Test>::get(model), Some(Some(until)));
		MockAllowance::set(&bob(), 1_000);
		let settle = || {
			InferenceCredits::do_settle(
				&alice(),
				vec![entry(Bob, model, 100, 0, voucher(Bob, &alice(), 10_000))],
			)
			.unwrap()
		};
		// Still honoured during the notice.
		assert_eq!(settle().from_allowance, 200);
		System::set_block_number(until);
		assert!(!InferenceCredits::honours_allowance(model, until));
		assert_eq!(settle().from_allowance, 0);
		// Opting in again applies at once.
		honour(model);
		assert_eq!(AllowanceHonoured::<Test>::get(model), Some(None));
		assert_eq!(settle().from_allowance, 200);
	});
}

#[test]
fn only_the_provider_of_an_active_model_sets_whether_it_honours_allowances() {
	run_test(|| {
		let model = open_model_and_funded_bob();
		assert_noop!(
			InferenceCredits::set_allowance_honoured(RuntimeOrigin::signed(bob()), model, true),
			Error::<Test>::NotModelProvider
		);
		assert_noop!(
			InferenceCredits::set_allowance_honoured(RuntimeOrigin::signed(alice()), 99, true),
			Error::<Test>::UnknownModel
		);
		honour(model);
		// Retiring the model forgets the entry.
		assert_ok!(InferenceCredits::retire_model(RuntimeOrigin::signed(alice()), model));
		assert_eq!(AllowanceHonoured::<Test>::get(model), None);
		assert_noop!(
			InferenceCredits::set_allowance_honoured(RuntimeOrigin::signed(alice()), model, true),
			Error::<Test>::ModelRetired
		);
	});
}
