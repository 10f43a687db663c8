// The gateway in front of a real model (llama.cpp's llama-server with SmolLM2-135M-Instruct),
// against the model server directly, in one run on one machine (docs/gateway.md): output
// tokens per second and time to the first token at 1, 4 and 8 concurrent streams. Run by
// scripts/bench-gateway.sh after the fake-upstream benchmark:
//
//   TOKENMETER_NODE=… node e2e/bench/real-model.js
//
// Each stream asks, one request after another for BENCH_MODEL_SECONDS (15 s), for a streamed
// answer of exactly 64 tokens (a different question each time, in the same order on both
// paths; temperature 0, the end-of-turn token ignored) with
// `include_usage`; tokens are what the answers' usage reports. Direct and through the gateway
// alternate at each concurrency (direct, gateway, gateway, direct; means of two runs each), so
// that the machine's drift touches both alike. The model
// server has 8 slots; the gateway runs with rate limits off (one user sends everything) and a
// dev node behind it. Prints a Markdown table and `figure:` lines.

import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';

import { paymentToken, signVoucher } from '@tokenmeter/client';

import { startGateway } from '../lib/gateway.js';
import { startModelServer } from '../lib/model.js';
import { devAccounts, freePort, sendAndWaitInBlock, startDevNode } from '../lib/node.js';

const UNIT = 10n ** 12n;
const SECONDS = Number(process.env.BENCH_MODEL_SECONDS ?? 15);
const SUBJECTS = ['the sea', 'mountains', 'a city at night', 'rain', 'bread', 'a library', 'trains', 'the moon', 'autumn', 'bees'];
const stopping = [];
let resent = 0;
const dir = await mkdtemp(path.join(os.tmpdir(), 'tokenmeter-bench-model-'));

/** One streamed answer: { tokens, ttftMs } (tokens from its usage). */
async function ask(url, headers, n) {
  const started = performance.now();
  const answer = await send(url, headers, n);
  if (!answer.ok) throw new Error(`${url}: ${answer.status} ${await answer.text()}`);
  return read(answer, started);
}

/** Sends question `n`; once more if a kept-alive connection was closed under it (llama-server
 * ends its keep-alives after 5 s and 100 requests), as any client has to. */
