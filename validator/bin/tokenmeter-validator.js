#!/usr/bin/env node
// tokenmeter-validator: scores feedback on a Tokenmeter chain by itself (docs/validators.md).

import { readFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';

import { Keyring } from '@polkadot/keyring';
import { cryptoWaitReady } from '@polkadot/util-crypto';

import { startValidator } from '../src/daemon.js';
import { DEFAULT_PROMPT } from '../src/judge.js';

const HELP = `tokenmeter-validator — scores feedback rewards by itself, next to a node

Usage: tokenmeter-validator --suri-file FILE --judge-model NAME [options]

On every block it reads the feedback not yet final; for each it may score, it fetches the
feedback's content and the answer it is about from the model provider's gateway
(GET /feedback/<payloadHash>), checks them against the chain, asks a judge model through a
Tokenmeter gateway (paying with its own vouchers, from its credits), keeps the score and a
salt durably, commits the sealed score, reveals it when reveals open, finalises feedback
whose window is over, closes finished epochs and claims its rewards. One JSON line per
decision on stdout; Prometheus metrics with --metrics-port.

Before starting: register the account (feedbackRewards.registerValidator(bond); its stake
counts from the next epoch) and deposit credits for the judge (inferenceCredits.deposit).

Options:
  --node URL            the node's WebSocket RPC            [default: ws://127.0.0.1:9944]
  --suri-file FILE      a file with the validator's secret URI (mnemonic or //Dev); or
                        $TOKENMETER_VALIDATOR_SURI
  --state-dir DIR       where scores and salts are kept     [default: ./tokenmeter-validator]
  --judge-model NAME    the judge: a listed model's on-chain name or id
  --judge-url URL       ask this gateway instead of the one its provider registered
  --max-spend TMT       the most one judge voucher allows   [default: 10]
  --floor N             score of a checked feedback the judge rates 0 (0–100) [default: 50]
  --prompt-file FILE    the judge's prompt; <<PROMPT>>, <<OUTPUT>>, <<KIND>> and <<FEEDBACK>>
                        are filled in                       [default: built in, see below]
  --judge-max-tokens N  the judge's answer length           [default: 8]
  --judge-format F      json: the answer is constrained to {"score": 0..10} (response_format with a
                        JSON schema, as llama-server takes it); text: free text, its first
                        number from 0 to 10 counts                        [default: json]
  --metrics-port PORT   serve /metrics on 127.0.0.1:PORT
  --help                this text

The scoring rule: 0 if the gateway has no content under the payload hash, the content does
not hash to it, names another answer or kind, or does not suit its kind; otherwise
floor + (100 − floor) × judge / 10, the judge's number from 0 to 10 (5 if it gave none).

The built-in prompt:
${DEFAULT_PROMPT.replace(/^/gm, '  ')}
`;

const UNIT = 10n ** 12n;

async function main() {
  const { values } = parseArgs({
    options: {
      node: { type: 'string', default: 'ws://127.0.0.1:9944' },
      'suri-file': { type: 'string' },
      'state-dir': { type: 'string', default: './tokenmeter-validator' },
      'judge-model': { type: 'string' },
      'judge-url': { type: 'string' },
      'max-spend': { type: 'string', default: '10' },
      floor: { type: 'string', default: '50' },
      'prompt-file': { type: 'string' },
      'judge-max-tokens': { type: 'string', default: '8' },
      'judge-format': { type: 'string', default: 'json' },
      'metrics-port': { type: 'string' },
      help: { type: 'boolean', default: false },
    },
  });
  if (values.help) {
    process.stdout.write(HELP);
    return;
  }
  const fail = (message) => { process.stderr.write(`tokenmeter-validator: ${message} (see --help)\n`); process.exit(2); };
  const suri = values['suri-file'] ? (await readFile(values['suri-file'], 'utf8')).trim() : process.env.TOKENMETER_VALIDATOR_SURI;
  if (!suri) fail('set --suri-file or $TOKENMETER_VALIDATOR_SURI');
  if (!values['judge-model']) fail('set --judge-model');
  const floor = Number(values.floor);
  if (!Number.isInteger(floor) || floor < 0 || floor > 100) fail('--floor is a whole number from 0 to 100');
  const maxTokens = Number(values['judge-max-tokens']);
  if (!Number.isInteger(maxTokens) || maxTokens < 1) fail('--judge-max-tokens is a whole number of at least 1');
  if (!/^\d+(\.\d{1,12})?$/.test(values['max-spend'])) fail('--max-spend is an amount of TMT, such as 10 or 0.5');
  const [whole, fraction = ''] = values['max-spend'].split('.');
  const maxCap = BigInt(whole) * UNIT + BigInt(fraction.padEnd(12, '0'));
  if (!['json', 'text'].includes(values['judge-format'])) fail('--judge-format is json or text');
  let metricsPort;
  if (values['metrics-port'] !== undefined) {
    metricsPort = Number(values['metrics-port']);
    if (!Number.isInteger(metricsPort) || metricsPort < 0 || metricsPort > 65535) fail('--metrics-port is a port number');
  }
  await cryptoWaitReady();
  const pair = new Keyring({ type: 'sr25519', ss58Format: 42 }).addFromUri(suri);
  const validator = await startValidator({
    node: values.node, pair, stateDir: values['state-dir'], judgeModel: values['judge-model'],
    judgeUrl: values['judge-url'], maxCap, floor, judgeMaxTokens: maxTokens, judgeFormat: values['judge-format'], metricsPort,
    prompt: values['prompt-file'] ? await readFile(values['prompt-file'], 'utf8') : undefined,
  });
  const stop = async () => { await validator.stop(); process.exit(0); };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
}

main().catch((e) => {
  process.stderr.write(`tokenmeter-validator: ${e.message}\n`);
  process.exit(1);
});
