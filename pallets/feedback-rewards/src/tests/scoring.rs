//! Validators: bonds and stake, the wait before new stake counts, commit–reveal, the
//! stake-weighted median, deviation and miss slashing, and the coalition attack.

use super::*;
use frame_support::{assert_noop, assert_ok};

const VAL_E: AccountId = 15;
const VAL_F: AccountId = 16;

fn points(epoch: EpochIndex, who: AccountId) -> u64 {
	Contributions::<Test>::get(epoch, who).map(|c| c.validator_points).unwrap_or_default()
}

fn bond(who: AccountId) -> Balance {
	Validators::<Test>::get(who).map(|v| v.bond).unwrap_or_default()
}

fn commit(who: AccountId, id: FeedbackId, score: Score) -> sp_runtime::DispatchResult {
	let commitment = FeedbackRewards::commitment(id, &who, score, &salt(who));
	FeedbackRewards::commit_score(RuntimeOrigin::signed(who), id, commitment)
}

fn reveal(who: AccountId, id: FeedbackId, score: Score) -> sp_runtime::DispatchResult {
	FeedbackRewards::reveal_score(RuntimeOrigin::signed(who), id, score, salt(who))
}

#[test]
fn validators_bond_at_least_the_minimum_and_leave_once_their_scores_are_final() {
	run_test(|| {
		assert_noop!(
			FeedbackRewards::register_validator(RuntimeOrigin::signed(VAL_A), VALIDATOR_BOND - 1),
			Error::<Test>::BondTooLow
		);
		// More than the minimum is allowed, and is the validator's weight.
		register_with(VAL_A, 3 * VALIDATOR_BOND);
		assert_eq!(held(HoldReason::ValidatorBond, VAL_A), 3 * VALIDATOR_BOND);
		assert_eq!(
			last_event(),
			Event::ValidatorRegistered { who: VAL_A, bond: 3 * VALIDATOR_BOND }
		);
		assert_eq!(Validators::<Test>::get(VAL_A).map(|v| v.active_from), Some(1));
		assert_noop!(
			FeedbackRewards::register_validator(RuntimeOrigin::signed(VAL_A), VALIDATOR_BOND),
			Error::<Test>::AlreadyValidator
		);
		// A commitment keeps the bond until the feedback is final.
		go_to(EPOCH);
		let id = submit(ANNA);
		score(VAL_A, id, 50);
		assert_noop!(
			FeedbackRewards::deregister_validator(RuntimeOrigin::signed(VAL_A)),
			Error::<Test>::CommitmentsPending
		);
		finalize_all(1);
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
		// 11 to 16 are endowed; 21 to 26 are given funds here: MaxValidators (12) in all.
		for v in 21..=26 {
			assert_ok!(Balances::force_set_balance(RuntimeOrigin::root(), v, INITIAL_BALANCE));
		}
		for v in (11..=16).chain(21..=26) {
			register(v);
		}
		for who in [17, 42] {
			assert_noop!(
				FeedbackRewards::register_validator(RuntimeOrigin::signed(who), VALIDATOR_BOND),
				Error::<Test>::TooManyValidators
			);
		}
	});
}

#[test]
fn new_stake_counts_from_the_next_epoch() {
	run_test(|| {
		register_with(VAL_A, VALIDATOR_BOND);
		let id = submit(ANNA);
		assert_noop!(commit(VAL_A, id, 50), Error::<Test>::NotYetActive);
		// Next epoch's feedback it may score.
		go_to(EPOCH);
		let next = submit(BEN);
		assert_ok!(commit(VAL_A, next, 50));
	});
}

#[test]
fn scores_stay_sealed_until_commitments_close() {
	run_test(|| {
		register_three();
		register(VAL_D);
		let id = submit(ANNA);
		score(VAL_A, id, 80);
		// Only the hash is on chain: the score cannot be read or copied.
		let stored = Feedbacks::<Test>::get(id).unwrap();
		assert_eq!(stored.scores[0].score, None);
		// Reveals open only when commitments close.
		assert_noop!(reveal(VAL_A, id, 80), Error::<Test>::RevealNotOpen);
		go_to(FeedbackRewards::reveal_from(0) - 1);
		score(VAL_B, id, 75);
		go_to(FeedbackRewards::reveal_from(0));
		assert_noop!(commit(VAL_C, id, 80), Error::<Test>::ScoringClosed);
		// Copying A's commitment does not let D reveal A's score: the hash binds the validator.
		assert_noop!(reveal(VAL_D, id, 80), Error::<Test>::NotCommitted);
		assert_noop!(reveal(VAL_A, id, 81), Error::<Test>::BadReveal);
		assert_noop!(
			FeedbackRewards::reveal_score(RuntimeOrigin::signed(VAL_A), id, 80, [0; 32]),
			Error::<Test>::BadReveal
		);
		assert_noop!(reveal(VAL_A, id, 101), Error::<Test>::InvalidScore);
		assert_ok!(reveal(VAL_A, id, 80));
		assert_eq!(last_event(), Event::ScoreRevealed { id, validator: VAL_A, score: 80 });
		assert_noop!(reveal(VAL_A, id, 80), Error::<Test>::AlreadyRevealed);
		go_to(FeedbackRewards::closable_at(0));
		assert_noop!(reveal(VAL_B, id, 75), Error::<Test>::RevealClosed);
	});
}

