//! The off-chain worker against the test off-chain externalities: a mocked feed answer becomes
//! attestations in the transaction pool (as many batches as a block takes), signed by the
//! operator key; a feed that is down, slow or answers garbage submits nothing and is counted;
//! nothing is submitted twice.

use super::{batch, entry};
use crate::{mock::*, ocw::*, *};
use codec::Decode;
use frame_support::{
	assert_ok,
	dispatch::DispatchClass,
	traits::{Get, Hooks},
};
use sp_core::offchain::{
	testing::{OffchainState, PendingRequest, PoolState, TestOffchainExt, TestTransactionPoolExt},
	Externalities, HttpError, HttpRequestId, HttpRequestStatus, OffchainDbExt, OffchainWorkerExt,
	OpaqueNetworkState, StorageKind, Timestamp, TransactionPoolExt,
};
use sp_core::OpaquePeerId;
use sp_runtime::{generic::Preamble, testing::UintAuthorityId, traits::Dispatchable};
use std::sync::Arc;

type Shared<T> = Arc<parking_lot::RwLock<T>>;

const FEED: &str = "http://127.0.0.1:8099";

/// The test off-chain externalities, except that every request ends with a fault.
#[derive(Clone)]
struct FailingHttp(TestOffchainExt, Fault);

/// What goes wrong with every request.
#[derive(Clone, Copy, Debug)]
enum Fault {
	/// The request ends with this status.
	Status(HttpRequestStatus),
	/// The headers arrive (`200`), then the body stalls: a read returns only at its
	/// deadline, and one without a deadline would hang the worker for good.
	StalledBody,
}

impl Externalities for FailingHttp {
	fn is_validator(&self) -> bool {
		self.0.is_validator()
	}
	fn network_state(&self) -> Result<OpaqueNetworkState, ()> {
		self.0.network_state()
	}
	fn timestamp(&mut self) -> Timestamp {
		self.0.timestamp()
	}
	fn sleep_until(&mut self, deadline: Timestamp) {
		self.0.sleep_until(deadline)
	}
	fn random_seed(&mut self) -> [u8; 32] {
		self.0.random_seed()
	}
	fn http_request_start(
		&mut self,
		method: &str,
		uri: &str,
		meta: &[u8],
	) -> Result<HttpRequestId, ()> {
		self.0.http_request_start(method, uri, meta)
	}
	fn http_request_add_header(
		&mut self,
		id: HttpRequestId,
		name: &str,
		value: &str,
	) -> Result<(), ()> {
		self.0.http_request_add_header(id, name, value)
	}
	fn http_request_write_body(
		&mut self,
		id: HttpRequestId,
		chunk: &[u8],
		deadline: Option<Timestamp>,
	) -> Result<(), HttpError> {
		self.0.http_request_write_body(id, chunk, deadline)
	}
	fn http_response_wait(
		&mut self,
		ids: &[HttpRequestId],
		deadline: Option<Timestamp>,
	) -> Vec<HttpRequestStatus> {
		match self.1 {
			Fault::Status(status) => ids.iter().map(|_| status).collect(),
			Fault::StalledBody => self.0.http_response_wait(ids, deadline),
		}
	}
	fn http_response_headers(&mut self, id: HttpRequestId) -> Vec<(Vec<u8>, Vec<u8>)> {
		self.0.http_response_headers(id)
	}
	fn http_response_read_body(
		&mut self,
		id: HttpRequestId,
		buffer: &mut [u8],
		deadline: Option<Timestamp>,
	) -> Result<usize, HttpError> {
		match self.1 {
			Fault::Status(_) => self.0.http_response_read_body(id, buffer, deadline),
			Fault::StalledBody => {
				assert!(deadline.is_some(), "the worker reads the body without a deadline");
				Err(HttpError::DeadlineReached)
			}
		}
	}
	fn set_authorized_nodes(&mut self, nodes: Vec<OpaquePeerId>, authorized_only: bool) {
		self.0.set_authorized_nodes(nodes, authorized_only)
	}
}

