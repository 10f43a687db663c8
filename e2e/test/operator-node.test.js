// A non-validator operator node, as a provider runs one beside a validator: it joins the dev
// chain (Alice validates), holds the operator key in its own keystore and attests the served
// usage feed. Restarted *without* `--usage-feed`, it keeps attesting the feed URL it stored,
// because it has an operator key (before, the worker stayed off and nothing was attested).

import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';

import { u8aToHex } from '@polkadot/util';

import { feedRecord, startFeed, waitFor, waitForAttested } from '../lib/feed.js';
import { devAccounts, freePort, sendAndWaitInBlock, startNode } from '../lib/node.js';

const UNIT = 10n ** 12n;

describe('a non-validator operator node', () => {
  let validator;
  let operatorNode;
  let feed;
  let feedUrl;
  let basePath;
  let bootnode;
  let alice;
  let bob;
  let operator;
  let model;
  let genesisHash;

  /** A feed record: Bob was served `tokens` input tokens under a 50 TMT voucher. */
  const record = (seq, tokens) => feedRecord({
    seq, user: bob, provider: alice.address, model, tokens, cap: 50n * UNIT, genesisHash,
  });

  /** The operator node: a full node (not a validator) of the dev chain, peered with Alice. */
  const startOperatorNode = async (extraArgs) => startNode({
    args: [
      '--chain', 'dev', '--base-path', basePath, '--port', String(await freePort()),
      '--bootnodes', bootnode, ...extraArgs,
    ],
  });

  before(async () => {
    ({ alice, bob, operator } = await devAccounts('Alice', 'Bob', 'Operator'));
    const feedPort = await freePort();
    feed = await startFeed(feedPort);
    feedUrl = `http://127.0.0.1:${feedPort}`;
    const p2pPort = await freePort();
    validator = await startNode({ args: ['--dev', '--tmp', '--port', String(p2pPort)] });
    const peerId = (await validator.api.rpc.system.localPeerId()).toString();
    bootnode = `/ip4/127.0.0.1/tcp/${p2pPort}/p2p/${peerId}`;
    genesisHash = (await validator.api.rpc.chain.getBlockHash(0)).toHex();
    basePath = await mkdtemp(path.join(os.tmpdir(), 'tokenmeter-operator-'));
  });

  after(async () => {
    if (operatorNode) await operatorNode.stop();
    if (validator) await validator.stop();
    if (feed) await new Promise((resolve) => feed.server.close(resolve));
    if (basePath) await rm(basePath, { recursive: true, force: true });
  });

  it('joins the chain, takes the operator key and attests the feed', async () => {
    const api = validator.api;
    operatorNode = await startOperatorNode(['--usage-feed', feedUrl]);
    assert.equal((await operatorNode.api.rpc.system.nodeRoles())[0].isFull, true);
    await operatorNode.api.rpc.author.insertKey('tmat', '//Operator', u8aToHex(operator.publicKey));

    model = (await api.query.inferenceCredits.nextModelId()).toNumber();
    const setUp = api.tx.utility.batchAll([
      api.tx.inferenceCredits.registerProvider('Alice AI', 'https://alice.example/v1'),
      api.tx.inferenceCredits.registerModel('llama-70b', UNIT, UNIT, 'Open'),
      api.tx.usageAttestation.registerOperator(operator.address),
      api.tx.usageAttestation.setCapacity(1_000_000_000),
      api.tx.balances.transferKeepAlive(operator.address, 10n * UNIT),
    ]);
    const results = await Promise.all([
      sendAndWaitInBlock(setUp, alice),
      sendAndWaitInBlock(api.tx.inferenceCredits.depositCredits(50n * UNIT), bob),
    ]);
    for (const { dispatchError } of results) assert.equal(dispatchError, undefined, `${dispatchError}`);

    feed.records.push(record(1, 2_000));
    const { attested } = await waitForAttested(api, 1);
    assert.equal(attested.operator.toString(), operator.address);
    assert.equal(attested.charged.toBigInt(), 2n * UNIT);
  });

  it('keeps attesting the stored feed after a restart without --usage-feed', async () => {
    const api = validator.api;
    await operatorNode.stop();
    operatorNode = await startOperatorNode([]);
    await waitFor(() => operatorNode.logs.join('').includes('(stored) and an operator key'),
      30_000, 'the node saying it runs the worker for the stored feed');
    const requests = feed.requests.length;
    feed.records.push(record(2, 3_000));
    const { attested } = await waitForAttested(api, 2, 90_000);
    assert.equal(attested.charged.toBigInt(), 3n * UNIT);
    assert.ok(feed.requests.length > requests);
    assert.equal((await api.query.inferenceCredits.credits(bob.address)).toBigInt(), 45n * UNIT);
  });
});
