// Governance through Polkadot.js as Apps drives it: Alice stakes most of her TMT for a tier,
// then puts a referendum on the `parameters` track to change the tiers (the call's preimage
// noted, the referendum submitted with the `ParameterSetter` origin, its decision deposit
// placed) and votes aye with her staked TMT at 1× conviction. It passes and is enacted within
// minutes; Bob, who stakes 100 TMT, was in tier 1 with 60 requests a minute at the gateway,
// and from the enacting block the new tier's 77 applies — no sudo involved. The same referendum
// shortens the treasury's spend period and the bounty payout delay (runtime parameters).
// Meanwhile a bug bounty runs its course: Charlie funds the treasury and proposes a bounty for
// Ferdie's bug report, a `treasurer` referendum approves it with Eve as curator, the treasury
// funds it at its next spend period, Eve accepts and awards it to Ferdie, who claims it after
// the delay. A signed account cannot set the tiers itself (BadOrigin, nothing changed).

import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';

import OpenAI from 'openai';
import { paymentToken, signVoucher } from '@tokenmeter/client';

import { waitFor } from '../lib/feed.js';
import { startGateway, startUpstream } from '../lib/gateway.js';
import { approved, proposeAndVote } from '../lib/governance.js';
import { devAccounts, feeAccounts, freePort, sendAndWaitInBlock, startDevNode } from '../lib/node.js';

const UNIT = 10n ** 12n;
const NEW_TIERS = [{ minStake: 50n * UNIT, priorityWeight: 3, rateLimit: 77, freeAllowance: 0 }];
const BOUNTY = 100n * UNIT;
const CURATOR_FEE = 10n * UNIT;
/** Blocks: the spend period and payout delay the parameters referendum sets. */
const PERIOD = 5;