/// Off-chain test externalities that check the pallet's invariants (`try_state`) after each
/// step of a test, as `run_test` does for the other tests.
struct CheckedExt(sp_io::TestExternalities);

impl CheckedExt {
	fn execute_with<R>(&mut self, f: impl FnOnce() -> R) -> R {
		self.0.execute_with(|| {
			let result = f();
			UsageAttestation::do_try_state().expect("invariants hold after each step");
			result
		})
	}
}

/// The mock runtime with off-chain externalities and a transaction pool; the provider has
/// `OPERATOR` registered with room for 10,000 tokens, the node holds `keys` and knows the
/// feed. With `fail`, every HTTP request ends with that status.
fn offchain_ext(
	keys: &[AccountId],
	fail: Option<Fault>,
) -> (CheckedExt, Shared<OffchainState>, Shared<PoolState>) {
	let mut ext = new_test_ext();
	let (offchain, state) = TestOffchainExt::new();
	let (pool, pool_state) = TestTransactionPoolExt::new();
	ext.register_extension(OffchainDbExt::new(offchain.clone()));
	match fail {
		Some(fault) => ext.register_extension(OffchainWorkerExt::new(FailingHttp(offchain, fault))),
		None => ext.register_extension(OffchainWorkerExt::new(offchain)),
	}
	ext.register_extension(TransactionPoolExt::new(pool));
	UintAuthorityId::set_all_keys(keys.iter().copied());
	ext.execute_with(|| {
		assert_ok!(UsageAttestation::register_operator(RuntimeOrigin::signed(PROVIDER), OPERATOR));
		assert_ok!(UsageAttestation::set_capacity(RuntimeOrigin::signed(PROVIDER), 10_000));
		sp_io::offchain::local_storage_set(StorageKind::PERSISTENT, FEED_URL_KEY, FEED.as_bytes());
	});
	(CheckedExt(ext), state, pool_state)
}

/// A feed record: user `user`, 10 + 20 tokens, a good voucher unless `signature` says else.
fn record(seq: u64, user: u64, signature: &str) -> String {
	format!(
		r#"{{"seq":{seq},"user":"{user}","model":0,"input_tokens":10,"output_tokens":20,
		"voucher":{{"cap":"1000000000000000000000","expiry":500,"signature":"{signature}"}}}}"#
	)
}

fn answer(records: &[String]) -> Vec<u8> {
	format!("[{}]", records.join(",")).into_bytes()
}

/// The feed is asked for the records after `after` and answers `body`.
fn expect_get(state: &Shared<OffchainState>, after: u64, body: Vec<u8>) {
	state.write().expect_request(PendingRequest {
		method: "GET".into(),
		uri: format!("{FEED}/usage?after={after}&limit={}", feed_limit()),
		response: Some(body),
		sent: true,
		..Default::default()
	});
}

/// How many records the worker asks for: `MaxEntries` (4) for each batch a run may send.
fn feed_limit() -> u32 {
	4 * MAX_BATCHES_PER_RUN
}

/// The transactions in the pool: signer and call.
fn submitted(pool: &Shared<PoolState>) -> Vec<(AccountId, RuntimeCall)> {
	pool.read()
		.transactions
		.iter()
		.map(|tx| {
			let tx = Extrinsic::decode(&mut &tx[..]).expect("the worker submits extrinsics");
			match tx.preamble {
				Preamble::Signed(signer, (), ()) => (signer, tx.function),
				other => panic!("not a signed transaction: {other:?}"),
			}
		})
		.collect()
}

fn attest_call(first_seq: u64, entries: Vec<MockEntry>) -> RuntimeCall {
	RuntimeCall::UsageAttestation(Call::attest {
		provider: PROVIDER,
		first_seq,
		entries: batch(entries),
	})
}

