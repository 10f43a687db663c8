// The gateway in front of a real model (llama.cpp's llama-server with SmolLM2-135M-Instruct),
// against the model server directly, in one run on one machine (docs/gateway.md): output
// tokens per second and time to the first token at 1, 4 and 8 concurrent streams. Run by
// scripts/bench-gateway.sh after the fake-upstream benchmark:
//
//   TOKENMETER_NODE=… node e2e/bench/real-model.js
//
// Each stream asks, one request after another, for a streamed answer of exactly 64 tokens (a
// different question each time, in the same order on both paths; temperature 0, the
// end-of-turn token ignored) with `include_usage`. Tokens are counted as they arrive, in a
// window of BENCH_MODEL_SECONDS (15 s) that opens once every stream is busy; each answer's
// token events are checked against its usage. Direct and through the gateway alternate at
// each concurrency (direct, gateway, gateway, direct; means of two runs each), so that the
// machine's drift touches both alike. The model server has 8 slots; the gateway runs with
// rate limits off (one user sends everything) and a
// dev node behind it. Prints a Markdown table and `figure:` lines.

import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';

import { paymentToken, signVoucher } from '@tokenmeter/client';

import { startGateway } from '../lib/gateway.js';
import { startModelServer } from '../lib/model.js';
import { devAccounts, freePort, startDevNode } from '../lib/node.js';
import { setUpProvider, UNIT } from '../lib/provider.js';

const SECONDS = Number(process.env.BENCH_MODEL_SECONDS ?? 15);
const WARM_SECONDS = 3;
const ROUNDS = Number(process.env.BENCH_MODEL_ROUNDS ?? 2);
const SUBJECTS = ['the sea', 'mountains', 'a city at night', 'rain', 'bread', 'a library', 'trains', 'the moon', 'autumn', 'bees'];
const stopping = [];
const mean = (xs) => xs.reduce((a, b) => a + b, 0) / xs.length;
let resent = 0;
const dir = await mkdtemp(path.join(os.tmpdir(), 'tokenmeter-bench-model-'));

/** One streamed answer; `onToken(time)` for each token as it arrives. Returns { tokens,
 * events, ttftMs, tailMs } (tokens from its usage; tail: from the last token to the end). */
async function ask(url, headers, n, onToken) {
  const started = performance.now();
  const answer = await send(url, headers, n);
  if (!answer.ok) throw new Error(`${url}: ${answer.status} ${await answer.text()}`);
  return read(url, answer, started, onToken);
}

/** Sends question `n`; again (up to three times) if a kept-alive connection was closed under
 * it (llama-server ends its keep-alives after 5 s and 100 requests, and the next pooled one
 * may be closed too), as any client has to. */
async function send(url, headers, n, tries = 3) {
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
    if (tries === 0 || error.cause?.code !== 'UND_ERR_SOCKET') throw error;
    resent += 1;
    return send(url, headers, n, tries - 1);
  }
}

/** Reads a streamed answer (see `ask`). */
async function read(url, answer, started, onToken) {
  let ttftMs = null;
  let tokens = null;
  let events = 0;
  let lastToken = null;
  let buffer = '';
  const decoder = new TextDecoder();
  const chunks = answer.body[Symbol.asyncIterator]();
  for (;;) {
    let next;
    try {
      next = await chunks.next();
    } catch (error) {
      throw new Error(`${url}: the answer broke off after ${events} tokens: ${error.cause?.message ?? error.message}`);
    }
    if (next.done) break;
    const chunk = next.value;
    buffer += decoder.decode(chunk, { stream: true });
    let end;
    while ((end = buffer.indexOf('\n\n')) >= 0) {
      const event = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      const data = event.split('\n').find((l) => l.startsWith('data: '))?.slice(6);
      if (!data || data === '[DONE]') continue;
      const value = JSON.parse(data);
      // llama-server sends one event per generated token.
      if (typeof value.choices?.[0]?.delta?.content === 'string') {
        lastToken = performance.now();
        events += 1;
        onToken(lastToken);
        if (ttftMs === null) ttftMs = lastToken - started;
      }
      if (value.usage) tokens = value.usage.completion_tokens;
    }
  }
  if (tokens === null) throw new Error(`${url}: a stream without usage`);
  const ended = performance.now();
  return { tokens, events, ttftMs: ttftMs ?? ended - started, tailMs: ended - (lastToken ?? ended) };
}