async function send(url, headers, n, again = true) {
  try {
    return await fetch(`${url}/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...headers },
      body: JSON.stringify({
        model: 'smollm2-135m',
        messages: [{ role: 'user', content: `Write two sentences about ${SUBJECTS[n % SUBJECTS.length]}.` }],
        // Always 64 tokens (`ignore_eos`, llama-server's) at temperature 0: the same work on
        // both paths, run after run.
        max_tokens: 64, temperature: 0, ignore_eos: true, stream: true, stream_options: { include_usage: true },
      }),
    });
  } catch (error) {
    if (!again || error.cause?.code !== 'UND_ERR_SOCKET') throw error;
    resent += 1;
    return send(url, headers, n, false);
  }
}

/** Reads a streamed answer: { tokens, ttftMs }. */
async function read(answer, started) {
  let ttftMs = null;
  let tokens = null;
  let buffer = '';
  const decoder = new TextDecoder();
  for await (const chunk of answer.body) {
    buffer += decoder.decode(chunk, { stream: true });
    let end;
    while ((end = buffer.indexOf('\n\n')) >= 0) {
      const event = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      const data = event.split('\n').find((l) => l.startsWith('data: '))?.slice(6);
      if (!data || data === '[DONE]') continue;
      const value = JSON.parse(data);
      if (ttftMs === null && value.choices?.[0]?.delta?.content) ttftMs = performance.now() - started;
      if (value.usage) tokens = value.usage.completion_tokens;
    }
  }
  if (tokens === null) throw new Error(`${url}: a stream without usage`);
  return { tokens, ttftMs: ttftMs ?? performance.now() - started };
}

/** `streams` concurrent streams for SECONDS: { tokensPerSecond, ttftP50, ttftP99, answers }. */
async function load(url, headers, streams) {
  const deadline = performance.now() + SECONDS * 1000;
  const started = performance.now();
  let tokens = 0;
  const ttfts = [];
  let n = 0;
  await Promise.all(Array.from({ length: streams }, async () => {
    while (performance.now() < deadline) {
      const answer = await ask(url, headers, n++);
      tokens += answer.tokens;
      ttfts.push(answer.ttftMs);
    }
  }));
  const seconds = (performance.now() - started) / 1000;
  ttfts.sort((a, b) => a - b);
  const at = (q) => ttfts[Math.min(ttfts.length - 1, Math.floor(q * ttfts.length))];
  return { tokensPerSecond: tokens / seconds, ttftP50: at(0.5), ttftP99: at(0.99), answers: ttfts.length };
}

try {
  const modelServer = await startModelServer(await freePort(), {
    slots: 8, extraArgs: (process.env.MODEL_ARGS ?? '').split(' ').filter(Boolean),
  });
  stopping.push(modelServer);
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
      api.tx.inferenceCredits.registerModel('smollm2-135m', 1000n, 1000n, 'Open'),
    ]), alice),
    sendAndWaitInBlock(api.tx.inferenceCredits.depositCredits(1000n * UNIT), bob),
  ])) if (dispatchError) throw new Error(`${dispatchError}`);
  const genesisHash = (await api.rpc.chain.getBlockHash(0)).toHex();
  const token = paymentToken(signVoucher(bob, { genesisHash, provider: alice.address, cap: 10n ** 30n, expiry: 1_000_000 }));
  const gateway = await startGateway(gatewayPort, await freePort(), [
    '--upstream', `${modelServer.url}/v1`, '--node', `http://127.0.0.1:${node.rpcPort}`,
    '--provider', alice.address, '--model', `${model}=SmolLM2-135M-Instruct`, '--data-dir', path.join(dir, 'gateway'),
    '--no-rate-limits', '--min-voucher-blocks', '10', '--max-in-flight', '64',
  ]);
  stopping.push(gateway);
  // CPU seconds a process used so far (user + system), from /proc.
  const cpuSeconds = (pid) => {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
    return (Number(fields[11]) + Number(fields[12])) / 100;
  };
  const direct = `${modelServer.url}/v1`;
  const through = `${gatewayUrl}/v1`;
  const auth = { authorization: `Bearer ${token}` };
  // Warm both paths (the model's first answers, the gateway's first chain reads).
  await load(direct, {}, 2);
  await load(through, auth, 2);

  // Per concurrency: direct, gateway, gateway, direct (each BENCH_MODEL_SECONDS), summed per
  // path, so that a drift of the machine during the four runs weighs on both alike.
  const merged = (a, b) => ({
    tokensPerSecond: (a.tokensPerSecond + b.tokensPerSecond) / 2,
    ttftP50: (a.ttftP50 + b.ttftP50) / 2,
    ttftP99: Math.max(a.ttftP99, b.ttftP99),
    answers: a.answers + b.answers,
  });
  const rows = [];
  for (const streams of [1, 4, 8]) {
    const d1 = await load(direct, {}, streams);
    const cpuBefore = cpuSeconds(gateway.process.pid);
    const g1 = await load(through, auth, streams);
    const g2 = await load(through, auth, streams);
    const gatewayCpu = cpuSeconds(gateway.process.pid) - cpuBefore;
    const d2 = await load(direct, {}, streams);
    const d = merged(d1, d2);
    const g = merged(g1, g2);
    console.error(`${streams} streams: direct ${JSON.stringify([d1, d2])} gateway ${JSON.stringify([g1, g2])}`);
    rows.push({ streams, d, g: { ...g, cpuShare: gatewayCpu / (2 * SECONDS) } });
  }
  const f = (x, digits = 1) => x.toFixed(digits);
  console.log('| streams | direct tokens/s | gateway tokens/s | gateway ÷ direct | TTFT p50 direct / gateway (ms) | TTFT p50 added | TTFT p99 direct / gateway (ms) | gateway CPU (of one core) |');
  console.log('|---:|---:|---:|---:|---:|---:|---:|---:|');
  for (const { streams, d, g } of rows) {
    console.log(`| ${streams} | ${f(d.tokensPerSecond)} | ${f(g.tokensPerSecond)} | ${f(100 * g.tokensPerSecond / d.tokensPerSecond)}% | ${f(d.ttftP50)} / ${f(g.ttftP50)} | ${f(g.ttftP50 - d.ttftP50, 2)} ms | ${f(d.ttftP99)} / ${f(g.ttftP99)} | ${f(100 * g.cpuShare)}% |`);
  }
  console.log(`(requests sent again on a connection the model server had closed: ${resent})`);
  for (const { streams, d, g } of rows) {
    console.log(`figure: ${streams} streams: gateway ${f(100 * g.tokensPerSecond / d.tokensPerSecond)}% of direct tokens/s, TTFT p50 +${f(g.ttftP50 - d.ttftP50, 2)} ms`);
  }
} finally {
  for (const s of stopping.reverse()) await s.stop?.();
  await rm(dir, { recursive: true, force: true });
}