fn counter(key: &[u8]) -> u64 {
	sp_io::offchain::local_storage_get(StorageKind::PERSISTENT, key)
		.map(|v| u64::decode(&mut &v[..]).expect("counters are u64"))
		.unwrap_or(0)
}

fn failures() -> Vec<(&'static str, u64)> {
	Failure::ALL.iter().map(|f| (f.label(), counter(&f.counter_key()))).collect()
}

const NO_FAILURES: [(&str, u64); 3] = [("unreachable", 0), ("invalid", 0), ("submit", 0)];

#[test]
fn a_feed_answer_becomes_exactly_one_signed_attestation() {
	let (mut ext, state, pool) = offchain_ext(&[OPERATOR], None);
	expect_get(
		&state,
		0,
		answer(&[record(1, 5, "0x01"), record(2, 6, "0x01"), record(3, 7, "00")]),
	);
	ext.execute_with(|| {
		UsageAttestation::offchain_worker(1);
		let forged = MockEntry { user: 7, tokens: 30, valid: false };
		assert_eq!(
			submitted(&pool),
			vec![(OPERATOR, attest_call(1, vec![entry(5, 30), entry(6, 30), forged]))]
		);
		assert_eq!((counter(SUBMITTED_KEY), counter(RECORDS_KEY)), (1, 3));
		assert_eq!(failures(), NO_FAILURES);

		// The next blocks, before the attestation is included: no request, nothing submitted.
		// (A request here would find no answer and fail the test.)
		for block in 2..1 + RESUBMIT_AFTER {
			System::set_block_number(block);
			UsageAttestation::offchain_worker(block);
		}
		assert_eq!(submitted(&pool).len(), 1);
	});

	// Once it is included, the worker asks for what follows.
	ext.execute_with(|| {
		let (_, call) = submitted(&pool).remove(0);
		assert_ok!(call.dispatch(RuntimeOrigin::signed(OPERATOR)));
		assert_eq!(LastSeq::<Test>::get(PROVIDER), 3);
	});
	expect_get(&state, 3, answer(&[record(4, 8, "01")]));
	ext.execute_with(|| {
		UsageAttestation::offchain_worker(5);
		assert_eq!(submitted(&pool)[1], (OPERATOR, attest_call(4, vec![entry(8, 30)])));
		assert_eq!((counter(SUBMITTED_KEY), counter(RECORDS_KEY)), (2, 4));
	});
}

#[test]
fn an_attestation_never_included_is_submitted_again_after_a_while() {
	let (mut ext, state, pool) = offchain_ext(&[OPERATOR], None);
	expect_get(&state, 0, answer(&[record(1, 5, "01")]));
	ext.execute_with(|| UsageAttestation::offchain_worker(1));
	// Dropped from the pool (or lost in a re-org): the same records again, once.
	expect_get(&state, 0, answer(&[record(1, 5, "01")]));
	ext.execute_with(|| {
		System::set_block_number(1 + RESUBMIT_AFTER);
		UsageAttestation::offchain_worker(1 + RESUBMIT_AFTER);
		assert_eq!(submitted(&pool), vec![(OPERATOR, attest_call(1, vec![entry(5, 30)])); 2]);
	});
}

#[test]
fn a_failed_request_submits_nothing() {
	for status in [
		HttpRequestStatus::DeadlineReached,
		HttpRequestStatus::IoError,
		HttpRequestStatus::Finished(500),
	] {
		let (mut ext, _state, pool) = offchain_ext(&[OPERATOR], Some(Fault::Status(status)));
		ext.execute_with(|| {
			UsageAttestation::offchain_worker(1);
			assert!(submitted(&pool).is_empty(), "{status:?}");
			assert_eq!(failures(), [("unreachable", 1), ("invalid", 0), ("submit", 0)]);
			// Retried at the next block.
			UsageAttestation::offchain_worker(2);
			assert_eq!(counter(&Failure::Unreachable.counter_key()), 2);
			assert_eq!(counter(SUBMITTED_KEY), 0);
		});
	}
}

