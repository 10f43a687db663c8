use super::*;
use crate::mock::*;
use frame_support::{assert_noop, assert_ok};

#[test]
fn deposit_holds_credits() {
	run_test(|| {
		assert_ok!(InferenceCredits::deposit_credits(RuntimeOrigin::signed(bob()), 5_000));
		System::assert_last_event(
			Event::CreditsDeposited { who: bob(), amount: 5_000, credits: 5_000 }.into(),
		);
		deposit(&bob(), 1_000);
		assert_eq!(InferenceCredits::credit_balance(&bob()), 6_000);
		assert_eq!(held(HoldReason::Credits, &bob()), 6_000);
		assert_eq!(free(&bob()), INITIAL_BALANCE - 6_000);
	});
}

#[test]
fn deposit_errors_change_nothing() {
	run_test(|| {
		assert_noop!(
			InferenceCredits::deposit_credits(RuntimeOrigin::signed(bob()), 0),
			Error::<Test>::ZeroAmount
		);
		assert_noop!(
			InferenceCredits::deposit_credits(RuntimeOrigin::signed(bob()), INITIAL_BALANCE + 1),
			Error::<Test>::InsufficientBalance
		);
		assert_noop!(
			InferenceCredits::deposit_credits(RuntimeOrigin::signed(pauper()), 1),
			Error::<Test>::InsufficientBalance
		);
	});
}

#[test]
fn withdraw_releases_unspent_credits() {
	run_test(|| {
		deposit(&bob(), 5_000);
		assert_ok!(InferenceCredits::request_withdrawal(RuntimeOrigin::signed(bob()), 5_000));
		System::set_block_number(1 + WITHDRAWAL_NOTICE);
		assert_ok!(InferenceCredits::withdraw_credits(RuntimeOrigin::signed(bob()), 2_000));
		System::assert_last_event(
			Event::CreditsWithdrawn { who: bob(), amount: 2_000, credits: 3_000 }.into(),
		);
		assert_eq!(held(HoldReason::Credits, &bob()), 3_000);
		assert_ok!(InferenceCredits::withdraw_credits(RuntimeOrigin::signed(bob()), 3_000));
		assert!(!crate::Credits::<Test>::contains_key(bob()));
		assert_eq!(free(&bob()), INITIAL_BALANCE);
	});
}

#[test]
fn withdraw_errors_change_nothing() {
	run_test(|| {
		deposit(&bob(), 5_000);
		assert_ok!(InferenceCredits::request_withdrawal(RuntimeOrigin::signed(bob()), 5_000));
		System::set_block_number(1 + WITHDRAWAL_NOTICE);
		assert_noop!(
			InferenceCredits::withdraw_credits(RuntimeOrigin::signed(bob()), 5_001),
			Error::<Test>::AboveRequestedWithdrawal
		);
		assert_noop!(
			InferenceCredits::withdraw_credits(RuntimeOrigin::signed(bob()), 0),
			Error::<Test>::ZeroAmount
		);
		assert_noop!(
			InferenceCredits::withdraw_credits(RuntimeOrigin::signed(charlie()), 1),
			Error::<Test>::NoWithdrawalRequested
		);
	});
}
