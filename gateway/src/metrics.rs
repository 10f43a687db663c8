//! Prometheus metrics, served at `GET /metrics`.

use prometheus::{
	CounterVec, Encoder, Gauge, GaugeVec, Histogram, HistogramOpts, IntCounter, IntCounterVec,
	Opts, Registry, TextEncoder,
};

/// Buckets for the durations of LLM answers: milliseconds to ten minutes.
const ANSWER_BUCKETS: &[f64] =
	&[0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0];

use crate::events::Settlement;

/// The gateway's metrics.
#[derive(Clone)]
pub struct Metrics {
	registry: Registry,
	/// Requests by outcome (the HTTP status: `200`, `402`, `403`, `429`, `5xx`, ...).
	pub requests: IntCounterVec,
	/// Tokens charged, by kind (`input`, `output`).
	pub tokens: IntCounterVec,
	/// `requests` with outcome `200`, `tokens` of kinds `input` and `output`: the series every
	/// served request counts, resolved once rather than looked up by label per request.
	pub served: IntCounter,
	/// See `served`.
	pub input_tokens: IntCounter,
	/// See `served`.
	pub output_tokens: IntCounter,
	/// Answers without usage numbers (charged by counting their tokens).
	pub usage_missing: IntCounter,
	/// Feedback stored (`POST /v1/feedback`).
	pub feedback: IntCounter,
	/// Answers whose tokens were counted, by how (`tokenizer`: the upstream's; `estimate`:
	/// from their length, when the upstream has no tokenizer).
	pub usage_counted: IntCounterVec,
	/// Streamed answers that failed part-way (charged what was delivered).
	pub upstream_failures: IntCounter,
	/// Seconds the upstream took to answer (to the last byte).
	pub upstream_seconds: Histogram,
	/// Seconds to the first event of a streamed answer (the whole answer of one that is not).
	pub first_token_seconds: Histogram,
	/// Requests with the upstreams now.
	pub in_flight: Gauge,
	/// Requests waiting for a place with the upstreams.
	pub queued: Gauge,
	/// Whether each upstream replica passed its last health check (1) or not (0).
	pub upstream_up: GaugeVec,
	/// Access log lines dropped because stderr could not keep up.
	pub access_log_dropped: Gauge,
	/// Value reserved by requests in flight (smallest unit).
	pub reserved: Gauge,
	/// Value charged and not yet settled on chain (smallest unit).
	pub unsettled: Gauge,
	/// Value charged in all (smallest unit).
	pub charged: Gauge,
	/// What the chain did with the provider's usage (smallest unit), by outcome: `settled`
	/// (paid, fee included), `fee`, `above_cap` and `shortfall` (not paid).
	pub chain_value: CounterVec,
	/// Usage entries the chain rejected, by reason.
	pub chain_rejected: IntCounterVec,
	/// The last finalised block whose settlement events were read.
	pub reconciled_block: Gauge,
	/// Blocks skipped because the gateway fell too far behind to read them.
	pub reconcile_skipped_blocks: IntCounter,
	/// Requests refused over their tier's rate limit (429).
	pub rate_limited: IntCounter,
	/// Requests refused after waiting too long for the upstream (503).
	pub queue_timeouts: IntCounter,
	/// Time requests waited for a place with the upstream.
	pub queue_seconds: Histogram,
	/// Users' states read from the node (set from `chain::USER_STATE_READS` when rendered).
	pub user_state_reads: IntCounter,
}

