//! Issue 34 §1: a voucher is verified once. The ledger remembers the voucher it last accepted
//! (a digest of it and of its signer); an entry carrying it again is not checked, a new one is
//! checked once in the form the last one was signed in, and what the ledger remembers never
//! lets anything else through. The weight charged follows the checks made.

use super::*;
use crate::mock::*;
use sp_keyring::Sr25519Keyring::{Bob, Charlie};

fn settle(entries: Vec<UsageEntryOf<Test>>) -> SettlementSummary<Balance> {
	InferenceCredits::do_settle(&alice(), entries).expect("Alice is a provider")
}

/// Bob's voucher for Alice with this cap, signed the way a browser wallet signs.
fn wrapped(cap: Balance) -> SignedVoucherOf<Test> {
	let mut signed = voucher(Bob, &alice(), cap);
	signed.signature = sign_voucher_wrapped(Bob, &signed.voucher);
	signed
}

fn checks(summary: SettlementSummary<Balance>) -> (Balance, u32, u32) {
	(summary.charged, summary.rejected_entries, summary.signature_checks)
}

#[test]
fn the_voucher_accepted_last_is_not_checked_again() {
	run_test(|| {
		let model = open_model_and_funded_bob();
		let signed = voucher(Bob, &alice(), 1_000);
		// A ledger's first voucher: checked once, bare (the form tried first).
		assert_eq!(checks(settle(vec![entry(Bob, model, 100, 0, signed.clone())])), (200, 0, 1));
		let remembered = AcceptedVoucher { digest: signed.accepted_digest(&bob()), wrapped: false };
		assert_eq!(VoucherLedgers::<Test>::get(bob(), alice()).accepted, Some(remembered));
		// The same voucher again, in two entries: no check, and it still pays.
		let twice =
			vec![entry(Bob, model, 100, 0, signed.clone()), entry(Bob, model, 50, 0, signed)];
		assert_eq!(checks(settle(twice)), (300, 0, 0));
		assert_eq!(VoucherLedgers::<Test>::get(bob(), alice()).settled, 500);
		// A new voucher (a higher cap): checked once, then remembered instead.
		let raised = voucher(Bob, &alice(), 2_000);
		assert_eq!(checks(settle(vec![entry(Bob, model, 100, 0, raised.clone())])), (200, 0, 1));
		let ledger = VoucherLedgers::<Test>::get(bob(), alice());
		assert_eq!(ledger.accepted.map(|a| a.digest), Some(raised.accepted_digest(&bob())));
		assert_eq!((ledger.settled, ledger.cap), (700, 2_000));
	});
}

#[test]
fn a_new_voucher_is_checked_first_in_the_form_the_last_was_signed_in() {
	run_test(|| {
		let model = open_model_and_funded_bob();
		// A wallet's first voucher: bare tried first, then wrapped — two checks.
		assert_eq!(checks(settle(vec![entry(Bob, model, 10, 0, wrapped(1_000))])), (20, 0, 2));
		assert_eq!(
			VoucherLedgers::<Test>::get(bob(), alice()).accepted.map(|a| a.wrapped),
			Some(true)
		);
		// Its next voucher: wrapped tried first — one check.
		assert_eq!(checks(settle(vec![entry(Bob, model, 10, 0, wrapped(2_000))])), (20, 0, 1));
		// Signed bare this time: two checks, and the ledger remembers the bare form.
		let bare = voucher(Bob, &alice(), 3_000);
		assert_eq!(checks(settle(vec![entry(Bob, model, 10, 0, bare)])), (20, 0, 2));
		assert_eq!(
			VoucherLedgers::<Test>::get(bob(), alice()).accepted.map(|a| a.wrapped),
			Some(false)
		);
	});
}