describe('governance: a referendum voted with staked TMT sets the tiers the gateway applies', () => {
  const stopping = [];
  /** The treasury's account, as the chain says. */
  let TREASURY;
  let api;
  let who;
  let gatewayUrl;
  let client;
  let dataDir;
  let bountyId;
  let treasurerIndex;
  let treasuryBefore;
  const ok = ({ dispatchError }) => assert.equal(dispatchError, undefined, `${dispatchError}`);
  /** Waits until the chain gives Bob `rate` requests a minute and the gateway has followed. */
  const chainGives = async (rate, timeoutMs) => {
    await waitFor(async () => (await api._rpcCore.provider.send('priority_of', [who.bob.address])).rateLimit === rate,
      timeoutMs, `the chain giving Bob ${rate} requests a minute`);
    const best = (await api.rpc.chain.getHeader()).number.toNumber();
    await waitFor(async () => (await (await fetch(`${gatewayUrl}/health`)).json()).block >= best, 30_000, 'the gateway following');
  };
  const rateLimit = async () => {
    const { response } = await client.chat.completions
      .create({ model: 'open-llm', messages: [{ role: 'user', content: 'hi' }], max_tokens: 8 })
      .withResponse();
    return response.headers.get('ratelimit-limit');
  };

  before(async () => {
    who = await devAccounts('Alice', 'Bob', 'Charlie', 'Eve', 'Ferdie');
    const upstreamPort = await freePort();
    stopping.push(await startUpstream(upstreamPort));
    const node = await startDevNode();
    stopping.push(node);
    api = node.api;
    ({ treasury: TREASURY } = feeAccounts(api));
    const gatewayPort = await freePort();
    gatewayUrl = `http://127.0.0.1:${gatewayPort}`;
    const model = (await api.query.inferenceCredits.nextModelId()).toNumber();
    const results = await Promise.all([
      sendAndWaitInBlock(api.tx.utility.batchAll([
        api.tx.inferenceCredits.registerProvider('Alice AI', gatewayUrl),
        api.tx.inferenceCredits.registerModel('open-llm', UNIT, UNIT, 'Open'),
        api.tx.priorityStaking.stake(900_000n * UNIT),
      ]), who.alice),
      sendAndWaitInBlock(api.tx.utility.batchAll([
        api.tx.inferenceCredits.depositCredits(100n * UNIT),
        api.tx.priorityStaking.stake(100n * UNIT),
      ]), who.bob),
    ]);
    results.forEach(ok);
    dataDir = await mkdtemp(path.join(os.tmpdir(), 'tokenmeter-governance-'));
    stopping.push(await startGateway(gatewayPort, await freePort(), [
      '--upstream', `http://127.0.0.1:${upstreamPort}/v1`, '--node', `http://127.0.0.1:${node.rpcPort}`,
      '--provider', who.alice.address, '--model', `${model}=fake-llama`, '--data-dir', dataDir,
      '--poll-ms', '300', '--min-voucher-blocks', '10',
    ]));
    const genesisHash = (await api.rpc.chain.getBlockHash(0)).toHex();
    client = new OpenAI({
      baseURL: `${gatewayUrl}/v1`, maxRetries: 0,
      apiKey: paymentToken(signVoucher(who.bob, { genesisHash, provider: who.alice.address, cap: 50n * UNIT, expiry: 1_000_000 })),
    });
    // Bob's 100 TMT reach the first tier (60 requests a minute) after the dev warm-up.
    await chainGives(60, 60_000);
    assert.equal(await rateLimit(), '60');

    // Ferdie reported a bug: Charlie tops the treasury up and proposes a bounty for it; Alice
    // puts its approval, with Eve as curator, to a treasurer referendum (decided while the
    // parameters referendum below is).
    const proposed = await sendAndWaitInBlock(api.tx.utility.batchAll([
      api.tx.balances.transferKeepAlive(TREASURY, 500n * UNIT),
      api.tx.bounties.proposeBounty(BOUNTY, 'Bug report by Ferdie: the gateway answered 500 to an empty prompt'),
    ]), who.charlie);
    ok(proposed);
    treasuryBefore = (await (await api.at(proposed.blockHash)).query.system.account(TREASURY)).data.free.toBigInt();
    bountyId = proposed.events.find(({ event }) => api.events.bounties.BountyProposed.is(event)).event.data.index.toNumber();
    const treasurer = await proposeAndVote(api, who.alice, { Origins: 'Treasurer' },
      api.tx.bounties.approveBountyWithCurator(bountyId, who.eve.address, CURATOR_FEE), 900_000n * UNIT);
    ok(treasurer.result);
    treasurerIndex = treasurer.index;
  });

  after(async () => {
    for (const s of stopping.reverse()) await s.stop();
    if (dataDir) await rm(dataDir, { recursive: true, force: true });
  });

  it('refuses the tiers from a signed account and changes nothing', async () => {
    const before = (await api.query.priorityStaking.tiers()).toJSON();
    const result = await sendAndWaitInBlock(api.tx.priorityStaking.setTiers(NEW_TIERS), who.alice);
    assert.ok(result.dispatchError?.isBadOrigin, `${result.dispatchError}`);
    assert.deepEqual((await api.query.priorityStaking.tiers()).toJSON(), before);
  });

  it('passes a parameters referendum voted with staked TMT, and the gateway applies the new rate limit', async () => {
    // 900,000 TMT, all of it staked: the vote's lock and the stake's freeze overlap.
    // One proposal: the tiers, and the treasury's periods shortened to PERIOD blocks.
    const { index, result: submitted } = await proposeAndVote(api, who.alice, { Origins: 'ParameterSetter' },
      api.tx.utility.batchAll([
        api.tx.priorityStaking.setTiers(NEW_TIERS),
        api.tx.parameters.setParameter({ Treasury: { SpendPeriod: [null, PERIOD] } }),
        api.tx.parameters.setParameter({ Treasury: { BountyPayoutDelay: [null, PERIOD] } }),
      ]), 900_000n * UNIT);
    ok(submitted);
    const account = await api.query.system.account(who.alice.address);
    assert.ok(account.data.frozen.toBigInt() >= 900_000n * UNIT);
    // One lock per track voted on (parameters, treasurer), overlapping.
    const locks = (await api.query.balances.locks(who.alice.address)).map((l) => l.amount.toBigInt());
    assert.deepEqual(locks, [900_000n * UNIT]);
    const freezes = (await api.query.balances.freezes(who.alice.address)).map((f) => f.amount.toBigInt());
    assert.deepEqual(freezes, [900_000n * UNIT]);

    await waitFor(() => approved(api, index), 240_000, 'the referendum approved');
    await waitFor(async () => (await api.query.priorityStaking.tiers()).length === 1, 60_000, 'the new tiers enacted');
    const tiers = (await api.query.priorityStaking.tiers()).toJSON();
    assert.equal(tiers[0].rateLimit, 77);
    await chainGives(77, 30_000);
    assert.equal(await rateLimit(), '77');
    const period = await api.query.parameters.parameters({ Treasury: { SpendPeriod: null } });
    assert.equal(period.unwrap().asTreasury.asSpendPeriod.toNumber(), PERIOD);
  });

  it('funds the bounty a treasurer referendum approved; the curator awards it and the bug reporter is paid', async () => {
    await waitFor(() => approved(api, treasurerIndex), 240_000, 'the treasurer referendum approved');
    const status = async () => (await api.query.bounties.bounties(bountyId)).unwrap().status;
    // Funded at the next spend period: the curator is then proposed.
    await waitFor(async () => (await status()).isCuratorProposed, 120_000, 'the treasury funding the bounty');
    // The treasury paid the bounty's value into the bounty's account (it also took a few
    // protocol fees of the gateway's settlements meanwhile, far less than 1 TMT).
    const spent = treasuryBefore - (await api.query.system.account(TREASURY)).data.free.toBigInt();
    assert.ok(spent > BOUNTY - UNIT && spent <= BOUNTY, `the treasury spent ${spent}`);
    ok(await sendAndWaitInBlock(api.tx.bounties.acceptCurator(bountyId), who.eve));
    ok(await sendAndWaitInBlock(api.tx.bounties.awardBounty(bountyId, who.ferdie.address), who.eve));
    const pending = (await status()).asPendingPayout;
    assert.equal(pending.beneficiary.toString(), who.ferdie.address);
    // Claimable PERIOD blocks after the award; before that the claim fails.
    const unlockAt = pending.unlockAt.toNumber();
    await waitFor(async () => (await api.rpc.chain.getHeader()).number.toNumber() >= unlockAt, 120_000, 'the payout delay');
    const free = async (who) => (await api.query.system.account(who)).data.free.toBigInt();
    const [ferdie, eve] = [await free(who.ferdie.address), await free(who.eve.address)];
    const claimed = await sendAndWaitInBlock(api.tx.bounties.claimBounty(bountyId), who.ferdie);
    ok(claimed);
    const paid = claimed.events.find(({ event }) => api.events.bounties.BountyClaimed.is(event)).event.data;
    assert.equal(paid.payout.toBigInt(), BOUNTY - CURATOR_FEE);
    assert.equal(paid.beneficiary.toString(), who.ferdie.address);
    // Ferdie gets the bounty less the curator's fee (less his transaction fee); Eve her fee and
    // her deposit back.
    assert.ok(await free(who.ferdie.address) > ferdie + BOUNTY - CURATOR_FEE - UNIT / 10n);
    assert.ok(await free(who.eve.address) >= eve + CURATOR_FEE);
    assert.ok((await api.query.bounties.bounties(bountyId)).isNone);
  });

  it('answers the queries Polkadot.js Apps\' Governance and Treasury pages make', async () => {
    // Referenda page: the tracks (names and periods), every referendum, the deciding counts.
    // A track's name is 25 bytes, padded with NULs (the SDK's `[u8; 25]`).
    const tracks = api.consts.referenda.tracks.map(([id, info]) => [id.toNumber(), info.name.toString().replace(/\0+$/, '')]);
    assert.deepEqual(tracks, [[0, 'root'], [1, 'parameters'], [2, 'treasurer']]);
    const referenda = await api.query.referenda.referendumInfoFor.entries();
    assert.ok(referenda.length >= 2 && referenda.every(([, info]) => info.isSome && info.unwrap().isApproved));
    assert.equal((await api.query.referenda.decidingCount(1)).toNumber(), 0);
    // Alice's votes and class locks, one per track she voted on.
    const voting = await api.query.convictionVoting.votingFor.entries(who.alice.address);
    assert.deepEqual(voting.map(([key]) => key.args[1].toNumber()).sort(), [1, 2]);
    const classLocks = (await api.query.convictionVoting.classLocksFor(who.alice.address))
      .map(([track, amount]) => [track.toNumber(), amount.toBigInt()]).sort();
    assert.deepEqual(classLocks, [[1, 900_000n * UNIT], [2, 900_000n * UNIT]]);
    // Bounties page: the derive Apps uses lists the (claimed, so now gone) bounty's successors.
    const proposed = await sendAndWaitInBlock(api.tx.bounties.proposeBounty(20n * UNIT, 'Moderation: spam feedback on open-llm'), who.charlie);
    ok(proposed);
    const bounties = await api.derive.bounties.bounties();
    assert.deepEqual(bounties.map((b) => b.description), ['Moderation: spam feedback on open-llm']);
    assert.ok(bounties[0].bounty.status.isProposed);
    // Treasury page: proposals and approvals, spends, the pot.
    const treasury = await api.derive.treasury.proposals();
    assert.deepEqual([treasury.approvals.length, treasury.proposals.length], [0, 0]);
    assert.deepEqual(await api.query.treasury.spends.entries(), []);
    assert.ok((await api.query.system.account(TREASURY)).data.free.toBigInt() > 0n);
  });
});
