// How many agent payments fit in a block, against plain balance transfers, on a live dev node
// (docs/pallets/agent-wallet.md). Run by scripts/bench-agent-payments.sh:
//
//   TOKENMETER_NODE=target/release/tokenmeter-node node e2e/bench/agent-payments.js
//
// For each kind, N transactions are signed up front (transfers by Alice; `agentWallet.pay` by
// Bob, the controller of an agent Alice funded, which does not pay fees), submitted right after
// a new block, and the blocks that include them are read back. Only blocks whose normal-class
// weight is at least 95% of its limit count as full; the figure is the number of such
// transactions in a full block. All kinds pay 1 TMT to the same fresh accounts. The third kind
// is `agentWallet.paySigned`: payments Bob signed off chain, submitted as general transactions
// (no signer; the agent pays the fee).

import { generalTransaction, signAgentPayment } from '@tokenmeter/client';
import { startDevNode, devAccounts, sendAndWaitInBlock, waitForHead } from '../lib/node.js';

const UNIT = 10n ** 12n;
const N = Number(process.env.N ?? 5000);
const CONFIG_HASH = `0x${'cd'.repeat(32)}`;

const node = await startDevNode();
const { api } = node;
try {
  const { alice, bob } = await devAccounts('Alice', 'Bob');
  const { Keyring } = await import('@polkadot/keyring');
  const keyring = new Keyring({ type: 'sr25519' });
  const payees = Array.from({ length: N }, (_, i) => keyring.addFromUri(`//Payee//${i}`).address);
  const maxNormal = api.consts.system.blockWeights.perClass.normal.maxTotal.unwrap().refTime.toBigInt();

  const ok = (result, what) => {
    if (result.dispatchError) throw new Error(`${what}: ${result.dispatchError}`);
  };
  const agent = await api._rpcCore.provider.send('agentWallet_address', [alice.address, CONFIG_HASH]);
  ok(await sendAndWaitInBlock(api.tx.agentWallet.createAgent(CONFIG_HASH, {
    perPaymentCap: 10n * UNIT,
    periodCap: BigInt(N) * 20n * UNIT,
    periodLength: 1_000_000,
    payees: null,
    cosignThreshold: 10n * UNIT,
    cosigners: [],
    approvalsNeeded: 1,
    expiry: null,
    paysFees: false,
  }, bob.address), alice), 'createAgent');
  ok(await sendAndWaitInBlock(api.tx.balances.transferKeepAlive(agent, BigInt(N) * 3n * UNIT), alice), 'fund');

  /** Submits the encoded transactions `hexes` after a new head; returns the full blocks' counts of them. */
  const measure = async (name, hexes) => {
    const provider = api._rpcCore.provider;
    const ours = new Set(hexes);
    const start = (await api.rpc.chain.getHeader()).number.toNumber();
    await waitForHead(api, 'subscribeNewHeads', (h) => h.number.toNumber() > start, 60_000);
    const first = (await api.rpc.chain.getHeader()).number.toNumber() + 1;
    for (let i = 0; i < hexes.length; i += 250) {
      await Promise.all(hexes.slice(i, i + 250).map((hex) => provider.send('author_submitExtrinsic', [hex])));
    }
    // Wait until all are included (the pool is empty of them).
    const deadline = Date.now() + 300_000;
    while ((await api.rpc.author.pendingExtrinsics()).length > 0) {
      if (Date.now() > deadline) throw new Error(`${name}: not all included`);
      await new Promise((r) => setTimeout(r, 1000));
    }
    const last = (await api.rpc.chain.getHeader()).number.toNumber();
    const blocks = [];
    let included = 0;
    for (let n = first; n <= last; n += 1) {
      const hash = await provider.send('chain_getBlockHash', [n]);
      const [{ block }, weight] = await Promise.all([provider.send('chain_getBlock', [hash]), api.query.system.blockWeight.at(hash)]);
      const count = block.extrinsics.filter((hex) => ours.has(hex)).length;
      included += count;
      const normal = weight.normal.refTime.toBigInt();
      blocks.push({ n, count, full: normal * 100n >= maxNormal * 95n, fill: Number((normal * 1000n) / maxNormal) / 10 });
    }
    console.log(`${name}: blocks ${JSON.stringify(blocks)}`);
    if (included !== hexes.length) throw new Error(`${name}: ${included} of ${hexes.length} included`);
    const full = blocks.filter((b) => b.full).map((b) => b.count);
    if (full.length === 0) throw new Error(`${name}: no full block; raise N`);
    return Math.min(...full);
  };

  /** `N` transactions of `signer`, signed up front, encoded. */
  const signedBy = async (signer, makeCall) => {
    let nonce = (await api.rpc.system.accountNextIndex(signer.address)).toNumber();
    const genesisHash = api.genesisHash;
    const signed = [];
    for (let i = 0; i < N; i += 1) {
      const tx = makeCall(payees[i]);
      await tx.signAsync(signer, { nonce: nonce++, era: 0, blockHash: genesisHash });
      signed.push(tx.toHex());
    }
    return signed;
  };

  /** `N` payments of the agent Bob signed, as general transactions. */
  const signedPayments = async () => {
    const { nextPaymentId } = await api._rpcCore.provider.send('agentWallet_agent', [agent]);
    const genesisHash = api.genesisHash.toHex();
    const validUntil = (await api.rpc.chain.getHeader()).number.toNumber() + 10_000;
    return payees.map((payee, i) => {
      const payment = { genesisHash, agent, payee, amount: UNIT, nonce: nextPaymentId + i, validUntil };
      const call = api.tx.agentWallet.paySigned(agent, payee, UNIT, payment.nonce, validUntil, signAgentPayment(bob, payment));
      return generalTransaction(call.method.toU8a());
    });
  };

  const transfers = await measure('transfers', await signedBy(alice, (to) => api.tx.balances.transferKeepAlive(to, UNIT)));
  const payments = await measure('agent payments', await signedBy(bob, (to) => api.tx.agentWallet.pay(agent, to, UNIT)));
  const bySignature = await measure('signed agent payments', await signedPayments());
  console.log(`figure: balance transfers per full block: ${transfers}`);
  console.log(`figure: agent payments per full block: ${payments}`);
  console.log(`figure: agent payments / transfers: ${(payments / transfers).toFixed(3)}`);
  console.log(`figure: signed agent payments (paySigned) per full block: ${bySignature}`);
  console.log(`figure: signed agent payments / transfers: ${(bySignature / transfers).toFixed(3)}`);
} finally {
  await node.stop();
}
