// What a fleet's shared priority queue costs (docs/gateway.md, A fleet of gateways), in one
// run on one machine. Run by scripts/bench-gateway.sh after bench/gateway.js:
//
//   TOKENMETER_NODE=… TOKENMETER_EXAMPLES=<target>/release/examples node e2e/bench/gateway-fleet.js
//
// A fast fake upstream, a dev node with a provider, a model and a user with credits, and a
// PostgreSQL server (Debian's, in a temporary directory, waiting for the disk as a production
// server does: `fsync=on`); then, one after the
// other, gateways on that database (rate limits off: one user sends everything):
// one instance with its queue in memory (`--local-queue`), one with the fleet's queue, two
// with a queue each, two sharing the fleet's queue. Each is measured at saturation (wrk, 8
// connections spread over the instances, BENCH_SECONDS, 10) and at a fixed rate (loadgen,
// open loop, BENCH_FLEET_RATE requests/s, 200, to the first instance), beside the upstream
// measured directly at that rate. Prints a Markdown table and `figure:` lines.

import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';

import { paymentToken, signVoucher } from '@tokenmeter/client';

import { startGateway, startProcess } from '../lib/gateway.js';
import { devAccounts, freePort, sendAndWaitInBlock, startDevNode } from '../lib/node.js';
import { startPostgres } from '../lib/postgres.js';
import { loadgen, wrk } from './tools.js';

const UNIT = 10n ** 12n;
const examples = process.env.TOKENMETER_EXAMPLES;
const SECONDS = Number(process.env.BENCH_SECONDS ?? 10);
const RATE = Number(process.env.BENCH_FLEET_RATE ?? 200);
if (!examples) throw new Error('set TOKENMETER_EXAMPLES (scripts/bench-gateway.sh does)');

const body = JSON.stringify({ model: 'bench-llm', messages: [{ role: 'user', content: 'Say hello to the benchmark' }], max_tokens: 16 });
const route = '/v1/chat/completions';
const stopping = [];
const dir = await mkdtemp(path.join(os.tmpdir(), 'tokenmeter-bench-fleet-'));
const measured = (what, result) => { console.error(`${what}: ${JSON.stringify(result)}`); return result; };