#[test]
fn bad_answers_submit_nothing_and_are_counted() {
	let bad = [
		b"<html>502 Bad Gateway</html>".to_vec(),
		b"{\"seq\":1}".to_vec(),
		// The feed starts after a gap.
		answer(&[record(2, 5, "01")]),
		// A record whose sequence number cannot be read.
		br#"[{"seq":"one","user":"5","model":0,"input_tokens":1,"output_tokens":1}]"#.to_vec(),
	];
	for body in bad {
		let (mut ext, state, pool) = offchain_ext(&[OPERATOR], None);
		expect_get(&state, 0, body.clone());
		ext.execute_with(|| {
			UsageAttestation::offchain_worker(1);
			let body = String::from_utf8_lossy(&body);
			assert!(submitted(&pool).is_empty(), "{body}");
			assert_eq!(failures(), [("unreachable", 0), ("invalid", 1), ("submit", 0)], "{body}");
		});
	}
}

/// Six good records: the first four (`MaxEntries`) go in one attestation, the other two in a
/// second one submitted in the same run with the next nonce; both are included in one block,
/// in order, and a batch included again (or out of turn) settles nothing.
#[test]
fn a_run_cuts_the_records_into_batches_submitted_in_sequence() {
	let (mut ext, state, pool) = offchain_ext(&[OPERATOR], None);
	let six: Vec<_> = (1..=6).map(|seq| record(seq, 10 + seq, "01")).collect();
	expect_get(&state, 0, answer(&six));
	ext.execute_with(|| {
		let nonce = System::account_nonce(OPERATOR);
		UsageAttestation::offchain_worker(1);
		let first_four = (11..=14).map(|user| entry(user, 30)).collect();
		let last_two = (15..=16).map(|user| entry(user, 30)).collect();
		assert_eq!(
			submitted(&pool),
			vec![(OPERATOR, attest_call(1, first_four)), (OPERATOR, attest_call(5, last_two))]
		);
		// The signer took a nonce per transaction: the pool orders them as submitted.
		assert_eq!(System::account_nonce(OPERATOR), nonce + 2);
		assert_eq!((counter(SUBMITTED_KEY), counter(RECORDS_KEY)), (2, 6));
		assert_eq!(failures(), NO_FAILURES);
		// Nothing is submitted again while the run's batches wait for inclusion (a request
		// here would find no answer and fail the test).
		System::set_block_number(2);
		UsageAttestation::offchain_worker(2);
		assert_eq!(submitted(&pool).len(), 2);
	});
	ext.execute_with(|| {
		let calls: Vec<_> = submitted(&pool).into_iter().map(|(_, call)| call).collect();
		// Out of turn: the second batch before the first fails and changes nothing.
		assert!(calls[1].clone().dispatch(RuntimeOrigin::signed(OPERATOR)).is_err());
		assert_eq!(LastSeq::<Test>::get(PROVIDER), 0);
		for call in &calls {
			assert_ok!(call.clone().dispatch(RuntimeOrigin::signed(OPERATOR)));
		}
		assert_eq!(LastSeq::<Test>::get(PROVIDER), 6);
		assert_eq!(settled().len(), 2);
		// Included twice: refused, nothing settled again.
		assert!(calls[0].clone().dispatch(RuntimeOrigin::signed(OPERATOR)).is_err());
		assert_eq!(settled().len(), 2);
	});
}

