use super::*;
use crate::mock::*;
use frame_support::{assert_noop, assert_ok};
use sp_keyring::Sr25519Keyring::{Bob, Charlie};

#[test]
fn approve_and_revoke_a_delegate() {
	run_test(|| {
		assert_ok!(InferenceCredits::approve_delegate(
			RuntimeOrigin::signed(bob()),
			charlie(),
			500,
			50
		));
		System::assert_last_event(
			Event::DelegateApproved { owner: bob(), delegate: charlie(), amount: 500, expiry: 50 }
				.into(),
		);
		let deposit = held(HoldReason::DelegationDeposit, &bob());
		assert!(deposit > 0);
		// Approving again replaces the allowance and keeps the one deposit.
		assert_ok!(InferenceCredits::approve_delegate(
			RuntimeOrigin::signed(bob()),
			charlie(),
			900,
			60
		));
		let d = Delegations::<Test>::get(bob(), charlie()).unwrap();
		assert_eq!((d.remaining, d.expiry), (900, 60));
		assert_eq!(held(HoldReason::DelegationDeposit, &bob()), deposit);

		assert_ok!(InferenceCredits::revoke_delegate(RuntimeOrigin::signed(bob()), charlie()));
		System::assert_last_event(
			Event::DelegateRevoked { owner: bob(), delegate: charlie() }.into(),
		);
		assert!(Delegations::<Test>::get(bob(), charlie()).is_none());
		assert_eq!(held(HoldReason::DelegationDeposit, &bob()), 0);
		assert_eq!(free(&bob()), INITIAL_BALANCE);
	});
}

#[test]
fn delegation_errors_change_nothing() {
	run_test(|| {
		System::set_block_number(10);
		assert_noop!(
			InferenceCredits::approve_delegate(RuntimeOrigin::signed(bob()), bob(), 500, 50),
			Error::<Test>::SelfDelegation
		);
		assert_noop!(
			InferenceCredits::approve_delegate(RuntimeOrigin::signed(bob()), charlie(), 0, 50),
			Error::<Test>::ZeroAmount
		);
		assert_noop!(
			InferenceCredits::approve_delegate(RuntimeOrigin::signed(bob()), charlie(), 500, 9),
			Error::<Test>::ExpiryInPast
		);
		assert_noop!(
			InferenceCredits::approve_delegate(RuntimeOrigin::signed(pauper()), charlie(), 500, 50),
			Error::<Test>::InsufficientBalance
		);
		assert_noop!(
			InferenceCredits::revoke_delegate(RuntimeOrigin::signed(bob()), charlie()),
			Error::<Test>::UnknownDelegation
		);
	});
}

/// Charlie uses Bob's credits; Charlie's voucher names Bob as the payer.
fn delegated_entry(cap: Balance, model: ModelId, tokens: u32) -> UsageEntryOf<Test> {
	entry(Charlie, model, tokens, 0, voucher_paid_by(Charlie, &bob(), &alice(), cap))
}

#[test]
fn a_delegate_spends_the_owners_credits_within_the_allowance() {
	run_test(|| {
		let model = open_model_and_funded_bob();
		assert_ok!(InferenceCredits::approve_delegate(
			RuntimeOrigin::signed(bob()),
			charlie(),
			3_000,
			50
		));
		// 1,000 input tokens at 2 per token.
		let summary =
			InferenceCredits::do_settle(&alice(), vec![delegated_entry(5_000, model, 1_000)])
				.unwrap();
		assert_eq!(summary.charged, 2_000);
		assert_eq!(InferenceCredits::credit_balance(&bob()), 8_000);
		assert_eq!(InferenceCredits::credit_balance(&charlie()), 0);
		assert_eq!(Delegations::<Test>::get(bob(), charlie()).unwrap().remaining, 1_000);
		assert_eq!(VoucherLedgers::<Test>::get(charlie(), alice()).settled, 2_000);
	});
}

#[test]
fn a_delegate_cannot_spend_beyond_the_allowance() {
	run_test(|| {
		let model = open_model_and_funded_bob();
		assert_ok!(InferenceCredits::approve_delegate(
			RuntimeOrigin::signed(bob()),
			charlie(),
			1_500,
			50
		));
		let summary =
			InferenceCredits::do_settle(&alice(), vec![delegated_entry(5_000, model, 1_000)])
				.unwrap();
		assert_eq!(summary.charged, 1_500);
		assert!(events().contains(&Event::AllowanceExceeded {
			provider: alice(),
			user: charlie(),
			owner: bob(),
			owed: 2_000,
			allowed: 1_500,
		}));
		assert_eq!(InferenceCredits::credit_balance(&bob()), 8_500);
		assert_eq!(Delegations::<Test>::get(bob(), charlie()).unwrap().remaining, 0);
		// The allowance is used up: more usage settles nothing.
		let summary =
			InferenceCredits::do_settle(&alice(), vec![delegated_entry(5_000, model, 1_000)])
				.unwrap();
		assert_eq!(summary.charged, 0);
		assert_eq!(InferenceCredits::credit_balance(&bob()), 8_500);
	});
}

#[test]
fn a_delegate_cannot_spend_after_expiry_or_without_allowance() {
	run_test(|| {
		let model = open_model_and_funded_bob();
		// No allowance at all.
		let summary =
			InferenceCredits::do_settle(&alice(), vec![delegated_entry(5_000, model, 1_000)])
				.unwrap();
		assert_eq!((summary.charged, summary.rejected_entries), (0, 1));
		assert!(events().contains(&Event::UsageRejected {
			provider: alice(),
			user: charlie(),
			entries: 1,
			reason: RejectReason::NoDelegation,
		}));
		// An allowance that expired.
		assert_ok!(InferenceCredits::approve_delegate(
			RuntimeOrigin::signed(bob()),
			charlie(),
			5_000,
			5
		));
		System::set_block_number(6);
		let summary =
			InferenceCredits::do_settle(&alice(), vec![delegated_entry(5_000, model, 1_000)])
				.unwrap();
		assert_eq!((summary.charged, summary.rejected_entries), (0, 1));
		assert!(events().contains(&Event::UsageRejected {
			provider: alice(),
			user: charlie(),
			entries: 1,
			reason: RejectReason::DelegationExpired,
		}));
		assert_eq!(InferenceCredits::credit_balance(&bob()), 10_000);
		// Bob's own voucher does not let Charlie spend: the voucher must be the user's.
		let forged = entry(Charlie, model, 1_000, 0, voucher_paid_by(Bob, &bob(), &alice(), 5_000));
		System::set_block_number(5);
		let summary = InferenceCredits::do_settle(&alice(), vec![forged]).unwrap();
		assert_eq!(summary.charged, 0);
		assert_eq!(InferenceCredits::credit_balance(&bob()), 10_000);
	});
}
