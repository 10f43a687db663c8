// Usage attestation as an operator runs it: the test serves a usage feed over HTTP with
// vouchers really signed by Bob and Charlie, starts the dev node with `--usage-feed` and inserts
// an operator key with `author_insertKey`. The node's off-chain worker attests the records by
// itself; credits move from the users to the provider minus the fee to the reward pool, a
// record over its voucher's cap is paid only up to the cap, a feed that is down is counted in
// the node's Prometheus metrics and retried.

import assert from 'node:assert/strict';
import http from 'node:http';
import { after, before, describe, it } from 'node:test';

import { stringToU8a, u8aConcat, u8aToHex, u8aWrapBytes } from '@polkadot/util';
import { encodeAddress } from '@polkadot/util-crypto';

import { voucherPayload } from '../lib/voucher.js';

import {
  devAccounts, freePort, sendAndWaitInBlock, startDevNode, statesAround, waitForHead,
} from '../lib/node.js';

const UNIT = 10n ** 12n;
/** The reward pool: the account of `PalletId(*b"tmt/pool")`. */
const POOL = encodeAddress(u8aConcat(stringToU8a('modltmt/pool'), new Uint8Array(20)), 42);

/** A usage feed: `GET /usage?after=<seq>` answers the records after `seq`, or `status`. */
function startFeed(port) {
  const feed = { records: [], status: 200, requests: [] };
  feed.server = http.createServer((req, res) => {
    const url = new URL(req.url, 'http://feed');
    feed.requests.push(url.pathname + url.search);
    if (url.pathname !== '/usage') {
      res.writeHead(404).end();
      return;
    }
    if (feed.status !== 200) {
      res.writeHead(feed.status).end('feed is down');
      return;
    }
    const after = Number(url.searchParams.get('after') ?? 0);
    const body = JSON.stringify(feed.records.filter((record) => record.seq > after));
    res.writeHead(200, { 'content-type': 'application/json' }).end(body);
  });
  return new Promise((resolve) => feed.server.listen(port, '127.0.0.1', () => resolve(feed)));
}

/** Waits for a block whose events include `usageAttestation.Attested` from `firstSeq`. */
function waitForAttested(api, firstSeq, timeoutMs = 60_000) {
  return new Promise((resolve, reject) => {
    let unsubscribe;
    const timer = setTimeout(() => {
      if (unsubscribe) unsubscribe();
      reject(new Error(`no attestation from seq ${firstSeq} within ${timeoutMs} ms`));
    }, timeoutMs);
    api.rpc.chain.subscribeNewHeads(async (header) => {
      const at = await api.at(header.hash);
      const events = await at.query.system.events();
      const attested = events.find(({ event }) => api.events.usageAttestation.Attested.is(event)
        && event.data.firstSeq.toNumber() === firstSeq);
      if (attested) {
        clearTimeout(timer);
        if (unsubscribe) unsubscribe();
        // By position: `entries` is also a method of the event's data.
        const [provider, operator, , entries, charged, rejected] = attested.event.data;
        resolve({ blockHash: header.hash, events, attested: { provider, operator, entries, charged, rejected } });
      }
    }).then((unsub) => { unsubscribe = unsub; }, reject);
  });
}

