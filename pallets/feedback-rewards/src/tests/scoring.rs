//! Validators: bonds, leaving, scoring, quorum and median, slashing bad feedback.

use super::*;
use frame_support::{assert_noop, assert_ok};

#[test]
fn validators_bond_to_register_and_leave_after_the_delay() {
	run_test(|| {
		register(VAL_A);
		assert_eq!(held(HoldReason::ValidatorBond, VAL_A), VALIDATOR_BOND);
		assert_eq!(last_event(), Event::ValidatorRegistered { who: VAL_A, bond: VALIDATOR_BOND });
		assert_noop!(
			FeedbackRewards::register_validator(RuntimeOrigin::signed(VAL_A)),
			Error::<Test>::AlreadyValidator
		);
		// Scoring restarts the delay.
		let id = submit(ANNA);
		go_to(5);
		score(VAL_A, id, 50);
		go_to(5 + DEREGISTER_DELAY - 1);
		assert_noop!(
			FeedbackRewards::deregister_validator(RuntimeOrigin::signed(VAL_A)),
			Error::<Test>::TooSoon
		);
		go_to(5 + DEREGISTER_DELAY);
		assert_ok!(FeedbackRewards::deregister_validator(RuntimeOrigin::signed(VAL_A)));
		assert_eq!(held(HoldReason::ValidatorBond, VAL_A), 0);
		assert_eq!(free(VAL_A), INITIAL_BALANCE);
		assert_noop!(
			FeedbackRewards::deregister_validator(RuntimeOrigin::signed(VAL_A)),
			Error::<Test>::NotValidator
		);
	});
}

#[test]
fn the_number_of_validators_is_bounded() {
	run_test(|| {
		for v in 11..=15 {
			register(v);
		}
		assert_noop!(
			FeedbackRewards::register_validator(RuntimeOrigin::signed(16)),
			Error::<Test>::TooManyValidators
		);
		assert_noop!(
			FeedbackRewards::register_validator(RuntimeOrigin::signed(42)),
			Error::<Test>::TooManyValidators
		);
	});
}

#[test]
fn a_single_validator_cannot_decide_a_score_below_quorum() {
	run_test(|| {
		register_three();
		let id = submit(ANNA);
		score(VAL_A, id, 0);
		// One score (even the lowest) decides nothing: no points, no slash.
		assert_noop!(
			FeedbackRewards::score(RuntimeOrigin::signed(VAL_A), id, 0),
			Error::<Test>::AlreadyScored
		);
		score(VAL_B, id, 90);
		assert_eq!(Feedbacks::<Test>::get(id).unwrap().scores.len(), 2);
		assert_eq!(Contributions::<Test>::get(0, ANNA).unwrap().points, 0);
		assert_eq!(held(HoldReason::FeedbackBond, ANNA), FEEDBACK_BOND);
		// The third score makes the quorum: the median (80) decides, not the outlier.
		score(VAL_C, id, 80);
		assert!(Feedbacks::<Test>::get(id).is_none());
		assert_eq!(
			last_event(),
			Event::FeedbackFinalized { id, annotator: ANNA, score: 80, bond_slashed: false }
		);
		assert_eq!(Contributions::<Test>::get(0, ANNA).unwrap().points, 80);
		// B (90) and C (80) are within 10 of the median: 2 points; A (0) is far: 1 point.
		let points = |v| Contributions::<Test>::get(0, v).unwrap().validator_points;
		assert_eq!((points(VAL_A), points(VAL_B), points(VAL_C)), (1, 2, 2));
		assert_eq!(Epochs::<Test>::get(0).unwrap().validator_points, 5);
		// It is final: a fourth validator cannot score it.
		register(VAL_D);
		assert_noop!(
			FeedbackRewards::score(RuntimeOrigin::signed(VAL_D), id, 10),
			Error::<Test>::UnknownFeedback
		);
	});
}

#[test]
fn feedback_scored_below_the_threshold_loses_its_bond_to_the_pool() {
	run_test(|| {
		register_three();
		let id = submit(ANNA);
		let pool = free(POOL);
		score_three(id, [10, 15, 90]);
		assert_eq!(
			last_event(),
			Event::FeedbackFinalized { id, annotator: ANNA, score: 15, bond_slashed: true }
		);
		assert_eq!(held(HoldReason::FeedbackBond, ANNA), 0);
		assert_eq!(free(POOL), pool + FEEDBACK_BOND);
		assert_eq!(Contributions::<Test>::get(0, ANNA).unwrap().bonds, 0);
	});
}

#[test]
fn the_median_of_an_even_count_is_the_mean_of_the_middle_two() {
	assert_eq!(FeedbackRewards::median(&[10, 90, 50]), 50);
	assert_eq!(FeedbackRewards::median(&[10, 20, 31, 100]), 25);
	assert_eq!(FeedbackRewards::median(&[7]), 7);
	assert_eq!(FeedbackRewards::median(&[]), 0);
}

#[test]
fn scoring_is_open_until_the_window_after_the_epoch() {
	run_test(|| {
		register_three();
		let id = submit(ANNA);
		go_to(EPOCH + WINDOW - 1);
		score(VAL_A, id, 50);
		go_to(EPOCH + WINDOW);
		assert_noop!(
			FeedbackRewards::score(RuntimeOrigin::signed(VAL_B), id, 50),
			Error::<Test>::ScoringClosed
		);
	});
}

#[test]
fn score_errors_change_nothing() {
	run_test(|| {
		register_three();
		let id = submit(VAL_A);
		let score_as = |who: AccountId, id: FeedbackId, s: Score| {
			FeedbackRewards::score(RuntimeOrigin::signed(who), id, s)
		};
		assert_noop!(score_as(ANNA, id, 50), Error::<Test>::NotValidator);
		assert_noop!(score_as(VAL_B, id, 101), Error::<Test>::InvalidScore);
		assert_noop!(score_as(VAL_B, 7, 50), Error::<Test>::UnknownFeedback);
		assert_noop!(score_as(VAL_A, id, 100), Error::<Test>::OwnFeedback);
		assert_noop!(
			FeedbackRewards::score(RuntimeOrigin::none(), id, 1),
			sp_runtime::DispatchError::BadOrigin
		);
	});
}
