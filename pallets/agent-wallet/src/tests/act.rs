//! `act`: allowlisted calls as the agent, with every outflow counted, also through batches
//! and nested calls.

use super::*;
use frame_support::{assert_noop, assert_ok};

fn transfer(dest: AccountId, value: Balance) -> RuntimeCall {
	RuntimeCall::Balances(pallet_balances::Call::transfer_keep_alive { dest, value })
}

fn batch(calls: Vec<RuntimeCall>) -> RuntimeCall {
	RuntimeCall::Utility(pallet_utility::Call::batch { calls })
}

fn batch_all(calls: Vec<RuntimeCall>) -> RuntimeCall {
	RuntimeCall::Utility(pallet_utility::Call::batch_all { calls })
}

fn lock(amount: Balance) -> RuntimeCall {
	RuntimeCall::Holds(holds::Call::lock { amount })
}

fn unlock(amount: Balance) -> RuntimeCall {
	RuntimeCall::Holds(holds::Call::unlock { amount })
}

fn remark() -> RuntimeCall {
	RuntimeCall::System(frame_system::Call::remark { remark: vec![1, 2, 3] })
}

/// The controller's `act`, with the error alone (the weight it used aside).
fn act(
	agent: AccountId,
	call: RuntimeCall,
) -> Result<frame_support::dispatch::PostDispatchInfo, sp_runtime::DispatchError> {
	AgentWallet::act(RuntimeOrigin::signed(CONTROLLER), agent, Box::new(call)).map_err(|e| e.error)
}

/// Limits with no cosigning, so that the caps alone apply.
fn no_cosign() -> PolicyOf<Test> {
	Policy { cosign_threshold: 1_000_000, ..test_policy() }
}

#[test]
fn an_allowed_call_runs_as_the_agent_and_its_outflow_counts() {
	run_test(|| {
		let agent = create_with(no_cosign());
		assert_ok!(act(agent, transfer(SHOP, 60)));
		assert_eq!(free(SHOP), 60);
		assert_eq!(free(agent), FUNDING - 60);
		assert_eq!(last_event(), Event::Acted { agent, outflow: 60, spent: 60, remaining: 240 });
		// A call that moves nothing counts nothing.
		assert_ok!(act(agent, remark()));
		assert_eq!(last_event(), Event::Acted { agent, outflow: 0, spent: 60, remaining: 240 });
	});
}

#[test]
fn calls_off_the_allowlist_are_refused() {
	run_test(|| {
		let agent = create_with(no_cosign());
		let forbidden = [
			RuntimeCall::Balances(pallet_balances::Call::transfer_all {
				dest: SHOP,
				keep_alive: true,
			}),
			RuntimeCall::System(frame_system::Call::remark_with_event { remark: vec![] }),
			// Nested agent-wallet calls: the agent acting on itself or changing its policy.
			RuntimeCall::AgentWallet(crate::Call::set_policy { agent, policy: no_cosign() }),
			RuntimeCall::AgentWallet(crate::Call::pay { agent, payee: SHOP, amount: 1 }),
		];
		for call in forbidden {
			assert_noop!(act(agent, call), Error::<Test>::CallNotAllowed);
		}
	});
}

#[test]
fn escaping_the_caps_through_a_batch_fails_and_changes_nothing() {
	run_test(|| {
		let agent = create_with(no_cosign());
		// Four transfers of 90: each is under the per-payment cap of 100, but one `act` is one
		// payment, and 360 is over it.
		for call in [
			batch(vec![transfer(ATTACKER, 90); 4]),
			batch_all(vec![transfer(ATTACKER, 90); 4]),
			batch(vec![batch(vec![transfer(ATTACKER, 90); 2]); 2]),
		] {
			assert_noop!(act(agent, call), Error::<Test>::PaymentCapExceeded);
		}
		assert_ok!(act(agent, batch(vec![transfer(SHOP, 50), transfer(SHOP, 50)])));
		assert_eq!(last_event(), Event::Acted { agent, outflow: 100, spent: 100, remaining: 200 });
		assert_ok!(act(agent, batch(vec![transfer(SHOP, 100)])));
		assert_ok!(act(agent, batch(vec![transfer(SHOP, 100)])));
		// The period cap is reached: even a batch of small transfers is refused.
		assert_noop!(
			act(agent, batch(vec![transfer(ATTACKER, 1); 3])),
			Error::<Test>::PeriodCapExceeded
		);
	});
}

