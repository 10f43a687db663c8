//! Unit tests against the mock runtime: registration, capacity, and the attestation attacks
//! (replay, out of order, an operator of another provider, two operators attesting the same
//! usage, records the settlement rejects, usage over capacity). Every error path asserts that
//! nothing changed.

use crate::{mock::*, *};
use frame_support::{assert_noop, assert_ok, traits::fungible::InspectHold};

mod ocw;

fn entry(user: AccountId, tokens: u32) -> MockEntry {
	MockEntry { user, tokens, valid: true }
}

fn batch(entries: Vec<MockEntry>) -> BoundedVec<MockEntry, frame_support::traits::ConstU32<4>> {
	entries.try_into().expect("at most 4 entries")
}

fn attest(operator: AccountId, first_seq: u64, entries: Vec<MockEntry>) -> DispatchResult {
	UsageAttestation::attest(RuntimeOrigin::signed(operator), PROVIDER, first_seq, batch(entries))
		.map(|_| ())
		.map_err(|e| e.error)
}

/// The provider registers both its operators and declares 1,000 tokens per epoch.
fn set_up() {
	for operator in [OPERATOR, SECOND_OPERATOR] {
		assert_ok!(UsageAttestation::register_operator(RuntimeOrigin::signed(PROVIDER), operator));
	}
	assert_ok!(UsageAttestation::set_capacity(RuntimeOrigin::signed(PROVIDER), 1_000));
	assert_ok!(UsageAttestation::register_operator(
		RuntimeOrigin::signed(OTHER_PROVIDER),
		OTHER_OPERATOR
	));
}

fn events() -> Vec<Event<Test>> {
	System::events()
		.into_iter()
		.filter_map(
			|r| if let RuntimeEvent::UsageAttestation(e) = r.event { Some(e) } else { None },
		)
		.collect()
}

use frame_support::pallet_prelude::{BoundedVec, DispatchResult, Weight};

#[test]
fn providers_register_and_remove_operators_with_a_deposit() {
	run_test(|| {
		set_up();
		let held = |who| {
			<Balances as InspectHold<AccountId>>::balance_on_hold(
				&HoldReason::OperatorDeposit.into(),
				&who,
			)
		};
		assert_eq!(held(PROVIDER), 2 * OPERATOR_DEPOSIT);
		assert_eq!(
			ProviderOperators::<Test>::get(PROVIDER).into_inner(),
			vec![OPERATOR, SECOND_OPERATOR]
		);
		assert_noop!(
			UsageAttestation::register_operator(RuntimeOrigin::signed(PROVIDER), 13),
			Error::<Test>::TooManyOperators
		);
		assert_noop!(
			UsageAttestation::register_operator(RuntimeOrigin::signed(OTHER_PROVIDER), OPERATOR),
			Error::<Test>::AlreadyOperator
		);
		assert_noop!(
			UsageAttestation::register_operator(RuntimeOrigin::signed(STRANGER), 13),
			Error::<Test>::NotProvider
		);
		assert_noop!(
			UsageAttestation::set_capacity(RuntimeOrigin::signed(STRANGER), 5),
			Error::<Test>::NotProvider
		);
		// Only its own provider removes an operator.
		assert_noop!(
			UsageAttestation::remove_operator(RuntimeOrigin::signed(OTHER_PROVIDER), OPERATOR),
			Error::<Test>::NotOperator
		);
		assert_ok!(UsageAttestation::remove_operator(RuntimeOrigin::signed(PROVIDER), OPERATOR));
		assert_eq!(held(PROVIDER), OPERATOR_DEPOSIT);
		assert_eq!(ProviderOperators::<Test>::get(PROVIDER).into_inner(), vec![SECOND_OPERATOR]);
		assert_noop!(attest(OPERATOR, 1, vec![entry(5, 10)]), Error::<Test>::NotOperator);
	});
}

#[test]
fn an_attestation_settles_its_records_and_moves_the_sequence_on() {
	run_test(|| {
		set_up();
		assert_ok!(attest(OPERATOR, 1, vec![entry(5, 100), entry(6, 200)]));
		assert_eq!(settled(), vec![(PROVIDER, vec![entry(5, 100), entry(6, 200)])]);
		assert_eq!(LastSeq::<Test>::get(PROVIDER), 2);
		assert_eq!(
			events().pop(),
			Some(Event::Attested {
				provider: PROVIDER,
				operator: OPERATOR,
				first_seq: 1,
				entries: 2,
				charged: 300,
				rejected: 0
			})
		);
		// Records the settlement rejects (a forged voucher, usage over its cap) settle
		// nothing and are counted; the sequence still moves on.
		let forged = MockEntry { user: 7, tokens: 50, valid: false };
		assert_ok!(attest(SECOND_OPERATOR, 3, vec![forged, entry(5, 10)]));
		assert_eq!(LastSeq::<Test>::get(PROVIDER), 4);
		assert!(matches!(events().pop(), Some(Event::Attested { charged: 10, rejected: 1, .. })));
	});
}

#[test]
fn replays_and_out_of_order_batches_settle_nothing() {
	run_test(|| {
		set_up();
		assert_ok!(attest(OPERATOR, 1, vec![entry(5, 100), entry(6, 100)]));
		// The same batch again, or part of it: a replay.
		assert_noop!(
			attest(OPERATOR, 1, vec![entry(5, 100), entry(6, 100)]),
			Error::<Test>::Replay
		);
		assert_noop!(attest(OPERATOR, 2, vec![entry(6, 100)]), Error::<Test>::Replay);
		// Skipping records: a gap.
		assert_noop!(attest(OPERATOR, 4, vec![entry(5, 1)]), Error::<Test>::Gap);
		assert_eq!(settled().len(), 1);
	});
}

