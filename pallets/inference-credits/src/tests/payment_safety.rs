//! The payment-safety scenarios (issue 16): each one moved money without its owner's consent,
//! or cost a provider what it served, before the fix.

use super::*;
use crate::mock::*;
use frame_support::{
	assert_noop, assert_ok,
	traits::{LockableCurrency, WithdrawReasons},
};
use sp_keyring::Sr25519Keyring::{Bob, Charlie, Dave, Eve};

fn settle(entries: Vec<UsageEntryOf<Test>>) -> SettlementSummary<Balance> {
	InferenceCredits::do_settle(&alice(), entries).unwrap()
}

fn rejected(user: AccountId, reason: RejectReason) -> bool {
	events().contains(&Event::UsageRejected { provider: alice(), user, entries: 1, reason })
}

/// Dave and Eve are agents whose vouchers Charlie (their common controller) signs. A voucher
/// Charlie signed for Dave cannot be replayed against Eve's fresh ledger, nor against
/// Charlie's own.
#[test]
fn a_voucher_signed_for_one_agent_does_not_spend_another_accounts_credits() {
	run_test(|| {
		let model = open_model_and_funded_bob();
		for who in [dave(), eve(), charlie()] {
			deposit(&who, 5_000);
		}
		MockSigners::set(&dave(), Some(charlie()));
		MockSigners::set(&eve(), Some(charlie()));
		let mut for_dave = voucher(Dave, &alice(), 1_000);
		for_dave.signature = sign_voucher(Charlie, &for_dave.voucher);
		let summary = settle(vec![
			entry(Dave, model, 500, 0, for_dave.clone()),
			entry(Eve, model, 500, 0, for_dave.clone()),
			entry(Charlie, model, 500, 0, for_dave),
		]);
		assert_eq!((summary.charged, summary.rejected_entries), (1_000, 2));
		assert!(rejected(eve(), RejectReason::VoucherForAnotherUser));
		assert!(rejected(charlie(), RejectReason::VoucherForAnotherUser));
		assert_eq!(InferenceCredits::credit_balance(&dave()), 4_000);
		assert_eq!(InferenceCredits::credit_balance(&eve()), 5_000);
		assert_eq!(InferenceCredits::credit_balance(&charlie()), 5_000);
		assert_eq!(VoucherLedgers::<Test>::get(eve(), alice()), VoucherLedger::default());
	});
}

/// Bob and Dave both delegate to Charlie. Charlie's voucher names Bob as the payer; the
/// provider cannot make Dave pay with it (the payer is signed).
#[test]
fn the_provider_cannot_choose_which_delegating_owner_pays() {
	run_test(|| {
		let model = open_model_and_funded_bob();
		deposit(&dave(), 10_000);
		for owner in [bob(), dave()] {
			assert_ok!(InferenceCredits::approve_delegate(
				RuntimeOrigin::signed(owner),
				charlie(),
				5_000,
				50
			));
		}
		let mut to_dave = voucher_paid_by(Charlie, &bob(), &alice(), 5_000);
		to_dave.voucher.payer = dave();
		let summary = settle(vec![entry(Charlie, model, 1_000, 0, to_dave)]);
		assert_eq!((summary.charged, summary.rejected_entries), (0, 1));
		assert!(rejected(charlie(), RejectReason::BadSignature));
		assert_eq!(InferenceCredits::credit_balance(&dave()), 10_000);
		assert_eq!(Delegations::<Test>::get(dave(), charlie()).unwrap().remaining, 5_000);
		// The voucher as signed pays from Bob.
		let signed = voucher_paid_by(Charlie, &bob(), &alice(), 5_000);
		assert_eq!(settle(vec![entry(Charlie, model, 1_000, 0, signed)]).charged, 2_000);
		assert_eq!(InferenceCredits::credit_balance(&bob()), 8_000);
	});
}

/// The Polkadot.js extension's `signRaw` signs `<Bytes>payload</Bytes>`: such a voucher
/// settles like one signed bare.
#[test]
fn a_voucher_signed_in_the_wallet_wrapping_settles() {
	run_test(|| {
		let model = open_model_and_funded_bob();
		let mut signed = voucher(Bob, &alice(), 1_000);
		signed.signature = sign_voucher_wrapped(Bob, &signed.voucher);
		let summary = settle(vec![entry(Bob, model, 100, 0, signed)]);
		assert_eq!((summary.charged, summary.rejected_entries), (200, 0));
	});
}