#[test]
fn a_copied_commitment_cannot_be_revealed_by_the_copier() {
	run_test(|| {
		register_three();
		let id = submit(ANNA);
		score(VAL_A, id, 90);
		let copied = Feedbacks::<Test>::get(id).unwrap().scores[0].hash;
		assert_ok!(FeedbackRewards::commit_score(RuntimeOrigin::signed(VAL_B), id, copied));
		go_to(FeedbackRewards::reveal_from(0));
		assert_ok!(reveal(VAL_A, id, 90));
		// B learns A's score and salt only now, and cannot open A's hash as its own.
		assert_noop!(
			FeedbackRewards::reveal_score(RuntimeOrigin::signed(VAL_B), id, 90, salt(VAL_A)),
			Error::<Test>::BadReveal
		);
	});
}

#[test]
fn the_final_score_is_the_stake_weighted_median_and_final_only_after_the_window() {
	run_test(|| {
		// A bonds five times the minimum: its score outweighs B's and C's together.
		register_active(VAL_A, 5 * VALIDATOR_BOND);
		register(VAL_B);
		register(VAL_C);
		let id = submit(ANNA);
		score_three(id, [80, 10, 15]);
		// Three scores decide nothing before the window closes.
		assert!(Feedbacks::<Test>::get(id).is_some());
		assert_noop!(
			FeedbackRewards::finalize_feedback(RuntimeOrigin::signed(BEN), id),
			Error::<Test>::ScoringNotOver
		);
		finalize_all(0);
		assert_eq!(
			last_event(),
			Event::FeedbackFinalized { id, annotator: ANNA, score: Some(80), bond_slashed: false }
		);
		assert_eq!(Contributions::<Test>::get(0, ANNA).unwrap().points, 80);
		// A agrees: 2 points; B and C are 65 and 70 away: nothing, and a tenth of their bonds.
		assert_eq!((points(0, VAL_A), points(0, VAL_B), points(0, VAL_C)), (2, 0, 0));
		assert_eq!(bond(VAL_B), VALIDATOR_BOND - VALIDATOR_BOND / 10);
		assert_eq!(held(HoldReason::ValidatorBond, VAL_C), VALIDATOR_BOND - VALIDATOR_BOND / 10);
	});
}

#[test]
fn scores_near_the_final_one_earn_and_far_ones_cost() {
	run_test(|| {
		register_three();
		register(VAL_D);
		let id = submit(ANNA);
		let pool = free(POOL);
		// Median by equal stake: 60. Within 10: 2 points; within 30: 1; beyond: slashed.
		for (v, s) in [(VAL_A, 60), (VAL_B, 65), (VAL_C, 40), (VAL_D, 100)] {
			score(v, id, s);
		}
		finalize_all(0);
		assert_eq!(
			[VAL_A, VAL_B, VAL_C, VAL_D].map(|v| points(0, v)),
			[2, 2, 1, 0],
			"agreement earns, deviation does not"
		);
		assert_eq!(bond(VAL_D), VALIDATOR_BOND - VALIDATOR_BOND / 10);
		assert!(events().contains(&Event::ValidatorSlashed {
			who: VAL_D,
			id,
			amount: VALIDATOR_BOND / 10,
			missed: false
		}));
		assert_eq!(free(POOL), pool + VALIDATOR_BOND / 10);
	});
}

