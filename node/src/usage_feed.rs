//! The node's side of usage attestation: hands the `--usage-feed` URL to the off-chain worker
//! and exports the worker's counters as Prometheus metrics.
//!
//! Both go through the node's persistent off-chain storage, which the worker (in the runtime)
//! reads and writes: the URL under [`FEED_URL_KEY`], the counters as little-endian `u64`s.

use pallet_usage_attestation::ocw::{Failure, FEED_URL_KEY, RECORDS_KEY, SUBMITTED_KEY};
use sp_core::offchain::OffchainStorage;
use sp_offchain::STORAGE_PREFIX;
use substrate_prometheus_endpoint::{
	register, MetricSource, Opts, PrometheusError, Registry, SourcedCounter,
};

/// Stores the feed URL where the off-chain worker looks for it.
pub fn set_feed_url(storage: &mut impl OffchainStorage, url: &str) {
	storage.set(STORAGE_PREFIX, FEED_URL_KEY, url.as_bytes());
}

/// The feed URL an earlier run stored, if any.
pub fn stored_feed_url(storage: &impl OffchainStorage) -> Option<String> {
	storage.get(STORAGE_PREFIX, FEED_URL_KEY).and_then(|url| String::from_utf8(url).ok())
}

/// Whether the keystore holds an operator key (type `tmat`).
pub fn has_operator_key(keystore: &dyn sp_keystore::Keystore) -> bool {
	keystore.keys(pallet_usage_attestation::KEY_TYPE).is_ok_and(|keys| !keys.is_empty())
}

/// Counters read from off-chain storage when Prometheus scrapes: label values and key.
#[derive(Clone)]
struct Counters<S> {
	storage: S,
	counters: Vec<(Vec<&'static str>, Vec<u8>)>,
}

impl<S: OffchainStorage> MetricSource for Counters<S> {
	type N = u64;

	fn collect(&self, mut set: impl FnMut(&[&str], u64)) {
		for (labels, key) in &self.counters {
			let value = self
				.storage
				.get(STORAGE_PREFIX, key)
				.and_then(|bytes| Some(u64::from_le_bytes(bytes.try_into().ok()?)))
				.unwrap_or(0);
			set(labels, value);
		}
	}
}

/// Registers the worker's metrics (labelled with the chain like every node metric):
/// `tokenmeter_usage_attestations_submitted_total`, `tokenmeter_usage_attested_records_total`
/// and `tokenmeter_usage_attestations_failed_total{reason="unreachable"|"invalid"|"submit"}`.
pub fn register_metrics<S: OffchainStorage + 'static>(
	registry: &Registry,
	storage: S,
) -> Result<(), PrometheusError> {
	let one =
		|key: &[u8]| Counters { storage: storage.clone(), counters: vec![(vec![], key.to_vec())] };
	register(
		SourcedCounter::new(
			&Opts::new(
				"tokenmeter_usage_attestations_submitted_total",
				"Attestations the usage off-chain worker submitted to the transaction pool",
			),
			one(SUBMITTED_KEY),
		)?,
		registry,
	)?;
	register(
		SourcedCounter::new(
			&Opts::new(
				"tokenmeter_usage_attested_records_total",
				"Usage records in the attestations the off-chain worker submitted",
			),
			one(RECORDS_KEY),
		)?,
		registry,
	)?;
	let failures = Counters {
		storage,
		counters: Failure::ALL.iter().map(|f| (vec![f.label()], f.counter_key())).collect(),
	};
	register(
		SourcedCounter::new(
			&Opts::new(
				"tokenmeter_usage_attestations_failed_total",
				"Runs of the usage off-chain worker that attested nothing: the feed was \
				 unreachable, its answer invalid, or the pool refused the transaction",
			)
			.variable_label("reason"),
			failures,
		)?,
		registry,
	)?;
	Ok(())
}