#[test]
fn two_operators_attesting_the_same_usage_settle_it_once() {
	run_test(|| {
		set_up();
		assert_ok!(attest(OPERATOR, 1, vec![entry(5, 100)]));
		assert_noop!(attest(SECOND_OPERATOR, 1, vec![entry(5, 100)]), Error::<Test>::Replay);
		assert_eq!(settled().len(), 1);
	});
}

#[test]
fn an_operator_of_another_provider_cannot_attest() {
	run_test(|| {
		set_up();
		assert_noop!(attest(OTHER_OPERATOR, 1, vec![entry(5, 100)]), Error::<Test>::NotOperator);
		assert_noop!(attest(STRANGER, 1, vec![entry(5, 100)]), Error::<Test>::NotOperator);
		assert_noop!(attest(OPERATOR, 1, vec![]), Error::<Test>::Empty);
	});
}

/// `attest` is charged the most its settlement can weigh, and refunded to what the settlement
/// did: the mock reports a signature check per valid record and weighs 1 µs a record plus 4 µs
/// a check, against the 10 µs a record it declares.
#[test]
fn an_attestation_is_refunded_to_the_settlement_it_did() {
	use frame_support::dispatch::GetDispatchInfo;
	run_test(|| {
		set_up();
		let forged = MockEntry { user: 7, tokens: 50, valid: false };
		let entries = batch(vec![entry(5, 100), forged, entry(6, 100)]);
		let call =
			Call::<Test>::attest { provider: PROVIDER, first_seq: 1, entries: entries.clone() };
		let declared = call.get_dispatch_info().call_weight;
		assert_eq!(declared, <() as WeightInfo>::attest(3) + Weight::from_parts(30_000_000, 0));
		let post = UsageAttestation::attest(RuntimeOrigin::signed(OPERATOR), PROVIDER, 1, entries)
			.expect("the batch settles");
		let used = <() as WeightInfo>::attest(3) + Weight::from_parts(3_000_000 + 8_000_000, 0);
		assert_eq!(post.actual_weight, Some(used));
		assert!(used.all_lte(declared) && used.ref_time() < declared.ref_time());
	});
}

#[test]
fn usage_over_the_declared_capacity_waits_for_the_next_epoch() {
	run_test(|| {
		set_up();
		// 1,000 tokens per epoch per operator: 600 + 300 fit, the next 200 do not, nor does
		// anything after it in the batch; those two are not consumed.
		assert_ok!(attest(
			OPERATOR,
			1,
			vec![entry(5, 600), entry(6, 300), entry(7, 200), entry(8, 50)]
		));
		assert_eq!(settled(), vec![(PROVIDER, vec![entry(5, 600), entry(6, 300)])]);
		let events = events();
		assert!(events.contains(&Event::OverCapacity {
			operator: OPERATOR,
			entries: 2,
			tokens: 250
		}));
		assert!(matches!(
			events.last(),
			Some(Event::Attested { first_seq: 1, entries: 2, charged: 900, rejected: 0, .. })
		));
		assert_eq!(LastSeq::<Test>::get(PROVIDER), 2);
		// Nothing fits any more this epoch: the attestation fails and consumes nothing.
		assert_noop!(
			attest(OPERATOR, 3, vec![entry(7, 200), entry(8, 50)]),
			Error::<Test>::NoCapacity
		);
		assert_eq!(UsageAttestation::remaining_capacity(&OPERATOR, &PROVIDER), 100);
		// The next epoch has room again: the records left over settle.
		System::set_block_number(EPOCH);
		assert_ok!(attest(OPERATOR, 3, vec![entry(7, 200), entry(8, 50)]));
		assert_eq!(settled().len(), 2);
		assert_eq!(settled()[1], (PROVIDER, vec![entry(7, 200), entry(8, 50)]));
		assert_eq!(LastSeq::<Test>::get(PROVIDER), 4);
	});
}

#[test]
fn an_operator_declares_the_next_record_void() {
	run_test(|| {
		set_up();
		let reason: VoidReason = b"user".to_vec().try_into().unwrap();
		assert_noop!(
			UsageAttestation::void_record(
				RuntimeOrigin::signed(STRANGER),
				PROVIDER,
				1,
				reason.clone()
			),
			Error::<Test>::NotOperator
		);
		assert_noop!(
			UsageAttestation::void_record(
				RuntimeOrigin::signed(OTHER_OPERATOR),
				PROVIDER,
				1,
				reason.clone()
			),
			Error::<Test>::NotOperator
		);
		assert_noop!(
			UsageAttestation::void_record(
				RuntimeOrigin::signed(OPERATOR),
				PROVIDER,
				2,
				reason.clone()
			),
			Error::<Test>::Gap
		);
		assert_ok!(UsageAttestation::void_record(
			RuntimeOrigin::signed(OPERATOR),
			PROVIDER,
			1,
			reason.clone()
		));
		assert_eq!(LastSeq::<Test>::get(PROVIDER), 1);
		assert_eq!(
			events().last(),
			Some(&Event::RecordVoided {
				provider: PROVIDER,
				operator: OPERATOR,
				seq: 1,
				reason: reason.clone()
			})
		);
		assert!(settled().is_empty());
		assert_noop!(
			UsageAttestation::void_record(RuntimeOrigin::signed(OPERATOR), PROVIDER, 1, reason),
			Error::<Test>::Replay
		);
		// The usage after it attests as usual.
		assert_ok!(attest(OPERATOR, 2, vec![entry(5, 100)]));
		assert_eq!(settled(), vec![(PROVIDER, vec![entry(5, 100)])]);
	});
}