/// The accepted voucher with another cap and its old signature, the accepted voucher once
/// another account signs for the user (an agent's controller rotated), once nobody may, and
/// once it expired: each is refused, checked where a check is due, and changes nothing.
#[test]
fn a_remembered_voucher_lets_nothing_else_through() {
	run_test(|| {
		let model = open_model_and_funded_bob();
		let signed = voucher(Bob, &alice(), 1_000);
		settle(vec![entry(Bob, model, 10, 0, signed.clone())]);
		let before = VoucherLedgers::<Test>::get(bob(), alice());
		let credits = InferenceCredits::credit_balance(&bob());
		let unchanged = || {
			assert_eq!(VoucherLedgers::<Test>::get(bob(), alice()), before);
			assert_eq!(InferenceCredits::credit_balance(&bob()), credits);
		};

		let mut raised = signed.clone();
		raised.voucher.cap = 1_000_000;
		assert_eq!(checks(settle(vec![entry(Bob, model, 10, 0, raised)])), (0, 1, 2));
		unchanged();

		MockSigners::set(&bob(), Some(charlie()));
		assert_eq!(checks(settle(vec![entry(Bob, model, 10, 0, signed.clone())])), (0, 1, 2));
		unchanged();

		MockSigners::set(&bob(), None);
		assert_eq!(checks(settle(vec![entry(Bob, model, 10, 0, signed.clone())])), (0, 1, 0));
		unchanged();

		MockSigners::set(&bob(), Some(bob()));
		System::set_block_number(101);
		let mut late = entry(Bob, model, 10, 0, signed);
		late.served_at = 100;
		assert_eq!(checks(settle(vec![late])), (0, 1, 0));
		unchanged();
	});
}

/// What settlement is charged before it runs (every voucher new, four checks an entry) and
/// what it is refunded to (the checks made): a remembered voucher weighs less than a new one,
/// which weighs less than the worst case; a check weighs what the benchmarks measured.
#[test]
fn settlement_weighs_the_checks_it_made() {
	run_test(|| {
		let check = InferenceCredits::signature_check_weight();
		assert!(check.ref_time() > 0, "the benchmarks measure a signature check");
		let with = |checks| {
			let summary = SettlementSummary { signature_checks: checks, ..Default::default() };
			<InferenceCredits as SettleUsage<AccountId>>::settled_weight(3, &summary)
		};
		let worst = <InferenceCredits as SettleUsage<AccountId>>::settle_weight(3);
		assert_eq!(with(12), worst);
		assert!(with(0).ref_time() < with(3).ref_time() && with(3).all_lte(worst));
		assert_eq!(with(3).saturating_sub(with(0)), check.saturating_mul(3));
	});
}

/// What a settlement is expected to weigh, read from the ledgers before it runs (the worker
/// sizes its batches by it), is what it then weighs: the checks it would make, changing
/// nothing; never more than the worst case.
#[test]
fn the_expected_weight_is_the_weight_of_the_checks_the_settlement_makes() {
	run_test(|| {
		let model = open_model_and_funded_bob();
		let expected = |entries: &[UsageEntryOf<Test>]| {
			<InferenceCredits as SettleUsage<AccountId>>::expected_weight(&alice(), entries)
		};
		let weighed = |entries: Vec<UsageEntryOf<Test>>| {
			let count = entries.len() as u32;
			<InferenceCredits as SettleUsage<AccountId>>::settled_weight(count, &settle(entries))
		};
		let check = InferenceCredits::signature_check_weight();
		// Bob pays with his own credits and gave no withdrawal notice: no delegation read or
		// written, no notice written (`settlement_weighs_the_storage_it_leaves_alone`).
		let base = |count| {
			let none =
				SettlementSummary { reads_avoided: 1, writes_avoided: 2, ..Default::default() };
			<InferenceCredits as SettleUsage<AccountId>>::settled_weight(count, &none)
		};
		// A wallet's first voucher: two checks (bare, then wrapped), expected and made; the
		// estimate changed nothing.
		let first = vec![entry(Bob, model, 10, 0, wrapped(1_000)); 3];
		let ledger = VoucherLedgers::<Test>::get(bob(), alice());
		assert_eq!(expected(&first), base(3) + check.saturating_mul(2));
		assert_eq!(VoucherLedgers::<Test>::get(bob(), alice()), ledger);
		assert_eq!(weighed(first.clone()), base(3) + check.saturating_mul(2));
		// The same voucher again: none.
		assert_eq!(expected(&first), base(3));
		assert_eq!(weighed(first), base(3));
		// A group's best voucher (the highest cap) is the one checked: one check, the form known.
		let mixed = vec![
			entry(Bob, model, 10, 0, wrapped(1_000)),
			entry(Bob, model, 10, 0, wrapped(5_000)),
		];
		assert_eq!(expected(&mixed), base(2) + check);
		assert_eq!(weighed(mixed), base(2) + check);
		// A forged voucher: the checks it would take, still within the worst case.
		let mut forged = voucher(Bob, &alice(), 9_000);
		forged.signature = sign_voucher_wrapped(Bob, &voucher(Bob, &alice(), 1).voucher);
		let forged = vec![entry(Bob, model, 10, 0, forged)];
		assert_eq!(expected(&forged), base(1) + check.saturating_mul(2));
		assert!(expected(&forged)
			.all_lte(<InferenceCredits as SettleUsage<AccountId>>::settle_weight(1)));
		assert_eq!(weighed(forged), base(1) + check.saturating_mul(2));
	});
}

