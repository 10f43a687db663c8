// The gateway as an operator runs it on a public port: the node reached over TLS (a local
// https endpoint with its own certificate authority, `--node-ca-cert`), the operator
// endpoints on their own listener, wrongly typed requests refused before anything is
// reserved, a stream the model server breaks off ended with an error the `openai` client
// raises (and charged what was delivered), and SIGTERM during a stream: the answer
// completes, the gateway exits, and the charge is there after a restart.

import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import https from 'node:https';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';

import OpenAI from 'openai';
import { paymentToken, signVoucher } from '@tokenmeter/client';

import { startGateway, startUpstream } from '../lib/gateway.js';
import { devAccounts, freePort, sendAndWaitInBlock, startDevNode } from '../lib/node.js';

const UNIT = 10n ** 12n;
const PRICE = UNIT;
const cost = (input, output) => (BigInt(input) + BigInt(output)) * PRICE / 1000n;

/** A certificate authority and a certificate for 127.0.0.1 it signed, in `dir`. */
async function certificates(dir) {
  const at = (name) => path.join(dir, name);
  const openssl = (...args) => execFileSync('openssl', args, { stdio: 'ignore' });
  openssl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', at('ca.key'), '-out', at('ca.pem'),
    '-days', '2', '-subj', '/CN=tokenmeter test CA');
  openssl('req', '-newkey', 'rsa:2048', '-nodes', '-keyout', at('key.pem'), '-out', at('leaf.csr'), '-subj', '/CN=127.0.0.1');
  await writeFile(at('leaf.ext'), 'subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n');
  openssl('x509', '-req', '-in', at('leaf.csr'), '-CA', at('ca.pem'), '-CAkey', at('ca.key'), '-CAcreateserial',
    '-out', at('cert.pem'), '-days', '1', '-extfile', at('leaf.ext'));
  return { ca: at('ca.pem'), key: await readFile(at('key.pem')), cert: await readFile(at('cert.pem')) };
}

