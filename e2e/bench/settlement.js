// Usage settled per block on a live dev node, as an operator node settles it
// (docs/performance.md): N distinct users, each with credits and a voucher of its own, one feed
// record each, attested by the node's own off-chain worker from a feed this script serves. For
// every block from the first record to the last, it counts the records attested, the users
// settled (`UsageSettled` events) and the block's normal-class weight, and prints a Markdown
// table and `figure:` lines — for a round of new vouchers, then a round of one more record per
// user under the same vouchers. Run by scripts/bench-settlement.sh:
//
//   TOKENMETER_NODE=target/release/tokenmeter-node node e2e/bench/settlement.js
//
// N (default 2,560: ten full attestations) users; WRAPPED=1 has every user sign the way a
// browser wallet does (`<Bytes>…</Bytes>`, the settlement's second signature check).

import { u8aToHex } from '@polkadot/util';

import { feedRecord, startFeed, waitFor } from '../lib/feed.js';
import { devAccounts, freePort, sendAndWaitInBlock, startDevNode } from '../lib/node.js';

const UNIT = 10n ** 12n;
const N = Number(process.env.N ?? 2560);
const WRAPPED = process.env.WRAPPED === '1';
const TOKENS = 1_000;
const CAP = 10n * UNIT;

const feed = await startFeed(await freePort());
const node = await startDevNode({ extraArgs: ['--usage-feed', `http://127.0.0.1:${feed.server.address().port}`] });
const { api } = node;
try {
  const { alice, operator } = await devAccounts('Alice', 'Operator');
  const { Keyring } = await import('@polkadot/keyring');
  const keyring = new Keyring({ type: 'sr25519' });
  const users = Array.from({ length: N }, (_, i) => keyring.addFromUri(`//Settled//${i}`));
  const ok = ({ dispatchError }, what) => {
    if (dispatchError) throw new Error(`${what}: ${dispatchError}`);
  };

  // Alice provides a model at 1 TMT per 1,000 tokens; //Operator attests for her.
  await api.rpc.author.insertKey('tmat', '//Operator', u8aToHex(operator.publicKey));
  const model = (await api.query.inferenceCredits.nextModelId()).toNumber();
  ok(await sendAndWaitInBlock(api.tx.utility.batchAll([
    api.tx.inferenceCredits.registerProvider('Alice AI', 'https://alice.example/v1'),
    api.tx.inferenceCredits.registerModel('bench-llm', UNIT, UNIT, 'Open'),
    api.tx.usageAttestation.registerOperator(operator.address),
    api.tx.usageAttestation.setCapacity(1_000_000_000_000),
    api.tx.balances.transferKeepAlive(operator.address, 100n * UNIT),
  ]), alice), 'provider set-up');

  /** Submits signed transactions (hex) and waits until the pool has none left. */
  const submitAll = async (signed, what) => {
    for (let i = 0; i < signed.length; i += 250) {
      await Promise.all(signed.slice(i, i + 250).map((hex) => api.rpc.author.submitExtrinsic(hex)));
    }
    await waitFor(async () => (await api.rpc.author.pendingExtrinsics()).length === 0, 300_000, what);
  };
  const options = (nonce) => ({ nonce, era: 0, blockHash: api.genesisHash });

  // Every user gets 20 TMT (batches from Alice), then deposits 12 TMT of credits itself.
  let nonce = (await api.rpc.system.accountNextIndex(alice.address)).toNumber();
  const funding = [];
  for (let i = 0; i < N; i += 400) {
    const tx = api.tx.utility.batchAll(users.slice(i, i + 400)
      .map((u) => api.tx.balances.transferKeepAlive(u.address, 20n * UNIT)));
    await tx.signAsync(alice, options(nonce++));
    funding.push(tx.toHex());
  }
  await submitAll(funding, 'funding the users');
  const deposits = [];
  for (const user of users) {
    const tx = api.tx.inferenceCredits.depositCredits(12n * UNIT);
    await tx.signAsync(user, options(0));
    deposits.push(tx.toHex());
  }
  await submitAll(deposits, 'the users depositing credits');
  const credited = await api.query.inferenceCredits.credits(users[N - 1].address);
  if (credited.toBigInt() !== 12n * UNIT) throw new Error(`deposit missing: ${credited}`);

  // One record per user, each under the user's own voucher; the worker takes them from here.
  // Then a second round: one more record per user under the very same voucher (its signature
  // too), which the chain accepted in the first round.
  const genesisHash = api.genesisHash.toU8a();
  const fresh = users.map((user, i) => feedRecord({
    seq: i + 1, user, provider: alice.address, model, tokens: TOKENS, cap: CAP, genesisHash, wrapped: WRAPPED,
  }));
  const again = fresh.map((record, i) => ({ ...record, seq: N + i + 1 }));
  const maxNormal = api.consts.system.blockWeights.perClass.normal.maxTotal.unwrap().refTime.toBigInt();

  /** Serves `records`, waits until the worker attested them all, and reads every block since. */
  const measure = async (label, records) => {
    const first = (await api.rpc.chain.getHeader()).number.toNumber() + 1;
    const target = records[records.length - 1].seq;
    feed.records.push(...records);
    await waitFor(async () => (await api.query.usageAttestation.lastSeq(alice.address)).toNumber() === target,
      Math.max(120_000, N * 200), `the worker attesting ${records.length} records (${label})`);
    const last = (await api.rpc.chain.getHeader()).number.toNumber();
    const rows = [];
    for (let n = first; n <= last; n += 1) {
      const hash = await api.rpc.chain.getBlockHash(n);
      const at = await api.at(hash);
      const [events, weight, moment] = await Promise.all([at.query.system.events(), at.query.system.blockWeight(), at.query.timestamp.now()]);
      let attested = 0;
      let settled = 0;
      let rejected = 0;
      for (const { event } of events) {
        if (api.events.usageAttestation.Attested.is(event)) {
          attested += event.data[3].toNumber();
          rejected += event.data[5].toNumber();
        }
        if (api.events.inferenceCredits.UsageSettled.is(event)) settled += 1;
      }
      const fill = Number((weight.normal.refTime.toBigInt() * 1000n) / maxNormal) / 10;
      rows.push({ n, ms: moment.toNumber(), attested, settled, rejected, fill });
    }
    const busy = rows.filter((r) => r.attested > 0);
    if (busy.some((r) => r.rejected > 0)) throw new Error(`records rejected: ${JSON.stringify(busy)}`);
    const settled = busy.reduce((a, r) => a + r.settled, 0);
    if (settled !== records.length) throw new Error(`settled ${settled} of ${records.length} (${label})`);
    const seconds = (rows[rows.length - 1].ms - rows[0].ms) / 1000;
    const blockSeconds = seconds / Math.max(1, rows.length - 1);
    const perBlock = Math.max(...busy.map((r) => r.settled));

    console.log(`\n${label}:\n`);
    console.log(`| block | records attested | users settled | normal-class weight used |`);
    console.log('|---:|---:|---:|---:|');
    for (const r of rows) console.log(`| ${r.n} | ${r.attested} | ${r.settled} | ${r.fill}% |`);
    console.log(`figure: ${label}: ${records.length} users (${WRAPPED ? 'wallet-wrapped' : 'bare'} vouchers) settled in ${rows.length} blocks, ${seconds.toFixed(0)} s (${blockSeconds.toFixed(1)} s a block)`);
    console.log(`figure: ${label}: users settled per block, at most: ${perBlock}; blocks with an attestation: ${busy.length} of ${rows.length}`);
    console.log(`figure: ${label}: users settled per second over the run: ${(records.length / seconds).toFixed(1)}`);
    console.log(`figure: ${label}: normal-class weight of the blocks with an attestation: ${Math.min(...busy.map((r) => r.fill))}–${Math.max(...busy.map((r) => r.fill))}%`);
  };
  await measure('new vouchers', fresh);
  await measure('the same vouchers again', again);
} finally {
  await node.stop();
  await new Promise((resolve) => feed.server.close(resolve));
}