#[test]
fn a_validator_who_does_not_reveal_loses() {
	run_test(|| {
		register_three();
		let first = submit(ANNA);
		let second = submit(BEN);
		for id in [first, second] {
			score_three(id, [70, 70, 70]);
		}
		// C reveals nothing.
		go_to(FeedbackRewards::reveal_from(0));
		for id in [first, second] {
			for v in [VAL_A, VAL_B] {
				assert_ok!(reveal(v, id, 70));
			}
		}
		go_to(FeedbackRewards::closable_at(0));
		assert_ok!(FeedbackRewards::finalize_feedback(RuntimeOrigin::signed(ANNA), first));
		// Every miss costs MissSlash of the bond, the first too.
		let first_slash = MissSlash::get() * VALIDATOR_BOND;
		assert_eq!(bond(VAL_C), VALIDATOR_BOND - first_slash);
		assert_ok!(FeedbackRewards::finalize_feedback(RuntimeOrigin::signed(ANNA), second));
		let second_slash = MissSlash::get() * (VALIDATOR_BOND - first_slash);
		assert_eq!(bond(VAL_C), VALIDATOR_BOND - first_slash - second_slash);
		assert_eq!(
			last_event(),
			Event::FeedbackFinalized {
				id: second,
				annotator: BEN,
				score: Some(70),
				bond_slashed: false
			}
		);
		assert!(events().contains(&Event::ValidatorSlashed {
			who: VAL_C,
			id: second,
			amount: second_slash,
			missed: true
		}));
		assert_eq!((points(0, VAL_A), points(0, VAL_C)), (4, 0));
		assert_eq!(Validators::<Test>::get(VAL_C).map(|v| (v.misses, v.pending)), Some((2, 0)));
	});
}

/// Issue 18's attack: one owner registers three fresh minimum-bond validators and scores its
/// own sybil annotators' feedback 100 and honest feedback 0. Before, the first three scores
/// finalised a feedback at their median in the block they were given, so the coalition
/// slashed honest bonds and took the epoch's rewards. Now its stake waits an epoch, scores
/// are weighed by stake and final only after the window, and deviating costs.
#[test]
fn a_cheap_coalition_cannot_slash_honest_feedback_nor_lift_its_own() {
	run_test(|| {
		const SYBIL: AccountId = 3;
		// Two honest validators, established, with more stake than the coalition.
		for v in [VAL_A, VAL_B] {
			register_active(v, 2 * VALIDATOR_BOND);
		}
		// The coalition appears and tries to score at once.
		for v in [VAL_C, VAL_D, VAL_E] {
			register_with(v, VALIDATOR_BOND);
		}
		let honest = submit(ANNA);
		assert_noop!(commit(VAL_C, honest, 0), Error::<Test>::NotYetActive);
		close(0);

		// An epoch later its stake counts: 3,000 against the honest 4,000.
		go_to(EPOCH + EPOCH);
		let honest = submit(ANNA);
		let sybil = submit(SYBIL);
		let (anna_bond, sybil_points_before) = (held(HoldReason::FeedbackBond, ANNA), 0);
		for v in [VAL_C, VAL_D, VAL_E] {
			score(v, honest, 0);
			score(v, sybil, 100);
		}
		for v in [VAL_A, VAL_B] {
			score(v, honest, 80);
			score(v, sybil, 30);
		}
		let pool = free(POOL);
		close(2);
		// The honest feedback keeps its score and bond; the sybil's is not lifted.
		assert_eq!(Contributions::<Test>::get(2, ANNA).unwrap().points, 80);
		assert_eq!(held(HoldReason::FeedbackBond, ANNA), anna_bond);
		assert_eq!(Contributions::<Test>::get(2, SYBIL).unwrap().points, sybil_points_before + 30);
		// The coalition earned nothing and lost a tenth of its bonds per deviating score.
		for v in [VAL_C, VAL_D, VAL_E] {
			assert_eq!(points(2, v), 0);
			let slashed = VALIDATOR_BOND / 10 + (VALIDATOR_BOND - VALIDATOR_BOND / 10) / 10;
			assert_eq!(bond(v), VALIDATOR_BOND - slashed);
		}
		assert_eq!((points(2, VAL_A), points(2, VAL_B)), (4, 4));
		assert!(free(POOL) > pool);
		// Validators' rewards go to the honest ones alone.
		let info = Epochs::<Test>::get(2).unwrap();
		assert_eq!(info.validator_points, 8);
		// And the coalition may not leave before its scores are final (they are now).
		assert_ok!(FeedbackRewards::deregister_validator(RuntimeOrigin::signed(VAL_C)));
	});
}

#[test]
fn feedback_scored_below_the_threshold_loses_its_bond_to_the_pool() {
	run_test(|| {
		register_three();
		let id = submit(ANNA);
		let pool = free(POOL);
		score_three(id, [10, 15, 90]);
		finalize_all(0);
		assert_eq!(
			last_event(),
			Event::FeedbackFinalized { id, annotator: ANNA, score: Some(15), bond_slashed: true }
		);
		assert_eq!(held(HoldReason::FeedbackBond, ANNA), 0);
		// The bond, and a tenth of the bond of A, who scored 90.
		assert_eq!(free(POOL), pool + FEEDBACK_BOND + VALIDATOR_BOND / 10);
		assert_eq!(Contributions::<Test>::get(0, ANNA).unwrap().bonds, 0);
	});
}

