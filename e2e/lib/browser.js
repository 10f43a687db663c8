// A real browser for the console's tests: Debian's `chromium` (no browser download), driven by
// puppeteer-core, with a test wallet injected as `window.injectedWeb3` — the interface the
// Polkadot.js extension, Talisman and SubWallet inject — backed by a keyring in the test.

import { existsSync } from 'node:fs';

import puppeteer from 'puppeteer-core';
import { hexToU8a, u8aToHex, u8aWrapBytes } from '@polkadot/util';

/** The chromium executable: $CHROMIUM, else Debian's. */
export function chromiumBinary() {
  const found = [process.env.CHROMIUM, '/usr/bin/chromium', '/usr/bin/chromium-browser'].filter(Boolean).find(existsSync);
  if (!found) throw new Error('chromium not found: install Debian\'s `chromium` package (scripts/common.sh does) or set $CHROMIUM');
  return found;
}

/** Starts headless chromium; `{ browser, close }`. */
export async function startBrowser() {
  const browser = await puppeteer.launch({
    executablePath: chromiumBinary(),
    headless: true,
    args: ['--no-sandbox', '--disable-dev-shm-usage', '--disable-gpu', '--no-first-run'],
  });
  return { browser, close: () => browser.close() };
}

/**
 * Opens a page with a test wallet named `tokenmeter-test-wallet` holding `pairs` (keyring
 * pairs): it gives the page their accounts and signs what the page asks (`signPayload` with
 * the chain's registry from `api`, `signRaw` as the extension does: the bytes wrapped in
 * `<Bytes>…</Bytes>`). Every request is recorded in `signed` ({ kind, address, data }); set
 * `wallet.refuse = true` to have it decline as a person would.
 */
export async function pageWithWallet(browser, api, pairs) {
  const page = await browser.newPage();
  const byAddress = new Map(pairs.map((p) => [p.address, p]));
  const wallet = { signed: [], refuse: false };
  const pairOf = (address) => {
    const pair = byAddress.get(address);
    if (!pair) throw new Error(`the wallet has no key for ${address}`);
    return pair;
  };
  let id = 0;
  await page.exposeFunction('__testWalletSignPayload', (payload) => {
    if (wallet.refuse) throw new Error('Cancelled');
    const pair = pairOf(payload.address);
    const extrinsic = api.registry.createType('ExtrinsicPayload', payload, { version: payload.version });
    wallet.signed.push({ kind: 'payload', address: payload.address, data: payload.method });
    return { id: ++id, signature: extrinsic.sign(pair).signature };
  });
  await page.exposeFunction('__testWalletSignRaw', (raw) => {
    if (wallet.refuse) throw new Error('Cancelled');
    const pair = pairOf(raw.address);
    wallet.signed.push({ kind: 'raw', address: raw.address, data: raw.data });
    return { id: ++id, signature: u8aToHex(pair.sign(u8aWrapBytes(hexToU8a(raw.data)))) };
  });
  const accounts = pairs.map((p) => ({ address: p.address, name: p.meta?.name ?? 'Test wallet', type: 'sr25519' }));
  await page.evaluateOnNewDocument((list) => {
    window.injectedWeb3 = {
      'tokenmeter-test-wallet': {
        version: '0.1.0',
        enable: async () => ({
          accounts: {
            get: async () => list,
            subscribe: (callback) => { callback(list); return () => {}; },
          },
          signer: {
            signPayload: (payload) => window.__testWalletSignPayload(payload),
            signRaw: (raw) => window.__testWalletSignRaw(raw),
          },
        }),
      },
    };
  }, accounts);
  return { page, wallet };
}