describe('the gateway on a public port', () => {
  let node;
  let api;
  let upstream;
  let gateway;
  let tls;
  let tlsCalls = 0;
  let dir;
  let args;
  let gatewayPort;
  let operatorPort;
  let gatewayUrl;
  let operatorUrl;
  let alice;
  let bob;
  let client;

  const admin = async (who) => (await fetch(`${operatorUrl}/admin/users/${who.address}`)).json();
  const ask = (extra = {}) => ({ model: 'ops-llm', messages: [{ role: 'user', content: 'say hello to the chain' }], max_tokens: 16, ...extra });

  before(async () => {
    ({ alice, bob } = await devAccounts('Alice', 'Bob'));
    dir = await mkdtemp(path.join(os.tmpdir(), 'tokenmeter-gateway-ops-'));
    const upstreamPort = await freePort();
    upstream = await startUpstream(upstreamPort);
    node = await startDevNode();
    api = node.api;
    const model = (await api.query.inferenceCredits.nextModelId()).toNumber();
    gatewayPort = await freePort();
    operatorPort = await freePort();
    gatewayUrl = `http://127.0.0.1:${gatewayPort}`;
    operatorUrl = `http://127.0.0.1:${operatorPort}`;
    const results = await Promise.all([
      sendAndWaitInBlock(api.tx.utility.batchAll([
        api.tx.inferenceCredits.registerProvider('Alice AI', gatewayUrl),
        api.tx.inferenceCredits.registerModel('ops-llm', PRICE, PRICE, 'Open'),
      ]), alice),
      sendAndWaitInBlock(api.tx.inferenceCredits.depositCredits(100n * UNIT), bob),
    ]);
    for (const { dispatchError } of results) assert.equal(dispatchError, undefined, `${dispatchError}`);

    // The node's RPC behind TLS, with a certificate of the test's own authority.
    const { ca, key, cert } = await certificates(dir);
    tls = https.createServer({ key, cert }, async (req, res) => {
      tlsCalls += 1;
      let raw = '';
      for await (const chunk of req) raw += chunk;
      const answer = await fetch(`http://127.0.0.1:${node.rpcPort}`, {
        method: 'POST', headers: { 'content-type': 'application/json' }, body: raw,
      });
      res.writeHead(answer.status, { 'content-type': 'application/json' }).end(await answer.text());
    });
    await new Promise((resolve) => tls.listen(0, '127.0.0.1', resolve));
    args = [
      '--upstream', `http://127.0.0.1:${upstreamPort}/v1`,
      '--node', `https://127.0.0.1:${tls.address().port}`, '--node-ca-cert', ca,
      '--provider', alice.address, '--model', `${model}=fake-llama`, '--data-dir', path.join(dir, 'data'),
      '--poll-ms', '300', '--min-voucher-blocks', '10', '--drain-secs', '20',
    ];
    gateway = await startGateway(gatewayPort, operatorPort, args);
    const genesisHash = (await api.rpc.chain.getBlockHash(0)).toHex();
    const token = paymentToken(signVoucher(bob, { genesisHash, provider: alice.address, cap: 50n * UNIT, expiry: 1_000_000 }));
    client = new OpenAI({ baseURL: `${gatewayUrl}/v1`, apiKey: token, maxRetries: 0 });
  });

  after(async () => {
    if (gateway) await gateway.stop();
    if (tls) await new Promise((resolve) => tls.close(resolve));
    if (upstream) await upstream.stop();
    if (node) await node.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('reads the chain from a node over https, trusting the CA it was given', async () => {
    assert.ok(tlsCalls > 0, 'the gateway called the node through the TLS endpoint');
    const answer = await client.chat.completions.create(ask());
    assert.equal(answer.choices[0].message.content, 'Hello from the fake model');
    assert.equal((await admin(bob)).charged, String(cost(5, 5)));
  });

  it('keeps the feed, the books and metrics off the public listener', async () => {
    for (const route of ['/usage', `/admin/users/${bob.address}`, '/metrics']) {
      const open = await fetch(`${gatewayUrl}${route}`);
      assert.equal(open.status, 404, route);
      assert.equal((await open.json()).error.code, 'unknown_url');
      assert.equal((await fetch(`${operatorUrl}${route}`)).status, 200, route);
    }
  });

  it('refuses a string `stream` with 400 and forwards and charges nothing', async () => {
    const before = await admin(bob);
    const seen = (await (await fetch(`${upstream.url}/_requests`)).json()).length;
    const response = await fetch(`${gatewayUrl}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${client.apiKey}` },
      body: JSON.stringify(ask({ stream: 'true' })),
    });
    assert.equal(response.status, 400);
    assert.equal((await response.json()).error.param, 'stream');
    assert.deepEqual(await admin(bob), before);
    assert.equal((await (await fetch(`${upstream.url}/_requests`)).json()).length, seen);
  });

  it('ends a stream the model server breaks off with an error the openai client raises, charging what was delivered', async () => {
    const before = BigInt((await admin(bob)).charged);
    const stream = await client.chat.completions.create(ask({ stream: true, metadata: { break_after: '2' } }));
    let text = '';
    await assert.rejects(async () => {
      for await (const chunk of stream) text += chunk.choices[0]?.delta?.content ?? '';
    }, (e) => e instanceof OpenAI.APIError && /broke off|ended before/.test(e.message));
    assert.equal(text, 'Hello from ');
    // The prompt's 5 words and the 2 delivered, counted by the upstream's tokenizer.
    const report = await admin(bob);
    assert.equal(BigInt(report.charged) - before, cost(5, 2));
    assert.equal(report.reserved, '0');
  });

  it('drains on SIGTERM: the stream in flight completes, and its charge survives the restart', async () => {
    const before = BigInt((await admin(bob)).charged);
    const stream = await client.chat.completions.create(ask({
      stream: true, stream_options: { include_usage: true }, metadata: { chunk_delay_ms: '600' },
    }));
    let text = '';
    let usage;
    let terminated;
    for await (const chunk of stream) {
      text += chunk.choices[0]?.delta?.content ?? '';
      if (chunk.usage) usage = chunk.usage;
      // SIGTERM once the first words are out.
      terminated ??= gateway.terminate();
    }
    await terminated;
    assert.equal(text, 'Hello from the fake model');
    assert.equal(usage.cost_units, String(cost(5, 5)));
    assert.deepEqual(gateway.exited(), { code: 0, signal: null });
    gateway = await startGateway(gatewayPort, operatorPort, args);
    assert.equal(BigInt((await admin(bob)).charged) - before, cost(5, 5));
  });
});
