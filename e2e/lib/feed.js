// A usage feed served by a test, as the off-chain worker reads it
// (docs/pallets/usage-attestation.md), and waiting for the attestations it leads to.

import http from 'node:http';

import { u8aConcat, u8aToHex, u8aWrapBytes } from '@polkadot/util';
import { voucherPayload } from '@tokenmeter/client';

/** A usage feed: `GET /usage?after=<seq>` answers the records after `seq`, or `status`. */
export function startFeed(port) {
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

/** Waits until `condition()` (sync or async) holds, polling every 200 ms, or fails. */
export async function waitFor(condition, timeoutMs, what) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await condition()) return;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for: ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

/** Waits for a block whose events include `usageAttestation.Attested` from `firstSeq`. */
export function waitForAttested(api, firstSeq, timeoutMs = 60_000) {
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

/**
 * A feed record: `user` (a keyring pair) was served `tokens` input tokens of `model`, under a
 * voucher for `provider` capped at `cap` (expiry block 1,000,000). With `wrapped`, the user
 * signs as the Polkadot.js extension's `signRaw` does (`<Bytes>…</Bytes>`).
 */
export function feedRecord({ seq, user, provider, model, tokens, cap, genesisHash, wrapped = false }) {
  const payload = voucherPayload({ genesisHash, provider, user: user.address, cap, expiry: 1_000_000 });
  // An encoded `MultiSignature`: 0x01 (sr25519), then the signature.
  const signature = u8aConcat(new Uint8Array([1]), user.sign(wrapped ? u8aWrapBytes(payload) : payload));
  return {
    seq,
    user: user.address,
    model,
    input_tokens: tokens,
    output_tokens: 0,
    voucher: { cap: cap.toString(), expiry: 1_000_000, signature: u8aToHex(signature) },
  };
}