describe('usage attestation', () => {
  let node;
  let api;
  let feed;
  let alice;
  let bob;
  let charlie;
  let operator;
  let model;
  let genesisHash;

  /** The value of the node's metric `name` whose labels include `label`. */
  const metric = async (name, label = '') => {
    const text = await (await fetch(`http://127.0.0.1:${node.prometheusPort}/metrics`)).text();
    const line = text.split('\n').find((l) => l.startsWith(`${name}{`) && l.includes(label));
    assert.ok(line, `no metric ${name}{${label}}`);
    return Number(line.split(' ').pop());
  };

  /**
   * A feed record: `user` served `tokens` input tokens, under a voucher capped at `cap`.
   * Charlie signs as the Polkadot.js extension's `signRaw` does (`<Bytes>…</Bytes>`).
   */
  const record = (seq, user, tokens, cap) => {
    const payload = voucherPayload({
      genesisHash: u8aToHex(genesisHash),
      provider: alice.address,
      user: user.address,
      cap,
      expiry: 1_000_000,
    });
    const signed = user === charlie ? u8aWrapBytes(payload) : payload;
    // An encoded `MultiSignature`: 0x01 (sr25519), then the signature.
    const signature = u8aConcat(new Uint8Array([1]), user.sign(signed));
    return {
      seq,
      user: user.address,
      model,
      input_tokens: tokens,
      output_tokens: 0,
      voucher: { cap: cap.toString(), expiry: 1_000_000, signature: u8aToHex(signature) },
    };
  };

  before(async () => {
    ({ alice, bob, charlie, operator } = await devAccounts('Alice', 'Bob', 'Charlie', 'Operator'));
    const feedPort = await freePort();
    feed = await startFeed(feedPort);
    node = await startDevNode({ extraArgs: ['--usage-feed', `http://127.0.0.1:${feedPort}/`] });
    api = node.api;
    genesisHash = (await api.rpc.chain.getBlockHash(0)).toU8a();
  });

  after(async () => {
    if (node) await node.stop();
    if (feed) await new Promise((resolve) => feed.server.close(resolve));
  });

  it('takes an operator key from author_insertKey and a provider that registers it', async () => {
    await api.rpc.author.insertKey('tmat', '//Operator', u8aToHex(operator.publicKey));
    assert.equal((await api.rpc.author.hasKey(u8aToHex(operator.publicKey), 'tmat')).isTrue, true);

    model = (await api.query.inferenceCredits.nextModelId()).toNumber();
    const setUp = api.tx.utility.batchAll([
      api.tx.inferenceCredits.registerProvider('Alice AI', 'https://alice.example/v1'),
      api.tx.inferenceCredits.registerModel('llama-70b', UNIT, UNIT, 'Open'),
      api.tx.usageAttestation.registerOperator(operator.address),
      api.tx.usageAttestation.setCapacity(1_000_000_000),
      // The operator pays its transactions' fees.
      api.tx.balances.transferKeepAlive(operator.address, 10n * UNIT),
    ]);
    const results = await Promise.all([
      sendAndWaitInBlock(setUp, alice),
      sendAndWaitInBlock(api.tx.inferenceCredits.depositCredits(50n * UNIT), bob),
      sendAndWaitInBlock(api.tx.inferenceCredits.depositCredits(50n * UNIT), charlie),
    ]);
    for (const { dispatchError } of results) assert.equal(dispatchError, undefined, `${dispatchError}`);
    const registered = results[0].events.find(({ event }) => api.events.usageAttestation.OperatorRegistered.is(event));
    assert.equal(registered.event.data.operator.toString(), operator.address);
  });

  it('attests the feed by itself: users pay the provider, the pool takes its fee, over-cap usage is not paid', async () => {
    // Bob: 10,000 tokens at 1 TMT per 1,000 under a 50 TMT voucher. Charlie: the same usage
    // under a 4 TMT voucher, so 6 TMT of it is over the cap.
    feed.records.push(record(1, bob, 10_000, 50n * UNIT), record(2, charlie, 10_000, 4n * UNIT));
    const { blockHash, events, attested } = await waitForAttested(api, 1);

    assert.equal(attested.provider.toString(), alice.address);
    assert.equal(attested.operator.toString(), operator.address);
    assert.equal(attested.entries.toNumber(), 2);
    assert.equal(attested.charged.toBigInt(), 14n * UNIT);
    assert.equal(attested.rejected.toNumber(), 0);
    const aboveCap = events.find(({ event }) => api.events.inferenceCredits.UsageAboveCap.is(event));
    assert.equal(aboveCap.event.data.user.toString(), charlie.address);
    assert.equal(aboveCap.event.data.cost.toBigInt(), 10n * UNIT);
    assert.equal(aboveCap.event.data.headroom.toBigInt(), 4n * UNIT);

    const { before: was, after: is } = await statesAround(api, blockHash);
    const credits = async (state, who) => (await state.query.inferenceCredits.credits(who.address)).toBigInt();
    const free = async (state, who) => (await state.query.system.account(who)).data.free.toBigInt();
    assert.equal(await credits(was, bob) - await credits(is, bob), 10n * UNIT);
    assert.equal(await credits(was, charlie) - await credits(is, charlie), 4n * UNIT);
    // The provider gets 14 TMT minus the 5% protocol fee; the fee goes to the reward pool.
    assert.equal(await free(is, alice.address) - await free(was, alice.address), 14n * UNIT * 95n / 100n);
    assert.equal(await free(is, POOL) - await free(was, POOL), 14n * UNIT * 5n / 100n);
    assert.equal((await is.query.usageAttestation.lastSeq(alice.address)).toNumber(), 2);
    assert.ok(feed.requests.includes('/usage?after=0&limit=256'), feed.requests.join(', '));

    assert.equal(await metric('tokenmeter_usage_attestations_submitted_total'), 1);
    assert.equal(await metric('tokenmeter_usage_attested_records_total'), 2);
  });

  it('counts a feed that is down, submits nothing, and catches up when it is back', async () => {
    const failed = () => metric('tokenmeter_usage_attestations_failed_total', 'reason="unreachable"');
    const failedBefore = await failed();
    feed.status = 503;
    feed.records.push(record(3, bob, 1_000, 50n * UNIT));
    const requests = feed.requests.length;
    // Two blocks with the feed down.
    const start = (await api.rpc.chain.getHeader()).number.toNumber();
    await waitForHead(api, 'subscribeNewHeads', (header) => header.number.toNumber() >= start + 2, 30_000);
    assert.ok(feed.requests.length > requests, 'the worker kept asking');
    assert.ok(await failed() >= failedBefore + 1);
    assert.equal((await api.query.usageAttestation.lastSeq(alice.address)).toNumber(), 2);

    feed.status = 200;
    const { attested } = await waitForAttested(api, 3);
    assert.equal(attested.entries.toNumber(), 1);
    assert.equal(attested.charged.toBigInt(), UNIT);
    assert.equal(await metric('tokenmeter_usage_attestations_submitted_total'), 2);
  });
});
