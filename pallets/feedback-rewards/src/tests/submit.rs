//! Submitting feedback: bonds, caps per annotator and per epoch, sybils.

use super::*;
use frame_support::{assert_noop, assert_ok};

#[test]
fn feedback_is_bonded_and_counted_in_the_current_epoch() {
	run_test(|| {
		let id = submit(ANNA);
		assert_eq!(id, 0);
		assert_eq!(held(HoldReason::FeedbackBond, ANNA), FEEDBACK_BOND);
		assert_eq!(
			last_event(),
			Event::FeedbackSubmitted {
				id: 0,
				annotator: ANNA,
				epoch: 0,
				model: 1,
				kind: FeedbackKind::Rating,
				bond: FEEDBACK_BOND
			}
		);
		let feedback = Feedbacks::<Test>::get(0).unwrap();
		assert_eq!((feedback.annotator, feedback.epoch, feedback.scores.len()), (ANNA, 0, 0));
		assert_eq!(Contributions::<Test>::get(0, ANNA).unwrap().feedback, 1);
		assert_eq!(AccountEpochs::<Test>::get(ANNA).into_inner(), vec![0]);
		// Every kind is accepted; a later block of another epoch counts there.
		go_to(EPOCH);
		assert_ok!(FeedbackRewards::submit_feedback(
			RuntimeOrigin::signed(ANNA),
			9,
			hash(3),
			FeedbackKind::Moderation,
			hash(4)
		));
		assert_eq!(Feedbacks::<Test>::get(1).unwrap().epoch, 1);
		assert_eq!(AccountEpochs::<Test>::get(ANNA).into_inner(), vec![0, 1]);
	});
}

#[test]
fn an_annotator_hits_its_cap_per_epoch() {
	run_test(|| {
		for _ in 0..PER_ANNOTATOR {
			submit(ANNA);
		}
		assert_noop!(
			FeedbackRewards::submit_feedback(
				RuntimeOrigin::signed(ANNA),
				1,
				hash(1),
				FeedbackKind::Label,
				hash(2)
			),
			Error::<Test>::AnnotatorCapReached
		);
		// The next epoch has room again.
		go_to(EPOCH);
		submit(ANNA);
	});
}

#[test]
fn sybil_annotators_hit_the_per_epoch_cap() {
	run_test(|| {
		// Eight accounts of one person, one feedback each: the epoch is full.
		for who in 1..=PER_EPOCH as AccountId {
			submit(who);
		}
		assert_noop!(
			FeedbackRewards::submit_feedback(
				RuntimeOrigin::signed(9),
				1,
				hash(1),
				FeedbackKind::Rating,
				hash(2)
			),
			Error::<Test>::EpochFull
		);
		assert_eq!(Epochs::<Test>::get(0).unwrap().feedback, PER_EPOCH);
	});
}

#[test]
fn submit_errors_change_nothing() {
	run_test(|| {
		let submit_as = |who: AccountId, model: u32| {
			FeedbackRewards::submit_feedback(
				RuntimeOrigin::signed(who),
				model,
				hash(1),
				FeedbackKind::BugReport,
				hash(2),
			)
		};
		assert_noop!(submit_as(ANNA, 10), Error::<Test>::UnknownModel);
		// Cannot pay the bond.
		assert_noop!(submit_as(42, 1), sp_runtime::TokenError::FundsUnavailable);
		// Unclaimed epochs are bounded: claim before taking part in more.
		for epoch in 0..MAX_UNCLAIMED {
			go_to(epoch * EPOCH + 1);
			assert_ok!(submit_as(ANNA, 1));
		}
		go_to(MAX_UNCLAIMED * EPOCH + 1);
		assert_noop!(submit_as(ANNA, 1), Error::<Test>::TooManyUnclaimedEpochs);
		assert_noop!(
			FeedbackRewards::submit_feedback(
				RuntimeOrigin::none(),
				1,
				hash(1),
				FeedbackKind::Rating,
				hash(2)
			),
			sp_runtime::DispatchError::BadOrigin
		);
	});
}

/// A bond held out of frozen funds (stake) could never be slashed: the validator's score
/// would fail and the bond would return. Bonds come out of unfrozen funds only.
#[test]
fn bonds_cannot_come_out_of_frozen_funds() {
	use frame_support::traits::{LockableCurrency, WithdrawReasons};
	run_test(|| {
		// Everything of Anna's but less than one feedback bond is frozen.
		let frozen = free(ANNA) - FEEDBACK_BOND + 1;
		<Balances as LockableCurrency<AccountId>>::set_lock(
			*b"stake   ",
			&ANNA,
			frozen,
			WithdrawReasons::all(),
		);
		assert_noop!(
			FeedbackRewards::submit_feedback(
				RuntimeOrigin::signed(ANNA),
				1,
				hash(1),
				FeedbackKind::Rating,
				hash(2)
			),
			Error::<Test>::FundsFrozen
		);
		assert_noop!(
			FeedbackRewards::register_validator(RuntimeOrigin::signed(ANNA), VALIDATOR_BOND),
			Error::<Test>::FundsFrozen
		);
		// With the bond's worth unfrozen, the bond is held and can be slashed.
		<Balances as LockableCurrency<AccountId>>::set_lock(
			*b"stake   ",
			&ANNA,
			frozen - 1,
			WithdrawReasons::all(),
		);
		submit(ANNA);
		assert_eq!(held(HoldReason::FeedbackBond, ANNA), FEEDBACK_BOND);
	});
}
