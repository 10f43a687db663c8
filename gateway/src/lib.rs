//! `tokenmeter-gateway`: a provider's inference gateway. It sits in front of an
//! OpenAI-compatible model server (llama-server, vLLM, Ollama), checks each request against
//! the chain (voucher, token gate, credits and voucher headroom), forwards it unchanged,
//! charges the upstream's own `usage` numbers, stores every charge durably and serves them,
//! aggregated, as the usage feed the provider's operator node attests on chain.
//!
//! It does not depend on the runtime: the voucher and the bytes it signs come from
//! `tokenmeter-primitives`, chain state from the node's JSON-RPC. See `docs/gateway.md`.

#![deny(missing_docs)]

pub mod access;
pub mod chain;
pub mod config;
pub mod events;
pub mod feedback;
pub mod http;
pub mod ledger;
pub mod limits;
pub mod metrics;
pub mod payment;
pub mod schedule;
pub mod store;
pub mod upstream;

use std::{
	future::{Future, IntoFuture},
	sync::Arc,
	time::Duration,
};

use sp_core::crypto::Ss58Codec;
use sp_runtime::AccountId32;

/// Opens the database and reads the chain's state at start: records the chain attested are
/// never numbered again, even if the database was lost or reset.
async fn open_books(
	settings: &config::Settings,
	node: &chain::Node,
	provider: &AccountId32,
	cache: &chain::Cache,
) -> Result<store::Store, String> {
	std::fs::create_dir_all(&settings.data_dir)
		.map_err(|e| format!("cannot create {}: {e}", settings.data_dir.display()))?;
	// A request holds its reservation while it queues and while the upstream answers.
	let hold = settings.queue_timeout
		+ settings.upstream_timeout.max(settings.stream_timeout)
		+ Duration::from_secs(60);
	let sync = if settings.sync_every_commit { store::Sync::Full } else { store::Sync::Normal };
	let store = match &settings.database {
		Some(url) => store::Store::connect(url, &settings.instance, hold, sync).await,
		None => store::Store::open(&settings.data_dir.join("usage.db"), sync).await,
	}
	.map_err(|e| format!("cannot open the database: {e}"))?;
	let view = chain::refresh(node, provider, cache)
		.await
		.map_err(|e| format!("cannot read the chain: {e}"))?;
	if let Some(view) = &view {
		let best_last_seq = node
			.last_seq(provider, view.hash)
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
	Ok(store)
}

/// Turns charges into feed records every `every` (reading the feed never writes).
async fn seal_every(store: store::Store, every: Duration) {
	let mut timer = tokio::time::interval(every);
	timer.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
	loop {
		timer.tick().await;
		if let Err(error) = store.seal().await {
			tracing::warn!(%error, "cannot seal the usage feed");
		}
	}
}

/// Binds `addr`, with small writes (a streamed answer's events) sent at once, not after the
/// client's delayed acknowledgement (~40 ms).
async fn bind(
	addr: std::net::SocketAddr,
	what: &str,
) -> Result<impl axum::serve::Listener<Addr = std::net::SocketAddr>, String> {
	let listener = tokio::net::TcpListener::bind(addr)
		.await
		.map_err(|e| format!("cannot listen on {addr} ({what}): {e}"))?;
	Ok(axum::serve::ListenerExt::tap_io(listener, |tcp| {
		if let Err(error) = tcp.set_nodelay(true) {
			tracing::debug!(%error, "cannot set TCP_NODELAY");
		}
	}))
}

/// Starts serving with `settings` until `shutdown` resolves; then drains: no new connection is
/// accepted, answers in flight finish (within `--drain-secs`), and the feed is sealed.
pub async fn run(
	settings: config::Settings,
	shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), String> {
	let provider = AccountId32::from_ss58check(&settings.provider)
		.map_err(|_| format!("--provider `{}` is not an SS58 address", settings.provider))?;
	let node = chain::Node::with_ca(&settings.node, settings.node_ca_cert.as_deref())?;
	let genesis = node
		.genesis()
		.await
		.map_err(|e| format!("cannot reach the node at {}: {e}", settings.node))?;
	let cache = Arc::new(chain::Cache::default());
	let store = open_books(&settings, &node, &provider, &cache).await?;
	// For model servers at https:// addresses or behind a proxy, and the tokenizer and health
	// checks: the same timeouts as the gateway's own client (upstream::client).
	let http = reqwest::Client::builder()
		.connect_timeout(upstream::CONNECT_TIMEOUT)
		.pool_idle_timeout(upstream::IDLE_TIMEOUT)
		.build()
		.map_err(|e| format!("cannot build the HTTP client: {e}"))?;
	let upstreams = upstream::Upstreams::new(&settings.upstream, &settings.model_upstreams);
	let (max_in_flight, max_queue, queue_timeout) =
		(settings.max_in_flight, settings.max_queue, settings.queue_timeout);
	let scheduler = if store.backend() == store::Backend::Postgres && !settings.local_queue {
		schedule::Scheduler::shared(store.clone(), max_in_flight, max_queue, queue_timeout)
			.await
			.map_err(|e| format!("cannot start the fleet's queue: {e}"))?
	} else {
		schedule::Scheduler::new(max_in_flight, max_queue, queue_timeout)
	};
	let (listen, operator_listen, poll) =
		(settings.listen, settings.operator_listen, settings.poll);
	let (drain, seal, health_every) = (settings.drain, settings.seal_every, settings.health_every);
	let (settings_access_log, log_json) = (!settings.no_access_log, settings.log_json);
	let (settings_answers_kept, settings_answers_for) =
		(settings.answers_kept, settings.answers_kept_for);
	let app = Arc::new(http::App {
		scheduler,
		limiter: limits::Limiter::for_store(&store),
		verified: Default::default(),
		settings,
		provider: provider.clone(),
		genesis,
		network: payment::network_id(&genesis),
		node: node.clone(),
		cache: cache.clone(),
		store: store.clone(),
		http: http.clone(),
		upstreams: upstreams.clone(),
		metrics: metrics::Metrics::new().map_err(|e| e.to_string())?,
		answers: Default::default(),
		served: feedback::Served::new(settings_answers_kept, settings_answers_for),
		access: if settings_access_log {
			access::AccessLog::stderr(log_json)
		} else {
			access::AccessLog::off()
		},
	});
	upstreams.check(&http, Duration::from_secs(2)).await;
	let background = [
		tokio::spawn(upstreams.run_checks(http, health_every)),
		tokio::spawn(seal_every(store.clone(), seal)),
		tokio::spawn(
			events::Reconciler::new(
				node.clone(),
				store.clone(),
				provider.clone(),
				app.metrics.clone(),
			)
			.run(poll),
		),
		{
			let follower = app.clone();
			tokio::spawn(chain::follow(node, provider, cache, poll, move |view| {
				follower.on_view(view)
			}))
		},
	];
	let public = bind(listen, "--listen").await?;
	let operator = bind(operator_listen, "--operator-listen").await?;
	tracing::info!(
		%listen, operator = %operator_listen, genesis = %payment::hex(genesis.as_bytes()),
		"tokenmeter-gateway serving"
	);

	// One shutdown signal for both listeners; the drain is bounded.
	let (stop, stopped) = tokio::sync::watch::channel(false);
	let signal = |mut rx: tokio::sync::watch::Receiver<bool>| async move {
		let _ = rx.wait_for(|stop| *stop).await;
	};
	let public = axum::serve(public, http::public_router(app.clone()))
		.with_graceful_shutdown(signal(stopped.clone()));
	let operator = axum::serve(operator, http::operator_router(app.clone()))
		.with_graceful_shutdown(signal(stopped.clone()));
	let servers = async { tokio::try_join!(public.into_future(), operator.into_future()) };
	tokio::pin!(servers);
	tokio::select! {
		result = &mut servers => {
			result.map_err(|e| e.to_string())?;
		}
		() = shutdown => {
			tracing::info!(in_flight = app.answers.len(), "shutting down: draining answers in flight");
			let _ = stop.send(true);
			let drained = async {
				let _ = (&mut servers).await;
				app.answers.idle().await;
			};
			if tokio::time::timeout(drain, drained).await.is_err() {
				tracing::warn!(
					in_flight = app.answers.len(),
					"answers still in flight after --drain-secs; stopping anyway"
				);
			}
		}
	};
	for task in background {
		task.abort();
	}
	store.seal().await.map_err(|e| format!("cannot seal the usage feed: {e}"))?;
	tracing::info!("tokenmeter-gateway stopped");
	Ok(())
}