/// A user re-signs the same cap with a later expiry; the provider reports the older
/// (expired) voucher first. The valid voucher is used.
#[test]
fn a_same_cap_voucher_with_a_later_expiry_is_preferred() {
	run_test(|| {
		let model = open_model_and_funded_bob();
		let mut old = voucher(Bob, &alice(), 1_000);
		old.voucher.expiry = 5;
		old.signature = sign_voucher(Bob, &old.voucher);
		let mut renewed = voucher(Bob, &alice(), 1_000);
		renewed.voucher.expiry = 50;
		renewed.signature = sign_voucher(Bob, &renewed.voucher);
		System::set_block_number(10);
		let summary =
			settle(vec![entry(Bob, model, 100, 0, old), entry(Bob, model, 100, 0, renewed)]);
		assert_eq!((summary.charged, summary.rejected_entries), (400, 0));
		// An expired voucher with a higher cap loses to a valid one too.
		let mut expired_higher = voucher(Bob, &alice(), 5_000);
		expired_higher.voucher.expiry = 9;
		expired_higher.signature = sign_voucher(Bob, &expired_higher.voucher);
		let mut valid = voucher(Bob, &alice(), 2_000);
		valid.voucher.expiry = 50;
		valid.signature = sign_voucher(Bob, &valid.voucher);
		let summary = settle(vec![
			entry(Bob, model, 100, 0, expired_higher),
			entry(Bob, model, 100, 0, valid),
		]);
		assert_eq!((summary.charged, summary.rejected_entries), (400, 0));
	});
}

/// A price increase waits for the notice; a decrease applies at once.
#[test]
fn a_price_increase_applies_only_after_its_notice() {
	run_test(|| {
		let model = open_model_and_funded_bob();
		// From 2/4 per token to 20 per input token and 1 per output token.
		assert_ok!(InferenceCredits::update_model(
			RuntimeOrigin::signed(alice()),
			model,
			20_000,
			1_000,
			AccessRule::Open
		));
		let effective_from = 1 + PRICE_NOTICE;
		let record = Models::<Test>::get(model).unwrap();
		assert_eq!((record.price_per_1k_input, record.price_per_1k_output), (2_000, 1_000));
		assert_eq!(
			record.pending_price,
			Some(PendingPrice {
				price_per_1k_input: 20_000,
				price_per_1k_output: 1_000,
				effective_from,
			})
		);
		assert_eq!(
			InferenceCredits::quote(model, 1_000, 1_000),
			Some(Quote {
				cost: 3_000,
				pending: Some(PendingQuote { cost: 21_000, effective_from }),
				price_per_1k_input: 2_000,
				price_per_1k_output: 1_000,
				dynamic: None
			})
		);
		// Settled before the notice ends: the old input price, the new output price.
		assert_eq!(
			settle(vec![entry(Bob, model, 100, 100, voucher(Bob, &alice(), 10_000))]).charged,
			300
		);
		System::set_block_number(effective_from);
		assert_eq!(InferenceCredits::quote(model, 1_000, 1_000).unwrap().pending, None);
		assert_eq!(
			settle(vec![entry(Bob, model, 100, 100, voucher(Bob, &alice(), 10_000))]).charged,
			2_100
		);
		// A decrease applies at once and cancels nothing else.
		assert_ok!(InferenceCredits::update_model(
			RuntimeOrigin::signed(alice()),
			model,
			1_000,
			1_000,
			AccessRule::Open
		));
		let record = Models::<Test>::get(model).unwrap();
		assert_eq!((record.price_per_1k_input, record.price_per_1k_output), (1_000, 1_000));
		assert_eq!(record.pending_price, None);
	});
}

/// A user served by a gateway cannot withdraw before the provider settles: withdrawal takes
/// a notice, during which settlement still charges the credits.
#[test]
fn credits_under_withdrawal_notice_still_pay_for_usage() {
	run_test(|| {
		let model = open_model_and_funded_bob();
		assert_noop!(
			InferenceCredits::withdraw_credits(RuntimeOrigin::signed(bob()), 10_000),
			Error::<Test>::NoWithdrawalRequested
		);
		assert_ok!(InferenceCredits::request_withdrawal(RuntimeOrigin::signed(bob()), 10_000));
		let unlock_at = 1 + WITHDRAWAL_NOTICE;
		System::assert_last_event(
			Event::WithdrawalRequested { who: bob(), amount: 10_000, unlock_at }.into(),
		);
		// Not available for new usage, still held.
		assert_eq!(InferenceCredits::credit_balance(&bob()), 0);
		assert_eq!(held(HoldReason::Credits, &bob()), 10_000);
		let report = InferenceCredits::can_access(&bob(), model, 10, 0);
		assert_eq!(report.available_credit, 0);
		assert!(!report.allowed);
		assert_noop!(
			InferenceCredits::withdraw_credits(RuntimeOrigin::signed(bob()), 10_000),
			Error::<Test>::WithdrawalNotDue
		);
		// The usage served before the request settles in full.
		assert_eq!(
			settle(vec![entry(Bob, model, 1_000, 0, voucher(Bob, &alice(), 5_000))]).charged,
			2_000
		);
		System::set_block_number(unlock_at);
		assert_noop!(
			InferenceCredits::withdraw_credits(RuntimeOrigin::signed(bob()), 8_001),
			Error::<Test>::AboveRequestedWithdrawal
		);
		let before = free(&bob());
		assert_ok!(InferenceCredits::withdraw_credits(RuntimeOrigin::signed(bob()), 8_000));
		assert_eq!(free(&bob()), before + 8_000);
		assert_eq!(Credits::<Test>::get(bob()), 0);
		assert!(!PendingWithdrawals::<Test>::contains_key(bob()));
	});
}