/// A run sends at most `MAX_BATCHES_PER_RUN` batches: with more records than they hold, the
/// rest wait for the next run.
#[test]
fn a_run_submits_at_most_the_batches_a_run_may_send() {
	let (mut ext, state, pool) = offchain_ext(&[OPERATOR], None);
	let many: Vec<_> =
		(1..=u64::from(feed_limit()) + 3).map(|seq| record(seq, seq, "01")).collect();
	expect_get(&state, 0, answer(&many));
	ext.execute_with(|| {
		UsageAttestation::offchain_worker(1);
		let calls = submitted(&pool);
		assert_eq!(calls.len(), MAX_BATCHES_PER_RUN as usize);
		assert_eq!(counter(RECORDS_KEY), u64::from(feed_limit()));
		assert!(calls.iter().all(|(_, call)| matches!(
			call,
			RuntimeCall::UsageAttestation(Call::attest { entries, .. }) if entries.len() == 4
		)));
	});
}

/// The batches of a run fill one block by the weight they are expected to take, the last cut
/// to the records whose declared weight still fits: a block author includes a transaction
/// while its declared weight fits what the ones before left after their refunds.
#[test]
fn a_run_fills_the_block_by_the_weight_its_batches_are_expected_to_take() {
	let (mut ext, state, pool) = offchain_ext(&[OPERATOR], None);
	let weights: frame_system::limits::BlockWeights =
		<Test as frame_system::Config>::BlockWeights::get();
	let normal = weights.get(DispatchClass::Normal).clone();
	let room = normal.max_total.expect("a normal-class limit").ref_time();
	// A batch of 4 records declares a little over 40% of the room: two fit, not three.
	WORST_PER_RECORD.set(room / 10);
	let overhead = UsageAttestation::attest_weight(4).ref_time() + normal.base_extrinsic.ref_time()
		- 4 * (room / 10);
	assert!(overhead < room / 1_000, "the mock's own weights are small against the room");
	let many: Vec<_> = (1..=u64::from(feed_limit())).map(|seq| record(seq, seq, "01")).collect();
	let sizes = |pool: &Shared<PoolState>| -> Vec<usize> {
		submitted(pool)
			.into_iter()
			.map(|(_, call)| match call {
				RuntimeCall::UsageAttestation(Call::attest { entries, .. }) => entries.len(),
				other => panic!("not an attestation: {other:?}"),
			})
			.collect()
	};
	// Expected at the worst case: the two that fit at their declared weight (80% of the
	// room), then one record (10%), and the run ends with the batch it had to cut.
	expect_get(&state, 0, answer(&many));
	ext.execute_with(|| {
		UsageAttestation::offchain_worker(1);
		assert_eq!(sizes(&pool), vec![4, 4, 1]);
	});

	// Expected at a quarter of it (about 10% of the room a batch): after five, 50% of the
	// room plus a declared 40% still fit; after six, 60% and a declared 30% (three records).
	let (mut ext, state, pool) = offchain_ext(&[OPERATOR], None);
	WORST_PER_RECORD.set(room / 10);
	EXPECTED_PER_RECORD.set(Some(room / 40));
	expect_get(&state, 0, answer(&many));
	ext.execute_with(|| {
		UsageAttestation::offchain_worker(1);
		assert_eq!(sizes(&pool), vec![4, 4, 4, 4, 4, 4, 3]);
		assert_eq!(counter(RECORDS_KEY), 27);
	});
}

/// A record that cannot be read ends its batch; the next batch of the same run declares it
/// void, and records already attested are skipped.
#[test]
fn a_batch_stops_at_the_first_record_it_cannot_read() {
	let (mut ext, state, pool) = offchain_ext(&[OPERATOR], None);
	ext.execute_with(|| LastSeq::<Test>::insert(PROVIDER, 2));
	let records = [record(1, 5, "01"), record(2, 5, "01"), record(3, 6, "01"), record(4, 7, "0x1")];
	expect_get(&state, 2, answer(&records));
	ext.execute_with(|| {
		UsageAttestation::offchain_worker(1);
		let void = RuntimeCall::UsageAttestation(Call::void_record {
			provider: PROVIDER,
			seq: 4,
			reason: b"voucher.signature".to_vec().try_into().unwrap(),
		});
		assert_eq!(
			submitted(&pool),
			vec![(OPERATOR, attest_call(3, vec![entry(6, 30)])), (OPERATOR, void)]
		);
		assert_eq!(failures(), NO_FAILURES);
	});
}

