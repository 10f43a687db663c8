// Starts a Tokenmeter node for a test file and connects @polkadot/api to it.
//
// One node per test file: `startDevNode()` in `before`, `node.stop()` in `after`. The node runs
// with `--dev --tmp` on free ports, so test files never share state and nothing is left behind.

import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { ApiPromise, WsProvider } from '@polkadot/api';

const here = path.dirname(fileURLToPath(import.meta.url));
const repoRoot = path.resolve(here, '..', '..');

/** The node binary: $TOKENMETER_NODE, else the release build in the project's target dir. */
export function nodeBinary() {
  const candidates = [
    process.env.TOKENMETER_NODE,
    process.env.CARGO_TARGET_DIR && path.join(process.env.CARGO_TARGET_DIR, 'release', 'tokenmeter-node'),
    path.join(os.homedir(), '.cache', 'tokenmeter', 'target', 'release', 'tokenmeter-node'),
    path.join(repoRoot, 'target', 'release', 'tokenmeter-node'),
  ].filter(Boolean);
  const found = candidates.find((candidate) => existsSync(candidate));
  if (!found) {
    throw new Error(`tokenmeter-node not found; build it (scripts/dev.sh) or set TOKENMETER_NODE. Looked in: ${candidates.join(', ')}`);
  }
  return found;
}

// Ports handed out are below the kernel's ephemeral range: a port the kernel picked for
// `listen(0)` goes back to that range when closed, and any outgoing connection on the machine
// (the other e2e lane's clients, gateways and load) may take it as its source port before
// the node that was given it binds it — the node then fails to start. Seen once, as a
// testnet validator that did not start while the main lane ran.
const [EPHEMERAL_FROM] = (() => {
  try {
    return readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/).map(Number);
  } catch {
    return [32768];
  }
})();
const PORTS_FROM = 10_000;
const PORTS_TO = Math.max(PORTS_FROM + 1000, Math.min(EPHEMERAL_FROM, 32768));
const handedOut = new Set();

/** Whether nobody listens on `port` right now. */
const bindable = (port) => new Promise((resolve) => {
  const server = net.createServer();
  server.unref();
  server.once('error', () => resolve(false));
  server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
});

/**
 * A TCP port nobody listens on right now, outside the ephemeral range (chosen at random, so
 * that test processes running side by side rarely pick the same one), never the same twice
 * in one process.
 */
export async function freePort() {
  for (let attempt = 0; attempt < 1000; attempt += 1) {
    const port = PORTS_FROM + Math.floor(Math.random() * (PORTS_TO - PORTS_FROM));
    if (handedOut.has(port) || !(await bindable(port))) continue;
    handedOut.add(port);
    return port;
  }
  throw new Error(`no free port in ${PORTS_FROM}..${PORTS_TO}`);
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Starts `tokenmeter-node --dev --tmp` on free ports and connects an ApiPromise.
 * Returns `{ api, rpcPort, prometheusPort, logs, stop }`; `stop()` disconnects and kills the node.
 */
export async function startDevNode({ extraArgs = [], timeoutMs = 60_000 } = {}) {
  return startNode({ args: ['--dev', '--tmp', '--port', String(await freePort()), ...extraArgs], timeoutMs });
}

/**
 * Starts `tokenmeter-node <args>` with its RPC and Prometheus on free ports and connects an
 * ApiPromise. Returns `{ api, rpcPort, prometheusPort, logs, stop }`; `stop()` disconnects and
 * stops the node (SIGINT, then SIGKILL after 10 s).
 */
export async function startNode({ args: nodeArgs, timeoutMs = 60_000 }) {
  const [rpcPort, prometheusPort] = [await freePort(), await freePort()];
  const args = [
    ...nodeArgs,
    '--rpc-port', String(rpcPort),
    '--prometheus-port', String(prometheusPort),
    '--no-telemetry',
    '--no-mdns',
  ];
  const child = spawn(nodeBinary(), args, { stdio: ['ignore', 'pipe', 'pipe'] });
  const logs = [];
  const keep = (chunk) => {
    logs.push(chunk.toString());
    if (logs.length > 2000) logs.splice(0, logs.length - 2000);
  };
  child.stdout.on('data', keep);
  child.stderr.on('data', keep);
  let exited = null;
  child.on('exit', (code, signal) => { exited = { code, signal }; });

  // Never leave a node behind, even if the test process dies early.
  const killOnExit = () => { if (exited === null) child.kill('SIGKILL'); };
  process.once('exit', killOnExit);

  const stop = async () => {
    process.removeListener('exit', killOnExit);
    if (api) await api.disconnect().catch(() => {});
    if (exited !== null) return;
    const gone = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGINT');
    const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
    await gone;
    clearTimeout(timer);
  };

  let api;
  const deadline = Date.now() + timeoutMs;
  try {
    // Wait for the RPC port to accept connections before handing it to WsProvider, which
    // would otherwise retry forever and log every failure.
    for (;;) {
      if (exited !== null) throw new Error(`node exited early (${JSON.stringify(exited)}):\n${logs.join('')}`);
      if (Date.now() > deadline) throw new Error(`node RPC not up after ${timeoutMs} ms:\n${logs.join('')}`);
      const open = await new Promise((resolve) => {
        const socket = net.connect(rpcPort, '127.0.0.1');
        socket.once('connect', () => { socket.destroy(); resolve(true); });
        socket.once('error', () => resolve(false));
      });
      if (open) break;
      await sleep(200);
    }
    api = await ApiPromise.create({
      provider: new WsProvider(`ws://127.0.0.1:${rpcPort}`, 1000),
      noInitWarn: true,
      throwOnConnect: true,
    });
    // The port answered, but not necessarily this node: one that could not bind its port
    // has exited, and another process's node answered on it.
    if (exited !== null) throw new Error(`node exited early (${JSON.stringify(exited)}):\n${logs.join('')}`);
  } catch (error) {
    await stop();
    throw error;
  }
  return { api, rpcPort, prometheusPort, logs, stop, process: child };
}

/**
 * Where the protocol fee goes, as the chain's metadata says (`inferenceCredits` constants):
 * `{ pool, treasury }`, SS58 addresses of the feedback reward pool and the treasury.
 */
export function feeAccounts(api) {
  return {
    pool: api.consts.inferenceCredits.rewardPool.toString(),
    treasury: api.consts.inferenceCredits.treasury.toString(),
  };
}

/**
 * Waits until `predicate(header)` holds for a new head of the given subscription
 * (`subscribeNewHeads` or `subscribeFinalizedHeads`), or fails after `timeoutMs`.
 */
export function waitForHead(api, kind, predicate, timeoutMs) {
  return new Promise((resolve, reject) => {
    let unsubscribe = null;
    let done = false;
    const finish = (fn, value) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      if (unsubscribe) unsubscribe();
      fn(value);
    };
    const timer = setTimeout(
      () => finish(reject, new Error(`no ${kind} head satisfied the condition within ${timeoutMs} ms`)),
      timeoutMs,
    );
    api.rpc.chain[kind]((header) => {
      if (predicate(header)) finish(resolve, header);
    }).then((unsub) => {
      unsubscribe = unsub;
      if (done) unsub();
    }, (error) => finish(reject, error));
  });
}