#[test]
fn withdrawal_requests_check_their_amount() {
	run_test(|| {
		open_model_and_funded_bob();
		assert_noop!(
			InferenceCredits::request_withdrawal(RuntimeOrigin::signed(bob()), 0),
			Error::<Test>::ZeroAmount
		);
		assert_noop!(
			InferenceCredits::request_withdrawal(RuntimeOrigin::signed(bob()), 10_001),
			Error::<Test>::InsufficientCredits
		);
		assert_ok!(InferenceCredits::request_withdrawal(RuntimeOrigin::signed(bob()), 4_000));
		assert_eq!(InferenceCredits::credit_balance(&bob()), 6_000);
		System::set_block_number(1 + WITHDRAWAL_NOTICE);
		assert_noop!(
			InferenceCredits::withdraw_credits(RuntimeOrigin::signed(bob()), 0),
			Error::<Test>::ZeroAmount
		);
		// Part now, the rest later.
		assert_ok!(InferenceCredits::withdraw_credits(RuntimeOrigin::signed(bob()), 1_000));
		assert_eq!(PendingWithdrawals::<Test>::get(bob()).unwrap().amount, 3_000);
		assert_eq!(Credits::<Test>::get(bob()), 9_000);
		assert_eq!(InferenceCredits::credit_balance(&bob()), 6_000);
	});
}

/// Credits cannot be held out of frozen funds (stake), where settlement could not take them.
#[test]
fn credits_cannot_be_deposited_out_of_frozen_funds() {
	run_test(|| {
		open_model_and_funded_bob();
		// Charlie's balance is frozen but for 1,000.
		let total = free(&charlie());
		<Balances as LockableCurrency<AccountId>>::set_lock(
			*b"stake   ",
			&charlie(),
			total - 1_000,
			WithdrawReasons::all(),
		);
		assert_noop!(
			InferenceCredits::deposit_credits(RuntimeOrigin::signed(charlie()), 1_001),
			Error::<Test>::FundsFrozen
		);
		assert_ok!(InferenceCredits::deposit_credits(RuntimeOrigin::signed(charlie()), 1_000));
		// What was deposited settles in full.
		let model = NextModelId::<Test>::get() - 1;
		assert_eq!(
			settle(vec![entry(Charlie, model, 500, 0, voucher(Charlie, &alice(), 5_000))]).charged,
			1_000
		);
	});
}

/// An owner that may not pay the provider (a frozen agent, or one whose payee list leaves the
/// provider out) pays nothing through its delegates.
#[test]
fn a_frozen_owner_pays_nothing_through_its_delegate() {
	run_test(|| {
		let model = open_model_and_funded_bob();
		assert_ok!(InferenceCredits::approve_delegate(
			RuntimeOrigin::signed(bob()),
			charlie(),
			5_000,
			50
		));
		MockSigners::set(&bob(), None);
		let signed = voucher_paid_by(Charlie, &bob(), &alice(), 5_000);
		let summary = settle(vec![entry(Charlie, model, 1_000, 0, signed)]);
		assert_eq!((summary.charged, summary.rejected_entries), (0, 1));
		assert!(rejected(charlie(), RejectReason::SignerNotAllowed));
		assert_eq!(InferenceCredits::credit_balance(&bob()), 10_000);
	});
}

/// Issue 28 §2, as reproduced on the dev node: stake (a freeze) over half the balance, deposit
/// 40% as credits, then transfer away everything the freeze lets go — `pallet-balances` counts
/// held funds toward a freeze, so the transfer succeeds and the freeze ends up covering the
/// held credits. Credits shown must still pay the provider in full.
#[test]
fn credits_held_under_a_later_freeze_still_pay_the_provider_in_full() {
	run_test(|| {
		let model = open_model_and_funded_bob();
		let total = free(&charlie());
		<Balances as LockableCurrency<AccountId>>::set_lock(
			*b"stake   ",
			&charlie(),
			total / 2,
			WithdrawReasons::all(),
		);
		let held = total * 2 / 5;
		deposit(&charlie(), held);
		// The freeze lets everything above `total / 2 - held` of the free balance go.
		let away = free(&charlie()) - (total / 2 - held) - ED;
		assert_ok!(Balances::transfer_keep_alive(RuntimeOrigin::signed(charlie()), dave(), away));
		assert_eq!(InferenceCredits::credit_balance(&charlie()), held);
		let provider_before = free(&alice());
		// Usage that costs exactly the credits shown (2 per input token).
		let summary = settle(vec![entry(
			Charlie,
			model,
			(held / 2) as u32,
			0,
			voucher(Charlie, &alice(), held),
		)]);
		assert_eq!(summary.charged, held, "the credits shown could not be paid");
		assert_eq!(Credits::<Test>::get(charlie()), 0);
		let fee = ProtocolFee::get() * held;
		assert_eq!(free(&alice()) - provider_before, held - fee);
		assert!(!events().iter().any(|e| matches!(e, Event::SettlementShortfall { .. })));
	});
}
