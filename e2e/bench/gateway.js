// The gateway's cost against the direct path and against LiteLLM's proxy, in one run on one
// machine (docs/gateway.md). Run by scripts/bench-gateway.sh, which builds the binaries and
// installs wrk and LiteLLM:
//
//   TOKENMETER_NODE=… TOKENMETER_EXAMPLES=<target>/release/examples LITELLM=<venv>/bin/litellm \
//     node e2e/bench/gateway.js
//
// A fast fake upstream (`fake_upstream`: answers at once, fixed usage) on its own port; a dev
// node with a provider, a model and a user with credits; `tokenmeter-gateway` in front of the
// upstream (embedded SQLite, rate limits off: one user sends everything) with the user's
// voucher already accepted; last, LiteLLM's proxy (two workers, one `openai/` model at the
// upstream, a master key), started only after the others are measured so that its start-up
// does not share their cores. One after the other, each measured the same way:
// 1. requests/s and latency at 8 connections (wrk, 10 s): direct, the gateway with
//    `--sync-every-commit`, LiteLLM; and in BENCH_THROUGHPUT_ROUNDS (10) rounds of
//    BENCH_THROUGHPUT_SECONDS (3 s) each, in an order reversed every other round (so that
//    the gateway and the bare forwarder are measured one right after the other, each first
//    as often), after a warm-up of BENCH_WARMUP_SECONDS (3 s) each, not measured (a new
//    gateway's first seconds grow its database files, its log and its heap), each ratio
//    taken within a round and the median reported: a bare forwarder (`bare_proxy`: axum and
//    reqwest, the floor of any proxy on this machine), the same with the gateway's own HTTP/1.1
//    client in place of reqwest (`bare_proxy --own-client`: the floor of the gateway's own
//    stack), the gateway, and the gateway on one worker thread (`--threads 1`, as beside a
//    model server: on two cores shared with the load, the upstream and the node, one worker
//    saves the wake-ups between workers, and queues more at full load);
// 2. latency at a fixed 1,000 requests/s (loadgen, open loop, 10 s), in BENCH_ROUNDS (3)
//    rounds of direct, the gateway and the gateway on one worker, one after the other;
// 3. streaming: time to the first byte of the answer at 100 requests/s: direct and the gateway;
// 4. the gateway's resident memory before and after 10,000 distinct users (fresh keys, each
//    a signed voucher; without credits, so each is answered 402 after the gateway has read
//    and cached its chain state and counted its rate, as for any user).
// Prints a Markdown table and `figure:` lines.