#[test]
fn nested_calls_are_filtered_too() {
	run_test(|| {
		let agent = create_with(Policy { payees: payees(&[SHOP]), ..no_cosign() });
		let attacker = free(ATTACKER);
		// `batch_all` fails as a whole when an inner call is filtered.
		assert_noop!(
			act(agent, batch_all(vec![transfer(SHOP, 10), transfer(ATTACKER, 10)])),
			frame_system::Error::<Test>::CallFiltered
		);
		// `batch` stops at the filtered call: what ran before it counts, nothing reaches the
		// attacker.
		assert_ok!(act(agent, batch(vec![transfer(SHOP, 10), transfer(ATTACKER, 10)])));
		assert_eq!(free(ATTACKER), attacker);
		assert_eq!(free(SHOP), 10);
		assert_eq!(last_event(), Event::Acted { agent, outflow: 10, spent: 10, remaining: 290 });
		// A nested `act` (or any agent-wallet call) inside a batch is filtered.
		let nested = RuntimeCall::AgentWallet(crate::Call::act {
			agent,
			call: Box::new(transfer(ATTACKER, 10)),
		});
		assert_noop!(
			act(agent, batch_all(vec![nested])),
			frame_system::Error::<Test>::CallFiltered
		);
		// However deep the nesting, the filtered transfer does not run.
		assert_ok!(act(agent, batch(vec![batch(vec![batch(vec![transfer(ATTACKER, 10)])])])));
		assert_eq!(last_event(), Event::Acted { agent, outflow: 0, spent: 10, remaining: 290 });
		assert_eq!(free(ATTACKER), attacker);
	});
}

#[test]
fn funds_put_on_hold_count_and_releasing_them_gives_no_new_room() {
	run_test(|| {
		let agent = create_with(no_cosign());
		// Putting funds on hold (as depositing credits does) is outflow.
		assert_ok!(act(agent, lock(100)));
		assert_eq!(last_event(), Event::Acted { agent, outflow: 100, spent: 100, remaining: 200 });
		// Releasing them is not an inflow that pays for a transfer in the same call…
		assert_ok!(act(agent, batch_all(vec![unlock(100), transfer(ATTACKER, 100)])));
		assert_eq!(last_event(), Event::Acted { agent, outflow: 100, spent: 200, remaining: 100 });
		// …and releasing alone counts nothing.
		assert_ok!(act(agent, lock(50)));
		assert_ok!(act(agent, unlock(50)));
		assert_eq!(last_event(), Event::Acted { agent, outflow: 0, spent: 250, remaining: 50 });
		assert_noop!(
			act(agent, batch_all(vec![lock(60), unlock(60), transfer(ATTACKER, 60)])),
			Error::<Test>::PeriodCapExceeded
		);
	});
}

#[test]
fn an_act_above_the_cosign_threshold_is_refused() {
	run_test(|| {
		// Cosigning above 50.
		let agent = create();
		assert_noop!(act(agent, transfer(SHOP, 51)), Error::<Test>::CosignRequired);
		assert_ok!(act(agent, transfer(SHOP, 50)));
	});
}

#[test]
fn act_errors_change_nothing() {
	run_test(|| {
		let agent = create_with(no_cosign());
		assert_noop!(act(STRANGER, remark()), Error::<Test>::NotAgent);
		assert_noop!(
			AgentWallet::act(RuntimeOrigin::signed(OWNER), agent, Box::new(remark()))
				.map_err(|e| e.error),
			Error::<Test>::NotController
		);
		// The call's own error comes back.
		assert_noop!(
			act(agent, transfer(SHOP, FUNDING * 2)),
			sp_runtime::TokenError::FundsUnavailable
		);
		assert_noop!(
			AgentWallet::act(RuntimeOrigin::none(), agent, Box::new(remark())),
			sp_runtime::DispatchError::BadOrigin
		);
	});
}

#[test]
fn act_reports_the_weight_it_used() {
	run_test(|| {
		use frame_support::dispatch::GetDispatchInfo;
		let agent = create_with(no_cosign());
		let call = transfer(SHOP, 10);
		let inner = call.get_dispatch_info().call_weight;
		let outer = crate::Call::<Test>::act { agent, call: Box::new(call.clone()) }
			.get_dispatch_info()
			.call_weight;
		assert_eq!(outer, <() as WeightInfo>::act() + <() as WeightInfo>::charge_fee() + inner);
		let post = act(agent, call.clone()).unwrap();
		assert_eq!(post.actual_weight, Some(outer));
		// A failing call reports the weight it used too.
		let failing = transfer(SHOP, FUNDING * 2);
		let error = AgentWallet::act(RuntimeOrigin::signed(CONTROLLER), agent, Box::new(failing))
			.unwrap_err();
		assert_eq!(error.post_info.actual_weight, Some(outer));
	});
}

fn collect(amount: Balance) -> RuntimeCall {
	RuntimeCall::Holds(holds::Call::collect { amount })
}

#[test]
fn an_inflow_from_elsewhere_runs_only_as_a_whole_act_so_it_cannot_hide_a_transfer() {
	run_test(|| {
		let agent = create_with(no_cosign());
		// Alone: the agent collects, nothing left it.
		assert_ok!(act(agent, collect(500)));
		assert_eq!(free(agent), FUNDING + 500);
		assert_eq!(last_event(), Event::Acted { agent, outflow: 0, spent: 0, remaining: 300 });
		// Batched with a transfer it would offset the transfer's outflow: it is filtered.
		let attacker = free(ATTACKER);
		assert_noop!(
			act(agent, batch_all(vec![collect(100), transfer(ATTACKER, 100)])),
			frame_system::Error::<Test>::CallFiltered
		);
		assert_ok!(act(agent, batch(vec![transfer(ATTACKER, 100), collect(100)])));
		assert_eq!(free(ATTACKER), attacker + 100);
		assert_eq!(last_event(), Event::Acted { agent, outflow: 100, spent: 100, remaining: 200 });
	});
}