#[test]
fn the_weighted_median_is_the_score_holding_half_the_stake() {
	let median = FeedbackRewards::weighted_median;
	assert_eq!(median(&[(10, 1), (90, 1), (50, 1)]), Some(50));
	// Equal stake, even count: the lower middle.
	assert_eq!(median(&[(10, 1), (20, 1), (31, 1), (100, 1)]), Some(20));
	assert_eq!(median(&[(0, 3_000), (80, 4_000)]), Some(80));
	assert_eq!(median(&[(0, 4_000), (80, 4_000)]), Some(0));
	assert_eq!(median(&[(7, 5)]), Some(7));
	assert_eq!(median(&[]), None);
	assert_eq!(median(&[(7, 0)]), None);
}

#[test]
fn commit_errors_change_nothing() {
	run_test(|| {
		register_three();
		register(VAL_D);
		let id = submit(VAL_A);
		assert_noop!(commit(ANNA, id, 50), Error::<Test>::NotValidator);
		assert_noop!(commit(VAL_B, 7, 50), Error::<Test>::UnknownFeedback);
		assert_noop!(commit(VAL_A, id, 100), Error::<Test>::OwnFeedback);
		score(VAL_B, id, 50);
		assert_noop!(commit(VAL_B, id, 60), Error::<Test>::AlreadyScored);
		assert_noop!(
			FeedbackRewards::commit_score(RuntimeOrigin::none(), id, Default::default()),
			sp_runtime::DispatchError::BadOrigin
		);
		assert_noop!(
			FeedbackRewards::finalize_feedback(RuntimeOrigin::signed(ANNA), 7),
			Error::<Test>::UnknownFeedback
		);
	});
}

#[test]
fn a_feedback_takes_at_most_max_scorers_commitments() {
	run_test(|| {
		for v in 11..=16 {
			register(v);
		}
		let id = submit(ANNA);
		for v in 11..=15 {
			score(v, id, 50);
		}
		assert_noop!(commit(VAL_F, id, 50), Error::<Test>::TooManyScorers);
		assert_eq!(Feedbacks::<Test>::get(id).unwrap().scores.len() as u32, MAX_SCORERS);
	});
}

/// Issue 28 §2: a freeze (stake) placed after a bond was held covers the bond too, since
/// `pallet-balances` counts held funds toward a freeze. Slashes used to be taken politely: the
/// validator's came out at nothing (a bond that cannot be slashed) and the annotator's, taken
/// exactly, failed — `finalize_feedback` failed forever and the epoch could never close. Both
/// are now taken in full, and finalising never fails on a slash.
#[test]
fn bonds_under_a_later_freeze_are_slashed_in_full_and_never_block_the_epoch() {
	use frame_support::traits::{LockableCurrency, WithdrawReasons};
	run_test(|| {
		register_three();
		register(VAL_D);
		let id = submit(ANNA);
		// Anna and D freeze everything they have, held bonds included.
		for who in [ANNA, VAL_D] {
			let total =
				<Balances as frame_support::traits::fungible::Inspect<_>>::total_balance(&who);
			<Balances as LockableCurrency<AccountId>>::set_lock(
				*b"stake   ",
				&who,
				total,
				WithdrawReasons::all(),
			);
		}
		let pool = free(POOL);
		// Median 10: below the slash threshold; D's 100 is far from it.
		for (v, s) in [(VAL_A, 10), (VAL_B, 10), (VAL_C, 10), (VAL_D, 100)] {
			score(v, id, s);
		}
		finalize_all(0);
		assert_eq!(
			last_event(),
			Event::FeedbackFinalized { id, annotator: ANNA, score: Some(10), bond_slashed: true }
		);
		assert_eq!(held(HoldReason::FeedbackBond, ANNA), 0);
		assert_eq!(bond(VAL_D), VALIDATOR_BOND - VALIDATOR_BOND / 10);
		assert_eq!(held(HoldReason::ValidatorBond, VAL_D), VALIDATOR_BOND - VALIDATOR_BOND / 10);
		assert_eq!(free(POOL), pool + FEEDBACK_BOND + VALIDATOR_BOND / 10);
		// The epoch closes.
		assert_ok!(FeedbackRewards::close_epoch(RuntimeOrigin::signed(ANNA), 0));
	});
}