import { execFile, spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';

import { paymentToken, signVoucher } from '@tokenmeter/client';
import { Keyring } from '@polkadot/keyring';
import { randomAsU8a } from '@polkadot/util-crypto';

import { startGateway, startProcess } from '../lib/gateway.js';
import { loadgen as loadgenRun, rssKiB, wrk as wrkRun } from './tools.js';
import { devAccounts, freePort, sendAndWaitInBlock, startDevNode } from '../lib/node.js';

// More flags for the gateways measured (e.g. `--seal-every-ms 600000` to see what sealing the
// feed costs), from $GATEWAY_ARGS.
const EXTRA = (process.env.GATEWAY_ARGS ?? '').split(' ').filter(Boolean);

const run = promisify(execFile);
const UNIT = 10n ** 12n;
const examples = process.env.TOKENMETER_EXAMPLES;
const litellmBin = process.env.LITELLM;
const SECONDS = Number(process.env.BENCH_SECONDS ?? 10);
const USERS = Number(process.env.BENCH_USERS ?? 10_000);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const THROUGHPUT_ROUNDS = Number(process.env.BENCH_THROUGHPUT_ROUNDS ?? 10);
const THROUGHPUT_SECONDS = Number(process.env.BENCH_THROUGHPUT_SECONDS ?? 3);
const WARMUP_SECONDS = Number(process.env.BENCH_WARMUP_SECONDS ?? 3);
if (!examples || !litellmBin) throw new Error('set TOKENMETER_EXAMPLES and LITELLM (scripts/bench-gateway.sh does)');

const body = JSON.stringify({ model: 'bench-llm', messages: [{ role: 'user', content: 'Say hello to the benchmark' }], max_tokens: 16 });
const streamBody = JSON.stringify({ ...JSON.parse(body), stream: true });
const stopping = [];
const dir = await mkdtemp(path.join(os.tmpdir(), 'tokenmeter-bench-gateway-'));

const wrk = (url, headers, seconds = SECONDS) => wrkRun({ url, body, headers, seconds, dir });
const loadgen = (args) => loadgenRun(examples, args);

try {
  const upstreamPort = await freePort();
  const upstreamUrl = `http://127.0.0.1:${upstreamPort}`;
  stopping.push(await startProcess(path.join(examples, 'fake_upstream'), [`127.0.0.1:${upstreamPort}`],
    async () => (await fetch(`${upstreamUrl}/v1/chat/completions`, { method: 'POST', body })).ok));

  // The floor of any proxy here: the gateway's HTTP stack forwarding, nothing else.
  const barePort = await freePort();
  const bareUrl = `http://127.0.0.1:${barePort}`;
  stopping.push(await startProcess(path.join(examples, 'bare_proxy'), [`127.0.0.1:${barePort}`, upstreamUrl],
    async () => (await fetch(`${bareUrl}/v1/chat/completions`, { method: 'POST', body })).ok));
  // The same with the client the gateway uses for model servers at http:// addresses.
  const ownPort = await freePort();
  const ownUrl = `http://127.0.0.1:${ownPort}`;
  stopping.push(await startProcess(path.join(examples, 'bare_proxy'), [`127.0.0.1:${ownPort}`, upstreamUrl, '--own-client'],
    async () => (await fetch(`${ownUrl}/v1/chat/completions`, { method: 'POST', body })).ok));

  const node = await startDevNode();
  stopping.push(node);
  const { api } = node;
  const { alice, bob } = await devAccounts('Alice', 'Bob');
  const gatewayPort = await freePort();
  const gatewayUrl = `http://127.0.0.1:${gatewayPort}`;
  const model = (await api.query.inferenceCredits.nextModelId()).toNumber();
  for (const { dispatchError } of await Promise.all([
    sendAndWaitInBlock(api.tx.utility.batchAll([
      api.tx.inferenceCredits.registerProvider('Bench AI', gatewayUrl),
      api.tx.inferenceCredits.registerModel('bench-llm', 1000n, 1000n, 'Open'),
    ]), alice),
    sendAndWaitInBlock(api.tx.inferenceCredits.depositCredits(1000n * UNIT), bob),
  ])) if (dispatchError) throw new Error(`${dispatchError}`);
  const genesisHash = (await api.rpc.chain.getBlockHash(0)).toHex();
  const voucher = (who) => paymentToken(signVoucher(who, { genesisHash, provider: alice.address, cap: 10n ** 30n, expiry: 1_000_000 }));
  const token = voucher(bob);

  const gateway = await startGateway(gatewayPort, await freePort(), [
    '--upstream', `${upstreamUrl}/v1`, '--node', `http://127.0.0.1:${node.rpcPort}`,
    '--provider', alice.address, '--model', `${model}=fake`, '--data-dir', path.join(dir, 'gateway'),
    '--no-rate-limits', '--min-voucher-blocks', '10', ...EXTRA,
  ]);
  stopping.push(gateway);
  const check = await fetch(`${gatewayUrl}/v1/chat/completions`, {
    method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` }, body,
  });
  if (check.status !== 200) throw new Error(`the gateway answered ${check.status}: ${await check.text()}`);

  const path_ = '/v1/chat/completions';
  const measured = (what, result) => { console.error(`${what}: ${JSON.stringify(result)}`); return result; };
  const direct = measured('direct', await wrk(`${upstreamUrl}${path_}`, {}));

  // The same gateway waiting for the disk at every commit (`--sync-every-commit`), on a port
  // and database of its own, stopped once measured.
  const syncedPort = await freePort();
  const synced = await startGateway(syncedPort, await freePort(), [
    '--upstream', `${upstreamUrl}/v1`, '--node', `http://127.0.0.1:${node.rpcPort}`,
    '--provider', alice.address, '--model', `${model}=fake`, '--data-dir', path.join(dir, 'gateway-synced'),
    '--no-rate-limits', '--min-voucher-blocks', '10', '--sync-every-commit', ...EXTRA,
  ]);
  let throughSynced;
  try {
    throughSynced = measured('gateway, --sync-every-commit', await wrk(`http://127.0.0.1:${syncedPort}${path_}`, { Authorization: `Bearer ${token}` }));
  } finally {
    await synced.stop();
  }

  // The same gateway on one worker thread, on a port and database of its own, kept for the
  // rounds at 1,000 requests/s below.
  const onePort = await freePort();
  const oneUrl = `http://127.0.0.1:${onePort}`;
  const one = await startGateway(onePort, await freePort(), [
    '--upstream', `${upstreamUrl}/v1`, '--node', `http://127.0.0.1:${node.rpcPort}`,
    '--provider', alice.address, '--model', `${model}=fake`, '--data-dir', path.join(dir, 'gateway-one'),
    '--no-rate-limits', '--min-voucher-blocks', '10', '--threads', '1', ...EXTRA,
  ]);
  stopping.push(one);

  // The forwarders and the gateways in turn, THROUGHPUT_ROUNDS times: on a shared two-core
  // machine one run of each varies by ±20% from one minute to the next (and by a quarter within
  // a minute), so the runs are short and each ratio is taken within a round (the runs side by side: the gateway right after the bare forwarder, or
  // right before it every other round) and the median of the rounds reported.
  const turns = [];
  const servers = [
    ['bare', 'bare proxy', bareUrl, {}],
    ['gateway', 'gateway', gatewayUrl, { Authorization: `Bearer ${token}` }],
    ['one', 'gateway, --threads 1', oneUrl, { Authorization: `Bearer ${token}` }],
    ['bareOwn', 'bare proxy, own client', ownUrl, {}],
  ];
  for (const [, name, url, headers] of servers) {
    if (WARMUP_SECONDS > 0) {
      measured(`warm-up: ${name}`, await wrk(`${url}${path_}`, headers, WARMUP_SECONDS));
    }
  }
  for (let round = 0; round < THROUGHPUT_ROUNDS; round += 1) {
    const turn = {};
    for (const [key, name, url, headers] of round % 2 === 0 ? servers : [...servers].reverse()) {
      turn[key] = measured(`round ${round + 1}: ${name}`, await wrk(`${url}${path_}`, headers, THROUGHPUT_SECONDS));
    }
    turns.push(turn);
  }
  const median = (values) => {
    const sorted = [...values].sort((a, b) => a - b);
    const middle = Math.floor(sorted.length / 2);
    return sorted.length % 2 === 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
  };
  const typical = (key) => Object.fromEntries(['rps', 'p50_ms', 'p99_ms'].map((m) => [m, median(turns.map((t) => t[key][m]))]));
  const [bare, bareOwn, through, throughOne] = ['bare', 'bareOwn', 'gateway', 'one'].map(typical);
  // Per round, then the median: `share('gateway', 'bare')` is the gateway's requests/s as a
  // share of the bare forwarder's in the same round.
  const shares = (of, to) => turns.map((t) => 100 * t[of].rps / t[to].rps);
  const share = (of, to) => median(shares(of, to));
  const perRound = (of, to) => shares(of, to).map((x) => `${x.toFixed(1)}%`).join(', ');

  const atRate = (url, extra = []) => loadgen(['--url', url, '--body', body, '--rate', '1000', '--duration', String(SECONDS), ...extra]);
  const auth = ['--header', `authorization: Bearer ${token}`];
  const rounds = [];
  for (let round = 0; round < ROUNDS; round += 1) {
    const direct_ = measured(`round ${round + 1}: direct at 1,000/s`, await atRate(`${upstreamUrl}${path_}`));
    const gateway_ = measured(`round ${round + 1}: gateway at 1,000/s`, await atRate(`${gatewayUrl}${path_}`, auth));
    const one_ = measured(`round ${round + 1}: gateway --threads 1 at 1,000/s`, await atRate(`${oneUrl}${path_}`, auth));
    for (const [what, result] of Object.entries({ direct_, gateway_, one_ })) {
      if (result.errors > 0) throw new Error(`${what}: ${JSON.stringify(result)}`);
    }
    rounds.push({ direct: direct_, gateway: gateway_, one: one_ });
  }
  await one.stop();
  const [{ direct: directAt1k, gateway: gatewayAt1k }] = rounds;
  const streamAt = (url, extra = []) => loadgen(['--url', url, '--body', streamBody, '--rate', '100', '--duration', String(SECONDS), '--stream', ...extra]);
  const directStream = measured('direct streaming', await streamAt(`${upstreamUrl}${path_}`));
  const gatewayStream = measured('gateway streaming', await streamAt(`${gatewayUrl}${path_}`, ['--header', `authorization: Bearer ${token}`]));
  for (const [what, result] of Object.entries({ directStream, gatewayStream })) {
    if (result.errors > 0) throw new Error(`${what}: ${JSON.stringify(result)}`);
  }

  // 10,000 distinct users.
  const keyring = new Keyring({ type: 'sr25519' });
  const tokens = Array.from({ length: USERS }, () => voucher(keyring.addFromSeed(randomAsU8a(32))));
  const tokensFile = path.join(dir, 'tokens.txt');
  await writeFile(tokensFile, tokens.join('\n'));
  const rssBefore = rssKiB(gateway.process.pid);
  let seen = 0;
  while (seen < USERS) {
    const result = await loadgen(['--url', `${gatewayUrl}${path_}`, '--body', body, '--tokens', tokensFile, '--connections', '8', '--duration', '5']);
    const answered = Object.values(result.statuses).reduce((a, b) => a + b, 0);
    if ((result.statuses['402'] ?? 0) !== answered) throw new Error(`distinct users: ${JSON.stringify(result)}`);
    seen += answered;
  }
  const rssAfter = rssKiB(gateway.process.pid);

  // LiteLLM last: its workers' start-up work must not share the cores with the others' runs.
  const litellmPort = await freePort();
  const litellmUrl = `http://127.0.0.1:${litellmPort}`;
  const config = path.join(dir, 'litellm.yaml');
  await writeFile(config, [
    'model_list:',
    '  - model_name: bench-llm',
    '    litellm_params:',
    '      model: openai/fake',
    `      api_base: ${upstreamUrl}/v1`,
    '      api_key: unused',
    'general_settings:',
    '  master_key: sk-bench',
    'litellm_settings:',
    '  telemetry: false',
  ].join('\n'));
  const litellmEnv = { ...process.env, LITELLM_LOCAL_MODEL_COST_MAP: 'True', LITELLM_LOG: 'ERROR' };
  const litellm = await startProcess(litellmBin, ['--config', config, '--host', '127.0.0.1', '--port', String(litellmPort), '--num_workers', '2'],
    async () => (await fetch(`${litellmUrl}/v1/chat/completions`, {
      method: 'POST', headers: { 'content-type': 'application/json', authorization: 'Bearer sk-bench' }, body,
    })).ok, { timeoutMs: 180_000, spawnOptions: { env: litellmEnv } });
  stopping.push(litellm);
  const { stdout: litellmVersion } = await run(path.join(path.dirname(litellmBin), 'pip'), ['show', 'litellm']);

  // Its workers settle after start-up before they are measured, like the others.
  await new Promise((resolve) => setTimeout(resolve, 5000));
  const reference = measured('LiteLLM', await wrk(`${litellmUrl}${path_}`, { Authorization: 'Bearer sk-bench' }));

  const f = (x, d = 0) => Number(x).toFixed(d);
  const rows = [
    ['direct to the upstream', direct],
    ['through a bare forwarder (axum + reqwest, no checks: the floor of any proxy here)', bare],
    ['through a bare forwarder with the gateway\'s own client (axum + hyper, no checks)', bareOwn],
    ['through tokenmeter-gateway', through],
    [`through tokenmeter-gateway \`--threads 1\` (one worker thread)`, throughOne],
    ['through tokenmeter-gateway `--sync-every-commit` (a disk sync per commit)', throughSynced],
    ['through LiteLLM proxy', reference],
  ];
  const lines = [
    `| path (8 connections, wrk, ${SECONDS} s; forwarders and gateways: median of ${THROUGHPUT_ROUNDS} rounds of ${THROUGHPUT_SECONDS} s) | requests/s | p50 ms | p99 ms |`,
    '|---|---:|---:|---:|',
    ...rows.map(([name, r]) => `| ${name} | ${f(r.rps)} | ${f(r.p50_ms, 2)} | ${f(r.p99_ms, 2)} |`),
    '',
    '| ratio | value |',
    '|---|---:|',
    `| gateway / LiteLLM requests/s | ${f(through.rps / reference.rps, 1)}× |`,
    `| gateway / direct requests/s | ${f(100 * through.rps / direct.rps, 1)}% |`,
    `| gateway / bare forwarder requests/s (rounds: ${perRound('gateway', 'bare')}) | ${f(share('gateway', 'bare'), 1)}% |`,
    `| gateway / bare forwarder with the gateway's own client requests/s (rounds: ${perRound('gateway', 'bareOwn')}) | ${f(share('gateway', 'bareOwn'), 1)}% |`,
    `| gateway \`--threads 1\` / bare forwarder requests/s (rounds: ${perRound('one', 'bare')}) | ${f(share('one', 'bare'), 1)}% |`,
    `| p99 added at 1,000 requests/s, round 1 (gateway ${f(gatewayAt1k.p99_ms, 3)} ms − direct ${f(directAt1k.p99_ms, 3)} ms) | ${f(gatewayAt1k.p99_ms - directAt1k.p99_ms, 3)} ms |`,
    `| p50 added at 1,000 requests/s, round 1 | ${f(gatewayAt1k.p50_ms - directAt1k.p50_ms, 3)} ms |`,
    `| streaming: time to first byte added at 100 requests/s, p50 / p99 | ${f(gatewayStream.ttfb_p50_ms - directStream.ttfb_p50_ms, 3)} / ${f(gatewayStream.ttfb_p99_ms - directStream.ttfb_p99_ms, 3)} ms |`,
    `| gateway RSS: after one user / after ${USERS.toLocaleString('en')} more users | ${f(rssBefore / 1024, 1)} / ${f(rssAfter / 1024, 1)} MiB |`,
    '',
    `| at 1,000 requests/s | direct p50 / p99 ms | gateway p50 / p99 ms | p99 added | \`--threads 1\` p50 / p99 ms | p99 added |`,
    '|---|---:|---:|---:|---:|---:|',
    ...rounds.map(({ direct: d, gateway: g, one: o }, i) => `| round ${i + 1} | ${f(d.p50_ms, 3)} / ${f(d.p99_ms, 3)} | ${f(g.p50_ms, 3)} / ${f(g.p99_ms, 3)} | ${f(g.p99_ms - d.p99_ms, 3)} | ${f(o.p50_ms, 3)} / ${f(o.p99_ms, 3)} | ${f(o.p99_ms - d.p99_ms, 3)} |`),
    '',
    `Machine: ${os.cpus().length} cores (${os.cpus()[0].model}), ${f(os.totalmem() / 2 ** 30)} GiB; LiteLLM ${litellmVersion.match(/Version: (\S+)/)?.[1]} (2 workers).`,
  ];
  console.log(lines.join('\n'));
  console.log(`figure: gateway ${f(through.rps)} rps, LiteLLM ${f(reference.rps)} rps, direct ${f(direct.rps)} rps`);
  console.log(`figure: gateway / bare forwarder ${f(share('gateway', 'bare'), 1)}% (median of ${perRound('gateway', 'bare')}), with --threads 1 ${f(share('one', 'bare'), 1)}%; gateway / bare forwarder with the own client ${f(share('gateway', 'bareOwn'), 1)}%`);
  console.log(`figure: p99 added at 1,000/s: ${rounds.map(({ direct: d, gateway: g }) => f(g.p99_ms - d.p99_ms, 3)).join(', ')} ms; with --threads 1: ${rounds.map(({ direct: d, one: o }) => f(o.p99_ms - d.p99_ms, 3)).join(', ')} ms`);
} finally {
  for (const process_ of stopping.reverse()) await process_.stop().catch(() => {});
  await rm(dir, { recursive: true, force: true });
}