#[test]
fn nothing_new_in_the_feed_submits_nothing() {
	let (mut ext, state, pool) = offchain_ext(&[OPERATOR], None);
	ext.execute_with(|| LastSeq::<Test>::insert(PROVIDER, 1));
	expect_get(&state, 1, answer(&[record(1, 5, "01")]));
	ext.execute_with(|| {
		UsageAttestation::offchain_worker(1);
		assert!(submitted(&pool).is_empty());
		assert_eq!(failures(), NO_FAILURES);
	});
}

#[test]
fn without_an_operator_key_or_a_feed_the_worker_does_nothing() {
	// Keys that are no registered operator (a stranger, another provider's operator not
	// registered): no request is made (one would find no answer and fail the test).
	let (mut ext, _state, pool) = offchain_ext(&[STRANGER, OTHER_OPERATOR], None);
	ext.execute_with(|| {
		UsageAttestation::offchain_worker(1);
		assert!(submitted(&pool).is_empty());
	});
	// An operator key, but no feed URL.
	let (mut ext, _state, pool) = offchain_ext(&[OPERATOR], None);
	ext.execute_with(|| {
		sp_io::offchain::local_storage_clear(StorageKind::PERSISTENT, FEED_URL_KEY);
		UsageAttestation::offchain_worker(1);
		assert!(submitted(&pool).is_empty());
		assert_eq!(failures(), NO_FAILURES);
	});
}

#[test]
fn two_operator_keys_of_one_provider_attest_once() {
	let (mut ext, state, pool) = offchain_ext(&[OPERATOR, SECOND_OPERATOR], None);
	ext.execute_with(|| {
		assert_ok!(UsageAttestation::register_operator(
			RuntimeOrigin::signed(PROVIDER),
			SECOND_OPERATOR
		));
	});
	expect_get(&state, 0, answer(&[record(1, 5, "01")]));
	ext.execute_with(|| {
		UsageAttestation::offchain_worker(1);
		assert_eq!(submitted(&pool).len(), 1);
	});
}

#[test]
fn hex_decoding() {
	assert_eq!(decode_hex("0x01ff"), Some(vec![1, 255]));
	assert_eq!(decode_hex("01FF"), Some(vec![1, 255]));
	assert_eq!(decode_hex(""), Some(vec![]));
	assert_eq!(decode_hex("0x1"), None);
	assert_eq!(decode_hex("0xzz"), None);
}

/// A provider declared room for 70 tokens: the worker attests the two 30-token records that
/// fit and leaves the third for a later epoch instead of losing it; with no room at all it
/// submits nothing and counts no failure.
#[test]
fn the_worker_attests_only_what_fits_the_remaining_capacity() {
	let (mut ext, state, pool) = offchain_ext(&[OPERATOR], None);
	ext.execute_with(|| {
		assert_ok!(UsageAttestation::set_capacity(RuntimeOrigin::signed(PROVIDER), 70));
	});
	let records = [record(1, 5, "0x01"), record(2, 6, "0x01"), record(3, 7, "0x01")];
	expect_get(&state, 0, answer(&records));
	ext.execute_with(|| {
		UsageAttestation::offchain_worker(1);
		assert_eq!(
			submitted(&pool),
			vec![(OPERATOR, attest_call(1, vec![entry(5, 30), entry(6, 30)]))]
		);
		let (_, call) = submitted(&pool).remove(0);
		assert_ok!(call.dispatch(RuntimeOrigin::signed(OPERATOR)));
		assert_eq!(LastSeq::<Test>::get(PROVIDER), 2);
		assert_eq!(UsageAttestation::remaining_capacity(&OPERATOR, &PROVIDER), 10);
	});
	expect_get(&state, 2, answer(&records[2..]));
	ext.execute_with(|| {
		UsageAttestation::offchain_worker(2);
		assert_eq!(submitted(&pool).len(), 1, "nothing fits: nothing submitted");
		assert_eq!(failures(), NO_FAILURES);
	});
}

