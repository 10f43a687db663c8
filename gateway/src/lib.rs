//! `tokenmeter-gateway`: a provider's inference gateway. It sits in front of an
//! OpenAI-compatible model server (llama-server, vLLM, Ollama), checks each request against
//! the chain (voucher, token gate, credits and voucher headroom), forwards it unchanged,
//! charges the upstream's own `usage` numbers, stores every charge durably and serves them,
//! aggregated, as the usage feed the provider's operator node attests on chain.
//!
//! It does not depend on the runtime: the voucher and the bytes it signs come from
//! `tokenmeter-primitives`, chain state from the node's JSON-RPC. See `docs/gateway.md`.

#![deny(missing_docs)]

pub mod chain;
pub mod config;
pub mod events;
pub mod ledger;
pub mod limits;
pub mod metrics;
pub mod payment;
pub mod schedule;
pub mod server;
pub mod store;

use std::sync::{Arc, Mutex};

use sp_core::crypto::Ss58Codec;
use sp_runtime::AccountId32;

/// Starts serving with `settings` until `shutdown` resolves.
pub async fn run(
	settings: config::Settings,
	shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<(), String> {
	let provider = AccountId32::from_ss58check(&settings.provider)
		.map_err(|_| format!("--provider `{}` is not an SS58 address", settings.provider))?;
	std::fs::create_dir_all(&settings.data_dir)
		.map_err(|e| format!("cannot create {}: {e}", settings.data_dir.display()))?;
	// A request holds its reservation while it queues and while the upstream answers.
	let hold =
		settings.queue_timeout + settings.upstream_timeout + std::time::Duration::from_secs(60);
	let sync = if settings.sync_every_commit { store::Sync::Full } else { store::Sync::Normal };
	let store = match &settings.database {
		Some(url) => store::Store::connect(url, &settings.instance, hold, sync).await,
		None => store::Store::open(&settings.data_dir.join("usage.db"), sync).await,
	}
	.map_err(|e| format!("cannot open the database: {e}"))?;
	let node = chain::Node::new(&settings.node);
	let genesis = node
		.genesis()
		.await
		.map_err(|e| format!("cannot reach the node at {}: {e}", settings.node))?;
	let cache = Arc::new(chain::Cache::default());
	let view = chain::refresh(&node, &provider, &cache)
		.await
		.map_err(|e| format!("cannot read the chain: {e}"))?;
	if let Some(view) = &view {
		// Records the chain attested (at the best block) are never numbered again, even if
		// the database was lost or reset.
		let best_last_seq = node
			.last_seq(&provider, view.hash)
			.await
			.map_err(|e| format!("cannot read the chain: {e}"))?;
		store
			.skip_seq_to(best_last_seq.max(view.finalized_last_seq))
			.await
			.map_err(|e| format!("cannot update the database: {e}"))?;
		store
			.attested(view.finalized_last_seq)
			.await
			.map_err(|e| format!("cannot update the database: {e}"))?;
	}
	let http = reqwest::Client::builder()
		.timeout(settings.upstream_timeout)
		.build()
		.map_err(|e| format!("cannot build the HTTP client: {e}"))?;
	let listen = settings.listen;
	let poll = settings.poll;
	let scheduler = schedule::Scheduler::new(
		settings.max_in_flight,
		settings.max_queue,
		settings.queue_timeout,
	);
	let url = |path: &str| {
		let url = format!("{}{path}", settings.upstream);
		reqwest::Url::parse(&url).map_err(|e| format!("--upstream: `{url}` is not a URL: {e}"))
	};
	let (upstream_chat, upstream_completions) = (url("/chat/completions")?, url("/completions")?);
	let app = Arc::new(server::App {
		scheduler,
		limiter: Mutex::new(limits::RateLimiter::default()),
		verified: Default::default(),
		settings,
		provider: provider.clone(),
		genesis,
		network: payment::network_id(&genesis),
		node: node.clone(),
		cache: cache.clone(),
		store,
		http,
		upstream_chat,
		upstream_completions,
		metrics: metrics::Metrics::new().map_err(|e| e.to_string())?,
	});
	let reconciler = events::Reconciler::new(
		node.clone(),
		app.store.clone(),
		provider.clone(),
		app.metrics.clone(),
	);
	tokio::spawn(reconciler.run(poll));
	let follower = app.clone();
	tokio::spawn(chain::follow(node, provider, cache, poll, move |view| follower.on_view(view)));
	let listener = tokio::net::TcpListener::bind(listen)
		.await
		.map_err(|e| format!("cannot listen on {listen}: {e}"))?;
	tracing::info!(%listen, genesis = %payment::hex(genesis.as_bytes()), "tokenmeter-gateway serving");
	// Small writes (a streamed answer's events) go out at once, not after the client's
	// delayed acknowledgement (~40 ms).
	let listener = axum::serve::ListenerExt::tap_io(listener, |tcp| {
		if let Err(error) = tcp.set_nodelay(true) {
			tracing::debug!(%error, "cannot set TCP_NODELAY");
		}
	});
	axum::serve(listener, server::router(app))
		.with_graceful_shutdown(shutdown)
		.await
		.map_err(|e| e.to_string())
}
