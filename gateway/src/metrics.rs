//! Prometheus metrics, served at `GET /metrics`.

use prometheus::{
	Encoder, Gauge, Histogram, HistogramOpts, IntCounter, IntCounterVec, Opts, Registry,
	TextEncoder,
};

/// The gateway's metrics.
#[derive(Clone)]
pub struct Metrics {
	registry: Registry,
	/// Requests by outcome (the HTTP status: `200`, `402`, `403`, `429`, `5xx`, ...).
	pub requests: IntCounterVec,
	/// Tokens charged, by kind (`input`, `output`).
	pub tokens: IntCounterVec,
	/// Answers without usage numbers (charged nothing).
	pub usage_missing: IntCounter,
	/// Seconds the upstream took to answer (to the last byte).
	pub upstream_seconds: Histogram,
	/// Value reserved by requests in flight (smallest unit).
	pub reserved: Gauge,
	/// Value charged and not yet settled on chain (smallest unit).
	pub unsettled: Gauge,
	/// Value charged in all (smallest unit).
	pub charged: Gauge,
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
			"Upstream answers without usage numbers, charged nothing",
		)?;
		let upstream_seconds = Histogram::with_opts(HistogramOpts::new(
			"upstream_seconds",
			"Time the upstream took to answer, to the last byte",
		))?;
		let reserved = Gauge::new("reserved_value", "Value reserved by requests in flight")?;
		let unsettled = Gauge::new("unsettled_value", "Value charged and not yet settled")?;
		let charged = Gauge::new("charged_value", "Value charged since the gateway started")?;
		registry.register(Box::new(requests.clone()))?;
		registry.register(Box::new(tokens.clone()))?;
		registry.register(Box::new(usage_missing.clone()))?;
		registry.register(Box::new(upstream_seconds.clone()))?;
		registry.register(Box::new(reserved.clone()))?;
		registry.register(Box::new(unsettled.clone()))?;
		registry.register(Box::new(charged.clone()))?;
		Ok(Metrics {
			registry,
			requests,
			tokens,
			usage_missing,
			upstream_seconds,
			reserved,
			unsettled,
			charged,
		})
	}

	/// The text exposition format.
	pub fn render(&self) -> String {
		let mut out = Vec::new();
		let _ = TextEncoder::new().encode(&self.registry.gather(), &mut out);
		String::from_utf8(out).unwrap_or_default()
	}
}