/**
 * Signs and sends `tx`, resolving once it is in a block (not finalised) with
 * `{ blockHash, events, dispatchError }`. Rejects if the pool drops it or after `timeoutMs`.
 */
export function sendAndWaitInBlock(tx, signer, timeoutMs = 60_000) {
  return new Promise((resolve, reject) => {
    let unsubscribe = null;
    let done = false;
    const finish = (fn, value) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      if (unsubscribe) unsubscribe();
      fn(value);
    };
    const timer = setTimeout(() => finish(reject, new Error(`transaction not in a block within ${timeoutMs} ms`)), timeoutMs);
    tx.signAndSend(signer, (result) => {
      const { status, events, dispatchError } = result;
      if (status.isInBlock) {
        finish(resolve, { blockHash: status.asInBlock, events, dispatchError });
      } else if (status.isDropped || status.isInvalid || status.isUsurped) {
        finish(reject, new Error(`transaction ${status.type}`));
      }
    }).then((unsub) => {
      unsubscribe = unsub;
      if (done) unsub();
    }, (error) => finish(reject, error));
  });
}

/** Development accounts by name (`'Alice'` → `//Alice`), sr25519, keyed by lower-case name. */
export async function devAccounts(...names) {
  const { Keyring } = await import('@polkadot/keyring');
  const { cryptoWaitReady } = await import('@polkadot/util-crypto');
  await cryptoWaitReady();
  const keyring = new Keyring({ type: 'sr25519', ss58Format: 42 });
  return Object.fromEntries(names.map((name) => [name.toLowerCase(), keyring.addFromUri(`//${name}`)]));
}

/** The fee the transaction whose `events` these are paid (`transactionPayment.TransactionFeePaid`). */
export function feePaid(api, events) {
  const paid = events.find(({ event }) => api.events.transactionPayment.TransactionFeePaid.is(event));
  if (!paid) throw new Error('no transactionPayment.TransactionFeePaid event');
  return paid.event.data.actualFee.toBigInt();
}

/** API views of the state just before and just after block `blockHash`. */
export async function statesAround(api, blockHash) {
  const header = await api.rpc.chain.getHeader(blockHash);
  return { before: await api.at(header.parentHash), after: await api.at(blockHash) };
}

/** `'section.Name'` of a dispatch error that must be a module error. */
export function moduleError(api, dispatchError) {
  if (!dispatchError) throw new Error('the call succeeded');
  if (!dispatchError.isModule) throw new Error(`not a module error: ${dispatchError}`);
  const { section, name } = api.registry.findMetaError(dispatchError.asModule);
  return `${section}.${name}`;
}

/**
 * Submits an encoded transaction (hex) as it is, without a signer of Polkadot.js's — a
 * general transaction such as `agentWallet.paySigned` — and resolves once a block includes
 * it with `{ blockHash, index, events }` (the events of that extrinsic). Rejects with the
 * pool's error if the node refuses it, or after `timeoutMs`.
 */
export async function submitAndWaitInBlock(api, hex, timeoutMs = 60_000) {
  const provider = api._rpcCore.provider;
  const start = (await api.rpc.chain.getHeader()).number.toNumber();
  await provider.send('author_submitExtrinsic', [hex]);
  const deadline = Date.now() + timeoutMs;
  for (let n = start; Date.now() < deadline;) {
    const best = (await api.rpc.chain.getHeader()).number.toNumber();
    for (; n <= best; n += 1) {
      const blockHash = await provider.send('chain_getBlockHash', [n]);
      const { block } = await provider.send('chain_getBlock', [blockHash]);
      const index = block.extrinsics.indexOf(hex);
      if (index >= 0) {
        const records = await api.query.system.events.at(blockHash);
        const events = records.filter(({ phase }) => phase.isApplyExtrinsic && phase.asApplyExtrinsic.eqn(index));
        return { blockHash, index, events };
      }
    }
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  throw new Error(`transaction not in a block within ${timeoutMs} ms`);
}
