// The gateway in front of a real model (llama.cpp's llama-server with SmolLM2-135M-Instruct),
// against the model server directly, in one run on one machine (docs/gateway.md): output
// tokens per second and time to the first token at 1, 4 and 8 concurrent streams. Run by
// scripts/bench-gateway.sh after the fake-upstream benchmark:
//
//   TOKENMETER_NODE=… node e2e/bench/real-model.js
//
// Each stream asks, one request after another for BENCH_MODEL_SECONDS (20 s), for a streamed
// answer of at most 64 tokens (a different question each time, temperature 0.7) with
// `include_usage`; tokens are what the answers' usage reports. Direct and through the gateway
// alternate at each concurrency, so that the machine's drift touches both alike. The model
// server has 8 slots; the gateway runs with rate limits off (one user sends everything) and a
// dev node behind it. Prints a Markdown table and `figure:` lines.

import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';

import { paymentToken, signVoucher } from '@tokenmeter/client';

import { startGateway } from '../lib/gateway.js';
import { startModelServer } from '../lib/model.js';
import { devAccounts, freePort, sendAndWaitInBlock, startDevNode } from '../lib/node.js';

const UNIT = 10n ** 12n;
const SECONDS = Number(process.env.BENCH_MODEL_SECONDS ?? 20);
const SUBJECTS = ['the sea', 'mountains', 'a city at night', 'rain', 'bread', 'a library', 'trains', 'the moon', 'autumn', 'bees'];
const stopping = [];
const dir = await mkdtemp(path.join(os.tmpdir(), 'tokenmeter-bench-model-'));

/** One streamed answer: { tokens, ttftMs } (tokens from its usage). */
async function ask(url, headers, n) {
  const started = performance.now();
  const answer = await fetch(`${url}/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify({
      model: 'smollm2-135m',
      messages: [{ role: 'user', content: `Write two sentences about ${SUBJECTS[n % SUBJECTS.length]}.` }],
      max_tokens: 64, temperature: 0.7, stream: true, stream_options: { include_usage: true },
    }),
  });
  if (!answer.ok) throw new Error(`${url}: ${answer.status} ${await answer.text()}`);
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
  const modelServer = await startModelServer(await freePort(), { slots: 8 });
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
  stopping.push(await startGateway(gatewayPort, await freePort(), [
    '--upstream', `${modelServer.url}/v1`, '--node', `http://127.0.0.1:${node.rpcPort}`,
    '--provider', alice.address, '--model', `${model}=SmolLM2-135M-Instruct`, '--data-dir', path.join(dir, 'gateway'),
    '--no-rate-limits', '--min-voucher-blocks', '10', '--max-in-flight', '64',
  ]));
  const direct = `${modelServer.url}/v1`;
  const through = `${gatewayUrl}/v1`;
  const auth = { authorization: `Bearer ${token}` };
  // Warm both paths (the model's first answers, the gateway's first chain reads).
  await load(direct, {}, 2);
  await load(through, auth, 2);

  const rows = [];
  for (const streams of [1, 4, 8]) {
    const d = await load(direct, {}, streams);
    console.error(`direct, ${streams} streams: ${JSON.stringify(d)}`);
    const g = await load(through, auth, streams);
    console.error(`gateway, ${streams} streams: ${JSON.stringify(g)}`);
    rows.push({ streams, d, g });
  }
  const f = (x, digits = 1) => x.toFixed(digits);
  console.log('| streams | direct tokens/s | gateway tokens/s | gateway ÷ direct | TTFT p50 direct / gateway (ms) | TTFT p50 added | TTFT p99 direct / gateway (ms) |');
  console.log('|---:|---:|---:|---:|---:|---:|---:|');
  for (const { streams, d, g } of rows) {
    console.log(`| ${streams} | ${f(d.tokensPerSecond)} | ${f(g.tokensPerSecond)} | ${f(100 * g.tokensPerSecond / d.tokensPerSecond)}% | ${f(d.ttftP50)} / ${f(g.ttftP50)} | ${f(g.ttftP50 - d.ttftP50, 2)} ms | ${f(d.ttftP99)} / ${f(g.ttftP99)} |`);
  }
  for (const { streams, d, g } of rows) {
    console.log(`figure: ${streams} streams: gateway ${f(100 * g.tokensPerSecond / d.tokensPerSecond)}% of direct tokens/s, TTFT p50 +${f(g.ttftP50 - d.ttftP50, 2)} ms`);
  }
} finally {
  for (const s of stopping.reverse()) await s.stop?.();
  await rm(dir, { recursive: true, force: true });
}