/// A settlement is refunded the storage its worst case counts and it did not touch: a user
/// paying with its own credits reads and writes no delegation, and a withdrawal notice its
/// payer's credits still cover (or none) is not written; a notice for more than is left is
/// cut (written). The expected weight counts the same, a notice as written.
#[test]
fn settlement_weighs_the_storage_it_leaves_alone() {
	run_test(|| {
		let model = open_model_and_funded_bob();
		let db = <Test as frame_system::Config>::DbWeight::get();
		let weigh = |summary: &SettlementSummary<Balance>| {
			<InferenceCredits as SettleUsage<AccountId>>::settled_weight(1, summary)
		};
		let expected = |entries: &[UsageEntryOf<Test>]| {
			<InferenceCredits as SettleUsage<AccountId>>::expected_weight(&alice(), entries)
		};
		let signed = voucher(Bob, &alice(), 100_000);
		let avoided = |s: &SettlementSummary<Balance>| (s.reads_avoided, s.writes_avoided);
		let full = |s: &SettlementSummary<Balance>| {
			weigh(&SettlementSummary { reads_avoided: 0, writes_avoided: 0, ..*s })
		};

		// Bob pays with his own credits and gave no notice: one read and two writes fewer.
		let bob_entry = entry(Bob, model, 100, 0, signed.clone());
		settle(vec![bob_entry.clone()]);
		let expect = expected(std::slice::from_ref(&bob_entry));
		let summary = settle(vec![bob_entry.clone()]);
		assert_eq!(avoided(&summary), (1, 2));
		assert_eq!(weigh(&summary), full(&summary).saturating_sub(db.reads_writes(1, 2)));
		assert!(db.reads_writes(1, 2).ref_time() > 0);
		assert_eq!(expect, weigh(&summary));
		assert!(!PendingWithdrawals::<Test>::contains_key(bob()));

		// A notice his credits still cover is left as it was (expected as written).
		assert_ok!(InferenceCredits::request_withdrawal(RuntimeOrigin::signed(bob()), 1_000));
		let notice = PendingWithdrawals::<Test>::get(bob()).unwrap();
		let expect = expected(std::slice::from_ref(&bob_entry));
		let summary = settle(vec![bob_entry.clone()]);
		assert_eq!(avoided(&summary), (1, 2));
		assert_eq!(PendingWithdrawals::<Test>::get(bob()), Some(notice));
		assert_eq!(expect, weigh(&summary).saturating_add(db.writes(1)));

		// A notice for all his credits is cut to what the settlement leaves (written).
		let all = Credits::<Test>::get(bob());
		assert_ok!(InferenceCredits::request_withdrawal(RuntimeOrigin::signed(bob()), all));
		let summary = settle(vec![bob_entry.clone()]);
		assert_eq!(avoided(&summary), (1, 1));
		let left = Credits::<Test>::get(bob());
		assert!(left < all);
		assert_eq!(PendingWithdrawals::<Test>::get(bob()).map(|p| p.amount), Some(left));
		assert_eq!(expected(&[bob_entry]), weigh(&summary));

		// Charlie spends Bob's credits under a delegation: it is read and written.
		assert_ok!(InferenceCredits::approve_delegate(
			RuntimeOrigin::signed(bob()),
			charlie(),
			3_000,
			50
		));
		assert_ok!(InferenceCredits::request_withdrawal(RuntimeOrigin::signed(bob()), 1));
		let delegated =
			entry(Charlie, model, 10, 0, voucher_paid_by(Charlie, &bob(), &alice(), 5_000));
		settle(vec![delegated.clone()]);
		let expect = expected(std::slice::from_ref(&delegated));
		let summary = settle(vec![delegated]);
		assert_eq!(avoided(&summary), (0, 1));
		assert_eq!(weigh(&summary), full(&summary).saturating_sub(db.writes(1)));
		assert_eq!(expect, weigh(&summary).saturating_add(db.writes(1)));
	});
}