impl Metrics {
	/// Registers every metric.
	pub fn new() -> Result<Self, prometheus::Error> {
		let registry = Registry::new_custom(Some("tokenmeter_gateway".into()), None)?;
		let requests = IntCounterVec::new(
			Opts::new("requests_total", "Inference requests by outcome (HTTP status)"),
			&["outcome"],
		)?;
		let tokens =
			IntCounterVec::new(Opts::new("tokens_total", "Tokens charged, by kind"), &["kind"])?;
		let usage_missing = IntCounter::new(
			"usage_missing_total",
			"Upstream answers without usage numbers, charged by counting their tokens",
		)?;
		let feedback = IntCounter::new("feedback_total", "Feedback about served answers stored")?;
		let usage_counted = IntCounterVec::new(
			Opts::new("usage_counted_total", "Answers whose tokens were counted, by how"),
			&["by"],
		)?;
		let upstream_failures = IntCounter::new(
			"upstream_failures_total",
			"Streamed answers that failed part-way, charged what was delivered",
		)?;
		let upstream_seconds = Histogram::with_opts(
			HistogramOpts::new(
				"upstream_seconds",
				"Time the upstream took to answer, to the last byte",
			)
			.buckets(ANSWER_BUCKETS.to_vec()),
		)?;
		let first_token_seconds = Histogram::with_opts(
			HistogramOpts::new(
				"first_token_seconds",
				"Time to the first event of a streamed answer (to the whole of one that is not)",
			)
			.buckets(ANSWER_BUCKETS.to_vec()),
		)?;
		let in_flight = Gauge::new("upstream_in_flight", "Requests with the upstreams now")?;
		let queued = Gauge::new("queued", "Requests waiting for a place with the upstreams")?;
		let upstream_up = GaugeVec::new(
			Opts::new("upstream_up", "Whether an upstream replica passed its last health check"),
			&["upstream"],
		)?;
		let access_log_dropped = Gauge::new(
			"access_log_dropped_total",
			"Access log lines dropped because stderr could not keep up",
		)?;
		registry.register(Box::new(access_log_dropped.clone()))?;
		registry.register(Box::new(usage_counted.clone()))?;
		registry.register(Box::new(upstream_failures.clone()))?;
		registry.register(Box::new(first_token_seconds.clone()))?;
		registry.register(Box::new(in_flight.clone()))?;
		registry.register(Box::new(queued.clone()))?;
		registry.register(Box::new(upstream_up.clone()))?;
		let reserved = Gauge::new("reserved_value", "Value reserved by requests in flight")?;
		let unsettled = Gauge::new("unsettled_value", "Value charged and not yet settled")?;
		let charged = Gauge::new("charged_value", "Value charged since the gateway started")?;
		let chain_value = CounterVec::new(
			Opts::new(
				"chain_value_total",
				"What the chain did with the provider's usage, by outcome (smallest unit)",
			),
			&["outcome"],
		)?;
		let chain_rejected = IntCounterVec::new(
			Opts::new("chain_rejected_entries_total", "Usage entries the chain rejected"),
			&["reason"],
		)?;
		let reconciled_block = Gauge::new(
			"reconciled_block",
			"The last finalised block whose settlement events were read",
		)?;
		let reconcile_skipped_blocks = IntCounter::new(
			"reconcile_skipped_blocks_total",
			"Blocks whose events were not read because the gateway fell too far behind",
		)?;
		let rate_limited = IntCounter::new(
			"rate_limited_total",
			"Requests refused over their tier's rate limit (429)",
		)?;
		let queue_timeouts = IntCounter::new(
			"queue_timeouts_total",
			"Requests refused after waiting too long for the upstream (503)",
		)?;
		let queue_seconds = Histogram::with_opts(
			HistogramOpts::new("queue_seconds", "Time requests waited for the upstream")
				.buckets(vec![0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 30.0]),
		)?;
		registry.register(Box::new(rate_limited.clone()))?;
		registry.register(Box::new(queue_timeouts.clone()))?;
		registry.register(Box::new(queue_seconds.clone()))?;
		registry.register(Box::new(chain_value.clone()))?;
		registry.register(Box::new(chain_rejected.clone()))?;
		registry.register(Box::new(reconciled_block.clone()))?;
		registry.register(Box::new(reconcile_skipped_blocks.clone()))?;
		registry.register(Box::new(requests.clone()))?;
		registry.register(Box::new(tokens.clone()))?;
		registry.register(Box::new(usage_missing.clone()))?;
		registry.register(Box::new(feedback.clone()))?;
		registry.register(Box::new(upstream_seconds.clone()))?;
		registry.register(Box::new(reserved.clone()))?;
		registry.register(Box::new(unsettled.clone()))?;
		registry.register(Box::new(charged.clone()))?;
		let user_state_reads = IntCounter::new(
			"chain_user_reads_total",
			"Users' states read from the node (credits, tier, ledger, signer)",
		)?;
		registry.register(Box::new(user_state_reads.clone()))?;
		Ok(Metrics {
			registry,
			served: requests.with_label_values(&["200"]),
			input_tokens: tokens.with_label_values(&["input"]),
			output_tokens: tokens.with_label_values(&["output"]),
			requests,
			tokens,
			usage_missing,
			feedback,
			usage_counted,
			upstream_failures,
			upstream_seconds,
			first_token_seconds,
			in_flight,
			queued,
			upstream_up,
			access_log_dropped,
			reserved,
			unsettled,
			charged,
			chain_value,
			chain_rejected,
			reconciled_block,
			reconcile_skipped_blocks,
			rate_limited,
			queue_timeouts,
			queue_seconds,
			user_state_reads,
		})
	}

	/// Counts a settlement event.
	pub fn settlement(&self, settlement: &Settlement) {
		let add = |outcome: &str, value: u128| {
			self.chain_value.with_label_values(&[outcome]).inc_by(value as f64)
		};
		match settlement {
			Settlement::Settled { charged, from_allowance, fee, .. } => {
				add("settled", charged.saturating_add(*from_allowance));
				add("fee", *fee);
			}
			Settlement::AboveCap { unpaid, .. } => add("above_cap", *unpaid),
			Settlement::Shortfall { unpaid, .. } => add("shortfall", *unpaid),
			Settlement::Rejected { entries, reason, .. } => {
				self.chain_rejected.with_label_values(&[reason]).inc_by(u64::from(*entries))
			}
		}
	}

	/// The text exposition format.
	pub fn render(&self) -> String {
		let reads = crate::chain::USER_STATE_READS.load(std::sync::atomic::Ordering::Relaxed);
		self.user_state_reads.inc_by(reads.saturating_sub(self.user_state_reads.get()));
		let mut out = Vec::new();
		let _ = TextEncoder::new().encode(&self.registry.gather(), &mut out);
		String::from_utf8(out).unwrap_or_default()
	}
}

#[cfg(test)]
mod tests {
	use super::*;

	#[test]
	fn the_resolved_series_are_the_labelled_ones() {
		let metrics = Metrics::new().unwrap();
		metrics.served.inc();
		metrics.requests.with_label_values(&["200"]).inc();
		metrics.input_tokens.inc_by(5);
		metrics.output_tokens.inc_by(7);
		let text = metrics.render();
		assert!(text.contains("tokenmeter_gateway_requests_total{outcome=\"200\"} 2"), "{text}");
		assert!(text.contains("tokenmeter_gateway_tokens_total{kind=\"input\"} 5"), "{text}");
		assert!(text.contains("tokenmeter_gateway_tokens_total{kind=\"output\"} 7"), "{text}");
	}
}
