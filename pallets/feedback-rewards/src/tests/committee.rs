//! Issue 32's attacks on scoring, each a test that failed before the committee rule:
//! - the sybil race: minimum-bond sybils commit first and fill the committee;
//! - selective reveal: colluding accounts commit several scores and reveal only those that
//!   move the median, the others' misses being free;
//! - the flood: sybil annotators fill an epoch's feedback for nothing but a returned bond.
//!
//! In each, a coalition with less than half the active stake neither moves an honest score
//! by more than the grading band nor earns anything.

use super::*;
use frame_support::{assert_noop, assert_ok};

fn endow(who: AccountId) {
	assert_ok!(Balances::force_set_balance(RuntimeOrigin::root(), who, INITIAL_BALANCE));
}

fn bond(who: AccountId) -> Balance {
	Validators::<Test>::get(who).map(|v| v.bond).unwrap_or_default()
}

fn points(epoch: EpochIndex, who: AccountId) -> u64 {
	Contributions::<Test>::get(epoch, who).map(|c| c.validator_points).unwrap_or_default()
}

fn final_score(id: FeedbackId) -> Option<Score> {
	events().into_iter().find_map(|e| match e {
		Event::FeedbackFinalized { id: i, score, .. } if i == id => score,
		_ => None,
	})
}

#[test]
fn sybils_that_commit_first_are_displaced_by_larger_stake() {
	run_test(|| {
		// MAX_SCORERS minimum-bond sybils, registered an epoch early: 5 bonds in all.
		let sybils: Vec<AccountId> = (21..21 + MAX_SCORERS as AccountId).collect();
		for &s in &sybils {
			endow(s);
			register(s);
		}
		// Three honest validators with 3 bonds each: 9 of the 14 active bonds.
		for v in [VAL_A, VAL_B, VAL_C] {
			register_active(v, 3 * VALIDATOR_BOND);
		}
		let id = submit(ANNA);
		// The sybils commit 0 in the feedback's first block and fill the committee...
		for &s in &sybils {
			let sealed = FeedbackRewards::commitment(id, &s, 0, &salt(s));
			assert_ok!(FeedbackRewards::commit_score(RuntimeOrigin::signed(s), id, sealed));
		}
		// ...and each honest validator still gets a seat, in place of a sybil's.
		for v in [VAL_A, VAL_B, VAL_C] {
			score(v, id, 80);
		}
		let committee: Vec<AccountId> =
			Feedbacks::<Test>::get(id).unwrap().scores.iter().map(|c| c.validator).collect();
		assert_eq!(committee.len(), MAX_SCORERS as usize);
		for v in [VAL_A, VAL_B, VAL_C] {
			assert!(committee.contains(&v));
		}
		assert!(events().contains(&Event::ScoreDisplaced {
			id,
			validator: sybils[MAX_SCORERS as usize - 1],
			by: VAL_A,
		}));
		// A stake no larger than the smallest seat's does not displace it.
		endow(30);
		register(30);
		let sealed = FeedbackRewards::commitment(id, &30, 0, &salt(30));
		assert_noop!(
			FeedbackRewards::commit_score(RuntimeOrigin::signed(30), id, sealed),
			Error::<Test>::TooManyScorers
		);
		// A displaced sybil's commitment is gone: it has nothing pending for this feedback.
		assert_eq!(Validators::<Test>::get(sybils[4]).map(|v| v.pending), Some(0));

		// The sybils still seated reveal their 0s; the honest their 80s.
		reveal_all(0);
		for &s in committee.iter().filter(|s| sybils.contains(s)) {
			assert_ok!(FeedbackRewards::reveal_score(RuntimeOrigin::signed(s), id, 0, salt(s)));
		}
		finalize_all(0);
		let score = final_score(id).expect("scored");
		assert!(score.abs_diff(80) <= 10, "the honest score stands: {score}");
		assert_eq!(held(HoldReason::FeedbackBond, ANNA), FEEDBACK_BOND, "the honest bond is kept");
		for &s in &sybils {
			assert_eq!(points(0, s), 0, "sybil {s} earns nothing");
		}
		for v in [VAL_A, VAL_B, VAL_C] {
			assert_eq!(points(0, v), 2);
		}
	});
}

#[test]
fn revealing_selectively_costs_more_than_revealing_a_bad_score() {
	run_test(|| {
		// Honest: A and B, 2 bonds each. Colluding: X, Y, Z with a bond each (3 of 7).
		register_active(VAL_A, 2 * VALIDATOR_BOND);
		register_active(VAL_B, 2 * VALIDATOR_BOND);
		let [x, y, z] = [VAL_D, 15, 16];
		for c in [x, y, z] {
			register(c);
		}
		let id = submit(ANNA);
		score(VAL_A, id, 50);
		score(VAL_B, id, 50);
		// The coalition commits both ways and will reveal only what pulls the score up.
		let seal = |who: AccountId, s: Score| {
			let commitment = FeedbackRewards::commitment(id, &who, s, &salt(who));
			assert_ok!(FeedbackRewards::commit_score(RuntimeOrigin::signed(who), id, commitment));
		};
		seal(x, 0);
		seal(y, 100);
		seal(z, 100);
		reveal_all(0);
		for (who, s) in [(y, 100), (z, 100)] {
			assert_ok!(FeedbackRewards::reveal_score(RuntimeOrigin::signed(who), id, s, salt(who)));
		}
		go_to(FeedbackRewards::closable_at(0));
		assert_ok!(FeedbackRewards::finalize_feedback(RuntimeOrigin::signed(ANNA), id));
		assert_eq!(final_score(id), Some(50), "the honest score stands");
		// The one that kept its score back lost more than each that revealed a bad one, on
		// its first miss.
		let missed = VALIDATOR_BOND - bond(x);
		let deviated = VALIDATOR_BOND - bond(y);
		assert!(deviated > 0);
		assert!(missed > deviated, "a miss ({missed}) costs more than a bad score ({deviated})");
		for c in [x, y, z] {
			assert_eq!(points(0, c), 0, "{c} earns nothing");
		}
	});
}

#[test]
fn flooding_an_epoch_costs_the_flooder_a_fee_per_feedback() {
	run_test(|| {
		FeedbackFee::set(FEE_PER_FEEDBACK);
		let pool = free(POOL);
		let before: Vec<Balance> = (3..=9).map(free).collect();
		// Sybil annotators fill the epoch's feedback, PER_ANNOTATOR each.
		let flooders: Vec<AccountId> =
			(3..3 + PER_EPOCH / PER_ANNOTATOR + 1).map(|a| a as AccountId).collect();
		let mut sent = 0;
		for &f in &flooders {
			for _ in 0..PER_ANNOTATOR {
				if sent < PER_EPOCH {
					submit(f);
					sent += 1;
				}
			}
		}
		assert_noop!(
			FeedbackRewards::submit_feedback(
				RuntimeOrigin::signed(ANNA),
				1,
				hash(1),
				FeedbackKind::Rating,
				hash(2)
			),
			Error::<Test>::EpochFull
		);
		// Each feedback paid its fee into the reward pool.
		assert_eq!(free(POOL), pool + PER_EPOCH as Balance * FEE_PER_FEEDBACK);
		// Nobody scores the flood: the bonds come back with the claims, the fees do not.
		close(0);
		for &f in &flooders {
			if Contributions::<Test>::get(0, f).is_some() {
				claim(f, 0);
			}
		}
		let paid: Balance = (3..=9).zip(before).map(|(f, was)| was - free(f)).sum();
		assert_eq!(paid, PER_EPOCH as Balance * FEE_PER_FEEDBACK, "the flood cost its fees");
	});
}