/** `streams` concurrent streams, one answer after another: { tokensPerSecond, ttftP50,
 * ttftP99, tailMs, answers }. Tokens are counted as they arrive, in a window that opens
 * WARM_SECONDS after the start (all streams busy) and closes SECONDS later, so that where
 * answers begin and end does not weigh on the figure; answers under way at its close finish
 * uncounted. */
async function load(url, headers, streams) {
  const cpuBefore = process.cpuUsage();
  const wallBefore = performance.now();
  const opens = performance.now() + WARM_SECONDS * 1000;
  const closes = opens + SECONDS * 1000;
  let inWindow = 0;
  const onToken = (t) => { if (t >= opens && t < closes) inWindow += 1; };
  const ttfts = [];
  const tails = [];
  let n = 0;
  await Promise.all(Array.from({ length: streams }, async () => {
    while (performance.now() < closes) {
      const answer = await ask(url, headers, n++, onToken);
      if (answer.events !== answer.tokens) {
        throw new Error(`${url}: ${answer.events} token events, usage says ${answer.tokens}`);
      }
      ttfts.push(answer.ttftMs);
      tails.push(answer.tailMs);
    }
  }));
  ttfts.sort((a, b) => a - b);
  const at = (q) => ttfts[Math.min(ttfts.length - 1, Math.floor(q * ttfts.length))];
  const cpu = process.cpuUsage(cpuBefore);
  const clientCpu = (cpu.user + cpu.system) / 1000 / (performance.now() - wallBefore);
  return { clientCpu, tokensPerSecond: inWindow / SECONDS, ttftP50: at(0.5), ttftP99: at(0.99), tailMs: mean(tails), answers: ttfts.length };
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
  const model = await setUpProvider(api, alice, {
    name: 'Bench AI', endpoint: gatewayUrl, model: 'smollm2-135m', prices: [1000n, 1000n], credits: [[bob, 1000n * UNIT]],
  });
  const genesisHash = (await api.rpc.chain.getBlockHash(0)).toHex();
  const token = paymentToken(signVoucher(bob, { genesisHash, provider: alice.address, cap: 10n ** 30n, expiry: 1_000_000 }));
  const gateway = await startGateway(gatewayPort, await freePort(), [
    '--upstream', `${modelServer.url}/v1`, '--node', `http://127.0.0.1:${node.rpcPort}`,
    '--provider', alice.address, '--model', `${model}=SmolLM2-135M-Instruct`, '--data-dir', path.join(dir, 'gateway'),
    '--no-rate-limits', '--min-voucher-blocks', '10', '--max-in-flight', '64', '--threads', process.env.BENCH_GATEWAY_THREADS ?? '1',
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
  // The gateway's own CPU with nothing to serve (following the chain, its timers).
  const idleBefore = cpuSeconds(gateway.process.pid);
  await new Promise((resolve) => setTimeout(resolve, 10_000));
  const idleCpu = (cpuSeconds(gateway.process.pid) - idleBefore) / 10;
  // Warm both paths (the model's first answers, the gateway's first chain reads).
  await load(direct, {}, 2);
  await load(through, auth, 2);

  // Per concurrency, ROUNDS times: direct, gateway, gateway, direct (each
  // BENCH_MODEL_SECONDS); each path's runs averaged, so that a drift of the machine weighs on
  // both alike. A round's own ratio is kept to show the spread.
  const merged = (runs) => ({
    tokensPerSecond: mean(runs.map((r) => r.tokensPerSecond)),
    ttftP50: mean(runs.map((r) => r.ttftP50)),
    ttftP99: Math.max(...runs.map((r) => r.ttftP99)),
    tailMs: mean(runs.map((r) => r.tailMs)),
    clientCpu: mean(runs.map((r) => r.clientCpu)),
    answers: runs.reduce((a, r) => a + r.answers, 0),
  });
  const rows = [];
  for (const streams of (process.env.BENCH_STREAMS ?? '1,4,8').split(',').map(Number)) {
    const direct_ = [];
    const gateway_ = [];
    const ratios = [];
    let cpu = 0;
    let wall = 0;
    for (let round = 0; round < ROUNDS; round += 1) {
      const d1 = await load(direct, {}, streams);
      const cpuBefore = cpuSeconds(gateway.process.pid);
      const wallBefore = performance.now();
      const g1 = await load(through, auth, streams);
      const g2 = await load(through, auth, streams);
      cpu += cpuSeconds(gateway.process.pid) - cpuBefore;
      wall += (performance.now() - wallBefore) / 1000;
      const d2 = await load(direct, {}, streams);
      direct_.push(d1, d2);
      gateway_.push(g1, g2);
      ratios.push((g1.tokensPerSecond + g2.tokensPerSecond) / (d1.tokensPerSecond + d2.tokensPerSecond));
      console.error(`${streams} streams, round ${round + 1}: direct ${JSON.stringify([d1, d2])} gateway ${JSON.stringify([g1, g2])}`);
    }
    rows.push({ streams, d: merged(direct_), g: { ...merged(gateway_), cpuShare: cpu / wall }, ratios });
  }
  const f = (x, digits = 1) => x.toFixed(digits);
  console.log('| streams | direct tokens/s | gateway tokens/s | gateway ÷ direct | TTFT p50 direct / gateway (ms) | TTFT p50 added | TTFT p99 direct / gateway (ms) | last token to end direct / gateway (ms) | gateway CPU (of one core) | client CPU direct / gateway | ratio per round |');
  console.log('|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|');
  for (const { streams, d, g, ratios } of rows) {
    console.log(`| ${streams} | ${f(d.tokensPerSecond)} | ${f(g.tokensPerSecond)} | ${f(100 * g.tokensPerSecond / d.tokensPerSecond)}% | ${f(d.ttftP50)} / ${f(g.ttftP50)} | ${f(g.ttftP50 - d.ttftP50, 2)} ms | ${f(d.ttftP99)} / ${f(g.ttftP99)} | ${f(d.tailMs, 2)} / ${f(g.tailMs, 2)} | ${f(100 * g.cpuShare)}% | ${f(100 * d.clientCpu)}% / ${f(100 * g.clientCpu)}% | ${ratios.map((r) => `${f(100 * r)}%`).join(', ')} |`);
  }
  console.log(`(gateway CPU with nothing to serve: ${f(100 * idleCpu, 2)}% of a core; requests sent again on a connection the model server had closed: ${resent})`);
  for (const { streams, d, g, ratios } of rows) {
    // The rounds' spread: their ratios' mean and two standard errors of it (rounds are
    // independent pairs, each measured on the same minute of the machine for both paths).
    const m = mean(ratios);
    const se = ratios.length > 1
      ? Math.sqrt(ratios.reduce((a, r) => a + (r - m) ** 2, 0) / (ratios.length - 1) / ratios.length)
      : NaN;
    console.log(`figure: ${streams} streams: gateway ${f(100 * g.tokensPerSecond / d.tokensPerSecond)}% of direct tokens/s (rounds: ${f(100 * m)}% ± ${f(200 * se)}%, ${ratios.length} rounds), TTFT p50 +${f(g.ttftP50 - d.ttftP50, 2)} ms`);
  }
} finally {
  for (const s of stopping.reverse()) await s.stop?.();
  await rm(dir, { recursive: true, force: true });
}