try {
  const upstreamPort = await freePort();
  const upstreamUrl = `http://127.0.0.1:${upstreamPort}`;
  stopping.push(await startProcess(path.join(examples, 'fake_upstream'), [`127.0.0.1:${upstreamPort}`],
    async () => (await fetch(`${upstreamUrl}${route}`, { method: 'POST', body })).ok));
  const postgres = await startPostgres({ durable: true });
  stopping.push(postgres);
  const node = await startDevNode();
  stopping.push(node);
  const { api } = node;
  const { alice, bob } = await devAccounts('Alice', 'Bob');
  const model = (await api.query.inferenceCredits.nextModelId()).toNumber();
  for (const { dispatchError } of await Promise.all([
    sendAndWaitInBlock(api.tx.utility.batchAll([
      api.tx.inferenceCredits.registerProvider('Bench AI', 'http://127.0.0.1:1'),
      api.tx.inferenceCredits.registerModel('bench-llm', 1000n, 1000n, 'Open'),
    ]), alice),
    sendAndWaitInBlock(api.tx.inferenceCredits.depositCredits(1000n * UNIT), bob),
  ])) if (dispatchError) throw new Error(`${dispatchError}`);
  const genesisHash = (await api.rpc.chain.getBlockHash(0)).toHex();
  const token = paymentToken(signVoucher(bob, { genesisHash, provider: alice.address, cap: 10n ** 30n, expiry: 1_000_000 }));
  const headers = { Authorization: `Bearer ${token}` };

  let started = 0;
  /** `count` instances on the database, with `flags`; measured, then stopped. */
  const fleet = async (what, count, flags) => {
    const ports = await Promise.all(Array.from({ length: count }, () => freePort()));
    const gateways = await Promise.all(ports.map(async (port) => startGateway(port, await freePort(), [
      '--upstream', `${upstreamUrl}/v1`, '--node', `http://127.0.0.1:${node.rpcPort}`,
      '--provider', alice.address, '--model', `${model}=fake`, '--data-dir', path.join(dir, String(port)),
      '--database', postgres.url, '--instance', `bench-${(started += 1)}`,
      '--no-rate-limits', '--min-voucher-blocks', '10', ...flags,
    ])));
    try {
      const urls = ports.map((port) => `http://127.0.0.1:${port}${route}`);
      const check = await fetch(urls[0], { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body });
      if (check.status !== 200) throw new Error(`${what}: the gateway answered ${check.status}: ${await check.text()}`);
      // Saturation: the eight connections spread over the instances, all at once.
      const runs = await Promise.all(urls.map((url) => wrk({ url, body, headers, seconds: SECONDS, dir, connections: 8 / count })));
      const saturated = measured(`${what}, saturated`, {
        rps: runs.reduce((sum, r) => sum + r.rps, 0),
        p50_ms: Math.max(...runs.map((r) => r.p50_ms)),
        p99_ms: Math.max(...runs.map((r) => r.p99_ms)),
      });
      const atRate = measured(`${what}, at ${RATE}/s`, await loadgen(examples, [
        '--url', urls[0], '--body', body, '--rate', String(RATE), '--duration', String(SECONDS),
        '--header', `authorization: Bearer ${token}`,
      ]));
      if (atRate.errors > 0) throw new Error(`${what}: ${JSON.stringify(atRate)}`);
      return { what, saturated, atRate };
    } finally {
      for (const gateway of gateways) await gateway.stop();
    }
  };

  const direct = measured(`direct at ${RATE}/s`, await loadgen(examples, [
    '--url', `${upstreamUrl}${route}`, '--body', body, '--rate', String(RATE), '--duration', String(SECONDS),
  ]));
  const results = [
    await fleet('one instance, queue in memory (`--local-queue`)', 1, ['--local-queue']),
    await fleet('one instance, the fleet\'s queue', 1, []),
    await fleet('two instances, a queue each (`--local-queue`)', 2, ['--local-queue']),
    await fleet('two instances sharing the fleet\'s queue', 2, []),
  ];

  const f = (x, d = 0) => Number(x).toFixed(d);
  const lines = [
    `| gateways on PostgreSQL | requests/s (8 connections, ${SECONDS} s, wrk) | p50 / p99 ms | at ${RATE}/s: p50 / p99 ms | p99 added |`,
    '|---|---:|---:|---:|---:|',
    `| direct to the upstream | | | ${f(direct.p50_ms, 3)} / ${f(direct.p99_ms, 3)} | |`,
    ...results.map(({ what, saturated: s, atRate: r }) => `| ${what} | ${f(s.rps)} | ${f(s.p50_ms, 2)} / ${f(s.p99_ms, 2)} | ${f(r.p50_ms, 3)} / ${f(r.p99_ms, 3)} | ${f(r.p99_ms - direct.p99_ms, 3)} |`),
    '',
    `Machine: ${os.cpus().length} cores (${os.cpus()[0].model}), ${f(os.totalmem() / 2 ** 30)} GiB; everything on the same cores.`,
  ];
  console.log(lines.join('\n'));
  const [oneLocal, oneFleet, twoLocal, twoFleet] = results;
  console.log(`figure: fleet queue / queue in memory, requests/s: one instance ${f(100 * oneFleet.saturated.rps / oneLocal.saturated.rps, 1)}%, two instances ${f(100 * twoFleet.saturated.rps / twoLocal.saturated.rps, 1)}%`);
  console.log(`figure: p50 added by the fleet queue at ${RATE}/s: one instance ${f(oneFleet.atRate.p50_ms - oneLocal.atRate.p50_ms, 3)} ms, two ${f(twoFleet.atRate.p50_ms - twoLocal.atRate.p50_ms, 3)} ms`);
} finally {
  for (const process_ of stopping.reverse()) await process_.stop().catch(() => {});
  await rm(dir, { recursive: true, force: true });
}