/// A feed that sends its headers and then stalls its body: the worker reads the body with the
/// request's deadline, gives up at it, counts the feed unreachable and submits nothing.
#[test]
fn a_feed_that_stalls_its_body_is_given_up_at_the_deadline() {
	let (mut ext, state, pool) = offchain_ext(&[OPERATOR], Some(Fault::StalledBody));
	expect_get(&state, 0, answer(&[record(1, 5, "0x01")]));
	ext.execute_with(|| {
		UsageAttestation::offchain_worker(1);
		assert!(submitted(&pool).is_empty());
		assert_eq!(failures(), vec![("unreachable", 1), ("invalid", 0), ("submit", 0)]);
	});
}

/// A record the runtime cannot read (no voucher, a user that is not an account, a signature
/// that is not hex, a cap above `u64` written as a JSON number) no longer stalls the feed: the
/// worker declares it void, and the usage after it is attested and settled.
#[test]
fn an_unreadable_record_is_declared_void_and_the_usage_after_it_settles() {
	let unreadable = [
		(
			r#"{"seq":1,"user":"5","model":0,"input_tokens":1,"output_tokens":1}"#.to_string(),
			"voucher",
		),
		(record(1, 5, "01").replace("\"5\"", "\"alice\""), "user"),
		(record(1, 5, "0xzz"), "voucher.signature"),
		(
			record(1, 5, "01").replace("\"1000000000000000000000\"", "100000000000000000000000"),
			"voucher.cap",
		),
	];
	for (bad, reason) in unreadable {
		let (ext, state, pool) = offchain_ext(&[OPERATOR], None);
		voids_the_first_and_settles_the_next((ext, state, pool), &bad, reason.as_bytes());
	}
}

/// The feed answers `first` (record 1) and a good record 2: in one run the worker declares
/// record 1 void for `reason` and attests record 2 after it, counting no failure; both
/// included, record 2 settles.
fn voids_the_first_and_settles_the_next(
	(mut ext, state, pool): (CheckedExt, Shared<OffchainState>, Shared<PoolState>),
	first: &str,
	reason: &[u8],
) {
	expect_get(&state, 0, format!("[{first},{}]", record(2, 6, "0x01")).into_bytes());
	ext.execute_with(|| {
		UsageAttestation::offchain_worker(1);
		let void = RuntimeCall::UsageAttestation(Call::void_record {
			provider: PROVIDER,
			seq: 1,
			reason: reason.to_vec().try_into().unwrap(),
		});
		assert_eq!(
			submitted(&pool),
			vec![(OPERATOR, void), (OPERATOR, attest_call(2, vec![entry(6, 30)]))],
			"{first}"
		);
		assert_eq!(failures(), NO_FAILURES);
		for (_, call) in submitted(&pool) {
			assert_ok!(call.dispatch(RuntimeOrigin::signed(OPERATOR)));
		}
		assert_eq!(LastSeq::<Test>::get(PROVIDER), 2);
		assert_eq!(settled(), vec![(PROVIDER, vec![entry(6, 30)])]);
	});
}

/// Issue 28 §6: a record larger than the provider's whole epoch capacity never fits an epoch,
/// and it held up every record after it for good. It is declared void; the next settles.
#[test]
fn a_record_larger_than_the_whole_capacity_is_declared_void() {
	let (mut ext, state, pool) = offchain_ext(&[OPERATOR], None);
	ext.execute_with(|| {
		assert_ok!(UsageAttestation::set_capacity(RuntimeOrigin::signed(PROVIDER), 70));
	});
	let huge = record(1, 5, "0x01").replace("\"input_tokens\":10", "\"input_tokens\":100");
	voids_the_first_and_settles_the_next((ext, state, pool), &huge, VOID_TOO_LARGE);
}
